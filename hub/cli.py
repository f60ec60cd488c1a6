"""``presensi hub``: the hub's commands (filled by the hub issue). Heavy imports stay inside commands."""

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("version")
def version() -> None:
    """Print the hub version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("presensi"))
