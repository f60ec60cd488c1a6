"""Ships buffered punches to the hub over MQTT and applies the hub's acks (contract v1).

paho-mqtt 2.x driven from our own thread (``loop()`` rather than ``loop_start()``) so that
reconnects use capped exponential backoff with jitter and every buffer operation happens in one
place. Delivery is end to end: a batch is committed to the buffer before it is published, stays
there until the hub's ack names it, and is republished unchanged when no ack comes within the
timeout (backing off while the hub stays silent).
"""

import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import ValidationError

from edge.buffer import Buffer, PunchRow
from edge.config import EdgeSettings
from presensi.broker_security import apply_login_and_tls
from presensi.contract import (
    CONTRACT_VERSION,
    BatchAck,
    Command,
    CommandResult,
    EdgeHealth,
    EdgeStatus,
    EdgeTopics,
)

log = logging.getLogger(__name__)
MAX_RESEND_BACKOFF_SECONDS = 600.0


def build_batch_payload(
    edge_id: str, historical_after: timedelta
) -> Callable[[int, int, list[PunchRow], datetime], tuple[str, bytes]]:
    """The buffer's batch builder: the exact bytes stored and (re)published for a batch.

    A ``PunchBatch`` encoded straight from the buffered rows, whose fields were validated when the
    driver made the punch. Building pydantic models per punch cost four times the rest of the
    drain; tests/edge/test_edge_buffer.py holds these bytes to the contract models.
    """

    def build(seq: int, session: int, rows: list[PunchRow], now: datetime) -> tuple[str, bytes]:
        batch_id = f"{edge_id}:{session}:{seq:06d}"
        cutoff = now - historical_after
        punches = [
            {
                "key": r.key, "terminal_sn": r.terminal_sn, "pin": r.pin, "local_time": r.local_time, "zone": r.zone,
                "utc": r.utc, "status": r.status, "punch": r.punch, "verify": r.verify, "workcode": r.workcode,
                "read_at": r.read_at, "flags": r.flags.split(",") if r.flags else [],
                "historical": datetime.fromisoformat(r.utc) < cutoff,
            }
            for r in rows
        ]  # fmt: skip
        batch = {
            "v": CONTRACT_VERSION, "edge_id": edge_id, "batch_id": batch_id, "seq": seq, "session": session,
            "sent_at": now.isoformat(), "punches": punches,
        }  # fmt: skip
        return batch_id, json.dumps(batch, separators=(",", ":")).encode()

    return build


