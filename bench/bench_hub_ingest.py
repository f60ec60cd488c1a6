"""Hub ingest benchmark: sustained publish -> commit -> ack throughput, and ack latency at live-capture rate.

Every party is its own process, as in production: Mosquitto (private, free port), one publisher standing
in for many edges, and one or two ``IngestWorker`` processes on the shared subscription. Throughput is
punches / (first publish .. last ack received); the ack is sent only after the commit, so it counts
stored punches. The ceiling next to it is paho-to-paho QoS 1 through the same broker with no hub.

Command: ``python -m bench.run hub_ingest`` (PostgreSQL rows need PRESENSI_TEST_POSTGRES_URL or
postgresql://postgres@127.0.0.1:5432/test; they are left out with a note when it is unreachable).
"""

import asyncio
import json
import multiprocessing as mp
import os
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from presensi.mosquitto import MosquittoBroker

POSTGRES_URL = os.environ.get("PRESENSI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
EDGES = 20
PUNCHES_PER_MESSAGE = 100
LATENCY_RATE = 2000  # single-punch messages per second (live capture at the morning peak)
LATENCY_SECONDS = 10
INGEST_SETTINGS = {"max_wait_ms": 50, "max_punches": 10_000, "max_messages": 500}
CTX = mp.get_context("spawn")
PUBLISH_WINDOW = 100


# --- payloads -------------------------------------------------------------------------------------


def payloads(total_punches: int, per_message: int, run: str) -> list[tuple[str, bytes, str]]:
    """(topic, payload, batch_id) for ``total_punches`` distinct punches spread over EDGES edges.

    Written as text from a template (the contract's JSON exactly) because building 10^5 pydantic
    models would take longer than the run it feeds.
    """
    start = datetime(2026, 11, 23, 6, 0, 0)
    out = []
    seqs = [0] * EDGES
    for message in range(total_punches // per_message):
        edge = message % EDGES
        seqs[edge] += 1
        edge_id = f"bench-{run}-{edge:02d}"
        serial = f"SN{run}{edge:02d}"
        punches = []
        for i in range(per_message):
            n = message * per_message + i
            local = start + timedelta(seconds=n // 50)
            pin = str(10_000 + n % 50)
            utc = local - timedelta(hours=7)
            punches.append(
                f'{{"key":"{serial}|{pin}|{local:%Y%m%dT%H%M%S}|0","terminal_sn":"{serial}","pin":"{pin}",'
                f'"local_time":"{local:%Y-%m-%dT%H:%M:%S}","zone":"Asia/Jakarta","utc":"{utc:%Y-%m-%dT%H:%M:%S}Z",'
                f'"status":0,"punch":1,"verify":1,"workcode":0,"read_at":"{utc:%Y-%m-%dT%H:%M:%S}Z",'
                f'"flags":[],"historical":false}}'
            )
        batch_id = f"{edge_id}:1:{seqs[edge]:06d}"
        body = (
            f'{{"v":1,"edge_id":"{edge_id}","batch_id":"{batch_id}","seq":{seqs[edge]},"session":1,'
            f'"sent_at":"2026-11-23T00:00:00Z","punches":[{",".join(punches)}]}}'
        )
        out.append((f"presensi/v1/edge/{edge_id}/punches", body.encode(), batch_id))
    return out


# --- processes ------------------------------------------------------------------------------------


def _client(name: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
    # paho rescans its whole outgoing queue on every PUBACK, so a larger window is slower, not faster.
    client.max_inflight_messages_set(PUBLISH_WINDOW)
    return client


def _publisher(host: str, port: int, total_punches: int, per_message: int, rate: float | None, out: Any) -> None:
    """Publish every batch (paced at ``rate`` messages/s if given) and time each one's ack."""
    messages = payloads(total_punches, per_message, uuid.uuid4().hex[:6])
    sent: dict[str, float] = {}
    latencies: list[float] = []
    done = threading.Event()
    subscribed = threading.Event()
    last_ack = [0.0]

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        batch_id = json.loads(message.payload)["batch_id"]
        latencies.append(now - sent[batch_id])
        last_ack[0] = now
        if len(latencies) == len(messages):
            done.set()

    client = _client(f"bench-pub-{uuid.uuid4().hex[:6]}")
    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect(host, port)
    client.loop_start()
    client.subscribe("presensi/v1/edge/+/ack", qos=1)
    subscribed.wait(10)
    first = time.perf_counter()
    for index, (topic, body, batch_id) in enumerate(messages):
        if rate is not None:
            delay = first + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        sent[batch_id] = time.perf_counter()
        client.publish(topic, body, qos=1)
    finished = done.wait(300)
    client.disconnect()
    client.loop_stop()
    out.put(
        {
            "acked": len(latencies),
            "messages": len(messages),
            "seconds": last_ack[0] - first,
            "latencies": latencies,
            "complete": finished,
        }
    )


def _raw_subscriber(host: str, port: int, expected: int, ready: MpEvent, out: Any) -> None:
    received = [0]
    done = threading.Event()
    times: list[float] = []

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        received[0] += 1
        if received[0] == expected:
            times.append(time.perf_counter())
            done.set()

    client = _client(f"bench-sub-{uuid.uuid4().hex[:6]}")
    client.on_message = on_message
    client.on_subscribe = lambda *_: ready.set()
    client.connect(host, port)
    client.loop_start()
    client.subscribe("presensi/v1/edge/+/punches", qos=1)
    done.wait(300)
    client.disconnect()
    client.loop_stop()
    out.put(times[0] if times else None)


def _raw_publisher(host: str, port: int, total_punches: int, per_message: int, out: Any) -> None:
    messages = payloads(total_punches, per_message, uuid.uuid4().hex[:6])
    client = _client(f"bench-rawpub-{uuid.uuid4().hex[:6]}")
    client.connect(host, port)
    client.loop_start()
    first = time.perf_counter()
    infos = [client.publish(topic, body, qos=1) for topic, body, _batch_id in messages]
    out.put(first)
    for info in infos:  # every PUBACK in, before disconnecting
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def _worker(settings: dict[str, Any], client_id: str, ready: MpEvent, stop: MpEvent) -> None:
    from hub.ingest.worker import IngestWorker
    from hub.settings import HubSettings
    from hub.store.db import create_engine

    async def main() -> None:
        hub_settings = HubSettings.model_validate(settings)
        engine = create_engine(hub_settings.database)
        worker = IngestWorker(hub_settings, engine, client_id=client_id)
        task = asyncio.create_task(worker.run())
        await worker.subscribed.wait()
        ready.set()
        await asyncio.to_thread(stop.wait)
        worker.stop()
        await task
        await engine.dispose()

    asyncio.run(main())


# --- runs -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    label: str
    punches: int
    seconds: float
    latencies: list[float]
    worker_cpu_seconds: float | None = None  # all ingest worker processes together

    @property
    def cpu_per_punch_us(self) -> str:
        return "-" if self.worker_cpu_seconds is None else f"{1e6 * self.worker_cpu_seconds / self.punches:.0f} us"

    @property
    def rate(self) -> float:
        return self.punches / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def _cpu_seconds(proc: Any) -> float:
    times = psutil.Process(proc.pid).cpu_times()
    return float(times.user + times.system)


def postgres_reachable() -> bool:
    parsed = urlparse(POSTGRES_URL)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5432), timeout=1):
            return True
    except OSError:
        return False


class Store:
    """A fresh store for one run: a SQLite file, or a PostgreSQL schema dropped afterwards."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._tmp = tempfile.TemporaryDirectory(prefix="presensi-bench-")
        self.schema = f"bench_{uuid.uuid4().hex[:10]}"
        self.database: dict[str, Any] = (
            {"url": f"sqlite:///{Path(self._tmp.name) / 'hub.db'}"}
            if kind == "sqlite"
            else {"url": POSTGRES_URL, "schema": self.schema}
        )

    async def _sql(self, statement: str) -> None:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        from hub.store.db import async_url

        admin = create_async_engine(async_url(POSTGRES_URL))
        async with admin.begin() as conn:
            await conn.execute(text(statement))
        await admin.dispose()

    def __enter__(self) -> "Store":
        from hub.settings import DatabaseSettings
        from hub.store.db import create_engine
        from hub.store.migrate import upgrade

        async def migrate() -> None:
            if self.kind == "postgres":
                await self._sql(f"CREATE SCHEMA {self.schema}")
            engine = create_engine(DatabaseSettings.model_validate(self.database))
            await upgrade(engine)
            await engine.dispose()

        asyncio.run(migrate())
        return self

    def punch_count(self) -> int:
        from sqlalchemy import func, select

        from hub.settings import DatabaseSettings
        from hub.store.db import create_engine
        from hub.store.models import Punch

        async def count() -> int:
            engine = create_engine(DatabaseSettings.model_validate(self.database))
            async with engine.connect() as conn:
                found = (await conn.execute(select(func.count()).select_from(Punch))).scalar_one()
            await engine.dispose()
            return int(found)

        return asyncio.run(count())

    def __exit__(self, *_: object) -> None:
        if self.kind == "postgres":
            asyncio.run(self._sql(f"DROP SCHEMA {self.schema} CASCADE"))
        self._tmp.cleanup()


def ingest(kind: str, workers: int, total_punches: int, per_message: int, rate: float | None = None) -> Run:
    with MosquittoBroker() as broker, Store(kind) as store:
        settings = {
            "database": store.database,
            # The private loopback broker is anonymous and clear-text: say so, or the worker refuses it.
            "mqtt": {"host": broker.host, "port": broker.port, "client_id": "bench-hub", "allow_insecure": True},
            "ingest": INGEST_SETTINGS,
        }
        stop = CTX.Event()
        procs = []
        for n in range(workers):
            ready = CTX.Event()
            proc = CTX.Process(target=_worker, args=(settings, f"bench-hub-{n}", ready, stop))
            proc.start()
            if not ready.wait(60):
                raise RuntimeError(f"ingest worker {n} did not subscribe")
            procs.append(proc)
        cpu_before = sum(_cpu_seconds(proc) for proc in procs)
        out = CTX.Queue()
        publisher = CTX.Process(
            target=_publisher, args=(broker.host, broker.port, total_punches, per_message, rate, out)
        )
        publisher.start()
        result = out.get(timeout=600)
        worker_cpu = sum(_cpu_seconds(proc) for proc in procs) - cpu_before
        publisher.join(30)
        stop.set()
        for proc in procs:
            proc.join(60)
        if not result["complete"]:
            raise RuntimeError(f"only {result['acked']} of {result['messages']} batches acked")
        stored = store.punch_count()
        if stored != total_punches:
            raise RuntimeError(f"{stored} punches stored, {total_punches} published")
        label = f"{kind}, {workers} worker{'s' if workers > 1 else ''}"
        return Run(label, total_punches, result["seconds"], result["latencies"], worker_cpu)


def raw_paho(total_punches: int, per_message: int) -> Run:
    with MosquittoBroker() as broker:
        out_sub, out_pub = CTX.Queue(), CTX.Queue()
        ready = CTX.Event()
        messages = total_punches // per_message
        subscriber = CTX.Process(target=_raw_subscriber, args=(broker.host, broker.port, messages, ready, out_sub))
        subscriber.start()
        ready.wait(10)
        publisher = CTX.Process(
            target=_raw_publisher, args=(broker.host, broker.port, total_punches, per_message, out_pub)
        )
        publisher.start()
        first = out_pub.get(timeout=300)
        last = out_sub.get(timeout=300)
        publisher.join(30)
        subscriber.join(30)
        if last is None:
            raise RuntimeError("raw subscriber did not receive every message")
        return Run(f"paho QoS 1, {per_message}-punch messages", total_punches, last - first, [])


def run() -> str:
    started = time.monotonic()
    rows = [
        raw_paho(500_000, PUNCHES_PER_MESSAGE),
        raw_paho(40_000, 1),
    ]
    kinds = ["sqlite"] + (["postgres"] if postgres_reachable() else [])
    volume = {"sqlite": 300_000, "postgres": 250_000}
    throughput = [ingest(kind, workers, volume[kind], PUNCHES_PER_MESSAGE) for kind in kinds for workers in (1, 2)]
    latency = [
        ingest(kind, workers, LATENCY_RATE * LATENCY_SECONDS, 1, rate=LATENCY_RATE)
        for kind in kinds
        for workers in (1, 2)
    ]
    elapsed = time.monotonic() - started

    lines = [
        "### Hub ingest: publish -> commit -> ack",
        "",
        f"Sustained end to end: {EDGES} edges' batches of {PUNCHES_PER_MESSAGE} punches published as fast as "
        "QoS 1 allows by one publisher process; ingest workers are separate processes on the shared "
        f"subscription (batch window {INGEST_SETTINGS['max_wait_ms']} ms / {INGEST_SETTINGS['max_punches']:,} "
        "punches); rate = punches / (first publish .. last ack), every punch checked stored once.",
        "",
        "| path | punches | seconds | punches/s | worker CPU per punch |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows + throughput:
        lines.append(f"| {r.label} | {r.punches:,} | {r.seconds:.1f} | {r.rate:,.0f} | {r.cpu_per_punch_us} |")
    if "postgres" not in kinds:
        lines.append(f"| postgres | - | - | not run: {POSTGRES_URL} unreachable | - |")
    lines += [
        "",
        f"Live capture: single-punch messages paced at {LATENCY_RATE:,}/s for {LATENCY_SECONDS} s; "
        "latency = publish call to ack received at the publisher.",
        "",
        "| store, workers | messages | achieved punches/s | p50 | p99 | max | worker CPU per message |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in latency:
        lines.append(
            f"| {r.label} | {r.punches:,} | {r.rate:,.0f} | {1000 * r.percentile(0.5):.0f} ms | "
            f"{1000 * r.percentile(0.99):.0f} ms | {1000 * max(r.latencies):.0f} ms | {r.cpu_per_punch_us} |"
        )
    lines += [
        "",
        "Targets (issue 4): >= 10,000 punches/s into PostgreSQL with two workers; aim 50,000/s on SQLite; "
        "p99 < 1 s at 2,000 single-punch messages/s.",
        "Publisher, broker and workers share the machine's cores (and other users' jobs, if any), so rates "
        "vary between runs; CPU per punch is the steadier figure of the hub's own cost.",
        f"The whole benchmark took {elapsed:.0f} s (load average at the end: {os.getloadavg()[0]:.1f}).",
        "",
        "Command: `python -m bench.run hub_ingest`",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
