"""The attendance routes: corrections (reason required, audited), absences, activities, policies, holidays,
days and recaps, each behind its role."""

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access import Role
from hub.reconcile.queue import process_pending
from hub.store.db import session_factory
from hub.store.models import AuditEntry
from tests.hub.attendance_kit import BUDI, SITI, WEEKDAY, deliver, preset_text, seeded
from tests.hub.test_hub_api import Api, _api, assert_error_shape

DAYS = "/api/v1/attendance/days"


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    await seeded(engine)
    async for _app, client in _api(engine):
        yield client


async def _recompute(api: Api, first: str, last: str) -> dict[str, object]:
    response = await api.call("POST", "/api/v1/attendance/recompute", Role.OPERATOR, json={"from": first, "to": last})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def _day(api: Api, nip: str, day: str) -> dict[str, object]:
    response = await api.call("GET", DAYS, Role.VIEWER, params={"nip": nip, "from": day, "to": day})
    assert response.status_code == 200, response.text
    (found,) = response.json()
    assert isinstance(found, dict)
    return found


async def test_a_correction_needs_a_reason_changes_the_day_and_is_audited(engine: AsyncEngine, api: Api) -> None:
    # Tue 3 Nov 2026: Budi checked in at 07:20 but the check-out was not recorded -> PSW4 (missing check-out).
    await deliver(engine, [(BUDI, datetime(2026, 11, 3, 7, 20))])
    await _recompute(api, "2026-11-03", "2026-11-03")
    before = await _day(api, BUDI, "2026-11-03")
    assert (before["codes"], before["version"]) == ("PSW4", 1)

    missing = {"kind": "missing_punch", "nip": BUDI, "local_time": "2026-11-03T16:05:00"}
    refused = await api.call("POST", "/api/v1/corrections", Role.OPERATOR, json=missing)
    assert refused.status_code == 422
    assert_error_shape(refused, "invalid")
    assert any(d["loc"][-1] == "reason" for d in refused.json()["error"]["details"])
    blank = await api.call("POST", "/api/v1/corrections", Role.OPERATOR, json={**missing, "reason": "   "})
    assert blank.status_code == 422
    viewer = await api.call("POST", "/api/v1/corrections", Role.VIEWER, json={**missing, "reason": "lupa"})
    assert viewer.status_code == 403

    reason = "terminal lobi mati listrik sore hari, surat keterangan kasubag umum"
    created = await api.call("POST", "/api/v1/corrections", Role.OPERATOR, json={**missing, "reason": reason})
    assert created.status_code == 201, created.text
    correction = created.json()
    assert correction["before"][f"{BUDI}/2026-11-03"]["codes"] == "PSW4"
    assert correction["after"][f"{BUDI}/2026-11-03"]["codes"] is None
    after = await _day(api, BUDI, "2026-11-03")
    assert (after["status"], after["codes"], after["version"]) == ("present", None, 2)
    assert after["check_out"] == "2026-11-03T16:05:00"

    async with session_factory(engine)() as db:
        entry = (await db.execute(select(AuditEntry).where(AuditEntry.entity == "correction"))).scalar_one()
    assert entry.actor == "token:operator-token"
    assert entry.after is not None
    assert entry.after["reason"] == reason
    assert entry.before == {"days": correction["before"]}
    listed = await api.call("GET", "/api/v1/corrections", Role.VIEWER, params={"nip": BUDI})
    assert [c["id"] for c in listed.json()] == [correction["id"]]


async def test_a_broken_terminal_day_excuses_everyone_enrolled(api: Api) -> None:
    await _recompute(api, "2026-11-04", "2026-11-04")
    assert (await _day(api, SITI, "2026-11-04"))["codes"] == "TK"
    body = {"kind": "broken_terminal_day", "terminal_sn": "T1", "day": "2026-11-04", "reason": "layar rusak"}
    created = await api.call("POST", "/api/v1/corrections", Role.OPERATOR, json=body)
    assert created.status_code == 201, created.text
    for nip in (BUDI, SITI):
        day = await _day(api, nip, "2026-11-04")
        assert (day["status"], day["codes"], day["version"]) == ("present", None, 2)


