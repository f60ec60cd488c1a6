"""Ingest end to end through a real Mosquitto: exactly-once storage, acks after commit, dead letters."""

import asyncio

from hub_testkit import FakeEdge, Store, batch, hub_settings, morning_punches, running_worker
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.models import Punch
from presensi.mosquitto import MosquittoBroker


async def punch_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(Punch))).scalar_one())


async def test_batch_is_stored_then_acked(
    broker: MosquittoBroker, store: Store, engine: AsyncEngine, edge: FakeEdge
) -> None:
    async with running_worker(hub_settings(broker, store), engine):
        edge.send(batch(edge.edge_id, 1, morning_punches(50)))
        acks = await asyncio.to_thread(edge.wait_acks, 1)
    assert acks[0].stored == 50
    assert acks[0].duplicates == 0
    assert await punch_count(engine) == 50
