"""MQTT payloads into the ingest worker's read-and-commit path (``classify`` then ``commit_received``, what the
worker runs per message): malformed input ends as a dead letter with a reason, a sound batch is stored, and
nothing raises out. The end-to-end version through a broker is tests/hub/test_hub_fuzz.py."""

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.ingest.classify import Delivery, Ignored, PunchDelivery, Refusal, classify
from hub.ingest.commit import Received, commit_received
from hub.settings import DatabaseSettings
from hub.store.db import create_engine
from hub.store.migrate import upgrade
from hub.store.models import DeadLetter
from tests.fuzz.fuzzkit import budget, json_values
from tests.hub.hub_testkit import batch, morning_punches

GOOD: dict[str, Any] = json.loads(batch("edge-a", 1, morning_punches(2)).model_dump_json())
TOPICS = [f"presensi/v1/edge/edge-a/{kind}" for kind in ("punches", "status", "health", "command/result", "x")]


@st.composite
def mutated_batch(draw: st.DrawFn) -> bytes:
    """A valid batch with one field (envelope or punch) replaced by an arbitrary value."""
    doc: dict[str, Any] = json.loads(json.dumps(GOOD))
    target = doc if draw(st.booleans()) else doc["punches"][draw(st.integers(0, 1))]
    target[draw(st.sampled_from(sorted(target)))] = draw(json_values)
    return json.dumps(doc).encode()


payloads = st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()), mutated_batch())
topics = st.one_of(st.sampled_from(TOPICS), st.text(max_size=40))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[asyncio.AbstractEventLoop, AsyncEngine]]:
    path: Path = tmp_path_factory.mktemp("ingest-fuzz") / "hub.db"
    loop = asyncio.new_event_loop()
    engine = create_engine(DatabaseSettings(url=f"sqlite:///{path}"))
    loop.run_until_complete(upgrade(engine))
    yield loop, engine
    loop.run_until_complete(engine.dispose())
    loop.close()


def _dead_letters(loop: asyncio.AbstractEventLoop, engine: AsyncEngine) -> int:
    async def count() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(DeadLetter))).scalar_one())

    return loop.run_until_complete(count())


_mid = iter(range(1, 10**9))


@budget(200)
@given(topic=topics, payload=payloads)
@example(topic=TOPICS[0], payload=json.dumps({**GOOD, "seq": 2**70}).encode())  # beyond BIGINT
@example(topic=TOPICS[0], payload=json.dumps({**GOOD, "session": -(2**70)}).encode())
@example(topic=TOPICS[0], payload=json.dumps({**GOOD, "edge_id": "edge-b"}).encode())  # not the topic's edge
@example(topic=TOPICS[0], payload=json.dumps({**GOOD, "punches": [{**GOOD["punches"][0], "workcode": 2**70}]}).encode())
@example(topic=TOPICS[0], payload=b"\xff\xfe\x00")
@example(topic="presensi/v1/edge//punches", payload=b"{}")
def test_every_message_is_stored_or_dead_lettered_with_a_reason(
    store: tuple[asyncio.AbstractEventLoop, AsyncEngine], topic: str, payload: bytes
) -> None:
    loop, engine = store
    delivery = Delivery(topic, payload, next(_mid), 1, False, datetime.now(UTC))
    meaning = classify(delivery)
    refusals = 0
    if isinstance(meaning, Refusal):
        assert meaning.reason
        refusals = 1
    elif isinstance(meaning, PunchDelivery):
        assert all(r.reason for r in meaning.refusals)
        refusals = len(meaning.refusals)
    before = _dead_letters(loop, engine)
    outcome = loop.run_until_complete(commit_received(engine, [Received(delivery, meaning)], "fuzz"))
    kept = _dead_letters(loop, engine) - before
    assert kept == outcome.dead_letters
    assert kept >= refusals  # the store may refuse more (a value beyond a column), never fewer
    if not isinstance(meaning, Ignored) and kept == 0:
        assert outcome.stored + outcome.duplicates > 0 or not isinstance(meaning, PunchDelivery) or not meaning.punches
