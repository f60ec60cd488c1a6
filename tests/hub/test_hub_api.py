"""The admin API: every route checks the caller's role, every error has one shape, writes are audited."""

import base64
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access import Permission, Role, issue_token
from hub.api.app import PUBLIC_PATHS, create_app
from hub.ingest.classify import Delivery, classify
from hub.ingest.commit import Received, commit_received
from hub.store.db import session_factory
from tests.hub.hub_testkit import batch, punch

BUDI = "198705122015031002"


class Api:
    def __init__(self, client: httpx.AsyncClient, secrets: dict[Role, str]) -> None:
        self.client = client
        self.secrets = secrets

    def headers(self, role: Role | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.secrets[role]}"}

    async def call(self, method: str, path: str, role: Role | None, **kwargs: object) -> httpx.Response:
        return await self.client.request(method, path, headers=self.headers(role), **kwargs)  # type: ignore[arg-type]


async def _api(engine: AsyncEngine, failed_auth_limit: str = "10000/minute") -> AsyncIterator[tuple[FastAPI, Api]]:
    # These tests try many wrong tokens from one address; tests/security/ covers the limit itself.
    app = create_app(engine, failed_auth_limit=failed_auth_limit)
    secrets = {}
    async with session_factory(engine)() as db:
        for role in Role:
            secrets[role] = (await issue_token(db, f"{role.value}-token", role, "test")).secret
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        yield app, Api(client, secrets)


@pytest.fixture
async def sqlite_api(sqlite_engine: AsyncEngine) -> AsyncIterator[tuple[FastAPI, Api]]:
    async for pair in _api(sqlite_engine):
        yield pair


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    async for _app, client in _api(engine):
        yield client


def assert_error_shape(response: httpx.Response, code: str | None = None) -> None:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str)
    if code is not None:
        assert body["error"]["code"] == code, body


def needed(method: str, path: str) -> Permission:
    """The policy under test, written down independently of the implementation."""
    if path.startswith(("/api/v1/tokens", "/api/v1/audit")):
        return Permission.ADMINISTER
    if method == "GET":
        return Permission.READ
    if path.startswith(("/api/v1/units", "/api/v1/policies", "/api/v1/feed", "/api/v1/months")):
        return Permission.ADMINISTER
    return Permission.CORRECT


ALLOWED = {
    Role.ADMIN: {Permission.READ, Permission.CORRECT, Permission.ADMINISTER},
    Role.OPERATOR: {Permission.READ, Permission.CORRECT},
    Role.VIEWER: {Permission.READ},
    Role.SERVICE: {Permission.READ},
}


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves outside the public set, from its OpenAPI document
    (FastAPI nests included routers, so the document is the one public list of them all)."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        if path in PUBLIC_PATHS:
            continue
        concrete = re.sub(r"\{(\w*id)\}", "1", path)
        concrete = re.sub(r"\{\w+\}", "x", concrete)
        found += [(method.upper(), concrete) for method in sorted(operations)]
    return found


async def test_every_route_refuses_no_token_and_roles_without_the_permission(
    sqlite_api: tuple[FastAPI, Api],
) -> None:
    app, api = sqlite_api
    routes = api_routes(app)
    assert len(routes) >= 30, routes
    for method, path in routes:
        anonymous = await api.call(method, path, None)
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["www-authenticate"] == "Bearer"
        assert_error_shape(anonymous, "unauthenticated")
        wrong = await api.client.request(method, path, headers={"Authorization": "Bearer psh_forged"})
        assert wrong.status_code == 401, (method, path)
        for role in Role:
            response = await api.call(method, path, role, json={})
            if needed(method, path) in ALLOWED[role]:
                assert response.status_code not in (401, 403), (method, path, role, response.text)
            else:
                assert response.status_code == 403, (method, path, role, response.text)
                assert_error_shape(response, "forbidden")
            if response.status_code >= 400:
                assert_error_shape(response)


async def test_public_routes_need_no_token(sqlite_api: tuple[FastAPI, Api]) -> None:
    _app, api = sqlite_api
    spec = await api.call("GET", "/openapi.json", None)
    assert spec.status_code == 200
    assert "/api/v1/punches/unmatched" in spec.json()["paths"]
    assert (await api.call("GET", "/docs", None)).status_code == 200
    assert (await api.call("GET", "/healthz", None)).json() == {"status": "ok"}


async def test_errors_share_one_shape(sqlite_api: tuple[FastAPI, Api]) -> None:
    _app, api = sqlite_api
    assert_error_shape(await api.call("GET", "/nowhere", Role.VIEWER), "not_found")
    assert_error_shape(await api.call("PUT", "/api/v1/units", Role.ADMIN), "method_not_allowed")
    missing = await api.call("GET", "/api/v1/employees/000", Role.VIEWER)
    assert missing.status_code == 404
    assert_error_shape(missing, "not_found")
    invalid = await api.call("POST", "/api/v1/units", Role.ADMIN, json={"code": "has space"})
    assert invalid.status_code == 422
    assert_error_shape(invalid, "invalid")
    assert {tuple(d["loc"]) for d in invalid.json()["error"]["details"]} == {("body", "code"), ("body", "name")}
    bad_limit = await api.call("GET", "/api/v1/punches?limit=0", Role.VIEWER)
    assert_error_shape(bad_limit, "invalid")