async def test_an_approved_absence_overrides_tk(engine: AsyncEngine, api: Api) -> None:
    await _recompute(api, "2026-11-09", "2026-11-13")
    assert (await _day(api, BUDI, "2026-11-10"))["codes"] == "TK"
    body = {"nip": BUDI, "kind": "CT", "first": "2026-11-10", "last": "2026-11-11", "reference": "800/12/2026"}
    created = await api.call("POST", "/api/v1/absences", Role.OPERATOR, json=body)
    assert created.status_code == 201, created.text
    absence = created.json()
    assert absence["status"] == "pending"
    assert (await api.call("POST", f"/api/v1/absences/{absence['id']}/approve", Role.VIEWER)).status_code == 403
    approved = await api.call("POST", f"/api/v1/absences/{absence['id']}/approve", Role.OPERATOR)
    assert approved.json()["status"] == "approved"
    again = await api.call("POST", f"/api/v1/absences/{absence['id']}/reject", Role.OPERATOR)
    assert again.status_code == 409
    assert_error_shape(again, "conflict")

    # The approval marked Budi's 10-11 Nov; the pending run recomputes them.
    async with session_factory(engine)() as db:
        stats = await process_pending(db)
    assert stats.changed == 2
    tue, wed, thu = [await _day(api, BUDI, d) for d in ("2026-11-10", "2026-11-11", "2026-11-12")]
    assert (tue["status"], tue["codes"], tue["deduction_percent"], tue["version"]) == ("excused", "CT", "0.0000", 2)
    assert wed["codes"] == "CT"
    assert (thu["codes"], thu["version"]) == ("TK", 1)
    listed = await api.call("GET", "/api/v1/absences", Role.VIEWER, params={"nip": BUDI, "status": "approved"})
    assert [a["id"] for a in listed.json()] == [absence["id"]]


BAD_POLICY = (
    preset_text()
    .replace("tk_percent: 5", "tk_precent: 5")
    .replace(
        "{code: TL3, from_minute: 61, to_minute: 90, percent: 1.25}",
        "{code: TL3, from_minute: 61, to_minute: 90, percent: -1}",
    )
)


async def test_policy_upload_refuses_a_bad_document_with_the_field_paths(api: Api) -> None:
    headers = api.headers(Role.ADMIN) | {"Content-Type": "application/yaml"}
    for path in ("/api/v1/policies/validate", "/api/v1/policies"):
        refused = await api.client.post(path, content=BAD_POLICY, headers=headers)
        assert refused.status_code == 422, refused.text
        assert_error_shape(refused, "invalid")
        paths = {p["path"] for p in refused.json()["error"]["details"]}
        assert {"discipline.tk_precent", "discipline.late_tiers[2].percent"} <= paths, paths
    operator = await api.call("POST", "/api/v1/policies", Role.OPERATOR, content=preset_text())
    assert operator.status_code == 403
    assert_error_shape(operator, "forbidden")

    version2 = preset_text().replace("\nversion: 1", "\nversion: 2").replace("2026-01-01", "2026-12-01")
    ok = await api.call("POST", "/api/v1/policies/validate", Role.ADMIN, content=version2)
    assert ok.json() == {"valid": True, "id": "tlpsw-standard", "version": 2, "effective_from": "2026-12-01"}
    uploaded = await api.call("POST", "/api/v1/policies", Role.ADMIN, content=version2)
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["active"] is False
    duplicate = await api.call("POST", "/api/v1/policies", Role.ADMIN, content=version2)
    assert duplicate.status_code == 409
    activated = await api.call("POST", f"/api/v1/policies/{uploaded.json()['id']}/activate", Role.ADMIN)
    assert activated.json()["active"] is True
    listed = (await api.call("GET", "/api/v1/policies", Role.VIEWER)).json()
    assert [(p["version"], p["active"]) for p in listed] == [(1, True), (2, True)]
    toml = await api.call(
        "POST", "/api/v1/policies/validate", Role.ADMIN, content='id = "x"', params={"format": "toml"}
    )
    assert toml.status_code == 422
    assert "name" in {p["path"] for p in toml.json()["error"]["details"]}


async def test_activities_are_reviewed_by_the_state_machine(api: Api) -> None:
    entry = {
        "nip": BUDI,
        "day": "2026-11-02",
        "start": "08:00",
        "end": "10:00",
        "description": "Menyusun laporan",
        "rhk_ref": "RHK-1",
        "norm_minutes": 60,
        "volume": 2,
    }
    created = await api.call("POST", "/api/v1/activities", Role.OPERATOR, json=entry)
    assert created.status_code == 201, created.text
    activity_id = created.json()["id"]
    review = f"/api/v1/activities/{activity_id}/review"
    assert (await api.call("POST", review, Role.VIEWER, json={"action": "approve"})).status_code == 403
    no_comment = await api.call("POST", review, Role.OPERATOR, json={"action": "request_revision"})
    assert no_comment.status_code == 409
    assert_error_shape(no_comment, "conflict")
    asked = await api.call("POST", review, Role.OPERATOR, json={"action": "request_revision", "comment": "lampirkan"})
    assert (asked.json()["status"], asked.json()["reviewer_comment"]) == ("revision_requested", "lampirkan")
    await api.call("POST", review, Role.OPERATOR, json={"action": "resubmit"})
    approved = await api.call("POST", review, Role.OPERATOR, json={"action": "approve"})
    assert approved.json()["status"] == "approved"
    assert (await api.call("POST", review, Role.OPERATOR, json={"action": "reject", "comment": "x"})).status_code == 409
    listed = await api.call("GET", "/api/v1/activities", Role.VIEWER, params={"nip": BUDI, "status": "approved"})
    assert len(listed.json()) == 1


