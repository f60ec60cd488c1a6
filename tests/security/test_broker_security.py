"""The broker as deploy/mosquitto/ configures it: TLS with our CA, a login per edge, and an ACL that keeps each
edge to its own topics; and the hub behind it refusing a batch whose edge id is not the topic's."""

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.settings import HubSettings, IngestSettings
from hub.store.db import create_engine
from hub.store.models import Batch, DeadLetter, Punch
from presensi.contract import EdgeTopics
from tests.hub.hub_testkit import Store, WorkerThread, batch, morning_punches, provision
from tests.security.brokerkit import HUB_LOGIN, ConnectRefused, SecureBroker, connect

A, B = EdgeTopics("edge-a"), EdgeTopics("edge-b")


def test_tls_connect_works_with_the_ca(secure_broker: SecureBroker) -> None:
    client = connect(secure_broker, "edge-a")
    client.close()


def test_tls_connect_fails_without_the_ca(secure_broker: SecureBroker) -> None:
    with pytest.raises(ConnectRefused, match="CERTIFICATE_VERIFY_FAILED"):
        connect(secure_broker, "edge-a", ca_file=secure_broker.other_ca_file)


def test_clear_text_on_the_tls_port_gets_no_session(secure_broker: SecureBroker) -> None:
    with pytest.raises(ConnectRefused):
        connect(secure_broker, "edge-a", tls=False)


@pytest.mark.parametrize(
    ("login", "password", "port"),
    [
        pytest.param(None, None, "tls", id="anonymous"),
        pytest.param("edge-a", "wrong", "tls", id="wrong-password"),
        pytest.param("edge-c", "pw", "tls", id="unknown-login"),
        pytest.param(None, None, "plain", id="anonymous-on-the-loopback-listener"),
    ],
)
def test_broker_refuses_clients_without_a_valid_login(
    secure_broker: SecureBroker, login: str | None, password: str | None, port: str
) -> None:
    plain = port == "plain"
    with pytest.raises(ConnectRefused, match=r"Not authorized|Bad user name or password"):
        connect(
            secure_broker,
            login,
            password=password,
            tls=not plain,
            port=secure_broker.plain_port if plain else None,
        )


def test_an_edge_cannot_read_another_edges_commands_or_acks(secure_broker: SecureBroker) -> None:
    hub = connect(secure_broker, HUB_LOGIN)
    edge_a = connect(secure_broker, "edge-a")
    edge_b = connect(secure_broker, "edge-b")
    try:
        edge_a.subscribe(A.command, A.ack)
        # edge-b asks for everything, and for edge-a's topics by name.
        edge_b.subscribe("#", A.command, A.ack, "presensi/v1/edge/+/command", B.command)
        # edge-b also tries to send edge-a a command as if it were the hub.
        edge_b.publish(A.command, b'{"forged": "by edge-b"}')
        hub.publish(A.command, b'{"for": "edge-a"}')
        hub.publish(A.ack, b'{"ack": "edge-a"}')
        hub.publish(B.command, b'{"for": "edge-b"}')  # sent last: once edge-b has it, the others came before

        got_b = edge_b.wait_for(B.command)
        assert {topic for topic, _ in got_b} == {B.command}, got_b
        got_a = edge_a.wait_for(A.ack)
        assert [payload for topic, payload in got_a if topic == A.command] == [b'{"for": "edge-a"}'], got_a
    finally:
        for client in (hub, edge_a, edge_b):
            client.close()


@pytest.fixture(scope="module")
def secure_hub(secure_broker: SecureBroker) -> Iterator[tuple[Store, WorkerThread]]:
    """The real ingest worker, logged in as the hub over TLS, on a SQLite store."""
    with tempfile.TemporaryDirectory() as tmp:
        provisioned = provision("sqlite", Path(tmp))
        loop = asyncio.new_event_loop()
        store = loop.run_until_complete(provisioned.__aenter__())
        try:
            settings = HubSettings(
                database=store.database, mqtt=secure_broker.hub_mqtt(), ingest=IngestSettings(max_wait_ms=5)
            )
            with WorkerThread(settings, client_id="secure-hub") as worker:
                yield store, worker
        finally:
            loop.run_until_complete(provisioned.__aexit__(None, None, None))
            loop.close()


def _rows(store: Store) -> tuple[list[str], list[str], list[DeadLetter]]:
    async def read() -> tuple[list[str], list[str], list[DeadLetter]]:
        engine = create_engine(store.database)
        try:
            async with engine.connect() as conn:
                batches = list((await conn.execute(select(Batch.edge_id))).scalars())
                punches = list((await conn.execute(select(Punch.key))).scalars())
                dead = list((await conn.execute(select(DeadLetter))).all())
            return batches, punches, dead  # type: ignore[return-value]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_an_edge_cannot_publish_as_another_edge(
    secure_broker: SecureBroker, secure_hub: tuple[Store, WorkerThread]
) -> None:
    store, worker = secure_hub
    assert worker.worker is not None
    before = worker.worker.stats.messages
    edge_a = connect(secure_broker, "edge-a")
    try:
        edge_a.subscribe(A.ack)
        forged = batch("edge-b", 1, morning_punches(2, terminal_sn="FORGED"))
        edge_a.publish(B.punches, forged.model_dump_json())
        own = batch("edge-a", 1, morning_punches(2, terminal_sn="OWN"))
        edge_a.publish(A.punches, own.model_dump_json())
        edge_a.wait_for(A.ack)  # the hub committed edge-a's batch, which edge-a sent after the forged one
    finally:
        edge_a.close()
    assert worker.worker.stats.messages == before + 1  # the forged batch never reached the hub
    batches, punches, _dead = _rows(store)
    assert "edge-b" not in batches
    assert not [key for key in punches if key.startswith("FORGED")]
    assert len([key for key in punches if key.startswith("OWN")]) == 2


def test_hub_dead_letters_a_batch_whose_edge_id_is_not_the_topics(
    secure_broker: SecureBroker, secure_hub: tuple[Store, WorkerThread]
) -> None:
    """The ACL lets edge-a publish on its own topic only, but what it says inside is its own doing."""
    store, worker = secure_hub
    assert worker.worker is not None
    settled = worker.worker.stats.settled
    edge_a = connect(secure_broker, "edge-a")
    try:
        edge_a.subscribe(A.ack)
        claims_b = batch("edge-b", 7, morning_punches(2, terminal_sn="CLAIMSB"))
        edge_a.publish(A.punches, claims_b.model_dump_json())
        worker.wait_settled(settled + 1)
        assert not [t for t, _ in edge_a.received if t == A.ack]  # no ack: the payload's edge is not edge-a
    finally:
        edge_a.close()
    batches, punches, dead = _rows(store)
    assert "edge-b" not in batches
    assert not [key for key in punches if key.startswith("CLAIMSB")]
    reasons = [row.reason for row in dead if row.topic == A.punches]
    assert any("unauthorised" in r and "'edge-b'" in r for r in reasons), reasons
