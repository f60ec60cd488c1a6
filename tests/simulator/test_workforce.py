"""The workforce: deterministic plans with plausible habits, punching on a simulated clock faster than real time."""

import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from simulators.zk.clock import SimClock, TerminalClock
from simulators.zk.fleet import Fleet
from simulators.zk.terminal import Terminal
from simulators.zk.workforce import CHECK_IN, CHECK_OUT, Employee, Habits, PlannedPunch, Workforce, plan_day

from .helpers import connected

pytestmark = pytest.mark.timeout(60)

MONDAY = date(2024, 3, 4)


def staff(count: int, terminal: Terminal) -> list[Employee]:
    employees = []
    for i in range(count):
        pin = str(198001010000 + i)
        terminal.add_user(pin, f"Pegawai {i}")
        employees.append(Employee(pin, f"Pegawai {i}", [terminal]))
    return employees


def plans(employees: list[Employee], days: list[date], seed: int) -> list[list[PlannedPunch]]:
    return [plan_day(e, d, seed, Habits()) for e in employees for d in days]


def workdays(count: int) -> list[date]:
    days: list[date] = []
    day = MONDAY
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def test_plan_is_deterministic_for_a_seed() -> None:
    employees = staff(50, Terminal("WF-DET"))
    days = workdays(5)
    assert plans(employees, days, seed=7) == plans(employees, days, seed=7)
    assert plans(employees, days, seed=7) != plans(employees, days, seed=8)


def test_nobody_punches_on_weekends() -> None:
    employees = staff(20, Terminal("WF-WKND"))
    assert all(plan_day(e, MONDAY + timedelta(days=d), 1, Habits()) == [] for e in employees for d in (5, 6))


def test_habits_come_in_plausible_proportions_over_200_employees_and_20_days() -> None:
    employees = staff(200, Terminal("WF-STATS", user_capacity=1000))
    days = workdays(20)
    habits = Habits()
    tally: Counter[str] = Counter()
    for employee in employees:
        for day in days:
            punches = plan_day(employee, day, 2024, habits)
            tally["days"] += 1
            if not punches:
                tally["absent"] += 1
                continue
            start = datetime.combine(day, employee.schedule.start)
            end = datetime.combine(day, employee.schedule.end_on(day))
            ins = [p for p in punches if p.status == CHECK_IN]
            outs = [p for p in punches if p.status == CHECK_OUT]
            assert punches == sorted(punches, key=lambda p: p.local), "punches out of order"
            assert len(outs) <= 1
            assert 1 <= len(ins) <= 2
            late = (ins[0].local - start).total_seconds() / 60
            band = (
                "on_time"
                if late <= 0
                else "late_1_30"
                if late <= 30
                else "late_31_60"
                if late <= 60
                else ("late_61_90" if late <= 90 else "late_over_90")
            )
            tally[band] += 1
            if len(ins) == 2:
                tally["double_punch"] += 1
                assert timedelta(seconds=2) <= ins[1].local - ins[0].local <= timedelta(seconds=9)
            if not outs:
                tally["forgot_checkout"] += 1
            elif outs[0].local < end:
                tally["early_leave"] += 1
    n = tally["days"]
    assert n == 4000
    present = n - tally["absent"]
    expected = {
        "absent": habits.absent * n,
        "late_over_90": habits.late_over_90 * n,
        "late_61_90": habits.late_61_90 * n,
        "late_31_60": habits.late_31_60 * n,
        "late_1_30": habits.late_1_30 * n,
        "double_punch": habits.double_punch * present,
        "forgot_checkout": habits.forgot_checkout * present,
        "early_leave": habits.early_leave * present * (1 - habits.forgot_checkout),
    }
    for key, mean in expected.items():
        assert 0.5 * mean <= tally[key] <= 1.6 * mean, f"{key}: {tally[key]} vs expected ~{mean:.0f} ({tally})"
    assert tally["on_time"] > 0.75 * n


def test_workforce_punches_appear_on_the_terminal_as_simulated_time_passes() -> None:
    # Monday 06:00 in Jakarta; an hour of simulated time per real second.
    start = datetime(2024, 3, 4, 6, 0, tzinfo=UTC) - timedelta(hours=7)
    with Fleet(SimClock(start=start, speed=3600)) as fleet:
        terminal = Terminal("WF-LIVE", world=fleet.world)
        employees = staff(40, terminal)
        handle = fleet.add(terminal)
        workforce = fleet.run_workforce(employees, seed=11)
        assert isinstance(workforce, Workforce)
        planned = sorted(
            (p.local, e.pin, p.status) for e in employees for p in plan_day(e, MONDAY, 11, workforce.habits)
        )
        time.sleep(0.3)  # 06:18: before anyone arrives (earliest is 06:45)
        assert terminal.record_count == 0
        deadline = time.monotonic() + 10
        while terminal.clock.now() < datetime(2024, 3, 4, 8, 30):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        now = terminal.clock.now()
        records = terminal.records()
        due = [p for p in planned if p[0] <= now - timedelta(minutes=3)]
        assert len(due) >= 30  # most of the 40 have arrived by 08:30
        # every due punch was made, by the right person, once, stamped with the planned time
        made = [(r.pin, r.status) for r in records]
        assert Counter(made) >= Counter((pin, status) for _, pin, status in due)
        assert len(records) <= len([p for p in planned if p[0] <= now])
        for record in records:
            matches = [p for p in planned if p[1] == record.pin and p[2] == record.status]
            assert any(record.timestamp == p[0] for p in matches)  # the clock has no offset here
        assert workforce.stats.recorded == len(records)
        # and pyzk reads them off the terminal while the day goes on
        zk = connected(handle)
        got = zk.get_attendance()
        zk.disconnect()
        assert [(a.user_id, a.timestamp) for a in got[: len(records)]] == [(r.pin, r.timestamp) for r in records]


def test_a_punch_from_just_before_a_power_loss_is_stamped_2000_not_1999() -> None:
    """The ZK time encoding starts in 2000: 1999-12-31 would reach pyzk as 2099 and make a key no one made."""
    world = SimClock(datetime(2026, 11, 2, 0, 0, tzinfo=UTC), speed=1.0)
    clock = TerminalClock(world, "Asia/Jakarta")
    before = world.now() - timedelta(minutes=5)  # an event of the workforce, stamped late
    clock.power_loss()
    assert clock.at(before) == datetime(2000, 1, 1, 0, 0, 0)
    assert clock.now() >= datetime(2000, 1, 1, 0, 0, 0)
