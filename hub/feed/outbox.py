"""The transactional outbox: records are queued in the transaction that changes the data they carry.

``enqueue_daily`` is called by ``recompute`` with the attendance days it created or changed, before the caller
commits: the day and its feed record commit together or not at all, so no committed change can miss the feed
and no record exists for a change that was rolled back. Each record version is queued once under its
idempotency key; queuing version n of a record supersedes the unsent older versions (the receiver keeps the
highest version anyway, this only saves sending stale data). A changed day in a closed month also re-queues
that employee's monthly recap when the recap changed (``hub.feed.months.refresh_closed``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, Protocol

import orjson
from pydantic import BaseModel
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.feed.records import (
    DAILY,
    OPEN,
    FeedStatus,
    daily_fields,
    idempotency_key,
    verification_name,
    wire_payload,
)
from hub.registry import audit
from hub.registry.service import enrollment_matches
from hub.store.models import AttendanceDayRow, Employee, Enrollment, FeedRecord, MonthRecapRow, Unit
from hub.store.models import Punch as PunchRow

FEED_TABLE = FeedRecord.metadata.tables["feed_records"]
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
    kind: str,
    record_key: str,
    version: int,
    nip: str,
    unit_code: str,
    month: str,
    *,
    day: date | None = None,
    payload: dict[str, Any] | None = None,
    problem: str | None = None,
) -> dict[str, Any]:
    """One outbox row (as insert values) for a record version; one that could not be built is queued as failed."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "idempotency_key": idempotency_key(kind, record_key, version),
        "kind": kind,
        "record_key": record_key,
        "version": version,
        "nip": nip,
        "unit_code": unit_code,
        "month": month,
        "day": day,
        "status": FeedStatus.FAILED.value if problem else FeedStatus.PENDING.value,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
    }
    # Columns still NULL are left out (outcome, sent_at, and a daily record's payload): each value costs a bind
    # conversion per row, and recompute waits for this insert.
    if payload is not None:
        values["payload"] = payload
    if problem is not None:
        values["last_error"] = problem
    return values


async def add_records(session: AsyncSession, values: Sequence[dict[str, Any]]) -> int:
    """Queue record versions, superseding the open older versions of the same records first."""
    if not values:
        return 0
    # The versions being queued are the newest of their records (a version is queued when it is made), so every
    # open row of the same record is older: no version comparison needed, one IN list per kind.
    later: dict[str, list[str]] = defaultdict(list)
    for v in values:
        if v["version"] > 1:
            later[v["kind"]].append(v["record_key"])
    for kind, keys in later.items():
        for chunk in _chunks(keys):
            await session.execute(
                update(FeedRecord)
                .where(FeedRecord.kind == kind, FeedRecord.record_key.in_(chunk), FeedRecord.status.in_(OPEN))
                .values(status=FeedStatus.SUPERSEDED.value)
                .execution_options(synchronize_session=False)
            )
    for chunk in _chunks(values, 1000):
        columns: set[str] = set().union(*(row.keys() for row in chunk))  # one INSERT wants one set of columns
        rows = chunk if all(len(row) == len(columns) for row in chunk) else [dict.fromkeys(columns) | r for r in chunk]
        await session.execute(insert(FEED_TABLE), list(rows))
    return len(values)


class DayVersion(Protocol):
    """What the outbox needs of a changed day: an ``AttendanceDayRow``, or any (nip, day, version) record."""

    @property
    def nip(self) -> str: ...
    @property
    def day(self) -> date: ...
    @property
    def version(self) -> int: ...


class ChangedDay(NamedTuple):
    """A day version recompute has just written."""

    nip: str
    day: date
    version: int


