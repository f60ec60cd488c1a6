"""The exceptions list: unmatched and flagged punches and the reconciliation findings of attendance days."""

from datetime import date

from fastapi import APIRouter, Query

from hub.api.deps import Db, Limit, Offset, Reader
from hub.reconcile.exceptions import ExceptionKind, ExceptionPage, list_exceptions
from hub.registry.errors import RegistryError

router = APIRouter(prefix="/exceptions", tags=["exceptions"])
MAX_DAYS = 366


@router.get("")
async def exceptions(
    db: Db,
    _caller: Reader,
    from_: date = Query(alias="from"),
    to: date = Query(),
    unit: str | None = None,
    kind: list[ExceptionKind] | None = Query(default=None, description="repeat for several; default every kind"),
    limit: Limit = 100,
    offset: Offset = 0,
) -> ExceptionPage:
    """Exceptions of the local dates [from, to] (at most a year), kind by kind; ``totals`` counts each kind."""
    if to < from_ or (to - from_).days >= MAX_DAYS:
        raise RegistryError(f"give a range of at most {MAX_DAYS} days, to not before from", field="to")
    return await list_exceptions(db, first=from_, last=to, unit_code=unit, kinds=kind, limit=limit, offset=offset)
