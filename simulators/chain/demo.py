"""``presensi demo``: the whole chain on embedded defaults, a simulated working week in a few minutes.

Steps, each visible on the console:

1. start the chain (simulators/chain/harness.py) with the simulated clock held at real speed;
2. load the hub through its API as an operator would: units for two offices in two time zones, the
   terminals, employees and enrollments (CSV imports), the national five-day schedule group, the TL/PSW
   preset policy, the bundled holiday calendar, approved absences and activity logs;
3. let the week pass fast, skipping the nights, with a broker outage and a terminal power loss (clock
   reset, set right later by a technician) injected on the way;
4. wait until every punch made at a terminal is stored at the hub, count them by idempotency key;
5. ``presensi hub recompute`` the days, read the exceptions and the monthly recap from the API;
6. the e-Kinerja feed (``send_recap_to_ekinerja``): close the months that have ended and let the hub's
   dispatcher send the days and recaps to the mock receiver;
7. print the summary, write ``summary.json`` to the run directory; exit 1 when a punch is missing or
   stored twice, or the receiver lacks a day or a recap.
"""

import contextlib
import math
import re
import signal
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from simulators.chain.harness import Chain, ChainSpec, Tally
from simulators.chain.process import ProcessError
from simulators.zk.build import FAMILY_NAMES, GIVEN_NAMES

ZONES = ("Asia/Jakarta", "Asia/Makassar")
ZONE_NAMES = {"Asia/Jakarta": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}
ROOT_UNIT = "DEMO"
SCHEDULE_GROUP = "N5"
WEEKDAY = {"start": "07:30", "end": "16:00", "break_minutes": 60}
FRIDAY = {"start": "07:30", "end": "16:30", "break_minutes": 90}
# The simulator's workforce keeps the same week (simulators/zk/workforce.py WorkSchedule).
NATIONAL_FIVE_DAY = {
    "code": SCHEDULE_GROUP,
    "name": "Hari kerja nasional (Perpres 21/2023)",
    "pattern": {"type": "weekly", "days": [WEEKDAY, WEEKDAY, WEEKDAY, WEEKDAY, FRIDAY, None, None]},
}
# Each simulated day runs from before the first arrival in the easternmost office to after the last
# departure in the westernmost one; the night between is skipped with a jump of the world clock.
DAY_BEGINS_LOCAL = (6, 15)  # in the earliest zone (first arrivals 06:45)
DAY_ENDS_LOCAL = (17, 30)  # in the latest zone (last departures before 17:21 on a Friday)
SETTLE_TIMEOUT_SECONDS = 180.0
TICK_SECONDS = 0.5


@dataclass(slots=True)
class DemoOptions:
    terminals: int = 8
    employees: int = 300
    edges: int = 2
    days: int = 5
    speed: float = 1800.0
    faults: bool = True
    keep_running: bool = False
    store_url: str | None = None
    run_dir: Path | None = None
    seed: int = 7
    outage_seconds: float = 6.0  # real seconds the broker stays down


# --- the simulated week ------------------------------------------------------------------------------


def demo_days(count: int, today: date | None = None) -> list[date]:
    """``count`` working days from Monday of last week: a week that is over, whatever day it is today."""
    today = today or datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday() + 7)
    return [monday + timedelta(days=n) for n in range(count)]


