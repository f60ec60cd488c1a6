"""``presensi hub``: run the hub, extra ingest workers, migrations, tokens and imports.

Heavy imports (FastAPI, SQLAlchemy, paho) stay inside the commands so ``presensi edge`` never loads them.
"""

import asyncio
import getpass
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from hub.settings import HubSettings

app = typer.Typer(no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="hub.toml; PRESENSI_HUB_* environment variables override it"),
]


def _settings(config: Path | None) -> "HubSettings":
    from hub.settings import SettingsError, load_settings

    try:
        return load_settings(config)
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _secure_broker(settings: "HubSettings", config: Path | None) -> None:
    """Refuse (exit 2) to run ingest against a broker without a login and TLS, unless allowed explicitly."""
    from presensi.broker_security import InsecureBroker

    try:
        settings.mqtt.require_secure(config if config is not None else "the PRESENSI_HUB_MQTT__* environment")
    except InsecureBroker as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _run(coroutine: Coroutine[Any, Any, int]) -> None:
    code = asyncio.run(coroutine)
    if code:
        raise typer.Exit(code)


@app.command("version")
def version() -> None:
    """Print the hub version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("presensi"))


@app.command("migrate")
def migrate(config: ConfigOption = None) -> None:
    """Create or upgrade the store's schema to the newest revision."""
    settings = _settings(config)

    async def main() -> int:
        from hub.store.db import create_engine
        from hub.store.migrate import current_revision, upgrade

        engine = create_engine(settings.database)
        try:
            await upgrade(engine)
            typer.echo(f"store at revision {await current_revision(engine)}")
        finally:
            await engine.dispose()
        return 0

    _run(main())


@app.command("run")
def run(
    config: ConfigOption = None,
    no_migrate: Annotated[bool, typer.Option(help="Refuse to start on an old schema instead of upgrading")] = False,
) -> None:
    """Run the API (uvicorn) and one ingest worker until SIGTERM/SIGINT. Applies migrations first."""
    settings = _settings(config)
    _secure_broker(settings, config)
    _logging()
    from hub.service import serve

    _run(serve(settings, api=True, client_id=settings.mqtt.client_id, migrate=not no_migrate))


@app.command("ingest")
def ingest(
    worker: Annotated[
        str,
        typer.Option(
            help="This worker's name, unique and stable: the MQTT client id is <mqtt.client_id>-<worker>, "
            "and the broker keeps its unacknowledged messages under it"
        ),
    ],
    config: ConfigOption = None,
) -> None:
    """Run one more ingest worker on the shared subscription (no API). The schema must be current."""
    settings = _settings(config)
    _secure_broker(settings, config)
    _logging()
    from hub.service import serve

    _run(serve(settings, api=False, client_id=f"{settings.mqtt.client_id}-{worker}", migrate=False))


@app.command("create-token")
def create_token(
    name: Annotated[str, typer.Option(help="Who or what the token is for, e.g. ops-dashboard")],
    role: Annotated[str, typer.Option(help="admin, operator, viewer or service")],
    config: ConfigOption = None,
) -> None:
    """Issue an API token and print its secret (shown this once; the hub keeps only its hash)."""
    settings = _settings(config)
    from hub.access import Role

    try:
        chosen = Role(role)
    except ValueError:
        typer.echo(f"unknown role {role!r}: choose {', '.join(r.value for r in Role)}", err=True)
        raise typer.Exit(2) from None

    async def main(db: Any) -> int:
        from hub.access import issue_token

        issued = await issue_token(db, name, chosen, f"cli:{getpass.getuser()}")
        typer.echo(issued.secret)
        typer.echo(f"token {issued.name!r} ({issued.role.value}) created; store the secret now", err=True)
        return 0

    _run(_with_session(settings, main))


@app.command("revoke-token")
def revoke_token(name: Annotated[str, typer.Argument()], config: ConfigOption = None) -> None:
    """Revoke a token by name; it stops working at once."""
    settings = _settings(config)

    async def main(db: Any) -> int:
        from hub.access import revoke_token as revoke

        revoked = await revoke(db, name, f"cli:{getpass.getuser()}")
        typer.echo(f"token {revoked.name!r} revoked at {revoked.revoked_at}")
        return 0

    _run(_with_session(settings, main))


