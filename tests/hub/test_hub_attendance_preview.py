"""POST /policies/{id}/preview: a not yet active version against a stored month, per employee and in total,
with figures worked out by hand, writing nothing; after activation the recaps are what the preview said."""

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access import Role
from hub.reconcile import preview
from hub.reconcile.preview import preview_policy
from hub.reconcile.preview_jobs import PreviewJobs
from hub.reconcile.service import recap_for, worker_pool
from hub.registry.errors import Conflict, NotFound
from hub.settings import DatabaseSettings
from hub.store.db import session_factory
from hub.store.models import AttendanceDayRow, AuditEntry, RecomputeQueue
from tests.hub.attendance_kit import BUDI, SITI, deliver, preset_text, seeded
from tests.hub.test_hub_api import Api, _api, assert_error_shape

# Version 2 narrows TL1 to 1-10 minutes late and widens TL2 to 11-60 (same percentages).
CANDIDATE = (
    preset_text()
    .replace("\nversion: 1", "\nversion: 2")
    .replace("effective_from: 2026-01-01", "effective_from: 2026-11-01")
    .replace("{code: TL1, from_minute: 1, to_minute: 30,", "{code: TL1, from_minute: 1, to_minute: 10,")
    .replace("{code: TL2, from_minute: 31, to_minute: 60,", "{code: TL2, from_minute: 11, to_minute: 60,")
)


def _november() -> list[tuple[str, datetime]]:
    """Both employees on time (07:25-16:35) every working day of November 2026 (21 days, no holiday imported),
    except Budi on Tue 3 Nov (07:45:30: 15 minutes late) and Wed 4 Nov (08:40-15:20: 70 late, 40 early)."""
    punches = []
    for n in range(30):
        day = date(2026, 11, 1) + timedelta(days=n)
        if day.weekday() >= 5:
            continue
        for nip in (BUDI, SITI):
            arrive, leave = datetime.combine(day, time(7, 25)), datetime.combine(day, time(16, 35))
            if nip == BUDI and day == date(2026, 11, 3):
                arrive = arrive.replace(minute=45, second=30)
            if nip == BUDI and day == date(2026, 11, 4):
                arrive, leave = arrive.replace(hour=8, minute=40), leave.replace(hour=15, minute=20)
            punches += [(nip, arrive), (nip, leave)]
    return punches


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    await seeded(engine)
    await deliver(engine, _november())
    async for _app, client in _api(engine):
        yield client


async def _stored(engine: AsyncEngine) -> tuple[int, int, int, int]:
    async with session_factory(engine)() as db:
        days = (await db.execute(select(func.count(), func.sum(AttendanceDayRow.version)))).one()
        queued = (await db.execute(select(func.count()).select_from(RecomputeQueue))).scalar_one()
        audited = (await db.execute(select(func.count()).select_from(AuditEntry))).scalar_one()
    return days[0], int(days[1] or 0), queued, audited


