"""Edge liveness (Sparkplug style): retained birth/will status, heartbeats, terminal health, sequence gaps.

Several ingest workers may see the same status or heartbeat, in any order, so every write here is a
conditional upsert that only moves a row forward in time: replaying old news never overwrites new.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import BigInteger, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from hub.ingest.classify import HealthDelivery, StatusDelivery
from hub.store.db import insert_for
from hub.store.models import Batch, Edge, TerminalHealth
from hub.store.types import UtcDateTime

D = TypeVar("D", StatusDelivery, HealthDelivery)


async def apply_statuses(connection: AsyncConnection, deliveries: Sequence[StatusDelivery]) -> None:
    """Record births and wills. Newer (session, ts) wins; at equal ones "offline" wins (the will)."""
    newest = _newest_per_edge(deliveries, lambda d: d.status.edge_id, _status_order)
    if not newest:
        return
    insert = insert_for(connection.engine)
    stmt = insert(Edge)
    new = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[Edge.edge_id],
        set_={
            "state": new.state,
            "session": new.session,
            "status_reason": new.status_reason,
            "status_at": new.status_at,
            "agent_version": new.agent_version,
            "terminals": new.terminals,
        },
        where=or_(
            Edge.session.is_(None),
            new.session > Edge.session,
            and_(new.session == Edge.session, new.status_at > Edge.status_at),
            and_(new.session == Edge.session, new.status_at == Edge.status_at, new.state == "offline"),
        ),
    )
    await connection.execute(
        stmt,
        [
            {
                "edge_id": d.status.edge_id,
                "state": d.status.state,
                "session": d.status.session,
                "status_reason": d.status.reason,
                "status_at": d.status.ts,
                "agent_version": d.status.agent_version,
                "terminals": list(d.status.terminals),
                "last_seen_at": d.received_at,
            }
            for d in newest.values()
        ],
    )
    await _seen(connection, {edge: d.received_at for edge, d in newest.items()})


def _newest_per_edge(items: Sequence[D], edge: Callable[[D], str], order: Callable[[D], Any]) -> dict[str, D]:
    """The latest report per edge in one flush (ties go to the later delivery)."""
    newest: dict[str, D] = {}
    for item in items:
        current = newest.get(edge(item))
        if current is None or order(item) >= order(current):
            newest[edge(item)] = item
    return newest


def _status_order(d: StatusDelivery) -> tuple[int, datetime, bool]:
    return (d.status.session, d.status.ts, d.status.state == "offline")


async def apply_heartbeats(connection: AsyncConnection, deliveries: Sequence[HealthDelivery]) -> None:
    """Record heartbeats on the edge row and each terminal's health, newest report first."""
    newest = _newest_per_edge(deliveries, lambda d: d.health.edge_id, lambda d: d.health.ts)
    if not newest:
        return
    insert = insert_for(connection.engine)
    stmt = insert(Edge)
    new = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[Edge.edge_id],
        set_={
            "health_at": new.health_at,
            "health_session": new.health_session,
            "last_seq": new.last_seq,
            "uptime_seconds": new.uptime_seconds,
            "buffer": new.buffer,
        },
        where=or_(Edge.health_at.is_(None), new.health_at > Edge.health_at),
    )
    await connection.execute(
        stmt,
        [
            {
                "edge_id": d.health.edge_id,
                "health_at": d.health.ts,
                "health_session": d.health.session,
                "last_seq": d.health.last_seq,
                "uptime_seconds": d.health.uptime_seconds,
                "buffer": d.health.buffer.model_dump(mode="json"),
                "last_seen_at": d.received_at,
            }
            for d in newest.values()
        ],
    )
    terminal_rows = {
        (d.health.edge_id, t.terminal_sn): {
            "edge_id": d.health.edge_id,
            "terminal_sn": t.terminal_sn,
            "name": t.name,
            "reachable": t.reachable,
            "last_poll": t.last_poll,
            "last_success": t.last_success,
            "records": t.records,
            "record_capacity": t.record_capacity,
            "users": t.users,
            "drift_seconds": t.drift_seconds,
            "last_error": t.last_error,
            "reported_at": d.health.ts,
        }
        for d in newest.values()
        for t in d.health.terminals
    }
    if terminal_rows:
        tstmt = insert(TerminalHealth)
        tnew = tstmt.excluded
        tstmt = tstmt.on_conflict_do_update(
            index_elements=[TerminalHealth.edge_id, TerminalHealth.terminal_sn],
            set_={
                column: getattr(tnew, column)
                for column in (
                    "name",
                    "reachable",
                    "last_poll",
                    "last_success",
                    "records",
                    "record_capacity",
                    "users",
                    "drift_seconds",
                    "last_error",
                    "reported_at",
                )
            },
            where=tnew.reported_at > TerminalHealth.reported_at,
        )
        await connection.execute(tstmt, list(terminal_rows.values()))
    await _seen(connection, {edge: d.received_at for edge, d in newest.items()})


