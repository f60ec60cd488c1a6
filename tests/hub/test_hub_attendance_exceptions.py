"""GET /exceptions: unmatched and flagged punches and the four reconciliation findings, from one function,
paged kind by kind, filtered by kind, unit and dates; the unmatched punch route gives the same punches."""

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access import Role
from presensi.contract import PunchFlag
from tests.hub.attendance_kit import BUDI, PINS, SITI, deliver_records, seeded
from tests.hub.hub_testkit import punch
from tests.hub.test_hub_api import Api, _api, assert_error_shape

EXCEPTIONS = "/api/v1/exceptions"
WEEK = {"from": "2026-11-02", "to": "2026-11-06"}


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    await seeded(engine)
    async for _app, client in _api(engine):
        yield client


async def _activity(api: Api, nip: str, day: str, start: str, end: str) -> None:
    body = {"nip": nip, "day": day, "start": start, "end": end, "description": "rapat", "norm_minutes": 60}
    created = await api.call("POST", "/api/v1/activities", Role.OPERATOR, json=body)
    assert created.status_code == 201, created.text


async def _setup(engine: AsyncEngine, api: Api) -> None:
    # Mon 2 Nov: Budi's 07:20 check-in is flagged (clock reset), his 16:02 check-out is fine; PIN 999 is
    # nobody's. Siti is there 07:25-16:05. Neither logs an activity -> presence without activity, both.
    # Tue: Budi has no punch (TK) but logs 09:00-10:00 -> activity while absent. Siti is there 07:25-12:00 and
    # logs 11:00-15:00 -> activity outside presence (240 min of activity inside 275 of presence: not beyond).
    # Wed: Budi TK with nothing logged (no finding); Siti 07:30-08:30 logs 07:30-09:30 -> outside and beyond.
    flagged = punch("T1", PINS[BUDI], datetime(2026, 11, 2, 7, 20)).model_copy(
        update={"flags": (PunchFlag.CLOCK_RESET,)}
    )
    punches = [flagged, punch("T1", "999", datetime(2026, 11, 2, 7, 21))]
    for nip, at in [
        (BUDI, datetime(2026, 11, 2, 16, 2)),
        (SITI, datetime(2026, 11, 2, 7, 25)),
        (SITI, datetime(2026, 11, 2, 16, 5)),
        (SITI, datetime(2026, 11, 3, 7, 25)),
        (SITI, datetime(2026, 11, 3, 12, 0)),
        (SITI, datetime(2026, 11, 4, 7, 30)),
        (SITI, datetime(2026, 11, 4, 8, 30)),
    ]:
        punches.append(punch("T1", PINS[nip], at))
    await deliver_records(engine, punches)
    await _activity(api, BUDI, "2026-11-03", "09:00", "10:00")
    await _activity(api, SITI, "2026-11-03", "11:00", "15:00")
    await _activity(api, SITI, "2026-11-04", "07:30", "09:30")
    recomputed = await api.call(
        "POST", "/api/v1/attendance/recompute", Role.OPERATOR, json={"from": "2026-11-02", "to": "2026-11-04"}
    )
    assert recomputed.status_code == 200, recomputed.text


def _summary(body: dict[str, object]) -> list[tuple[str, str, str | None]]:
    items = body["items"]
    assert isinstance(items, list)
    return [(i["kind"], i["day"], i["nip"]) for i in items]


