"""``presensi sim``: run simulated ZK terminals, and steer running ones through their admin port."""

import json
import signal
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from simulators.zk.build import FleetSpec, build, state_file
from simulators.zk.clock import SimClock
from simulators.zk.fleet import Fleet
from simulators.zk.terminal import WhenFull

app = typer.Typer(no_args_is_help=True)
console = Console()

HostOpt = Annotated[str, typer.Option(help="Address to listen on.")]
UsersOpt = Annotated[int, typer.Option("--users", min=0, help="Employees enrolled per office.")]
RecordsOpt = Annotated[int, typer.Option("--records", min=0, help="Attendance records to pre-fill per terminal.")]
KeyOpt = Annotated[int, typer.Option("--comm-key", min=0, help="Comm key (0: none).")]
SizeOpt = Annotated[int | None, typer.Option("--record-size", help="Attendance record layout: 40, 16 or 8 bytes.")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="Firmware profile (zk8, zk6, zem500, ma300, ...).")]
SpeedOpt = Annotated[float, typer.Option("--speed", min=0.001, help="Simulated seconds per real second.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for the workforce: same seed, same punches.")]
StateOpt = Annotated[Path | None, typer.Option("--state", help="Load state from and save it to this file/dir.")]
CapacityOpt = Annotated[int, typer.Option("--capacity", min=1, help="Attendance log capacity.")]
FullOpt = Annotated[str, typer.Option("--when-full", help="Log full: 'stop' recording or 'overwrite' oldest.")]
WorkforceOpt = Annotated[bool, typer.Option("--workforce/--no-workforce", help="Employees punch as time passes.")]
AdminOpt = Annotated[int | None, typer.Option("--admin-port", help="Serve the admin HTTP API on this port.")]
StartOpt = Annotated[datetime | None, typer.Option("--start", help="Simulated start time (UTC), default now.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON line when serving (for scripts).")]
JournalOpt = Annotated[
    Path | None,
    typer.Option("--journal", help="Append every punch made (JSON lines, with its key) to this file."),
]


def _run(
    spec: FleetSpec,
    *,
    host: str,
    speed: float,
    start: datetime | None,
    workforce: bool,
    admin_port: int | None,
    as_json: bool,
    journal: Path | None = None,
) -> None:
    if spec.when_full not in ("stop", "overwrite"):
        raise typer.BadParameter("must be 'stop' or 'overwrite'", param_hint="--when-full")
    world = SimClock(start.replace(tzinfo=UTC) if start and start.tzinfo is None else start, speed)
    try:
        terminals, employees, crowd = build(spec, world)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    fleet = Fleet(world, host=host).start()
    try:
        for index, terminal in enumerate(terminals):
            fleet.add(terminal, spec.base_port + index if spec.base_port else 0)
    except OSError as exc:
        fleet.stop()
        console.print(f"[red]cannot listen: {exc}[/red]")
        raise typer.Exit(2) from exc
    if journal is not None:
        fleet.keep_journal(journal)
    if workforce and employees:
        fleet.workforce = crowd
        fleet.spawn(crowd.run())
    if admin_port is not None:
        from simulators.zk.admin import serve_admin

        serve_admin(fleet, host, admin_port)

    served = [
        {
            "serial": h.terminal.serial,
            "host": h.host,
            "port": h.port,
            "zone": h.terminal.zone,
            "profile": h.terminal.profile.name,
            "users": len(h.terminal.users()),
            "records": h.terminal.record_count,
            "comm_key": bool(h.terminal.comm_key),
        }
        for h in fleet.terminals
    ]
    if as_json:
        print(json.dumps({"terminals": served, "admin_port": admin_port, "speed": speed}), flush=True)
    else:
        table = Table(title=f"Simulated ZK terminals (TCP+UDP), world x{speed:g}, seed {spec.seed}")
        for column in ("serial", "port", "zone", "profile", "users", "records", "comm key"):
            table.add_column(column)
        for row in served:
            table.add_row(
                str(row["serial"]), f"{row['host']}:{row['port']}", str(row["zone"]), str(row["profile"]),
                str(row["users"]), str(row["records"]), "yes" if row["comm_key"] else "no",
            )  # fmt: skip
        console.print(table)
        if admin_port is not None:
            console.print(f"admin API: http://{host}:{admin_port}/terminals")
        console.print("Ctrl-C to stop.")

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    fleet.stop()
    if fleet.journal is not None:
        fleet.journal.close()
    for handle in fleet.terminals:
        path = state_file(spec, handle.terminal.serial)
        if path is not None:
            handle.terminal.save(path)
    if not as_json:
        console.print(f"stopped; {sum(h.terminal.stats.punches_recorded for h in fleet.terminals)} punches recorded")


