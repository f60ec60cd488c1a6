"""The chain harness over real processes: the configs it writes are valid, the simulator's journal keys
match the keys the hub stores, and an edge killed with SIGKILL mid-run and started again loses nothing."""

import asyncio
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import EdgeSettings
from hub.settings import load_settings
from simulators.chain import Chain, ChainSpec
from simulators.chain.configs import HUB_LOGIN, mosquitto_acl, plan_broker
from simulators.chain.process import ProcessError
from simulators.zk.terminal import Terminal


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    """Four terminals in two zones, two edges behind proxies, broker logins and ACL on, a fast clock."""
    spec = ChainSpec(
        terminals=4, employees=40, speed=3000, proxy=True, run_dir=tmp_path_factory.mktemp("chain") / "run"
    )
    with Chain(spec) as running:
        yield running


def test_the_written_configs_are_what_hub_and_edge_accept(chain: Chain) -> None:
    hub = load_settings(chain.hub_config_path)
    assert (hub.mqtt.username, hub.database.url) == (HUB_LOGIN, chain.store_url)
    for edge_id in chain.edges:
        raw = tomllib.loads(chain.edge_config_path(edge_id).read_text())
        edge = EdgeSettings(**raw)
        assert edge.broker.username == edge_id
        assert edge.broker.port == chain.proxy(edge_id).port
        assert {t.name for t in edge.terminals} == {s for s, e in chain.edge_of.items() if e == edge_id}
    assert {t.zone for t in chain.terminals} == {"Asia/Jakarta", "Asia/Makassar"}


def test_punches_made_are_stored_under_the_same_keys(chain: Chain) -> None:
    chain.wait_until_stored(60)
    deadline = time.monotonic() + 60
    while chain.tally().made < 20 and time.monotonic() < deadline:
        time.sleep(1)
    tally = chain.wait_until_stored(60)
    assert tally.made >= 20, tally.as_dict()
    assert tally.complete, tally.as_dict()
    chain.check_running()


def test_an_edge_killed_with_sigkill_and_restarted_loses_nothing(chain: Chain) -> None:
    edge = chain.edges["edge-1"]
    before = chain.tally().made
    for _ in range(3):
        time.sleep(1.5)
        edge.kill()
        time.sleep(0.5)  # punches keep coming at the terminals while the edge is down
        edge.start()
    edge.wait_for("connected to broker", 30)
    deadline = time.monotonic() + 60
    while chain.tally().made <= before and time.monotonic() < deadline:
        time.sleep(1)
    tally = chain.wait_until_stored(90)
    assert tally.made > before
    assert tally.complete, tally.as_dict()
    assert edge.kills == 3


def test_a_network_cut_through_the_proxy_is_recovered(chain: Chain) -> None:
    chain.cut("edge-2", "blackhole")
    time.sleep(4)
    chain.restore("edge-2")
    chain.cut("edge-2", "reset")
    time.sleep(2)
    chain.restore("edge-2")
    tally = chain.wait_until_stored(90)
    assert tally.complete, tally.as_dict()


def test_the_acl_confines_each_edge_to_its_own_topics() -> None:
    acl = mosquitto_acl()
    assert "pattern write presensi/v1/edge/%u/punches" in acl
    assert "pattern read presensi/v1/edge/%u/ack" in acl
    plan = plan_broker("127.0.0.1", 1883, auth=True, edge_ids=["edge-1", "edge-2"])
    assert plan.login_for("edge-1") != plan.login_for("edge-2")
    assert plan_broker("127.0.0.1", 1883, auth=False, edge_ids=["edge-1"]).login_for("edge-1") is None


def test_enrolling_many_users_keeps_uids_and_pins_consistent(tmp_path: Path) -> None:
    terminal = Terminal("T1", user_capacity=70_000)
    for n in range(20_000):  # the roster of a big office: linear, not quadratic, in the number enrolled
        terminal.add_user(str(100_000 + n))
    assert terminal.user_by_pin("100000") is not None
    assert terminal.add_user("100000").uid == 1
    assert terminal.delete_user(5)
    assert terminal.user_by_pin("100004") is None
    assert terminal.add_user("999999").uid == 5  # the freed slot is used again
    assert len({u.uid for u in terminal.users()}) == len(terminal.users()) == 20_000
    terminal.save(tmp_path / "t.json")
    loaded = Terminal.load(tmp_path / "t.json")
    assert loaded.user_by_pin("999999") is not None
    assert loaded.add_user("555555").uid == 20_001


