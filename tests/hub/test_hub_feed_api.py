"""The feed routes (records, status, retry), month closing and the CSV/XLSX exports, each behind its role, with
the writes audited."""

import csv
import io
import tempfile
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access import Role
from hub.api.app import create_app
from hub.feed import exports
from hub.reconcile.service import recompute_range
from hub.store.db import session_factory
from hub.store.models import AuditEntry, FeedRecord
from tests.hub.attendance_kit import BUDI, SITI, deliver, seeded
from tests.hub.test_hub_api import Api, _api, assert_error_shape

WEEK = [
    (BUDI, datetime(2026, 11, 2, 7, 25)),
    (BUDI, datetime(2026, 11, 2, 16, 5)),
    (BUDI, datetime(2026, 11, 3, 7, 45, 30)),
    (BUDI, datetime(2026, 11, 3, 16, 0)),
]


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    await seeded(engine)
    await deliver(engine, WEEK)
    async with session_factory(engine)() as db:
        await recompute_range(db, date(2026, 11, 1), date(2026, 11, 30))
    async for _app, client in _api(engine):
        yield client


async def _audit(engine: AsyncEngine, entity: str) -> list[AuditEntry]:
    async with session_factory(engine)() as db:
        return list((await db.execute(select(AuditEntry).where(AuditEntry.entity == entity))).scalars().all())


async def test_records_are_listed_by_status_and_paged(api: Api) -> None:
    everything = await api.call("GET", "/api/v1/feed/records", Role.VIEWER, params={"limit": 1000})
    assert everything.status_code == 200, everything.text
    assert len(everything.json()) == 60  # two employees x 30 days of November
    page = await api.call(
        "GET", "/api/v1/feed/records", Role.VIEWER, params={"status": "pending", "nip": BUDI, "limit": 10, "offset": 5}
    )
    assert [r["record_key"] for r in page.json()] == [f"{BUDI}:2026-11-{d:02d}" for d in range(6, 16)]
    assert {r["status"] for r in page.json()} == {"pending"}
    assert (await api.call("GET", "/api/v1/feed/records", Role.VIEWER, params={"status": "sent"})).json() == []
    bad = await api.call("GET", "/api/v1/feed/records", Role.VIEWER, params={"status": "lost"})
    assert bad.status_code == 422
    assert_error_shape(bad, "invalid")
    assert (await api.call("GET", "/api/v1/feed/records", None)).status_code == 401

    status = await api.call("GET", "/api/v1/feed/status", Role.VIEWER)
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["counts"] == {"pending": 60, "retrying": 0, "sent": 0, "failed": 0, "superseded": 0}
    assert body["lease_holder"] is None
    assert body["oldest_open_at"] is not None


async def test_retry_is_admin_only_audited_and_refused_for_a_superseded_record(engine: AsyncEngine, api: Api) -> None:
    async with session_factory(engine)() as db:
        record = (await db.execute(select(FeedRecord).order_by(FeedRecord.id).limit(1))).scalar_one()
        record.status, record.attempts, record.last_error = "failed", 1, "refused as invalid: ..."
        other = (await db.execute(select(FeedRecord).order_by(FeedRecord.id.desc()).limit(1))).scalar_one()
        other.status = "superseded"
        await db.commit()
    path = f"/api/v1/feed/records/{record.id}/retry"
    assert (await api.call("POST", path, Role.OPERATOR)).status_code == 403
    retried = await api.call("POST", path, Role.ADMIN)
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["attempts"]) == ("pending", 1)
    (entry,) = await _audit(engine, "feed_record")
    assert (entry.action, entry.actor, entry.entity_key) == ("retry", "token:admin-token", str(record.id))
    assert entry.before is not None
    assert entry.after is not None
    assert (entry.before["status"], entry.after["status"]) == ("failed", "pending")

    refused = await api.call("POST", f"/api/v1/feed/records/{other.id}/retry", Role.ADMIN)
    assert refused.status_code == 409
    assert_error_shape(refused, "conflict")
    missing = await api.call("POST", "/api/v1/feed/records/999999/retry", Role.ADMIN)
    assert missing.status_code == 404

    # All failed records of a month at once.
    async with session_factory(engine)() as db:
        await db.execute(
            update(FeedRecord).where(FeedRecord.id.in_([record.id, record.id + 1])).values(status="failed")
        )
        await db.commit()
    assert (await api.call("POST", "/api/v1/feed/records/retry-failed", Role.OPERATOR)).status_code == 403
    other_month = await api.call("POST", "/api/v1/feed/records/retry-failed", Role.ADMIN, params={"month": "2026-10"})
    assert other_month.json() == {"retried": 0, "ids": []}
    bulk = await api.call("POST", "/api/v1/feed/records/retry-failed", Role.ADMIN, params={"month": "2026-11"})
    assert bulk.status_code == 200, bulk.text
    assert bulk.json() == {"retried": 2, "ids": [record.id, record.id + 1]}
    failed = await api.call("GET", "/api/v1/feed/records", Role.VIEWER, params={"status": "failed"})
    assert failed.json() == []
    entries = await _audit(engine, "feed_record")
    assert [e.entity_key for e in entries] == [str(record.id), "failed:2026-10", "failed:2026-11"]


