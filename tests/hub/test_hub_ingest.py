"""Ingest end to end through a real Mosquitto, on SQLite and PostgreSQL: each punch stored exactly
once whatever the delivery order or repetition, acks only after commit, refusals kept as dead letters."""

import asyncio
import json

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.models import Batch, DeadLetter, Punch
from presensi.mosquitto import MosquittoBroker
from tests.hub.hub_testkit import (
    BASE_LOCAL,
    FakeEdge,
    Store,
    batch,
    hub_settings,
    morning_punches,
    punch,
    running_worker,
)


async def stored_keys(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(Punch.key))).scalars().all())


async def dead_letters(engine: AsyncEngine) -> list[DeadLetter]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(DeadLetter).order_by(DeadLetter.id))).all())  # type: ignore[arg-type]


async def test_batch_is_stored_then_acked_with_its_raw_record(
    broker: MosquittoBroker, store: Store, engine: AsyncEngine, edge: FakeEdge
) -> None:
    sent = batch(edge.edge_id, 1, morning_punches(50))
    async with running_worker(hub_settings(broker, store), engine):
        edge.send(sent)
        acks = await asyncio.to_thread(edge.wait_acks, 1)
    assert (acks[0].batch_id, acks[0].seq, acks[0].stored, acks[0].duplicates) == (sent.batch_id, 1, 50, 0)
    async with engine.connect() as conn:
        row = (await conn.execute(select(Punch).where(Punch.key == sent.punches[0].key))).one()
    first = sent.punches[0]
    assert (row.terminal_sn, row.pin, row.local_time, row.zone, row.utc) == (
        first.terminal_sn,
        first.pin,
        first.local_time,
        first.zone,
        first.utc,
    )
    assert (row.status, row.punch, row.verify, row.edge_id, row.batch_id) == (0, 1, 1, edge.edge_id, sent.batch_id)


async def test_duplicate_and_reordered_deliveries_store_each_punch_once(
    broker: MosquittoBroker, store: Store, engine: AsyncEngine, edge: FakeEdge
) -> None:
    # Three batches whose punches overlap, delivered out of order and each resent.
    b1 = batch(edge.edge_id, 1, morning_punches(40, start=0))
    b2 = batch(edge.edge_id, 2, morning_punches(40, start=30))  # 10 punches also in b1
    b3 = batch(edge.edge_id, 3, morning_punches(40, start=60))  # 10 punches also in b2
    async with running_worker(hub_settings(broker, store), engine):
        for sent in (b3, b1, b3, b2, b1, b2):
            edge.send(sent)
        acks = await asyncio.to_thread(edge.wait_acks, 6)
    unique = {p.key for b in (b1, b2, b3) for p in b.punches}
    keys = await stored_keys(engine)
    assert len(keys) == len(set(keys)) == len(unique) == 100
    assert set(keys) == unique
    assert sum(a.stored for a in acks) == 100
    assert sum(a.stored + a.duplicates for a in acks) == 240
    assert {a.seq for a in acks} == {1, 2, 3}


async def test_same_punch_in_two_messages_of_one_flush_is_stored_once(
    broker: MosquittoBroker, store: Store, engine: AsyncEngine, edge: FakeEdge
) -> None:
    punches = morning_punches(5)
    async with running_worker(hub_settings(broker, store, max_wait_ms=500), engine) as worker:
        edge.send(batch(edge.edge_id, 1, punches))
        edge.send(batch(edge.edge_id, 2, punches))
        acks = await asyncio.to_thread(edge.wait_acks, 2)
        assert worker.stats.flushes == 1
    assert sorted((a.seq, a.stored, a.duplicates) for a in acks) == [(1, 5, 0), (2, 0, 5)]
    assert len(await stored_keys(engine)) == 5


