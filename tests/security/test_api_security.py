"""Every API route, from the OpenAPI document: least privilege for writes, revoked tokens refused everywhere,
an audit entry (who, when, what, before, after) for every write, and failed token checks rate-limited."""

import importlib
import pkgutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

import hub.api.routes
from hub.access import GRANTS, Permission, Role, issue_token
from hub.api.app import API_PREFIX, PUBLIC_PATHS, create_app
from hub.store.db import create_engine, session_factory
from hub.store.migrate import upgrade
from hub.store.models import AuditEntry, DeadLetter, FeedRecord
from tests.hub.attendance_kit import BUDI, preset_text, seeded
from tests.hub.hub_testkit import provision
from tests.hub.test_hub_api import Api, _api, api_routes, assert_error_shape
from tests.hub.test_hub_attendance_preview import finished_job

WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}
# POST only because a document is the body, or a computation is asked for; they store nothing (the tests below
# prove they audit nothing).
NOT_WRITES = {
    ("POST", "/api/v1/policies/validate"),
    ("POST", "/api/v1/policies/{policy_row_id}/preview"),
    ("POST", "/api/v1/policies/{policy_row_id}/previews"),  # a job in the API process's memory
}
NEW_NIP = "199203152020121001"
CSV_NIP = "199304202021011002"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with provision("sqlite", tmp_path) as store:
        created = create_engine(store.database)
        await upgrade(created)
        await seeded(created)
        yield created
        await created.dispose()


@pytest.fixture
async def app_api(engine: AsyncEngine) -> AsyncIterator[tuple[FastAPI, Api]]:
    async for pair in _api(engine):
        yield pair


def _permission(dependant: Dependant) -> Permission | None:
    for sub in dependant.dependencies:
        found = getattr(sub.call, "permission", None)
        if isinstance(found, Permission):
            return found
        nested = _permission(sub)
        if nested is not None:
            return nested
    return None


def declared_permissions(app: FastAPI) -> dict[tuple[str, str], Permission | None]:
    """(method, path template) -> the permission its route depends on, for every router in hub.api.routes
    (FastAPI keeps included routers nested, so each module's own router is the public way to reach them)."""
    found: dict[tuple[str, str], Permission | None] = {}
    for module in pkgutil.iter_modules(hub.api.routes.__path__):
        router = importlib.import_module(f"hub.api.routes.{module.name}").router
        for route in router.routes:
            if isinstance(route, APIRoute):
                for method in route.methods or ():
                    found[(method, API_PREFIX + route.path)] = _permission(route.dependant)
    return found


def least_role(permission: Permission) -> Role:
    """The role with the fewest permissions that still has ``permission``."""
    return min((r for r in Role if permission in GRANTS[r]), key=lambda r: len(GRANTS[r]))


def test_every_route_declares_a_permission_and_every_write_needs_more_than_read(
    app_api: tuple[FastAPI, Api],
) -> None:
    app, _api_client = app_api
    declared = declared_permissions(app)
    documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() if p not in PUBLIC_PATHS for m in ops}
    assert set(declared) == documented  # the OpenAPI document lists every route, and only those
    assert not [route for route, permission in declared.items() if permission is None]
    weak_writes = [
        route
        for route, permission in declared.items()
        if route[0] in WRITE_METHODS and route not in NOT_WRITES and permission == Permission.READ
    ]
    assert not weak_writes


@dataclass
class Step:
    method: str
    template: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    has_before: bool = False  # an update, delete or state change: the audit entry must keep the row before
    saves: str | None = None  # remember the answer's id under this name for later paths


