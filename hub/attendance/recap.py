"""The monthly recap of one employee: counts, the deduction explained line by line, and the allowance in rupiah.

The lines always add up to the total: a monthly cap or the consecutive-TK rule appears as its own line (negative
for a cap), so the dashboard can show "why" by listing them. Percentages are of the discipline part; with the
``daily_value`` method a day's loss is first scaled by that day's share (100 / working days, to 4 decimals).

TPP = performance part + discipline part, where
  performance part = base x performance weight x (activity score, or the SKP factor when the policy has no
                     activity rules), and
  discipline part  = base x discipline weight x (100 - deduction %) / 100; each part rounded to whole rupiah.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from hub.attendance.day import AttendanceDay, DayStatus
from hub.attendance.policy import TK, Policy

FOUR_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class DeductionLine:
    """One step of the month's deduction: ``day`` is None for a month-level rule (cap, sum of minutes)."""

    day: date | None
    code: str
    percent: Decimal
    rule: str


@dataclass(frozen=True)
class MonthlyRecap:
    nip: str
    year: int
    month: int
    policy_id: str
    policy_version: int
    job_class: int
    working_days: int
    present_days: int
    tk_days: int
    holidays: int
    tier_counts: Mapping[str, int]  # TL1..TL4, PSW1..PSW4 or clock-window tiers, on present days
    excused_by_code: Mapping[str, int]
    late_minutes: int
    early_minutes: int
    missing_punches: int
    lines: tuple[DeductionLine, ...]
    deduction_percent: Decimal
    activity_minutes: int  # time covered by logged activities
    effective_minutes: int  # of which inside presence (or on DL / tugas belajar)
    activity_value_minutes: int  # norm x volume of approved activities
    activity_target_minutes: int | None
    activity_score: Decimal | None
    performance_factor: Decimal
    base_tpp: int
    performance_part: int
    discipline_part: int

    @property
    def allowance(self) -> int:
        return self.performance_part + self.discipline_part


