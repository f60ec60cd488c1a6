"""Recompute attendance days from the store: load one batch of employees' inputs in a few queries, evaluate each
day with the pure engine, upsert ``attendance_days`` and bump ``version`` only when the result changed.

Punches are attributed through enrollments (unmatched ones never reach an employee); flagged punches are passed
with their flags so the engine lists them as exceptions. Corrections are applied beside the raw data: a missing
punch or a broken terminal day becomes virtual punches (key ``correction:<id>``), a wrong PIN mapping moves the
punches of that terminal + PIN to the right employee for its dates. Raw punches are never edited.
"""

from __future__ import annotations

import time as clock
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.attendance.absence import Absence, AbsenceKind, ApprovalStatus
from hub.attendance.activity import Activity, ActivityStatus
from hub.attendance.calendar import Holiday, HolidayCalendar, HolidayKind
from hub.attendance.day import AttendanceDay, Punch, attribute_punches, evaluate_day
from hub.attendance.policy import Policy, policy_in_force
from hub.attendance.recap import MonthlyRecap, monthly_recap
from hub.attendance.schedule import (
    DaySchedule,
    EmployeeAssignment,
    GroupAssignment,
    ScheduleGroup,
    UnitAssignment,
    schedule_for,
)
from hub.reconcile.documents import ScheduleGroupDoc, day_result, digest
from hub.registry.errors import NotFound, RegistryError
from hub.registry.service import enrollment_matches, subtree_ids
from hub.store.models import (
    AbsenceRow,
    ActivityRow,
    AttendanceDayRow,
    CorrectionRow,
    Employee,
    Enrollment,
    HolidayRow,
    PolicyRow,
    ScheduleAssignmentRow,
    ScheduleGroupRow,
    Unit,
)
from hub.store.models import Punch as PunchRow

CHUNK = 500  # employees per batch: bounds the IN lists (SQLite allows 32766 parameters) and the memory
MISSING_PUNCH, BROKEN_TERMINAL_DAY, WRONG_PIN_MAPPING = "missing_punch", "broken_terminal_day", "wrong_pin_mapping"


class NoPolicy(RegistryError):
    status = 409
    code = "no_policy"


