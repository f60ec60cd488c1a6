"""Closing a month: snapshot each employee's recap (``hub.reconcile.recaps.month_recaps``, the same figures the
API and the exports show) and queue it as a monthly record.

A closed month stays open to corrections: when recompute changes a day of a closed month, ``refresh_closed``
recomputes that employee's recap in the same transaction and, if what it says changed, stores it as the next
version and queues it (the older unsent version is superseded). Closing again is safe: an unchanged recap is not
queued twice, a changed one goes out as a new version, an employee recapped for the first time as version 1.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hub.attendance.recap import MonthlyRecap
from hub.feed.outbox import add_records, record_values, unit_codes
from hub.feed.records import MONTHLY, content_digest, monthly_fields, wire_payload
from hub.reconcile.documents import jsonable
from hub.reconcile.recaps import month_bounds, month_recaps, parse_month
from hub.reconcile.service import CHUNK, employees_in
from hub.registry import audit
from hub.registry.errors import Conflict, RegistryError
from hub.store.db import session_factory
from hub.store.lease import held, holder_name
from hub.store.models import MonthClose, MonthRecapRow

log = logging.getLogger(__name__)


class MonthCloseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    month: str
    unit_code: str | None
    status: str
    employees: int
    enqueued: int
    unchanged: int
    skipped: int
    error: str | None
    closed_by: str
    started_at: datetime
    finished_at: datetime | None


class _Counts(BaseModel):
    enqueued: int = 0
    unchanged: int = 0
    skipped: int = 0


async def snapshot(session: AsyncSession, month: str, recaps: Mapping[str, MonthlyRecap | None]) -> _Counts:
    """Store each recap as the month's snapshot and queue the ones that are new or changed."""
    counts = _Counts()
    nips = sorted(recaps)
    held = {
        row.nip: row
        for row in (
            await session.execute(
                select(MonthRecapRow).where(MonthRecapRow.month == month, MonthRecapRow.nip.in_(nips))
            )
        )
        .scalars()
        .all()
    }
    units = await unit_codes(session, nips)
    now = datetime.now(UTC)
    queued: list[dict[str, Any]] = []
    for nip in nips:
        recap = recaps[nip]
        if recap is None:
            counts.skipped += 1
            continue
        unit = units.get(nip, "-")
        row = held.get(nip)
        version = 1 if row is None else row.version + 1
        fields = monthly_fields(recap, version, unit, now)
        payload, problem = wire_payload(MONTHLY, fields)
        digest = content_digest(payload)
        if row is not None and row.digest == digest:
            counts.unchanged += 1
            continue
        document: dict[str, Any] = jsonable(recap)
        if row is None:
            session.add(
                MonthRecapRow(
                    nip=nip,
                    month=month,
                    unit_code=unit,
                    version=1,
                    digest=digest,
                    recap=document,
                    closed_at=now,
                    updated_at=now,
                )
            )
        else:
            row.version, row.digest, row.recap, row.unit_code, row.updated_at = version, digest, document, unit, now
        queued.append(
            record_values(MONTHLY, fields["key"], version, nip, unit, month, payload=payload, problem=problem)
        )
        counts.enqueued += 1
    await add_records(session, queued)
    return counts


async def refresh_closed(session: AsyncSession, pairs: set[tuple[str, str]]) -> int:
    """Re-recap (NIP, month) pairs of closed months after their days changed; returns how many were re-queued."""
    by_month: dict[str, list[str]] = defaultdict(list)
    for nip, month in sorted(pairs):
        by_month[month].append(nip)
    total = 0
    for month, nips in by_month.items():
        year, number = parse_month(month)
        total += (await snapshot(session, month, await month_recaps(session, nips, year, number))).enqueued
    return total


async def begin_close(
    session: AsyncSession, month: str, actor: str, *, unit_code: str | None = None, today: date | None = None
) -> MonthClose:
    """Check the request and record the run (status running), audited, committed; ``run_close`` does the work."""
    try:
        year, number = parse_month(month)
    except ValueError as exc:
        raise RegistryError(str(exc), field="month") from None
    if month_bounds(year, number)[1] >= (today or datetime.now(UTC).date()):
        raise Conflict(f"{month} has not ended yet: a month is closed after its last day", field="month")
    nips = await employees_in(session, unit_code)  # NotFound for an unknown unit
    run = MonthClose(
        month=month,
        unit_code=unit_code,
        status="running",
        employees=len(nips),
        enqueued=0,
        unchanged=0,
        skipped=0,
        error=None,
        closed_by=actor,
        started_at=datetime.now(UTC),
        finished_at=None,
    )
    session.add(run)
    await session.flush()
    key = f"{month}:{unit_code or '*'}"
    audit.record(session, actor=actor, action="close", entity="month", key=key, after=MonthCloseOut.model_validate(run))
    await session.commit()
    return run


