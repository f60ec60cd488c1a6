"""Activity entries from an e-Kinerja CSV: the dry run lists every rejected row and why and writes nothing,
the real run imports the valid rows, a re-import is idempotent by the export's id, a corrected export updates
(audited, day marked for recompute); the same through ``presensi hub import-activities``."""

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from hub.access import Role
from hub.cli import app
from hub.reconcile.queue import process_pending
from hub.settings import DatabaseSettings
from hub.store.db import create_engine, session_factory
from hub.store.migrate import upgrade
from hub.store.models import ActivityRow, AttendanceDayRow, AuditEntry, RecomputeQueue
from tests.hub.attendance_kit import BUDI, SITI, seed, seeded
from tests.hub.test_hub_api import Api, _api

IMPORT = "/api/v1/activities/import"
STRANGER = "199912312020121001"
EXPORT = f"""id,nip,date,start,end,description,rhk_ref,norm_minutes,volume,status
EK-1,{BUDI},2026-11-03,08:00,10:00,Menyusun laporan,RHK-1,60,2,approved
EK-2,{SITI},03/11/2026,09:00,11:00,Rapat koordinasi,RHK-2,120,1,
EK-3,{STRANGER},2026-11-03,08:00,09:00,Surat,,30,1,
EK-4,{BUDI},2026-11-31,08:00,09:00,Surat,,30,1,
EK-5,{BUDI},2026-11-04,8 pagi,09:00,Surat,,30,1,
EK-1,{BUDI},2026-11-05,08:00,09:00,Surat,,30,1,
EK-6,{SITI},2026-11-04,10:00,11:00,,,30,1,
EK-7,{SITI},2026-11-04,10:00,11:00,Surat,,-5,1,closed
"""
REJECTED = [
    (4, "nip", STRANGER, f"no employee with NIP {STRANGER}"),
    (5, "day", "2026-11-31", "not a date (YYYY-MM-DD, DD/MM/YYYY or DD-MM-YYYY)"),
    (6, "start", "8 pagi", "Input should be in a valid time format, invalid character in hour"),
    (7, "external_id", "EK-1", "id also on row 2 of this file"),
    (8, "description", "", "Field required"),
    (9, "norm_minutes", "-5", "Input should be greater than or equal to 0"),
    (9, "status", "closed", "Input should be 'submitted', 'approved', 'rejected' or 'revision_requested'"),
]


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    await seeded(engine)
    async for _app, client in _api(engine):
        yield client


