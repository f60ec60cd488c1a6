"""The attendance day: tiers worked out by hand, pairing by time, exceptions, overnight, overrides, absences."""

from datetime import date, time, timedelta
from decimal import Decimal

import pytest

from hub.attendance.absence import Absence, AbsenceKind, ApprovalStatus
from hub.attendance.calendar import Holiday, HolidayKind
from hub.attendance.day import DayStatus, ExceptionReason, Finding, attribute_punches, evaluate_day
from hub.attendance.policy import load_preset
from hub.attendance.schedule import (
    GroupAssignment,
    ScheduleGroup,
    ShiftRotation,
    UnitAssignment,
    WorkPeriod,
    fixed_week,
    ramadan_override,
    schedule_for,
)
from tests.attendance.attendance_builders import (
    FRIDAY,
    MONDAY,
    NIP,
    OFFICE,
    activity,
    at,
    evaluate_range,
    office,
    office_day,
    punch,
    variant,
)

TLPSW = load_preset("tlpsw-standard")
BARITO = load_preset("barito-selatan")

# Monday 07:30-16:00, Friday 07:30-16:30. Minutes count whole minutes only (07:30:59 is 0 minutes late).
TLPSW_DAYS = [
    # (day, check-in, check-out, code, late, early, percent)  -- the arithmetic is in the comment
    (MONDAY, "07:25", "16:05", None, 0, 0, "0"),  # on time both ways: nothing
    (MONDAY, "07:30:59", "16:00", None, 0, 0, "0"),  # 59 s is not a minute: nothing
    (MONDAY, "07:31", "16:00", "TL1", 1, 0, "0.5"),  # 1 min late: TL1 (1-30) 0.5%
    (MONDAY, "08:00", "16:00", "TL1", 30, 0, "0.5"),  # 30 min late: still TL1 0.5%
    (MONDAY, "08:01", "16:00", "TL2", 31, 0, "1"),  # 31 min late: TL2 (31-60) 1%
    (MONDAY, "08:15", "15:50", "TL2+PSW1", 45, 10, "1.5"),  # TL2 (45 min late) 1% + PSW1 (10 min early) 0.5% = 1.5%
    (MONDAY, "09:00", "16:00", "TL3", 90, 0, "1.25"),  # 90 min late: TL3 (61-90) 1.25%
    (MONDAY, "09:01", "16:00", "TL4", 91, 0, "1.5"),  # 91 min late: TL4 (>= 91) 1.5%
    (MONDAY, "07:30", "15:00", "PSW2", 0, 60, "1"),  # 16:00 - 15:00 = 60 min early: PSW2 1%
    (MONDAY, "07:30", "14:29", "PSW4", 0, 91, "1.5"),  # 16:00 - 14:29 = 91 min early: PSW4 1.5%
    (MONDAY, "10:00", "13:00", "TL4+PSW4", 150, 180, "3"),  # TL4 1.5% + PSW4 1.5% = 3% (under the 5% day cap)
    (FRIDAY, "07:30", "16:00", "PSW1", 0, 30, "0.5"),  # Friday ends 16:30: 30 min early, PSW1 0.5%
    (FRIDAY, "07:30", "16:30", None, 0, 0, "0"),  # the Friday end is 16:30, not 16:00
]


@pytest.mark.parametrize(("day", "check_in", "check_out", "code", "late", "early", "percent"), TLPSW_DAYS)
def test_tlpsw_standard_tiers_by_hand(
    day: date, check_in: str, check_out: str, code: str | None, late: int, early: int, percent: str
) -> None:
    result = office(day, TLPSW, check_in, check_out)
    assert result.status is DayStatus.PRESENT
    assert (result.code, result.minutes_late, result.minutes_early) == (code, late, early)
    assert result.percent == Decimal(percent)


def test_each_deduction_says_which_rule_applied() -> None:
    result = office(MONDAY, TLPSW, "08:15", "15:50")
    assert [(d.code, d.percent, d.rule) for d in result.deductions] == [
        ("TL2", Decimal(1), "TL2: 45 min late (31-60 min)"),
        ("PSW1", Decimal("0.5"), "PSW1: left 10 min early (1-30 min)"),
    ]


