"""A workforce that punches: employees with schedules and habits, on the simulated clock.

Each employee-day is planned from a random generator seeded with (seed, PIN, date), so a run is
deterministic for a seed whatever the speed or the order of events. Habits follow what the
domain brief describes: most arrive on time, some late by TL1-TL4 bands, some leave early, some
are absent, some double-punch a few seconds apart, some forget to check out.
"""

import asyncio
import heapq
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from simulators.zk.clock import SimClock
from simulators.zk.layouts import Record
from simulators.zk.terminal import Terminal

CHECK_IN, CHECK_OUT = 0, 1


@dataclass(frozen=True, slots=True)
class WorkSchedule:
    """The national 5-day week by default: 07:30-16:00, Friday to 16:30."""

    start: time = time(7, 30)
    end: time = time(16, 0)
    friday_end: time = time(16, 30)
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})

    def end_on(self, day: date) -> time:
        return self.friday_end if day.weekday() == 4 else self.end


@dataclass(frozen=True, slots=True)
class Habits:
    """Probabilities of a day's behaviour; the rest of the mass is 'on time'."""

    late_1_30: float = 0.08
    late_31_60: float = 0.03
    late_61_90: float = 0.015
    late_over_90: float = 0.01
    absent: float = 0.03
    early_leave: float = 0.05
    forgot_checkout: float = 0.03
    double_punch: float = 0.05


@dataclass(slots=True)
class Employee:
    pin: str
    name: str
    terminals: list[Terminal]
    schedule: WorkSchedule = field(default_factory=WorkSchedule)


@dataclass(frozen=True, slots=True)
class PlannedPunch:
    local: datetime  # true local wall time in the office's zone (the device clock may differ)
    status: int


def plan_day(employee: Employee, day: date, seed: int, habits: Habits) -> list[PlannedPunch]:
    """The punches one employee makes on one day (empty on days off and absences)."""
    schedule = employee.schedule
    if day.weekday() not in schedule.workdays:
        return []
    rng = random.Random(f"{seed}|{employee.pin}|{day.isoformat()}")
    start = datetime.combine(day, schedule.start)
    end = datetime.combine(day, schedule.end_on(day))
    roll = rng.random()
    bands = [
        (habits.absent, None),
        (habits.late_over_90, (91, 180)),
        (habits.late_61_90, (61, 90)),
        (habits.late_31_60, (31, 60)),
        (habits.late_1_30, (1, 30)),
    ]
    arrival: datetime | None = start - timedelta(seconds=rng.randint(60, 45 * 60))
    for probability, band in bands:
        if roll < probability:
            arrival = (
                None if band is None else start + timedelta(minutes=rng.randint(*band), seconds=rng.randint(0, 59))
            )
            break
        roll -= probability
    if arrival is None:
        return []
    punches = [PlannedPunch(arrival, CHECK_IN)]
    if rng.random() < habits.double_punch:
        punches.append(PlannedPunch(arrival + timedelta(seconds=rng.randint(2, 9)), CHECK_IN))
    if rng.random() >= habits.forgot_checkout:
        if rng.random() < habits.early_leave:
            leave = end - timedelta(minutes=rng.randint(5, 120), seconds=rng.randint(0, 59))
        else:
            leave = end + timedelta(minutes=rng.randint(0, 50), seconds=rng.randint(0, 59))
        punches.append(PlannedPunch(max(leave, arrival + timedelta(minutes=30)), CHECK_OUT))
    return punches


@dataclass(slots=True)
class WorkforceStats:
    planned: int = 0
    recorded: int = 0
    not_recorded: int = 0  # terminal off, disabled (deferred) or its log full in stop mode


class Workforce:
    """Drives employees' punches onto their terminals as simulated time passes."""

    def __init__(
        self, employees: list[Employee], world: SimClock, *, seed: int = 0, habits: Habits | None = None
    ) -> None:
        self.employees = employees
        self.world = world
        self.seed = seed
        self.habits = habits or Habits()
        self.stats = WorkforceStats()
        self._queue: list[tuple[datetime, int, int, int]] = []  # (utc, counter, employee index, status)
        self._planned_until: date | None = None
        self._counter = 0
        self._start_utc = world.now()  # punches planned before the simulation started are history

    @staticmethod
    def _zone(employee: Employee) -> ZoneInfo:
        return employee.terminals[0].clock.zone

    def _plan_through(self, last_day: date) -> None:
        first = self._planned_until + timedelta(days=1) if self._planned_until else self.world.now().date()
        day = first
        while day <= last_day:
            for index, employee in enumerate(self.employees):
                zone = self._zone(employee)
                for planned in plan_day(employee, day, self.seed, self.habits):
                    utc = planned.local.replace(tzinfo=zone).astimezone(UTC)
                    self._counter += 1
                    heapq.heappush(self._queue, (utc, self._counter, index, planned.status))
                    self.stats.planned += 1
            day += timedelta(days=1)
        self._planned_until = last_day

    def step(self) -> list[Record]:
        """Make every punch that is due by now. Returns the records written."""
        now = self.world.now()
        if self._planned_until is None or self._planned_until < (now + timedelta(days=1)).date():
            self._plan_through((now + timedelta(days=1)).date())
        made: list[Record] = []
        while self._queue and self._queue[0][0] <= now:
            utc, counter, index, status = heapq.heappop(self._queue)
            if utc < self._start_utc:
                continue
            employee = self.employees[index]
            terminal = employee.terminals[counter % len(employee.terminals)]
            # Stamped at the planned instant, not at the tick that noticed it: the same seed gives the same
            # records however loaded the machine is.
            record = terminal.punch(employee.pin, status, verify=1 if counter % 7 else 15, at=terminal.clock.at(utc))
            if record is None:
                self.stats.not_recorded += 1
            else:
                self.stats.recorded += 1
                made.append(record)
        return made

    async def run(self, tick_seconds: float = 0.02) -> None:
        """Punch as time passes until cancelled."""
        while True:
            self.step()
            await asyncio.sleep(tick_seconds)

    def history(self, terminal: Terminal, count: int, before: date) -> list[Record]:
        """The last ``count`` records the terminal would hold from working days before ``before``.

        Used to start a terminal with a realistic full-ish log (``--records``).
        """
        uids = {u.pin: u.uid for u in terminal.users()}
        staff = [e for e in self.employees if terminal in e.terminals and e.pin in uids]
        if count and not staff:
            raise ValueError(f"terminal {terminal.serial} has no enrolled employees to make history from")
        days: list[list[Record]] = []
        total, day = 0, before - timedelta(days=1)
        while total < count:
            records = [
                Record(uids[e.pin], e.pin, p.local, p.status, 1 if i % 7 else 15)
                for e in staff
                for i, p in enumerate(plan_day(e, day, self.seed, self.habits))
            ]
            records.sort(key=lambda r: r.timestamp)
            days.append(records)
            total += len(records)
            day -= timedelta(days=1)
        history = [r for records in reversed(days) for r in records]
        return history[len(history) - count :] if count else []
