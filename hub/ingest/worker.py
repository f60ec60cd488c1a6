"""The ingest worker: an MQTT 5 client on the contract's shared punch subscription, committing in batches.

paho's network thread only receives: each message is handed to the asyncio loop, where a collector
groups messages for up to ``max_wait_ms`` (or ``max_messages``/``max_punches``) and a committer writes
each group in one transaction while the next group is collected. Only after the commit does the worker
publish the BatchAcks and send the MQTT PUBACKs (paho ``manual_ack``): a worker killed mid-batch never
PUBACKed those messages, so the broker delivers them again to the same persistent session.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.ingest.classify import Delivery, PunchDelivery, classify, refuse
from hub.ingest.commit import Outcome, Received, commit_received
from hub.settings import HubSettings
from presensi.broker_security import apply_login_and_tls
from presensi.contract import HubSubscriptions

log = logging.getLogger(__name__)

RETRY_FIRST_DELAY = 0.2
RETRY_MAX_DELAY = 5.0
STOP_GRACE_SECONDS = 10.0


@dataclass(slots=True)
class IngestStats:
    messages: int = 0  # received
    settled: int = 0  # committed (stored or dead-lettered) and PUBACKed
    flushes: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    acks: int = 0


class IngestWorker:
    """One ingest worker. ``await run()`` until ``stop()``; several may share the subscription group."""

    def __init__(self, settings: HubSettings, engine: AsyncEngine, *, client_id: str | None = None) -> None:
        settings.mqtt.require_secure()  # before anything else: no anonymous or clear-text hub by accident
        self.settings = settings
        self.engine = engine
        self.client_id = client_id or settings.mqtt.client_id
        self.stats = IngestStats()
        self.subscribed = asyncio.Event()  # set while connected and subscribed
        self._subscriptions = HubSubscriptions(settings.mqtt.group)
        self._inbox: asyncio.Queue[Delivery | None] = asyncio.Queue()
        self._arrived: deque[Delivery] = deque()  # filled by paho's thread, emptied by the loop
        self._wake_lock = threading.Lock()
        self._wake_pending = False
        self._unconfirmed_acks: deque[mqtt.MQTTMessageInfo] = deque()  # acks the broker has not PUBACKed
        self._ready: asyncio.Queue[list[Received] | None] = asyncio.Queue(maxsize=1)
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client = self._make_client()

    def stop(self) -> None:
        """Finish the batches in hand (commit, ack), then disconnect. Call from the worker's loop."""
        if not self._stopping.is_set():
            self._stopping.set()
            self._inbox.put_nowait(None)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        mqtt_settings = self.settings.mqtt
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = mqtt_settings.session_expiry_seconds
        # PUBACKs wait for the commit, so up to two groups (one committing, one collecting) are unacked.
        properties.ReceiveMaximum = min(65_535, 2 * self.settings.ingest.max_messages)
        self._client.connect_async(
            mqtt_settings.host,
            mqtt_settings.port,
            keepalive=mqtt_settings.keepalive_seconds,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()
        try:
            collector = asyncio.create_task(self._collect(), name=f"{self.client_id}-collect")
            await self._commit_loop()
            await collector
            await asyncio.to_thread(self._wait_for_outgoing, STOP_GRACE_SECONDS)
        finally:
            self._client.disconnect()
            self._client.loop_stop()
            log.info("ingest worker %s stopped: %s", self.client_id, self.stats)

    # --- paho thread -------------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        mqtt_settings = self.settings.mqtt
        apply_login_and_tls(
            client, username=mqtt_settings.username, password=mqtt_settings.password, tls=mqtt_settings.tls
        )
        # paho's default window of 20 outgoing acks stays within any broker's Receive Maximum (paho does
        # not read it from CONNACK), and a larger one is no faster: paho rescans it on every PUBACK.
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        return client

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: Any, reason: ReasonCode, _props: Any) -> None:
        if reason.is_failure:
            log.error("broker refused %s: %s", self.client_id, reason)
            return
        log.info("%s connected (session present: %s)", self.client_id, flags.session_present)
        # Subscribing again on a resumed session is harmless and covers a session the broker expired.
        client.subscribe(
            [
                (self._subscriptions.punches, SubscribeOptions(qos=1)),
                # Status and health are small and idempotent: every worker reads them (a shared
                # subscription would not get the retained birth/will at start).
                (self._subscriptions.status, SubscribeOptions(qos=1)),
                (self._subscriptions.health, SubscribeOptions(qos=1)),
            ]
        )

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: list[ReasonCode], _props: Any
    ) -> None:
        failed = [str(r) for r in reasons if r.is_failure]
        if failed:
            log.error("%s: subscription refused: %s", self.client_id, failed)
            return
        log.info("%s subscribed (group %s)", self.client_id, self.settings.mqtt.group)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.subscribed.set)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        delivery = Delivery(
            message.topic, bytes(message.payload), message.mid, message.qos, message.retain, datetime.now(UTC)
        )
        self._arrived.append(delivery)
        # Wake the loop once per burst, not once per message: each wake-up is a syscall and a GIL hand-off.
        with self._wake_lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._take_arrived)

    def _take_arrived(self) -> None:
        """(Loop thread) move what paho received into the inbox, in arrival order."""
        with self._wake_lock:
            self._wake_pending = False
        while self._arrived:
            self._inbox.put_nowait(self._arrived.popleft())

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("%s lost the broker (%s); paho reconnects", self.client_id, reason)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.subscribed.clear)

    def _wait_for_outgoing(self, timeout: float) -> None:
        """Let the acks (beyond paho's in-flight window too) and PUBACKs reach the broker before
        disconnecting. An ack lost here only costs the edge a resend, so the wait is bounded."""
        deadline = time.monotonic() + timeout
        for info in self._unconfirmed_acks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with contextlib.suppress(RuntimeError, ValueError):  # not connected: the edge resends
                info.wait_for_publish(remaining)
        while self._client.want_write() and time.monotonic() < deadline:
            time.sleep(0.01)

    # --- asyncio loop ------------------------------------------------------------------------------

    async def _collect(self) -> None:
        ingest = self.settings.ingest
        max_wait = ingest.max_wait_ms / 1000
        while True:
            first = await self._inbox.get()
            if first is None:
                break
            group = [self._receive(first)]
            punches = _punch_count(group[-1])
            deadline = time.monotonic() + max_wait
            stopped = False
            while len(group) < ingest.max_messages and punches < ingest.max_punches:
                try:
                    nxt = self._inbox.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        async with asyncio.timeout(remaining):
                            nxt = await self._inbox.get()
                    except TimeoutError:
                        break
                if nxt is None:
                    stopped = True
                    break
                group.append(self._receive(nxt))
                punches += _punch_count(group[-1])
            await self._ready.put(group)
            if stopped:
                break
        # Whatever arrives from now on is left un-PUBACKed for the broker to deliver again.
        await self._ready.put(None)

    def _receive(self, delivery: Delivery) -> Received:
        self.stats.messages += 1
        try:
            return Received(delivery, classify(delivery))
        except Exception as exc:
            # A hub bug meets unforeseen input: keep the message as a dead letter and keep going.
            log.exception("%s: could not classify a message on %s", self.client_id, delivery.topic)
            reason = f"hub error while reading the message: {type(exc).__name__}: {exc}"
            return Received(delivery, refuse(delivery, None, reason))

    async def _commit_loop(self) -> None:
        while (group := await self._ready.get()) is not None:
            outcome = await self._commit_until_done(group)
            if outcome is None:
                continue
            for topic, ack in outcome.acks:
                self._unconfirmed_acks.append(self._client.publish(topic, ack.model_dump_json(), qos=1))
            for one in group:
                self._client.ack(one.delivery.mid, one.delivery.qos)
            while self._unconfirmed_acks and _done_with(self._unconfirmed_acks[0]):
                self._unconfirmed_acks.popleft()
            self.stats.settled += len(group)
            self.stats.flushes += 1
            self.stats.stored += outcome.stored
            self.stats.duplicates += outcome.duplicates
            self.stats.dead_letters += outcome.dead_letters
            self.stats.acks += len(outcome.acks)

    async def _commit_until_done(self, group: list[Received]) -> Outcome | None:
        """Retry a flush the store could not take; give up (no ack) only when stopping for too long."""
        delay = RETRY_FIRST_DELAY
        stop_deadline: float | None = None
        while True:
            try:
                return await commit_received(self.engine, group, self.client_id)
            except Exception as exc:
                log.warning("%s: commit of %d messages failed, retrying: %s", self.client_id, len(group), exc)
            if self._stopping.is_set():
                stop_deadline = stop_deadline or time.monotonic() + STOP_GRACE_SECONDS
                if time.monotonic() > stop_deadline:
                    log.error("%s: stopping without committing %d messages", self.client_id, len(group))
                    return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_DELAY)


def _done_with(info: mqtt.MQTTMessageInfo) -> bool:
    """Whether an ack needs no more waiting for. One published while the broker was away is marked
    NO_CONN and ``is_published()`` raises for it from then on (even once paho sends it after the
    reconnect): nothing to wait for. Its batch was not PUBACKed either, so it comes again and is acked then."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return True


def _punch_count(received: Received) -> int:
    meaning = received.meaning
    return len(meaning.punches) if isinstance(meaning, PunchDelivery) else 1