def test_day_cap_limits_a_late_and_early_day() -> None:
    # TL4 1.5% + PSW4 1.5% = 3%, capped at 2% by a CAP_DAY line of -1%.
    capped = variant("tlpsw-standard", daily_cap_percent=2)
    result = office(MONDAY, capped, "10:00", "13:00")
    assert [(d.code, d.percent) for d in result.deductions] == [
        ("TL4", Decimal("1.5")),
        ("PSW4", Decimal("1.5")),
        ("CAP_DAY", Decimal(-1)),
    ]
    assert result.percent == 2


# --- pairing ----------------------------------------------------------------------------------------------


def test_pairing_is_by_time_not_by_the_status_key_pressed() -> None:
    # Staff pressed "check-out" (1) on arrival and "check-in" (0) on leaving.
    punches = [punch(MONDAY, "07:20", status=1), punch(MONDAY, "16:10", status=0)]
    result = evaluate_day(NIP, office_day(MONDAY), TLPSW, punches)
    assert (result.check_in, result.check_out) == (at(MONDAY, "07:20"), at(MONDAY, "16:10"))
    assert result.percent == 0


def test_first_and_last_punch_win_and_lunch_punches_in_between_are_ignored() -> None:
    result = office(MONDAY, TLPSW, "07:20", "12:00", "13:00", "16:05")
    assert (result.check_in, result.check_out) == (at(MONDAY, "07:20"), at(MONDAY, "16:05"))
    assert result.exceptions == ()


def test_double_punches_collapse_to_the_first_in_and_the_last_out() -> None:
    result = office(MONDAY, TLPSW, "07:20:00", "07:20:30", "07:21", "16:05", "16:05:10")
    assert (result.check_in, result.check_out) == (at(MONDAY, "07:20"), at(MONDAY, "16:05:10"))


def test_a_double_punch_in_the_morning_alone_is_a_check_in_without_check_out() -> None:
    # 07:20 and 07:22 are 2 min apart (< 5): one press repeated. Missing check-out = PSW4 1.5%.
    result = office(MONDAY, TLPSW, "07:20", "07:22")
    assert (result.check_in, result.check_out, result.missing_check_out) == (at(MONDAY, "07:20"), None, True)
    assert (result.code, result.percent) == ("PSW4", Decimal("1.5"))


@pytest.mark.parametrize(
    ("clock", "side", "code"),
    [
        ("07:20", "in", "PSW4"),  # 10 min from the start, 520 from the end: check-in; no check-out = PSW4
        ("11:45", "in", "TL4+PSW4"),  # 255 from the start, 255 from the end: a tie goes to check-in (TL4 late)
        ("11:46", "out", "TL4+PSW4"),  # nearer the end: check-out at 11:46 (254 min early, PSW4); no check-in TL4
        ("16:10", "out", "TL4"),  # check-out; no check-in = TL4 1.5%
    ],
)
def test_a_single_punch_is_decided_by_its_distance_to_start_and_end(clock: str, side: str, code: str) -> None:
    result = office(MONDAY, TLPSW, clock)
    assert (result.check_in is not None, result.check_out is not None) == (side == "in", side == "out")
    assert result.code == code


def test_two_punches_after_the_end_are_a_check_out_without_check_in() -> None:
    # 16:30 is after the check-in window (it closes at the end, 16:00): only a check-out at 17:00.
    result = office(MONDAY, TLPSW, "16:30", "17:00")
    assert (result.check_in, result.check_out, result.code) == (None, at(MONDAY, "17:00"), "TL4")


# --- exceptions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["clock_reset", "future", "before_install", "clock_drift"])
def test_flagged_punches_are_exceptions_and_not_used_for_times(flag: str) -> None:
    # The flagged 07:10 would make the day on time; without it the check-in is 08:45 (75 min late, TL3 1.25%).
    punches = [punch(MONDAY, "07:10", flags=(flag,)), punch(MONDAY, "08:45"), punch(MONDAY, "16:00")]
    result = evaluate_day(NIP, office_day(MONDAY), TLPSW, punches)
    assert [(e.punch.local_time, e.reason, e.detail) for e in result.exceptions] == [
        (at(MONDAY, "07:10"), ExceptionReason.FLAGGED, flag)
    ]
    assert (result.check_in, result.code, result.percent) == (at(MONDAY, "08:45"), "TL3", Decimal("1.25"))


