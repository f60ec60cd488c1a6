"""Helpers for the hub tests: stores on SQLite and PostgreSQL (own schema per test), a running ingest
worker, and a stand-in edge that publishes batches and collects the hub's acks.

``tests/`` is not a package, so the shared ``require_postgres`` is loaded from tests/conftest.py by path.
"""

import asyncio
import contextlib
import importlib.util
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hub.ingest.worker import IngestWorker
from hub.settings import DatabaseSettings, HubSettings, IngestSettings, MqttSettings
from hub.store.db import async_url
from presensi.contract import BatchAck, EdgeTopics, PunchBatch, PunchRecord, punch_key
from presensi.mosquitto import MosquittoBroker


def _shared_conftest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("presensi_tests_conftest", Path(__file__).parents[1] / "conftest.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


require_postgres = _shared_conftest().require_postgres


@dataclass(frozen=True)
class Store:
    kind: str
    database: DatabaseSettings


@contextlib.asynccontextmanager
async def provision(kind: str, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, empty store: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        yield Store(kind, DatabaseSettings(url=f"sqlite:///{tmp_path / 'hub.db'}"))
        return
    url = require_postgres()
    schema = f"hubtest_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(async_url(url))
    async with admin.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield Store(kind, DatabaseSettings.model_validate({"url": url, "schema": schema}))
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()


def hub_settings(
    broker: MosquittoBroker, store: Store, *, group: str = "presensi-ingest", max_wait_ms: int = 20
) -> HubSettings:
    return HubSettings(
        database=store.database,
        # The fixtures' private Mosquitto is anonymous and clear-text on loopback: allowed explicitly.
        mqtt=MqttSettings(host=broker.host, port=broker.port, client_id="hub-test", group=group, allow_insecure=True),
        ingest=IngestSettings(max_wait_ms=max_wait_ms),
    )


@contextlib.asynccontextmanager
async def running_worker(
    settings: HubSettings, engine: AsyncEngine, client_id: str = "hub-test"
) -> AsyncIterator[IngestWorker]:
    worker = IngestWorker(settings, engine, client_id=client_id)
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            await worker.subscribed.wait()
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(task, 20)


async def eventually(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    """Poll ``condition`` (state another thread changes) until true; fail after ``seconds``."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not reached within {seconds} s")


# --- a stand-in edge ------------------------------------------------------------------------------

JAKARTA = ZoneInfo("Asia/Jakarta")
BASE_LOCAL = datetime(2026, 11, 23, 7, 0, 0)


def punch(terminal_sn: str, pin: str, local_time: datetime, status: int = 0) -> PunchRecord:
    utc = local_time.replace(tzinfo=JAKARTA).astimezone(UTC)
    return PunchRecord(
        key=punch_key(terminal_sn, pin, local_time, status),
        terminal_sn=terminal_sn,
        pin=pin,
        local_time=local_time,
        zone="Asia/Jakarta",
        utc=utc,
        status=status,
        punch=1,
        verify=1,
        read_at=utc + timedelta(seconds=5),
    )


def morning_punches(count: int, terminal_sn: str = "TERM01", start: int = 0) -> list[PunchRecord]:
    """``count`` distinct punches, one second apart, by PINs 1000.. on ``terminal_sn``."""
    return [
        punch(terminal_sn, str(1000 + (i % 500)), BASE_LOCAL + timedelta(seconds=i))
        for i in range(start, start + count)
    ]


def batch(edge_id: str, seq: int, punches: list[PunchRecord], session: int = 1) -> PunchBatch:
    return PunchBatch(
        edge_id=edge_id,
        batch_id=f"{edge_id}:{session}:{seq:06d}",
        seq=seq,
        session=session,
        sent_at=datetime.now(UTC),
        punches=tuple(punches),
    )


class FakeEdge:
    """Publishes on an edge's topics like the agent would and collects the BatchAcks it receives."""

    def __init__(self, broker: MosquittoBroker, edge_id: str = "edge-a") -> None:
        self.edge_id = edge_id
        self.topics = EdgeTopics(edge_id)
        self.acks: list[BatchAck] = []
        self._changed = threading.Condition()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"fake-{edge_id}-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        self._client.max_inflight_messages_set(1000)
        self._client.on_message = self._on_message
        self.subscribed = threading.Event()
        self._client.on_connect = lambda client, *_: client.subscribe(self.topics.ack, qos=1)
        self._client.on_subscribe = lambda *_: self.subscribed.set()
        self._client.on_disconnect = lambda *_: self.subscribed.clear()
        self._client.reconnect_delay_set(1, 2)
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        assert self.subscribed.wait(5), "fake edge could not subscribe to its ack topic"

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.acks.append(BatchAck.model_validate_json(message.payload))
            self._changed.notify_all()

    def send(self, payload: PunchBatch | bytes | str, topic: str | None = None, *, retain: bool = False) -> None:
        raw = payload.model_dump_json() if isinstance(payload, PunchBatch) else payload
        self._client.publish(topic or self.topics.punches, raw, qos=1, retain=retain).wait_for_publish(5)

    def wait_acks(self, count: int, timeout: float = 10.0) -> list[BatchAck]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.acks) >= count, timeout):
                raise AssertionError(f"{self.edge_id}: {len(self.acks)} acks after {timeout}s, wanted {count}")
            return list(self.acks)

    def wait_ack_of(self, batch_id: str, timeout: float = 10.0) -> BatchAck:
        with self._changed:
            if not self._changed.wait_for(lambda: any(a.batch_id == batch_id for a in self.acks), timeout):
                raise AssertionError(f"{self.edge_id}: no ack for {batch_id} after {timeout}s")
            return next(a for a in self.acks if a.batch_id == batch_id)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class WorkerThread:
    """An ingest worker on its own event loop in a thread, for synchronous (hypothesis) tests."""

    def __init__(self, settings: HubSettings, client_id: str = "hub-fuzz") -> None:
        self._settings = settings
        self._client_id = client_id
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.worker: IngestWorker | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def __enter__(self) -> "WorkerThread":
        self._thread.start()
        assert self._ready.wait(15), "worker did not subscribe"
        return self

    def __exit__(self, *_: object) -> None:
        assert self._loop is not None
        assert self.worker is not None
        self._loop.call_soon_threadsafe(self.worker.stop)
        self._thread.join(30)

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        from hub.store.db import create_engine
        from hub.store.migrate import upgrade

        self._loop = asyncio.get_running_loop()
        engine = create_engine(self._settings.database)
        try:
            await upgrade(engine)
            self.worker = IngestWorker(self._settings, engine, client_id=self._client_id)
            task = asyncio.create_task(self.worker.run())
            await self.worker.subscribed.wait()
            self._ready.set()
            await task
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            await engine.dispose()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def wait_settled(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` messages in all were committed and PUBACKed."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.worker is not None
            if self.worker.stats.settled >= count:
                return
            assert self.alive, f"worker died: {self.error!r}"
            time.sleep(0.002)
        raise AssertionError(f"only {self.worker and self.worker.stats.settled} of {count} messages settled")