@app.command("zk")
def zk(
    port: Annotated[int, typer.Option("--port", help="TCP and UDP port.")] = 4370,
    host: HostOpt = "127.0.0.1",
    users: UsersOpt = 50,
    records: RecordsOpt = 0,
    comm_key: KeyOpt = 0,
    record_size: SizeOpt = None,
    profile: ProfileOpt = None,
    speed: SpeedOpt = 1.0,
    seed: SeedOpt = 0,
    state: StateOpt = None,
    capacity: CapacityOpt = 100_000,
    when_full: FullOpt = "overwrite",
    zone: Annotated[str, typer.Option("--zone", help="IANA zone of the terminal clock.")] = "Asia/Jakarta",
    workforce: WorkforceOpt = True,
    admin_port: AdminOpt = None,
    start: StartOpt = None,
    as_json: JsonOpt = False,
    journal: JournalOpt = None,
) -> None:
    """Serve one simulated terminal on PORT (TCP and UDP)."""
    spec = FleetSpec(
        terminals=1, base_port=port, users=users, records=records, comm_key=comm_key, profile=profile,
        record_size=record_size, record_capacity=capacity, when_full=_when_full(when_full), zones=[zone],
        seed=seed, state=state,
    )  # fmt: skip
    _run(
        spec, host=host, speed=speed, start=start, workforce=workforce, admin_port=admin_port, as_json=as_json,
        journal=journal,
    )  # fmt: skip


@app.command("fleet")
def fleet(
    terminals: Annotated[int, typer.Option("--terminals", min=1, help="How many terminals.")] = 8,
    base_port: Annotated[int, typer.Option("--base-port", help="First port; 0 picks free ports.")] = 4370,
    host: HostOpt = "127.0.0.1",
    users: UsersOpt = 50,
    records: RecordsOpt = 0,
    comm_key: KeyOpt = 0,
    record_size: SizeOpt = None,
    profile: ProfileOpt = None,
    speed: SpeedOpt = 1.0,
    seed: SeedOpt = 0,
    state: StateOpt = None,
    capacity: CapacityOpt = 100_000,
    when_full: FullOpt = "overwrite",
    offices: Annotated[int, typer.Option("--offices", min=1, help="Offices the terminals are spread over.")] = 1,
    zones: Annotated[str, typer.Option("--zones", help="Comma-separated IANA zones, one per office.")] = (
        "Asia/Jakarta"
    ),
    workforce: WorkforceOpt = True,
    admin_port: AdminOpt = None,
    start: StartOpt = None,
    as_json: JsonOpt = False,
    journal: JournalOpt = None,
) -> None:
    """Serve many simulated terminals from one process, on consecutive ports."""
    spec = FleetSpec(
        terminals=terminals, base_port=base_port, users=users, records=records, comm_key=comm_key,
        profile=profile, record_size=record_size, record_capacity=capacity, when_full=_when_full(when_full),
        offices=offices, zones=[z.strip() for z in zones.split(",") if z.strip()], seed=seed, state=state,
    )  # fmt: skip
    _run(
        spec, host=host, speed=speed, start=start, workforce=workforce, admin_port=admin_port, as_json=as_json,
        journal=journal,
    )  # fmt: skip


def _when_full(value: str) -> WhenFull:
    if value == "stop":
        return "stop"
    if value == "overwrite":
        return "overwrite"
    raise typer.BadParameter("must be 'stop' or 'overwrite'", param_hint="--when-full")


