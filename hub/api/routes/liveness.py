"""Edges, terminal health and sequence gaps: is every office delivering?"""

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from hub.api.deps import Db, Reader
from hub.api.errors import ApiError
from hub.liveness import EdgeOut, edge_states, sequence_gaps
from hub.store.models import TerminalHealth

router = APIRouter(tags=["liveness"])


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


@router.get("/edges")
async def list_edges(db: Db, _caller: Reader) -> list[EdgeOut]:
    return await edge_states(db)


@router.get("/edges/{edge_id}")
async def get_edge(edge_id: str, db: Db, _caller: Reader) -> EdgeOut:
    found = await edge_states(db, edge_id)
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
