"""Adding, importing and removing a holiday marks that day of every employee for recompute, and the pending
run turns the day into a holiday (and back)."""

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access import Role
from hub.reconcile.queue import process_pending
from hub.store.db import session_factory
from hub.store.models import AttendanceDayRow, RecomputeQueue
from tests.hub.attendance_kit import BUDI, SITI, seeded
from tests.hub.test_hub_api import Api, _api


def _weekday_a_week_ago() -> date:
    # Marks reach back 62 days only (older months are closed), so the day is taken relative to today.
    day = datetime.now(UTC).date() - timedelta(days=7)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


D = _weekday_a_week_ago()


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    await seeded(engine)
    async with session_factory(engine)() as db:
        await db.execute(delete(RecomputeQueue))  # the seeding's own marks
        await db.commit()
    async for _app, client in _api(engine):
        yield client


async def _marks(engine: AsyncEngine) -> set[tuple[str, date, date]]:
    async with session_factory(engine)() as db:
        rows = (await db.execute(select(RecomputeQueue.nip, RecomputeQueue.first, RecomputeQueue.last))).all()
    return {(nip, first, last) for nip, first, last in rows}


async def _pending_day(engine: AsyncEngine) -> tuple[str, int]:
    async with session_factory(engine)() as db:
        await process_pending(db)
        row = await db.get(AttendanceDayRow, (BUDI, D))
        assert row is not None
        return row.status, row.version


async def test_holiday_changes_mark_every_employee(engine: AsyncEngine, api: Api) -> None:
    span = {"from": D.isoformat(), "to": D.isoformat()}
    assert (await api.call("POST", "/api/v1/attendance/recompute", Role.OPERATOR, json=span)).status_code == 200
    async with session_factory(engine)() as db:
        stored = await db.get(AttendanceDayRow, (BUDI, D))
    assert stored is not None
    assert (stored.status, stored.version) == ("tk", 1)

    holiday = {"day": D.isoformat(), "kind": "libur_nasional", "name": "Hari Libur Uji"}
    assert (await api.call("POST", "/api/v1/holidays", Role.VIEWER, json=holiday)).status_code == 403
    added = await api.call("POST", "/api/v1/holidays", Role.OPERATOR, json=holiday)
    assert added.status_code == 200, added.text
    assert (added.json()["changed"], added.json()["marked"]) == (1, 2)
    assert await _marks(engine) == {(BUDI, D, D), (SITI, D, D)}
    assert await _pending_day(engine) == ("holiday", 2)

    same = await api.call("POST", "/api/v1/holidays", Role.OPERATOR, json=holiday)
    assert (same.json()["changed"], same.json()["marked"]) == (0, 0)
    assert await _marks(engine) == set()

    # A CSV with the same holiday and one new date three days earlier marks only that span.
    earlier = D - timedelta(days=3)
    csv = f"date,name,kind\n{D},Hari Libur Uji,libur_nasional\n{earlier},Cuti Bersama Uji,cuti_bersama\n"
    headers = api.headers(Role.OPERATOR) | {"Content-Type": "text/csv"}
    imported = await api.client.post("/api/v1/holidays/import", content=csv, headers=headers)
    assert imported.status_code == 200, imported.text
    assert (imported.json()["imported"], imported.json()["changed"], imported.json()["marked"]) == (2, 1, 2)
    assert await _marks(engine) == {(BUDI, earlier, earlier), (SITI, earlier, earlier)}
    async with session_factory(engine)() as db:
        await process_pending(db)

    # A holiday older than the 62-day reach is stored but marks nothing.
    old = {"day": "2026-01-01", "kind": "libur_nasional", "name": "Tahun Baru"}
    if D - date(2026, 1, 1) > timedelta(days=62):
        assert (await api.call("POST", "/api/v1/holidays", Role.OPERATOR, json=old)).json()["marked"] == 0

    removed = await api.call("DELETE", f"/api/v1/holidays/{D}", Role.OPERATOR, params={"kind": "libur_nasional"})
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"marked": 2}
    assert await _pending_day(engine) == ("tk", 3)
    gone = await api.call("DELETE", f"/api/v1/holidays/{D}", Role.OPERATOR, params={"kind": "libur_nasional"})
    assert gone.status_code == 404
