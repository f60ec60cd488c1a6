"""The attendance day: one employee, one date, its schedule, punches, absence and activities, judged by a policy.

Pairing is by time, never by the status key staff pressed (people press the wrong key): the first usable punch
in the check-in window is the check-in, the last in the check-out window the check-out. Punches closer together
than the group's ``double_punch_minutes`` are one press repeated; such a single punch is a check-in if it is
nearer the start than the end, else a check-out (a tie goes to check-in). Punches the edge flagged, punches not
matched to an enrollment, and punches outside the windows are listed as exceptions and never used for times.

Minutes late and early count whole minutes only: 07:30:59 against a 07:30 start is 0 minutes late, 07:31:00 is 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from hub.attendance.absence import Absence, approved_absence_on
from hub.attendance.activity import Activity, ActivityStatus
from hub.attendance.calendar import Holiday
from hub.attendance.policy import TK, ClockTier, MinuteTier, Policy, clock_tier, early_tier, late_tier
from hub.attendance.schedule import DaySchedule


@dataclass(frozen=True)
class Punch:
    """A punch as attributed to an employee: ``local_time`` is naive wall time in the unit's zone."""

    key: str
    local_time: datetime
    status: int = 0  # the state key pressed; shown, never used to decide in or out
    flags: tuple[str, ...] = ()  # edge flags: clock_reset, future, before_install, clock_drift
    matched: bool = True  # False: the PIN had no enrollment, attributed by a provisional mapping

    @property
    def usable(self) -> bool:
        return self.matched and not self.flags


_new = object.__new__  # builds a frozen dataclass's object without its __init__ (see stored_punch, _day)


def stored_punch(key: str, local_time: datetime, status: int, flags: tuple[str, ...]) -> Punch:
    """A matched punch as the store holds it, built into its ``__dict__`` at once (a recompute builds two million;
    a test holds it equal to one built by ``__init__``)."""
    punch = _new(Punch)
    punch.__dict__.update(key=key, local_time=local_time, status=status, flags=flags, matched=True)
    return punch


class DayStatus(StrEnum):
    PRESENT = "present"  # at least one usable punch (possibly with TL/PSW)
    TK = "tk"  # tanpa keterangan: a working day without presence or excuse
    EXCUSED = "excused"  # an approved absence covers the day
    HOLIDAY = "holiday"
    OFF = "off"  # not a working day of the schedule


WORKING_STATUSES = frozenset({DayStatus.PRESENT, DayStatus.TK, DayStatus.EXCUSED})


class ExceptionReason(StrEnum):
    FLAGGED = "flagged"
    UNMATCHED = "unmatched"
    OUTSIDE_WINDOW = "outside_window"
    NOT_A_WORKING_DAY = "not_a_working_day"


@dataclass(frozen=True)
class PunchException:
    punch: Punch
    reason: ExceptionReason
    detail: str


class Finding(StrEnum):
    """Reconciliation of presence with the activities logged (rejected activities are ignored)."""

    ACTIVITY_WHILE_ABSENT = "activity_while_absent"
    ACTIVITY_OUTSIDE_PRESENCE = "activity_outside_presence"
    PRESENCE_WITHOUT_ACTIVITY = "presence_without_activity"
    ACTIVITY_BEYOND_PRESENCE = "activity_beyond_presence"


@dataclass(frozen=True)
class DayDeduction:
    """One reason the day costs something. ``percent`` is of the discipline part (method ``deduction``) or of
    the day's share of it (method ``daily_value``); a cap appears as a negative line so the sum is the total."""

    code: str
    percent: Decimal
    rule: str


_ZERO = Decimal(0)