def test_unmatched_punches_are_exceptions() -> None:
    punches = [punch(MONDAY, "07:15", matched=False), punch(MONDAY, "16:00")]
    result = evaluate_day(NIP, office_day(MONDAY), TLPSW, punches)
    assert [e.reason for e in result.exceptions] == [ExceptionReason.UNMATCHED]
    assert (result.check_in, result.code) == (None, "TL4")  # 16:00 alone is a check-out; no check-in = TL4


def test_a_punch_outside_both_windows_is_an_exception() -> None:
    # Check-in opens 3 h before 07:30 = 04:30; 02:00 is outside.
    result = office(MONDAY, TLPSW, "02:00", "07:25", "16:00")
    assert [(e.punch.local_time, e.reason) for e in result.exceptions] == [
        (at(MONDAY, "02:00"), ExceptionReason.OUTSIDE_WINDOW)
    ]
    assert result.check_in == at(MONDAY, "07:25")


def test_only_flagged_punches_make_a_tk_day_that_still_lists_them() -> None:
    punches = [punch(MONDAY, "07:25", flags=("clock_drift",)), punch(MONDAY, "16:05", flags=("clock_drift",))]
    result = evaluate_day(NIP, office_day(MONDAY), TLPSW, punches)
    assert result.status is DayStatus.TK
    assert len(result.exceptions) == 2


# --- overnight, overrides, holidays -------------------------------------------------------------------------

NIGHT = WorkPeriod(time(22, 0), time(6, 0), break_minutes=60)  # 22:00 to 06:00 the next day
NIGHT_SHIFT = ScheduleGroup("MALAM", fixed_week(dict.fromkeys(range(7), NIGHT)))


def test_overnight_shift_checks_out_on_the_next_calendar_day() -> None:
    # Monday 22:40 in (40 min late, TL2 1%), Tuesday 05:30 out (30 min early, PSW1 0.5%) = 1.5%.
    # The 06:05 Monday punch is Sunday night's check-out, not Monday's.
    days = evaluate_range(
        MONDAY - timedelta(days=1),
        MONDAY + timedelta(days=1),
        TLPSW,
        {MONDAY - timedelta(days=1): ("21:55",), MONDAY: ("06:05", "22:40"), MONDAY + timedelta(days=1): ("05:30",)},
        group=NIGHT_SHIFT,
    )
    sunday, monday, _ = days
    sunday_day = MONDAY - timedelta(days=1)
    assert (sunday.check_in, sunday.check_out) == (at(sunday_day, "21:55"), at(MONDAY, "06:05"))
    assert sunday.percent == 0
    assert (monday.check_in, monday.check_out) == (at(MONDAY, "22:40"), at(MONDAY + timedelta(days=1), "05:30"))
    assert (monday.code, monday.minutes_late, monday.minutes_early, monday.percent) == (
        "TL2+PSW1",
        40,
        30,
        Decimal("1.5"),
    )
    assert monday.presence_minutes == 410  # 22:40 to 05:30 = 6 h 50 min


def test_overnight_activities_after_midnight_belong_to_the_shift() -> None:
    # Activity 02:00-04:00 logged on the shift date falls inside 21:50..06:10 the next morning: 120 effective.
    schedule = schedule_for(None, UnitAssignment("IGD", "Asia/Makassar", (GroupAssignment(NIGHT_SHIFT),)), MONDAY)
    punches = [punch(MONDAY, "21:50"), punch(MONDAY + timedelta(days=1), "06:10")]
    result = evaluate_day(NIP, schedule, TLPSW, punches, activities=[activity(MONDAY, "02:00", "04:00", 60, 2)])
    assert (result.activity_minutes, result.effective_minutes, result.findings) == (120, 120, ())