def _client(chain: Chain, who: str | None, password: str | None = None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"acl-test-{who}-{time.monotonic_ns()}",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    if who is not None:
        login = chain.plan.logins[who]
        client.username_pw_set(login.username, password if password is not None else login.password)
    return client


def _connects(chain: Chain, who: str | None, password: str | None = None) -> bool:
    client = _client(chain, who, password)
    try:
        client.connect(chain.broker.host, chain.broker.port)
    except OSError:
        return False
    client.loop_start()
    deadline = time.monotonic() + 3
    while not client.is_connected() and time.monotonic() < deadline:
        time.sleep(0.05)
    connected = client.is_connected()
    client.disconnect()
    client.loop_stop()
    return connected


def _wait(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_the_broker_takes_each_edge_only_on_its_own_topics(chain: Chain) -> None:
    """The per-edge logins and ACL the harness writes: no anonymous or wrong-password login; an edge's
    publish under another edge's id is dropped, and another edge's acks never reach it."""
    assert _connects(chain, "edge-1")
    assert not _connects(chain, None)
    assert not _connects(chain, "edge-1", "wrong")
    # (topic, payload): the chain's own edge-1 keeps publishing, so the real hub's acks to edge-1 arrive too;
    # this test's messages are the ones whose payload is b"{}".
    hub_seen: list[tuple[str, bytes]] = []
    edge_seen: list[tuple[str, bytes]] = []
    hub = _client(chain, HUB_LOGIN)
    hub.on_message = lambda _c, _u, message: hub_seen.append((message.topic, bytes(message.payload)))
    edge = _client(chain, "edge-1")
    edge.on_message = lambda _c, _u, message: edge_seen.append((message.topic, bytes(message.payload)))
    subscribed: list[str] = []
    for client, topic in ((hub, "presensi/v1/edge/+/command/result"), (edge, "presensi/v1/edge/+/ack")):
        client.on_connect = lambda c, _u, _f, _r, _p, topic=topic: c.subscribe(topic, qos=1)
        client.on_subscribe = lambda *_args: subscribed.append("ok")
        client.connect(chain.broker.host, chain.broker.port)
        client.loop_start()
    try:
        _wait(lambda: len(subscribed) == 2)
        for target in ("edge-2", "edge-1"):
            edge.publish(f"presensi/v1/edge/{target}/command/result", b"{}", qos=1).wait_for_publish(5)
            hub.publish(f"presensi/v1/edge/{target}/ack", b"{}", qos=1).wait_for_publish(5)
        _wait(lambda: any(p == b"{}" for _, p in hub_seen) and any(p == b"{}" for _, p in edge_seen))
        time.sleep(0.5)  # anything wrongly let through would have arrived by now
        assert [topic for topic, payload in hub_seen if payload == b"{}"] == ["presensi/v1/edge/edge-1/command/result"]
        assert [topic for topic, payload in edge_seen if payload == b"{}"] == ["presensi/v1/edge/edge-1/ack"]
        assert {topic for topic, _ in edge_seen} == {"presensi/v1/edge/edge-1/ack"}  # never another edge's acks
    finally:
        for client in (hub, edge):
            client.disconnect()
            client.loop_stop()


@pytest.mark.postgres
def test_the_chain_runs_on_postgresql() -> None:
    from tests.conftest import require_postgres

    url = require_postgres()
    schema = f"chaintest_{uuid.uuid4().hex[:10]}"
    spec = ChainSpec(terminals=2, employees=10, edges=1, speed=3000, receiver=False, store_url=url,
                     store_schema=schema)  # fmt: skip
    try:
        with Chain(spec) as chain:
            deadline = time.monotonic() + 60
            while chain.tally().made < 5 and time.monotonic() < deadline:
                time.sleep(1)
            chain.hub.kill()  # the hub and its worker die; the edge keeps what it reads
            time.sleep(2)
            chain.hub.start()
            tally = chain.wait_until_stored(90)
            assert tally.made >= 5
            assert tally.complete, tally.as_dict()
    finally:
        asyncio.run(_drop_schema(url, schema))


async def _drop_schema(url: str, schema: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from hub.store.db import async_url

    engine = create_async_engine(async_url(url))
    async with engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


def test_a_process_killed_on_purpose_is_not_a_crash_but_one_that_dies_is(tmp_path: Path) -> None:
    from simulators.chain.process import ManagedProcess

    sleeper = ManagedProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log")
    sleeper.start()
    sleeper.kill()
    assert not sleeper.crashed
    dier = ManagedProcess("dier", [sys.executable, "-c", "print('bye'); raise SystemExit(3)"], tmp_path / "d.log")
    dier.start()
    with pytest.raises(ProcessError, match="exited"):
        dier.wait_for("never printed", 10)
    assert dier.crashed
    assert dier.returncode == 3
    assert "bye" in dier.log_text()