async def _seen(connection: AsyncConnection, seen: dict[str, datetime]) -> None:
    for edge_id, at in sorted(seen.items()):
        await connection.execute(
            update(Edge).where(Edge.edge_id == edge_id, Edge.last_seen_at < at).values(last_seen_at=at)
        )


@dataclass(frozen=True, slots=True)
class SequenceGap:
    """Batches ``first_missing``..``last_missing`` of ``edge_id`` never arrived (so far)."""

    edge_id: str
    first_missing: int
    last_missing: int
    after_batch_received_at: datetime | None
    noticed_by: str  # "later batch" (a hole below a received seq) or "heartbeat" (above the last received)

    @property
    def missing(self) -> int:
        return self.last_missing - self.first_missing + 1


async def sequence_gaps(session: AsyncSession, edge_id: str | None = None) -> list[SequenceGap]:
    """Missing seqs between the batches received, and after the last one up to the heartbeat's last_seq.

    Computed from the ``batches`` table on demand, so it is right however many workers took part
    and heals by itself when a resent batch fills the hole.
    """
    # lag's default 0 makes a first batch with seq > 1 report 1..seq-1: an edge starts at seq 1.
    previous_seq = func.lag(Batch.seq, 1, 0, type_=BigInteger).over(partition_by=Batch.edge_id, order_by=Batch.seq)
    previous_at = func.lag(Batch.received_at, type_=UtcDateTime).over(partition_by=Batch.edge_id, order_by=Batch.seq)
    inner = select(
        Batch.edge_id,
        Batch.seq,
        previous_seq.label("previous_seq"),
        previous_at.label("previous_received_at"),
    ).subquery()
    query = select(inner).where(inner.c.seq - inner.c.previous_seq > 1)
    if edge_id is not None:
        query = query.where(inner.c.edge_id == edge_id)
    gaps = [
        SequenceGap(row.edge_id, row.previous_seq + 1, row.seq - 1, row.previous_received_at, "later batch")
        for row in (await session.execute(query)).all()
    ]
    highest = func.coalesce(func.max(Batch.seq), 0)
    tail = (
        select(Edge.edge_id, Edge.last_seq, highest, func.max(Batch.received_at))
        .outerjoin(Batch, Batch.edge_id == Edge.edge_id)
        .where(Edge.last_seq.is_not(None))
        .group_by(Edge.edge_id, Edge.last_seq)
        .having(Edge.last_seq > highest)
    )
    if edge_id is not None:
        tail = tail.where(Edge.edge_id == edge_id)
    for edge, last_seq, highest_seq, received in (await session.execute(tail)).all():
        gaps.append(SequenceGap(edge, int(highest_seq) + 1, int(last_seq or 0), received, "heartbeat"))
    return sorted(gaps, key=lambda g: (g.edge_id, g.first_missing))


class EdgeOut(BaseModel):
    edge_id: str
    state: str | None  # "online"/"offline" from the retained birth/will; None before the first status
    session: int | None
    status_reason: str | None
    status_at: datetime | None
    agent_version: str | None
    terminals: list[str] | None
    health_at: datetime | None
    last_seq: int | None
    uptime_seconds: float | None
    buffer: dict[str, Any] | None
    last_seen_at: datetime
    last_batch_seq: int | None
    last_batch_at: datetime | None


async def edge_states(db: AsyncSession, edge_id: str | None = None) -> list[EdgeOut]:
    """Each edge's last known state with its newest batch (seq and when it arrived)."""
    latest = (
        select(Batch.edge_id, func.max(Batch.seq).label("seq"), func.max(Batch.received_at).label("at"))
        .group_by(Batch.edge_id)
        .subquery()
    )
    query = select(Edge, latest.c.seq, latest.c.at).outerjoin(latest, latest.c.edge_id == Edge.edge_id)
    if edge_id is not None:
        query = query.where(Edge.edge_id == edge_id)
    rows = (await db.execute(query.order_by(Edge.edge_id))).all()
    return [
        EdgeOut(
            edge_id=e.edge_id,
            state=e.state,
            session=e.session,
            status_reason=e.status_reason,
            status_at=e.status_at,
            agent_version=e.agent_version,
            terminals=e.terminals,
            health_at=e.health_at,
            last_seq=e.last_seq,
            uptime_seconds=e.uptime_seconds,
            buffer=e.buffer,
            last_seen_at=e.last_seen_at,
            last_batch_seq=seq,
            last_batch_at=at,
        )
        for e, seq, at in rows
    ]