def _steps(ids: dict[str, Any]) -> list[Step]:
    version2 = preset_text().replace("\nversion: 1", "\nversion: 2").replace("2026-01-01", "2026-12-01")
    yaml = {"content": version2}
    shift = {
        "code": "JAGA",
        "name": "Satpam",
        "pattern": {"type": "rotation", "anchor": "2026-11-01", "cycle": [{"start": "22:00", "end": "06:00"}, None]},
    }
    activity = {
        "nip": BUDI, "day": "2026-11-02", "start": "08:00", "end": "10:00", "description": "Menyusun laporan",
        "rhk_ref": "RHK-1", "norm_minutes": 60, "volume": 2,
    }  # fmt: skip
    absence = {"nip": BUDI, "kind": "CT", "first": "2026-11-10", "last": "2026-11-11"}
    enrollment = {"terminal_sn": "T9", "pin": "99", "nip": NEW_NIP, "valid_from": "2026-01-01"}
    later = {**absence, "first": "2026-11-16", "last": "2026-11-16"}
    latest = {**absence, "first": "2026-11-17", "last": "2026-11-17"}
    employees_csv = f"nip,name,unit_code,active_from\n{CSV_NIP},Eko,DINAS,2021-01-01\n"
    activities_csv = f"id,nip,date,start,end,description,norm_minutes\nEK-1,{BUDI},2026-11-05,08:00,09:00,Rapat,60\n"
    enrollments_csv = f"terminal_sn,pin,nip,valid_from\nT9,98,{CSV_NIP},2026-01-01\n"
    return [
        Step("POST", "/api/v1/units", "/api/v1/units", {"json": {"code": "DINAS", "name": "Dinas"}}),
        Step("PATCH", "/api/v1/units/{code}", "/api/v1/units/DINAS", {"json": {"name": "Dinas Baru"}}, True),
        Step("POST", "/api/v1/units", "/api/v1/units", {"json": {"code": "KOSONG", "name": "Kosong"}}),
        Step("DELETE", "/api/v1/units/{code}", "/api/v1/units/KOSONG", {}, True),
        Step("POST", "/api/v1/employees", "/api/v1/employees",
             {"json": {"nip": NEW_NIP, "name": "Ani", "unit_code": "DINAS", "active_from": "2020-12-01"}}),
        Step("PATCH", "/api/v1/employees/{nip}", f"/api/v1/employees/{NEW_NIP}", {"json": {"job_class": 7}}, True),
        Step("POST", "/api/v1/employees/import", "/api/v1/employees/import",
             {"params": {"dry_run": "false"}, "content": employees_csv}),
        Step("POST", "/api/v1/terminals", "/api/v1/terminals",
             {"json": {"serial": "T9", "location": "Gudang", "zone": "Asia/Jakarta"}}),
        Step("PATCH", "/api/v1/terminals/{serial}", "/api/v1/terminals/T9", {"json": {"location": "Gudang 2"}}, True),
        Step("POST", "/api/v1/terminals", "/api/v1/terminals",
             {"json": {"serial": "T8", "location": "Lama", "zone": "Asia/Jakarta"}}),
        Step("DELETE", "/api/v1/terminals/{serial}", "/api/v1/terminals/T8", {}, True),
        Step("POST", "/api/v1/enrollments", "/api/v1/enrollments",
             {"json": enrollment}, saves="enrollment"),
        Step("PATCH", "/api/v1/enrollments/{enrollment_id}", "/api/v1/enrollments/{enrollment}",
             {"json": {"valid_to": "2026-12-31"}}, True),
        Step("DELETE", "/api/v1/enrollments/{enrollment_id}", "/api/v1/enrollments/{enrollment}", {}, True),
        Step("POST", "/api/v1/enrollments/import", "/api/v1/enrollments/import",
             {"params": {"dry_run": "false"}, "content": enrollments_csv}),
        Step("DELETE", "/api/v1/employees/{nip}", f"/api/v1/employees/{NEW_NIP}", {}, True),
        Step("POST", "/api/v1/tokens", "/api/v1/tokens", {"json": {"name": "probe", "role": "viewer"}}),
        Step("DELETE", "/api/v1/tokens/{name}", "/api/v1/tokens/probe", {}, True),
        Step("POST", "/api/v1/attendance/recompute", "/api/v1/attendance/recompute",
             {"json": {"from": "2026-11-02", "to": "2026-11-03"}}),
        Step("POST", "/api/v1/absences", "/api/v1/absences", {"json": absence}, saves="absence"),
        Step("PATCH", "/api/v1/absences/{absence_id}", "/api/v1/absences/{absence}",
             {"json": {"reference": "800/12/2026"}}, True),
        Step("POST", "/api/v1/absences/{absence_id}/approve", "/api/v1/absences/{absence}/approve", {}, True),
        Step("POST", "/api/v1/absences", "/api/v1/absences", {"json": later}, saves="absence"),
        Step("POST", "/api/v1/absences/{absence_id}/reject", "/api/v1/absences/{absence}/reject", {}, True),
        Step("POST", "/api/v1/absences", "/api/v1/absences", {"json": latest}, saves="absence"),
        Step("POST", "/api/v1/absences/{absence_id}/cancel", "/api/v1/absences/{absence}/cancel", {}, True),
        Step("DELETE", "/api/v1/absences/{absence_id}", "/api/v1/absences/{absence}", {}, True),
        Step("POST", "/api/v1/activities", "/api/v1/activities", {"json": activity}, saves="activity"),
        Step("POST", "/api/v1/activities/{activity_id}/review", "/api/v1/activities/{activity}/review",
             {"json": {"action": "approve"}}, True),
        Step("POST", "/api/v1/corrections", "/api/v1/corrections",
             {"json": {"kind": "missing_punch", "nip": BUDI, "local_time": "2026-11-03T16:05:00", "reason": "lupa"}}),
        Step("POST", "/api/v1/policies", "/api/v1/policies", yaml, saves="policy"),
        Step("POST", "/api/v1/policies/{policy_row_id}/activate", "/api/v1/policies/{policy}/activate", {}, True),
        Step("POST", "/api/v1/holidays/import", "/api/v1/holidays/import",
             {"content": "date,name,kind\n2026-11-02,Libur daerah,libur_nasional\n"}),
        Step("POST", "/api/v1/holidays", "/api/v1/holidays",
             {"json": {"day": "2026-11-20", "name": "Hari jadi kabupaten", "kind": "libur_nasional"}}),
        Step("POST", "/api/v1/holidays", "/api/v1/holidays",
             {"json": {"day": "2026-11-20", "name": "Hari jadi kota", "kind": "libur_nasional"}}, True),
        Step("DELETE", "/api/v1/holidays/{day}", "/api/v1/holidays/2026-11-20",
             {"params": {"kind": "libur_nasional"}}, True),
        Step("POST", "/api/v1/activities/import", "/api/v1/activities/import",
             {"params": {"dry_run": "false"}, "content": activities_csv}),
        Step("POST", "/api/v1/dead-letters/{dead_letter_id}/resolve", "/api/v1/dead-letters/{dead_letter}/resolve",
             {"json": {"reason": "edge firmware fixed, batch resent"}}),
        Step("POST", "/api/v1/feed/records/{record_id}/retry", "/api/v1/feed/records/{feed_record}/retry", {}, True),
        Step("POST", "/api/v1/feed/records/retry-failed", "/api/v1/feed/records/retry-failed", {}),
        Step("POST", "/api/v1/months/{month}/close", "/api/v1/months/2026-11/close", {}),
        Step("POST", "/api/v1/schedule-groups", "/api/v1/schedule-groups", {"json": shift}),
        Step("POST", "/api/v1/schedule-assignments", "/api/v1/schedule-assignments",
             {"json": {"group_code": "JAGA", "nip": BUDI, "valid_from": "2026-11-01"}}),
    ]  # fmt: skip


