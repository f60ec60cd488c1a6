"""The simulator demo (``presensi sim demo``, ``make demo`` until the full-chain demo lands).

Two offices in different time zones, four terminals, a workforce punching on a fast clock, and a
poller reading every terminal through unmodified pyzk, alternating TCP and UDP. On the way a
terminal becomes unreachable for a while and another loses power (its clock resets to
2000-01-01, which the poller notices and corrects). At the end every punch recorded at a
terminal must have been read back.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from zk import ZK
from zk.exception import ZKError

from simulators.zk.build import FleetSpec, build
from simulators.zk.clock import SimClock
from simulators.zk.fleet import Fleet, SimulatedTerminal

PunchId = tuple[str, datetime, int]


@dataclass(slots=True)
class ReadState:
    seen: dict[str, set[PunchId]] = field(default_factory=dict)
    reads: int = 0
    errors: int = 0
    clock_fixes: int = 0
    last_error: dict[str, str] = field(default_factory=dict)


def _monday_morning(zone: str) -> datetime:
    today = datetime.now(ZoneInfo(zone)).date()
    monday = today - timedelta(days=today.weekday())
    return datetime.combine(monday, datetime.min.time(), ZoneInfo(zone)).replace(hour=6).astimezone(UTC)


def _read(handle: SimulatedTerminal, udp: bool, world: SimClock, state: ReadState) -> None:
    zk = ZK(handle.host, port=handle.port, timeout=3, force_udp=udp, ommit_ping=True)
    serial = handle.terminal.serial
    try:
        conn = zk.connect()
        try:
            clock = conn.get_time()
            true_local = world.now().astimezone(handle.terminal.clock.zone).replace(tzinfo=None)
            if abs((clock - true_local).total_seconds()) > 300:
                conn.set_time(true_local)  # what an edge does on a sync-clock command
                state.clock_fixes += 1
            records = conn.get_attendance()
        finally:
            conn.disconnect()
    except (ZKError, OSError) as exc:
        state.errors += 1
        state.last_error[serial] = f"{type(exc).__name__}: {exc}"
        return
    state.reads += 1
    state.seen.setdefault(serial, set()).update((r.user_id, r.timestamp, r.status) for r in records)


def run_demo(*, minutes: float, speed: float, users: int, seed: int, console: Console) -> int:
    spec = FleetSpec(
        terminals=4, base_port=0, users=users, offices=2, zones=["Asia/Jakarta", "Asia/Makassar"], seed=seed
    )
    world = SimClock(_monday_morning("Asia/Jakarta"), speed)
    terminals, employees, workforce = build(spec, world)
    state = ReadState()
    stop = threading.Event()
    duration = minutes * 60
    with Fleet(world) as fleet:
        handles = [fleet.add(t) for t in terminals]
        fleet.workforce = workforce
        punching = fleet.spawn(workforce.run())
        console.print(
            f"[bold]{len(handles)} simulated terminals[/bold] for {len(employees)} employees in 2 offices "
            f"(WIB, WITA); one simulated day every {86400 / speed:.0f} s"
        )
        for h in handles:
            console.print(f"  {h.terminal.serial}  {h.host}:{h.port}  {h.terminal.zone}  tcp+udp")

        def poll() -> None:
            udp = False
            while not stop.wait(2.0):
                for h in handles:
                    _read(h, udp, world, state)
                udp = not udp

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        cut, lost = handles[1], handles[2]

        def set_unreachable(on: bool) -> None:
            cut.terminal.faults.unreachable = on

        faults: list[tuple[float, str, Callable[[], None]]] = [
            (0.25, f"{cut.terminal.serial} unreachable", lambda: set_unreachable(True)),
            (0.5, f"{cut.terminal.serial} reachable again", lambda: set_unreachable(False)),
            (0.55, f"{lost.terminal.serial} power loss (clock reset)", lost.power_loss),
        ]
        started = time.monotonic()
        with Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"), TimeRemainingColumn(),
            console=console,
        ) as progress:  # fmt: skip
            task = progress.add_task("simulating", total=duration, status="")
            while (elapsed := time.monotonic() - started) < duration:
                while faults and elapsed >= faults[0][0] * duration:
                    _, what, act = faults.pop(0)
                    act()
                    progress.console.print(f"[yellow]fault:[/yellow] {what}")
                made = sum(h.terminal.record_count for h in handles)
                read = sum(len(s) for s in state.seen.values())
                status = f"{world.now().astimezone(ZoneInfo('Asia/Jakarta')):%a %H:%M} WIB  made {made}  read {read}"
                progress.update(task, completed=elapsed, status=status)
                time.sleep(0.25)
        stop.set()
        poller.join()
        punching.cancel()
        time.sleep(0.1)
        workforce_stats = workforce.stats
        for h in handles:  # a last full read of every terminal, after the workforce stops
            _read(h, False, world, state)

    table = Table(title="Punches made at terminals vs read back through pyzk")
    for column in ("terminal", "zone", "made", "read back", "missing", "last error"):
        table.add_column(column)
    total_made = total_missing = 0
    for h in handles:
        made_ids = {(r.pin, r.timestamp, r.status) for r in h.terminal.records()}
        missing = made_ids - state.seen.get(h.terminal.serial, set())
        total_made += len(made_ids)
        total_missing += len(missing)
        table.add_row(
            h.terminal.serial, h.terminal.zone, str(len(made_ids)), str(len(made_ids) - len(missing)),
            str(len(missing)), state.last_error.get(h.terminal.serial, ""),
        )  # fmt: skip
    console.print(table)
    console.print(
        f"workforce: {workforce_stats.recorded} punches recorded, {workforce_stats.not_recorded} not recorded "
        f"(terminal off); reads {state.reads} ok / {state.errors} failed; clocks corrected {state.clock_fixes}"
    )
    if total_missing:
        console.print(f"[red]{total_missing} of {total_made} punches were not read back[/red]")
        return 1
    console.print(f"[green]all {total_made} punches read back[/green]")
    return 0