async def _import(api: Api, text: str, *, dry_run: bool) -> dict[str, object]:
    headers = api.headers(Role.OPERATOR) | {"Content-Type": "text/csv"}
    response = await api.client.post(IMPORT, params={"dry_run": dry_run}, content=text, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def _activities(engine: AsyncEngine) -> dict[str, ActivityRow]:
    async with session_factory(engine)() as db:
        rows = (await db.execute(select(ActivityRow))).scalars().all()
    return {r.external_id or "": r for r in rows}


async def test_dry_run_import_and_idempotent_reimport(engine: AsyncEngine, api: Api) -> None:
    dry = await _import(api, EXPORT, dry_run=True)
    assert (dry["rows"], dry["created"], dry["updated"], dry["unchanged"]) == (8, 2, 0, 0)
    rejected = dry["rejected"]
    assert isinstance(rejected, list)
    assert [(r["row"], r["column"], r["value"], r["reason"]) for r in rejected] == REJECTED
    assert await _activities(engine) == {}

    applied = await _import(api, EXPORT, dry_run=False)
    assert (applied["created"], len(applied["rejected"])) == (2, 7)  # type: ignore[arg-type]
    stored = await _activities(engine)
    assert set(stored) == {"EK-1", "EK-2"}
    assert (stored["EK-1"].status, stored["EK-1"].volume, stored["EK-1"].nip) == ("approved", 2, BUDI)
    assert (stored["EK-2"].status, stored["EK-2"].day) == ("submitted", date(2026, 11, 3))

    again = await _import(api, EXPORT, dry_run=False)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert len(await _activities(engine)) == 2

    # e-Kinerja corrected EK-2's volume: one update, audited, Siti's day marked.
    async with session_factory(engine)() as db:
        await db.execute(delete(RecomputeQueue))
        await db.commit()
    corrected = EXPORT.replace("Rapat koordinasi,RHK-2,120,1,", "Rapat koordinasi,RHK-2,120,3,")
    updated = await _import(api, corrected, dry_run=False)
    assert (updated["created"], updated["updated"], updated["unchanged"]) == (0, 1, 1)
    assert (await _activities(engine))["EK-2"].volume == 3
    async with session_factory(engine)() as db:
        audits = (await db.execute(select(AuditEntry).where(AuditEntry.entity == "activity"))).scalars().all()
        marks = (await db.execute(select(RecomputeQueue.nip, RecomputeQueue.first))).all()
    assert [a.action for a in audits] == ["create", "create", "update"]
    assert audits[-1].before is not None
    assert audits[-1].after is not None
    assert (audits[-1].before["volume"], audits[-1].after["volume"]) == (1, 3)
    assert set(marks) == {(SITI, date(2026, 11, 3))}

    # EK-1 was imported approved: approved and rejected entries are final, a changed row is refused.
    changed = corrected.replace("Menyusun laporan,RHK-1,60,2,approved", "Menyusun laporan,RHK-1,60,5,approved")
    refused = await _import(api, changed, dry_run=False)
    assert (refused["updated"], refused["unchanged"]) == (0, 1)
    rejected = refused["rejected"]
    assert isinstance(rejected, list)
    final = [r for r in rejected if r["row"] == 2]
    assert [(r["column"], r["value"]) for r in final] == [("external_id", "EK-1")]
    assert "approved, which is final" in final[0]["reason"]
    assert (await _activities(engine))["EK-1"].volume == 2
    listed = await api.call("GET", "/api/v1/activities", Role.VIEWER, params={"nip": BUDI})
    assert [a["external_id"] for a in listed.json()] == ["EK-1"]


async def test_import_marks_reach_the_day(engine: AsyncEngine, api: Api) -> None:
    # Budi logged two hours on Tue 3 Nov, a day without a punch: the pending run finds activity while absent.
    await _import(api, EXPORT, dry_run=False)
    async with session_factory(engine)() as db:
        await process_pending(db)
        day = await db.get(AttendanceDayRow, (BUDI, date(2026, 11, 3)))
    assert day is not None
    assert (day.status, day.result["activity_minutes"], day.result["findings"]) == (
        "tk",
        120,
        ["activity_while_absent"],
    )


async def _prepare(url: str) -> None:
    engine = create_engine(DatabaseSettings(url=url))
    await upgrade(engine)
    async with session_factory(engine)() as db:
        await seed(db)
    await engine.dispose()


async def _count(url: str) -> int:
    engine = create_engine(DatabaseSettings(url=url))
    async with session_factory(engine)() as db:
        found = (await db.execute(select(func.count()).select_from(ActivityRow))).scalar_one()
    await engine.dispose()
    return int(found)


def test_cli_import_activities(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    config = tmp_path / "hub.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    asyncio.run(_prepare(url))
    export = tmp_path / "kinerja.csv"
    export.write_text(EXPORT, encoding="utf-8")
    runner = CliRunner()

    dry = runner.invoke(app, ["import-activities", str(export), "-c", str(config)])
    assert dry.exit_code == 1, dry.output
    assert "8 rows: would create 2, would update 0, unchanged 0, rejected 7" in dry.output
    assert "row 7: external_id='EK-1': id also on row 2 of this file" in dry.output
    assert "dry run: nothing changed" in dry.output
    assert asyncio.run(_count(url)) == 0

    clean = tmp_path / "clean.csv"
    clean.write_text("\n".join(EXPORT.splitlines()[:3]) + "\n", encoding="utf-8")
    applied = runner.invoke(app, ["import-activities", str(clean), "--apply", "-c", str(config)])
    assert applied.exit_code == 0, applied.output
    assert "2 rows: create 2, update 0, unchanged 0, rejected 0" in applied.output
    again = runner.invoke(app, ["import-activities", str(clean), "--apply", "-c", str(config)])
    assert "2 rows: create 0, update 0, unchanged 2, rejected 0" in again.output
    assert asyncio.run(_count(url)) == 2