@app.command("demo")
def demo(
    minutes: Annotated[float, typer.Option("--minutes", min=0.1, help="Real minutes to run.")] = 1.5,
    speed: Annotated[float, typer.Option("--speed", help="Simulated seconds per real second.")] = 2880.0,
    users: UsersOpt = 60,
    seed: SeedOpt = 7,
) -> None:
    """A simulated fleet read back through unmodified pyzk over TCP and UDP, with faults on the way."""
    from simulators.zk.demo import run_demo

    raise typer.Exit(run_demo(minutes=minutes, speed=speed, users=users, seed=seed, console=console))


@app.command("ekinerja")
def ekinerja(
    port: Annotated[int, typer.Option("--port", help="HTTP port.")] = 8480,
    host: HostOpt = "127.0.0.1",
    token: Annotated[str | None, typer.Option("--token", help="Bearer token the feed must send.")] = None,
) -> None:
    """A mock e-Kinerja receiver: POST /api/v1/submissions; /admin/mode makes it fail or slow down."""
    import uvicorn

    from simulators.ekinerja.receiver import ReceiverState, build_app

    console.print(f"mock e-Kinerja receiver on http://{host}:{port}/api/v1/submissions (admin: /admin/mode)")
    uvicorn.run(build_app(ReceiverState(), token), host=host, port=port, log_level="warning")


# --- steering a running simulator through its admin port ------------------------------------------

AdminUrl = Annotated[str, typer.Option("--admin", help="Admin URL of a running simulator.")]


def _call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        console.print(f"[red]{exc.code}: {exc.read().decode(errors='replace')}[/red]")
        raise typer.Exit(1) from exc
    except urllib.error.URLError as exc:
        console.print(f"[red]cannot reach the simulator admin port at {url}: {exc.reason}[/red]")
        raise typer.Exit(1) from exc


ctl = typer.Typer(no_args_is_help=True, help="Steer a running simulator (needs --admin-port on it).")
app.add_typer(ctl, name="ctl")


@ctl.command("status")
def ctl_status(admin: AdminUrl = "http://127.0.0.1:8470") -> None:
    """Show every terminal's state, faults and counters."""
    console.print_json(data={"world": _call(f"{admin}/world"), "terminals": _call(f"{admin}/terminals")})


@ctl.command("fault")
def ctl_fault(
    serial: str,
    settings: Annotated[list[str], typer.Argument(help="NAME=VALUE: unreachable, reply_delay, ...")],
    admin: AdminUrl = "http://127.0.0.1:8470",
) -> None:
    """Switch faults, e.g. `presensi sim ctl fault PRS0004370 unreachable=true reply_delay=2`."""
    body: dict[str, Any] = {}
    for item in settings:
        name, _, value = item.partition("=")
        body[name] = float(value) if name == "reply_delay" else value.lower() in ("1", "true", "on", "yes")
    console.print_json(data=_call(f"{admin}/terminals/{serial}/faults", "POST", body))


@ctl.command("action")
def ctl_action(
    serial: str,
    action: Annotated[str, typer.Argument(help="power_off, power_on, power_loss, clear_log or restart")],
    admin: AdminUrl = "http://127.0.0.1:8470",
) -> None:
    """Do something to a terminal: cut power, clear its log at the device, restart it."""
    console.print_json(data=_call(f"{admin}/terminals/{serial}/actions/{action}", "POST", {}))


@ctl.command("punch")
def ctl_punch(
    serial: str,
    pin: str,
    status: Annotated[int, typer.Option(help="0 check-in, 1 check-out")] = 0,
    admin: AdminUrl = "http://127.0.0.1:8470",
) -> None:
    """Make one punch now, as if PIN verified at the terminal."""
    console.print_json(data=_call(f"{admin}/terminals/{serial}/punch", "POST", {"pin": pin, "status": status}))


@ctl.command("profile")
def ctl_profile(serial: str, profile: str, admin: AdminUrl = "http://127.0.0.1:8470") -> None:
    """Switch the terminal's firmware profile (record layouts)."""
    console.print_json(data=_call(f"{admin}/terminals/{serial}/profile", "POST", {"profile": profile}))