async def test_holidays_import_days_by_unit_and_recaps(engine: AsyncEngine, api: Api) -> None:
    imported = await api.call("POST", "/api/v1/holidays/import", Role.OPERATOR, params={"bundled": 2026})
    assert imported.status_code == 200, imported.text
    assert imported.json()["imported"] > 10
    csv = "date,name,kind\n2026-11-02,Libur daerah,libur_nasional\n"
    local = await api.call("POST", "/api/v1/holidays/import", Role.OPERATOR, content=csv)
    assert (local.json()["imported"], local.json()["changed"], local.json()["errors"]) == (1, 1, [])
    assert (await api.call("POST", "/api/v1/holidays/import", Role.VIEWER, content=csv)).status_code == 403
    bad = await api.call("POST", "/api/v1/holidays/import", Role.OPERATOR, content="date,name,kind\nxx,a,b\n")
    assert bad.json()["imported"] == 0
    assert bad.json()["errors"]

    await deliver(engine, [(SITI, datetime(2026, 11, 3, 7, 50)), (SITI, datetime(2026, 11, 3, 16, 0))])
    await _recompute(api, "2026-11-02", "2026-11-03")
    unit = await api.call("GET", DAYS, Role.SERVICE, params={"unit": "BKPSDM.UMUM", "from": "2026-11-01"})
    # Siti is in the sub-unit: Mon 2 Nov is now a holiday; Tue 07:50 is 20 minutes late -> TL1.
    assert [(d["nip"], d["day"], d["status"], d["codes"]) for d in unit.json()] == [
        (SITI, "2026-11-02", "holiday", None),
        (SITI, "2026-11-03", "present", "TL1"),
    ]
    recap = await api.call(
        "GET", f"/api/v1/attendance/recap/employee/{SITI}", Role.VIEWER, params={"year": 2026, "month": 11}
    )
    assert recap.status_code == 200, recap.text
    assert recap.json()["tier_counts"] == {"TL1": 1}
    assert recap.json()["holidays"] >= 1
    units = await api.call(
        "GET", "/api/v1/attendance/recap/unit/BKPSDM", Role.VIEWER, params={"year": 2026, "month": 11}
    )
    assert [r["nip"] for r in units.json()] == sorted([BUDI, SITI])
    missing = await api.call(
        "GET", "/api/v1/attendance/recap/employee/199901012020011001", Role.VIEWER, params={"year": 2026, "month": 11}
    )
    assert missing.status_code == 404
    assert_error_shape(missing, "not_found")


async def test_schedule_groups_and_exceptions(api: Api) -> None:
    shift = {
        "code": "JAGA",
        "name": "Satpam",
        "pattern": {"type": "rotation", "anchor": "2026-11-01", "cycle": [{"start": "22:00", "end": "06:00"}, None]},
        "works_on_holidays": True,
    }
    assert (await api.call("POST", "/api/v1/schedule-groups", Role.OPERATOR, json=shift)).status_code == 200
    broken = {**shift, "code": "BAD", "pattern": {"type": "weekly", "days": [WEEKDAY] * 6}}
    refused = await api.call("POST", "/api/v1/schedule-groups", Role.OPERATOR, json=broken)
    assert refused.status_code == 422
    exception = {"group_code": "JAGA", "nip": BUDI, "valid_from": "2026-11-01"}
    assigned = await api.call("POST", "/api/v1/schedule-assignments", Role.OPERATOR, json=exception)
    assert assigned.status_code == 201, assigned.text
    await _recompute(api, "2026-11-01", "2026-11-02")
    # Budi's rotation from Sun 1 Nov: shift (22:00-06:00) on the 1st, off on the 2nd; no punch -> TK on the 1st.
    assert (await _day(api, BUDI, "2026-11-01"))["codes"] == "TK"
    assert (await _day(api, BUDI, "2026-11-02"))["status"] == "off"
    groups = (await api.call("GET", "/api/v1/schedule-groups", Role.VIEWER)).json()
    assert [g["code"] for g in groups] == ["JAGA", "N5"]


async def test_an_on_demand_recompute_waits_for_none_while_another_recompute_runs(
    engine: AsyncEngine, api: Api
) -> None:
    from hub.reconcile.queue import PENDING_LEASE
    from hub.store.lease import acquire, release

    assert await acquire(engine, PENDING_LEASE, "otherhost:1:hub run", 60)
    response = await api.call(
        "POST", "/api/v1/attendance/recompute", Role.OPERATOR, json={"from": "2026-11-02", "to": "2026-11-02"}
    )
    assert response.status_code == 409, response.text
    assert "otherhost:1:hub run is recomputing already" in response.text
    await release(engine, PENDING_LEASE, "otherhost:1:hub run")
    assert (await _recompute(api, "2026-11-02", "2026-11-02"))["employees"] == 2