# The daily rows are written by one driver-level statement per batch: recompute queues every day it writes, and
# building a dict per row for an ORM/Core executemany cost more than the recompute itself (issue 5). The store
# builds each row from the batch's (nip, day, version) list: the unit code as ``unit_codes`` reads it ("-" for an
# unknown employee), the keys as ``idempotency_key`` and ``month_of`` spell them.
_DAILY_COLUMNS = (
    "idempotency_key, kind, record_key, version, nip, unit_code, month, day, status, attempts, created_at, "
    "next_attempt_at"
)
_DAILY_ROWS = (
    "SELECT '{kind}:' || c.nip || ':' || {day} || ':v' || c.version, '{kind}', c.nip || ':' || {day}, c.version, "
    "c.nip, {unit}, {month}, c.day, '{pending}', 0, {stamp}, {stamp} FROM {changed} ORDER BY c.position"
)
_COPIED_COLUMNS = _DAILY_COLUMNS.split(", ")[:-2]  # created_at and next_attempt_at: the default, now()
SQLITE_DAILY = f"INSERT INTO feed_records ({_DAILY_COLUMNS}) " + _DAILY_ROWS.format(
    kind=DAILY,
    pending=FeedStatus.PENDING.value,
    day="c.day",  # SQLite keeps a date as its ISO text
    month="substr(c.day, 1, 7)",
    stamp="?1",
    changed="(SELECT value ->> 0 AS nip, value ->> 1 AS day, value ->> 2 AS version, key AS position "
    "FROM json_each(?2)) AS c LEFT JOIN employees e ON e.nip = c.nip LEFT JOIN units u ON u.id = e.unit_id",
    unit="coalesce(u.code, '-')",
)
POSTGRES_DAILY = f"INSERT INTO feed_records ({_DAILY_COLUMNS}) " + _DAILY_ROWS.format(
    kind=DAILY,
    pending=FeedStatus.PENDING.value,
    day="to_char(c.day, 'YYYY-MM-DD')",
    month="to_char(c.day, 'YYYY-MM')",
    stamp="$1::timestamptz",
    # The unit codes come as a fifth array (``unit_codes``): joining in the store made PostgreSQL sort the joined
    # rows back into the batch's order, and that sort spilled to disk at 31,000 rows.
    changed="unnest($2::text[], $3::text[]::date[], $4::int[], $5::text[]) WITH ORDINALITY "
    "AS c(nip, day, version, unit_code, position)",
    unit="c.unit_code",
)
_OPEN = ", ".join(f"'{status}'" for status in OPEN)
SQLITE_SUPERSEDE = (
    f"UPDATE feed_records SET status = '{FeedStatus.SUPERSEDED.value}' WHERE kind = '{DAILY}' "
    f"AND record_key IN (SELECT value FROM json_each(?)) AND status IN ({_OPEN})"
)
POSTGRES_SUPERSEDE = (
    f"UPDATE feed_records SET status = '{FeedStatus.SUPERSEDED.value}' WHERE kind = '{DAILY}' "
    f"AND record_key = ANY($1::text[]) AND status IN ({_OPEN})"
)


async def _add_daily(session: AsyncSession, rows: Sequence[tuple[str, str, int]]) -> None:
    """Queue the daily records of ``rows`` (NIP, YYYY-MM-DD, version; pending, payload built when sent),
    superseding the open older versions of the same days first: ``add_records``' semantics in two statements."""
    await session.flush()  # the unit join must see employees the caller added in this session
    connection = await session.connection()
    # A version is queued when it is made, so every open row of the same day is older (see ``add_records``).
    later = [f"{nip}:{day}" for nip, day, version in rows if version > 1]
    now = datetime.now(UTC)
    if connection.dialect.name == "postgresql":
        if later:
            await connection.exec_driver_sql(POSTGRES_SUPERSEDE, (later,))
        nips, days, versions = zip(*rows, strict=True)
        units = await unit_codes(session, nips)
        codes = [units.get(nip, "-") for nip in nips]
        await connection.exec_driver_sql(POSTGRES_DAILY, (now, list(nips), list(days), list(versions), codes))
        return
    if later:
        await connection.exec_driver_sql(SQLITE_SUPERSEDE, (orjson.dumps(later).decode(),))
    stamp = now.replace(tzinfo=None).isoformat(" ", "microseconds")  # as UtcDateTime writes it on SQLite
    await connection.exec_driver_sql(SQLITE_DAILY, (stamp, orjson.dumps(rows).decode()))


