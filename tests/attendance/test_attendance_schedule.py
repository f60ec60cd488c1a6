"""Schedule groups as data: weekly hours, Ramadan, shifts, assignment with employee exceptions, windows."""

from datetime import date, time, timedelta

import pytest

from hub.attendance.schedule import (
    NATIONAL_FIVE_DAY,
    RAMADAN_FIVE_DAY,
    SIX_DAY,
    EmployeeAssignment,
    GroupAssignment,
    PunchWindows,
    ScheduleGroup,
    ShiftRotation,
    UnitAssignment,
    WorkPeriod,
    ramadan_override,
    schedule_for,
)
from tests.attendance.attendance_builders import MONDAY, OFFICE, at


def test_national_week_is_37_and_a_half_hours() -> None:
    # Mon-Thu 07:30-16:00 = 510 - 60 break = 450 min; Fri 07:30-16:30 = 540 - 90 = 450; 5 x 450 = 2,250 = 37.5 h.
    assert [p.working_minutes if p else 0 for p in NATIONAL_FIVE_DAY.days] == [450, 450, 450, 450, 450, 0, 0]
    assert NATIONAL_FIVE_DAY.weekly_minutes == 2250


def test_six_day_week_keeps_37_and_a_half_hours() -> None:
    # Mon-Thu, Sat 07:30-14:00 = 390 - 15 = 375; Fri 07:30-14:15 = 405 - 30 = 375; 6 x 375 = 2,250.
    assert SIX_DAY.weekly_minutes == 2250
    assert SIX_DAY.days[5] is not None


def test_ramadan_week_is_32_and_a_half_hours_from_0800() -> None:
    # Mon-Thu 08:00-15:00 = 420 - 30 = 390; Fri 08:00-15:30 = 450 - 60 = 390; 5 x 390 = 1,950 = 32.5 h.
    assert RAMADAN_FIVE_DAY.weekly_minutes == 1950
    assert {p.start for p in RAMADAN_FIVE_DAY.days if p} == {time(8, 0)}


def test_overnight_period_ends_the_next_day() -> None:
    night = WorkPeriod(time(22, 0), time(6, 0), break_minutes=60)
    assert (night.overnight, night.span_minutes, night.working_minutes) == (True, 480, 420)
    assert night.ends_at(MONDAY) == at(MONDAY + timedelta(days=1), "06:00")


def test_a_break_longer_than_the_period_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        WorkPeriod(time(8, 0), time(9, 0), break_minutes=60)


def test_shift_rotation_repeats_from_its_anchor() -> None:
    pagi = WorkPeriod(time(7, 0), time(14, 0))
    malam = WorkPeriod(time(21, 0), time(7, 0))
    rotation = ShiftRotation(anchor=MONDAY, cycle=(pagi, pagi, malam, None))
    assert [rotation.period_on(MONDAY + timedelta(days=n)) for n in range(6)] == [pagi, pagi, malam, None, pagi, pagi]
    assert rotation.period_on(MONDAY - timedelta(days=1)) is None  # the cycle runs backwards too


def test_employee_exception_wins_over_the_unit_for_its_dates_only() -> None:
    guard = ScheduleGroup("JAGA", ShiftRotation(MONDAY, (WorkPeriod(time(19, 0), time(7, 0)), None)))
    unit = UnitAssignment("SETDA", "Asia/Makassar", (GroupAssignment(OFFICE),))
    budi = EmployeeAssignment("198705122015031002", (GroupAssignment(guard, MONDAY, MONDAY + timedelta(days=6)),))
    on_guard = schedule_for(budi, unit, MONDAY)
    assert (on_guard.group_code, on_guard.source, on_guard.zone) == ("JAGA", "employee", "Asia/Makassar")
    back_in_office = schedule_for(budi, unit, MONDAY + timedelta(days=7))
    assert (back_in_office.group_code, back_in_office.source) == ("NASIONAL-5", "unit")


def test_the_latest_listed_unit_assignment_wins_and_a_gap_is_an_error() -> None:
    ramadan_group = ScheduleGroup("R", OFFICE.pattern, (ramadan_override(date(2026, 2, 19), date(2026, 3, 19)),))
    unit = UnitAssignment(
        "DINKES",
        "Asia/Jayapura",
        (GroupAssignment(OFFICE, valid_to=date(2026, 1, 31)), GroupAssignment(ramadan_group, date(2026, 2, 1))),
    )
    assert schedule_for(None, unit, date(2026, 1, 5)).group_code == "NASIONAL-5"
    assert schedule_for(None, unit, date(2026, 3, 2)).override == "ramadan"
    with pytest.raises(LookupError, match="no schedule group"):
        schedule_for(None, UnitAssignment("X", "Asia/Jakarta", (GroupAssignment(OFFICE, date(2027, 1, 1)),)), MONDAY)


def test_unknown_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown IANA zone"):
        UnitAssignment("X", "Asia/Bandung", ())


def test_windows_are_configurable() -> None:
    strict = ScheduleGroup("KETAT", NATIONAL_FIVE_DAY, windows=PunchWindows(check_in_opens_before_start=60))
    schedule = schedule_for(None, UnitAssignment("X", "Asia/Jakarta", (GroupAssignment(strict),)), MONDAY)
    # Check-in from 07:30 - 60 min = 06:30 until the end 16:00; check-out from 07:30 until 16:00 + 6 h = 22:00.
    assert schedule.check_in_window() == (at(MONDAY, "06:30"), at(MONDAY, "16:00"))
    assert schedule.check_out_window() == (at(MONDAY, "07:30"), at(MONDAY, "22:00"))
