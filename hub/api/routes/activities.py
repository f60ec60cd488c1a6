"""Activity log entries and the supervisor's review actions (approve, reject, request revision)."""

from datetime import date

from fastapi import APIRouter, Query, Request

from hub.api.deps import Corrector, Db, Limit, Offset, Reader, RowId
from hub.api.routes.employees import CSV_BODY, csv_text
from hub.attendance.activity import ActivityStatus
from hub.reconcile import records
from hub.reconcile.activity_import import import_activities
from hub.reconcile.records import ActivityIn, ActivityOut, ReviewIn
from hub.registry.csv_import import ImportReport

router = APIRouter(prefix="/activities", tags=["activities"])


@router.get("")
async def list_activities(
    db: Db,
    _caller: Reader,
    nip: str | None = None,
    from_: date | None = Query(default=None, alias="from"),
    to: date | None = None,
    status: ActivityStatus | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[ActivityOut]:
    return await records.list_activities(db, nip=nip, first=from_, last=to, status=status, limit=limit, offset=offset)


@router.post("", status_code=201)
async def create_activity(data: ActivityIn, db: Db, caller: Corrector) -> ActivityOut:
    return await records.create_activity(db, data, caller.actor)


@router.post("/import", openapi_extra=CSV_BODY)
async def import_csv(
    request: Request,
    db: Db,
    caller: Corrector,
    dry_run: bool = Query(default=True, description="Check every row and report, change nothing"),
) -> ImportReport:
    """Entries from an e-Kinerja CSV export (see docs/hub.md for the columns); re-importing is idempotent by
    the ``id`` column."""
    return await import_activities(db, await csv_text(request), caller.actor, dry_run=dry_run)


@router.post("/{activity_id}/review")
async def review_activity(activity_id: RowId, data: ReviewIn, db: Db, caller: Corrector) -> ActivityOut:
    """``approve``, ``reject`` or ``request_revision`` (the last two need a comment), or ``resubmit``."""
    return await records.review_activity(db, activity_id, data, caller.actor)
