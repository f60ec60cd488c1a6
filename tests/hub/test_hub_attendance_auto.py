"""``presensi hub run`` recomputes by itself: a late punch from an edge that was offline for weeks arrives
through MQTT and the real ingest path, and the running hub's loop bumps that day's version; on SIGTERM the
loop releases its lease."""

import asyncio
import signal
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.reconcile.queue import PENDING_LEASE
from hub.reconcile.service import recompute_range
from hub.store.db import session_factory
from hub.store.lease import current_holder
from hub.store.models import AttendanceDayRow, RecomputeQueue, RecomputeTerminalDay
from presensi.mosquitto import MosquittoBroker, free_port
from tests.hub.attendance_kit import BUDI, PINS, seeded
from tests.hub.hub_testkit import FakeEdge, Store, batch, punch
from tests.hub.test_hub_workers import _start_hub, _wait_for_log

TUESDAY = date(2026, 11, 3)


def _config(tmp_path: Path, broker: MosquittoBroker, store: Store) -> Path:
    schema = f'schema = "{store.database.db_schema}"\n' if store.database.db_schema else ""
    config = tmp_path / "hub.toml"
    config.write_text(
        f"""
[database]
url = "{store.database.url}"
{schema}
[mqtt]
host = "{broker.host}"
port = {broker.port}
client_id = "hub-auto"
allow_insecure = true
[api]
port = {free_port()}
[recompute]
interval_seconds = 0.2
lease_seconds = 30
"""
    )
    return config


async def _budi_tuesday(engine: AsyncEngine) -> AttendanceDayRow | None:
    async with session_factory(engine)() as db:
        return await db.get(AttendanceDayRow, (BUDI, TUESDAY))


async def test_a_late_punch_is_recomputed_by_the_running_hub(
    broker: MosquittoBroker, tmp_path: Path, store: Store, engine: AsyncEngine
) -> None:
    await seeded(engine)
    async with session_factory(engine)() as db:
        await recompute_range(db, TUESDAY, TUESDAY)
        for table in (RecomputeQueue, RecomputeTerminalDay):
            await db.execute(delete(table))
        await db.commit()
    before = await _budi_tuesday(engine)
    assert before is not None
    assert (before.status, before.version) == ("tk", 1)

    edge = FakeEdge(broker)
    proc = _start_hub(_config(tmp_path, broker, store), "run")
    try:
        _wait_for_log(proc, b"subscribed")
        # The terminal's edge was offline for a month; its backlog reaches the hub now.
        late = [
            punch("T1", PINS[BUDI], datetime(2026, 11, 3, 7, 20)),
            punch("T1", PINS[BUDI], datetime(2026, 11, 3, 16, 5)),
        ]
        edge.send(batch(edge.edge_id, 1, late))
        await asyncio.to_thread(edge.wait_acks, 1)
        for _ in range(600):
            after = await _budi_tuesday(engine)
            if after is not None and after.version > 1:
                break
            await asyncio.sleep(0.05)
        assert after is not None
        assert (after.status, after.codes, after.version) == ("present", None, 2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        edge.close()
    assert await current_holder(engine, PENDING_LEASE) is None
