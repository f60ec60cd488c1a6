"""Monthly recaps for each preset, worked out by hand, plus caps, the consecutive-TK and late+early sum rules,
and properties checked with hypothesis.

November 2026 starts on a Sunday and has no national holiday: its working days are 2-6, 9-13, 16-20, 23-27 and
30 = 21 days. Kelas 15 base TPP is Rp 17,019,369 and kelas 1 Rp 894,961 (both presets); weights 60/40.
"""

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.attendance.absence import Absence, AbsenceKind, ApprovalStatus
from hub.attendance.activity import Activity
from hub.attendance.day import AttendanceDay
from hub.attendance.policy import Policy, load_preset
from hub.attendance.recap import DeductionLine, MonthlyRecap, monthly_recap
from tests.attendance.attendance_builders import NIP, activity, dates, evaluate_range, variant

TLPSW = load_preset("tlpsw-standard")
BARITO = load_preset("barito-selatan")
DKI = load_preset("dki-activity")
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 30)
WORKDAYS = [d for d in dates(FIRST, LAST) if d.weekday() < 5]


def nov(day: int) -> date:
    return date(2026, 11, day)


def on_time(day: date) -> tuple[str, ...]:
    return ("07:20", "16:40") if day.weekday() == 4 else ("07:20", "16:10")


def month(
    policy: Policy,
    changes: Mapping[date, tuple[str, ...]] | None = None,
    *,
    absences: tuple[Absence, ...] = (),
    activities: tuple[Activity, ...] = (),
) -> list[AttendanceDay]:
    """November 2026: on time every working day except the ``changes`` (an empty tuple = no punch at all)."""
    clocks = {d: on_time(d) for d in WORKDAYS} | dict(changes or {})
    return evaluate_range(FIRST, LAST, policy, clocks, absences=absences, activities=activities)


def total(lines: tuple[DeductionLine, ...]) -> Decimal:
    return sum((line.percent for line in lines), Decimal(0))


CUTI_NOV_5 = Absence(NIP, AbsenceKind.CUTI_TAHUNAN, nov(5), nov(5), ApprovalStatus.APPROVED)


def test_tlpsw_standard_month_by_hand() -> None:
    days = month(
        TLPSW,
        {nov(2): ("08:15", "15:50"), nov(3): ("09:01", "16:00"), nov(4): (), nov(6): ("07:30", "16:00")},
        absences=(CUTI_NOV_5,),
    )
    recap = monthly_recap(days, TLPSW, job_class=15)
    # 2 Nov TL2 (45 min late) 1% + PSW1 (10 min early) 0.5% = 1.5%
    # 3 Nov TL4 (91 min late)                              = 1.5%
    # 4 Nov no punch: TK                                   = 5%
    # 5 Nov approved cuti tahunan (CT)                     = 0%
    # 6 Nov (Friday, ends 16:30) PSW1 (30 min early)       = 0.5%
    # total 1.5 + 1.5 + 5 + 0.5 = 8.5% (under the 100% cap)
    assert [(line.day, line.code, line.percent) for line in recap.lines] == [
        (nov(2), "TL2", Decimal(1)),
        (nov(2), "PSW1", Decimal("0.5")),
        (nov(3), "TL4", Decimal("1.5")),
        (nov(4), "TK", Decimal(5)),
        (nov(6), "PSW1", Decimal("0.5")),
    ]
    assert recap.deduction_percent == Decimal("8.5")
    # 21 working days: 19 present, 1 TK, 1 CT.
    assert (recap.working_days, recap.present_days, recap.tk_days) == (21, 19, 1)
    assert recap.tier_counts == {"PSW1": 2, "TL2": 1, "TL4": 1}
    assert recap.excused_by_code == {"CT": 1}
    assert (recap.late_minutes, recap.early_minutes) == (45 + 91, 10 + 30)
    # performance: 17,019,369 x 60% x 1 (SKP factor)   = 10,211,621.4   -> 10,211,621
    # discipline:  17,019,369 x 40% = 6,807,747.6; x (100 - 8.5)% = 6,807,747.6 x 0.915 = 6,229,089.054 -> 6,229,089
    assert (recap.performance_part, recap.discipline_part) == (10_211_621, 6_229_089)
    assert recap.allowance == 16_440_710
    assert recap.activity_score is None


