"""Fuzzed payloads on every hub topic: each is dead-lettered (or, if by chance valid, stored), and the
worker keeps running, which a good batch acked afterwards proves."""

import asyncio
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from hub.store.db import create_engine
from hub.store.models import DeadLetter
from presensi.mosquitto import MosquittoBroker
from tests.hub.hub_testkit import FakeEdge, Store, WorkerThread, batch, hub_settings, morning_punches, provision

GOOD = json.loads(batch("edge-a", 1, morning_punches(2)).model_dump_json())

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated_batch(draw: st.DrawFn) -> bytes:
    """A valid batch with one field, envelope or punch, replaced by something arbitrary."""
    doc: dict[str, Any] = json.loads(json.dumps(GOOD))
    target = doc if draw(st.booleans()) else doc["punches"][draw(st.integers(0, 1))]
    field = draw(st.sampled_from(sorted(target)))
    target[field] = draw(json_values | st.integers(min_value=2**31, max_value=2**70))
    return json.dumps(doc).encode()


payloads = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_batch(),
)
topics = st.sampled_from(["punches", "status", "health"])


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fuzz_rig(
    request: pytest.FixtureRequest, module_broker: MosquittoBroker
) -> Iterator[tuple[Store, WorkerThread, FakeEdge]]:
    with tempfile.TemporaryDirectory() as tmp:
        provisioned = provision(request.param, Path(tmp))
        loop = asyncio.new_event_loop()
        store = loop.run_until_complete(provisioned.__aenter__())
        try:
            with WorkerThread(hub_settings(module_broker, store, max_wait_ms=2)) as worker:
                edge = FakeEdge(module_broker)
                yield store, worker, edge
                edge.close()
        finally:
            loop.run_until_complete(provisioned.__aexit__(None, None, None))
            loop.close()


def test_fuzzed_payloads_never_stop_the_worker(fuzz_rig: tuple[Store, WorkerThread, FakeEdge]) -> None:
    _store, worker, edge = fuzz_rig
    sent = 0

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(payload=payloads, kind=topics)
    def one(payload: bytes, kind: str) -> None:
        nonlocal sent
        edge.send(payload, f"{edge.topics.base}/{kind}")
        sent += 1
        worker.wait_settled(sent)

    one()
    assert worker.alive
    good = batch(edge.edge_id, 10_000, morning_punches(3, start=5000))
    edge.send(good)
    assert edge.wait_ack_of(good.batch_id).stored == 3


def test_every_fuzzed_refusal_keeps_topic_reason_and_bytes(fuzz_rig: tuple[Store, WorkerThread, FakeEdge]) -> None:
    store, worker, edge = fuzz_rig
    garbage = b"\xff\xfe not json at all"
    before = worker.worker.stats.settled if worker.worker else 0
    edge.send(garbage, edge.topics.health)
    worker.wait_settled(before + 1)

    async def newest() -> DeadLetter:
        engine = create_engine(store.database)
        try:
            async with engine.connect() as conn:
                count = (await conn.execute(select(func.count()).select_from(DeadLetter))).scalar_one()
                assert count >= 1
                row = (await conn.execute(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(1))).one()
                return DeadLetter(**row._asdict())
        finally:
            await engine.dispose()

    letter = asyncio.run(newest())
    assert letter.payload == garbage
    assert letter.topic == edge.topics.health
    assert letter.reason.startswith("invalid message")
