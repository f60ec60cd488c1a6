"""Dirty marks, written in the caller's transaction: ingest marks (terminal, local date) pairs, registry and
correction writes mark an employee's date range. ``hub.reconcile.queue`` processes them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from hub.store.models import Employee, RecomputeQueue

HORIZON_DAYS = 62
TERMINAL_DAY_COLUMNS = ("terminal_sn", "local_date", "marked_at")


async def mark_terminal_days(connection: AsyncConnection, pairs: Iterable[tuple[str, date]]) -> None:
    """Called by ingest inside its commit: one multi-row upsert, driver-level like the punch insert."""
    rows = sorted(set(pairs))
    if not rows:
        return
    now = datetime.now(UTC)
    if connection.dialect.name == "postgresql":
        sql = (
            "INSERT INTO recompute_terminal_days (terminal_sn, local_date, marked_at) "
            "SELECT * FROM unnest($1::text[], $2::date[], $3::timestamptz[]) "
            "ON CONFLICT (terminal_sn, local_date) DO UPDATE SET marked_at = EXCLUDED.marked_at"
        )
        await connection.exec_driver_sql(sql, ([t for t, _ in rows], [d for _, d in rows], [now] * len(rows)))
        return
    stamp = now.replace(tzinfo=None).isoformat(" ", "microseconds")
    for start in range(0, len(rows), 5000):
        chunk = rows[start : start + 5000]
        values = ", ".join(["(?, ?, ?)"] * len(chunk))
        params: list[object] = []
        for terminal_sn, day in chunk:
            params += (terminal_sn, day.isoformat(), stamp)
        await connection.exec_driver_sql(
            f"INSERT INTO recompute_terminal_days (terminal_sn, local_date, marked_at) VALUES {values} "
            "ON CONFLICT (terminal_sn, local_date) DO UPDATE SET marked_at = excluded.marked_at",
            tuple(params),
        )


async def mark_everyone(session: AsyncSession, first: date, reason: str, last: date | None = None) -> int:
    """Queue every employee's days from ``first`` until ``last`` (None: today), within the last ``HORIZON_DAYS``
    before today: one bulk insert."""
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)  # a day ahead: zones east of UTC
    end = min(last or tomorrow, tomorrow)
    start = max(first, tomorrow - timedelta(days=HORIZON_DAYS))
    if end < start:
        return 0
    now = datetime.now(UTC)
    nips = (await session.execute(select(Employee.nip))).scalars().all()
    rows = [{"nip": nip, "first": start, "last": end, "reason": reason, "marked_at": now} for nip in nips]
    for chunk in range(0, len(rows), 5000):
        await session.execute(insert(RecomputeQueue), rows[chunk : chunk + 5000])
    return len(rows)


def mark_employee(session: AsyncSession, nip: str, first: date, last: date | None, reason: str) -> None:
    """Queue ``nip``'s days ``first``..``last`` (None: until today) in the caller's transaction. A range longer
    than ``HORIZON_DAYS`` (an enrollment valid since 2020, say) is cut to its last ``HORIZON_DAYS``: older months
    are closed; recompute them on purpose with ``presensi hub recompute --from --to``."""
    today = datetime.now(UTC).date() + timedelta(days=1)
    end = min(last or today, today)
    first = max(first, end - timedelta(days=HORIZON_DAYS))
    if end < first:
        return
    session.add(RecomputeQueue(nip=nip, first=first, last=end, reason=reason, marked_at=datetime.now(UTC)))