def test_the_skp_factor_scales_the_performance_part_without_activity_rules() -> None:
    recap = monthly_recap(month(TLPSW), TLPSW, job_class=1, performance_factor=Decimal("0.8"))
    # 894,961 x 60% x 0.8 = 429,581.28 -> 429,581; discipline 894,961 x 40% = 357,984.4 -> 357,984
    assert (recap.performance_part, recap.discipline_part) == (429_581, 357_984)


def test_monthly_cap() -> None:
    # TK 10% a day and no consecutive-TK rule, so only the cap limits the month.
    policy = variant("tlpsw-standard", tk_percent=10, consecutive_tk=None)
    absent = [nov(n) for n in (2, 4, 6, 9, 11, 13, 16, 18, 20, 23, 25)]
    recap = monthly_recap(month(policy, dict.fromkeys(absent, ())), policy, job_class=1)
    # 11 TK days x 10% = 110%; the cap brings it to 100% with a -10% line.
    assert recap.lines[-1] == DeductionLine(None, "CAP_MONTH", Decimal(-10), "monthly cap 100%: 110% reduced to 100%")
    assert recap.deduction_percent == 100 == total(recap.lines)
    assert recap.discipline_part == 0


def test_ten_consecutive_tk_days_cost_the_whole_discipline_part() -> None:
    # TK 2-6 and 9-13 Nov: 10 working days in a row (the weekend does not break the run).
    # 10 x 5% = 50%, raised to 100% by the consecutive-TK rule on the 10th day (13 Nov): +50%.
    absent = dict.fromkeys([*dates(nov(2), nov(6)), *dates(nov(9), nov(13))], ())
    recap = monthly_recap(month(TLPSW, absent), TLPSW, job_class=15)
    assert recap.lines[-1].day == nov(13)
    assert (recap.lines[-1].code, recap.lines[-1].percent) == ("TK_RUN", Decimal(50))
    assert recap.deduction_percent == 100
    assert recap.discipline_part == 0
    # The performance part is untouched: 17,019,369 x 60% = 10,211,621.4 -> 10,211,621.
    assert recap.performance_part == 10_211_621


def test_nine_consecutive_tk_days_do_not_trigger_the_rule() -> None:
    absent = dict.fromkeys([*dates(nov(2), nov(6)), *dates(nov(9), nov(12))], ())
    recap = monthly_recap(month(TLPSW, absent), TLPSW, job_class=15)
    assert recap.deduction_percent == Decimal(45)  # 9 x 5%
    assert "TK_RUN" not in [line.code for line in recap.lines]


def test_a_run_continues_from_the_previous_month() -> None:
    # October ended with 3 TK days; TK 2-6 and 9-10 Nov adds 7: a run of 10 -> 100%.
    absent = dict.fromkeys([*dates(nov(2), nov(6)), *dates(nov(9), nov(10))], ())
    assert monthly_recap(month(TLPSW, absent), TLPSW, job_class=1, tk_run_before=3).deduction_percent == 100
    # If 2 Nov is worked, the October run is broken: 6 TK x 5% = 30%.
    worked = absent | {nov(2): on_time(nov(2))}
    assert monthly_recap(month(TLPSW, worked), TLPSW, job_class=1, tk_run_before=3).deduction_percent == 30


def test_late_and_early_minutes_summing_to_a_day_count_as_one_tk() -> None:
    policy = variant("tlpsw-standard", late_early_sum={"minutes": 450})
    late = {d: ("09:10", "16:40" if d.weekday() == 4 else "16:10") for d in dates(nov(2), nov(6))}
    recap = monthly_recap(month(policy, late), policy, job_class=1)
    # 09:10 - 07:30 = 100 min late, TL4 1.5%, on 5 days = 7.5%; 5 x 100 = 500 min >= 450: one more TK 5%.
    # Total 7.5 + 5 = 12.5%.
    assert recap.late_minutes == 500
    assert recap.lines[-1].code == "TK"
    assert recap.lines[-1].day is None
    assert recap.deduction_percent == Decimal("12.5")