def _rupiah(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def day_lines(days: Sequence[AttendanceDay], policy: Policy, working_days: int) -> list[DeductionLine]:
    """Each day's deductions as lines, scaled to the month for the ``daily_value`` method."""
    share = Decimal(1)
    if policy.discipline.method == "daily_value" and working_days:
        share = Decimal(1) / working_days
    lines: list[DeductionLine] = []
    for day in days:
        for deduction in day.deductions:
            percent = (deduction.percent * share).quantize(FOUR_PLACES) if share != 1 else deduction.percent
            lines.append(DeductionLine(day.day, deduction.code, percent, deduction.rule))
    return lines


def late_early_sum_lines(days: Sequence[AttendanceDay], policy: Policy) -> list[DeductionLine]:
    """Accumulated late+early minutes on present days, each full block counting as one more TK."""
    rule = policy.discipline.late_early_sum
    if rule is None:
        return []
    present = [d for d in days if d.status is DayStatus.PRESENT]
    minutes = sum(d.minutes_late + d.minutes_early for d in present)
    blocks = minutes // rule.minutes
    text = f"TK: {minutes} min late+early this month, every {rule.minutes} min counts as one TK"
    return [DeductionLine(None, TK, policy.discipline.tk_percent, text) for _ in range(blocks)]


def longest_tk_run(days: Iterable[AttendanceDay], run_before: int = 0) -> tuple[int, date | None]:
    """The longest run of TK working days (days off do not break a run; any other working day does) and the
    date it reached its length. ``run_before`` TK days that ended the previous month count only if this month
    continues the run."""
    run, best, best_day = run_before, 0, None
    for day in sorted(days, key=lambda d: d.day):
        if not day.is_working_day:
            continue
        if day.status is not DayStatus.TK:
            run = 0
            continue
        run += 1
        if run > best:
            best, best_day = run, day.day
    return best, best_day


def month_rule_lines(
    days: Sequence[AttendanceDay], policy: Policy, lines: list[DeductionLine], tk_run_before: int
) -> list[DeductionLine]:
    """The consecutive-TK rule and the monthly cap, each as a line that brings the total to its figure."""
    d = policy.discipline
    added: list[DeductionLine] = []
    total = sum((line.percent for line in lines), Decimal(0))
    streak = d.consecutive_tk
    if streak is not None:
        run, reached = longest_tk_run(days, tk_run_before)
        if run >= streak.days and total < streak.percent:
            rule = f"{run} TK days in a row (>= {streak.days}): the month's deduction is {streak.percent}%"
            added.append(DeductionLine(reached, "TK_RUN", streak.percent - total, rule))
            total = streak.percent
    if total > d.monthly_cap_percent:
        rule = f"monthly cap {d.monthly_cap_percent}%: {total}% reduced to {d.monthly_cap_percent}%"
        added.append(DeductionLine(None, "CAP_MONTH", d.monthly_cap_percent - total, rule))
    return added


def activity_score(days: Sequence[AttendanceDay], policy: Policy) -> tuple[int | None, Decimal | None]:
    """``(target minutes, score)``; both None when the policy has no activity rules.

    score = min(value, target - deduction minutes) / target, target = expected days x daily target, where the
    expected days are the working days less approved absences other than DL / tugas belajar (nobody logs work
    while on leave), and deduction minutes = late + early minutes + a daily target per TK day + the policy's
    minutes per missing punch (only when ``subtract_attendance_minutes``)."""
    rules = policy.activity
    if rules is None:
        return None, None
    on_leave = sum(1 for d in days if d.status is DayStatus.EXCUSED and d.absence_code not in {"DL", "TB"})
    expected_days = sum(1 for d in days if d.is_working_day) - on_leave
    target = expected_days * rules.daily_target_minutes
    if target <= 0:
        return 0, Decimal(0)
    value = sum(d.activity_value_minutes for d in days)
    deduction = 0
    if rules.subtract_attendance_minutes:
        present = [d for d in days if d.status is DayStatus.PRESENT]
        deduction += sum(d.minutes_late + d.minutes_early for d in present)
        deduction += sum(d.missing_check_in + d.missing_check_out for d in present) * rules.missing_punch_minutes
        deduction += sum(1 for d in days if d.status is DayStatus.TK) * rules.daily_target_minutes
    counted = max(0, min(value, target - deduction))
    return target, (Decimal(counted) / Decimal(target)).quantize(FOUR_PLACES)


def monthly_recap(
    days: Sequence[AttendanceDay],
    policy: Policy,
    job_class: int,
    *,
    performance_factor: Decimal = Decimal(1),
    tk_run_before: int = 0,
) -> MonthlyRecap:
    """Recap one employee's month from its evaluated days (one per calendar date, all in the same month).

    ``policy`` is the version in force for the month (``policy_in_force(versions, first day)``); each day keeps
    the deductions of the version it was evaluated under. ``performance_factor`` (0..1, from the SKP) is used
    only when the policy has no activity rules. ``tk_run_before``: TK working days that ended the previous month.
    """
    if not days:
        raise ValueError("a recap needs the month's days")
    ordered = sorted(days, key=lambda d: d.day)
    first = ordered[0]
    if {d.nip for d in ordered} != {first.nip} or {(d.day.year, d.day.month) for d in ordered} != {
        (first.day.year, first.day.month)
    }:
        raise ValueError("a recap covers one employee and one calendar month")
    base = policy.allowance.base_tpp.get(job_class)
    if base is None:
        raise LookupError(f"policy {policy.id} v{policy.version} has no base TPP for kelas jabatan {job_class}")

    present = [d for d in ordered if d.status is DayStatus.PRESENT]
    working_days = sum(1 for d in ordered if d.is_working_day)
    lines = day_lines(ordered, policy, working_days) + late_early_sum_lines(ordered, policy)
    lines += month_rule_lines(ordered, policy, lines, tk_run_before)
    deduction = max(Decimal(0), sum((line.percent for line in lines), Decimal(0)))
    target, score = activity_score(ordered, policy)
    factor = score if score is not None else performance_factor

    weights = policy.weights
    performance_part = _rupiah(Decimal(base) * weights.performance / 100 * factor)
    discipline_part = _rupiah(Decimal(base) * weights.discipline / 100 * (100 - deduction) / 100)
    tiers = Counter(code for d in present for code in (d.late_code, d.early_code) if code is not None)
    return MonthlyRecap(
        nip=first.nip,
        year=first.day.year,
        month=first.day.month,
        policy_id=policy.id,
        policy_version=policy.version,
        job_class=job_class,
        working_days=working_days,
        present_days=len(present),
        tk_days=sum(1 for d in ordered if d.status is DayStatus.TK),
        holidays=sum(1 for d in ordered if d.status is DayStatus.HOLIDAY),
        tier_counts=dict(sorted(tiers.items())),
        excused_by_code=dict(sorted(Counter(d.absence_code for d in ordered if d.absence_code is not None).items())),
        late_minutes=sum(d.minutes_late for d in present),
        early_minutes=sum(d.minutes_early for d in present),
        missing_punches=sum(d.missing_check_in + d.missing_check_out for d in present),
        lines=tuple(lines),
        deduction_percent=deduction,
        activity_minutes=sum(d.activity_minutes for d in ordered),
        effective_minutes=sum(d.effective_minutes for d in ordered),
        activity_value_minutes=sum(d.activity_value_minutes for d in ordered),
        activity_target_minutes=target,
        activity_score=score,
        performance_factor=factor,
        base_tpp=base,
        performance_part=performance_part,
        discipline_part=discipline_part,
    )