async def _dead_letter(engine: AsyncEngine) -> int:
    async with session_factory(engine)() as db:
        letter = DeadLetter(
            received_at=datetime.now(UTC), topic="presensi/v1/edge/x/punches", edge_id="x", reason="bad", payload=b"{",
            worker="test",
        )  # fmt: skip
        db.add(letter)
        await db.commit()
        return letter.id


async def _first_feed_record(engine: AsyncEngine) -> int:
    async with session_factory(engine)() as db:
        return int((await db.execute(select(func.max(FeedRecord.id)))).scalar_one())


async def _audit_count(engine: AsyncEngine) -> int:
    async with session_factory(engine)() as db:
        return int((await db.execute(select(func.count()).select_from(AuditEntry))).scalar_one())


async def _newest_audit(engine: AsyncEngine, count: int) -> list[AuditEntry]:
    async with session_factory(engine)() as db:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(count)
        return list((await db.execute(query)).scalars())


async def test_every_write_refuses_lower_roles_and_is_audited(
    engine: AsyncEngine, app_api: tuple[FastAPI, Api]
) -> None:
    app, api = app_api
    declared = declared_permissions(app)
    writes = {route for route in declared if route[0] in WRITE_METHODS} - NOT_WRITES
    ids: dict[str, Any] = {"dead_letter": await _dead_letter(engine)}
    covered = set()
    for step in _steps(ids):
        if "{feed_record}" in step.path and "feed_record" not in ids:
            ids["feed_record"] = await _first_feed_record(engine)  # the newest record the steps queued
        path = step.path.format(**ids)
        permission = declared[(step.method, step.template)]
        assert permission is not None
        allowed = least_role(permission)
        audited = await _audit_count(engine)
        for role in Role:
            if permission not in GRANTS[role]:
                refused = await api.call(step.method, path, role, **step.kwargs)
                assert refused.status_code == 403, (step.method, path, role, refused.text)
                assert_error_shape(refused, "forbidden")
        assert await _audit_count(engine) == audited, f"a refused {step.method} {path} left an audit entry"

        started = datetime.now(UTC)
        done = await api.call(step.method, path, allowed, **step.kwargs)
        assert done.is_success, (step.method, path, allowed, done.status_code, done.text)
        if step.saves is not None:
            ids[step.saves] = done.json()["id"]
        added = await _audit_count(engine) - audited
        assert added >= 1, f"{step.method} {path} wrote without an audit entry"
        for entry in await _newest_audit(engine, added):
            assert entry.actor == f"token:{allowed.value}-token", (step.method, path, entry.actor)
            assert started - timedelta(seconds=5) <= entry.at.replace(tzinfo=entry.at.tzinfo or UTC)
            assert entry.action
            assert entry.entity
            assert entry.entity_key
            assert entry.before is not None or entry.after is not None, (step.method, path, entry.action)
            if step.has_before:
                assert entry.before is not None, f"{step.method} {path}: audit entry without 'before'"
        covered.add((step.method, step.template))
    assert covered == writes, f"write routes this test does not exercise: {sorted(writes - covered)}"


