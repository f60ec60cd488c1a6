"""Policy preview: what a stored, not yet active policy version would do to a month, before activating it.

Each batch of employees' inputs is loaded once by the recompute loader (``load_inputs``) and recapped twice
by the same pure step (``recap_of``): under the active policies, and under the candidate alone. Nothing is
written: no attendance day, no mark, no audit entry. The candidate is applied to the whole month whatever its
``effective_from``: the question is "what if this had been in force".

The recapping is the CPU-heavy part (seconds per 1,000 employees) and never runs on the API's event loop, which
also serves ingest: more than one batch goes to recompute's worker processes (``worker_pool``), a single batch to
a thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from hub.attendance.policy import Policy
from hub.attendance.recap import MonthlyRecap
from hub.reconcile.service import (
    CHUNK,
    Inputs,
    default_workers,
    employees_in,
    load_inputs,
    recap_of,
    worker_pool,
    worker_runtime,
)
from hub.registry.errors import NotFound
from hub.settings import DatabaseSettings
from hub.store.db import session_factory, settings_of, shared_store
from hub.store.models import PolicyRow


class RecapFigures(BaseModel):
    policy_id: str
    policy_version: int
    deduction_percent: Decimal
    discipline_part: int
    performance_part: int
    allowance: int  # rupiah for the month
    tk_days: int
    tier_counts: dict[str, int]

    @classmethod
    def of(cls, recap: MonthlyRecap) -> RecapFigures:
        return cls(
            policy_id=recap.policy_id,
            policy_version=recap.policy_version,
            deduction_percent=recap.deduction_percent,
            discipline_part=recap.discipline_part,
            performance_part=recap.performance_part,
            allowance=recap.allowance,
            tk_days=recap.tk_days,
            tier_counts=dict(recap.tier_counts),
        )


class EmployeePreview(BaseModel):
    nip: str
    current: RecapFigures | None  # None: no active policy, no schedule, or no kelas jabatan
    candidate: RecapFigures | None
    deduction_percent_change: Decimal | None
    allowance_change: int | None
    changed: bool


class PreviewTotals(BaseModel):
    employees: int
    compared: int  # employees with both recaps
    changed: int  # of which deduction, rupiah or tier counts differ
    current_allowance: int
    candidate_allowance: int
    allowance_change: int
    current_mean_deduction_percent: Decimal | None
    candidate_mean_deduction_percent: Decimal | None
    current_tier_counts: dict[str, int]
    candidate_tier_counts: dict[str, int]


class PolicyPreview(BaseModel):
    policy_row_id: int
    policy_id: str
    policy_version: int
    year: int
    month: int
    totals: PreviewTotals  # over the compared employees
    employees: list[EmployeePreview]  # NIP order, paged by limit/offset
    limit: int
    offset: int


def month_bounds(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def previous_month(today: date) -> tuple[int, int]:
    last = today.replace(day=1) - timedelta(days=1)
    return last.year, last.month


def _recap(inputs: Inputs, nip: str, first: date, last: date) -> MonthlyRecap | None:
    try:
        return recap_of(inputs, nip, first, last)
    except LookupError:  # the policy has no base TPP for the employee's kelas jabatan
        return None


def _compare(nip: str, current: MonthlyRecap | None, candidate: MonthlyRecap | None) -> EmployeePreview:
    now = RecapFigures.of(current) if current is not None else None
    then = RecapFigures.of(candidate) if candidate is not None else None
    if now is None or then is None:
        return EmployeePreview(
            nip=nip,
            current=now,
            candidate=then,
            deduction_percent_change=None,
            allowance_change=None,
            changed=(now is None) != (then is None),
        )
    changed = (now.deduction_percent, now.allowance, now.tier_counts) != (
        then.deduction_percent,
        then.allowance,
        then.tier_counts,
    )
    return EmployeePreview(
        nip=nip,
        current=now,
        candidate=then,
        deduction_percent_change=then.deduction_percent - now.deduction_percent,
        allowance_change=then.allowance - now.allowance,
        changed=changed,
    )


def compare_batch(
    inputs: Inputs, candidate: Policy, nips: Sequence[str], first: date, last: date
) -> list[EmployeePreview]:
    """Pure: each employee's month under the active policies (``inputs``) and under ``candidate`` alone."""
    trial = dataclasses.replace(inputs, policies=[candidate])
    return [_compare(nip, _recap(inputs, nip, first, last), _recap(trial, nip, first, last)) for nip in nips]


@dataclass(frozen=True)
class PreviewRun:
    """A computed preview: every employee (NIP order) and the totals; ``page`` answers a request from it."""

    policy_row_id: int
    policy_id: str
    policy_version: int
    year: int
    month: int
    totals: PreviewTotals
    employees: list[EmployeePreview]

    def page(self, limit: int = 100, offset: int = 0) -> PolicyPreview:
        return PolicyPreview(
            policy_row_id=self.policy_row_id,
            policy_id=self.policy_id,
            policy_version=self.policy_version,
            year=self.year,
            month=self.month,
            totals=self.totals,
            employees=self.employees[offset : offset + limit],
            limit=limit,
            offset=offset,
        )


