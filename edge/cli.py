"""``presensi edge``: run the agent, show its state, backfill a terminal, check a config."""

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from edge.config import ConfigError, EdgeSettings, load_settings
from presensi.broker_security import InsecureBroker

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The edge's TOML config file.")]


def _settings(path: Path) -> EdgeSettings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        console.print(f"[red]invalid config[/red]\n{exc}")
        raise typer.Exit(2) from exc


def _secure_broker(settings: EdgeSettings, path: Path) -> None:
    """Refuse (exit 2) a broker without a login and TLS, unless ``broker.allow_insecure`` says so."""
    try:
        settings.broker.require_secure(path)
    except InsecureBroker as exc:
        console.print(f"[red]insecure broker settings[/red]\n{exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None


@app.command("run")
def run(config: ConfigOpt = Path("/etc/presensi/edge.toml")) -> None:
    """Run the agent until SIGTERM/Ctrl-C: poll terminals, buffer, publish to the hub."""
    from edge.agent import run_agent

    settings = _settings(config)
    _secure_broker(settings, config)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("zk").setLevel(logging.WARNING)
    raise typer.Exit(run_agent(settings))


@app.command("check-config")
def check_config(config: ConfigOpt = Path("/etc/presensi/edge.toml")) -> None:
    """Validate a config file and print it with secrets hidden."""
    settings = _settings(config)
    _secure_broker(settings, config)
    typer.echo(json.dumps(json.loads(settings.model_dump_json()), indent=2))


@app.command("status")
def status(config: ConfigOpt = Path("/etc/presensi/edge.toml")) -> None:
    """Show the buffer and each terminal's state (as the running agent last reported it)."""
    from edge.agent import read_status
    from edge.buffer import Buffer

    settings = _settings(config)
    buffer = Buffer(settings.buffer.path, disk_budget_bytes=int(settings.buffer.disk_budget_mb * 2**20))
    stats = buffer.stats()
    cursors = {t.name: buffer.cursor(t.name) for t in settings.terminals}
    buffer.close()
    out = Console()
    out.print(f"[bold]edge {settings.edge_id}[/bold]  buffer {settings.buffer.path}")
    out.print(
        f"  pending {stats.pending}  sent (awaiting ack) {stats.sent}  acknowledged {stats.acknowledged}  "
        f"oldest unacked {stats.oldest_unacked or '-'}  disk {stats.used_bytes / 2**20:.1f} of "
        f"{stats.budget_bytes / 2**20:.0f} MiB" + ("  [red]BUDGET REACHED[/red]" if stats.budget_reached else "")
    )
    report = read_status(settings)
    table = Table(title="terminals" + ("" if report else " (agent not running or no report yet)"))
    for column in ("name", "serial", "reachable", "last poll", "records", "capacity", "drift s", "last error"):
        table.add_column(column)
    by_name = {t.name: t for t in report.terminals} if report else {}
    for terminal in settings.terminals:
        seen = by_name.get(terminal.name)
        cursor = cursors[terminal.name]
        if seen is None:
            table.add_row(
                terminal.name, cursor.serial if cursor else "-", "-", "-", str(cursor.count if cursor else "-")
            )
            continue
        table.add_row(
            terminal.name,
            seen.terminal_sn,
            "yes" if seen.reachable else "[red]no[/red]",
            f"{seen.last_poll:%Y-%m-%d %H:%M:%S}" if seen.last_poll else "-",
            str(seen.records if seen.records is not None else "-"),
            str(seen.record_capacity or "-"),
            str(seen.drift_seconds if seen.drift_seconds is not None else "-"),
            seen.last_error or "",
        )
    out.print(table)


@app.command("backfill")
def backfill(
    terminal: Annotated[str, typer.Argument(help="Terminal name as in the config.")],
    config: ConfigOpt = Path("/etc/presensi/edge.toml"),
) -> None:
    """Re-read a terminal's whole log into the buffer (the running agent then publishes what is new)."""
    from devices.driver import DriverError
    from edge.agent import zk_driver
    from edge.buffer import Buffer
    from edge.poller import TerminalPoller

    settings = _settings(config)
    chosen = next((t for t in settings.terminals if t.name == terminal), None)
    if chosen is None:
        console.print(f"[red]no terminal named {terminal!r} in {config}[/red]")
        raise typer.Exit(2)
    buffer = Buffer(settings.buffer.path, disk_budget_bytes=int(settings.buffer.disk_budget_mb * 2**20))
    poller = TerminalPoller(chosen, buffer, zk_driver)
    driver = zk_driver(chosen)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(f"connecting to {chosen.host}:{chosen.port}", total=None)
            driver.connect()
            info = driver.identify()
            progress.update(task, description=f"reading {info.records} records from {info.serial}", total=info.records)
            punches = driver.read_attendance()
            progress.update(task, completed=0, total=len(punches), description="storing")
            new = 0
            for start in range(0, len(punches), 1000):
                new += poller.store(punches[start : start + 1000])
                progress.update(task, completed=min(start + 1000, len(punches)))
    except DriverError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        driver.close()
        buffer.close()
    console.print(f"{len(punches)} records read at {datetime.now(UTC):%H:%M:%S} UTC, {new} new punches buffered")