def test_barito_selatan_month_by_hand() -> None:
    # Every present day logs one approved activity of 60 min x 5 = 300 value minutes.
    present_days = [d for d in WORKDAYS if d not in (nov(3), nov(4))]
    logged = tuple(activity(d, "08:00", "13:00", 60, 5) for d in present_days)
    early_birds = dict.fromkeys(WORKDAYS, ("06:25", "16:00"))  # Barito staff arrive by 06:30
    days = month(
        BARITO,
        early_birds | {nov(2): ("06:45", "16:00"), nov(3): ("07:20", "16:00"), nov(4): ()},
        activities=logged,
    )
    recap = monthly_recap(days, BARITO, job_class=1)
    # Each of the 21 working days is worth 1/21 of the discipline part.
    # 2 Nov 06:45: HW1, loses 50% of the day   -> 50/21  = 2.380952... -> 2.3810%
    # 3 Nov 07:20: after 07:15, TK, loses 100% -> 100/21 = 4.761904... -> 4.7619%
    # 4 Nov no punch: TK, loses 100%           ->                          4.7619%
    # total 2.3810 + 4.7619 + 4.7619 = 11.9048%
    assert [(line.day, line.code, line.percent) for line in recap.lines] == [
        (nov(2), "HW1", Decimal("2.3810")),
        (nov(3), "TK", Decimal("4.7619")),
        (nov(4), "TK", Decimal("4.7619")),
    ]
    assert recap.deduction_percent == Decimal("11.9048")
    assert recap.tier_counts == {"HW1": 1}
    # Activity: 19 present days x 300 = 5,700 value minutes; target 21 x 300 = 6,300 (Barito does not subtract
    # attendance minutes). Score 5,700 / 6,300 = 0.904761... -> 0.9048.
    assert (recap.activity_value_minutes, recap.activity_target_minutes) == (5700, 6300)
    # Logged 08:00-13:00 = 300 min on each of 19 days, all inside 06:25-16:00 presence: 5,700 effective.
    assert (recap.activity_minutes, recap.effective_minutes) == (5700, 5700)
    assert recap.activity_score == Decimal("0.9048")
    # performance: 894,961 x 60% = 536,976.6;  x 0.9048   = 485,856.42768 -> 485,856
    # discipline:  894,961 x 40% = 357,984.4;  x 0.880952 = 315,367.07... -> 315,367
    #   (357,984.4 x 88.0952 / 100 = 315,367.0727...)
    assert (recap.performance_part, recap.discipline_part) == (485_856, 315_367)


def test_dki_activity_month_by_hand() -> None:
    present_days = [d for d in WORKDAYS if d not in (nov(4), nov(5))]
    logged = tuple(activity(d, "08:00", "13:00", 30, 10) for d in present_days)  # 30 min x 10 = 300 a day
    days = month(DKI, {nov(2): ("08:15", "15:50"), nov(4): ()}, absences=(CUTI_NOV_5,), activities=logged)
    recap = monthly_recap(days, DKI, job_class=15)
    # Discipline: TL2 1% + PSW1 0.5% (2 Nov) + TK 5% (4 Nov) = 6.5%.
    assert recap.deduction_percent == Decimal("6.5")
    # Activity: expected days = 21 working - 1 on cuti = 20; target 20 x 300 = 6,000.
    # Value = 19 present days x 300 = 5,700.
    # Attendance deduction minutes = 45 late + 10 early + 300 for the TK day = 355.
    # Score = min(5,700, 6,000 - 355 = 5,645) / 6,000 = 0.940833... -> 0.9408.
    assert (recap.activity_value_minutes, recap.activity_target_minutes) == (5700, 6000)
    assert recap.activity_score == Decimal("0.9408")
    # performance: 10,211,621.4 x 0.9408 = 9,607,093.41... -> 9,607,093
    # discipline:  6,807,747.6 x (100 - 6.5)% = 6,807,747.6 x 0.935 = 6,365,244.006 -> 6,365,244
    assert (recap.performance_part, recap.discipline_part) == (9_607_093, 6_365_244)
    assert recap.allowance == 15_972_337


def test_dki_missing_punch_minutes() -> None:
    # No check-out on 2 Nov: PSW4 1.5% on the discipline side and 150 deduction minutes on the activity side.
    logged = tuple(activity(d, "08:00", "13:00", 30, 10) for d in WORKDAYS)
    recap = monthly_recap(month(DKI, {nov(2): ("07:20",)}, activities=logged), DKI, job_class=15)
    # Target 21 x 300 = 6,300; value 6,300; min(6,300, 6,300 - 150 = 6,150) / 6,300 = 0.976190... -> 0.9762
    assert (recap.missing_punches, recap.activity_score, recap.deduction_percent) == (
        1,
        Decimal("0.9762"),
        Decimal("1.5"),
    )


