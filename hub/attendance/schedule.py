"""Schedule groups as data: which hours an employee is expected to work on a given date, and where.

A group has a base pattern (a weekly table or a shift rotation) plus date-ranged overrides such as Ramadan.
Units are assigned groups by date range; an employee can have their own exceptions, which win. All local
times are wall-clock times in the unit's IANA zone (terminals keep naive local time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class WorkPeriod:
    """One working period on one day. ``end <= start`` means the period ends on the next calendar day."""

    start: time
    end: time
    break_minutes: int = 0

    def __post_init__(self) -> None:
        if self.break_minutes < 0 or self.break_minutes >= self.span_minutes:
            raise ValueError(f"break of {self.break_minutes} min does not fit in {self.start}-{self.end}")

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    @cached_property
    def span_minutes(self) -> int:
        minutes = _minutes_of(self.end) - _minutes_of(self.start)
        return minutes + MINUTES_PER_DAY if minutes <= 0 else minutes

    @property
    def working_minutes(self) -> int:
        return self.span_minutes - self.break_minutes

    def starts_at(self, day: date) -> datetime:
        return datetime.combine(day, self.start)

    def ends_at(self, day: date) -> datetime:
        return self.starts_at(day) + timedelta(minutes=self.span_minutes)


def _minutes_of(t: time) -> int:
    return t.hour * 60 + t.minute


@dataclass(frozen=True)
class PunchWindows:
    """Where a punch may count: check-in from ``check_in_opens_before_start`` minutes before the start until
    the end; check-out from the start until ``check_out_closes_after_end`` minutes after the end. Punches
    closer together than ``double_punch_minutes`` are one press repeated, not an in and an out."""

    check_in_opens_before_start: int = 180
    check_out_closes_after_end: int = 360
    double_punch_minutes: int = 5

    def __post_init__(self) -> None:
        if min(self.check_in_opens_before_start, self.check_out_closes_after_end, self.double_punch_minutes) < 0:
            raise ValueError("punch window minutes must be >= 0")


@dataclass(frozen=True)
class WeeklyPattern:
    """A period (or none) for each weekday, Monday first."""

    days: tuple[WorkPeriod | None, ...]

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise ValueError("a weekly pattern has exactly 7 days, Monday first")

    def period_on(self, day: date) -> WorkPeriod | None:
        return self.days[day.weekday()]

    @property
    def weekly_minutes(self) -> int:
        return sum(p.working_minutes for p in self.days if p is not None)


@dataclass(frozen=True)
class ShiftRotation:
    """A repeating cycle of shifts (``None`` = day off) counted from ``anchor``, e.g. pagi, siang, malam, off, off."""

    anchor: date
    cycle: tuple[WorkPeriod | None, ...]

    def __post_init__(self) -> None:
        if not self.cycle:
            raise ValueError("a shift rotation needs at least one day")

    def period_on(self, day: date) -> WorkPeriod | None:
        return self.cycle[(day - self.anchor).days % len(self.cycle)]


Pattern = WeeklyPattern | ShiftRotation


@dataclass(frozen=True)
class DateOverride:
    """Replaces a group's pattern for ``first``..``last`` inclusive (Ramadan, an event week)."""

    name: str
    first: date
    last: date
    pattern: Pattern

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"override {self.name!r} ends before it starts")

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last


@dataclass(frozen=True)
class ScheduleGroup:
    code: str
    pattern: Pattern
    overrides: tuple[DateOverride, ...] = ()
    windows: PunchWindows = field(default_factory=PunchWindows)
    works_on_holidays: bool = False  # hospitals, fire brigades: a holiday does not cancel the shift

    def resolve(self, day: date) -> tuple[WorkPeriod | None, str | None]:
        """The period for ``day`` and the name of the override that produced it (the last listed one wins)."""
        for override in reversed(self.overrides):
            if override.covers(day):
                return override.pattern.period_on(day), override.name
        return self.pattern.period_on(day), None