def test_ramadan_override_moves_the_start_to_0800() -> None:
    ramadan = ScheduleGroup(OFFICE.code, OFFICE.pattern, (ramadan_override(date(2026, 2, 19), date(2026, 3, 19)),))
    unit = UnitAssignment("DISDIK", "Asia/Jakarta", (GroupAssignment(ramadan),))
    in_ramadan, after = date(2026, 3, 2), date(2026, 3, 23)  # both Mondays
    schedule = schedule_for(None, unit, in_ramadan)
    assert (schedule.override, schedule.starts_at, schedule.ends_at) == (
        "ramadan",
        at(in_ramadan, "08:00"),
        at(in_ramadan, "15:00"),
    )
    # 08:10 in Ramadan: 10 min late, TL1 0.5%. The same 08:10 after Ramadan: 40 min late, TL2 1%.
    ramadan_day = evaluate_day(NIP, schedule, TLPSW, [punch(in_ramadan, "08:10"), punch(in_ramadan, "15:00")])
    normal_day = evaluate_day(
        NIP, schedule_for(None, unit, after), TLPSW, [punch(after, "08:10"), punch(after, "16:00")]
    )
    assert (ramadan_day.code, ramadan_day.percent) == ("TL1", Decimal("0.5"))
    assert (normal_day.code, normal_day.percent) == ("TL2", Decimal(1))


PROKLAMASI = Holiday(date(2026, 8, 17), "Hari Proklamasi Kemerdekaan RI", HolidayKind.NATIONAL)


def test_a_holiday_without_punches_costs_nothing() -> None:
    result = evaluate_day(NIP, office_day(PROKLAMASI.day), TLPSW, [], holiday=PROKLAMASI)
    assert (result.status, result.holiday, result.percent) == (DayStatus.HOLIDAY, PROKLAMASI.name, Decimal(0))


def test_punches_on_a_holiday_are_listed_not_judged() -> None:
    punches = [punch(PROKLAMASI.day, "07:00"), punch(PROKLAMASI.day, "10:00")]
    result = evaluate_day(NIP, office_day(PROKLAMASI.day), TLPSW, punches, holiday=PROKLAMASI)
    assert [e.reason for e in result.exceptions] == [ExceptionReason.NOT_A_WORKING_DAY] * 2
    assert result.percent == 0


def test_a_group_that_works_on_holidays_is_judged_on_them() -> None:
    hospital = ScheduleGroup("RSUD", OFFICE.pattern, works_on_holidays=True)
    schedule = schedule_for(None, UnitAssignment("RSUD", "Asia/Jakarta", (GroupAssignment(hospital),)), PROKLAMASI.day)
    result = evaluate_day(NIP, schedule, TLPSW, [], holiday=PROKLAMASI)
    assert (result.status, result.percent) == (DayStatus.TK, Decimal(5))


def test_saturday_is_off_on_the_national_week() -> None:
    result = office(MONDAY + timedelta(days=5), TLPSW)
    assert (result.status, result.deductions) == (DayStatus.OFF, ())


# --- absences ---------------------------------------------------------------------------------------------


def leave(status: ApprovalStatus, kind: AbsenceKind = AbsenceKind.CUTI_TAHUNAN) -> Absence:
    return Absence(NIP, kind, MONDAY, MONDAY + timedelta(days=2), status)


@pytest.mark.parametrize(
    ("status", "day_status", "code", "percent"),
    [
        (ApprovalStatus.APPROVED, DayStatus.EXCUSED, "CT", "0"),  # approved cuti tahunan: excused, 0%
        (ApprovalStatus.PENDING, DayStatus.TK, "TK", "5"),  # not approved yet: TK 5%
        (ApprovalStatus.REJECTED, DayStatus.TK, "TK", "5"),
    ],
)
def test_only_an_approved_absence_excuses_the_day(
    status: ApprovalStatus, day_status: DayStatus, code: str, percent: str
) -> None:
    result = evaluate_day(NIP, office_day(MONDAY), TLPSW, [], absences=[leave(status)])
    assert (result.status, result.code, result.percent) == (day_status, code, Decimal(percent))