@dataclass(frozen=True)
class AttendanceDay:
    nip: str
    day: date
    status: DayStatus
    policy_id: str
    policy_version: int
    schedule: DaySchedule
    holiday: str | None = None
    absence_code: str | None = None
    check_in: datetime | None = None
    check_out: datetime | None = None
    minutes_late: int = 0
    minutes_early: int = 0
    late_code: str | None = None  # TL1-TL4 or a clock-window tier
    early_code: str | None = None  # PSW1-PSW4
    missing_check_in: bool = False
    missing_check_out: bool = False
    deductions: tuple[DayDeduction, ...] = ()
    presence_minutes: int = 0
    activity_minutes: int = 0  # time covered by logged (non-rejected) activities, overlaps counted once
    activity_value_minutes: int = 0  # sum of norm x volume of approved activities
    effective_minutes: int = 0  # activity time inside the presence window (all of it on DL / tugas belajar)
    findings: tuple[Finding, ...] = ()
    exceptions: tuple[PunchException, ...] = ()

    @property
    def is_working_day(self) -> bool:
        return self.status in WORKING_STATUSES

    @property
    def percent(self) -> Decimal:
        return sum((d.percent for d in self.deductions), _ZERO) if self.deductions else _ZERO

    @property
    def code(self) -> str | None:
        """The one code a feed record carries: the absence, TK, or the tiers joined (``TL2+PSW1``)."""
        if self.status is DayStatus.TK:
            return TK
        if self.status is DayStatus.EXCUSED:
            return self.absence_code
        return "+".join(c for c in (self.late_code, self.early_code) if c) or None


# --- punches ----------------------------------------------------------------------------------------------


def _distance(schedule: DaySchedule, moment: datetime) -> tuple[timedelta, date]:
    b = schedule.bounds
    assert b is not None  # only working days have a window to hold a punch
    return min(abs(moment - b.starts), abs(moment - b.ends)), schedule.day


class PunchWindows:
    """Each schedule's punch window, and which windows may hold a punch on a calendar date. Built once per set of
    schedules: a recompute attributes a month of punches for every employee of a unit against the same set."""

    def __init__(self, schedules: Iterable[DaySchedule]) -> None:
        self._windows = {s.day: (s, *window) for s in schedules if (window := s.punch_window()) is not None}
        self._nearby: dict[date, list[tuple[DaySchedule, datetime, datetime]]] = {}

    def near(self, on: date) -> list[tuple[DaySchedule, datetime, datetime]]:
        """The windows that reach into the calendar date ``on`` (of the day itself, the day before and after)."""
        found = self._nearby.get(on)
        if found is None:
            midnight = datetime.combine(on, time())
            found = self._nearby[on] = [
                w
                for shift in _NEARBY
                if (w := self._windows.get(on + shift)) is not None and w[1] < midnight + _DAY and w[2] >= midnight
            ]
        return found


def attribute_punches(
    punches: Iterable[Punch], schedules: Sequence[DaySchedule] | PunchWindows
) -> dict[date, tuple[Punch, ...]]:
    """Which attendance day each punch belongs to: the day whose punch window holds it (the overnight shift's
    06:00 check-out belongs to the day before); if two windows hold it, the day with the nearer start or end.
    A punch in no window goes to its calendar date, where ``evaluate_day`` lists it as an exception.
    Windows are assumed to reach at most one calendar day beyond their schedule's date."""
    windows = schedules if isinstance(schedules, PunchWindows) else PunchWindows(schedules)
    days: dict[date, list[Punch]] = {}
    for punch in sorted(punches, key=_time_and_key):
        moment = punch.local_time
        on = moment.date()
        candidates = windows.near(on)
        if len(candidates) == 1:  # most dates: one window reaches into them
            schedule, opens, closes = candidates[0]
            target = schedule.day if opens <= moment <= closes else on
        else:
            target = _holder(candidates, moment, on)
        found = days.get(target)
        if found is None:
            days[target] = [punch]
        else:
            found.append(punch)
    return {day: tuple(found) for day, found in days.items()}


def _holder(candidates: list[tuple[DaySchedule, datetime, datetime]], moment: datetime, on: date) -> date:
    holding = [s for s, opens, closes in candidates if opens <= moment <= closes]
    if not holding:
        return on
    if len(holding) == 1:
        return holding[0].day
    return min(holding, key=lambda s: _distance(s, moment)).day


def _time_and_key(punch: Punch) -> tuple[datetime, str]:
    return punch.local_time, punch.key


_NEARBY = (timedelta(days=-1), timedelta(0), timedelta(days=1))
_DAY = timedelta(days=1)


class _Pairing(NamedTuple):  # internal, built per day: a tuple is the cheapest immutable record
    check_in: Punch | None
    check_out: Punch | None
    exceptions: tuple[PunchException, ...]