async def test_preview_shows_the_difference_and_writes_nothing(engine: AsyncEngine, api: Api) -> None:
    recomputed = await api.call(
        "POST", "/api/v1/attendance/recompute", Role.OPERATOR, json={"from": "2026-11-01", "to": "2026-11-30"}
    )
    assert recomputed.status_code == 200, recomputed.text
    headers = api.headers(Role.ADMIN) | {"Content-Type": "application/yaml"}
    uploaded = await api.client.post("/api/v1/policies", content=CANDIDATE, headers=headers)
    assert uploaded.status_code == 201, uploaded.text
    candidate_id = uploaded.json()["id"]
    before = await _stored(engine)

    path = f"/api/v1/policies/{candidate_id}/preview"
    assert (await api.call("POST", path, Role.OPERATOR, params={"month": "2026-11"})).status_code == 403
    response = await api.call("POST", path, Role.ADMIN, params={"month": "2026-11"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert await _stored(engine) == before  # no day, version, mark or audit entry written

    # Kelas 9: base TPP 4,817,000; performance 60 % = 2,890,200; discipline 40 % = 1,926,800.
    # Budi now: TL1 (Tue) 0.5 + TL3 (Wed) 1.25 + PSW2 (Wed) 1 = 2.75 %: 1,926,800 x 0.9725 = 1,873,813.
    # Budi under v2: Tue's 15 minutes are TL2 (1 %): 3.25 %: 1,926,800 x 0.9675 = 1,864,179 (-9,634).
    # Siti: on time every day, 0 % under both: 4,817,000.
    budi, siti = body["employees"]
    assert budi["nip"] == BUDI
    assert budi["current"]["deduction_percent"] == "2.75"
    assert budi["candidate"]["deduction_percent"] == "3.25"
    assert budi["current"]["tier_counts"] == {"PSW2": 1, "TL1": 1, "TL3": 1}
    assert budi["candidate"]["tier_counts"] == {"PSW2": 1, "TL2": 1, "TL3": 1}
    assert (budi["current"]["discipline_part"], budi["candidate"]["discipline_part"]) == (1_873_813, 1_864_179)
    assert (budi["current"]["allowance"], budi["candidate"]["allowance"]) == (4_764_013, 4_754_379)
    assert Decimal(budi["deduction_percent_change"]) == Decimal("0.5")
    assert (budi["allowance_change"], budi["changed"]) == (-9_634, True)
    assert (budi["current"]["policy_version"], budi["candidate"]["policy_version"]) == (1, 2)
    assert (siti["current"]["allowance"], siti["candidate"]["allowance"], siti["changed"]) == (
        4_817_000,
        4_817_000,
        False,
    )
    totals = body["totals"]
    assert (totals["employees"], totals["compared"], totals["changed"]) == (2, 2, 1)
    assert (totals["current_allowance"], totals["candidate_allowance"]) == (9_581_013, 9_571_379)
    assert totals["allowance_change"] == -9_634
    assert Decimal(totals["current_mean_deduction_percent"]) == Decimal("1.375")
    assert Decimal(totals["candidate_mean_deduction_percent"]) == Decimal("1.625")
    assert totals["current_tier_counts"] == {"PSW2": 1, "TL1": 1, "TL3": 1}
    assert totals["candidate_tier_counts"] == {"PSW2": 1, "TL2": 1, "TL3": 1}

    paged = (await api.call("POST", path, Role.ADMIN, params={"month": "2026-11", "offset": 1})).json()
    assert [e["nip"] for e in paged["employees"]] == [SITI]
    assert paged["totals"] == totals
    umum = (await api.call("POST", path, Role.ADMIN, params={"month": "2026-11", "unit": "BKPSDM.UMUM"})).json()
    assert [e["nip"] for e in umum["employees"]] == [SITI]

    # Activating the version gives the recaps the preview announced.
    assert (await api.call("POST", f"/api/v1/policies/{candidate_id}/activate", Role.ADMIN)).status_code == 200
    async with session_factory(engine)() as db:
        recap = await recap_for(db, BUDI, 2026, 11)
    assert recap is not None
    assert (recap.policy_version, recap.allowance, dict(recap.tier_counts)) == (
        2,
        4_754_379,
        {"PSW2": 1, "TL2": 1, "TL3": 1},
    )


async def test_preview_in_worker_processes_equals_the_one_in_a_thread(
    engine: AsyncEngine, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More than one batch goes to recompute's worker processes (the API's event loop also serves ingest): with
    # batches of one employee, Budi and Siti are compared in two processes; the answer is the single batch's.
    headers = api.headers(Role.ADMIN) | {"Content-Type": "application/yaml"}
    candidate_id = (await api.client.post("/api/v1/policies", content=CANDIDATE, headers=headers)).json()["id"]
    async with session_factory(engine)() as db:
        in_thread = await preview_policy(db, candidate_id, 2026, 11, workers=1)
    monkeypatch.setattr(preview, "CHUNK", 1)
    spawned: list[int] = []

    def counted_pool(database: DatabaseSettings, workers: int) -> ProcessPoolExecutor:
        spawned.append(workers)
        return worker_pool(database, workers)

    monkeypatch.setattr(preview, "worker_pool", counted_pool)
    async with session_factory(engine)() as db:
        in_workers = await preview_policy(db, candidate_id, 2026, 11, workers=2)
    assert spawned == [2]
    assert in_workers == in_thread
    assert [e.nip for e in in_workers.employees] == [BUDI, SITI]
    assert in_workers.totals.allowance_change == -9_634


async def test_preview_refusals(api: Api) -> None:
    missing = await api.call("POST", "/api/v1/policies/999/preview", Role.ADMIN, params={"month": "2026-11"})
    assert missing.status_code == 404
    assert_error_shape(missing, "not_found")
    bad_month = await api.call("POST", "/api/v1/policies/1/preview", Role.ADMIN, params={"month": "2026-13"})
    assert bad_month.status_code == 422


async def finished_job(api: Api, location: str, **params: int) -> dict[str, Any]:
    """The preview job at ``location`` once it is no longer running (polled as a reader)."""
    for _ in range(600):
        job = await api.call("GET", location, Role.VIEWER, params=params)
        assert job.status_code == 200, job.text
        if job.json()["status"] != "running":
            return dict(job.json())
        await asyncio.sleep(0.05)
    raise AssertionError(f"{location} still running after 30 s")


async def test_a_preview_job_runs_in_the_background_and_its_result_is_paged_without_computing_again(
    engine: AsyncEngine, api: Api
) -> None:
    headers = api.headers(Role.ADMIN) | {"Content-Type": "application/yaml"}
    candidate_id = (await api.client.post("/api/v1/policies", content=CANDIDATE, headers=headers)).json()["id"]
    path = f"/api/v1/policies/{candidate_id}/previews"
    assert (await api.call("POST", path, Role.OPERATOR, params={"month": "2026-11"})).status_code == 403
    started = await api.call("POST", path, Role.ADMIN, params={"month": "2026-11"})
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    job_id = started.json()["id"]
    assert location == f"{path}/{job_id}"
    assert (started.json()["requested_by"], started.json()["unit"]) == ("token:admin-token", None)

    done = await finished_job(api, location)
    assert (done["status"], done["done"], done["total"], done["error"]) == ("done", 2, 2, None)
    assert done["finished_at"] is not None
    once = await api.call("POST", f"/api/v1/policies/{candidate_id}/preview", Role.ADMIN, params={"month": "2026-11"})
    assert done["preview"] == once.json()  # the same figures as the preview computed for one request
    assert done["preview"]["totals"]["allowance_change"] == -9_634
    second = await finished_job(api, location, offset=1, limit=5)
    assert [e["nip"] for e in second["preview"]["employees"]] == [SITI]
    assert (second["preview"]["offset"], second["preview"]["limit"]) == (1, 5)

    unit = await api.call("POST", path, Role.ADMIN, params={"month": "2026-11", "unit": "BKPSDM.UMUM"})
    umum = await finished_job(api, unit.headers["location"])
    assert [e["nip"] for e in umum["preview"]["employees"]] == [SITI]

    assert (await api.call("GET", f"{path}/nope", Role.VIEWER)).status_code == 404
    assert (await api.call("GET", f"/api/v1/policies/1/previews/{job_id}", Role.VIEWER)).status_code == 404
    missing = await api.call("POST", "/api/v1/policies/999/previews", Role.ADMIN, params={"month": "2026-11"})
    assert missing.status_code == 404  # refused at once, no job
    no_unit = await api.call("POST", path, Role.ADMIN, params={"month": "2026-11", "unit": "NOPE"})
    assert no_unit.status_code == 404


async def test_preview_jobs_are_bounded_in_number_running_and_kept(engine: AsyncEngine, api: Api) -> None:
    headers = api.headers(Role.ADMIN) | {"Content-Type": "application/yaml"}
    candidate_id = (await api.client.post("/api/v1/policies", content=CANDIDATE, headers=headers)).json()["id"]
    sessions = session_factory(engine)
    async with sessions() as db:
        with pytest.raises(Conflict, match="0 previews are running already"):
            await PreviewJobs(sessions, running=0).start(db, candidate_id, 2026, 11, None, "test")
        jobs = PreviewJobs(sessions, keep=1)
        kept = []
        for _ in range(3):
            job = await jobs.start(db, candidate_id, 2026, 11, None, "test")
            assert job.task is not None
            await job.task
            kept.append(job.id)
    with pytest.raises(NotFound):
        jobs.get(candidate_id, kept[0])  # the oldest finished job is forgotten when a third starts
    assert jobs.get(candidate_id, kept[1]).status == jobs.get(candidate_id, kept[2]).status == "done"
    await jobs.close()