async def test_validating_a_policy_writes_nothing(engine: AsyncEngine, app_api: tuple[FastAPI, Api]) -> None:
    _app, api = app_api
    audited = await _audit_count(engine)
    checked = await api.call("POST", "/api/v1/policies/validate", Role.ADMIN, content=preset_text())
    assert checked.status_code == 200, checked.text
    assert await _audit_count(engine) == audited


async def test_previewing_a_policy_writes_nothing(engine: AsyncEngine, app_api: tuple[FastAPI, Api]) -> None:
    _app, api = app_api
    version2 = preset_text().replace("\nversion: 1", "\nversion: 2")
    uploaded = await api.call("POST", "/api/v1/policies", Role.ADMIN, content=version2)
    assert uploaded.status_code == 201, uploaded.text
    audited = await _audit_count(engine)
    path = f"/api/v1/policies/{uploaded.json()['id']}/preview"
    previewed = await api.call("POST", path, Role.ADMIN, params={"month": "2026-11"})
    assert previewed.status_code == 200, previewed.text
    assert await _audit_count(engine) == audited
    started = await api.call("POST", f"{path}s", Role.ADMIN, params={"month": "2026-11"})
    assert started.status_code == 202, started.text
    job = await finished_job(api, started.headers["location"])
    assert job["status"] == "done", job
    assert await _audit_count(engine) == audited


async def test_a_revoked_token_is_refused_on_every_route(engine: AsyncEngine, app_api: tuple[FastAPI, Api]) -> None:
    app, api = app_api
    revoked = {}
    for role in Role:
        issued = await api.call("POST", "/api/v1/tokens", Role.ADMIN, json={"name": f"old-{role.value}", "role": role})
        revoked[role] = issued.json()["secret"]
        assert (await api.call("DELETE", f"/api/v1/tokens/old-{role.value}", Role.ADMIN)).is_success
    routes = api_routes(app)
    for method, path in routes:
        for role, secret in revoked.items():
            response = await api.client.request(method, path, headers={"Authorization": f"Bearer {secret}"}, json={})
            assert response.status_code == 401, (method, path, role, response.text)
            assert_error_shape(response, "unauthenticated")


async def test_failed_token_checks_are_rate_limited_per_address(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as db:
        good = (await issue_token(db, "reader", Role.VIEWER, "test")).secret
    app = create_app(engine, failed_auth_limit="5/minute")
    guesser = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.1.1.66", 4000)), base_url="http://h")
    office = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.1.1.10", 4000)), base_url="http://h")
    async with guesser, office:
        for attempt in range(5):
            miss = await guesser.get("/api/v1/units", headers={"Authorization": f"Bearer psh_guess{attempt}"})
            assert miss.status_code == 401, attempt
        blocked = await guesser.get("/api/v1/units", headers={"Authorization": "Bearer psh_guess5"})
        assert blocked.status_code == 429
        assert_error_shape(blocked, "too_many_requests")
        assert 1 <= int(blocked.headers["retry-after"]) <= 61
        # Even the right token is refused from that address: a guesser must not tell a hit from a miss.
        right = await guesser.get("/api/v1/units", headers={"Authorization": f"Bearer {good}"})
        assert right.status_code == 429
        # Another address is not affected, and a missing token is a 401 that does not count.
        assert (await office.get("/api/v1/units", headers={"Authorization": f"Bearer {good}"})).status_code == 200
        for _ in range(10):
            assert (await office.get("/api/v1/units")).status_code == 401
        assert (await office.get("/api/v1/units", headers={"Authorization": f"Bearer {good}"})).status_code == 200
