"""The exceptions list: everything about attendance a person has to look at, from one function.

Two punch kinds come from the punches themselves, through the same query the punch routes use
(``hub.punches.punch_query``): ``unmatched_punch`` (no enrollment covers its terminal + PIN that day) and
``flagged_punch`` (the edge flagged it: clock reset, future, before install, drift). A punch can be both.
Four reconciliation kinds come from the stored attendance days' findings (so they reflect the last
recompute): activity logged while absent, activity outside the presence window without DL, presence with no
activity, activity minutes beyond presence minutes.

Pages run through the kinds in the order of ``ExceptionKind`` (then by date, NIP or time inside a kind), so
each kind is counted and paged by the store rather than in memory.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from hub.attendance.day import Finding
from hub.punches import PunchOut, punch_page, punch_query
from hub.registry.service import subtree_ids
from hub.store.models import AttendanceDayRow, Employee, Enrollment, finding_predicate


class ExceptionKind(StrEnum):
    UNMATCHED_PUNCH = "unmatched_punch"
    FLAGGED_PUNCH = "flagged_punch"
    ACTIVITY_WHILE_ABSENT = Finding.ACTIVITY_WHILE_ABSENT.value
    ACTIVITY_OUTSIDE_PRESENCE = Finding.ACTIVITY_OUTSIDE_PRESENCE.value
    PRESENCE_WITHOUT_ACTIVITY = Finding.PRESENCE_WITHOUT_ACTIVITY.value
    ACTIVITY_BEYOND_PRESENCE = Finding.ACTIVITY_BEYOND_PRESENCE.value


PUNCH_KINDS = frozenset({ExceptionKind.UNMATCHED_PUNCH, ExceptionKind.FLAGGED_PUNCH})


class ExceptionOut(BaseModel):
    kind: ExceptionKind
    day: date  # the punch's local date, or the attendance day
    nip: str | None  # None for an unmatched punch
    employee_name: str | None
    detail: str
    punch: PunchOut | None = None  # the punch kinds
    day_version: int | None = None  # the reconciliation kinds: the attendance day's version


class ExceptionPage(BaseModel):
    items: list[ExceptionOut]
    total: int
    totals: dict[ExceptionKind, int]  # every requested kind, also those not on this page
    limit: int
    offset: int


async def list_exceptions(
    session: AsyncSession,
    *,
    first: date,
    last: date,
    unit_code: str | None = None,
    kinds: Collection[ExceptionKind] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> ExceptionPage:
    """Exceptions of local dates [first, last], of a unit and the units below it when ``unit_code`` is given.

    An unmatched punch belongs to no employee, so with ``unit_code`` it is listed when its terminal is one the
    unit's employees are enrolled on (the only link it has to a unit)."""
    wanted = [k for k in ExceptionKind if kinds is None or k in kinds]
    units = await subtree_ids(session, unit_code) if unit_code is not None else None
    items: list[ExceptionOut] = []
    totals: dict[ExceptionKind, int] = {}
    skip = offset
    for kind in wanted:
        room = limit - len(items)
        if kind in PUNCH_KINDS:
            total, found = await _punches(session, kind, first, last, unit_code, units, room, skip)
        else:
            total, found = await _findings(session, kind, first, last, units, room, skip)
        totals[kind] = total
        items += found
        skip = max(0, skip - total)
    return ExceptionPage(items=items, total=sum(totals.values()), totals=totals, limit=limit, offset=offset)


async def _punches(
    session: AsyncSession,
    kind: ExceptionKind,
    first: date,
    last: date,
    unit_code: str | None,
    units: Sequence[int] | None,
    limit: int,
    offset: int,
) -> tuple[int, list[ExceptionOut]]:
    unmatched = kind is ExceptionKind.UNMATCHED_PUNCH
    terminals = None
    if unmatched and units is not None:
        enrolled = select(Enrollment.terminal_sn).join(Employee, Employee.nip == Enrollment.nip)
        terminals = set((await session.execute(enrolled.where(Employee.unit_id.in_(units)))).scalars().all())
    query = await punch_query(
        session,
        first=first,
        last=last,
        unit_code=None if unmatched else unit_code,
        terminal_sns=terminals,
        unmatched=unmatched,
        flagged=not unmatched,
    )
    page = await punch_page(session, query, limit, offset)
    found = [
        ExceptionOut(
            kind=kind,
            day=p.local_date,
            nip=p.nip,
            employee_name=p.employee_name,
            detail=f"terminal {p.terminal_sn} PIN {p.pin}: "
            + ("no enrollment covers this date" if unmatched else f"flagged {', '.join(p.flags)}"),
            punch=p,
        )
        for p in page.items
    ]
    return page.total, found


def _finding_detail(result: dict[str, Any]) -> str:
    code = result.get("code") or result.get("absence_code") or ""
    return (
        f"{result.get('status')}{f' {code}' if code else ''}: presence {result.get('presence_minutes', 0)} min, "
        f"activity {result.get('activity_minutes', 0)} min, effective {result.get('effective_minutes', 0)} min"
    )


async def _findings(
    session: AsyncSession,
    kind: ExceptionKind,
    first: date,
    last: date,
    units: Sequence[int] | None,
    limit: int,
    offset: int,
) -> tuple[int, list[ExceptionOut]]:
    # The predicate is the partial index's own text (migration 0012), a literal: with a bound parameter neither
    # planner could tell that the index holds exactly these days.
    found_days = (AttendanceDayRow.day.between(first, last), text(finding_predicate(kind.value)))
    query = select(AttendanceDayRow, Employee.name).join(Employee, Employee.nip == AttendanceDayRow.nip)
    # Counted over the keys alone: counting the page query's rows read every matching day's whole row.
    counted = select(func.count()).select_from(AttendanceDayRow).where(*found_days)
    if units is not None:
        query = query.where(Employee.unit_id.in_(units))
        counted = counted.join(Employee, Employee.nip == AttendanceDayRow.nip).where(Employee.unit_id.in_(units))
    query = query.where(*found_days)
    total = (await session.execute(counted)).scalar_one()
    if not limit or offset >= total:
        return total, []
    ordered = query.order_by(AttendanceDayRow.day, AttendanceDayRow.nip).limit(limit).offset(offset)
    found = [
        ExceptionOut(
            kind=kind,
            day=row.day,
            nip=row.nip,
            employee_name=name,
            detail=_finding_detail(row.result),
            day_version=row.version,
        )
        for row, name in (await session.execute(ordered)).all()
    ]
    return total, found
