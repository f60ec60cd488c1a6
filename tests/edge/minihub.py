"""A minimal hub for edge tests: takes punch batches, stores each punch once by key, then acks.

It is deliberately not the real hub (tests/hub covers that): it keeps what it stored in memory
across its own stop/start, so a test can take "the hub" away and bring it back.
"""

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from presensi.contract import BatchAck, CommandResult, EdgeStatus, PunchBatch, PunchRecord
from presensi.contract.topics import EdgeTopics, HubSubscriptions, edge_id_from_topic


@dataclass
class HubState:
    punches: dict[str, PunchRecord] = field(default_factory=dict)
    deliveries: Counter[str] = field(default_factory=Counter)  # how often each key arrived
    batches: Counter[str] = field(default_factory=Counter)
    seqs: dict[str, set[int]] = field(default_factory=dict)
    statuses: list[EdgeStatus] = field(default_factory=list)
    results: list[CommandResult] = field(default_factory=list)
    stored_at: dict[str, float] = field(default_factory=dict)  # key -> perf_counter when first stored
    first_batch_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class MiniHub:
    def __init__(self, port: int, state: HubState | None = None, *, ack: bool = True) -> None:
        self.port = port
        self.state = state or HubState()
        self.ack = ack
        self._client: mqtt.Client | None = None

    def start(self) -> "MiniHub":
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="minihub", protocol=mqtt.MQTTv5)
        client.on_message = self._on_message
        subs = HubSubscriptions()
        connected = threading.Event()

        def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
            c.subscribe([(subs.punches_unshared, 1), (subs.status, 1), (subs.command_results, 1)])
            connected.set()

        client.on_connect = on_connect
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        if not connected.wait(10):
            raise TimeoutError("minihub could not connect")
        self._client = client
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        edge_id = edge_id_from_topic(message.topic)
        if message.topic.endswith("/status"):
            with self.state.lock:
                self.state.statuses.append(EdgeStatus.model_validate_json(message.payload))
            return
        if message.topic.endswith("/command/result"):
            with self.state.lock:
                self.state.results.append(CommandResult.model_validate_json(message.payload))
            return
        received = time.perf_counter()
        batch = PunchBatch.model_validate_json(message.payload)
        assert batch.edge_id == edge_id
        with self.state.lock:
            new = dup = 0
            for punch in batch.punches:
                self.state.deliveries[punch.key] += 1
                if punch.key in self.state.punches:
                    dup += 1
                else:
                    self.state.punches[punch.key] = punch
                    self.state.stored_at[punch.key] = received
                    new += 1
            if self.state.first_batch_at is None:
                self.state.first_batch_at = received
            self.state.batches[batch.batch_id] += 1
            self.state.seqs.setdefault(edge_id, set()).add(batch.seq)
        if self.ack:
            ack = BatchAck(
                edge_id=edge_id, batch_id=batch.batch_id, seq=batch.seq, stored=new, duplicates=dup,
                committed_at=datetime.now(UTC),
            )  # fmt: skip
            client.publish(EdgeTopics(edge_id).ack, ack.model_dump_json(), qos=1)

    def publish(self, topic: str, payload: str) -> None:
        assert self._client is not None
        self._client.publish(topic, payload, qos=1).wait_for_publish(5)

    def wait_for(self, count: int, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.state.punches) >= count:
                return True
            time.sleep(0.1)
        return False