@dataclass
class RecomputeStats:
    employees: int = 0
    days: int = 0
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0  # no schedule group or no policy in force for the date
    punches: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def add(self, other: RecomputeStats) -> None:
        for name in ("employees", "days", "inserted", "changed", "unchanged", "skipped", "punches"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.seconds += other.seconds
        self.problems += other.problems[: max(0, 20 - len(self.problems))]


def dates(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def active_policies(session: AsyncSession) -> list[Policy]:
    rows = (await session.execute(select(PolicyRow.document).where(PolicyRow.active))).scalars().all()
    return [Policy.model_validate(document) for document in rows]  # checked in full at upload


def in_force(policies: Sequence[Policy], day: date) -> Policy | None:
    try:
        return policy_in_force(policies, day)
    except LookupError:
        return None


@dataclass
class Inputs:
    """Everything the engine needs for a batch of employees over [first - 1, last + 1]."""

    employees: dict[str, Employee]
    units: dict[int, UnitAssignment | None]
    exceptions: dict[str, EmployeeAssignment]
    calendar: HolidayCalendar
    policies: list[Policy]
    punches: dict[str, list[Punch]]
    absences: dict[str, list[Absence]]
    activities: dict[str, list[Activity]]
    broken_days: dict[str, set[tuple[int, date]]]  # nip -> (correction id, day)

    def schedule(self, nip: str, day: date) -> DaySchedule | None:
        unit = self.units.get(self.employees[nip].unit_id)
        if unit is None and nip not in self.exceptions:
            return None
        try:
            return schedule_for(self.exceptions.get(nip), unit or UnitAssignment("-", "UTC", ()), day)
        except LookupError:
            return None


async def _groups(session: AsyncSession) -> dict[str, ScheduleGroup]:
    rows = (await session.execute(select(ScheduleGroupRow))).scalars().all()
    return {row.code: ScheduleGroupDoc.model_validate(row.document).build() for row in rows}


def _assignment(row: ScheduleAssignmentRow, groups: dict[str, ScheduleGroup]) -> GroupAssignment:
    return GroupAssignment(groups[row.group_code], row.valid_from, row.valid_to)


async def _unit_assignments(
    session: AsyncSession, groups: dict[str, ScheduleGroup], unit_ids: set[int]
) -> dict[int, UnitAssignment | None]:
    """Each unit's groups; a unit without its own assignment inherits the nearest ancestor's."""
    parents = dict((await session.execute(select(Unit.id, Unit.parent_id))).all())
    codes = dict((await session.execute(select(Unit.id, Unit.code))).all())
    rows = (
        (await session.execute(select(ScheduleAssignmentRow).where(ScheduleAssignmentRow.unit_id.is_not(None))))
        .scalars()
        .all()
    )
    own: dict[int, list[ScheduleAssignmentRow]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.id):
        assert row.unit_id is not None
        own[row.unit_id].append(row)
    found: dict[int, UnitAssignment | None] = {}
    for unit_id in unit_ids:
        cursor: int | None = unit_id
        while cursor is not None and cursor not in own:
            cursor = parents.get(cursor)
        if cursor is None:
            found[unit_id] = None
            continue
        chosen = own[cursor]
        found[unit_id] = UnitAssignment(codes[unit_id], chosen[-1].zone, tuple(_assignment(r, groups) for r in chosen))
    return found


async def load_inputs(session: AsyncSession, nips: Sequence[str], first: date, last: date) -> Inputs:
    """One batch: a handful of queries whatever the number of employees in ``nips``."""
    lo, hi = first - timedelta(days=1), last + timedelta(days=1)
    employees = {
        e.nip: e for e in (await session.execute(select(Employee).where(Employee.nip.in_(nips)))).scalars().all()
    }
    groups = await _groups(session)
    units = await _unit_assignments(session, groups, {e.unit_id for e in employees.values()})
    exception_rows = (
        (
            await session.execute(
                select(ScheduleAssignmentRow)
                .where(ScheduleAssignmentRow.nip.in_(nips))
                .order_by(ScheduleAssignmentRow.id)
            )
        )
        .scalars()
        .all()
    )
    exceptions: dict[str, list[GroupAssignment]] = defaultdict(list)
    for row in exception_rows:
        assert row.nip is not None
        exceptions[row.nip].append(_assignment(row, groups))
    holidays = (await session.execute(select(HolidayRow).where(HolidayRow.day.between(lo, hi)))).scalars().all()
    calendar = HolidayCalendar(tuple(Holiday(h.day, h.name, HolidayKind(h.kind)) for h in holidays))

    corrections = (
        (
            await session.execute(
                select(CorrectionRow).where(
                    CorrectionRow.day.between(lo - timedelta(days=366), hi),
                    or_(CorrectionRow.nip.in_(nips), CorrectionRow.kind == BROKEN_TERMINAL_DAY),
                )
            )
        )
        .scalars()
        .all()
    )
    punches: dict[str, list[Punch]] = defaultdict(list)
    remaps = [c for c in corrections if c.kind == WRONG_PIN_MAPPING]
    all_remaps = (
        (await session.execute(select(CorrectionRow).where(CorrectionRow.kind == WRONG_PIN_MAPPING))).scalars().all()
    )

    def remapped(terminal_sn: str, pin: str, day: date) -> bool:
        return any(
            c.terminal_sn == terminal_sn
            and c.payload["pin"] == pin
            and date.fromisoformat(c.payload["first"]) <= day <= date.fromisoformat(c.payload["last"])
            for c in all_remaps
        )

    def as_punch(p: PunchRow) -> Punch:
        return Punch(p.key, p.local_time, p.status, tuple(p.flags.split(",")) if p.flags else ())

    query = (
        select(PunchRow, Enrollment.nip)
        .join(Enrollment, enrollment_matches(PunchRow.terminal_sn, PunchRow.pin, PunchRow.local_date))
        .where(Enrollment.nip.in_(nips), PunchRow.local_date.between(lo, hi))
    )
    for p, nip in (await session.execute(query)).all():
        if not (all_remaps and remapped(p.terminal_sn, p.pin, p.local_date)):
            punches[nip].append(as_punch(p))
    for c in remaps:
        assert c.nip is not None
        moved = select(PunchRow).where(
            PunchRow.terminal_sn == c.terminal_sn,
            PunchRow.pin == c.payload["pin"],
            PunchRow.local_date.between(
                max(lo, date.fromisoformat(c.payload["first"])), min(hi, date.fromisoformat(c.payload["last"]))
            ),
        )
        punches[c.nip] += [as_punch(p) for p in (await session.execute(moved)).scalars().all()]
    for c in corrections:
        if c.kind == MISSING_PUNCH and c.nip is not None:
            punches[c.nip].append(Punch(f"correction:{c.id}", datetime.fromisoformat(c.payload["local_time"])))

    broken_days: dict[str, set[tuple[int, date]]] = defaultdict(set)
    broken = [c for c in corrections if c.kind == BROKEN_TERMINAL_DAY and lo <= c.day <= hi]
    if broken:
        enrolled = select(Enrollment).where(
            Enrollment.nip.in_(nips), Enrollment.terminal_sn.in_({c.terminal_sn for c in broken})
        )
        for enrollment in (await session.execute(enrolled)).scalars().all():
            for c in broken:
                if (
                    c.terminal_sn == enrollment.terminal_sn
                    and enrollment.valid_from <= c.day
                    and (enrollment.valid_to is None or c.day <= enrollment.valid_to)
                ):
                    broken_days[enrollment.nip].add((c.id, c.day))

    absences: dict[str, list[Absence]] = defaultdict(list)
    absence_rows = select(AbsenceRow).where(AbsenceRow.nip.in_(nips), AbsenceRow.first <= hi, AbsenceRow.last >= lo)
    for a in (await session.execute(absence_rows)).scalars().all():
        absences[a.nip].append(
            Absence(a.nip, AbsenceKind(a.kind), a.first, a.last, ApprovalStatus(a.status), a.reference)
        )
    activities: dict[str, list[Activity]] = defaultdict(list)
    activity_rows = select(ActivityRow).where(ActivityRow.nip.in_(nips), ActivityRow.day.between(lo, hi))
    for r in (await session.execute(activity_rows)).scalars().all():
        activities[r.nip].append(activity_of(r))
    return Inputs(
        employees=employees,
        units=units,
        exceptions={nip: EmployeeAssignment(nip, tuple(found)) for nip, found in exceptions.items()},
        calendar=calendar,
        policies=await active_policies(session),
        punches=punches,
        absences=absences,
        activities=activities,
        broken_days=broken_days,
    )


def activity_of(r: ActivityRow) -> Activity:
    return Activity(
        id=str(r.id),
        nip=r.nip,
        day=r.day,
        start=r.start,
        end=r.end,
        description=r.description,
        rhk_ref=r.rhk_ref,
        norm_minutes=r.norm_minutes,
        volume=r.volume,
        status=ActivityStatus(r.status),
        reviewer_comment=r.reviewer_comment,
    )


def evaluate(inputs: Inputs, nip: str, first: date, last: date) -> tuple[list[tuple[AttendanceDay, str]], int]:
    """The employee's evaluated days in [first, last] with each day's inputs hash, and how many were skipped."""
    employee = inputs.employees[nip]
    lo, hi = max(first, employee.active_from), min(last, employee.active_to or last)
    schedules = {d: inputs.schedule(nip, d) for d in dates(lo - timedelta(days=1), hi + timedelta(days=1))}
    known = [s for s in schedules.values() if s is not None]
    punches = list(inputs.punches.get(nip, ()))
    for correction_id, day in inputs.broken_days.get(nip, ()):
        s = schedules.get(day)
        if s is not None and s.starts_at is not None and s.ends_at is not None:
            punches += [
                Punch(f"correction:{correction_id}:in", s.starts_at),
                Punch(f"correction:{correction_id}:out", s.ends_at),
            ]
    by_day = attribute_punches(punches, known)
    absences = inputs.absences.get(nip, [])
    activities = inputs.activities.get(nip, [])
    out: list[tuple[AttendanceDay, str]] = []
    skipped = 0
    for day in dates(lo, hi) if lo <= hi else []:
        schedule = schedules[day]
        policy = in_force(inputs.policies, day)
        if schedule is None or policy is None:
            skipped += 1
            continue
        day_punches = by_day.get(day, ())
        holiday = inputs.calendar.on(day)
        day_activities = [a for a in activities if a.day == day]
        day_absences = [a for a in absences if a.covers(day)]
        evaluated = evaluate_day(
            nip, schedule, policy, day_punches, holiday=holiday, absences=day_absences, activities=day_activities
        )
        inputs_hash = digest([day_punches, schedule, holiday, day_absences, day_activities, policy.id, policy.version])
        out.append((evaluated, inputs_hash))
    return out, skipped


async def recompute(session: AsyncSession, nips: Sequence[str], first: date, last: date) -> RecomputeStats:
    """Recompute and store ``nips``' days in [first, last]; the caller commits."""
    started = clock.perf_counter()
    stats = RecomputeStats()
    inputs = await load_inputs(session, nips, first, last)
    if not inputs.policies:
        raise NoPolicy("no active allowance policy: upload and activate one first")
    existing = {
        (row.nip, row.day): row
        for row in (
            await session.execute(
                select(AttendanceDayRow).where(
                    AttendanceDayRow.nip.in_(nips), AttendanceDayRow.day.between(first, last)
                )
            )
        )
        .scalars()
        .all()
    }
    now = datetime.now(UTC)
    stats.punches = sum(len(v) for v in inputs.punches.values())
    for nip in nips:
        if nip not in inputs.employees:
            continue
        stats.employees += 1
        evaluated, skipped = evaluate(inputs, nip, first, last)
        stats.skipped += skipped
        for day, inputs_hash in evaluated:
            stats.days += 1
            result = day_result(day)
            row = existing.get((nip, day.day))
            if row is None:
                session.add(_new_row(day, result, inputs_hash, now))
                stats.inserted += 1
            elif row.result != result:
                _fill(row, day, result)
                row.version += 1
                row.inputs_hash, row.computed_at = inputs_hash, now
                stats.changed += 1
            else:
                if row.inputs_hash != inputs_hash:
                    row.inputs_hash, row.computed_at = inputs_hash, now
                stats.unchanged += 1
    await session.flush()
    stats.seconds = clock.perf_counter() - started
    return stats


def _fill(row: AttendanceDayRow, day: AttendanceDay, result: dict[str, Any]) -> None:
    row.status = day.status.value
    row.check_in, row.check_out = day.check_in, day.check_out
    row.minutes_late, row.minutes_early = day.minutes_late, day.minutes_early
    row.codes = day.code
    row.deduction_percent = day.percent
    row.policy_id, row.policy_version = day.policy_id, day.policy_version
    row.result = result


def _new_row(day: AttendanceDay, result: dict[str, Any], inputs_hash: str, now: datetime) -> AttendanceDayRow:
    row = AttendanceDayRow(nip=day.nip, day=day.day, version=1, inputs_hash=inputs_hash, computed_at=now)
    _fill(row, day, result)
    return row


async def employees_in(session: AsyncSession, unit_code: str | None = None) -> list[str]:
    query = select(Employee.nip).order_by(Employee.nip)
    if unit_code is not None:
        query = query.where(Employee.unit_id.in_(await subtree_ids(session, unit_code)))
    return list((await session.execute(query)).scalars().all())


async def recompute_range(
    session: AsyncSession,
    first: date,
    last: date,
    *,
    unit_code: str | None = None,
    nips: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RecomputeStats:
    """Recompute every employee (or a unit subtree, or ``nips``) for [first, last], committing per batch."""
    chosen = list(nips) if nips is not None else await employees_in(session, unit_code)
    total = RecomputeStats()
    for start in range(0, len(chosen), CHUNK):
        batch = chosen[start : start + CHUNK]
        total.add(await recompute(session, batch, first, last))
        await session.commit()
        if progress is not None:
            progress(min(start + CHUNK, len(chosen)), len(chosen))
    if progress is not None and not chosen:
        progress(0, 0)
    return total


async def month_days(session: AsyncSession, nip: str, year: int, month: int) -> tuple[list[AttendanceDay], Inputs]:
    first = date(year, month, 1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    inputs = await load_inputs(session, [nip], first, last)
    if nip not in inputs.employees:
        raise NotFound(f"no employee with NIP {nip}")
    return [d for d, _ in evaluate(inputs, nip, first, last)[0]], inputs


def recap_of(inputs: Inputs, nip: str, first: date, last: date) -> MonthlyRecap | None:
    """Pure: ``nip``'s recap of the month [first, last] from loaded inputs, under ``inputs.policies``; None when
    no day of the month could be evaluated or the employee has no kelas jabatan."""
    days = [d for d, _ in evaluate(inputs, nip, first, last)[0]]
    policy = in_force(inputs.policies, first) or in_force(inputs.policies, days[-1].day if days else first)
    job_class = inputs.employees[nip].job_class
    if not days or policy is None or job_class is None:
        return None
    return monthly_recap(days, policy, job_class)


async def recap_for(session: AsyncSession, nip: str, year: int, month: int) -> MonthlyRecap | None:
    """The monthly recap computed on the fly; None when no day of the month could be evaluated."""
    first = date(year, month, 1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    inputs = await load_inputs(session, [nip], first, last)
    if nip not in inputs.employees:
        raise NotFound(f"no employee with NIP {nip}")
    return recap_of(inputs, nip, first, last)
