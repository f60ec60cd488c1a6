"""What the pages show, read from the store through the same services the API uses.

Nothing here writes: the pages' writes call the registry, correction and dead-letter services directly.
Today's board evaluates the day with the attendance engine (``hub.reconcile.service``), so "late" and
"not yet in" mean exactly what the recompute will store.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.attendance.day import AttendanceDay, DayStatus
from hub.attendance.recap import MonthlyRecap
from hub.liveness import EdgeOut, edge_states
from hub.punches import PunchOut, search_punches
from hub.reconcile import corrections, records
from hub.reconcile.exceptions import PUNCH_KINDS, ExceptionKind, ExceptionPage, list_exceptions
from hub.reconcile.recaps import month_bounds, month_recaps
from hub.reconcile.service import CHUNK, active_policies, evaluate, load_inputs, month_days, recap_for
from hub.registry.service import enrollment_matches, get_employee, subtree_ids
from hub.store.models import Employee, Enrollment, Punch, Terminal, TerminalHealth, Unit

DRIFT_WARN_SECONDS = 120.0  # the edge's default max_drift_seconds: beyond it punches get flagged
NEARLY_FULL = 0.9  # a terminal log this full loses records at the next wrap (or refuses punches)
HISTOGRAM_BIN_MINUTES = 15


# --- today -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    nip: str
    name: str
    check_in: datetime | None = None
    code: str | None = None  # the late tier, or the absence code when excused


@dataclass
class UnitBoard:
    code: str
    name: str
    present: list[Person] = field(default_factory=list)
    not_yet_in: list[Person] = field(default_factory=list)
    excused: list[Person] = field(default_factory=list)
    off: int = 0
    unscheduled: int = 0

    @property
    def late(self) -> list[Person]:
        return [p for p in self.present if p.code]

    @property
    def late_by_tier(self) -> dict[str, int]:
        return dict(sorted(Counter(p.code for p in self.late if p.code).items()))


@dataclass(frozen=True)
class Bar:
    start: str  # "07:15"
    count: int


@dataclass
class TodayBoard:
    day: date
    units: list[UnitBoard]
    histogram: list[Bar]
    policy_active: bool

    @property
    def totals(self) -> dict[str, int]:
        return {
            "in": sum(len(u.present) for u in self.units),
            "late": sum(len(u.late) for u in self.units),
            "not_yet_in": sum(len(u.not_yet_in) for u in self.units),
            "excused": sum(len(u.excused) for u in self.units),
        }


def histogram(arrivals: Sequence[time], bin_minutes: int = HISTOGRAM_BIN_MINUTES) -> list[Bar]:
    """Arrivals counted per ``bin_minutes``, from the hour of the earliest to the hour after the latest
    (at least 06:00-10:00, the span of a normal morning), so the shape reads the same day to day."""
    minutes = [a.hour * 60 + a.minute for a in arrivals]
    first = min([6 * 60, *(m // 60 * 60 for m in minutes)])
    last = max([10 * 60, *((m // 60 + 1) * 60 for m in minutes)])
    counts = Counter((m - first) // bin_minutes for m in minutes)
    return [
        Bar(f"{(first + i * bin_minutes) // 60:02d}:{(first + i * bin_minutes) % 60:02d}", counts.get(i, 0))
        for i in range((last - first) // bin_minutes)
    ]


async def today_board(session: AsyncSession, day: date) -> TodayBoard:
    units = {u.id: u for u in (await session.execute(select(Unit).order_by(Unit.code))).scalars().all()}
    boards = {unit_id: UnitBoard(u.code, u.name) for unit_id, u in units.items()}
    names = dict(
        (
            await session.execute(
                select(Employee.nip, Employee.name)
                .where(Employee.active_from <= day, or_(Employee.active_to.is_(None), Employee.active_to >= day))
                .order_by(Employee.nip)
            )
        ).all()
    )
    active = list(names)
    policy_active = bool(await active_policies(session))
    arrivals: list[time] = []
    for start in range(0, len(active), CHUNK):
        batch = list(active[start : start + CHUNK])
        inputs = await load_inputs(session, batch, day, day)
        for nip in batch:
            employee = inputs.employees[nip]
            board = boards[employee.unit_id]
            evaluated, _skipped = evaluate(inputs, nip, day, day)
            if not evaluated:
                board.unscheduled += 1
                continue
            result = evaluated[0][0]
            _place(board, nip, names[nip], result)
            if result.status is DayStatus.PRESENT and result.check_in is not None:
                arrivals.append(result.check_in.time())
    shown = [b for b in boards.values() if b.present or b.not_yet_in or b.excused or b.off or b.unscheduled]
    return TodayBoard(day, shown, histogram(arrivals), policy_active)


def _place(board: UnitBoard, nip: str, name: str, day: AttendanceDay) -> None:
    if day.status is DayStatus.PRESENT:
        board.present.append(Person(nip, name, day.check_in, day.late_code))
    elif day.status is DayStatus.TK:
        board.not_yet_in.append(Person(nip, name))
    elif day.status is DayStatus.EXCUSED:
        board.excused.append(Person(nip, name, None, day.absence_code))
    else:
        board.off += 1


# --- terminals and edges -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TerminalRow:
    serial: str
    location: str
    edge_id: str | None
    health: TerminalHealth | None

    @property
    def fill(self) -> float | None:
        h = self.health
        if h is None or h.records is None or not h.record_capacity:
            return None
        return h.records / h.record_capacity

    @property
    def drifting(self) -> bool:
        h = self.health
        return h is not None and h.drift_seconds is not None and abs(h.drift_seconds) >= DRIFT_WARN_SECONDS

    @property
    def nearly_full(self) -> bool:
        fill = self.fill
        return fill is not None and fill >= NEARLY_FULL

    @property
    def unreachable(self) -> bool:
        return self.health is not None and not self.health.reachable

    @property
    def stands_out(self) -> bool:
        return self.drifting or self.nearly_full or self.unreachable


@dataclass(frozen=True)
class Fleet:
    edges: list[EdgeOut]
    terminals: list[TerminalRow]


def buffer_depth(edge: EdgeOut) -> int | None:
    """Punches the edge holds that the hub has not acknowledged: pending + sent."""
    if not edge.buffer:
        return None
    return int(edge.buffer.get("pending", 0)) + int(edge.buffer.get("sent", 0))


async def fleet(session: AsyncSession) -> Fleet:
    edges = await edge_states(session)
    health = (await session.execute(select(TerminalHealth))).scalars().all()
    newest: dict[str, TerminalHealth] = {}
    for h in health:  # a terminal moved between edges: the newest report wins
        if h.terminal_sn not in newest or h.reported_at > newest[h.terminal_sn].reported_at:
            newest[h.terminal_sn] = h
    registered = {t.serial: t for t in (await session.execute(select(Terminal))).scalars().all()}
    rows = []
    for serial in sorted(set(registered) | set(newest)):
        t, reported = registered.get(serial), newest.get(serial)
        location = t.location if t is not None else (reported.name if reported is not None else "")
        edge_id = reported.edge_id if reported is not None else (t.edge_id if t is not None else None)
        rows.append(TerminalRow(serial, location, edge_id, reported))
    rows.sort(key=lambda r: (not r.stands_out, r.serial))
    return Fleet(edges, rows)


# --- exceptions ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnmatchedPin:
    terminal_sn: str
    pin: str
    punches: int
    first_day: date
    last_day: date


async def unmatched_pins(session: AsyncSession, limit: int = 200) -> list[UnmatchedPin]:
    """Terminal + PIN pairs with punches no enrollment covers, most punches first."""
    count = func.count(Punch.id)
    query = (
        select(Punch.terminal_sn, Punch.pin, count, func.min(Punch.local_date), func.max(Punch.local_date))
        .outerjoin(Enrollment, enrollment_matches(Punch.terminal_sn, Punch.pin, Punch.local_date))
        .where(Enrollment.id.is_(None))
        .group_by(Punch.terminal_sn, Punch.pin)
        .order_by(count.desc(), Punch.terminal_sn, Punch.pin)
        .limit(limit)
    )
    return [UnmatchedPin(*row) for row in (await session.execute(query)).all()]


async def attributed_punches(session: AsyncSession, terminal_sn: str, pin: str, nip: str) -> list[PunchOut]:
    page = await search_punches(session, nip=nip, terminal_sn=terminal_sn, limit=1000)
    return [p for p in page.items if p.pin == pin]


EVER = (date(1970, 1, 1), date(2100, 12, 31))  # a suspect punch's date is what is in doubt: look at all of them
FINDING_KINDS = [k for k in ExceptionKind if k not in PUNCH_KINDS]


async def suspect_punches(session: AsyncSession, limit: int = 100) -> ExceptionPage:
    """Punches the edge flagged (clock reset, future, before install, clock drift), from the exceptions service."""
    first, last = EVER
    kinds = {ExceptionKind.FLAGGED_PUNCH}
    return await list_exceptions(session, first=first, last=last, kinds=kinds, limit=limit)


async def reconciliation_conflicts(
    session: AsyncSession, until: date, days: int = 7, limit: int = 100
) -> ExceptionPage:
    """Stored days of the last ``days`` whose presence and activity logs disagree (the engine's findings)."""
    first = until - timedelta(days=days - 1)
    return await list_exceptions(session, first=first, last=until, kinds=FINDING_KINDS, limit=limit)


# --- employees -------------------------------------------------------------------------------------------------


async def find_employees(session: AsyncSession, text: str, limit: int = 50) -> list[tuple[Employee, str]]:
    query = select(Employee, Unit.code).join(Unit, Unit.id == Employee.unit_id).order_by(Employee.name)
    if text:
        like = f"%{text.lower()}%"
        query = query.where(or_(func.lower(Employee.name).like(like), Employee.nip.like(like)))
    return [(e, code) for e, code in (await session.execute(query.limit(limit))).all()]


@dataclass
class EmployeeMonth:
    employee: Any  # EmployeeOut
    year: int
    month: int
    days: list[AttendanceDay]
    punches: list[PunchOut]
    activities: list[records.ActivityOut]
    corrections: list[corrections.CorrectionOut]
    recap: MonthlyRecap | None


async def employee_month(session: AsyncSession, nip: str, year: int, month: int) -> EmployeeMonth:
    employee = await get_employee(session, nip)
    first, last = month_bounds(year, month)
    days, _inputs = await month_days(session, nip, year, month)
    # Punch times are UTC; a day's margin each side keeps every wall-clock date of the month in any zone.
    since = datetime.combine(first - timedelta(days=1), time(), tzinfo=UTC)
    until = datetime.combine(last + timedelta(days=2), time(), tzinfo=UTC)
    punches = await search_punches(session, nip=nip, since=since, until=until, limit=1000)
    month_punches = [p for p in punches.items if first <= p.local_date <= last]
    activities = await records.list_activities(
        session, nip=nip, first=first, last=last, status=None, limit=1000, offset=0
    )
    made = await corrections.list_corrections(session, nip=nip, first=None, last=None, limit=1000, offset=0)
    recap = await recap_for(session, nip, year, month)
    return EmployeeMonth(employee, year, month, days, month_punches, activities, made, recap)


# --- recaps ------------------------------------------------------------------------------------------------------


async def unit_recaps(
    session: AsyncSession, unit_code: str, year: int, month: int, limit: int = 100, offset: int = 0
) -> list[tuple[Employee, MonthlyRecap | None]]:
    ids = await subtree_ids(session, unit_code)
    employees = (
        (await session.execute(select(Employee).where(Employee.unit_id.in_(ids)).order_by(Employee.nip)))
        .scalars()
        .all()
    )
    shown = employees[offset : offset + limit]
    # One batch load for the page: the same figures the exports and month closing use.
    recaps = await month_recaps(session, [e.nip for e in shown], year, month)
    return [(e, recaps.get(e.nip)) for e in shown]


async def all_units(session: AsyncSession) -> list[Unit]:
    return list((await session.execute(select(Unit).order_by(Unit.code))).scalars().all())