def test_an_approved_absence_overrides_lateness_too() -> None:
    punches = [punch(MONDAY, "10:00"), punch(MONDAY, "12:00")]
    result = evaluate_day(NIP, office_day(MONDAY), TLPSW, punches, absences=[leave(ApprovalStatus.APPROVED)])
    assert (result.status, result.code, result.percent) == (DayStatus.EXCUSED, "CT", Decimal(0))
    assert result.check_in == at(MONDAY, "10:00")  # still shown


def test_a_policy_can_charge_an_absence_kind() -> None:
    charged = variant("tlpsw-standard", absence_percent={"CLTN": 5})
    result = evaluate_day(
        NIP, office_day(MONDAY), charged, [], absences=[leave(ApprovalStatus.APPROVED, AbsenceKind.CLTN)]
    )
    assert (result.code, result.percent) == ("CLTN", Decimal(5))


# --- clock-window tiers -------------------------------------------------------------------------------------

# Barito Selatan: bands are [from, to): 06:30:00 full value, 06:30:01-07:15:00 reduced (HW1, loses 50% of the
# day's share), from 07:15:01 the day counts as absent (TK, loses 100% of the day's share).
BARITO_BOUNDARIES = [
    ("06:29:59", DayStatus.PRESENT, None, "0"),
    ("06:30:00", DayStatus.PRESENT, None, "0"),
    ("06:30:01", DayStatus.PRESENT, "HW1", "50"),
    ("07:15:00", DayStatus.PRESENT, "HW1", "50"),
    ("07:15:01", DayStatus.TK, "TK", "100"),
]


@pytest.mark.parametrize(("check_in", "status", "code", "percent"), BARITO_BOUNDARIES)
def test_barito_clock_window_boundaries(check_in: str, status: DayStatus, code: str | None, percent: str) -> None:
    result = office(MONDAY, BARITO, check_in, "16:00")
    assert (result.status, result.code, result.percent) == (status, code, Decimal(percent))


def test_barito_no_check_in_is_absent_and_no_check_out_costs_nothing() -> None:
    assert office(MONDAY, BARITO, "16:10").status is DayStatus.TK
    assert office(MONDAY, BARITO, "06:20").percent == 0


KEMENKEU = variant(
    "tlpsw-standard",
    late_tiers=None,
    check_in_clock_tiers=[
        {"code": "K1", "from_time": "09:01", "to_time": "09:31", "percent": 1},
        {"code": "K2", "from_time": "09:31", "to_time": "10:01", "percent": 1.25},
        {"code": "K3", "from_time": "10:01", "percent": 2.5},
    ],
    missing_check_in="K3",
)


@pytest.mark.parametrize(
    ("check_in", "code", "percent"),
    [
        ("09:00:59", None, "0"),  # before 09:01: nothing
        ("09:01:00", "K1", "1"),  # 09:01-09:31: 1%
        ("09:30:59", "K1", "1"),
        ("09:31:00", "K2", "1.25"),  # 09:31-10:01: 1.25%
        ("10:01:00", "K3", "2.5"),  # >= 10:01: 2.5%
        (None, "K3", "2.5"),  # no check-in: 2.5%
    ],
)
def test_kemenkeu_clock_bands_are_expressible(check_in: str | None, code: str, percent: str) -> None:
    clocks = (check_in, "16:00") if check_in else ("16:00",)
    result = office(MONDAY, KEMENKEU, *clocks)
    assert (result.late_code, result.percent) == (code, Decimal(percent))


# --- activities ---------------------------------------------------------------------------------------------


def test_activity_reconciliation_by_hand() -> None:
    # Present 07:25-16:05 = 520 min. Activities: 08:00-10:00 approved (30 min x 4 = 120 value minutes) and
    # 15:30-17:00 submitted, which runs past the check-out. Activity time 120 + 90 = 210; effective (inside
    # presence) 120 + 35 (15:30-16:05) = 155; value counts approved only: 120.
    activities = [
        activity(MONDAY, "08:00", "10:00", 30, 4),
        activity(MONDAY, "15:30", "17:00", 30, 3, status="submitted"),
        activity(MONDAY, "12:00", "13:00", 60, 1, status="rejected"),  # ignored
    ]
    punches = [punch(MONDAY, "07:25"), punch(MONDAY, "16:05")]
    result = evaluate_day(NIP, office_day(MONDAY), TLPSW, punches, activities=activities)
    assert (result.presence_minutes, result.activity_minutes, result.effective_minutes) == (520, 210, 155)
    assert result.activity_value_minutes == 120
    assert result.findings == (Finding.ACTIVITY_OUTSIDE_PRESENCE,)


