"""The transactional outbox: records are queued in the transaction that changes the data they carry.

``enqueue_daily`` is called by ``recompute`` with the attendance days it created or changed, before the caller
commits: the day and its feed record commit together or not at all, so no committed change can miss the feed
and no record exists for a change that was rolled back. Each record version is queued once under its
idempotency key; queuing version n of a record supersedes the unsent older versions (the receiver keeps the
highest version anyway, this only saves sending stale data). A changed day in a closed month also re-queues
that employee's monthly recap when the recap changed (``hub.feed.months.refresh_closed``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.feed.records import (
    DAILY,
    OPEN,
    FeedStatus,
    StoredDay,
    daily_fields,
    idempotency_key,
    month_of,
    wire_payload,
)
from hub.store.models import AttendanceDayRow, Employee, FeedRecord, MonthRecapRow, Unit

IN_LIST = 500  # keys per IN list: well inside SQLite's parameter limit


def _chunks(items: Sequence[Any], size: int = IN_LIST) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def unit_codes(session: AsyncSession, nips: Iterable[str]) -> dict[str, str]:
    """Each employee's current unit code."""
    found: dict[str, str] = {}
    for chunk in _chunks(sorted(set(nips))):
        query = select(Employee.nip, Unit.code).join(Unit, Unit.id == Employee.unit_id).where(Employee.nip.in_(chunk))
        found.update({row.nip: row.code for row in (await session.execute(query)).all()})
    return found


def record_values(
    kind: str, record_key: str, version: int, nip: str, unit_code: str, month: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """One outbox row (as insert values) for a record version; an invalid record is queued as failed."""
    now = datetime.now(UTC)
    payload, problem = wire_payload(kind, fields)
    return {
        "idempotency_key": idempotency_key(kind, record_key, version),
        "kind": kind,
        "record_key": record_key,
        "version": version,
        "nip": nip,
        "unit_code": unit_code,
        "month": month,
        "payload": payload,
        "status": FeedStatus.FAILED.value if problem else FeedStatus.PENDING.value,
        "attempts": 0,
        "last_error": problem,
        "outcome": None,
        "created_at": now,
        "next_attempt_at": now,
        "sent_at": None,
    }


async def add_records(session: AsyncSession, values: Sequence[dict[str, Any]]) -> int:
    """Queue record versions, superseding the open older versions of the same records first."""
    if not values:
        return 0
    later = [(v["kind"], v["record_key"], v["version"]) for v in values if v["version"] > 1]
    for chunk in _chunks(later):
        older = or_(
            *(
                and_(FeedRecord.kind == kind, FeedRecord.record_key == key, FeedRecord.version < version)
                for kind, key, version in chunk
            )
        )
        await session.execute(
            update(FeedRecord)
            .where(older, FeedRecord.status.in_(OPEN))
            .values(status=FeedStatus.SUPERSEDED.value)
            .execution_options(synchronize_session=False)
        )
    for chunk in _chunks(values, 1000):
        await session.execute(insert(FeedRecord), list(chunk))
    return len(values)


async def _daily_values(session: AsyncSession, rows: Sequence[StoredDay]) -> list[dict[str, Any]]:
    units = await unit_codes(session, (r.nip for r in rows))
    now = datetime.now(UTC)
    values = []
    for r in rows:
        unit = units.get(r.nip, "-")
        fields = daily_fields(r, unit, now)
        values.append(record_values(DAILY, fields["key"], r.version, r.nip, unit, month_of(r.day), fields))
    return values


async def enqueue_daily(session: AsyncSession, rows: Sequence[StoredDay]) -> int:
    """Queue the daily record of each created or changed day (its current version); returns how many.

    Called once per recompute batch, inside its transaction; the caller commits."""
    if not rows:
        return 0
    queued = await add_records(session, await _daily_values(session, rows))
    touched = {(r.nip, month_of(r.day)) for r in rows}
    closed = await closed_months(session, touched)
    if closed:
        from hub.feed.months import refresh_closed  # months builds on this module

        await refresh_closed(session, closed)
    return queued


async def closed_months(session: AsyncSession, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (NIP, month) pairs belong to a closed month (a recap snapshot exists)."""
    if not pairs:
        return set()
    months = sorted({m for _, m in pairs})
    found: set[tuple[str, str]] = set()
    for chunk in _chunks(sorted({n for n, _ in pairs})):
        query = select(MonthRecapRow.nip, MonthRecapRow.month).where(
            MonthRecapRow.nip.in_(chunk), MonthRecapRow.month.in_(months)
        )
        found.update((nip, month) for nip, month in (await session.execute(query)).all())
    return found & pairs


async def enqueue_days(session: AsyncSession, first: date, last: date, nips: Sequence[str] | None = None) -> int:
    """Queue the current version of the stored days in [first, last] (everyone's, or ``nips``') that is not in
    the outbox yet: the backfill for days computed before the feed existed. Returns how many were queued."""
    query = select(AttendanceDayRow).where(AttendanceDayRow.day.between(first, last))
    if nips is not None:
        query = query.where(AttendanceDayRow.nip.in_(nips))
    rows = (await session.execute(query.order_by(AttendanceDayRow.nip, AttendanceDayRow.day))).scalars().all()
    total = 0
    for chunk in _chunks(rows):
        wanted = {idempotency_key(DAILY, f"{r.nip}:{r.day.isoformat()}", r.version): r for r in chunk}
        known = select(FeedRecord.idempotency_key).where(FeedRecord.idempotency_key.in_(list(wanted)))
        present = set((await session.execute(known)).scalars().all())
        missing = [r for k, r in wanted.items() if k not in present]
        total += await add_records(session, await _daily_values(session, missing))
    return total


async def prune(session: AsyncSession, retention_days: int, now: datetime | None = None) -> int:
    """Delete sent and superseded records older than ``retention_days``; open ones are never pruned."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    done = (FeedStatus.SENT.value, FeedStatus.SUPERSEDED.value)
    result = await session.execute(
        delete(FeedRecord)
        .where(FeedRecord.status.in_(done), FeedRecord.created_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