async def enqueue_daily(session: AsyncSession, rows: Sequence[DayVersion]) -> int:
    """Queue the daily record of each created or changed day (its new version); returns how many.

    Called once per recompute batch, inside its transaction, after the days were written (flushed): the caller
    commits both. ``rows`` may be ORM rows or plain (nip, day, version) records."""
    return await enqueue_written(session, [(r.nip, r.day.isoformat(), r.version) for r in rows])


async def enqueue_written(session: AsyncSession, rows: Sequence[tuple[str, str, int]]) -> int:
    """``enqueue_daily`` for the (NIP, YYYY-MM-DD, version) tuples a recompute batch has just written: the form
    it already has, so queuing 31,000 days builds no object per day."""
    if not rows:
        return 0
    await _add_daily(session, rows)
    await refresh_touched(session, rows)
    return len(rows)


async def copy_first_versions(session: AsyncSession, raw: Any, rows: Sequence[tuple[str, str]]) -> int:
    """PostgreSQL: queue version 1 of the daily records of the new days ``rows`` (NIP, YYYY-MM-DD) by COPY on
    ``raw`` (the session's asyncpg connection, in its transaction), then refresh closed months as
    ``enqueue_written`` does. A first version supersedes nothing; the rows are ``_DAILY_ROWS``' rows, their
    ``created_at`` and ``next_attempt_at`` left to the columns' default, ``now()`` (migration 0009)."""
    if not rows:
        return 0
    units = await unit_codes(session, {nip for nip, _ in rows})
    pending = FeedStatus.PENDING.value
    records = [
        (idempotency_key(DAILY, key, 1), DAILY, key, 1, nip, units.get(nip, "-"), day[:7], date.fromisoformat(day),
         pending, 0)
        for nip, day in rows
        for key in (f"{nip}:{day}",)
    ]  # fmt: skip
    await raw.copy_records_to_table("feed_records", records=records, columns=_COPIED_COLUMNS)
    await refresh_touched(session, [(nip, day, 1) for nip, day in rows])
    return len(rows)


async def refresh_touched(session: AsyncSession, rows: Sequence[tuple[str, str, int]]) -> None:
    """Re-queue the recap of each closed month a written day belongs to (when the recap changed)."""
    touched = {(nip, day[:7]) for nip, day, _ in rows}
    closed = await closed_months(session, touched)
    if closed:
        from hub.feed.months import refresh_closed  # months builds on this module

        await refresh_closed(session, closed)


