"""Recompute attendance days from the store: load one batch of employees' inputs in a few queries, evaluate each
day with the pure engine, upsert ``attendance_days`` and bump ``version`` only when the result changed.

Punches are attributed through enrollments (unmatched ones never reach an employee); flagged punches are passed
with their flags so the engine lists them as exceptions. Corrections are applied beside the raw data: a missing
punch or a broken terminal day becomes virtual punches (key ``correction:<id>``), a wrong PIN mapping moves the
punches of that terminal + PIN to the right employee for its dates. Raw punches are never edited.

A batch goes: ``load_inputs`` + ``stored_versions`` (plain rows, no ORM objects) -> ``compute_batch`` (pure; skips
every day whose inputs hash equals the stored one before building any result) -> ``store_computed`` (one
driver-level upsert; the outbox hook point is marked there). ``recompute_range`` runs ``compute_batch`` in worker
processes for large runs; docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import gc
import logging
import multiprocessing
import os
import time as clock
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import orjson
from sqlalchemy import String, cast, func, or_, select, text, true, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from hub.attendance.absence import Absence, AbsenceKind, ApprovalStatus
from hub.attendance.activity import Activity, ActivityStatus
from hub.attendance.calendar import Holiday, HolidayCalendar, HolidayKind
from hub.attendance.day import AttendanceDay, Punch, PunchWindows, attribute_punches, evaluate_day, stored_punch
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
from hub.feed import outbox
from hub.reconcile.documents import ScheduleGroupDoc, day_digest, day_result, digest, jsonable
from hub.registry.errors import NotFound, RegistryError
from hub.registry.service import enrollment_matches, subtree_ids
from hub.settings import DatabaseSettings
from hub.store.db import create_engine, session_factory, settings_of, shared_store
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

log = logging.getLogger(__name__)

CHUNK = 1000  # employees per batch: bounds the IN lists (SQLite allows 32766 parameters) and the memory
MAX_WORKERS = 8  # the default cap; ``[recompute] workers`` sets the number (on SQLite the workers take turns to write)
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


@functools.lru_cache(maxsize=1024)
def _span(first: date, last: date) -> tuple[tuple[date, str], ...]:
    """``dates(first, last)`` with each date's ISO text: the same few ranges for every employee of a run."""
    return tuple((d, d.isoformat()) for d in dates(first, last))


async def active_policies(session: AsyncSession) -> list[Policy]:
    rows = (await session.execute(select(PolicyRow.document).where(PolicyRow.active))).scalars().all()
    return [Policy.model_validate(document) for document in rows]  # checked in full at upload


# Schedules are frozen values: equal ones have the same JSON form and digest. Kept for the process's life, so
# a worker converts each unit's schedule of a date once, not once per batch (bounded: a new schedule group or
# override adds a few hundred entries a month).
_SCHEDULE_FORMS: dict[DaySchedule, tuple[Any, str]] = {}
_SCHEDULE_FORMS_MAX = 100_000


def schedule_forms(schedule: DaySchedule) -> tuple[Any, str]:
    """A schedule's stored JSON form (pre-serialised, ``orjson.Fragment``) and its digest."""
    found = _SCHEDULE_FORMS.get(schedule)
    if found is None:
        if len(_SCHEDULE_FORMS) >= _SCHEDULE_FORMS_MAX:
            _SCHEDULE_FORMS.clear()
        found = _SCHEDULE_FORMS[schedule] = (orjson.Fragment(orjson.dumps(jsonable(schedule))), digest(schedule))
    return found


def in_force(policies: Sequence[Policy], day: date) -> Policy | None:
    try:
        return policy_in_force(policies, day)
    except LookupError:
        return None


class Staff(NamedTuple):
    """The employee columns the engine needs (a plain row: no ORM object per employee)."""

    nip: str
    unit_id: int
    job_class: int | None
    active_from: date
    active_to: date | None