async def test_closing_a_month_runs_after_the_answer_and_is_audited(engine: AsyncEngine, api: Api) -> None:
    assert (await api.call("POST", "/api/v1/months/2026-11/close", Role.OPERATOR)).status_code == 403
    not_ended = await api.call("POST", "/api/v1/months/2999-01/close", Role.ADMIN)
    assert not_ended.status_code == 409
    bad = await api.call("POST", "/api/v1/months/2026-13/close", Role.ADMIN)
    assert bad.status_code == 422
    unknown_unit = await api.call("POST", "/api/v1/months/2026-11/close", Role.ADMIN, params={"unit": "NOPE"})
    assert unknown_unit.status_code == 404

    started = await api.call("POST", "/api/v1/months/2026-11/close", Role.ADMIN, params={"unit": "BKPSDM.UMUM"})
    assert started.status_code == 202, started.text
    assert (started.json()["status"], started.json()["employees"]) == ("running", 1)
    # The ASGI transport returns once the background task is done too; a real client would poll.
    runs = (await api.call("GET", "/api/v1/months/closes", Role.VIEWER)).json()
    assert [(r["status"], r["unit_code"], r["enqueued"]) for r in runs] == [("done", "BKPSDM.UMUM", 1)]
    monthly = await api.call("GET", "/api/v1/feed/records", Role.VIEWER, params={"kind": "monthly"})
    assert [(r["record_key"], r["version"], r["unit_code"]) for r in monthly.json()] == [
        (f"{SITI}:2026-11", 1, "BKPSDM.UMUM")
    ]
    assert monthly.json()[0]["payload"]["tk_days"] == 21
    (entry,) = await _audit(engine, "month")
    assert (entry.action, entry.actor, entry.entity_key) == ("close", "token:admin-token", "2026-11:BKPSDM.UMUM")