class Publisher(threading.Thread):
    def __init__(
        self,
        settings: EdgeSettings,
        buffer: Buffer,
        *,
        session: int,
        health: Callable[[], EdgeHealth],
        on_command: Callable[[Command], None],
        terminals: Callable[[], tuple[str, ...]],
        agent_version: str,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(name="publisher", daemon=True)
        settings.broker.require_secure()  # before anything else: no anonymous or clear-text edge by accident
        self.settings = settings
        self.buffer = buffer
        self.session = session
        self.health = health
        self.on_command = on_command
        self.terminals = terminals
        self.agent_version = agent_version
        self.now = now
        self.topics = EdgeTopics(settings.edge_id)
        self.connected = threading.Event()
        self._subscribe_mid: int | None = None
        self.acks_received = 0
        self.batches_published = 0
        self._stopping = threading.Event()
        self._flush_deadline: float | None = None
        self._results: list[CommandResult] = []
        self._results_lock = threading.Lock()
        self._last_heartbeat = 0.0
        # Batches published and not yet acked: batch_id -> (attempts, monotonic time a resend is due).
        # Loaded from the buffer at start, with every resend due at once (a restart may follow a crash).
        self._inflight: dict[str, tuple[int, float]] = {}
        self._acks: list[BatchAck] = []  # received in paho's callback, applied in one transaction per pass
        self._resends: list[tuple[str, datetime, datetime]] = []  # (command id, since, until) to queue
        pub = settings.publisher
        self._build = build_batch_payload(settings.edge_id, timedelta(seconds=pub.historical_after_seconds))
        self._client = self._make_client()

    # --- client set-up ---------------------------------------------------------------------------

    def _status(self, state: str, reason: str) -> bytes:
        return EdgeStatus(
            edge_id=self.settings.edge_id, state=state, session=self.session, ts=self.now(), reason=reason,  # type: ignore[arg-type]
            agent_version=self.agent_version, terminals=self.terminals(),
        ).model_dump_json().encode()  # fmt: skip

    def _make_client(self) -> mqtt.Client:
        broker = self.settings.broker
        v5 = broker.protocol == "5"
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"edge-{self.settings.edge_id}",
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
        )
        client.max_inflight_messages_set(max(20, self.settings.publisher.max_inflight_batches))
        apply_login_and_tls(client, username=broker.username, password=broker.password, tls=broker.tls)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _connect_once(self) -> None:
        broker = self.settings.broker
        # The Last Will: the broker announces us offline if we vanish (retained, like the birth).
        self._client.will_set(self.topics.status, self._status("offline", "connection_lost"), qos=1, retain=True)
        if broker.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = broker.session_expiry_seconds
            self._client.connect(
                broker.host, broker.port, broker.keepalive_seconds, clean_start=False, properties=props
            )
        else:
            self._client.connect(broker.host, broker.port, broker.keepalive_seconds)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        client.publish(self.topics.status, self._status("online", "connected"), qos=1, retain=True)
        # Connected counts from the SUBACK: on a first session, acks and commands sent before the broker has
        # the subscription are lost (a command published meanwhile never arrived, under load, in a test).
        _, self._subscribe_mid = client.subscribe([(self.topics.ack, 1), (self.topics.command, 1)])
        log.info("connected to broker %s:%d (session present: %s)", self.settings.broker.host,
                 self.settings.broker.port, getattr(flags, "session_present", None))  # fmt: skip

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[Any], properties: Any) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            # The broker's ACL must allow this edge its ack and command topics; without them every batch is
            # published again after its ack timeout (the hub stores each punch once) and commands never arrive.
            log.error("broker refused the subscription to %s and %s: %s", self.topics.ack, self.topics.command,
                      ", ".join(refused))  # fmt: skip
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if self.connected.is_set():
            log.warning("disconnected from broker: %s", reason)
        self.connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            if message.topic == self.topics.ack:
                self._acks.append(BatchAck.model_validate_json(message.payload))
            elif message.topic == self.topics.command:
                command = Command.model_validate_json(message.payload)
                if command.expires_at is not None and command.expires_at < self.now():
                    self.publish_result(command.command_id, False, "expired before it arrived")
                else:
                    self.on_command(command)
        except ValidationError as exc:
            log.error("ignoring malformed message on %s: %s", message.topic, exc.errors()[:3])

    def resend_range(self, command_id: str, since: datetime, until: datetime) -> None:
        """Queue a hub command to publish buffered punches again (done in this thread, which owns batches)."""
        with self._results_lock:
            self._resends.append((command_id, since, until))

    def _queue_resends(self, now: datetime) -> None:
        with self._results_lock:
            resends, self._resends = self._resends, []
        for command_id, since, until in resends:
            batches = self.buffer.create_resend_batches(
                since, until, self.settings.publisher.batch_size, self._build, now=now
            )
            for batch in batches:
                self._inflight[batch.batch_id] = (0, 0.0)  # due at once
            punches = sum(b.punches for b in batches)
            self.publish_result(command_id, True, f"{punches} buffered punches queued for resending")

    def publish_result(self, command_id: str, ok: bool, detail: str) -> None:
        result = CommandResult(
            edge_id=self.settings.edge_id, command_id=command_id, ok=ok, detail=detail, finished_at=self.now()
        )
        with self._results_lock:
            self._results.append(result)

    # --- the loop --------------------------------------------------------------------------------

    def stop(self, flush_seconds: float = 0.0) -> None:
        """Stop after publishing what is pending and waiting up to ``flush_seconds`` for acks."""
        self._flush_deadline = time.monotonic() + flush_seconds
        self._stopping.set()

    def run(self) -> None:
        broker = self.settings.broker
        failures = 0
        self._inflight = {b.batch_id: (b.attempts, 0.0) for b in self.buffer.unacked_batches()}
        while not self._stopping.is_set() or self._flushing():
            if not self.connected.is_set():
                try:
                    self._connect_once()
                    deadline = time.monotonic() + 10
                    while not self.connected.is_set() and time.monotonic() < deadline:
                        self._client.loop(timeout=0.1)
                        if self._stopping.is_set() and not self._flushing():
                            break
                except (OSError, ssl.SSLError) as exc:
                    log.debug("broker connect failed: %s", exc)
                if not self.connected.is_set():
                    failures += 1
                    delay = min(broker.reconnect_max_seconds, broker.reconnect_min_seconds * 2.0 ** min(failures, 16))
                    delay *= random.uniform(0.5, 1.0)  # jitter: a fleet of edges must not reconnect in step
                    if failures in (1, 5) or failures % 20 == 0:
                        log.warning("broker %s:%d unreachable (attempt %d), retrying in %.1f s",
                                    broker.host, broker.port, failures, delay)  # fmt: skip
                    self._stopping.wait(delay) if not self._flushing() else time.sleep(min(delay, 0.5))
                    continue
                failures = 0
            self._client.loop(timeout=0.05)
            if self.connected.is_set():
                self.pump()
        self._shutdown()

    def _flushing(self) -> bool:
        """During a stop, keep going while the buffer still has unacked batches and time is left."""
        if self._flush_deadline is None or time.monotonic() >= self._flush_deadline:
            return False
        return bool(self._inflight) or self.buffer.pending_at_least(1)

    def pump(self) -> None:
        """Apply acks, resend what is due, form and publish new batches, send results and the heartbeat."""
        now = self.now()
        pub = self.settings.publisher
        self._apply_acks(now)
        self._queue_resends(now)
        clock = time.monotonic()
        for batch_id, (attempts, due) in list(self._inflight.items()):
            if clock >= due:
                payload = self.buffer.batch_payload(batch_id)
                if payload is None:  # acked meanwhile (e.g. by a resend_range twin)
                    del self._inflight[batch_id]
                elif self._publish(batch_id, payload):
                    self.buffer.mark_published(batch_id, now)
                    self._inflight[batch_id] = (attempts + 1, clock + self._backoff(attempts + 1))
                    log.info("resent batch %s (attempt %d): no ack yet", batch_id, attempts + 1)
        while len(self._inflight) < pub.max_inflight_batches and self._batch_ready(now):
            batch = self.buffer.create_batch(pub.batch_size, self._build, now=now)
            if batch is None:
                break
            sent = self._publish(batch.batch_id, batch.payload)
            self._inflight[batch.batch_id] = (1, clock + (self._backoff(1) if sent else 0.0))
        with self._results_lock:
            results, self._results = self._results, []
        for result in results:
            self._client.publish(self.topics.command_result, result.model_dump_json(), qos=1)
        if clock - self._last_heartbeat >= pub.heartbeat_seconds:
            self._last_heartbeat = clock
            self._client.publish(self.topics.health, self.health().model_dump_json(), qos=0)

    def _apply_acks(self, now: datetime) -> None:
        acks, self._acks = self._acks, []
        if not acks:
            return
        acked = self.buffer.acknowledge_many([a.batch_id for a in acks], now)
        self.acks_received += len(acks)
        for ack in acks:
            self._inflight.pop(ack.batch_id, None)
            for rejected in ack.rejected:
                log.error("hub rejected punch %s: %s (kept in the hub's dead letters)", rejected.key, rejected.reason)
        log.debug("%d acks: %d punches acknowledged", len(acks), acked)
        # The hub answers again: batches that were backing off during its outage are due soon, not in minutes.
        soon = time.monotonic() + self.settings.publisher.ack_timeout_seconds
        for batch_id, (attempts, due) in self._inflight.items():
            if due > soon:
                self._inflight[batch_id] = (attempts, soon)

    def _batch_ready(self, now: datetime) -> bool:
        pub = self.settings.publisher
        if self._stopping.is_set():
            return self.buffer.pending_at_least(1)
        if self.buffer.pending_at_least(pub.batch_size):
            return True
        oldest = self.buffer.oldest_pending_read_at()
        return oldest is not None and (now - oldest).total_seconds() >= pub.batch_max_age_seconds

    def _backoff(self, attempts: int) -> float:
        """Seconds to wait for an ack before publishing a batch again: doubles while the hub is silent."""
        timeout = self.settings.publisher.ack_timeout_seconds * 2.0 ** max(0, min(attempts - 1, 8))
        return min(timeout, MAX_RESEND_BACKOFF_SECONDS)

    def _publish(self, batch_id: str, payload: bytes) -> bool:
        info = self._client.publish(self.topics.punches, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.debug("publish of %s deferred: %s", batch_id, mqtt.error_string(info.rc))
            return False
        self.batches_published += 1
        return True

    def _shutdown(self) -> None:
        if self.connected.is_set():
            # A clean disconnect suppresses the Last Will, so announce the shutdown ourselves.
            info = self._client.publish(self.topics.status, self._status("offline", "shutdown"), qos=1, retain=True)
            deadline = time.monotonic() + 3
            while not info.is_published() and time.monotonic() < deadline:
                self._client.loop(timeout=0.05)
            self._client.disconnect()
            self._client.loop(timeout=0.1)
        left = self.buffer.stats()
        log.info(
            "publisher stopped: %d pending, %d sent without ack (kept for the next start)", left.pending, left.sent
        )
