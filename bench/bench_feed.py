"""e-Kinerja feed benchmark: what the outbox adds to a recompute, dispatch throughput to the mock receiver over
real HTTP, closing a month, and the exports, for one unit of EMPLOYEES employees over November 2026 (30 days).

The outbox cost is the time spent queuing the days' records (``enqueue_written``; on PostgreSQL
``copy_first_versions``, the COPY of first versions) during the month's first recompute (every day inserted,
so every day queued), wall clock and this process's CPU (the outbox runs in the hub process, SQLite too;
PostgreSQL's own CPU is not in it; recompute's evaluation runs in worker processes). Nobody punches (every
working day is TK): the engine's work per day is the same, and punches are not what the feed is about.

Command: ``python -m bench.run feed`` (PostgreSQL rows need PRESENSI_TEST_POSTGRES_URL or
postgresql://postgres@127.0.0.1:5432/test; they are left out with a note when it is unreachable).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

EMPLOYEES = 1000
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 30)
POSTGRES_URL = os.environ.get("PRESENSI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
WEEKDAY = {"start": "07:30", "end": "16:00", "break_minutes": 60}
FRIDAY = {"start": "07:30", "end": "16:30", "break_minutes": 90}
GROUP = {"code": "N5", "name": "N5", "pattern": {"type": "weekly", "days": [WEEKDAY] * 4 + [FRIDAY, None, None]}}


@asynccontextmanager
async def _store(kind: str, folder: Path) -> AsyncIterator[AsyncEngine]:
    from hub.settings import DatabaseSettings
    from hub.store.db import async_url, create_engine
    from hub.store.migrate import upgrade

    if kind == "sqlite":
        settings = DatabaseSettings(url=f"sqlite:///{folder / f'{uuid.uuid4().hex[:8]}.db'}")
        admin = None
    else:
        schema = f"benchfeed_{uuid.uuid4().hex[:10]}"
        admin = create_async_engine(async_url(POSTGRES_URL))
        async with admin.begin() as conn:
            await conn.execute(text(f"CREATE SCHEMA {schema}"))
        settings = DatabaseSettings.model_validate({"url": POSTGRES_URL, "schema": schema})
    engine = create_engine(settings)
    try:
        await upgrade(engine)
        await _seed(engine)
        yield engine
    finally:
        await engine.dispose()
        if admin is not None:
            async with admin.begin() as conn:
                await conn.execute(text(f"DROP SCHEMA {settings.db_schema} CASCADE"))
            await admin.dispose()


async def _seed(engine: AsyncEngine) -> None:
    from sqlalchemy import select

    from hub.reconcile import records
    from hub.reconcile.documents import ScheduleGroupDoc
    from hub.registry import service
    from hub.registry.schemas import UnitIn
    from hub.store.db import session_factory
    from hub.store.models import Employee, Unit

    policy = resources.files("hub.attendance").joinpath("presets/tlpsw-standard.yaml").read_text(encoding="utf-8")
    async with session_factory(engine)() as db:
        await service.create_unit(db, UnitIn(code="BENCH", name="Bench"), "bench")
        await records.put_schedule_group(db, ScheduleGroupDoc.model_validate(GROUP), "bench")
        await records.assign_schedule(db, records.AssignmentIn(group_code="N5", unit_code="BENCH"), "bench")
        await records.upload_policy(db, policy, "yaml", "bench", activate=True)
        unit_id = (await db.execute(select(Unit.id).where(Unit.code == "BENCH"))).scalar_one()
        now = datetime.now(UTC)
        db.add_all(
            Employee(
                nip=f"19800101200001{n:04d}",
                name=f"Pegawai {n}",
                unit_id=unit_id,
                job_class=9,
                active_from=date(2020, 1, 1),
                created_at=now,
                updated_at=now,
            )
            for n in range(EMPLOYEES)
        )
        await db.commit()


async def _recompute(engine: AsyncEngine) -> float:
    from hub.reconcile.service import recompute_range
    from hub.store.db import session_factory

    started = time.perf_counter()
    async with session_factory(engine)() as db:
        await recompute_range(db, FIRST, LAST)
    return time.perf_counter() - started


async def measure(kind: str, folder: Path) -> dict[str, Any]:
    from hub.feed import exports, outbox
    from hub.feed.dispatcher import Dispatcher
    from hub.feed.months import close_month
    from hub.settings import EkinerjaSettings
    from hub.store.db import session_factory
    from simulators.ekinerja.receiver import ReceiverServer

    found: dict[str, Any] = {"kind": kind, "days": EMPLOYEES * 30}
    spent = {"wall": 0.0, "cpu": 0.0}
    originals = {name: getattr(outbox, name) for name in ("enqueue_written", "copy_first_versions")}

    def timed(original: Any) -> Any:
        async def measured(*args: Any) -> int:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return int(await original(*args))
            finally:
                spent["wall"] += time.perf_counter() - wall
                spent["cpu"] += time.process_time() - cpu

        return measured

    async with _store(kind, folder) as engine:
        for name, original in originals.items():
            setattr(outbox, name, timed(original))
        try:
            cpu = time.process_time()
            found["recompute"] = await _recompute(engine)
            found["recompute_cpu"] = time.process_time() - cpu
            found["outbox"], found["outbox_cpu"] = spent["wall"], spent["cpu"]
        finally:
            for name, original in originals.items():
                setattr(outbox, name, original)
        found["recompute_again"] = await _recompute(engine)  # nothing changed: nothing queued

        receiver = ReceiverServer(token="bench").start()
        try:
            settings = EkinerjaSettings(url=receiver.url, token=SecretStr("bench"), batch_size=500)
            dispatcher = Dispatcher(settings, engine, max_batches=1_000_000)
            started = time.perf_counter()
            report = await dispatcher.send_once()
            found["dispatch"] = time.perf_counter() - started
            found["sent"] = report.sent
            assert receiver.state.stored_versions == report.sent == EMPLOYEES * 30, report
        finally:
            receiver.stop()

        async with session_factory(engine)() as db:
            started = time.perf_counter()
            closed = await close_month(db, "2026-11", "bench", today=date(2026, 12, 1))
            found["close"] = time.perf_counter() - started
            assert closed.enqueued == EMPLOYEES, closed
            # The API's paths: the CSV streamed from the cursor, the XLSX written to a temporary file.
            started = time.perf_counter()
            query = await exports.days_query(db, "2026-11", "BENCH")
            found["export_csv_bytes"] = sum([len(chunk) async for chunk in exports.days_csv(db, query)])
            found["export_csv"] = time.perf_counter() - started
            started = time.perf_counter()
            path = await exports.days_xlsx(db, await exports.days_query(db, "2026-11", "BENCH"), "2026-11")
            found["export_xlsx"] = time.perf_counter() - started
            found["export_xlsx_bytes"] = path.stat().st_size
            path.unlink()
    return found


def _postgres_reachable() -> bool:
    async def probe() -> bool:
        from hub.store.db import async_url

        engine = create_async_engine(async_url(POSTGRES_URL))
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False
        finally:
            await engine.dispose()

    return asyncio.run(probe())


def run() -> str:
    kinds = ["sqlite"] + (["postgres"] if _postgres_reachable() else [])
    load = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for kind in kinds:
            results.append(asyncio.run(measure(kind, Path(folder))))
    lines = [
        "## e-Kinerja feed",
        "",
        f"One unit of {EMPLOYEES:,} employees, November 2026 ({EMPLOYEES * 30:,} days, every day queued once), "
        "TL/PSW preset, mock receiver over HTTP on the same machine, batches of 500. Command: "
        "`python -m bench.run feed`.",
        "",
        "| store | first recompute | of which outbox (wall / CPU) | unchanged re-run | dispatch | "
        "close month | days CSV | days XLSX |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['kind']} | {r['recompute']:.1f} s | "
            f"{r['outbox']:.2f} s / {r['outbox_cpu']:.2f} s ({r['outbox'] / r['recompute']:.0%}; "
            f"{r['outbox'] / r['days'] * 1e6:.0f} us a day) | {r['recompute_again']:.1f} s | "
            f"{r['dispatch']:.1f} s ({r['sent'] / r['dispatch']:,.0f} records/s) | {r['close']:.1f} s | "
            f"{r['export_csv']:.1f} s ({r['export_csv_bytes'] / 2**20:.1f} MiB) | "
            f"{r['export_xlsx']:.1f} s ({r['export_xlsx_bytes'] / 2**20:.1f} MiB) |"
        )
    if "postgres" not in kinds:
        lines += ["", f"PostgreSQL left out: not reachable at {POSTGRES_URL}."]
    lines += [
        "",
        f"Load average at the start: {load:.1f} on 2 cores (the machine is shared: wall times grow with the load, "
        'CPU times much less). "close month" re-evaluates every day of the month (the recap is computed from the '
        "inputs, like the API's).",
    ]
    return "\n".join(lines) + "\n"