async def test_exports_in_csv_and_xlsx(engine: AsyncEngine, api: Api) -> None:
    params = {"month": "2026-11", "unit": "BKPSDM"}
    days = await api.call("GET", "/api/v1/exports/days.csv", Role.VIEWER, params=params)
    assert days.status_code == 200, days.text
    assert days.headers["content-type"].startswith("text/csv")
    assert 'filename="days-2026-11-BKPSDM.csv"' in days.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(days.content.decode("utf-8-sig"))))
    assert len(rows) == 60  # BKPSDM and the unit below it
    tuesday = next(r for r in rows if r["nip"] == BUDI and r["day"] == "2026-11-03")
    assert (tuesday["status"], tuesday["late_code"], tuesday["minutes_late"]) == ("present", "TL1", "15")
    assert tuesday["check_in"] == "2026-11-03T07:45:30"
    assert tuesday["deduction_percent"] == "0.5000"
    only_umum = await api.call(
        "GET", "/api/v1/exports/days.csv", Role.VIEWER, params={"month": "2026-11", "unit": "BKPSDM.UMUM"}
    )
    assert {r["nip"] for r in csv.DictReader(io.StringIO(only_umum.content.decode("utf-8-sig")))} == {SITI}

    sheet = await api.call("GET", "/api/v1/exports/days.xlsx", Role.VIEWER, params=params)
    assert sheet.status_code == 200
    assert sheet.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(sheet.content), read_only=True)
    values = list(book.worksheets[0].iter_rows(values_only=True))
    header, body = values[0], values[1:]
    assert header[:5] == ("nip", "name", "unit", "day", "status")
    assert len(body) == 60
    by_key = {(r[0], r[3].date() if isinstance(r[3], datetime) else r[3]): r for r in body}
    assert by_key[(BUDI, date(2026, 11, 3))][header.index("minutes_late")] == 15

    recaps = await api.call("GET", "/api/v1/exports/recaps.csv", Role.VIEWER, params=params)
    assert recaps.status_code == 200, recaps.text
    recap_rows = {r["nip"]: r for r in csv.DictReader(io.StringIO(recaps.content.decode("utf-8-sig")))}
    assert set(recap_rows) == {BUDI, SITI}
    # November 2026: 21 working days. Budi present Mon 2 and Tue 3 (TL1), TK on the other 19; Siti TK on all 21.
    assert (recap_rows[BUDI]["working_days"], recap_rows[BUDI]["present_days"], recap_rows[BUDI]["tk_days"]) == (
        "21",
        "2",
        "19",
    )
    assert recap_rows[BUDI]["TL1"] == "1"
    assert recap_rows[SITI]["TL1"] == "0"
    assert recap_rows[SITI]["fed_version"] == ""  # not closed yet
    xlsx = await api.call("GET", "/api/v1/exports/recaps.xlsx", Role.VIEWER, params=params)
    recap_sheet = list(
        load_workbook(io.BytesIO(xlsx.content), read_only=True).worksheets[0].iter_rows(values_only=True)
    )
    assert len(recap_sheet) == 3
    assert recap_sheet[0][0] == "nip"

    bad_month = await api.call("GET", "/api/v1/exports/days.csv", Role.VIEWER, params={"month": "2026-1"})
    assert bad_month.status_code == 422
    assert (await api.call("GET", "/api/v1/exports/days.pdf", Role.VIEWER, params=params)).status_code == 422
    assert (await api.call("GET", "/api/v1/exports/days.csv", None, params=params)).status_code == 401


def _export_files() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("presensi-days-*"))


async def test_the_days_csv_is_streamed_in_parts_and_the_xlsx_goes_on_a_next_sheet_when_one_is_full(
    engine: AsyncEngine, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = {"month": "2026-11", "unit": "BKPSDM"}
    whole = await api.call("GET", "/api/v1/exports/days.csv", Role.VIEWER, params=params)
    monkeypatch.setattr(exports, "STREAM_ROWS", 7)  # 60 rows: nine parts, the last short
    parts = await api.call("GET", "/api/v1/exports/days.csv", Role.VIEWER, params=params)
    assert parts.status_code == 200
    assert parts.content == whole.content  # one header, every row once, in (NIP, day) order
    lines = parts.content.decode("utf-8-sig").splitlines()
    assert len(lines) == 61
    assert lines == [lines[0], *sorted(lines[1:])]

    unknown = await api.call("GET", "/api/v1/exports/days.csv", Role.VIEWER, params={**params, "unit": "NOPE"})
    assert unknown.status_code == 404  # refused before the streamed answer begins
    assert_error_shape(unknown, "not_found")
    nope = await api.call("GET", "/api/v1/exports/days.xlsx", Role.VIEWER, params={**params, "unit": "NOPE"})
    assert nope.status_code == 404

    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 25)  # 60 days: sheets of 25, 25 and 10, each under a header
    before = _export_files()
    sheet = await api.call("GET", "/api/v1/exports/days.xlsx", Role.VIEWER, params=params)
    assert sheet.status_code == 200
    assert 'filename="days-2026-11-BKPSDM.xlsx"' in sheet.headers["content-disposition"]
    book = load_workbook(io.BytesIO(sheet.content), read_only=True)
    assert book.sheetnames == ["days 2026-11", "days 2026-11 (2)", "days 2026-11 (3)"]
    tabs = [list(s.iter_rows(values_only=True)) for s in book.worksheets]
    assert [len(t) for t in tabs] == [26, 26, 11]
    assert all(t[0] == tabs[0][0] for t in tabs)
    assert tabs[0][0][:2] == ("nip", "name")
    csv_rows = list(csv.reader(io.StringIO(whole.content.decode("utf-8-sig"))))[1:]
    assert [(r[0], r[1], r[4]) for t in tabs for r in t[1:]] == [(r[0], r[1], r[4]) for r in csv_rows]
    assert _export_files() == before  # the file was deleted once sent