@dataclass
class Inputs:
    """Everything the engine needs for a batch of employees over [first - 1, last + 1]."""

    employees: dict[str, Staff]
    units: dict[int, UnitAssignment | None]
    exceptions: dict[str, EmployeeAssignment]
    calendar: HolidayCalendar
    policies: list[Policy]
    punches: dict[str, list[Punch]]  # corrections' virtual punches and remapped ones
    absences: dict[str, list[Absence]]
    activities: dict[str, list[Activity]]
    broken_days: dict[str, set[tuple[int, date]]]  # nip -> (correction id, day)
    # The bulk of the punches as plain tuples (key, local time, status, flags): cheap to send to a worker
    # process. The local time is the stored text on SQLite (parsed where the day is evaluated), a datetime on
    # PostgreSQL.
    punch_rows: dict[str, list[tuple[str, datetime | str, int, str]]] = field(default_factory=dict)
    # Employees without exceptions share their unit's schedule object per date (frozen, so safe to share);
    # its JSON form and repr are computed once for all of them.
    _unit_schedules: dict[tuple[int, date], DaySchedule | None] = field(default_factory=dict, repr=False)
    _schedule_forms: dict[int, tuple[DaySchedule, Any, str]] = field(default_factory=dict, repr=False)
    # Not an init field: ``dataclasses.replace(inputs, policies=...)`` (the policy preview) must start afresh.
    _policies: dict[date, Policy | None] = field(default_factory=dict, init=False, repr=False)
    _holidays: dict[date, Holiday | None] = field(default_factory=dict, repr=False)
    _bare_digests: dict[tuple[str, Holiday | None, str, int], str] = field(default_factory=dict, repr=False)
    _unit_ranges: dict[tuple[int, date, date], dict[date, DaySchedule | None]] = field(default_factory=dict, repr=False)
    _punch_windows: dict[int, tuple[dict[date, DaySchedule | None], PunchWindows]] = field(
        default_factory=dict, repr=False
    )

    def schedule(self, nip: str, day: date) -> DaySchedule | None:
        unit_id = self.employees[nip].unit_id
        exception = self.exceptions.get(nip)
        if exception is None:
            key = (unit_id, day)
            if key not in self._unit_schedules:
                self._unit_schedules[key] = self._schedule(None, unit_id, day)
            return self._unit_schedules[key]
        return self._schedule(exception, unit_id, day)

    def _schedule(self, exception: EmployeeAssignment | None, unit_id: int, day: date) -> DaySchedule | None:
        unit = self.units.get(unit_id)
        if unit is None and exception is None:
            return None
        try:
            return schedule_for(exception, unit or UnitAssignment("-", "UTC", ()), day)
        except LookupError:
            return None

    def schedule_forms(self, schedule: DaySchedule) -> tuple[Any, str]:
        """The schedule's stored JSON form (pre-serialised) and its digest, once per schedule object."""
        found = self._schedule_forms.get(id(schedule))
        if found is None or found[0] is not schedule:
            form, schedule_digest = schedule_forms(schedule)
            found = self._schedule_forms[id(schedule)] = (schedule, form, schedule_digest)
        return found[1], found[2]

    def schedules(self, nip: str, days: list[date]) -> dict[date, DaySchedule | None]:
        """``schedule(nip, day)`` for each of ``days``; one dict per unit and range for employees without
        exceptions (most of them), shared: the caller must not change it."""
        exception = self.exceptions.get(nip)
        if exception is not None or not days:  # no days: the employee is not active in the range
            return {d: self.schedule(nip, d) for d in days}
        key = (self.employees[nip].unit_id, days[0], days[-1])
        found = self._unit_ranges.get(key)
        if found is None:
            found = self._unit_ranges[key] = {d: self.schedule(nip, d) for d in days}
        return found

    def punch_windows(self, schedules: dict[date, DaySchedule | None]) -> PunchWindows:
        """The punch windows of a ``schedules()`` answer, once per answer (a unit's employees share one)."""
        found = self._punch_windows.get(id(schedules))
        if found is None or found[0] is not schedules:
            windows = PunchWindows(s for s in schedules.values() if s is not None)
            found = self._punch_windows[id(schedules)] = (schedules, windows)
        return found[1]

    def punches_of(self, nip: str) -> list[Punch]:
        found = list(self.punches.get(nip, ()))
        for key, local_time, status, flags in self.punch_rows.get(nip, ()):
            moment = local_time if isinstance(local_time, datetime) else datetime.fromisoformat(local_time)
            found.append(stored_punch(key, moment, status, tuple(flags.split(",")) if flags else ()))
        return found

    def punch_count(self) -> int:
        return sum(map(len, self.punches.values())) + sum(map(len, self.punch_rows.values()))

    def holiday(self, day: date) -> Holiday | None:
        if day not in self._holidays:
            self._holidays[day] = self.calendar.on(day)
        return self._holidays[day]

    def bare_digest(self, schedule_digest: str, holiday: Holiday | None, policy: Policy) -> str:
        """``day_digest`` of a day with no punch, absence or activity, once per schedule, holiday and policy."""
        key = (schedule_digest, holiday, policy.id, policy.version)
        if key not in self._bare_digests:
            self._bare_digests[key] = day_digest((), schedule_digest, holiday, [], [], policy.id, policy.version)
        return self._bare_digests[key]

    def policy(self, day: date) -> Policy | None:
        if day not in self._policies:
            self._policies[day] = in_force(self.policies, day)
        return self._policies[day]


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
    staff = select(Employee.nip, Employee.unit_id, Employee.job_class, Employee.active_from, Employee.active_to)
    employees = {row[0]: Staff(*row) for row in (await session.execute(staff.where(Employee.nip.in_(nips)))).all()}
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

    def remapped(terminal_sn: str, pin: str, day: date | str) -> bool:
        iso = day if isinstance(day, str) else day.isoformat()  # SQLite's rows keep the stored ISO text
        return any(
            c.terminal_sn == terminal_sn and c.payload["pin"] == pin and c.payload["first"] <= iso <= c.payload["last"]
            for c in all_remaps
        )

    def as_punch(p: Any) -> Punch:
        return Punch(p.key, p.local_time, p.status, tuple(p.flags.split(",")) if p.flags else ())

    # Core rows on the session's connection, not ORM objects: a batch's month is ~45,000 punches and
    # identity-mapping them cost more than evaluating the days. SQLite's stored text is kept as text.
    await session.flush()
    connection = await session.connection()
    sqlite = connection.dialect.name == "sqlite"
    query = _punch_query(sqlite, nips, lo, hi, with_origin=bool(all_remaps))
    punch_rows: dict[str, list[tuple[str, datetime | str, int, str]]] = defaultdict(list)
    rows = await _fetch_rows(connection, query)
    for p in rows:
        if not (all_remaps and remapped(p[5], p[6], p[7])):
            punch_rows[p[0]].append((p[1], p[2], p[3], p[4]))
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
        punch_rows=punch_rows,
        absences=absences,
        activities=activities,
        broken_days=broken_days,
    )