async def preview_policy(
    session: AsyncSession,
    policy_row_id: int,
    year: int,
    month: int,
    *,
    unit_code: str | None = None,
    limit: int = 100,
    offset: int = 0,
    workers: int | None = None,
) -> PolicyPreview:
    """One page of a preview computed for this request (``run_preview``)."""
    run = await run_preview(session, policy_row_id, year, month, unit_code=unit_code, workers=workers)
    return run.page(limit, offset)


async def candidate_policy(session: AsyncSession, policy_row_id: int) -> PolicyRow:
    """The stored version to preview, or NotFound."""
    row = await session.get(PolicyRow, policy_row_id)
    if row is None:
        raise NotFound(f"no policy {policy_row_id}")
    return row


async def run_preview(
    session: AsyncSession,
    policy_row_id: int,
    year: int,
    month: int,
    *,
    unit_code: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PreviewRun:
    """Every employee of the unit subtree (or everyone) compared; ``progress(done, total)`` after each batch."""
    row = await candidate_policy(session, policy_row_id)
    first, last = month_bounds(year, month)
    candidate = Policy.model_validate(row.document).model_copy(update={"effective_from": first})
    row_id, policy_id, version = row.id, row.policy_id, row.version  # the row expires with the read transaction
    nips = await employees_in(session, unit_code)
    batches = [nips[start : start + CHUNK] for start in range(0, len(nips), CHUNK)]
    workers = default_workers() if workers is None else workers
    database = settings_of(session.bind) if isinstance(session.bind, AsyncEngine) else None
    done = 0

    def finished(batch: Sequence[str]) -> None:
        nonlocal done
        done += len(batch)
        if progress is not None:
            progress(done, len(nips))

    if len(batches) > 1 and workers > 1 and database is not None and shared_store(database):
        await session.rollback()  # the workers read on their own connections
        found = await _compare_in_workers(database, batches, first, last, candidate, workers, finished)
    else:
        found = []
        for batch in batches:
            inputs = await load_inputs(session, batch, first, last)
            found.append(await asyncio.to_thread(compare_batch, inputs, candidate, batch, first, last))
            finished(batch)
    everyone = [employee for batch in found for employee in batch]
    compared = [e for e in everyone if e.current is not None and e.candidate is not None]
    await session.rollback()  # nothing was written; end the read transaction
    return PreviewRun(row_id, policy_id, version, year, month, _totals(len(nips), compared), everyone)


async def _compare_in_workers(
    database: DatabaseSettings,
    batches: list[list[str]],
    first: date,
    last: date,
    candidate: Policy,
    workers: int,
    finished: Callable[[Sequence[str]], None],
) -> list[list[EmployeePreview]]:
    loop = asyncio.get_running_loop()
    pool = worker_pool(database, min(workers, len(batches)))
    try:

        async def compare(batch: list[str]) -> list[EmployeePreview]:
            compared = await loop.run_in_executor(pool, _worker_compare, batch, first, last, candidate)
            finished(batch)
            return compared

        return list(await asyncio.gather(*(compare(batch) for batch in batches)))
    finally:
        # Not the executor's own exit, which waits for every queued batch: a request given up (the client gone)
        # must not hold the event loop for the rest of the preview.
        pool.shutdown(wait=False, cancel_futures=True)


def _worker_compare(nips: list[str], first: date, last: date, candidate: Policy) -> list[EmployeePreview]:
    loop, engine, _lock = worker_runtime()
    return loop.run_until_complete(_load_and_compare(engine, nips, first, last, candidate))


async def _load_and_compare(
    engine: AsyncEngine, nips: list[str], first: date, last: date, candidate: Policy
) -> list[EmployeePreview]:
    async with session_factory(engine)() as session:
        inputs = await load_inputs(session, nips, first, last)
        await session.rollback()
    return compare_batch(inputs, candidate, nips, first, last)


def _totals(employees: int, compared: list[EmployeePreview]) -> PreviewTotals:
    now = [c.current for c in compared if c.current is not None]
    then = [c.candidate for c in compared if c.candidate is not None]

    def mean(figures: list[RecapFigures]) -> Decimal | None:
        return sum((f.deduction_percent for f in figures), Decimal(0)) / len(figures) if figures else None

    def tiers(figures: list[RecapFigures]) -> dict[str, int]:
        return dict(sorted(sum((Counter(f.tier_counts) for f in figures), Counter()).items()))

    current_allowance = sum(f.allowance for f in now)
    candidate_allowance = sum(f.allowance for f in then)
    return PreviewTotals(
        employees=employees,
        compared=len(compared),
        changed=sum(c.changed for c in compared),
        current_allowance=current_allowance,
        candidate_allowance=candidate_allowance,
        allowance_change=candidate_allowance - current_allowance,
        current_mean_deduction_percent=mean(now),
        candidate_mean_deduction_percent=mean(then),
        current_tier_counts=tiers(now),
        candidate_tier_counts=tiers(then),
    )
