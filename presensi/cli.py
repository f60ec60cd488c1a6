"""The ``presensi`` command. Sub-apps are imported from their components so that an edge box
(installed with only the ``edge`` extra) never imports hub code."""

from pathlib import Path
from typing import Annotated

import typer

from edge.cli import app as edge_app
from hub.cli import app as hub_app
from simulators.cli import app as sim_app

app = typer.Typer(
    name="presensi",
    help="Attendance terminals -> edge agents -> MQTT -> hub -> e-Kinerja.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(sim_app, name="sim", help="Simulated ZK attendance terminals for testing without hardware.")
app.add_typer(edge_app, name="edge", help="The edge agent that polls terminals and forwards punches.")
app.add_typer(hub_app, name="hub", help="The central hub: ingest, registry, reconciliation, API.")


DEMO_HELP = "\n\n".join(
    [
        "The whole chain on one machine: a simulated working week in a few minutes, then a summary.",
        "A private Mosquitto, the mock e-Kinerja receiver, the hub (SQLite), simulated terminals in Asia/Jakarta "
        "and Asia/Makassar and edge agents run as real processes. The hub is loaded through its API (units, "
        "employees, enrollments, schedule, TL/PSW policy, holidays, absences, activities); the week passes fast "
        "with a broker outage and a terminal power loss on the way.",
        "Ends with punches made vs stored, exceptions, attendance days, the monthly recap and what the e-Kinerja "
        "feed delivered; summary.json in the run dir. Exit 1 when a punch is missing or doubled or the feed is "
        "incomplete, 2 when a part fails. See docs/demo.md.",
    ]
)


@app.command("demo", help=DEMO_HELP)
def demo(
    terminals: Annotated[int, typer.Option(min=1, help="Simulated terminals, spread over 2 offices (WIB, WITA).")] = 8,
    employees: Annotated[int, typer.Option(min=2, help="Employees in all, half per office.")] = 300,
    edges: Annotated[int, typer.Option(min=1, help="Edge agents; terminal i goes to edge i mod EDGES.")] = 2,
    days: Annotated[int, typer.Option(min=1, max=5, help="Working days of last week to replay (Mon..).")] = 5,
    speed: Annotated[float, typer.Option(min=1, help="Simulated seconds per real second (nights skipped).")] = 1800,
    faults: Annotated[
        bool, typer.Option("--faults/--no-faults", help="Inject a broker outage and a terminal power loss.")
    ] = True,
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="After the summary, keep the chain up for the dashboard.")
    ] = False,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Hub store URL (default: SQLite in the run dir); postgresql://... gets its own schema per run.",
        ),
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option("--run-dir", help="Configs, logs, stores, summary.json (default var/demo/<time>).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Workforce seed: same seed, same punches.")] = 7,
) -> None:
    from simulators.chain.demo import DemoOptions, run_demo

    options = DemoOptions(
        terminals=terminals, employees=employees, edges=edges, days=days, speed=speed, faults=faults,
        keep_running=keep_running, store_url=store, run_dir=run_dir, seed=seed,
    )  # fmt: skip
    raise typer.Exit(run_demo(options))


if __name__ == "__main__":
    app()
