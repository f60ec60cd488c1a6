"""``presensi edge``: the edge agent's commands (filled by the edge issue)."""

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("version")
def version() -> None:
    """Print the agent version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("presensi"))
