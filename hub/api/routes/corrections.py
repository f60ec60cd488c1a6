"""Operator corrections (missing punch, broken terminal day, wrong PIN mapping): a reason is required; each is
audited with the affected days before and after, and recomputed at once."""

from datetime import date

from fastapi import APIRouter, Query

from hub.api.deps import Corrector, Db, Limit, Offset, Reader
from hub.reconcile import corrections
from hub.reconcile.corrections import CorrectionIn, CorrectionOut

router = APIRouter(prefix="/corrections", tags=["corrections"])


@router.get("")
async def list_corrections(
    db: Db,
    _caller: Reader,
    nip: str | None = None,
    from_: date | None = Query(default=None, alias="from"),
    to: date | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[CorrectionOut]:
    return await corrections.list_corrections(db, nip=nip, first=from_, last=to, limit=limit, offset=offset)


@router.post("", status_code=201)
async def create_correction(data: CorrectionIn, db: Db, caller: Corrector) -> CorrectionOut:
    return await corrections.create_correction(db, data, caller.actor)
