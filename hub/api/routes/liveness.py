"""Edges, terminal health and sequence gaps: is every office delivering?"""

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from hub.api.deps import Db, Reader
from hub.api.errors import ApiError
from hub.liveness import sequence_gaps
from hub.store.models import Batch, Edge, TerminalHealth

router = APIRouter(tags=["liveness"])


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


class TerminalHealthOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    edge_id: str
    terminal_sn: str
    name: str
    reachable: bool
    last_poll: datetime | None
    last_success: datetime | None
    records: int | None
    record_capacity: int | None
    users: int | None
    drift_seconds: float | None
    last_error: str | None
    reported_at: datetime


class SequenceGapOut(BaseModel):
    edge_id: str
    first_missing: int
    last_missing: int
    missing: int
    after_batch_received_at: datetime | None
    noticed_by: str


async def _edges(db: Db, edge_id: str | None = None) -> list[EdgeOut]:
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


@router.get("/edges")
async def list_edges(db: Db, _caller: Reader) -> list[EdgeOut]:
    return await _edges(db)


@router.get("/edges/{edge_id}")
async def get_edge(edge_id: str, db: Db, _caller: Reader) -> EdgeOut:
    found = await _edges(db, edge_id)
    if not found:
        raise ApiError(404, f"no edge {edge_id!r} has reported")
    return found[0]


@router.get("/terminal-health")
async def terminal_health(db: Db, _caller: Reader, edge: str | None = None) -> list[TerminalHealthOut]:
    """Each terminal as its edge last reported it: reachability, last success, drift, capacity, last error."""
    query = select(TerminalHealth).order_by(TerminalHealth.edge_id, TerminalHealth.terminal_sn)
    if edge is not None:
        query = query.where(TerminalHealth.edge_id == edge)
    return [TerminalHealthOut.model_validate(t) for t in (await db.execute(query)).scalars().all()]


@router.get("/sequence-gaps")
async def list_sequence_gaps(db: Db, _caller: Reader, edge: str | None = None) -> list[SequenceGapOut]:
    """Batch seqs that never arrived: holes between received batches, and beyond the last one up to
    the seq the edge's heartbeat says it has sent. A gap closes when the resent batch arrives."""
    return [
        SequenceGapOut(
            edge_id=g.edge_id,
            first_missing=g.first_missing,
            last_missing=g.last_missing,
            missing=g.missing,
            after_batch_received_at=g.after_batch_received_at,
            noticed_by=g.noticed_by,
        )
        for g in await sequence_gaps(db, edge)
    ]