async def run_close(
    session: AsyncSession, run_id: int, progress: Callable[[int, int], None] | None = None
) -> MonthCloseOut:
    """Snapshot and queue the recaps of a run ``begin_close`` recorded, committing per batch of employees (a
    large organisation holds no long transaction); the run ends done, or failed with the error."""
    run = await session.get(MonthClose, run_id)
    if run is None:
        raise RegistryError(f"no month close run {run_id}")
    year, number = parse_month(run.month)
    nips = await employees_in(session, run.unit_code)
    try:
        for start in range(0, len(nips), CHUNK):
            batch = nips[start : start + CHUNK]
            counts = await snapshot(session, run.month, await month_recaps(session, batch, year, number))
            run.enqueued += counts.enqueued
            run.unchanged += counts.unchanged
            run.skipped += counts.skipped
            await session.commit()
            if progress is not None:
                progress(min(start + CHUNK, len(nips)), len(nips))
    except Exception as exc:
        await session.rollback()
        await session.execute(
            update(MonthClose)
            .where(MonthClose.id == run_id)
            .values(status="failed", error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=datetime.now(UTC))
        )
        await session.commit()
        raise
    run.employees, run.status, run.finished_at = len(nips), "done", datetime.now(UTC)
    await session.commit()
    return MonthCloseOut.model_validate(run)


async def close_month(
    session: AsyncSession,
    month: str,
    actor: str,
    *,
    unit_code: str | None = None,
    today: date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MonthCloseOut:
    """Close ``month`` (YYYY-MM, ended) for a unit subtree or everyone: snapshot each employee's recap and queue
    it for e-Kinerja. Safe to run again: only new or changed recaps are queued."""
    run = await begin_close(session, month, actor, unit_code=unit_code, today=today)
    return await run_close(session, run.id, progress)


RUN_LEASE_SECONDS = 60.0  # renewed every 20 s while a close runs; a run whose holder died is resumed after it


def run_lease(run_id: int) -> str:
    return f"month-close:{run_id}"


async def run_close_in_background(sessions: async_sessionmaker[AsyncSession], run_id: int) -> None:
    """``run_close`` after the API answered, under the run's lease (so that ``resume_interrupted_closes`` in
    another hub process leaves it alone); a failure is kept on the run (status failed, error)."""
    engine = sessions.kw["bind"]
    assert isinstance(engine, AsyncEngine)
    await _close_under_lease(engine, run_id, resuming=False)


async def resume_interrupted_closes(engine: AsyncEngine) -> list[int]:
    """Finish each close left ``running`` by a hub that stopped (or died) during it, under the run's lease: a
    run still going in a live process holds its lease and is left alone. Closing is idempotent, so the resumed
    run snapshots every employee again; its counts are its own pass's (recaps queued before the interruption
    count as unchanged). Returns the runs finished here."""
    async with session_factory(engine)() as session:
        running = (await session.execute(select(MonthClose.id).where(MonthClose.status == "running"))).scalars()
        run_ids = list(running.all())
    return [run_id for run_id in run_ids if await _close_under_lease(engine, run_id, resuming=True)]


async def _close_under_lease(engine: AsyncEngine, run_id: int, *, resuming: bool) -> bool:
    """``run_close`` while holding the run's lease; False if another process holds it, the run is no longer
    running (when resuming), or it failed (kept on the run)."""
    async with held(engine, run_lease(run_id), holder_name("month close"), RUN_LEASE_SECONDS) as mine:
        if not mine:
            return False
        async with session_factory(engine)() as session:
            if resuming:
                run = await session.get(MonthClose, run_id)
                if run is None or run.status != "running":
                    return False  # finished between the two reads
                log.info("resuming the close of %s (run %d) left running by a stopped hub", run.month, run_id)
                run.enqueued = run.unchanged = run.skipped = 0
                await session.commit()
            try:
                await run_close(session, run_id)
            except Exception:
                log.exception("closing the month (run %d) failed", run_id)
                return False
    return True


async def list_closes(session: AsyncSession, month: str | None, limit: int, offset: int) -> list[MonthCloseOut]:
    query = select(MonthClose).order_by(MonthClose.id.desc())
    if month is not None:
        query = query.where(MonthClose.month == month)
    rows = (await session.execute(query.limit(limit).offset(offset))).scalars().all()
    return [MonthCloseOut.model_validate(r) for r in rows]
