"""schemathesis against the hub's OpenAPI document with an admin token: whatever a client sends, the hub never
answers 500 (found before: integers beyond 64 bits in paths and queries, and years past 9999, reached the store
or the date type and came back as 500 instead of 422)."""

import asyncio
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from hub.access import Role, issue_token
from hub.api.app import create_app
from hub.settings import DatabaseSettings
from hub.store.db import create_engine, session_factory
from hub.store.migrate import upgrade
from tests.fuzz.fuzzkit import SCALE
from tests.hub.attendance_kit import seed


@pytest.fixture(scope="module")
def admin_and_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    database = DatabaseSettings(url=f"sqlite:///{tmp_path_factory.mktemp('api-fuzz') / 'hub.db'}")

    async def prepare() -> str:
        engine = create_engine(database)
        try:
            await upgrade(engine)
            async with session_factory(engine)() as db:
                await seed(db)
                return (await issue_token(db, "fuzz-admin", Role.ADMIN, "test")).secret
        finally:
            await engine.dispose()

    secret = asyncio.run(prepare())
    # A fresh engine for the app: schemathesis drives it from its own event loop.
    engine = create_engine(database)
    yield secret, create_app(engine, failed_auth_limit="100000/minute")
    asyncio.run(engine.dispose())


def test_the_hub_api_never_fails_with_a_server_error(admin_and_app: tuple[str, Any]) -> None:
    """Every operation of the document, each with its own small hypothesis run; failures are collected so
    one run reports every operation that fails, not only the first."""
    admin, app = admin_and_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {admin}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = cast(Any, result).ok()  # an operation the document describes badly raises here
        operations += 1

        @settings(
            max_examples=max(1, int(8 * SCALE)),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=SCALE == 1,
            database=None,
        )
        @given(case=operation.as_strategy())
        def one(case: Any) -> None:
            # Response-schema conformance is left out: pydantic documents times as JSON Schema "format: time",
            # which wants a UTC offset the hub's naive wall times ("07:30:00") rightly do not carry.
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        try:
            one()
        except (Exception, BaseExceptionGroup) as exc:
            found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else [exc]
            for failure in found:
                lines = [line for line in str(failure).splitlines() if line.strip()]
                failures.append(f"{operation.label}: {type(failure).__name__}: {' | '.join(lines[:12])[:1200]}")
    assert operations >= 50
    assert not failures, "\n\n".join(failures)


HUGE = 2**70


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/api/v1/enrollments?offset={HUGE}", None),
        ("GET", f"/api/v1/dead-letters?offset={HUGE}", None),
        ("GET", f"/api/v1/corrections?offset={HUGE}", None),
        ("GET", "/api/v1/holidays?year=10000", None),
        ("GET", "/api/v1/exports/days.csv?month=0000-01", None),
        ("GET", "/api/v1/exports/recaps.csv?month=0000-12", None),
        ("POST", "/api/v1/holidays/import?bundled=-42869", None),
        ("GET", f"/api/v1/enrollments/{HUGE}", None),
        ("DELETE", f"/api/v1/absences/{HUGE}", None),
        ("POST", f"/api/v1/policies/{HUGE}/activate", None),
        (
            "POST",
            "/api/v1/activities",
            {"nip": "198705122015031002", "day": "2026-11-02", "start": "08:00", "end": "10:00",
             "description": "x", "rhk_ref": "R", "norm_minutes": HUGE, "volume": HUGE},
        ),
        ("POST", "/api/v1/units", {"code": "NUL", "name": "Bagian\x00Umum"}),
    ],
)  # fmt: skip
async def test_regressions_answer_422_not_500(
    admin_and_app: tuple[str, Any], method: str, path: str, body: dict[str, Any] | None
) -> None:
    admin, app = admin_and_app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        answer = await client.request(method, path, json=body, headers={"Authorization": f"Bearer {admin}"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid"
