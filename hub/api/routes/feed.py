"""The e-Kinerja outbox (records and their status, an operator's retry) and month closing."""

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, BackgroundTasks, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hub.api.deps import Administrator, Db, Limit, Offset, Reader, RowId
from hub.feed import months, outbox
from hub.feed.dispatcher import feed_status
from hub.feed.months import MonthCloseOut
from hub.feed.records import FeedStatus
from hub.registry import audit
from hub.registry.errors import Conflict, NotFound
from hub.registry.service import commit
from hub.store.models import FeedRecord

router = APIRouter(tags=["feed"])


class FeedRecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    idempotency_key: str
    kind: str
    record_key: str
    version: int
    nip: str
    unit_code: str
    month: str
    status: FeedStatus
    attempts: int
    last_error: str | None
    outcome: str | None
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    payload: dict[str, Any] | None = Field(description="as sent; null until a daily record's first attempt builds it")


class FeedStatusOut(BaseModel):
    counts: dict[str, int]
    oldest_open_at: datetime | None
    next_attempt_at: datetime | None
    lease_holder: str | None
    lease_expires_at: datetime | None


@router.get("/feed/records")
async def list_records(
    db: Db,
    _caller: Reader,
    status: FeedStatus | None = None,
    kind: Literal["daily", "monthly"] | None = None,
    nip: str | None = None,
    month: str | None = None,
    unit: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[FeedRecordOut]:
    """Outbox records, oldest first, by status, kind, NIP, month (YYYY-MM) and unit code (that unit only)."""
    query = select(FeedRecord).order_by(FeedRecord.id)
    for column, value in (
        (FeedRecord.status, status),
        (FeedRecord.kind, kind),
        (FeedRecord.nip, nip),
        (FeedRecord.month, month),
        (FeedRecord.unit_code, unit),
    ):
        if value is not None:
            query = query.where(column == value)
    rows = (await db.execute(query.limit(limit).offset(offset))).scalars().all()
    return [FeedRecordOut.model_validate(r) for r in rows]


@router.get("/feed/status")
async def status(request: Request, _caller: Reader) -> FeedStatusOut:
    """Records per status, the oldest unsent, the next retry, and which hub process is sending."""
    report = await feed_status(request.app.state.engine)
    return FeedStatusOut.model_validate(report, from_attributes=True)


@router.post("/feed/records/{record_id}/retry")
async def retry(record_id: RowId, db: Db, caller: Administrator) -> FeedRecordOut:
    """Send a record again at the next dispatcher round: a failed one after the cause was fixed, a retrying one
    without waiting for its backoff, or a sent one that e-Kinerja lost (it answers "duplicate" if it has it)."""
    row = await db.get(FeedRecord, record_id)
    if row is None:
        raise NotFound(f"no feed record {record_id}")
    if row.status == FeedStatus.SUPERSEDED.value:
        raise Conflict(f"record {record_id} was superseded by a newer version of {row.record_key}; retry that one")
    before = FeedRecordOut.model_validate(row)
    row.status, row.next_attempt_at = FeedStatus.PENDING.value, datetime.now(UTC)
    await db.flush()
    after = FeedRecordOut.model_validate(row)
    audit.record(
        db, actor=caller.actor, action="retry", entity="feed_record", key=str(row.id), before=before, after=after
    )
    await commit(db)
    return after


@router.post("/feed/records/retry-failed")
async def retry_failed(
    db: Db,
    caller: Administrator,
    month: str | None = None,
    kind: Literal["daily", "monthly"] | None = None,
) -> outbox.Retried:
    """Put every failed record (of a month, of a kind) back to pending, after the cause was fixed; audited."""
    out = await outbox.retry_failed(db, caller.actor, month=month, kind=kind)
    await commit(db)
    return out


@router.post("/months/{month}/close", status_code=202)
async def close_month(
    month: str, request: Request, tasks: BackgroundTasks, db: Db, caller: Administrator, unit: str | None = None
) -> MonthCloseOut:
    """Close a month that has ended (for a unit and the units below it, or everyone): each employee's recap is
    snapshotted and queued for e-Kinerja. Answers 202 with the run; it goes on after the answer (see
    GET /months/closes). Safe to repeat: only new or changed recaps are queued."""
    run = await months.begin_close(db, month, caller.actor, unit_code=unit)
    tasks.add_task(months.run_close_in_background, request.app.state.sessions, run.id)
    return MonthCloseOut.model_validate(run)


@router.get("/months/closes")
async def list_closes(
    db: Db, _caller: Reader, month: str | None = None, limit: Limit = 100, offset: Offset = 0
) -> list[MonthCloseOut]:
    """Month close runs, newest first: running, done (with counts) or failed (with the error)."""
    return await months.list_closes(db, month, limit, offset)