def test_recap_refuses_mixed_months_and_unknown_job_classes() -> None:
    days = month(TLPSW)
    with pytest.raises(LookupError, match="kelas jabatan 18"):
        monthly_recap(days, TLPSW, job_class=18)
    december = evaluate_range(date(2026, 12, 1), date(2026, 12, 1), TLPSW, {})
    with pytest.raises(ValueError, match="one calendar month"):
        monthly_recap([*days, *december], TLPSW, job_class=1)


def test_recap_is_deterministic() -> None:
    days = month(TLPSW, {nov(2): ("08:15", "15:50"), nov(4): ()})
    first = monthly_recap(days, TLPSW, job_class=15)
    assert monthly_recap(list(reversed(days)), TLPSW, job_class=15) == first
    assert monthly_recap(month(TLPSW, {nov(2): ("08:15", "15:50"), nov(4): ()}), TLPSW, job_class=15) == first


# --- properties ---------------------------------------------------------------------------------------------

# A day's outcome: None = no punch (TK), else (minutes late, minutes early), each 0..300.
outcomes = st.one_of(st.none(), st.tuples(st.integers(0, 300), st.integers(0, 300)))


def clocks_for(day: date, outcome: tuple[int, int] | None) -> tuple[str, ...]:
    if outcome is None:
        return ()
    late, early = outcome
    end_minutes = (16 * 60 + 30 if day.weekday() == 4 else 16 * 60) - early
    start_minutes = 7 * 60 + 30 + late
    if end_minutes - start_minutes < 10:  # keep the in and out distinguishable
        end_minutes = start_minutes + 10
    return (f"{start_minutes // 60:02d}:{start_minutes % 60:02d}", f"{end_minutes // 60:02d}:{end_minutes % 60:02d}")


def recap_of(policy: Policy, outcomes_by_day: list[tuple[int, int] | None]) -> MonthlyRecap:
    changes = {d: clocks_for(d, o) for d, o in zip(WORKDAYS, outcomes_by_day, strict=False)}
    return monthly_recap(month(policy, changes), policy, job_class=15)


@settings(max_examples=40, deadline=None)
@given(st.lists(outcomes, min_size=21, max_size=21), st.sampled_from(["tlpsw-standard", "dki-activity"]))
def test_deduction_never_exceeds_the_monthly_cap_and_lines_explain_it(
    month_outcomes: list[tuple[int, int] | None], name: str
) -> None:
    policy = load_preset(name)
    recap = recap_of(policy, month_outcomes)
    assert 0 <= recap.deduction_percent <= policy.discipline.monthly_cap_percent
    assert total(recap.lines) == recap.deduction_percent
    assert 0 <= recap.discipline_part <= recap.base_tpp * policy.weights.discipline / 100


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 480), st.integers(0, 480), st.sampled_from(["tlpsw-standard", "dki-activity"]))
def test_more_lateness_never_lowers_the_deduction(late: int, extra: int, name: str) -> None:
    # Arrival 07:30 + late (at most 15:30), check-out 16:05. (A lone punch is judged by its distance to the start
    # and end instead, so "later" is not comparable there: 14:30 alone is an early check-out, not a late arrival.)
    day, policy = nov(2), load_preset(name)

    def percent(minutes_late: int) -> Decimal:
        start = 7 * 60 + 30 + minutes_late
        days = evaluate_range(day, day, policy, {day: (f"{start // 60:02d}:{start % 60:02d}", "16:05")})
        return days[0].percent

    assert percent(late) <= percent(min(late + extra, 480))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3 * 3600), st.integers(0, 3 * 3600))
def test_a_later_barito_check_in_never_costs_less(first: int, second: int) -> None:
    day = nov(2)

    def loss(seconds_after_0530: int) -> Decimal:
        clock = (timedelta(hours=5, minutes=30) + timedelta(seconds=seconds_after_0530)).seconds
        text = f"{clock // 3600:02d}:{clock % 3600 // 60:02d}:{clock % 60:02d}"
        return evaluate_range(day, day, BARITO, {day: (text, "16:00")})[0].percent

    early_clock, late_clock = sorted((first, second))
    assert loss(early_clock) <= loss(late_clock)