async def test_a_formula_in_a_name_is_exported_as_text(engine: AsyncEngine, api: Api) -> None:
    from hub.store.models import Employee

    async with session_factory(engine)() as db:
        employee = await db.get(Employee, SITI)
        assert employee is not None
        employee.name = '=HYPERLINK("http://evil","klik")'
        await db.commit()
    params = {"month": "2026-11", "unit": "BKPSDM.UMUM"}
    days = await api.call("GET", "/api/v1/exports/days.csv", Role.VIEWER, params=params)
    first = next(csv.DictReader(io.StringIO(days.content.decode("utf-8-sig"))))
    assert first["name"] == '\'=HYPERLINK("http://evil","klik")'
    sheet = await api.call("GET", "/api/v1/exports/days.xlsx", Role.VIEWER, params=params)
    book = load_workbook(io.BytesIO(sheet.content))
    cell = book.worksheets[0]["B2"]
    assert cell.data_type == "s"
    assert str(cell.value).startswith("'=")


async def test_the_dashboard_recaps_page_shows_the_feed_of_the_unit_and_month(engine: AsyncEngine, api: Api) -> None:
    from hub.feed.months import close_month
    from hub.feed.status import dashboard_status
    from hub.users import create_user
    from tests.hub.dashboard_kit import PASSWORD, sign_in

    async with session_factory(engine)() as db:
        await close_month(db, "2026-11", "token:admin", unit_code="BKPSDM.UMUM", today=date(2026, 12, 1))
        first = (await db.execute(select(FeedRecord).order_by(FeedRecord.id).limit(1))).scalar_one()
        first.status, first.last_error = "retrying", "HTTP 503: e-Kinerja is under maintenance"
        await db.commit()
        umum = await dashboard_status(db, "BKPSDM.UMUM", 2026, 11)
        whole = await dashboard_status(db, "BKPSDM", 2026, 11)
        october = await dashboard_status(db, "BKPSDM", 2026, 10)
    assert umum["Rekap harian (daily)"] == "pending 30"  # Siti's 30 days
    assert umum["Rekap bulanan (monthly)"] == "pending 1"
    assert umum["Rekap tersimpan (recaps snapshotted)"] == "1 / 1"
    assert str(umum["Bulan ditutup (month closed)"]).startswith("done, ")
    assert whole["Rekap harian (daily)"] == "pending 59, retrying 1"  # the unit and the one below it
    assert whole["Rekap tersimpan (recaps snapshotted)"] == "1 / 2"
    assert whole["Galat terakhir (last error)"] == "HTTP 503: e-Kinerja is under maintenance"
    assert october["Rekap harian (daily)"] == "-"

    async with session_factory(engine)() as db:
        await create_user(db, "operator", PASSWORD, Role.OPERATOR, "test", display_name="Operator")
    transport = httpx.ASGITransport(app=create_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as browser:
        # The page's download links work with the dashboard session (no bearer token), and only with it.
        anonymous = await browser.get("/dashboard/exports/recaps.csv?unit=BKPSDM.UMUM&month=2026-11")
        assert (anonymous.status_code, anonymous.headers["location"].split("?")[0]) == (303, "/dashboard/login")
        await sign_in(browser, "operator")
        page = await browser.get("/dashboard/recaps?unit=BKPSDM.UMUM&month=2026-11")
        assert 'href="/dashboard/exports/recaps.xlsx?unit=BKPSDM.UMUM&amp;month=2026-11"' in page.text
        download = await browser.get("/dashboard/exports/recaps.xlsx?unit=BKPSDM.UMUM&month=2026-11")
    assert page.status_code == 200
    assert "feed-unavailable" not in page.text
    assert "<dd>pending 30</dd>" in page.text
    assert download.status_code == 200
    rows = list(load_workbook(io.BytesIO(download.content), read_only=True).worksheets[0].iter_rows(values_only=True))
    assert [row[0] for row in rows] == ["nip", SITI]
