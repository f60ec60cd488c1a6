"""Settling dead letters: an operator marks one resolved with a reason; the refused bytes stay as they were.

The listing lives here (not in the API route) so the API and the dashboard share one query.
"""

from datetime import UTC, datetime

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.registry import audit
from hub.registry.errors import Conflict, NotFound
from hub.registry.service import commit
from hub.store.models import DeadLetter, DeadLetterResolution

PREVIEW_BYTES = 500


class ResolveIn(BaseModel):
    reason: str = Field(min_length=3, max_length=2000, description="what was done about it; required and audited")


class ResolutionOut(BaseModel):
    dead_letter_id: int
    reason: str
    resolved_by: str
    resolved_at: datetime


class DeadLetterOut(BaseModel):
    """A dead letter as the API and the dashboard list it (the payload's start only)."""

    id: int
    received_at: datetime
    topic: str
    edge_id: str | None
    reason: str
    worker: str
    payload_bytes: int
    payload_preview: str  # the start of the payload as text (undecodable bytes replaced)

    @classmethod
    def of(cls, d: DeadLetter) -> "DeadLetterOut":
        return cls(
            id=d.id,
            received_at=d.received_at,
            topic=d.topic,
            edge_id=d.edge_id,
            reason=d.reason,
            worker=d.worker,
            payload_bytes=len(d.payload),
            payload_preview=d.payload[:PREVIEW_BYTES].decode("utf-8", errors="replace"),
        )


class DeadLetterItem(DeadLetterOut):
    resolution: ResolutionOut | None


def _resolution(r: DeadLetterResolution | None) -> ResolutionOut | None:
    if r is None:
        return None
    return ResolutionOut(
        dead_letter_id=r.dead_letter_id, reason=r.reason, resolved_by=r.resolved_by, resolved_at=r.resolved_at
    )


async def list_dead_letters(
    session: AsyncSession, *, unresolved_only: bool = False, limit: int = 100, offset: int = 0
) -> tuple[list[DeadLetterItem], int]:
    """Newest first, with each one's resolution; and how many match in all."""
    query = select(DeadLetter, DeadLetterResolution).outerjoin(
        DeadLetterResolution, DeadLetterResolution.dead_letter_id == DeadLetter.id
    )
    if unresolved_only:
        query = query.where(DeadLetterResolution.dead_letter_id.is_(None))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = (await session.execute(query.order_by(DeadLetter.id.desc()).limit(limit).offset(offset))).all()
    items = [DeadLetterItem(**DeadLetterOut.of(d).model_dump(), resolution=_resolution(r)) for d, r in rows]
    return items, total


async def resolve_dead_letter(session: AsyncSession, dead_letter_id: int, data: ResolveIn, actor: str) -> ResolutionOut:
    if await session.get(DeadLetter, dead_letter_id) is None:
        raise NotFound(f"no dead letter {dead_letter_id}")
    if await session.get(DeadLetterResolution, dead_letter_id) is not None:
        raise Conflict(f"dead letter {dead_letter_id} is resolved already")
    row = DeadLetterResolution(
        dead_letter_id=dead_letter_id, reason=data.reason, resolved_by=actor, resolved_at=datetime.now(UTC)
    )
    session.add(row)
    await session.flush()
    out = _resolution(row)
    assert out is not None
    audit.record(session, actor=actor, action="resolve", entity="dead_letter", key=str(dead_letter_id), after=out)
    await commit(session)
    return out