def _triage(punches: Iterable[Punch]) -> tuple[list[Punch], list[PunchException]]:
    usable: list[Punch] = []
    exceptions: list[PunchException] = []
    for punch in sorted(punches, key=_time_and_key):
        if punch.flags:
            exceptions.append(PunchException(punch, ExceptionReason.FLAGGED, ",".join(punch.flags)))
        elif not punch.matched:
            exceptions.append(PunchException(punch, ExceptionReason.UNMATCHED, "PIN not enrolled for this date"))
        else:
            usable.append(punch)
    return usable, exceptions


def pair_punches(schedule: DaySchedule, usable: Sequence[Punch]) -> _Pairing:
    """Check-in and check-out by time (see the module docstring); ``usable`` must be sorted by time."""
    b = schedule.bounds
    inside: list[Punch] = []
    outside: list[PunchException] = []
    for p in usable:
        if b is not None and b.check_in_opens <= p.local_time <= b.check_out_closes:
            inside.append(p)
        else:
            outside.append(
                PunchException(p, ExceptionReason.OUTSIDE_WINDOW, "outside the check-in and check-out windows")
            )
    if b is None or not inside:
        return _Pairing(None, None, tuple(outside))
    first, last = inside[0], inside[-1]
    if last.local_time - first.local_time <= timedelta(minutes=schedule.windows.double_punch_minutes):
        nearer_start = abs(first.local_time - b.starts) <= abs(last.local_time - b.ends)
        return _Pairing(first, None, tuple(outside)) if nearer_start else _Pairing(None, last, tuple(outside))
    # Both are inside the union of the windows; the check-in window closes at the end, the check-out one opens
    # at the start.
    check_in = first if first.local_time <= b.ends else None
    check_out = last if last.local_time >= b.starts else None
    return _Pairing(check_in, check_out, tuple(outside))


def _whole_minutes(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds()) // 60)


# --- tiers ------------------------------------------------------------------------------------------------


def _band(tier: MinuteTier) -> str:
    return f"{tier.from_minute}-{tier.to_minute} min" if tier.to_minute is not None else f">= {tier.from_minute} min"


def _clock_band(tier: ClockTier) -> str:
    upper = f" to before {tier.to_time.isoformat()}" if tier.to_time is not None else ""
    return f"check-in from {tier.from_time.isoformat()}{upper}"


@dataclass(frozen=True)
class _Side:
    """What one side of the day (arrival or leaving) costs: a tier, TK, or nothing."""

    code: str | None = None
    deduction: DayDeduction | None = None
    makes_tk: bool = False
    tk_rule: str = ""


_FREE = _Side()  # most days' arrival and leaving: shared, not built per day


def _missing_side(policy: Policy, code: str | None, what: str) -> _Side:
    if code is None:
        return _FREE
    if code == TK:
        return _Side(makes_tk=True, tk_rule=f"no {what} counts as TK")
    tier = policy.discipline.tier(code)
    assert tier is not None  # the policy validator checked the reference
    return _Side(code, DayDeduction(code, tier.percent, f"{code}: no {what} counts as {code}"))


def _arrival(policy: Policy, check_in: datetime | None, minutes_late: int) -> _Side:
    d = policy.discipline
    if check_in is None:
        return _missing_side(policy, d.missing_check_in, "check-in")
    if d.check_in_clock_tiers:
        clock = clock_tier(d, check_in.time())
        if clock is None:
            return _FREE
        if clock.absent:
            return _Side(clock.code, makes_tk=True, tk_rule=f"{clock.code}: {_clock_band(clock)} counts as TK")
        rule = f"{clock.code}: check-in {check_in.time().isoformat()}, {_clock_band(clock)}"
        return _Side(clock.code, DayDeduction(clock.code, clock.percent, rule))
    tier = late_tier(d, minutes_late) if minutes_late else None  # bands start at minute 1
    if tier is None:
        return _FREE
    return _Side(
        tier.code, DayDeduction(tier.code, tier.percent, f"{tier.code}: {minutes_late} min late ({_band(tier)})")
    )


def _leaving(policy: Policy, check_out: datetime | None, minutes_early: int) -> _Side:
    d = policy.discipline
    if check_out is None:
        return _missing_side(policy, d.missing_check_out, "check-out")
    tier = early_tier(d, minutes_early) if minutes_early else None
    if tier is None:
        return _FREE
    rule = f"{tier.code}: left {minutes_early} min early ({_band(tier)})"
    return _Side(tier.code, DayDeduction(tier.code, tier.percent, rule))