async def _fetch_rows(connection: AsyncConnection, query: Any) -> Sequence[Any]:
    """The rows of a batch's punch query as the driver gives them (asyncpg records, sqlite3 tuples), fetched on
    the session's connection with the statement SQLAlchemy compiles: making a SQLAlchemy row of each of ~45,000
    punches cost 0.03-0.08 s a batch, as much again as the fetch (issue 5). Nothing is converted: on SQLite the
    times and dates stay the stored text."""
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    raw: Any = (await connection.get_raw_connection()).driver_connection
    if connection.dialect.name == "postgresql":
        return list(await raw.fetch(str(compiled), *params))
    # The parameters are NIPs and dates; SQLite keeps a date as its ISO text, as SQLAlchemy's Date binds it.
    return list(
        await raw.execute_fetchall(str(compiled), [p.isoformat() if isinstance(p, date) else p for p in params])
    )


def _punch_query(sqlite: bool, nips: Sequence[str], lo: date, hi: date, *, with_origin: bool) -> Any:
    """(nip, key, local time, status, flags[, terminal, pin, local date]) of the batch's attributed punches.

    SQLite walks enrollments by NIP into the punch index by itself. PostgreSQL's planner instead scans and sorts
    every punch of the date range for each batch (a whole month of everyone's punches per 1,000 employees), so
    there the punches are looked up per enrollment (LATERAL: one index range scan each). Same condition as
    ``enrollment_matches``."""
    columns = [PunchRow.key, PunchRow.status, PunchRow.flags]
    origin = [PunchRow.terminal_sn, PunchRow.pin, PunchRow.local_date] if with_origin else []
    if sqlite:
        query = (
            select(Enrollment.nip, PunchRow.key, cast(PunchRow.local_time, String), PunchRow.status, PunchRow.flags)
            .join(Enrollment, enrollment_matches(PunchRow.terminal_sn, PunchRow.pin, PunchRow.local_date))
            .where(Enrollment.nip.in_(nips), PunchRow.local_date.between(lo, hi))
        )
        return query.add_columns(*origin)
    enrolled = (
        select(Enrollment.nip, Enrollment.terminal_sn, Enrollment.pin, Enrollment.valid_from, Enrollment.valid_to)
        .where(Enrollment.nip.in_(nips))
        .subquery("enrolled")
    )
    found = (
        select(*columns, PunchRow.local_time, *origin)
        .where(
            PunchRow.terminal_sn == enrolled.c.terminal_sn,
            PunchRow.pin == enrolled.c.pin,
            PunchRow.local_date.between(lo, hi),
            enrolled.c.valid_from <= PunchRow.local_date,
            or_(enrolled.c.valid_to.is_(None), enrolled.c.valid_to >= PunchRow.local_date),
        )
        .offset(0)  # keeps the planner from flattening the LATERAL back into the join it would scan for
        .lateral("found")
    )
    c = found.c
    picked = [c.terminal_sn, c.pin, c.local_date] if with_origin else []
    return select(enrolled.c.nip, c.key, c.local_time, c.status, c.flags, *picked).select_from(
        enrolled.join(found, true())
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


class _DayInputs(NamedTuple):
    day: date
    iso: str  # YYYY-MM-DD
    schedule: DaySchedule
    policy: Policy
    punches: tuple[Punch, ...]
    holiday: Holiday | None
    absences: list[Absence]
    activities: list[Activity]
    inputs_hash: str
    schedule_json: Any  # pre-serialised (orjson.Fragment)
    schedule_digest: str


def _day_inputs(inputs: Inputs, nip: str, first: date, last: date) -> tuple[list[_DayInputs], int]:
    """The employee's days in [first, last] that can be evaluated, with each day's inputs hash; and how many
    could not (no schedule group or no policy in force)."""
    employee = inputs.employees[nip]
    lo, hi = max(first, employee.active_from), min(last, employee.active_to or last)
    schedules = inputs.schedules(nip, [d for d, _ in _span(lo - timedelta(days=1), hi + timedelta(days=1))])
    punches = inputs.punches_of(nip)
    for correction_id, day in inputs.broken_days.get(nip, ()):
        s = schedules.get(day)
        if s is not None and s.starts_at is not None and s.ends_at is not None:
            punches += [
                Punch(f"correction:{correction_id}:in", s.starts_at),
                Punch(f"correction:{correction_id}:out", s.ends_at),
            ]
    by_day = attribute_punches(punches, inputs.punch_windows(schedules))
    absences = inputs.absences.get(nip, [])
    activities = inputs.activities.get(nip, [])
    out: list[_DayInputs] = []
    skipped = 0
    for day, iso in _span(lo, hi) if lo <= hi else ():
        schedule = schedules[day]
        policy = inputs.policy(day)
        if schedule is None or policy is None:
            skipped += 1
            continue
        day_punches = by_day.get(day, ())
        holiday = inputs.holiday(day)
        day_activities = [a for a in activities if a.day == day] if activities else []
        day_absences = [a for a in absences if a.covers(day)] if absences else []
        schedule_json, schedule_digest = inputs.schedule_forms(schedule)
        if day_punches or day_absences or day_activities:
            inputs_hash = day_digest(
                day_punches, schedule_digest, holiday, day_absences, day_activities, policy.id, policy.version
            )
        else:  # a bare day (weekend, TK): the same for everyone on this schedule, hashed once
            inputs_hash = inputs.bare_digest(schedule_digest, holiday, policy)
        out.append(
            _DayInputs(
                day,
                iso,
                schedule,
                policy,
                day_punches,
                holiday,
                day_absences,
                day_activities,
                inputs_hash,
                schedule_json,
                schedule_digest,
            )
        )
    return out, skipped


def _evaluated(nip: str, d: _DayInputs) -> AttendanceDay:
    return evaluate_day(
        nip, d.schedule, d.policy, d.punches, holiday=d.holiday, absences=d.absences, activities=d.activities
    )


def evaluate(inputs: Inputs, nip: str, first: date, last: date) -> tuple[list[tuple[AttendanceDay, str]], int]:
    """The employee's evaluated days in [first, last] with each day's inputs hash, and how many were skipped."""
    days, skipped = _day_inputs(inputs, nip, first, last)
    return [(_evaluated(nip, d), d.inputs_hash) for d in days], skipped


class DayRow(NamedTuple):
    """One computed day in the form both drivers take: dates, times and the percent as text (SQLAlchemy's
    SQLite forms, which PostgreSQL casts), ``result`` the JSON text. Workers send them as plain tuples in
    this field order (a named tuple pickles several times slower); ``version`` is decided when storing."""

    nip: str
    day: str  # YYYY-MM-DD
    status: str
    check_in: str | None  # YYYY-MM-DD HH:MM:SS.ffffff
    check_out: str | None
    minutes_late: int
    minutes_early: int
    codes: str | None
    deduction_percent: str
    policy_id: str
    policy_version: int
    result: str
    inputs_hash: str
    findings: str  # the result's findings, space-separated (the exceptions queue's filter)


Key = tuple[str, str]  # (nip, YYYY-MM-DD)


@dataclass
class Computed:
    """What evaluating a batch gives: the rows whose inputs changed (or are new) and the counts."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)  # DayRow fields
    employees: int = 0
    days: int = 0
    unchanged: int = 0  # same inputs hash as stored: not evaluated at all
    skipped: int = 0
    punches: int = 0


def stored_time(iso: str | None) -> str | None:
    """The stored text of a naive time (``YYYY-MM-DD HH:MM:SS.ffffff``, as ``isoformat(" ", "microseconds")``)
    from the result's ISO form, which leaves out zero microseconds: no second formatting of the datetime."""
    return None if iso is None else f"{iso[:10]} {iso[11:19]}.{iso[20:26] or '000000'}"


def _row(nip: str, day: AttendanceDay, result: dict[str, Any], inputs_hash: str) -> tuple[Any, ...]:
    return (
        nip,
        result["day"],
        result["status"],
        stored_time(result["check_in"]),
        stored_time(result["check_out"]),
        day.minutes_late,
        day.minutes_early,
        result["code"],
        result["percent"],
        day.policy_id,
        day.policy_version,
        orjson.dumps(result).decode(),
        inputs_hash,
        " ".join(result["findings"]),
    )


def compute_batch(inputs: Inputs, nips: Sequence[str], first: date, last: date, known: dict[Key, str]) -> Computed:
    """Evaluate a batch (pure: no store access, so it can run in a worker process). A day whose inputs hash
    equals the stored one (``known``) is not evaluated: the engine is pure, so its result is the stored one.
    Days with no punch, absence or activity (weekends, TK) have the same inputs for every employee sharing the
    schedule, so they are evaluated once and only the NIP differs."""
    out = Computed(punches=inputs.punch_count())
    # Bare days' results by (schedule digest, holiday, policy): the JSON after the NIP (``nip`` is its first key)
    # and the columns.
    bare: dict[tuple[str, Holiday | None, str, int], tuple[str, tuple[Any, ...], str]] = {}
    for nip in nips:
        if nip not in inputs.employees:
            continue
        out.employees += 1
        days, skipped = _day_inputs(inputs, nip, first, last)
        out.skipped += skipped
        out.days += len(days)
        for d in days:
            if known.get((nip, d.iso)) == d.inputs_hash:
                out.unchanged += 1
                continue
            if d.punches or d.absences or d.activities:
                day = _evaluated(nip, d)
                out.rows.append(_row(nip, day, day_result(day, d.schedule_json), d.inputs_hash))
                continue
            key = (d.schedule_digest, d.holiday, d.policy.id, d.policy.version)
            template = bare.get(key)
            if template is None:
                day = _evaluated(nip, d)
                result = day_result(day, d.schedule_json)
                row = _row(nip, day, result, d.inputs_hash)
                out.rows.append(row)
                after_nip = orjson.dumps({k: v for k, v in result.items() if k != "nip"}).decode()[1:]
                bare[key] = (after_nip, row[1:11], row[13])
                continue
            # check_in / check_out are None without punches; only the NIP differs from the template.
            after_nip, columns, findings = template
            result_text = f'{{"nip":{orjson.dumps(nip).decode()},{after_nip}'
            out.rows.append((nip, *columns, result_text, d.inputs_hash, findings))
    return out


async def stored_versions(
    session: AsyncSession, nips: Sequence[str], first: date, last: date
) -> dict[Key, tuple[int, str]]:
    """(nip, day) -> (version, inputs hash) of the stored days: no results loaded, most days are unchanged."""
    connection = await session.connection()
    # The day as YYYY-MM-DD text from the store (to_char: PostgreSQL's cast would follow DateStyle): no date
    # object per stored day.
    day = (
        cast(AttendanceDayRow.day, String)
        if connection.dialect.name == "sqlite"
        else func.to_char(AttendanceDayRow.day, "YYYY-MM-DD")
    )
    columns = (AttendanceDayRow.nip, day, AttendanceDayRow.version, AttendanceDayRow.inputs_hash)
    rows = await connection.execute(_days_of(connection, nips, first, last, columns))
    return {(nip, day): (version, inputs_hash) for nip, day, version, inputs_hash in rows.all()}


def _days_of(connection: AsyncConnection, nips: Collection[str], first: date, last: date, columns: Any) -> Any:
    """``SELECT columns FROM attendance_days`` for ``nips``' days in [first, last].

    PostgreSQL looks each NIP up in the primary key (LATERAL, as for punches): with the statistics of a table
    that a recompute is filling (taken when it was small, or never with autovacuum off), its planner believed
    the month's range in the ``day`` index to be selective and scanned the whole month of everyone's days for
    every batch, so a first recompute of 50,000 employees grew quadratically (issue 5)."""
    query = select(*columns).where(AttendanceDayRow.day.between(first, last))
    if connection.dialect.name != "postgresql":
        return query.where(AttendanceDayRow.nip.in_(nips))
    wanted = select(func.unnest(cast(list(nips), ARRAY(String))).label("nip")).subquery("wanted")
    found = query.where(AttendanceDayRow.nip == wanted.c.nip).offset(0).lateral("found")
    return select(*found.c).select_from(wanted.join(found, true()))


async def store_computed(
    session: AsyncSession, computed: Computed, stored: dict[Key, tuple[int, str]], first: date, last: date
) -> RecomputeStats:
    """Write a computed batch in the caller's transaction: new days inserted at version 1, days whose result
    changed upserted at version + 1, days with new inputs but the same result get only the new hash."""
    stats = RecomputeStats(
        employees=computed.employees,
        days=computed.days,
        unchanged=computed.unchanged,
        skipped=computed.skipped,
        punches=computed.punches,
    )
    now = datetime.now(UTC)
    new = [r for r in computed.rows if (r[0], r[1]) not in stored]
    copied: bool | None = False
    if new and (copied := await _copy_new_days(session, new)) is None:
        # Another process stored some of these days after this batch read the store: read them again, and
        # those days become days whose inputs changed.
        stored = {**stored, **await stored_versions(session, sorted({r[0] for r in new}), first, last)}
        new = [r for r in computed.rows if (r[0], r[1]) not in stored]
    again = [DayRow._make(r) for r in computed.rows if (r[0], r[1]) in stored]
    changed: list[tuple[DayRow, int]] = []
    same_result: list[DayRow] = []
    if again:
        # Only days whose inputs changed reach here; their stored results decide between a new version and
        # just a new hash (e.g. a repeated punch inside the double-press window changes nothing).
        connection = await session.connection()
        columns = (AttendanceDayRow.nip, AttendanceDayRow.day, AttendanceDayRow.result)
        results = await connection.execute(_days_of(connection, sorted({r.nip for r in again}), first, last, columns))
        previous = {(nip, day.isoformat()): result for nip, day, result in results.all()}
        for r in again:
            if previous.get((r.nip, r.day)) == orjson.loads(r.result):
                same_result.append(r)
            else:
                changed.append((r, stored[(r.nip, r.day)][0] + 1))
    written: list[tuple[Sequence[Any], int]] = [] if copied else [(r, 1) for r in new]
    written += changed
    await _upsert_days(await session.connection(), written, now)
    # Same transaction: a committed day never misses the e-Kinerja feed, a rolled-back one is never fed.
    await outbox.enqueue_written(session, [(r[0], r[1], v) for r, v in written])
    if same_result:
        await session.execute(
            update(AttendanceDayRow),
            [
                {"nip": r.nip, "day": date.fromisoformat(r.day), "inputs_hash": r.inputs_hash, "computed_at": now}
                for r in same_result
            ],
        )
    _expire_loaded_days(session)
    stats.inserted, stats.changed, stats.unchanged = len(new), len(changed), stats.unchanged + len(same_result)
    return stats


def _expire_loaded_days(session: AsyncSession) -> None:
    """Rows are written below the ORM: day objects a caller already loaded (a correction's before-snapshot)
    would otherwise keep their old values for the rest of the session."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, AttendanceDayRow):
            session.expire(obj)


DAY_COLUMNS = (*DayRow._fields, "version", "computed_at")
_UPDATE = ", ".join(f"{c} = excluded.{c}" for c in DAY_COLUMNS if c not in ("nip", "day"))
SQLITE_UPSERT = (
    f"INSERT INTO attendance_days ({', '.join(DAY_COLUMNS)}) VALUES ({', '.join('?' * len(DAY_COLUMNS))}) "
    f"ON CONFLICT (nip, day) DO UPDATE SET {_UPDATE}"
)
_POSTGRES_CASTS = {
    "day": "date",
    "check_in": "timestamp",
    "check_out": "timestamp",
    "deduction_percent": "numeric",
}
_INTEGERS = {"minutes_late", "minutes_early", "policy_version", "version"}
POSTGRES_UPSERT = (
    f"INSERT INTO attendance_days ({', '.join(DAY_COLUMNS)}) "
    f"SELECT {', '.join(f'{c}::{_POSTGRES_CASTS[c]}' if c in _POSTGRES_CASTS else c for c in DAY_COLUMNS)} "
    "FROM unnest("
    + ", ".join(
        f"${n}::{'int' if c in _INTEGERS else 'timestamptz' if c == 'computed_at' else 'text'}[]"
        for n, c in enumerate(DAY_COLUMNS, start=1)
    )
    + f") AS t({', '.join(DAY_COLUMNS)}) ON CONFLICT (nip, day) DO UPDATE SET {_UPDATE}"
)


async def _copy_new_days(session: AsyncSession, rows: Sequence[tuple[Any, ...]]) -> bool | None:
    """PostgreSQL: insert days that were not stored (version 1) and queue their feed records by COPY, which
    costs the server about half of the ``unnest`` upsert; True when done, False on SQLite. In a savepoint: if
    another process stored one of these days since this batch read the store, nothing is kept (None).
    ``computed_at`` is left to the column's default, ``now()`` (migration 0009): encoding one aware timestamp a
    row cost the client more than the rest of the row's numbers and dates."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return False
    from asyncpg.exceptions import UniqueViolationError

    raw: Any = (await connection.get_raw_connection()).driver_connection  # asyncpg's, in this transaction
    parse = datetime.fromisoformat
    records = [
        (nip, date.fromisoformat(day), status, check_in and parse(check_in), check_out and parse(check_out),
         late, early, codes, Decimal(percent), policy_id, policy_version, result, inputs_hash, findings, 1)
        for nip, day, status, check_in, check_out, late, early, codes, percent, policy_id, policy_version, result,
        inputs_hash, findings in rows
    ]  # fmt: skip
    try:
        async with connection.begin_nested():
            await raw.copy_records_to_table("attendance_days", records=records, columns=DAY_COLUMNS[:-1])
            await outbox.copy_first_versions(session, raw, [(r[0], r[1]) for r in rows])
    except UniqueViolationError:
        return None
    return True


async def _upsert_days(connection: AsyncConnection, rows: Sequence[tuple[Sequence[Any], int]], now: datetime) -> None:
    """One driver-level statement per batch, in the forms the ORM reads back (see ``hub.store.types``):
    PostgreSQL gets one array per column through ``unnest``, SQLite an ``executemany`` (it stores the
    percent text as a number by the column's NUMERIC affinity, as it stores SQLAlchemy's float)."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        columns = [list(c) for c in zip(*(r for r, _ in rows), strict=True)]
        await connection.exec_driver_sql(POSTGRES_UPSERT, (*columns, [v for _, v in rows], [now] * len(rows)))
        return
    stamp = now.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")  # as UtcDateTime writes it
    await connection.exec_driver_sql(SQLITE_UPSERT, [(*r, version, stamp) for r, version in rows])


async def recompute(session: AsyncSession, nips: Sequence[str], first: date, last: date) -> RecomputeStats:
    """Recompute and store ``nips``' days in [first, last]; the caller commits."""
    started = clock.perf_counter()
    inputs = await load_inputs(session, nips, first, last)
    if not inputs.policies:
        raise NoPolicy("no active allowance policy: upload and activate one first")
    stored = await stored_versions(session, nips, first, last)
    # In a thread: a batch is up to a second of CPU, and the caller's event loop may be the API's (which also
    # serves ingest in `hub run`).
    known = {k: h for k, (_, h) in stored.items()}
    computed = await asyncio.to_thread(compute_batch, inputs, nips, first, last, known)
    stats = await store_computed(session, computed, stored, first, last)
    stats.seconds = clock.perf_counter() - started
    return stats


async def employees_in(session: AsyncSession, unit_code: str | None = None) -> list[str]:
    query = select(Employee.nip).order_by(Employee.nip)
    if unit_code is not None:
        query = query.where(Employee.unit_id.in_(await subtree_ids(session, unit_code)))
    return list((await session.execute(query)).scalars().all())


def default_workers() -> int:
    """Worker processes for a large recompute: one per core, at most ``MAX_WORKERS``."""
    return min(MAX_WORKERS, os.cpu_count() or 1)


async def recompute_range(
    session: AsyncSession,
    first: date,
    last: date,
    *,
    unit_code: str | None = None,
    nips: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> RecomputeStats:
    """Recompute every employee (or a unit subtree, or ``nips``) for [first, last], committing per batch.

    ``session`` commits first; each batch is then read in one transaction and stored in another
    (``read_batch``, ``store_batch``: read again if another process stored its days in between). With more than
    one batch and ``workers`` > 1 (default: ``default_workers()``), worker processes do this, each on its own
    connection to the same store; otherwise this process does, one batch after another. An in-memory SQLite
    store, which no other process can open, is recomputed in ``session``'s transaction, batch by batch."""
    chosen = list(nips) if nips is not None else await employees_in(session, unit_code)
    batches = [chosen[start : start + CHUNK] for start in range(0, len(chosen), CHUNK)]
    workers = default_workers() if workers is None else workers
    engine = session.bind if isinstance(session.bind, AsyncEngine) else None
    database = settings_of(engine) if engine is not None else None
    total = RecomputeStats()
    done = 0

    async def finished(batch: Sequence[str], stats: RecomputeStats) -> None:
        nonlocal done
        total.add(stats)
        await session.commit()
        done += len(batch)
        if progress is not None:
            progress(done, len(chosen))

    if engine is None or database is None or not shared_store(database):
        for batch in batches:  # an in-memory store: no other process can write between read and store
            await finished(batch, await recompute(session, batch, first, last))
    elif workers < 2 or len(batches) < 2:
        await session.commit()
        for batch in batches:
            read = await read_batch(engine, batch, first, last, in_thread=True)
            await finished(batch, await store_batch(engine, contextlib.nullcontext(), read))
        _expire_loaded_days(session)
    else:
        await session.commit()
        await _recompute_in_workers(database, batches, first, last, min(workers, len(batches)), finished)
        _expire_loaded_days(session)
    if progress is not None and not chosen:
        progress(0, 0)
    return total


async def _recompute_in_workers(
    database: DatabaseSettings,
    batches: Sequence[Sequence[str]],
    first: date,
    last: date,
    workers: int,
    finished: Callable[[Sequence[str], RecomputeStats], Awaitable[None]],
) -> None:
    """Hand every batch to a pool of ``workers`` processes; report each as it is committed. This process only
    waits: a batch's rows never cross a process boundary (pickling a month of results cost as much as storing
    it), and no single process serialises the loading and storing of every batch."""
    loop = asyncio.get_running_loop()
    with worker_pool(database, workers) as pool:

        async def run(batch: Sequence[str]) -> tuple[Sequence[str], RecomputeStats]:
            return batch, await loop.run_in_executor(pool, _worker_batch, list(batch), first, last)

        tasks = [asyncio.ensure_future(run(batch)) for batch in batches]
        try:
            for next_done in asyncio.as_completed(tasks):
                await finished(*await next_done)
        finally:
            for task in tasks:
                task.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            await asyncio.gather(*tasks, return_exceptions=True)


def worker_pool(database: DatabaseSettings, workers: int) -> ProcessPoolExecutor:
    """Worker processes (spawned, not forked: the caller's event loop and connections stay behind), each with its
    own engine on ``database`` and event loop (``worker_runtime``), and a lock shared among them for SQLite's
    writes."""
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_worker_start,
        initargs=(database.model_dump(by_alias=True), context.Lock()),
    )


def worker_runtime() -> tuple[asyncio.AbstractEventLoop, AsyncEngine, Any]:
    """In a ``worker_pool`` process: its event loop, engine and the shared write lock."""
    assert _worker is not None, "started by _worker_start"
    return _worker


# --- in a worker process: one engine and one event loop for the process's life --------------------------------

_worker: tuple[asyncio.AbstractEventLoop, AsyncEngine, Any] | None = None


def _worker_start(database: dict[str, Any], write_lock: Any) -> None:
    global _worker
    loop = asyncio.new_event_loop()
    engine = create_engine(DatabaseSettings.model_validate(database))
    _worker = (loop, engine, write_lock)
    # A batch allocates a few hundred thousand short-lived objects (punches, days, rows) and no cycles: the
    # collector's default pace (every 700 allocations) spent a tenth of the loading on finding nothing.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    atexit.register(lambda: loop.run_until_complete(engine.dispose()))


def _worker_batch(nips: list[str], first: date, last: date) -> RecomputeStats:
    loop, engine, write_lock = worker_runtime()
    return loop.run_until_complete(_recompute_batch(engine, write_lock, nips, first, last))


class BatchRead(NamedTuple):
    """What a batch computed from the store as it read it, the stored versions it compared against, and what it
    was asked for (a batch that must read again reads the same)."""

    nips: Sequence[str]
    first: date
    last: date
    in_thread: bool
    computed: Computed
    stored: dict[Key, tuple[int, str]]
    seconds: float


async def _recompute_batch(
    engine: AsyncEngine, write_lock: Any, nips: Sequence[str], first: date, last: date
) -> RecomputeStats:
    """One batch in its own transactions: read and evaluate, then store and commit under the write lock.

    On SQLite a transaction that read before another process committed cannot write any more (WAL's snapshot
    rule, no busy wait helps), so the reads end before the evaluation and the workers take turns to write."""
    return await store_batch(engine, write_lock, await read_batch(engine, nips, first, last), lazy_commit=True)


async def read_batch(
    engine: AsyncEngine, nips: Sequence[str], first: date, last: date, *, in_thread: bool = False
) -> BatchRead:
    """Load ``nips``' inputs and stored versions in a read transaction (ended at once), then evaluate them
    (``in_thread``: off the event loop, which may be the API's; a worker process has nothing else to serve)."""
    started = clock.perf_counter()
    async with session_factory(engine)() as session:
        inputs = await load_inputs(session, nips, first, last)
        if not inputs.policies:
            raise NoPolicy("no active allowance policy: upload and activate one first")
        stored = await stored_versions(session, nips, first, last)
        await session.rollback()
    known = {k: h for k, (_, h) in stored.items()}
    if in_thread:
        computed = await asyncio.to_thread(compute_batch, inputs, nips, first, last, known)
    else:
        computed = compute_batch(inputs, nips, first, last, known)
    return BatchRead(nips, first, last, in_thread, computed, stored, clock.perf_counter() - started)


STORE_ATTEMPTS = 3


async def store_batch(
    engine: AsyncEngine, write_lock: Any, read: BatchRead, *, lazy_commit: bool = False
) -> RecomputeStats:
    """Store and commit what ``read`` computed; if another process stored some of these days after the batch
    read the store (an operator's correction beside a bulk recompute, say), the versions and feed records the
    batch meant to write are taken: its transaction rolls back, and the batch is read and evaluated again.

    ``lazy_commit`` (a worker process's own connections only: SQLite's pragma stays with the connection, and the
    hub's others carry ingest's commits, which must be on disk before their acks): the store transaction commits
    without waiting for the disk (SQLite ``synchronous=NORMAL``, PostgreSQL ``synchronous_commit = off``). A
    computed day is derived data, and a commit lost to a power cut loses the day and its feed record together,
    both recomputed later (never one without the other)."""
    sqlite = engine.dialect.name == "sqlite"
    spent, attempt = 0.0, 0
    while True:
        attempt += 1
        started = clock.perf_counter()
        try:
            async with session_factory(engine)() as session:
                if sqlite and lazy_commit:
                    await session.execute(text("PRAGMA synchronous=NORMAL"))
                    await session.commit()
                with write_lock if sqlite else contextlib.nullcontext():
                    if not sqlite and lazy_commit:
                        await session.execute(text("SET LOCAL synchronous_commit = off"))
                    stats = await store_computed(session, read.computed, read.stored, read.first, read.last)
                    await session.commit()
        except IntegrityError as exc:
            if attempt == STORE_ATTEMPTS:
                raise
            log.info(
                "recompute batch of %d employees: days stored meanwhile by another process (%s); reading again",
                len(read.nips),
                str(exc.orig).splitlines()[0],
            )
            spent += read.seconds + clock.perf_counter() - started
            read = await read_batch(engine, read.nips, read.first, read.last, in_thread=read.in_thread)
            continue
        stats.seconds = spent + read.seconds + clock.perf_counter() - started
        return stats


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