async def test_registry_writes_are_audited_with_actor_before_and_after(sqlite_api: tuple[FastAPI, Api]) -> None:
    _app, api = sqlite_api
    assert (await api.call("POST", "/api/v1/units", Role.ADMIN, json={"code": "BKPSDM", "name": "BKPSDM"})).is_success
    employee = {"nip": BUDI, "name": "Budi", "unit_code": "BKPSDM", "active_from": "2015-03-01", "job_class": 9}
    created = await api.call("POST", "/api/v1/employees", Role.OPERATOR, json=employee)
    assert created.status_code == 201, created.text
    patched = await api.call("PATCH", f"/api/v1/employees/{BUDI}", Role.OPERATOR, json={"job_class": 10})
    assert patched.json()["job_class"] == 10
    bad_patch = await api.call("PATCH", f"/api/v1/employees/{BUDI}", Role.OPERATOR, json={"active_to": "2000-01-01"})
    assert bad_patch.status_code == 422
    assert_error_shape(bad_patch, "invalid")

    trail = (await api.call("GET", "/api/v1/audit?entity=employee", Role.ADMIN)).json()
    assert [(a["action"], a["actor"]) for a in trail] == [
        ("update", "token:operator-token"),
        ("create", "token:operator-token"),
    ]
    assert trail[0]["before"]["job_class"] == 9
    assert trail[0]["after"]["job_class"] == 10
    assert trail[1]["before"] is None
    assert trail[1]["after"]["nip"] == BUDI
    assert (await api.call("GET", "/api/v1/audit", Role.OPERATOR)).status_code == 403


async def test_revoked_token_stops_working_at_once(sqlite_api: tuple[FastAPI, Api]) -> None:
    _app, api = sqlite_api
    issued = await api.call("POST", "/api/v1/tokens", Role.ADMIN, json={"name": "dashboard", "role": "viewer"})
    secret = issued.json()["secret"]
    assert secret.startswith("psh_")
    listed = (await api.call("GET", "/api/v1/tokens", Role.ADMIN)).json()
    assert "secret" not in listed[0]
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await api.client.get("/api/v1/units", headers=headers)).status_code == 200
    assert (await api.call("DELETE", "/api/v1/tokens/dashboard", Role.ADMIN)).json()["revoked_at"] is not None
    refused = await api.client.get("/api/v1/units", headers=headers)
    assert refused.status_code == 401
    assert_error_shape(refused, "unauthenticated")


async def test_punches_unmatched_and_dead_letters_through_the_api(engine: AsyncEngine, api: Api) -> None:
    local = datetime(2026, 11, 23, 7, 10)
    good = batch("edge-a", 1, [punch("T1", "42", local), punch("T1", "77", local)]).model_dump_json().encode()
    now = datetime.now(UTC)
    deliveries = [
        Delivery("presensi/v1/edge/edge-a/punches", good, 1, 1, False, now),
        Delivery("presensi/v1/edge/edge-a/punches", b"\x00garbage", 2, 1, False, now),
    ]
    await commit_received(engine, [Received(d, classify(d)) for d in deliveries], "test")

    await api.call("POST", "/api/v1/units", Role.ADMIN, json={"code": "BKPSDM", "name": "BKPSDM"})
    await api.call(
        "POST", "/api/v1/terminals", Role.OPERATOR, json={"serial": "T1", "location": "Lobi", "zone": "Asia/Jakarta"}
    )
    employee = {"nip": BUDI, "name": "Budi", "unit_code": "BKPSDM", "active_from": "2015-03-01"}
    await api.call("POST", "/api/v1/employees", Role.OPERATOR, json=employee)
    unmatched = (await api.call("GET", "/api/v1/punches/unmatched", Role.VIEWER)).json()
    assert unmatched["total"] == 2
    enrollment = {"terminal_sn": "T1", "pin": "42", "nip": BUDI, "valid_from": str(date(2026, 1, 1))}
    assert (await api.call("POST", "/api/v1/enrollments", Role.OPERATOR, json=enrollment)).status_code == 201
    unmatched = (await api.call("GET", "/api/v1/punches/unmatched", Role.SERVICE)).json()
    assert [p["pin"] for p in unmatched["items"]] == ["77"]
    by_unit = (await api.call("GET", "/api/v1/punches?unit=BKPSDM", Role.VIEWER)).json()
    assert [(p["pin"], p["nip"], p["employee_name"]) for p in by_unit["items"]] == [("42", BUDI, "Budi")]
    since = (await api.call("GET", "/api/v1/punches?since=2026-11-23T00:11:00Z", Role.VIEWER)).json()
    assert since["total"] == 0

    letters = (await api.call("GET", "/api/v1/dead-letters", Role.VIEWER)).json()
    assert letters["total"] == 1
    detail = (await api.call("GET", f"/api/v1/dead-letters/{letters['items'][0]['id']}", Role.VIEWER)).json()
    assert base64.b64decode(detail["payload_base64"]) == b"\x00garbage"
    edges = (await api.call("GET", "/api/v1/sequence-gaps", Role.VIEWER)).json()
    assert edges == []