@app.command("create-user")
def create_user(
    username: Annotated[str, typer.Argument(help="The name to sign in to the dashboard with")],
    role: Annotated[str, typer.Option(help="admin, operator or viewer (the API's roles)")],
    display_name: Annotated[str, typer.Option(help="Shown in the dashboard; the username when empty")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin (scripts)")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Create a dashboard user; asks for the password twice (at least 10 characters)."""
    import sys

    settings = _settings(config)
    from hub.access import Role
    from hub.users import USER_ROLES

    if role not in {r.value for r in USER_ROLES}:
        typer.echo(f"unknown role {role!r}: choose {', '.join(r.value for r in USER_ROLES)}", err=True)
        raise typer.Exit(2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)

    async def main(db: Any) -> int:
        from hub.users import create_user as create

        user = await create(db, username, password, Role(role), f"cli:{getpass.getuser()}", display_name)
        typer.echo(f"user {user.username!r} ({user.role.value}) created")
        return 0

    _run(_with_session(settings, main))


@app.command("list-users")
def list_users(config: ConfigOption = None) -> None:
    """List the dashboard users with their role and whether they are disabled."""
    settings = _settings(config)

    async def main(db: Any) -> int:
        from hub.users import list_users as listed

        for user in await listed(db):
            state = f"disabled {user.disabled_at:%Y-%m-%d}" if user.disabled_at else "active"
            typer.echo(f"{user.username}\t{user.role.value}\t{state}\t{user.display_name}")
        return 0

    _run(_with_session(settings, main))


@app.command("disable-user")
def disable_user(username: Annotated[str, typer.Argument()], config: ConfigOption = None) -> None:
    """Disable a dashboard user: their sign-ins are refused and open sessions end at once."""
    settings = _settings(config)

    async def main(db: Any) -> int:
        from hub.users import disable_user as disable

        user = await disable(db, username, f"cli:{getpass.getuser()}")
        typer.echo(f"user {user.username!r} disabled at {user.disabled_at}")
        return 0

    _run(_with_session(settings, main))


def _import(kind: str, csv_file: Path, config: Path | None, apply: bool) -> None:
    settings = _settings(config)
    text = csv_file.read_text(encoding="utf-8-sig")

    async def main(db: Any) -> int:
        from hub.reconcile.activity_import import import_activities
        from hub.registry import csv_import

        run_import = {
            "employees": csv_import.import_employees,
            "enrollments": csv_import.import_enrollments,
            "activities": import_activities,
        }[kind]
        report = await run_import(db, text, f"cli:{getpass.getuser()}", dry_run=not apply)
        verb = "would " if report.dry_run else ""
        typer.echo(
            f"{report.rows} rows: {verb}create {report.created}, {verb}update {report.updated}, "
            f"unchanged {report.unchanged}, rejected {len(report.rejected)}"
        )
        for r in report.rejected:
            typer.echo(f"  row {r.row}: {r.column or '-'}={r.value!r}: {r.reason}")
        if report.dry_run:
            typer.echo("dry run: nothing changed (add --apply to import the valid rows)")
        return 1 if report.rejected else 0

    _run(_with_session(settings, main))


@app.command("import-employees")
def import_employees(
    csv_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    config: ConfigOption = None,
    apply: Annotated[bool, typer.Option("--apply", help="Write the valid rows (default: dry run)")] = False,
) -> None:
    """Import employees from a personnel-system CSV; lists every rejected row (exit 1 if any)."""
    _import("employees", csv_file, config, apply)


@app.command("import-enrollments")
def import_enrollments(
    csv_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    config: ConfigOption = None,
    apply: Annotated[bool, typer.Option("--apply", help="Write the valid rows (default: dry run)")] = False,
) -> None:
    """Import enrollments (terminal_sn, pin, nip, valid_from, valid_to) from CSV; dry run by default."""
    _import("enrollments", csv_file, config, apply)


@app.command("import-activities")
def import_activities(
    csv_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    config: ConfigOption = None,
    apply: Annotated[bool, typer.Option("--apply", help="Write the valid rows (default: dry run)")] = False,
) -> None:
    """Import activity entries from an e-Kinerja CSV export; idempotent by its id column; dry run by default."""
    _import("activities", csv_file, config, apply)


async def _with_session(settings: "HubSettings", work: Any) -> int:
    from hub.registry.errors import RegistryError
    from hub.store.db import create_engine, session_factory

    engine = create_engine(settings.database)
    try:
        async with session_factory(engine)() as db:
            return int(await work(db))
    except RegistryError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        return 1
    finally:
        await engine.dispose()


@app.command("recompute")
def recompute(
    from_: Annotated[str | None, typer.Option("--from", help="First date, YYYY-MM-DD")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last date, YYYY-MM-DD (inclusive)")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="Only this unit and the units below it")] = None,
    pending: Annotated[bool, typer.Option("--pending", help="Process the days marked for recompute")] = False,
    config: ConfigOption = None,
) -> None:
    """Recompute attendance days for a date range (and unit), or the pending marks, with a progress bar."""
    from datetime import date

    if pending == bool(from_ or to):
        typer.echo("give either --pending or both --from and --to", err=True)
        raise typer.Exit(2)
    try:
        first = date.fromisoformat(from_) if from_ else None
        last = date.fromisoformat(to) if to else None
    except ValueError as exc:
        typer.echo(f"bad date: {exc}", err=True)
        raise typer.Exit(2) from None
    if not pending and (first is None or last is None or last < first):
        typer.echo("--from and --to are both needed, --to not before --from", err=True)
        raise typer.Exit(2)
    settings = _settings(config)

    async def main(db: Any) -> int:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from sqlalchemy.ext.asyncio import AsyncEngine

        from hub.reconcile.queue import PENDING_LEASE, PENDING_LEASE_TTL, run_pending
        from hub.reconcile.service import RecomputeStats, recompute_range
        from hub.store.lease import current_holder, held, holder_name

        engine = db.bind
        assert isinstance(engine, AsyncEngine)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
        ) as progress:
            task = progress.add_task("employees", total=None)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            stats: RecomputeStats | None
            if pending:
                stats = await run_pending(
                    engine, holder_name("recompute --pending"), progress=step, workers=settings.recompute.workers
                )
            else:
                assert first is not None
                assert last is not None
                # The same lease as --pending and the hub's loop: two recomputes never write the same days.
                async with held(engine, PENDING_LEASE, holder_name("recompute --from"), PENDING_LEASE_TTL) as mine:
                    workers = settings.recompute.workers
                    stats = (
                        await recompute_range(db, first, last, unit_code=unit, progress=step, workers=workers)
                        if mine
                        else None
                    )
        if stats is None:
            other = await current_holder(engine, PENDING_LEASE)
            who = f"{other[0]} (lease until {other[1]:%Y-%m-%d %H:%M:%S} UTC)" if other else "another process"
            typer.echo(f"not started: {who} is recomputing already", err=True)
            return 3
        rate = stats.days / stats.seconds if stats.seconds else 0.0
        typer.echo(
            f"{stats.employees} employees, {stats.days} days ({stats.inserted} new, {stats.changed} changed, "
            f"{stats.unchanged} unchanged, {stats.skipped} without schedule or policy), {stats.punches} punches "
            f"in {stats.seconds:.2f} s ({rate:.0f} days/s)"
        )
        return 0

    _run(_with_session(settings, main))


# --- the e-Kinerja feed ---------------------------------------------------------------------------

feed_app = typer.Typer(no_args_is_help=True, help="The e-Kinerja feed: status, sending, month closing, backfill.")
app.add_typer(feed_app, name="feed")


@feed_app.command("status")
def feed_status(config: ConfigOption = None) -> None:
    """Records per status, the oldest unsent one, the next retry, and which process holds the sending lease."""
    settings = _settings(config)

    async def main(db: Any) -> int:
        from hub.feed.dispatcher import feed_status as status_of

        report = await status_of(db.bind)
        typer.echo("  ".join(f"{name} {count}" for name, count in report.counts.items()))
        typer.echo(f"oldest unsent: {report.oldest_open_at or '-'}   next retry: {report.next_attempt_at or '-'}")
        typer.echo(f"sending: {report.lease_holder or 'nobody'} (lease until {report.lease_expires_at or '-'})")
        typer.echo(f"endpoint: {settings.ekinerja.url or 'not set (records stay pending)'}")
        return 0

    _run(_with_session(settings, main))


@feed_app.command("send-once")
def feed_send_once(config: ConfigOption = None) -> None:
    """Send every due record now (under the same lease as `hub run`'s dispatcher) and report; exit 1 on errors."""
    settings = _settings(config)
    if settings.ekinerja.url is None:
        typer.echo("ekinerja.url is not set: nothing to send to", err=True)
        raise typer.Exit(2)

    async def main(db: Any) -> int:
        from hub.feed.dispatcher import Dispatcher

        dispatcher = Dispatcher(settings.ekinerja, db.bind, max_batches=1_000_000)
        report = await dispatcher.send_once()
        if not report.lease:
            typer.echo("another hub process is sending right now (it holds the lease); nothing done")
            return 0
        typer.echo(f"{report.batches} batches: {report.sent} sent, {report.retrying} to retry, {report.failed} failed")
        for error in dict.fromkeys(report.errors):
            typer.echo(f"  {error}")
        return 1 if report.retrying or report.failed else 0

    _run(_with_session(settings, main))


@feed_app.command("close-month")
def feed_close_month(
    month: Annotated[str, typer.Argument(help="YYYY-MM, a month that has ended")],
    unit: Annotated[str | None, typer.Option("--unit", help="Only this unit and the units below it")] = None,
    config: ConfigOption = None,
) -> None:
    """Snapshot each employee's recap of MONTH and queue it for e-Kinerja (safe to run again)."""
    settings = _settings(config)

    async def main(db: Any) -> int:
        from hub.feed.months import close_month

        closed = await close_month(db, month, f"cli:{getpass.getuser()}", unit_code=unit)
        typer.echo(
            f"{month} closed for {closed.unit_code or 'everyone'}: {closed.employees} employees, "
            f"{closed.enqueued} recaps queued, {closed.unchanged} unchanged, {closed.skipped} without a recap"
        )
        return 0

    _run(_with_session(settings, main))


@feed_app.command("enqueue")
def feed_enqueue(
    from_: Annotated[str, typer.Option("--from", help="First date, YYYY-MM-DD")],
    to: Annotated[str, typer.Option("--to", help="Last date, YYYY-MM-DD (inclusive)")],
    config: ConfigOption = None,
) -> None:
    """Queue the current version of stored days not yet in the outbox (days computed before the feed existed)."""
    from datetime import date

    try:
        first, last = date.fromisoformat(from_), date.fromisoformat(to)
    except ValueError as exc:
        typer.echo(f"bad date: {exc}", err=True)
        raise typer.Exit(2) from None
    settings = _settings(config)

    async def main(db: Any) -> int:
        from hub.feed.outbox import enqueue_days

        queued = await enqueue_days(db, first, last)
        await db.commit()
        typer.echo(f"{queued} daily records queued")
        return 0

    _run(_with_session(settings, main))


@feed_app.command("prune")
def feed_prune(config: ConfigOption = None) -> None:
    """Delete sent and superseded records older than ekinerja.retention_days (the dispatcher does it hourly)."""
    settings = _settings(config)

    async def main(db: Any) -> int:
        from hub.feed.outbox import prune

        pruned = await prune(db, settings.ekinerja.retention_days)
        await db.commit()
        typer.echo(f"{pruned} records pruned (older than {settings.ekinerja.retention_days} days)")
        return 0

    _run(_with_session(settings, main))


@feed_app.command("retry-failed")
def feed_retry_failed(
    month: Annotated[str | None, typer.Option("--month", help="Only records of this month, YYYY-MM")] = None,
    config: ConfigOption = None,
) -> None:
    """Put every failed record back to pending (after fixing what the receiver refused); audited."""
    settings = _settings(config)

    async def main(db: Any) -> int:
        from hub.feed.outbox import retry_failed

        retried = await retry_failed(db, f"cli:{getpass.getuser()}", month=month)
        await db.commit()
        typer.echo(f"{retried.retried} failed records back to pending")
        return 0

    _run(_with_session(settings, main))