@dataclass(frozen=True)
class GroupAssignment:
    """A group assigned for ``valid_from``..``valid_to`` inclusive; ``None`` bounds are open."""

    group: ScheduleGroup
    valid_from: date | None = None
    valid_to: date | None = None

    def covers(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class UnitAssignment:
    unit_code: str
    zone: str
    assignments: tuple[GroupAssignment, ...]

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unit {self.unit_code}: unknown IANA zone {self.zone!r}") from exc


@dataclass(frozen=True)
class EmployeeAssignment:
    """Per-employee exceptions to the unit's schedule (a guard on shifts in an office unit)."""

    nip: str
    exceptions: tuple[GroupAssignment, ...] = ()


@dataclass(frozen=True)
class DaySchedule:
    """What was expected of one employee on one date. ``period is None``: not a working day."""

    day: date
    zone: str
    group_code: str
    period: WorkPeriod | None
    windows: PunchWindows
    works_on_holidays: bool = False
    override: str | None = None
    source: str = "unit"  # or "employee": the exception that applied

    @property
    def is_working_day(self) -> bool:
        return self.period is not None

    @cached_property
    def bounds(self) -> Bounds | None:
        """Start, end and the window limits as local datetimes, or None on a day off."""
        if self.period is None:
            return None
        starts, ends = self.period.starts_at(self.day), self.period.ends_at(self.day)
        return Bounds(
            starts=starts,
            ends=ends,
            check_in_opens=starts - timedelta(minutes=self.windows.check_in_opens_before_start),
            check_out_closes=ends + timedelta(minutes=self.windows.check_out_closes_after_end),
        )

    @property
    def starts_at(self) -> datetime | None:
        return None if self.period is None else self.period.starts_at(self.day)

    @property
    def ends_at(self) -> datetime | None:
        return None if self.period is None else self.period.ends_at(self.day)

    def check_in_window(self) -> tuple[datetime, datetime] | None:
        b = self.bounds
        return None if b is None else (b.check_in_opens, b.ends)

    def check_out_window(self) -> tuple[datetime, datetime] | None:
        b = self.bounds
        return None if b is None else (b.starts, b.check_out_closes)

    def punch_window(self) -> tuple[datetime, datetime] | None:
        """The union of both windows: any punch outside it is not this day's."""
        b = self.bounds
        return None if b is None else (b.check_in_opens, b.check_out_closes)


@dataclass(frozen=True)
class Bounds:
    """One working day's limits: check-in is accepted in [check_in_opens, ends], check-out in
    [starts, check_out_closes]."""

    starts: datetime
    ends: datetime
    check_in_opens: datetime
    check_out_closes: datetime


def _first_covering(assignments: tuple[GroupAssignment, ...], day: date) -> GroupAssignment | None:
    # The last listed assignment wins, so a newer row appended by the store overrides an older open-ended one.
    for assignment in reversed(assignments):
        if assignment.covers(day):
            return assignment
    return None


def schedule_for(employee: EmployeeAssignment | None, unit: UnitAssignment, day: date) -> DaySchedule:
    """The schedule that applies to an employee of ``unit`` on ``day``: their own exception if one covers the
    date, else the unit's group. Raises ``LookupError`` when the unit has no group for the date."""
    source = "employee"
    chosen = _first_covering(employee.exceptions, day) if employee is not None else None
    if chosen is None:
        source, chosen = "unit", _first_covering(unit.assignments, day)
    if chosen is None:
        raise LookupError(f"unit {unit.unit_code} has no schedule group on {day.isoformat()}")
    period, override = chosen.group.resolve(day)
    return DaySchedule(
        day=day,
        zone=unit.zone,
        group_code=chosen.group.code,
        period=period,
        windows=chosen.group.windows,
        works_on_holidays=chosen.group.works_on_holidays,
        override=override,
        source=source,
    )


def fixed_week(workdays: dict[int, WorkPeriod]) -> WeeklyPattern:
    """A weekly pattern from ``{weekday: period}`` (0 = Monday); the other days are off."""
    return WeeklyPattern(tuple(workdays.get(weekday) for weekday in range(7)))


# Perpres 21/2023: 37.5 h a week, start 07:30, break 60 min (Friday 90).
# Mon-Thu 8.5 h - 1 h = 7.5 h; Fri 9 h - 1.5 h = 7.5 h; 5 x 7.5 = 37.5 h.
_WEEKDAY = WorkPeriod(time(7, 30), time(16, 0), break_minutes=60)
_FRIDAY = WorkPeriod(time(7, 30), time(16, 30), break_minutes=90)
NATIONAL_FIVE_DAY = fixed_week({0: _WEEKDAY, 1: _WEEKDAY, 2: _WEEKDAY, 3: _WEEKDAY, 4: _FRIDAY})

# An example six-day week keeping 37.5 h: Mon-Thu and Sat 07:30-14:00 less 15 min (6.25 h), Fri 07:30-14:15
# less 30 min (6.25 h). Agencies set their own hours; this is a template, not a regulation.
_SIX_DAY = WorkPeriod(time(7, 30), time(14, 0), break_minutes=15)
_SIX_DAY_FRIDAY = WorkPeriod(time(7, 30), time(14, 15), break_minutes=30)
SIX_DAY = fixed_week({0: _SIX_DAY, 1: _SIX_DAY, 2: _SIX_DAY, 3: _SIX_DAY, 4: _SIX_DAY_FRIDAY, 5: _SIX_DAY})

# Ramadan: start 08:00, 32.5 h a week. Mon-Thu 08:00-15:00 less 30 min (6.5 h), Fri 08:00-15:30 less 60 min
# (6.5 h); 5 x 6.5 = 32.5 h. The exact daily split is set each year by the MenPANRB circular.
_RAMADAN = WorkPeriod(time(8, 0), time(15, 0), break_minutes=30)
_RAMADAN_FRIDAY = WorkPeriod(time(8, 0), time(15, 30), break_minutes=60)
RAMADAN_FIVE_DAY = fixed_week({0: _RAMADAN, 1: _RAMADAN, 2: _RAMADAN, 3: _RAMADAN, 4: _RAMADAN_FRIDAY})


def ramadan_override(first: date, last: date) -> DateOverride:
    return DateOverride(name="ramadan", first=first, last=last, pattern=RAMADAN_FIVE_DAY)
