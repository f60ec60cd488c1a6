"""Monthly recaps of many employees at once: the one place the API's unit recap, the exports and closing a
month get their recaps from, so the figures fed to e-Kinerja are the figures the dashboard and the XLSX show.

It is ``recap_for`` (``hub.reconcile.service``) done per batch: one ``load_inputs`` for up to ``CHUNK``
employees instead of a handful of queries per employee, then the same ``evaluate`` and ``monthly_recap``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from hub.attendance.day import AttendanceDay
from hub.attendance.recap import MonthlyRecap, monthly_recap
from hub.reconcile.service import CHUNK, Inputs, evaluate, in_force, load_inputs


def month_bounds(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def parse_month(text: str) -> tuple[int, int]:
    """``YYYY-MM`` as (year, month); ValueError for anything else."""
    year, _, month = text.partition("-")
    if len(year) != 4 or len(month) != 2 or not (year + month).isdigit() or not 1 <= int(month) <= 12 or year == "0000":
        raise ValueError(f"month must be YYYY-MM, got {text!r}")
    return int(year), int(month)


def recap_of(inputs: Inputs, nip: str, days: Sequence[AttendanceDay], year: int, month: int) -> MonthlyRecap | None:
    """The recap of evaluated ``days``; None when none could be evaluated or the kelas jabatan is unknown.

    The policy is the version in force on the 1st (or, for someone who joined later, on their last day)."""
    policy = in_force(inputs.policies, date(year, month, 1)) or in_force(
        inputs.policies, days[-1].day if days else date(year, month, 1)
    )
    job_class = inputs.employees[nip].job_class
    if not days or policy is None or job_class is None:
        return None
    return monthly_recap(days, policy, job_class)


async def month_recaps(
    session: AsyncSession, nips: Sequence[str], year: int, month: int
) -> dict[str, MonthlyRecap | None]:
    """Each employee's recap of the month, computed from the inputs now; unknown NIPs are left out."""
    first, last = month_bounds(year, month)
    found: dict[str, MonthlyRecap | None] = {}
    for start in range(0, len(nips), CHUNK):
        batch = nips[start : start + CHUNK]
        inputs = await load_inputs(session, batch, first, last)
        for nip in batch:
            if nip in inputs.employees:
                days = [d for d, _ in evaluate(inputs, nip, first, last)[0]]
                found[nip] = recap_of(inputs, nip, days, year, month)
    return found
