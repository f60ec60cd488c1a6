"""Dead letters: messages and punches the hub refused, with the reason and the exact bytes."""

import base64

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import func, select

from hub.api.deps import Corrector, Db, Limit, Offset, Reader, RowId
from hub.api.errors import ApiError
from hub.deadletter_resolution import DeadLetterOut, ResolutionOut, ResolveIn, resolve_dead_letter
from hub.store.models import DeadLetter

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])


class DeadLetterDetail(DeadLetterOut):
    payload_base64: str  # the exact bytes received


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    total: int
    limit: int
    offset: int


@router.get("")
async def list_dead_letters(
    db: Db,
    _caller: Reader,
    edge: str | None = None,
    since: AwareDatetime | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> DeadLetterPage:
    query = select(DeadLetter)
    if edge is not None:
        query = query.where(DeadLetter.edge_id == edge)
    if since is not None:
        query = query.where(DeadLetter.received_at >= since)
    total = (await db.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = (await db.execute(query.order_by(DeadLetter.id.desc()).limit(limit).offset(offset))).scalars().all()
    return DeadLetterPage(items=[DeadLetterOut.of(d) for d in rows], total=total, limit=limit, offset=offset)


@router.get("/{dead_letter_id}")
async def get_dead_letter(dead_letter_id: RowId, db: Db, _caller: Reader) -> DeadLetterDetail:
    found = await db.get(DeadLetter, dead_letter_id)
    if found is None:
        raise ApiError(404, f"no dead letter {dead_letter_id}")
    return DeadLetterDetail(
        **DeadLetterOut.of(found).model_dump(), payload_base64=base64.b64encode(found.payload).decode()
    )


@router.post("/{dead_letter_id}/resolve")
async def resolve(dead_letter_id: RowId, data: ResolveIn, db: Db, caller: Corrector) -> ResolutionOut:
    """Mark a dead letter settled with what was done about it (audited); the stored bytes are kept as they are."""
    return await resolve_dead_letter(db, dead_letter_id, data, caller.actor)
