"""What goes into the outbox: the statuses a record moves through, its idempotency key, and the wire records
(``presensi.ekinerja``) built from an attendance day or a monthly recap."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from hub.attendance.recap import MonthlyRecap as Recap
from hub.store.models import AttendanceDayRow
from presensi.ekinerja import DailyAttendance, MonthlyRecap


class FeedStatus(StrEnum):
    PENDING = "pending"  # queued, never tried
    RETRYING = "retrying"  # tried and failed (timeout, 5xx, ...): ``next_attempt_at`` says when again
    SENT = "sent"  # the receiver answered for it (stored, duplicate or stale): done
    FAILED = "failed"  # refused as invalid, or could not even be built: waits for an operator's retry
    SUPERSEDED = "superseded"  # a newer version of the same record was queued before this one was sent


DUE = (FeedStatus.PENDING.value, FeedStatus.RETRYING.value)
OPEN = (FeedStatus.PENDING.value, FeedStatus.RETRYING.value, FeedStatus.FAILED.value)
DAILY, MONTHLY = "daily", "monthly"


def idempotency_key(kind: str, record_key: str, version: int) -> str:
    """``daily:<NIP>:<date>:v<version>`` or ``monthly:<NIP>:<YYYY-MM>:v<version>``: one per record version."""
    return f"{kind}:{record_key}:v{version}"


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _time(value: datetime | None) -> time | None:
    return None if value is None else value.time()


# The terminals' verification codes (the punch's ``verify``, else its ``punch`` field, as pyzk reads them).
VERIFICATIONS = {0: "password", 1: "fingerprint", 2: "card", 4: "card", 15: "face"}


def verification_name(code: int | None) -> str | None:
    return None if code is None else VERIFICATIONS.get(code, "other")


def daily_fields(
    row: AttendanceDayRow, unit_code: str, produced_at: datetime, source: tuple[str, str | None] | None = None
) -> dict[str, Any]:
    """The daily record of a stored day, as the fields of ``DailyAttendance`` (not yet validated); ``source`` is
    the terminal serial and verification of the check-in's punch, when there is one."""
    result = row.result
    return {
        "key": f"{row.nip}:{row.day.isoformat()}",
        "version": row.version,
        "nip": row.nip,
        "unit_code": unit_code,
        "produced_at": produced_at,
        "day": row.day,
        "status": row.status,
        "zone": result.get("schedule", {}).get("zone", "UTC"),
        "check_in": _time(row.check_in),
        "check_out": _time(row.check_out),
        "check_out_day": None if row.check_out is None else row.check_out.date(),
        "minutes_late": row.minutes_late,
        "minutes_early": row.minutes_early,
        "late_code": result.get("late_code"),
        "early_code": result.get("early_code"),
        "absence_code": "TK" if row.status == "tk" else result.get("absence_code"),
        "deduction_percent": row.deduction_percent,
        "source_device": source[0] if source else None,
        "verification": source[1] if source else None,
    }


def monthly_fields(recap: Recap, version: int, unit_code: str, produced_at: datetime) -> dict[str, Any]:
    month = f"{recap.year:04d}-{recap.month:02d}"
    return {
        "key": f"{recap.nip}:{month}",
        "version": version,
        "nip": recap.nip,
        "unit_code": unit_code,
        "produced_at": produced_at,
        "month": month,
        "working_days": recap.working_days,
        "present_days": recap.present_days,
        "tk_days": recap.tk_days,
        "tier_counts": dict(recap.tier_counts),
        "excused_by_code": dict(recap.excused_by_code),
        "deduction_percent": recap.deduction_percent,
        "job_class": recap.job_class,
        "base_tpp": recap.base_tpp,
        "discipline_part": recap.discipline_part,
        "performance_part": recap.performance_part,
        "activity_minutes": recap.activity_minutes,
    }


def wire_payload(kind: str, fields: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The record as JSON for the outbox, and why it is not valid (None when it is).

    A record the receiver would refuse is still queued (as failed, with the reason) rather than raised: the
    recompute that produced it must not fail because of the feed, and the operator sees it in the feed status."""
    model: type[BaseModel] = DailyAttendance if kind == DAILY else MonthlyRecap
    try:
        return model.model_validate(fields).model_dump(mode="json"), None
    except ValidationError as exc:
        raw: dict[str, Any] = json.loads(json.dumps(fields, default=str))
        return raw, f"invalid record: {exc}"[:2000]


def content_digest(payload: dict[str, Any]) -> str:
    """A fingerprint of what a record says, without its version and production time."""
    content = {k: v for k, v in payload.items() if k not in {"version", "produced_at"}}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