def _capped(policy: Policy, deductions: Sequence[DayDeduction]) -> tuple[DayDeduction, ...]:
    if not deductions:
        return ()
    cap = policy.discipline.daily_cap_percent
    total = sum((d.percent for d in deductions), Decimal(0))
    if cap is not None and total > cap:
        return (*deductions, DayDeduction("CAP_DAY", cap - total, f"daily cap {cap}%: {total}% reduced to {cap}%"))
    return tuple(deductions)


# --- activities -------------------------------------------------------------------------------------------


def _merged(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _overlap_minutes(intervals: Sequence[tuple[datetime, datetime]], window: tuple[datetime, datetime]) -> int:
    seconds = sum(max(0.0, (min(end, window[1]) - max(start, window[0])).total_seconds()) for start, end in intervals)
    return int(seconds) // 60


@dataclass(frozen=True)
class _Reconciliation:
    activity_minutes: int
    value_minutes: int
    effective_minutes: int
    findings: tuple[Finding, ...]


_NO_ACTIVITY = _Reconciliation(0, 0, 0, ())
_NO_ACTIVITY_WHILE_PRESENT = _Reconciliation(0, 0, 0, (Finding.PRESENCE_WITHOUT_ACTIVITY,))


def reconcile_activities(
    schedule: DaySchedule,
    status: DayStatus,
    absence: Absence | None,
    presence: tuple[datetime, datetime] | None,
    activities: Iterable[Activity],
) -> _Reconciliation:
    """Activity time against presence. ``presence`` is the check-in..check-out interval (with the schedule's
    start or end standing in for a missing punch)."""
    logged = [a for a in activities if a.day == schedule.day and a.status is not ActivityStatus.REJECTED]
    if not logged:  # the common case when activities live in e-Kinerja: skip the interval arithmetic
        return _NO_ACTIVITY_WHILE_PRESENT if status is DayStatus.PRESENT and presence is not None else _NO_ACTIVITY
    period = schedule.period
    roll = period.start if period is not None and period.overnight else None
    intervals = _merged(a.interval(roll) for a in logged)
    total = sum(int((end - start).total_seconds()) // 60 for start, end in intervals)
    value = sum(a.value_minutes for a in logged if a.status is ActivityStatus.APPROVED)
    on_duty = absence is not None and absence.is_official_duty
    findings: list[Finding] = []
    if logged and (status is DayStatus.TK or (status is DayStatus.EXCUSED and not on_duty)):
        findings.append(Finding.ACTIVITY_WHILE_ABSENT)
    if on_duty:
        return _Reconciliation(total, value, total, tuple(findings))
    if status is not DayStatus.PRESENT or presence is None:
        return _Reconciliation(total, value, 0, tuple(findings))
    effective = _overlap_minutes(intervals, presence)
    presence_minutes = _whole_minutes(presence[1] - presence[0])
    if any(start < presence[0] or end > presence[1] for start, end in intervals):
        findings.append(Finding.ACTIVITY_OUTSIDE_PRESENCE)
    if total > presence_minutes:
        findings.append(Finding.ACTIVITY_BEYOND_PRESENCE)
    return _Reconciliation(total, value, effective, tuple(findings))


# --- the day ----------------------------------------------------------------------------------------------


def evaluate_day(
    nip: str,
    schedule: DaySchedule,
    policy: Policy,
    punches: Iterable[Punch],
    *,
    holiday: Holiday | None = None,
    absences: Iterable[Absence] = (),
    activities: Iterable[Activity] = (),
) -> AttendanceDay:
    """Judge one employee's day. Pass the punches ``attribute_punches`` gave this date, the holiday on it if
    any, and the employee's absences (only an approved one covering the date counts). Pure: same inputs and
    policy, same result."""
    activities = tuple(activities)
    usable, exceptions = _triage(punches)
    b = schedule.bounds
    if b is None or (holiday is not None and not schedule.works_on_holidays):
        status = DayStatus.OFF if b is None else DayStatus.HOLIDAY
        exceptions.extend(PunchException(p, ExceptionReason.NOT_A_WORKING_DAY, status.value) for p in usable)
        reconciled = reconcile_activities(schedule, status, None, None, activities)
        return _day(nip, schedule, policy, holiday, status, reconciled, exceptions=tuple(exceptions))

    pairing = pair_punches(schedule, usable)
    exceptions.extend(pairing.exceptions)
    check_in = pairing.check_in.local_time if pairing.check_in else None
    check_out = pairing.check_out.local_time if pairing.check_out else None
    presence = (check_in or b.starts, check_out or b.ends) if check_in or check_out else None
    minutes_late = _whole_minutes(check_in - b.starts) if check_in else 0
    minutes_early = _whole_minutes(b.ends - check_out) if check_out else 0
    timed = _Timed(
        check_in=check_in,
        check_out=check_out,
        minutes_late=minutes_late,
        minutes_early=minutes_early,
        presence_minutes=_whole_minutes(check_out - check_in) if check_in and check_out else 0,
    )

    absence = approved_absence_on(absences, schedule.day) if absences else None
    if absence is not None:
        percent = policy.discipline.absence_percent.get(absence.kind, Decimal(0))
        rule = f"{absence.code}: approved absence, {percent}% a day"
        charged = (DayDeduction(absence.code, percent, rule),) if percent else ()
        reconciled = reconcile_activities(schedule, DayStatus.EXCUSED, absence, presence, activities)
        return _day(
            nip,
            schedule,
            policy,
            holiday,
            DayStatus.EXCUSED,
            reconciled,
            tuple(exceptions),
            timed,
            absence_code=absence.code,
            deductions=charged,
        )

    arrival, leaving = _arrival(policy, check_in, minutes_late), _leaving(policy, check_out, minutes_early)
    deductions: tuple[DayDeduction, ...]
    if presence is None or arrival.makes_tk or leaving.makes_tk:
        rule = "no usable punch on a working day" if presence is None else (arrival.tk_rule or leaving.tk_rule)
        status, deductions = DayStatus.TK, (DayDeduction(TK, policy.discipline.tk_percent, f"TK: {rule}"),)
    else:
        charges = [d for d in (arrival.deduction, leaving.deduction) if d is not None]
        status, deductions = DayStatus.PRESENT, _capped(policy, charges)
    reconciled = reconcile_activities(schedule, status, None, presence, activities)
    return _day(
        nip,
        schedule,
        policy,
        holiday,
        status,
        reconciled,
        tuple(exceptions),
        timed,
        late_code=arrival.code,
        early_code=leaving.code,
        deductions=deductions,
    )


class _Timed(NamedTuple):
    check_in: datetime | None = None
    check_out: datetime | None = None
    minutes_late: int = 0
    minutes_early: int = 0
    presence_minutes: int = 0


_UNTIMED = _Timed()


def _day(
    nip: str,
    schedule: DaySchedule,
    policy: Policy,
    holiday: Holiday | None,
    status: DayStatus,
    reconciled: _Reconciliation,
    exceptions: tuple[PunchException, ...],
    timed: _Timed | None = None,
    *,
    absence_code: str | None = None,
    late_code: str | None = None,
    early_code: str | None = None,
    deductions: tuple[DayDeduction, ...] = (),
) -> AttendanceDay:
    """Built once per day: ``dataclasses.replace`` in steps cost more than the rest of the evaluation, and the
    frozen ``__init__`` (each of 23 fields set through ``object.__setattr__``) a tenth of it: the fields go into
    the new object's ``__dict__`` at once (a test holds the result equal to one built by ``__init__``)."""
    working = timed is not None
    timed = timed or _UNTIMED
    day = _new(AttendanceDay)
    day.__dict__.update(
        nip=nip,
        day=schedule.day,
        status=status,
        policy_id=policy.id,
        policy_version=policy.version,
        schedule=schedule,
        holiday=holiday.name if holiday is not None else None,
        absence_code=absence_code,
        check_in=timed.check_in,
        check_out=timed.check_out,
        minutes_late=timed.minutes_late,
        minutes_early=timed.minutes_early,
        late_code=late_code,
        early_code=early_code,
        missing_check_in=working and timed.check_in is None,
        missing_check_out=working and timed.check_out is None,
        deductions=deductions,
        presence_minutes=timed.presence_minutes,
        activity_minutes=reconciled.activity_minutes,
        activity_value_minutes=reconciled.value_minutes,
        effective_minutes=reconciled.effective_minutes,
        findings=reconciled.findings,
        exceptions=exceptions,
    )
    return day