async def test_bad_punch_is_rejected_in_the_ack_and_kept_while_the_rest_are_stored(
    broker: MosquittoBroker, store: Store, engine: AsyncEngine, edge: FakeEdge
) -> None:
    raw = json.loads(batch(edge.edge_id, 1, morning_punches(3)).model_dump_json())
    raw["punches"][1]["pin"] = "9999"  # no longer matches its key
    async with running_worker(hub_settings(broker, store), engine):
        edge.send(json.dumps(raw))
        acks = await asyncio.to_thread(edge.wait_acks, 1)
    assert (acks[0].stored, acks[0].duplicates) == (2, 0)
    assert [r.key for r in acks[0].rejected] == [raw["punches"][1]["key"]]
    assert "does not match the punch fields" in acks[0].rejected[0].reason
    letters = await dead_letters(engine)
    assert len(letters) == 1
    assert json.loads(letters[0].payload)["pin"] == "9999"
    assert len(await stored_keys(engine)) == 2


async def test_batch_naming_another_edge_is_dead_lettered_without_ack(
    broker: MosquittoBroker, store: Store, engine: AsyncEngine, edge: FakeEdge
) -> None:
    intruder = FakeEdge(broker, "edge-b")
    try:
        forged = batch(edge.edge_id, 1, morning_punches(2)).model_dump_json()
        async with running_worker(hub_settings(broker, store), engine):
            intruder.send(forged)  # edge-b publishes a batch claiming to be edge-a
            intruder.send(batch("edge-b", 1, morning_punches(1, start=99)))
            await asyncio.to_thread(intruder.wait_acks, 1)
        assert [a.edge_id for a in intruder.acks] == ["edge-b"]
        assert edge.acks == []
        letters = await dead_letters(engine)
        assert len(letters) == 1
        assert letters[0].reason.startswith("unauthorised")
        assert letters[0].payload == forged.encode()
        assert letters[0].topic == "presensi/v1/edge/edge-b/punches"
        assert len(await stored_keys(engine)) == 1
    finally:
        intruder.close()


async def test_batch_with_only_bad_punches_is_acked_with_all_rejected(
    broker: MosquittoBroker, store: Store, engine: AsyncEngine, edge: FakeEdge
) -> None:
    raw = json.loads(batch(edge.edge_id, 4, [punch("T1", "7", BASE_LOCAL)]).model_dump_json())
    raw["punches"][0]["zone"] = "Mars/Olympus"
    async with running_worker(hub_settings(broker, store), engine):
        edge.send(json.dumps(raw))
        acks = await asyncio.to_thread(edge.wait_acks, 1)
    assert (acks[0].seq, acks[0].stored, len(acks[0].rejected)) == (4, 0, 1)
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Batch))).scalar_one() == 1


async def test_punch_the_store_cannot_hold_is_dead_lettered_and_acked_as_rejected(
    broker: MosquittoBroker, store: Store, engine: AsyncEngine, edge: FakeEdge
) -> None:
    raw = json.loads(batch(edge.edge_id, 1, morning_punches(2)).model_dump_json())
    raw["punches"][0]["workcode"] = 2**70  # valid for the contract, beyond any SQL integer column
    impossible_seq = json.loads(batch(edge.edge_id, 2, morning_punches(1, start=10)).model_dump_json())
    impossible_seq["seq"] = 2**70
    good = batch(edge.edge_id, 3, morning_punches(1, start=20))
    async with running_worker(hub_settings(broker, store, max_wait_ms=300), engine) as worker:
        edge.send(json.dumps(raw))
        edge.send(json.dumps(impossible_seq))
        edge.send(good)  # in the same flush: the store's refusal must not cost it its ack
        acks = await asyncio.to_thread(edge.wait_acks, 2)
        await asyncio.sleep(0.3)
        assert worker.stats.settled == 3
    by_seq = {a.seq: a for a in acks}
    assert set(by_seq) == {1, 3}, "the batch whose seq no column can hold gets no ack"
    assert by_seq[1].stored == 0
    assert len(by_seq[1].rejected) == 2
    assert by_seq[1].rejected[0].reason.startswith("store refused")
    assert by_seq[3].stored == 1
    letters = await dead_letters(engine)
    assert sorted(json.loads(d.payload)["seq"] for d in letters) == [1, 2**70]
    assert await stored_keys(engine) == [good.punches[0].key]