async def closed_months(session: AsyncSession, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (NIP, month) pairs belong to a closed month (a recap snapshot exists)."""
    if not pairs:
        return set()
    months = sorted({m for _, m in pairs})
    # Most batches touch only open months: one probe on the (month, unit_code) index answers for the batch.
    probe = select(MonthRecapRow.month).where(MonthRecapRow.month.in_(months)).limit(1)
    if (await session.execute(probe)).first() is None:
        return set()
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
        wanted = {(f"{r.nip}:{r.day.isoformat()}", r.version): r for r in chunk}
        known = select(FeedRecord.record_key, FeedRecord.version).where(
            FeedRecord.kind == DAILY, FeedRecord.record_key.in_([key for key, _ in wanted])
        )  # the unique (kind, record_key, version) index
        present = {(key, version) for key, version in (await session.execute(known)).all()}
        missing = [r for k, r in wanted.items() if k not in present]
        if missing:
            await _add_daily(session, [(r.nip, r.day.isoformat(), r.version) for r in missing])
            total += len(missing)
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


@dataclass(frozen=True)
class Built:
    """A daily record's payload built from its day, or why it cannot be sent."""

    payload: dict[str, Any] | None
    problem: str | None = None
    superseded: bool = False  # the day has moved on to a newer version (which has its own record)


async def daily_payloads(session: AsyncSession, records: Sequence[Any]) -> dict[int, Built]:
    """Build the payload of daily records (rows with ``id``, ``nip``, ``day``, ``version``, ``created_at``) from
    the stored day, which must still be at the record's version."""
    if not records:
        return {}
    nips = sorted({r.nip for r in records})
    days = sorted({r.day for r in records})
    stored = {
        (row.nip, row.day): row
        for row in (
            await session.execute(
                select(AttendanceDayRow).where(AttendanceDayRow.nip.in_(nips), AttendanceDayRow.day.in_(days))
            )
        )
        .scalars()
        .all()
    }
    units = await unit_codes(session, nips)
    sources = await check_in_sources(session, {(d.nip, d.check_in) for d in stored.values() if d.check_in})
    built: dict[int, Built] = {}
    for r in records:
        day = stored.get((r.nip, r.day))
        if day is None or day.version != r.version:
            found = "gone" if day is None else f"at version {day.version}"
            built[r.id] = Built(None, f"the day is {found}: a newer record carries it", superseded=True)
            continue
        source = sources.get((day.nip, day.check_in)) if day.check_in else None
        payload, problem = wire_payload(DAILY, daily_fields(day, units.get(r.nip, "-"), r.created_at, source))
        built[r.id] = Built(payload, problem)
    return built


async def check_in_sources(
    session: AsyncSession, check_ins: set[tuple[str, datetime]]
) -> dict[tuple[str, datetime], tuple[str, str | None]]:
    """The terminal serial and verification of the punch behind each (NIP, check-in time): the employee's punch
    at that second through their enrollment (the first by key, as the engine pairs). A check-in an operator's
    correction supplied has no punch, and no entry."""
    if not check_ins:
        return {}
    nips = sorted({nip for nip, _ in check_ins})
    dates = sorted({moment.date() for _, moment in check_ins})
    found: dict[tuple[str, datetime], tuple[str, str | None]] = {}
    for chunk in _chunks(nips):
        query = (
            select(Enrollment.nip, PunchRow.local_time, PunchRow.terminal_sn, PunchRow.verify, PunchRow.punch)
            .join(Enrollment, enrollment_matches(PunchRow.terminal_sn, PunchRow.pin, PunchRow.local_date))
            .where(Enrollment.nip.in_(chunk), PunchRow.local_date.in_(dates))
            .order_by(PunchRow.key)
        )
        for nip, local_time, terminal_sn, verify, punch in (await session.execute(query)).all():
            key = (nip, local_time)
            if key in check_ins and key not in found:
                found[key] = (terminal_sn, verification_name(verify if verify is not None else punch))
    return found


class Retried(BaseModel):
    retried: int
    ids: list[int]


async def retry_failed(
    session: AsyncSession, actor: str, *, month: str | None = None, kind: str | None = None
) -> Retried:
    """Put every failed record (of a month, of a kind) back to pending, audited; the caller commits."""
    query = select(FeedRecord.id).where(FeedRecord.status == FeedStatus.FAILED.value)
    if month is not None:
        query = query.where(FeedRecord.month == month)
    if kind is not None:
        query = query.where(FeedRecord.kind == kind)
    ids = list((await session.execute(query.order_by(FeedRecord.id))).scalars().all())
    for chunk in _chunks(ids):
        await session.execute(
            update(FeedRecord)
            .where(FeedRecord.id.in_(chunk))
            .values(status=FeedStatus.PENDING.value, next_attempt_at=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        )
    out = Retried(retried=len(ids), ids=ids)
    audit.record(session, actor=actor, action="retry", entity="feed_record", key=f"failed:{month or '*'}", after=out)
    return out
