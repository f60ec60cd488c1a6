"""Turn one MQTT message into what it means for the hub, without touching the store.

Every message becomes exactly one of: punches to store (``PunchDelivery``), an edge status, an edge
heartbeat, or a refusal with its reason (``Refusal``, for the dead-letter table). A punch batch whose
envelope is sound but some punches are not is still stored: the bad punches are refused one by one
and named in the ack, so the edge stops resending them (contract principle 3).
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from pydantic import ValidationError

from presensi.contract import EdgeHealth, EdgeStatus, PunchBatch, PunchRecord, RejectedPunch
from presensi.contract.topics import edge_id_from_topic

MAX_REASON_ERRORS = 5
ModelT = TypeVar("ModelT", EdgeStatus, EdgeHealth)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One MQTT message as the worker received it. ``mid``/``qos`` are needed to PUBACK it later."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Refusal:
    """Something to keep in dead letters: a whole message, or one punch of an otherwise good batch."""

    topic: str
    edge_id: str | None
    reason: str
    payload: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class PunchDelivery:
    """The usable part of a punch batch: its envelope, its valid punches and the punches refused."""

    edge_id: str
    batch_id: str
    seq: int
    session: int
    punches: tuple[PunchRecord, ...]
    received_at: datetime
    rejected: tuple[RejectedPunch, ...] = ()
    refusals: tuple[Refusal, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusDelivery:
    status: EdgeStatus
    received_at: datetime


@dataclass(frozen=True, slots=True)
class HealthDelivery:
    health: EdgeHealth
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Ignored:
    """A message with nothing to keep: the empty payload that clears a retained status."""

    reason: str


Meaning = PunchDelivery | StatusDelivery | HealthDelivery | Refusal | Ignored


def refuse(delivery: Delivery, edge_id: str | None, reason: str) -> Refusal:
    return Refusal(delivery.topic, edge_id, reason, delivery.payload, delivery.received_at)


def classify(delivery: Delivery) -> Meaning:
    try:
        topic_edge = edge_id_from_topic(delivery.topic)
    except ValueError as exc:
        return refuse(delivery, None, str(exc))
    kind = delivery.topic.rsplit("/", 1)[-1]
    if kind == "punches":
        return _punches(delivery, topic_edge)
    if kind == "status":
        if not delivery.payload:
            return Ignored("retained status cleared")
        status = _parse(EdgeStatus, delivery.payload)
        if isinstance(status, str):
            return refuse(delivery, topic_edge, status)
        if status.edge_id != topic_edge:
            return refuse(delivery, topic_edge, _mismatch(status.edge_id, topic_edge))
        return StatusDelivery(status, delivery.received_at)
    if kind == "health":
        health = _parse(EdgeHealth, delivery.payload)
        if isinstance(health, str):
            return refuse(delivery, topic_edge, health)
        if health.edge_id != topic_edge:
            return refuse(delivery, topic_edge, _mismatch(health.edge_id, topic_edge))
        return HealthDelivery(health, delivery.received_at)
    return refuse(delivery, topic_edge, f"no hub handler for topic {delivery.topic!r}")


def _punches(delivery: Delivery, topic_edge: str) -> Meaning:
    try:
        batch = PunchBatch.model_validate_json(delivery.payload)
    except ValidationError as whole:
        return _punches_one_by_one(delivery, topic_edge, whole)
    if batch.edge_id != topic_edge:
        # An edge may only speak for itself, and gets no ack: the real owner of the id must not be confused.
        return refuse(delivery, topic_edge, _mismatch(batch.edge_id, topic_edge))
    return PunchDelivery(batch.edge_id, batch.batch_id, batch.seq, batch.session, batch.punches, delivery.received_at)


def _punches_one_by_one(delivery: Delivery, topic_edge: str, whole: ValidationError) -> Meaning:
    """The batch failed as a whole: keep its good punches if only punches are at fault."""
    try:
        raw = json.loads(delivery.payload)
    except (ValueError, UnicodeDecodeError):
        return refuse(delivery, topic_edge, _summary(whole))
    punches = raw.get("punches") if isinstance(raw, dict) else None
    if not isinstance(punches, list) or not punches:
        return refuse(delivery, topic_edge, _summary(whole))
    try:
        PunchBatch.model_validate({**raw, "punches": []})
    except ValidationError as envelope_errors:
        # The empty list itself is the only error allowed here; anything else is the envelope's fault.
        if any(error["loc"][:1] != ("punches",) for error in envelope_errors.errors()):
            return refuse(delivery, topic_edge, _summary(whole))
    # The envelope validated, so these coerce exactly as the model would have.
    edge_id, batch_id, seq, session = (
        str(raw["edge_id"]),
        str(raw["batch_id"]),
        int(raw["seq"]),
        int(raw["session"]),
    )
    if edge_id != topic_edge:
        return refuse(delivery, topic_edge, _mismatch(edge_id, topic_edge))
    good: list[PunchRecord] = []
    rejected: list[RejectedPunch] = []
    refusals: list[Refusal] = []
    for index, item in enumerate(punches):
        try:
            good.append(PunchRecord.model_validate(item))
        except ValidationError as exc:
            key = item.get("key") if isinstance(item, dict) else None
            name = key if isinstance(key, str) and key else f"punches[{index}]"
            reason = _summary(exc)
            rejected.append(RejectedPunch(key=name, reason=reason))
            refusals.append(
                Refusal(
                    delivery.topic,
                    topic_edge,
                    f"punch {name} of batch {batch_id}: {reason}",
                    json.dumps(item, ensure_ascii=False).encode(),
                    delivery.received_at,
                )
            )
    if not rejected:
        # Every punch is fine alone, so the list itself is at fault (e.g. too long): refuse the message.
        return refuse(delivery, topic_edge, _summary(whole))
    return PunchDelivery(
        edge_id,
        batch_id,
        seq,
        session,
        tuple(good),
        delivery.received_at,
        tuple(rejected),
        tuple(refusals),
    )


def _parse(model: type[ModelT], payload: bytes) -> ModelT | str:
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        return _summary(exc)


def _mismatch(payload_edge: str, topic_edge: str) -> str:
    return f"unauthorised: edge_id {payload_edge!r} in the payload but the topic belongs to {topic_edge!r}"


def _summary(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(message)'}: {e['msg']}" for e in errors]
    more = f" (+{len(parts) - MAX_REASON_ERRORS} more)" if len(parts) > MAX_REASON_ERRORS else ""
    return "invalid message: " + "; ".join(parts[:MAX_REASON_ERRORS]) + more