def test_activity_beyond_presence() -> None:
    # Present 07:25-09:00 = 95 min, activity 07:30-10:30 = 180 min: beyond presence and outside it.
    punches = [punch(MONDAY, "07:25"), punch(MONDAY, "09:00")]
    result = evaluate_day(
        NIP, office_day(MONDAY), TLPSW, punches, activities=[activity(MONDAY, "07:30", "10:30", 60, 3)]
    )
    assert result.findings == (Finding.ACTIVITY_OUTSIDE_PRESENCE, Finding.ACTIVITY_BEYOND_PRESENCE)
    assert result.effective_minutes == 90  # 07:30-09:00


def test_presence_without_activity() -> None:
    assert office(MONDAY, TLPSW, "07:25", "16:05").findings == (Finding.PRESENCE_WITHOUT_ACTIVITY,)


@pytest.mark.parametrize(
    ("absence", "findings", "effective"),
    [
        (None, (Finding.ACTIVITY_WHILE_ABSENT,), 0),  # TK with an activity logged
        (AbsenceKind.CUTI_SAKIT, (Finding.ACTIVITY_WHILE_ABSENT,), 0),  # on sick leave yet logging work
        (AbsenceKind.DINAS_LUAR, (), 120),  # DL: work outside the office is the point
    ],
)
def test_activity_while_absent(absence: AbsenceKind | None, findings: tuple[Finding, ...], effective: int) -> None:
    absences = [leave(ApprovalStatus.APPROVED, absence)] if absence else []
    result = evaluate_day(
        NIP, office_day(MONDAY), TLPSW, [], absences=absences, activities=[activity(MONDAY, "09:00", "11:00", 60, 2)]
    )
    assert (result.findings, result.effective_minutes) == (findings, effective)


# --- determinism ------------------------------------------------------------------------------------------


def test_same_inputs_give_the_same_day_whatever_the_punch_order() -> None:
    punches = [punch(MONDAY, c) for c in ("16:05", "07:20:30", "12:00", "07:20", "16:05:10")]
    punches.append(punch(MONDAY, "07:00", flags=("clock_drift",)))
    first = evaluate_day(NIP, office_day(MONDAY), TLPSW, punches)
    assert evaluate_day(NIP, office_day(MONDAY), TLPSW, list(reversed(punches))) == first
    assert attribute_punches(punches, [office_day(MONDAY)]) == attribute_punches(
        reversed(punches), [office_day(MONDAY)]
    )


def test_a_punch_in_two_windows_goes_to_the_day_with_the_nearer_boundary() -> None:
    # Night 22:00-06:00 on Monday, then a day shift 07:00-15:00 on Tuesday, whose check-in window opens at 04:00.
    # 06:10 is 10 min after Monday's end and 50 min before Tuesday's start: Monday's check-out.
    # 06:50 is 50 min after Monday's end and 10 min before Tuesday's start: Tuesday's check-in.
    tuesday = MONDAY + timedelta(days=1)
    rotation = ShiftRotation(MONDAY, (NIGHT, WorkPeriod(time(7, 0), time(15, 0))))
    unit = UnitAssignment("RSUD", "Asia/Jayapura", (GroupAssignment(ScheduleGroup("ROTASI", rotation)),))
    schedules = [schedule_for(None, unit, MONDAY), schedule_for(None, unit, tuesday)]
    attributed = attribute_punches([punch(tuesday, "06:10"), punch(tuesday, "06:50")], schedules)
    assert {day: [p.local_time for p in found] for day, found in attributed.items()} == {
        MONDAY: [at(tuesday, "06:10")],
        tuesday: [at(tuesday, "06:50")],
    }


def test_a_punch_in_no_window_goes_to_its_calendar_date() -> None:
    attributed = attribute_punches([punch(MONDAY, "01:00")], [office_day(MONDAY)])
    assert list(attributed) == [MONDAY]
