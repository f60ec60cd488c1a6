"""The mock e-Kinerja receiver over real HTTP: validation, versions, outages and slowness on command."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal

import httpx
import pytest

from presensi.ekinerja import DailyAttendance, MonthlyRecap, Submission
from simulators.ekinerja.receiver import ReceiverServer

NIP = "198705122010011003"


@pytest.fixture
def receiver() -> Iterator[ReceiverServer]:
    server = ReceiverServer(token="rahasia").start()
    yield server
    server.stop()


def _day(version: int = 1, minutes_late: int = 12) -> DailyAttendance:
    return DailyAttendance(
        key=f"{NIP}:2026-11-23", version=version, nip=NIP, unit_code="BKPSDM", produced_at=datetime.now(UTC),
        day=date(2026, 11, 23), status="present", zone="Asia/Jakarta", check_in=time(7, 42), check_out=time(16, 5),
        minutes_late=minutes_late, minutes_early=0, late_code="TL1", deduction_percent=Decimal("0.5"),
        source_device="CKJG201960123", verification="fingerprint",
    )  # fmt: skip


def _post(receiver: ReceiverServer, body: str, token: str = "rahasia") -> httpx.Response:
    return httpx.post(receiver.url, content=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _submission(*records: DailyAttendance | MonthlyRecap) -> str:
    return Submission(records=list(records)).model_dump_json()


def test_new_duplicate_and_stale_versions(receiver: ReceiverServer) -> None:
    first = _post(receiver, _submission(_day(2)))
    assert first.status_code == 200
    assert [o["outcome"] for o in first.json()["outcomes"]] == ["stored"]
    again = _post(receiver, _submission(_day(2), _day(1)))
    assert [o["outcome"] for o in again.json()["outcomes"]] == ["duplicate", "stale"]
    corrected = _post(receiver, _submission(_day(3, minutes_late=0)))
    assert corrected.json()["outcomes"][0]["outcome"] == "stored"
    held = receiver.state.records[f"{NIP}:2026-11-23"]
    assert (held.version, held.minutes_late) == (3, 0)  # type: ignore[union-attr]


def test_invalid_submission_is_refused_with_the_reason(receiver: ReceiverServer) -> None:
    bad = _submission(_day()).replace(NIP, "12345")
    response = _post(receiver, bad)
    assert response.status_code == 422
    assert "nip" in str(response.json()["details"])
    assert receiver.state.records == {}


def test_wrong_token_is_refused(receiver: ReceiverServer) -> None:
    assert _post(receiver, _submission(_day()), token="salah").status_code == 401


def test_down_flaky_and_slow_on_command(receiver: ReceiverServer) -> None:
    admin = receiver.url.replace("/api/v1/submissions", "/admin/mode")
    httpx.post(admin, json={"down": True}, timeout=5)
    assert _post(receiver, _submission(_day())).status_code == 503
    httpx.post(admin, json={"down": False, "fail_rate": 1.0}, timeout=5)
    assert _post(receiver, _submission(_day())).status_code == 500
    httpx.post(admin, json={"fail_rate": 0.0, "delay_seconds": 1.5}, timeout=5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(receiver.url, content=_submission(_day()), headers={"Authorization": "Bearer rahasia"}, timeout=0.5)
    assert httpx.post(admin, json={"bogus": 1}, timeout=5).status_code == 422
