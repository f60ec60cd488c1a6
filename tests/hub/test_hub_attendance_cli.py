"""``presensi hub recompute``: a date range (and unit), or the pending marks, with a summary line."""

import asyncio
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from hub.cli import app
from hub.settings import DatabaseSettings
from hub.store.db import create_engine, session_factory
from hub.store.migrate import upgrade
from hub.store.models import AttendanceDayRow
from tests.hub.attendance_kit import BUDI, deliver, seed

runner = CliRunner()


async def _prepare(url: str) -> None:
    engine = create_engine(DatabaseSettings(url=url))
    await upgrade(engine)
    async with session_factory(engine)() as db:
        await seed(db)
    await deliver(engine, [(BUDI, datetime(2026, 11, 3, 7, 50)), (BUDI, datetime(2026, 11, 3, 16, 0))])
    await engine.dispose()


async def _count(url: str) -> int:
    engine = create_engine(DatabaseSettings(url=url))
    async with session_factory(engine)() as db:
        found = (await db.execute(select(func.count()).select_from(AttendanceDayRow))).scalar_one()
    await engine.dispose()
    return int(found)


def test_recompute_range_unit_and_pending(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    config = tmp_path / "hub.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[recompute]\nworkers = 1\n')
    asyncio.run(_prepare(url))

    ranged = runner.invoke(
        app, ["recompute", "--from", "2026-11-02", "--to", "2026-11-06", "--unit", "BKPSDM.UMUM", "-c", str(config)]
    )
    assert ranged.exit_code == 0, ranged.output
    assert "1 employees, 5 days (5 new, 0 changed" in ranged.output
    assert asyncio.run(_count(url)) == 5

    pending = runner.invoke(app, ["recompute", "--pending", "-c", str(config)])
    assert pending.exit_code == 0, pending.output
    assert "employees" in pending.output
    again = runner.invoke(app, ["recompute", "--pending", "-c", str(config)])
    assert "0 employees, 0 days" in again.output

    assert runner.invoke(app, ["recompute", "-c", str(config)]).exit_code == 2
    assert (
        runner.invoke(app, ["recompute", "--from", "2026-11-09", "--to", "2026-11-02", "-c", str(config)]).exit_code
        == 2
    )
    assert runner.invoke(app, ["recompute", "--from", "nope", "--to", "2026-11-02", "-c", str(config)]).exit_code == 2
    unknown = runner.invoke(
        app, ["recompute", "--from", "2026-11-02", "--to", "2026-11-02", "--unit", "X", "-c", str(config)]
    )
    assert unknown.exit_code == 1
    assert "X" in unknown.output