def _local(day: date, hm: tuple[int, int], zone: str) -> datetime:
    return datetime(day.year, day.month, day.day, *hm, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def day_window(day: date, zones: tuple[str, ...]) -> tuple[datetime, datetime]:
    """The simulated instants (UTC) a working day runs between, for offices in ``zones``."""
    begin = min(_local(day, DAY_BEGINS_LOCAL, z) for z in zones)
    end = max(_local(day, DAY_ENDS_LOCAL, z) for z in zones)
    return begin, end


@dataclass(slots=True)
class Fault:
    at: datetime  # simulated instant (UTC)
    name: str
    done: bool = False


# --- the workforce as the hub sees it ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoEmployee:
    index: int
    office: int
    pin: str
    nip: str
    name: str
    job_class: int


def demo_nip(index: int) -> str:
    """A NIP that passes the hub's checks, distinct per index: birth date, appointment, gender, sequence."""
    birth = date(1965, 1, 1) + timedelta(days=index % 10_000)
    appointed = (birth.year + 24, birth.month)
    return f"{birth:%Y%m%d}{appointed[0]:04d}{appointed[1]:02d}{1 + index % 2}{index // 10_000 + 1:03d}"


def demo_employees(offices: int, per_office: int) -> list[DemoEmployee]:
    """The simulator's employees (simulators/zk/build.py numbers PINs and names them the same way)."""
    found: list[DemoEmployee] = []
    for office in range(offices):
        for n in range(per_office):
            number = office * 100_000 + n + 1
            index = len(found)
            found.append(
                DemoEmployee(
                    index=index,
                    office=office,
                    pin=str(10_000 + number),
                    nip=demo_nip(index),
                    name=f"{GIVEN_NAMES[number % len(GIVEN_NAMES)]} {FAMILY_NAMES[number % len(FAMILY_NAMES)]}",
                    job_class=5 + index % 8,
                )
            )
    return found


def office_unit(office: int) -> str:
    return f"{ROOT_UNIT}.K{office + 1}"


class Api:
    """The hub API as the demo's admin token, failing loudly with the hub's error body."""

    def __init__(self, chain: Chain) -> None:
        self.client = httpx.Client(
            base_url=f"{chain.api_url}/api/v1",
            headers={"Authorization": f"Bearer {chain.admin_token}"},
            timeout=300,
        )

    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        if response.status_code not in ok:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def close(self) -> None:
        self.client.close()


def load_hub(chain: Chain, api: Api, employees: list[DemoEmployee], days: list[date], say: Any) -> dict[str, int]:
    """Everything the hub needs to judge the week, through its API (CSV imports where an operator uses them)."""
    spec = chain.spec
    counts: Counter[str] = Counter()
    api.call("POST", "/units", json={"code": ROOT_UNIT, "name": "Pemerintah Kabupaten Demo"})
    for office in range(spec.offices):
        zone = spec.zones[office % len(spec.zones)]
        name = f"Kantor {office + 1} ({ZONE_NAMES.get(zone, zone)})"
        api.call("POST", "/units", json={"code": office_unit(office), "name": name, "parent_code": ROOT_UNIT})
        counts["units"] += 1
    for index, terminal in enumerate(chain.terminals):
        office = index % spec.offices
        body = {
            "serial": terminal.serial,
            "location": f"Kantor {office + 1} pintu {index // spec.offices + 1}",
            "zone": terminal.zone,
            "edge_id": chain.edge_of[terminal.serial],
        }
        api.call("POST", "/terminals", json=body)
        counts["terminals"] += 1
    # The demo's staff exist for the demo's days only, so the monthly recap is about those days.
    first, last = days[0].isoformat(), days[-1].isoformat()
    rows = ["nip,name,unit_code,job_class,active_from,active_to"]
    rows += [f"{e.nip},{e.name},{office_unit(e.office)},{e.job_class},{first},{last}" for e in employees]
    report = api.call("POST", "/employees/import", params={"dry_run": "false"}, content="\n".join(rows) + "\n")
    counts["employees"] = report["created"] + report["updated"]
    _refuse_rejections("employees", report)
    office_terminals: dict[int, list[str]] = {}
    for index, terminal in enumerate(chain.terminals):
        office_terminals.setdefault(index % spec.offices, []).append(terminal.serial)
    rows = ["terminal_sn,pin,nip,valid_from"]
    rows += [f"{sn},{e.pin},{e.nip},{first}" for e in employees for sn in office_terminals.get(e.office, [])]
    report = api.call("POST", "/enrollments/import", params={"dry_run": "false"}, content="\n".join(rows) + "\n")
    counts["enrollments"] = report["created"] + report["updated"]
    _refuse_rejections("enrollments", report)
    api.call("POST", "/schedule-groups", json=NATIONAL_FIVE_DAY)
    for office in range(spec.offices):
        zone = spec.zones[office % len(spec.zones)]
        api.call(
            "POST",
            "/schedule-assignments",
            json={"group_code": SCHEDULE_GROUP, "unit_code": office_unit(office), "zone": zone},
        )
    preset = resources.files("hub.attendance").joinpath("presets/tlpsw-standard.yaml").read_text(encoding="utf-8")
    api.call(
        "POST", "/policies", params={"activate": "true"}, content=preset, headers={"Content-Type": "application/yaml"}
    )
    counts["policies"] = 1
    for year in sorted({d.year for d in days}):
        response = api.client.post("/holidays/import", params={"bundled": year})
        if response.status_code == 200:
            counts["holidays"] += int(response.json()["imported"])
        else:
            say(f"[yellow]no bundled holiday calendar for {year}: {response.text[:200]}[/yellow]")
    counts.update(_absences(api, employees, days))
    counts.update(_activities(api, employees, days))
    return dict(counts)


def _refuse_rejections(kind: str, report: dict[str, Any]) -> None:
    if report["rejected"]:
        raise RuntimeError(f"the hub rejected {len(report['rejected'])} {kind} rows: {report['rejected'][:3]}")


def _absences(api: Api, employees: list[DemoEmployee], days: list[date]) -> Counter[str]:
    """Approved leave for a few: annual leave mid-week, a sick day, an official trip (dinas luar).

    The simulator does not know about them, so these people still punch on some of those days: the
    hub keeps both, and the attendance day says which one wins.
    """
    counts: Counter[str] = Counter()
    plans = [
        (40, "CT", days[1:3] or days[:1], "Cuti tahunan 800/{n}/BKPSDM"),
        (97, "S", days[3:4] or days[-1:], "Surat keterangan dokter {n}"),
        (61, "DL", days[4:5] or days[-1:], "SPT 090/{n}/2026"),
    ]
    for every, kind, span, reference in plans:
        for employee in employees[every // 2 :: every]:
            body = {
                "nip": employee.nip,
                "kind": kind,
                "first": span[0].isoformat(),
                "last": span[-1].isoformat(),
                "reference": reference.format(n=employee.index),
            }
            absence = api.call("POST", "/absences", json=body)
            api.call("POST", f"/absences/{absence['id']}/approve")
            counts["absences"] += 1
    return counts


def _activities(api: Api, employees: list[DemoEmployee], days: list[date]) -> Counter[str]:
    """One morning of logged work on the first day for every fourth employee; a supervisor approves most."""
    counts: Counter[str] = Counter()
    for employee in employees[::4]:
        body = {
            "nip": employee.nip,
            "day": days[0].isoformat(),
            "start": "08:00",
            "end": "11:00",
            "description": "Menyusun laporan kinerja bulanan",
            "rhk_ref": f"RHK-{1 + employee.index % 5}",
            "norm_minutes": 60,
            "volume": 3,
        }
        activity = api.call("POST", "/activities", json=body)
        counts["activities"] += 1
        if employee.index % 3:
            api.call("POST", f"/activities/{activity['id']}/review", json={"action": "approve"})
            counts["activities_approved"] += 1
    return counts


# --- after the week ----------------------------------------------------------------------------------

RECOMPUTE_LINE = re.compile(
    r"(?P<employees>\d+) employees, (?P<days>\d+) days \((?P<new>\d+) new, (?P<changed>\d+) changed, "
    r"(?P<unchanged>\d+) unchanged, (?P<skipped>\d+) without schedule or policy\), (?P<punches>\d+) punches"
)


def recompute(chain: Chain, days: list[date]) -> dict[str, int]:
    done = chain.hub_cli("recompute", "--from", days[0].isoformat(), "--to", days[-1].isoformat())
    found = RECOMPUTE_LINE.search(done.stdout)
    if found is None:
        raise RuntimeError(f"unexpected output from presensi hub recompute:\n{done.stdout}")
    return {k: int(v) for k, v in found.groupdict().items()}


def _all_pages(api: Api, path: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = api.call("GET", path, params={**params, "limit": 1000, "offset": len(found)})
        found.extend(page)
        if len(page) < 1000:
            return found


def attendance_days(api: Api, days: list[date]) -> dict[str, Any]:
    rows = _all_pages(api, "/attendance/days", unit=ROOT_UNIT, **{"from": days[0].isoformat()}, to=days[-1].isoformat())
    codes: Counter[str] = Counter()
    for row in rows:
        for code in (row["codes"] or "").split(","):
            if code:
                codes[code] += 1
    return {
        "days": len(rows),
        "by_status": dict(sorted(Counter(r["status"] for r in rows).items())),
        "by_code": dict(sorted(codes.items())),
    }


def exceptions(chain: Chain, api: Api) -> dict[str, Any]:
    """What an admin has to look at: unmatched PINs, doubtful timestamps, dead letters, sequence gaps.

    A punch with a reset clock is usually unmatched too (its date is before any enrollment): the
    total counts each punch once.
    """
    unmatched: set[str] = set()
    while True:
        page = api.call("GET", "/punches/unmatched", params={"limit": 1000, "offset": len(unmatched)})
        unmatched.update(p["key"] for p in page["items"])
        if len(page["items"]) < 1000:
            break
    flagged = chain.flagged_punches()
    flagged_keys = chain.flagged_keys()
    dead = int(api.call("GET", "/dead-letters", params={"limit": 1})["total"])
    gaps = api.call("GET", "/sequence-gaps")
    return {
        "unmatched_punches": len(unmatched),
        "flagged_punches": len(flagged_keys),
        "flagged_by_reason": flagged,
        "dead_letters": dead,
        "sequence_gaps": len(gaps),
        "total": len(unmatched | flagged_keys) + dead + len(gaps),
    }


def unit_recap(api: Api, days: list[date]) -> dict[str, Any]:
    """The recap API for the demo's unit tree, month by month, summed over its employees."""
    months = sorted({(d.year, d.month) for d in days})
    out: dict[str, Any] = {}
    for year, month in months:
        rows = _all_pages(api, f"/attendance/recap/unit/{ROOT_UNIT}", year=year, month=month)
        recaps = [r["recap"] for r in rows if r["recap"] is not None]
        tiers: Counter[str] = Counter()
        excused: Counter[str] = Counter()
        for recap in recaps:
            tiers.update(recap["tier_counts"])
            excused.update(recap["excused_by_code"])
        deductions = [Decimal(str(r["deduction_percent"])) for r in recaps]
        out[f"{year}-{month:02d}"] = {
            "employees": len(rows),
            "with_recap": len(recaps),
            "working_days": sum(r["working_days"] for r in recaps),
            "present_days": sum(r["present_days"] for r in recaps),
            "tk_days": sum(r["tk_days"] for r in recaps),
            "tiers": dict(sorted(tiers.items())),
            "excused": dict(sorted(excused.items())),
            "mean_deduction_percent": str(round(sum(deductions) / len(deductions), 2)) if deductions else "0",
            "employees_with_deduction": sum(1 for d in deductions if d > 0),
            "allowance_total_rupiah": sum(r["performance_part"] + r["discipline_part"] for r in recaps),
        }
    return out


def send_recap_to_ekinerja(chain: Chain, api: Api, days: list[date], timeout: float = 120.0) -> dict[str, Any]:
    """The e-Kinerja feed (docs/ekinerja-feed.md) to the mock receiver: the recompute queued every day; close
    each month that has ended (its recaps are queued), let the hub's dispatcher send, and report what the
    receiver holds."""
    today = datetime.now(UTC).date()
    closed, open_months = [], []
    for year, month in sorted({(d.year, d.month) for d in days}):
        label = f"{year}-{month:02d}"
        ended = (year, month) < (today.year, today.month)
        if ended:
            chain.hub_cli("feed", "close-month", label)
            closed.append(label)
        else:
            open_months.append(label)  # the feed refuses to close a month that has not ended
    deadline = time.monotonic() + timeout
    while True:
        status = api.call("GET", "/feed/status")
        counts: dict[str, int] = status["counts"]
        waiting = counts.get("pending", 0) + counts.get("retrying", 0)
        closing = [c for c in api.call("GET", "/months/closes") if c.get("status") == "running"]
        if (not waiting and not closing) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    received = chain.receiver_records()
    kinds = Counter(r["kind"] for r in received["records"])
    return {
        "status": "sent" if not waiting else f"{waiting} records still waiting after {timeout:.0f} s",
        "feed": counts,
        "months_closed": closed,
        "months_open": open_months,
        "receiver": received["counters"],
        "receiver_records": dict(kinds),
    }


# --- the run -----------------------------------------------------------------------------------------


class _Stop(Exception):
    pass


def run_demo(options: DemoOptions, console: Console | None = None) -> int:
    console = console or Console()
    if not 1 <= options.days <= 5:
        raise ValueError("days must be 1 to 5 (a working week)")
    started = time.monotonic()
    days = demo_days(options.days)
    zones = ZONES
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = (options.run_dir or Path("var") / "demo" / stamp).resolve()
    schema = (
        f"demo_{stamp.replace('-', '_')}" if options.store_url and options.store_url.startswith("postgres") else None
    )
    offices = min(len(zones), options.terminals)
    spec = ChainSpec(
        terminals=options.terminals,
        offices=offices,
        zones=zones[:offices],
        employees=options.employees,
        edges=options.edges,
        speed=1.0,  # held at real time while the hub is loaded; the week starts after
        start=day_window(days[0], zones[:offices])[0] - timedelta(minutes=5),
        seed=options.seed,
        store_url=options.store_url,
        store_schema=schema,
        run_dir=run_dir,
    )
    chain = Chain(spec)
    summary: dict[str, Any] = {"run_dir": str(run_dir), "options": _jsonable(asdict(options))}
    console.rule("[bold]presensi demo")
    console.print(
        f"{options.terminals} terminals in {offices} offices ({', '.join(zones[:offices])}), "
        f"{spec.employees_per_office * offices} employees, {options.edges} edge agents, hub on "
        f"{'SQLite' if not options.store_url else options.store_url}; {len(days)} working days from "
        f"{days[0]:%a %d %b %Y} at {options.speed:g}x.  Run directory: {run_dir}"
    )
    interrupted = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        interrupted.set()
        raise _Stop

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        phases: dict[str, float] = {}
        summary["phases_seconds"] = phases
        mark = time.monotonic()

        def phase(name: str) -> None:
            nonlocal mark
            phases[name] = round(time.monotonic() - mark, 1)
            mark = time.monotonic()

        with console.status("starting broker, mock e-Kinerja, hub, simulated terminals and edge agents"):
            chain.start()
        phase("start")
        console.print(
            f"[green]chain up[/green] in {time.monotonic() - started:.1f} s: broker 127.0.0.1:{chain.broker.port} "
            f"({'per-edge logins + ACL' if spec.broker_auth else 'anonymous'}), hub {chain.api_url}, "
            f"simulator admin {chain.sim_admin_url}, mock e-Kinerja {chain.receiver_url}"
        )
        console.print(f"dashboard: [bold]{chain.dashboard_url}[/bold]   API docs: {chain.api_url}/docs")
        console.print(f"admin API token ({'chain-admin'}, role admin): [bold]{chain.admin_token}[/bold]")
        api = Api(chain)
        employees = demo_employees(offices, spec.employees_per_office)
        with console.status("loading the hub: units, terminals, employees, enrollments, schedule, policy, ..."):
            loaded = load_hub(chain, api, employees, days, console.print)
        summary["loaded"] = loaded
        phase("load_hub")
        console.print("hub loaded through its API: " + ", ".join(f"{v} {k}" for k, v in loaded.items()))
        summary["week"] = run_week(chain, options, days, zones[:offices], console)
        phase("week")
        with console.status("waiting until every punch made is stored at the hub"):
            chain.set_speed(1.0)  # no more punches come while we count
            tally = chain.wait_until_stored(SETTLE_TIMEOUT_SECONDS)
        chain.check_running()
        summary["punches"] = tally.as_dict()
        phase("settle")
        with console.status("presensi hub recompute"):
            summary["recompute"] = recompute(chain, days)
        with console.status("reading attendance days, exceptions and the recap from the API"):
            summary["attendance_days"] = attendance_days(api, days)
            summary["exceptions"] = exceptions(chain, api)
            summary["recap"] = unit_recap(api, days)
        phase("recompute_and_read")
        summary["ekinerja"] = send_recap_to_ekinerja(chain, api, days)
        summary["seconds"] = round(time.monotonic() - started, 1)
        feed_ok = feed_complete(summary)
        summary["ok"] = tally.complete and feed_ok
        (run_dir / "summary.json").write_text(_dump(summary))
        print_summary(console, summary, tally, feed_ok)
        api.close()
        if options.keep_running:
            console.print(
                f"[bold]still running[/bold] (simulated clock at real speed): dashboard {chain.dashboard_url}. "
                "Ctrl-C to stop."
            )
            chain.set_speed(1.0)
            with contextlib.suppress(KeyboardInterrupt, _Stop):  # the summary stands; Ctrl-C ends the wait
                interrupted.wait()
        return 0 if summary["ok"] else 1
    except (KeyboardInterrupt, _Stop):
        console.print("[yellow]interrupted: stopping the chain[/yellow]")
        return 130
    except (ProcessError, RuntimeError) as exc:
        console.print(f"[red]demo failed:[/red] {exc}\nlogs: {chain.logs}")
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
        with console.status("stopping"):
            chain.stop()


def run_week(
    chain: Chain, options: DemoOptions, days: list[date], zones: tuple[str, ...], console: Console
) -> dict[str, Any]:
    """Let the days pass at speed, night jumps between, faults on the way. Returns what happened."""
    windows = [day_window(d, zones) for d in days]
    total = sum((end - begin).total_seconds() for begin, end in windows)
    faults = planned_faults(days, zones) if options.faults else []
    power_loss_serial = next((t.serial for t in chain.terminals if t.zone == zones[-1]), chain.terminals[0].serial)
    happened: list[dict[str, Any]] = []
    broker_back_at: float | None = None
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("made {task.fields[made]}  stored {task.fields[stored]}  {task.fields[note]}"),
        TimeElapsedColumn(),
    )
    chain.set_speed(options.speed)
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("week", total=total, made=0, stored=0, note="")
        day_index = 0
        while True:
            now = chain.sim_now()
            begin, end = windows[day_index]
            if now >= end:
                if day_index + 1 == len(days):
                    break
                day_index += 1
                chain.jump((windows[day_index][0] - now).total_seconds())
                continue
            done = sum((e - b).total_seconds() for b, e in windows[:day_index]) + max(
                0.0, (now - begin).total_seconds()
            )
            for fault in faults:
                if not fault.done and now >= fault.at:
                    fault.done = True
                    note = inject(chain, fault, power_loss_serial)
                    if fault.name == "broker outage":
                        broker_back_at = time.monotonic() + options.outage_seconds
                    happened.append({"fault": fault.name, "at": now.isoformat(), "detail": note})
                    progress.console.print(f"[yellow]{_sim_label(now, zones)}[/yellow]  {note}")
            if broker_back_at is not None and time.monotonic() >= broker_back_at:
                tally = chain.tally()
                chain.start_broker()
                broker_back_at = None
                note = (
                    f"broker back after {options.outage_seconds:g} s; {len(tally.missing)} punches waited at the edges"
                )
                happened.append({"fault": "broker restored", "at": now.isoformat(), "waiting": len(tally.missing)})
                progress.console.print(f"[green]{_sim_label(now, zones)}[/green]  {note}")
            tally = chain.tally()
            progress.update(
                task,
                completed=done,
                description=_sim_label(now, zones),
                made=tally.made,
                stored=tally.stored,
                note="[red]broker down[/red]" if broker_back_at is not None else "",
            )
            chain.check_running()
            # Sleep to the next fault or the end of the day, so each lands when planned (a tick is minutes).
            pending = [f.at for f in faults if not f.done] + [end]
            real_wait = (min(pending) - chain.sim_now()).total_seconds() / options.speed
            time.sleep(min(TICK_SECONDS, max(0.01, real_wait)))
        progress.update(task, completed=total)
    if broker_back_at is not None:
        chain.start_broker()
    return {"days": [d.isoformat() for d in days], "faults": happened}


def planned_faults(days: list[date], zones: tuple[str, ...]) -> list[Fault]:
    """A broker outage in the morning peak of day 2, a power loss at an eastern terminal on day 3 and the
    technician setting its clock right later that morning (the first day when the run is shorter)."""
    outage_day = days[min(1, len(days) - 1)]
    power_day = days[min(2, len(days) - 1)]
    east = zones[-1]
    return [
        Fault(_local(outage_day, (6, 50), zones[0]), "broker outage"),
        Fault(_local(power_day, (6, 50), east), "terminal power loss"),
        Fault(_local(power_day, (7, 45), east), "clock set by technician"),
    ]


def inject(chain: Chain, fault: Fault, serial: str) -> str:
    if fault.name == "broker outage":
        chain.stop_broker()
        return "broker stopped: edges keep every punch in their buffers"
    if fault.name == "terminal power loss":
        chain.power_loss(serial)
        return f"terminal {serial} lost power: its clock restarted at 2000-01-01 (punches flagged clock_reset)"
    if fault.name == "clock set by technician":
        chain.set_terminal_clock(serial)
        return f"technician set terminal {serial}'s clock right"
    raise ValueError(fault.name)


def _sim_label(now: datetime, zones: tuple[str, ...]) -> str:
    local = now.astimezone(ZoneInfo(zones[0]))
    return f"{local:%a %d %b %H:%M} {ZONE_NAMES.get(zones[0], zones[0])}"


def feed_complete(summary: dict[str, Any]) -> bool:
    """Every day computed, and every recap of a closed month, reached the receiver; nothing failed."""
    feed = summary["ekinerja"]
    held = feed["receiver_records"]
    recaps = sum(summary["recap"][m]["with_recap"] for m in feed["months_closed"])
    return bool(
        feed["status"] == "sent"
        and feed["feed"].get("failed", 0) == 0
        and held.get("daily", 0) >= summary["attendance_days"]["days"]
        and held.get("monthly", 0) >= recaps
    )


def print_summary(console: Console, summary: dict[str, Any], tally: Tally, feed_ok: bool) -> None:
    punches = summary["punches"]
    table = Table(title="presensi demo: summary", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("figure")
    good = "[green]" if tally.complete else "[red]"
    table.add_row("punches made at terminals", str(punches["made"]))
    table.add_row("punches stored at the hub", f"{good}{punches['stored']}[/]")
    table.add_row("missing / unexpected / stored twice", f"{good}{punches['missing']} / {punches['unexpected']} / "
                  f"{punches['duplicate_rows']}[/]")  # fmt: skip
    for fault in summary["week"]["faults"]:
        table.add_row(f"fault: {fault['fault']}", f"{fault['at'][:16]} UTC  {fault.get('detail', '')}".strip())
    exc = summary["exceptions"]
    table.add_row(
        "exceptions",
        f"{exc['total']}: {exc['unmatched_punches']} unmatched punches, {exc['flagged_punches']} flagged "
        f"{exc['flagged_by_reason']}, {exc['dead_letters']} dead letters, {exc['sequence_gaps']} sequence gaps",
    )
    days = summary["attendance_days"]
    recomputed = summary["recompute"]
    table.add_row("attendance days (recompute)", f"{recomputed['days']} days for {recomputed['employees']} employees")
    table.add_row("days by status", ", ".join(f"{k} {v}" for k, v in days["by_status"].items()))
    table.add_row("late/early/TK codes", ", ".join(f"{k} {v}" for k, v in days["by_code"].items()) or "-")
    for month, recap in summary["recap"].items():
        table.add_row(
            f"recap {month}",
            f"{recap['with_recap']} employees, {recap['present_days']} present days, {recap['tk_days']} TK, "
            f"tiers {recap['tiers']}, excused {recap['excused']}, mean deduction {recap['mean_deduction_percent']}%, "
            f"allowance Rp {recap['allowance_total_rupiah']:,}",
        )
    feed = summary["ekinerja"]
    table.add_row(
        "recap sent to e-Kinerja",
        f"{feed['status']}: receiver holds {feed['receiver_records'].get('daily', 0)} daily records and "
        f"{feed['receiver_records'].get('monthly', 0)} monthly recaps (months closed {feed['months_closed'] or '-'}"
        f"{', open ' + str(feed['months_open']) if feed['months_open'] else ''}); outbox {feed['feed']}",
    )
    table.add_row("took", f"{summary['seconds']} s; summary.json in {summary['run_dir']}")
    console.print(table)
    if tally.complete:
        console.print("[bold green]every punch made at a terminal is stored at the hub, once[/bold green]")
    else:
        console.print(f"[bold red]MISMATCH[/bold red]: {punches}")
    if feed_ok:
        console.print("[bold green]every computed day and closed-month recap reached e-Kinerja[/bold green]")
    else:
        console.print(f"[bold red]e-Kinerja feed incomplete[/bold red]: {summary['ekinerja']}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path | date | datetime | Decimal):
        return str(value)
    if isinstance(value, float) and math.isinf(value):
        return None
    return value


def _dump(summary: dict[str, Any]) -> str:
    import json

    return json.dumps(_jsonable(summary), indent=2, ensure_ascii=False) + "\n"
