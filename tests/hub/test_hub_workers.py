"""Several workers, and workers that die: the shared subscription splits the load, each punch is stored
once, and a worker killed before its commit leaves its messages un-PUBACKed for the broker to redeliver."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.models import Punch
from presensi.mosquitto import MosquittoBroker
from tests.hub.hub_testkit import FakeEdge, Store, batch, eventually, hub_settings, morning_punches, running_worker


async def punch_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(Punch))).scalar_one())


async def test_two_workers_on_a_shared_subscription_split_the_load_and_store_each_punch_once(
    broker: MosquittoBroker, store: Store, engine: AsyncEngine
) -> None:
    edges = [FakeEdge(broker, f"edge-{n}") for n in range(4)]
    settings = hub_settings(broker, store, max_wait_ms=10)
    try:
        async with (
            running_worker(settings, engine, "hub-w1") as first,
            running_worker(settings, engine, "hub-w2") as second,
        ):
            for seq in range(1, 31):
                for n, edge in enumerate(edges):
                    # Every edge's batch overlaps its previous one by 5 punches, and batch 10 is sent twice.
                    punches = morning_punches(20, terminal_sn=f"T{n}", start=(seq - 1) * 15)
                    edge.send(batch(edge.edge_id, seq, punches))
                    if seq == 10:
                        edge.send(batch(edge.edge_id, seq, punches))
            for edge in edges:
                await asyncio.to_thread(edge.wait_acks, 31)
            assert first.stats.messages > 10
            assert second.stats.messages > 10
            assert first.stats.messages + second.stats.messages == 4 * 31
    finally:
        for edge in edges:
            edge.close()
    unique_per_edge = 30 * 15 + 5
    assert await punch_count(engine) == 4 * unique_per_edge
    for edge in edges:
        assert sum(a.stored for a in edge.acks) == unique_per_edge


def _hub_config(tmp_path: Path, broker: MosquittoBroker, store: Store, max_wait_ms: int) -> Path:
    config = tmp_path / "hub.toml"
    config.write_text(
        f"""
[database]
url = "{store.database.url}"
[mqtt]
host = "{broker.host}"
port = {broker.port}
client_id = "hub-proc"
allow_insecure = true
[ingest]
max_wait_ms = {max_wait_ms}
max_messages = 5000
max_punches = 100000
"""
    )
    return config


def _start_hub(config: Path, *command: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "presensi.cli", "hub", *command, "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _wait_for_log(proc: subprocess.Popen[bytes], needle: bytes, timeout: float = 20) -> None:
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if needle in line:
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"ingest worker exited with {proc.returncode}")
    raise AssertionError(f"no {needle!r} in the worker's log within {timeout}s")


async def test_worker_killed_before_commit_gets_its_messages_again_after_restart(
    broker: MosquittoBroker, tmp_path: Path, sqlite_store: Store, sqlite_engine: AsyncEngine
) -> None:
    """paho's manual_ack holds the MQTT PUBACK until the batch is committed, so SIGKILL loses nothing."""
    edge = FakeEdge(broker)
    try:
        # A 10 s batch window: the worker holds what it received, uncommitted, when it is killed.
        proc = _start_hub(_hub_config(tmp_path, broker, sqlite_store, max_wait_ms=10_000), "ingest", "--worker", "w1")
        _wait_for_log(proc, b"subscribed")
        sent = [batch(edge.edge_id, seq, morning_punches(10, start=seq * 10)) for seq in range(1, 6)]
        for one in sent:
            edge.send(one)
        await asyncio.sleep(1.5)
        proc.kill()
        proc.wait(10)
        assert edge.acks == []
        assert await punch_count(sqlite_engine) == 0

        # The same worker name resumes the same broker session, which still holds the unacked messages.
        settings = hub_settings(broker, sqlite_store)
        async with running_worker(settings, sqlite_engine, client_id="hub-proc-w1") as restarted:
            acks = await asyncio.to_thread(edge.wait_acks, 5)
            assert restarted.stats.messages == 5
        assert sorted(a.seq for a in acks) == [1, 2, 3, 4, 5]
        assert await punch_count(sqlite_engine) == 50
    finally:
        edge.close()


async def test_sigterm_commits_and_acks_the_batch_in_hand_then_exits_cleanly(
    broker: MosquittoBroker, tmp_path: Path, sqlite_store: Store, sqlite_engine: AsyncEngine
) -> None:
    edge = FakeEdge(broker)
    try:
        proc = _start_hub(_hub_config(tmp_path, broker, sqlite_store, max_wait_ms=10_000), "ingest", "--worker", "w1")
        _wait_for_log(proc, b"subscribed")
        for seq in range(1, 4):
            edge.send(batch(edge.edge_id, seq, morning_punches(10, start=seq * 10)))
        await asyncio.sleep(1.0)
        assert edge.acks == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        acks = await asyncio.to_thread(edge.wait_acks, 3)
        assert sorted(a.seq for a in acks) == [1, 2, 3]
        assert await punch_count(sqlite_engine) == 30
    finally:
        edge.close()


async def test_hub_run_serves_the_api_and_ingests_then_stops_on_sigterm(
    broker: MosquittoBroker, tmp_path: Path, sqlite_store: Store, sqlite_engine: AsyncEngine
) -> None:
    from presensi.mosquitto import free_port

    port = free_port()
    config = _hub_config(tmp_path, broker, sqlite_store, max_wait_ms=20)
    config.write_text(config.read_text() + f"[api]\nport = {port}\n")
    edge = FakeEdge(broker)
    proc = _start_hub(config, "run")
    try:
        _wait_for_log(proc, b"subscribed")
        edge.send(batch(edge.edge_id, 1, morning_punches(5)))
        await asyncio.to_thread(edge.wait_acks, 1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(100):
                try:
                    health = await client.get("/healthz")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            assert health.json() == {"status": "ok"}
            assert (await client.get("/api/v1/punches")).status_code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        edge.close()
    assert await punch_count(sqlite_engine) == 5


async def test_worker_rides_out_a_broker_restart(
    broker: MosquittoBroker, store: Store, engine: AsyncEngine, edge: FakeEdge
) -> None:
    async with running_worker(hub_settings(broker, store), engine) as worker:
        edge.send(batch(edge.edge_id, 1, morning_punches(5)))
        await asyncio.to_thread(edge.wait_acks, 1)
        broker.stop()
        await eventually(lambda: not worker.subscribed.is_set() and not edge.subscribed.is_set())
        broker.start()
        await eventually(lambda: worker.subscribed.is_set() and edge.subscribed.is_set())
        second = batch(edge.edge_id, 2, morning_punches(5, start=5))
        edge.send(second)
        await asyncio.to_thread(edge.wait_ack_of, second.batch_id)
    # QoS 1 is at least once: the broker persists an ack that was in flight when it stopped and may deliver
    # it again after the restart. Every batch is acked; every punch is stored once.
    assert {a.seq for a in edge.acks} == {1, 2}
    assert await punch_count(engine) == 10
