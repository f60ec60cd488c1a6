"""The ``presensi`` command. Sub-apps are imported from their components so that an edge box
(installed with only the ``edge`` extra) never imports hub code."""

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


if __name__ == "__main__":
    app()
