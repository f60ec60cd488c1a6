"""Dirty marking. Ingest marks (terminal, local date) pairs in its own transaction with one small statement
(upsert, a handful of rows a flush) and never looks at the registry; registry and correction writes mark an
employee's date range. ``process_pending`` resolves terminal days to employees through enrollments, merges the
ranges per employee and recomputes them. A mark that arrives while it runs is kept for the next run (terminal
days by ``marked_at``, employee ranges by id).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from hub.reconcile.service import RecomputeStats, recompute_range
from hub.store.db import session_factory
from hub.store.lease import held
from hub.store.models import Enrollment, RecomputeQueue, RecomputeTerminalDay

PENDING_LEASE = "recompute-pending"
PENDING_LEASE_TTL = 300.0  # seconds; renewed every 100 s while a run lasts


async def resolve_terminal_days(session: AsyncSession) -> int:
    """Turn marked terminal days into employee ranges (the day before too: an overnight shift's check-out)."""
    marks = (await session.execute(select(RecomputeTerminalDay))).scalars().all()
    if not marks:
        return 0
    seen = [(m.terminal_sn, m.local_date, m.marked_at) for m in marks]
    serials = {t for t, _, _ in seen}
    enrollments = (await session.execute(select(Enrollment).where(Enrollment.terminal_sn.in_(serials)))).scalars().all()
    by_terminal: dict[str, list[Enrollment]] = defaultdict(list)
    for e in enrollments:
        by_terminal[e.terminal_sn].append(e)
    now = datetime.now(UTC)
    for terminal_sn, day, _ in seen:
        for e in by_terminal[terminal_sn]:
            if e.valid_from <= day and (e.valid_to is None or day <= e.valid_to):
                session.add(
                    RecomputeQueue(
                        nip=e.nip,
                        first=day - timedelta(days=1),
                        last=day + timedelta(days=1),
                        reason="punches",
                        marked_at=now,
                    )
                )
    for terminal_sn, day, marked_at in seen:
        await session.execute(
            delete(RecomputeTerminalDay).where(
                RecomputeTerminalDay.terminal_sn == terminal_sn,
                RecomputeTerminalDay.local_date == day,
                RecomputeTerminalDay.marked_at <= marked_at,
            )
        )
    await session.commit()
    return len(seen)


async def pending_count(session: AsyncSession) -> tuple[int, int]:
    terminal_days = len((await session.execute(select(RecomputeTerminalDay.terminal_sn))).all())
    ranges = len((await session.execute(select(RecomputeQueue.id))).all())
    return terminal_days, ranges


async def process_pending(
    session: AsyncSession, progress: Callable[[int, int], None] | None = None, workers: int | None = None
) -> RecomputeStats:
    """Recompute everything marked; employees with the same merged range are recomputed as one batch."""
    await resolve_terminal_days(session)
    queued = (await session.execute(select(RecomputeQueue))).scalars().all()
    total = RecomputeStats()
    if not queued:
        if progress is not None:
            progress(0, 0)
        return total
    top = max(q.id for q in queued)
    spans: dict[str, tuple[date, date]] = {}
    for q in queued:
        lo, hi = spans.get(q.nip, (q.first, q.last))
        spans[q.nip] = (min(lo, q.first), max(hi, q.last))
    groups: dict[tuple[date, date], list[str]] = defaultdict(list)
    for nip, span in spans.items():
        groups[span].append(nip)
    done, size = 0, len(spans)
    for (first, last), nips in sorted(groups.items()):

        def step(n: int, _of: int, base: int = done) -> None:
            if progress is not None:
                progress(base + n, size)

        total.add(await recompute_range(session, first, last, nips=sorted(nips), progress=step, workers=workers))
        done += len(nips)
    await session.execute(delete(RecomputeQueue).where(RecomputeQueue.id <= top))
    await session.commit()
    return total


async def run_pending(
    engine: AsyncEngine,
    holder: str,
    *,
    ttl: float = PENDING_LEASE_TTL,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> RecomputeStats | None:
    """``process_pending`` under the ``recompute-pending`` lease, so two runs (the CLI, the hub's loop, on any
    host) never recompute the same marks at once; None when another holder has it."""
    async with held(engine, PENDING_LEASE, holder, ttl) as mine:
        if not mine:
            return None
        async with session_factory(engine)() as session:
            return await process_pending(session, progress, workers)
