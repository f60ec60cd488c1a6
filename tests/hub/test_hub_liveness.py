"""Edge liveness through the broker: retained birth and will, heartbeats with terminal health, and
sequence gaps that show until the missing batches arrive."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.liveness import sequence_gaps
from hub.store.db import session_factory
from hub.store.models import Edge, TerminalHealth
from presensi.contract import EdgeHealth, EdgeStatus
from presensi.mosquitto import MosquittoBroker
from tests.hub.hub_testkit import FakeEdge, Store, batch, hub_settings, morning_punches, running_worker

EXAMPLES = Path(__file__).resolve().parents[2] / "presensi" / "contract" / "examples"
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def status(
    state: Literal["online", "offline"],
    session: int,
    ts: datetime,
    reason: Literal["connected", "shutdown", "connection_lost"],
) -> str:
    return EdgeStatus(
        edge_id="edge-a", state=state, session=session, ts=ts, reason=reason, agent_version="0.1.0", terminals=("T1",)
    ).model_dump_json()


def health(ts: datetime, last_seq: int, drift: float) -> str:
    doc = json.loads((EXAMPLES / "edge_health.json").read_text())
    doc.update(edge_id="edge-a", ts=ts.isoformat(), last_seq=last_seq)
    doc["terminals"][0]["drift_seconds"] = drift
    return EdgeHealth.model_validate(doc).model_dump_json()


async def edge_row(engine: AsyncEngine) -> Edge:
    async with session_factory(engine)() as db:
        found = await db.get(Edge, "edge-a")
        assert found is not None
        return found


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Poll the store (the worker commits on its own schedule) for up to 5 s."""
    for _ in range(250):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached within 5 s")


async def test_birth_then_will_marks_the_edge_offline_and_old_news_never_wins(
    broker: MosquittoBroker, store: Store, engine: AsyncEngine, edge: FakeEdge
) -> None:
    async with running_worker(hub_settings(broker, store), engine):
        edge.send(status("online", 7, T0, "connected"), edge.topics.status, retain=True)
        await until(lambda: _state_is(engine, "online", 7))
        edge.send(status("offline", 7, T0, "connection_lost"), edge.topics.status, retain=True)
        await until(lambda: _state_is(engine, "offline", 7))
        # A late copy of an older session's birth must not bring the edge back online.
        edge.send(status("online", 6, T0 + timedelta(hours=1), "connected"), edge.topics.status)
        edge.send(status("online", 8, T0 + timedelta(minutes=5), "connected"), edge.topics.status, retain=True)
        await until(lambda: _state_is(engine, "online", 8))
    row = await edge_row(engine)
    assert (row.status_reason, row.agent_version, row.terminals) == ("connected", "0.1.0", ["T1"])


async def _state_is(engine: AsyncEngine, state: str, session: int) -> bool:
    async with session_factory(engine)() as db:
        row = await db.get(Edge, "edge-a")
        return row is not None and (row.state, row.session) == (state, session)


async def test_retained_status_is_read_by_a_worker_that_starts_later(
    broker: MosquittoBroker, store: Store, engine: AsyncEngine, edge: FakeEdge
) -> None:
    edge.send(status("online", 3, T0, "connected"), edge.topics.status, retain=True)
    async with running_worker(hub_settings(broker, store), engine):
        await until(lambda: _state_is(engine, "online", 3))


async def test_heartbeat_records_terminal_health_newest_first(
    broker: MosquittoBroker, store: Store, engine: AsyncEngine, edge: FakeEdge
) -> None:
    async with running_worker(hub_settings(broker, store), engine):
        edge.send(health(T0 + timedelta(seconds=60), last_seq=0, drift=-3.0), edge.topics.health)
        edge.send(health(T0 + timedelta(seconds=30), last_seq=0, drift=99.0), edge.topics.health)  # late, older
        await asyncio.sleep(0.5)
    async with session_factory(engine)() as db:
        rows = (await db.execute(select(TerminalHealth).order_by(TerminalHealth.terminal_sn))).scalars().all()
    assert [(t.terminal_sn, t.reachable) for t in rows] == [("CKJG201960123", True), ("CKJG201960124", False)]
    assert rows[0].drift_seconds == -3.0
    assert (rows[0].records, rows[0].record_capacity) == (48211, 100000)
    assert rows[1].last_error == "timed out connecting to 10.20.1.24:4370"
    edge_state = await edge_row(engine)
    assert edge_state.health_at == T0 + timedelta(seconds=60)
    assert edge_state.buffer is not None
    assert edge_state.buffer["sent"] == 3


async def test_sequence_gaps_are_reported_until_the_missing_batches_arrive(
    broker: MosquittoBroker, store: Store, engine: AsyncEngine, edge: FakeEdge
) -> None:
    async with running_worker(hub_settings(broker, store), engine):
        for seq in (1, 2, 5):
            edge.send(batch(edge.edge_id, seq, morning_punches(2, start=seq * 2)))
        edge.send(health(T0, last_seq=7, drift=0.0), edge.topics.health)
        await asyncio.to_thread(edge.wait_acks, 3)
        await asyncio.sleep(0.2)
        async with session_factory(engine)() as db:
            gaps = await sequence_gaps(db, "edge-a")
        assert [(g.first_missing, g.last_missing, g.noticed_by) for g in gaps] == [
            (3, 4, "later batch"),
            (6, 7, "heartbeat"),
        ]
        for seq in (3, 4, 6, 7):
            edge.send(batch(edge.edge_id, seq, morning_punches(2, start=seq * 2)))
        await asyncio.to_thread(edge.wait_acks, 7)
    async with session_factory(engine)() as db:
        assert await sequence_gaps(db, "edge-a") == []