async def test_every_kind_listed_in_kind_order_with_totals(engine: AsyncEngine, api: Api) -> None:
    await _setup(engine, api)
    response = await api.call("GET", EXCEPTIONS, Role.VIEWER, params=WEEK)
    assert response.status_code == 200, response.text
    body = response.json()
    assert _summary(body) == [
        ("unmatched_punch", "2026-11-02", None),
        ("flagged_punch", "2026-11-02", BUDI),
        ("activity_while_absent", "2026-11-03", BUDI),
        ("activity_outside_presence", "2026-11-03", SITI),
        ("activity_outside_presence", "2026-11-04", SITI),
        ("presence_without_activity", "2026-11-02", BUDI),
        ("presence_without_activity", "2026-11-02", SITI),
        ("activity_beyond_presence", "2026-11-04", SITI),
    ]
    assert body["total"] == 8
    assert body["totals"] == {
        "unmatched_punch": 1,
        "flagged_punch": 1,
        "activity_while_absent": 1,
        "activity_outside_presence": 2,
        "presence_without_activity": 2,
        "activity_beyond_presence": 1,
    }
    unmatched, flagged, absent = body["items"][:3]
    assert unmatched["punch"]["pin"] == "999"
    assert flagged["punch"]["flags"] == ["clock_reset"]
    assert "flagged clock_reset" in flagged["detail"]
    assert absent["day_version"] == 1
    assert absent["detail"].startswith("tk TK: presence 0 min, activity 60 min")

    # The unmatched punch route lists the same punch (the same query underneath).
    listed = await api.call("GET", "/api/v1/punches/unmatched", Role.VIEWER)
    assert [p["key"] for p in listed.json()["items"]] == [unmatched["punch"]["key"]]


async def test_paging_runs_across_kinds_and_filters_narrow(engine: AsyncEngine, api: Api) -> None:
    await _setup(engine, api)
    page = (await api.call("GET", EXCEPTIONS, Role.VIEWER, params={**WEEK, "limit": 3, "offset": 1})).json()
    assert _summary(page) == [
        ("flagged_punch", "2026-11-02", BUDI),
        ("activity_while_absent", "2026-11-03", BUDI),
        ("activity_outside_presence", "2026-11-03", SITI),
    ]
    assert page["total"] == 8
    last = (await api.call("GET", EXCEPTIONS, Role.VIEWER, params={**WEEK, "limit": 5, "offset": 6})).json()
    assert _summary(last) == [
        ("presence_without_activity", "2026-11-02", SITI),
        ("activity_beyond_presence", "2026-11-04", SITI),
    ]

    punches_only = await api.call(
        "GET", EXCEPTIONS, Role.VIEWER, params=[*WEEK.items(), ("kind", "unmatched_punch"), ("kind", "flagged_punch")]
    )
    assert [k for k, _, _ in _summary(punches_only.json())] == ["unmatched_punch", "flagged_punch"]
    assert set(punches_only.json()["totals"]) == {"unmatched_punch", "flagged_punch"}

    # Siti's unit: the unmatched punch stays (Siti is enrolled on T1), Budi's flagged punch and findings go.
    umum = (await api.call("GET", EXCEPTIONS, Role.VIEWER, params={**WEEK, "unit": "BKPSDM.UMUM"})).json()
    assert umum["totals"]["flagged_punch"] == 0
    assert umum["total"] == 5
    assert {nip for _, _, nip in _summary(umum)} == {None, SITI}
    whole = (await api.call("GET", EXCEPTIONS, Role.VIEWER, params={**WEEK, "unit": "BKPSDM"})).json()
    assert whole["total"] == 8

    tuesday = (await api.call("GET", EXCEPTIONS, Role.VIEWER, params={"from": "2026-11-03", "to": "2026-11-03"})).json()
    assert _summary(tuesday) == [
        ("activity_while_absent", "2026-11-03", BUDI),
        ("activity_outside_presence", "2026-11-03", SITI),
    ]


async def test_refusals(api: Api) -> None:
    assert (await api.call("GET", EXCEPTIONS, None, params=WEEK)).status_code == 401
    backwards = await api.call("GET", EXCEPTIONS, Role.VIEWER, params={"from": "2026-11-06", "to": "2026-11-02"})
    assert backwards.status_code == 422
    assert_error_shape(backwards)
    unknown = await api.call("GET", EXCEPTIONS, Role.VIEWER, params={**WEEK, "kind": "late"})
    assert unknown.status_code == 422
    missing = await api.call("GET", EXCEPTIONS, Role.VIEWER, params={"from": "2026-11-02"})
    assert missing.status_code == 422
    no_unit = await api.call("GET", EXCEPTIONS, Role.VIEWER, params={**WEEK, "unit": "NOPE"})
    assert no_unit.status_code == 404
