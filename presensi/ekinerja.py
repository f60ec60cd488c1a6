"""The records presensi feeds to e-Kinerja, version 1.

BKN publishes no attendance API; regions feed records like these (domain brief): one per
employee and day, and one monthly recap. Both the hub's feed and the mock receiver in
``simulators/ekinerja`` use these models, so the wire format lives in one place.

Every record carries an idempotency key and a version: a corrected day is sent again as the next
version of the same key, and a receiver keeps the highest version it has seen.
"""

from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

Nip = Annotated[str, Field(pattern=r"^\d{18}$", description="18-digit civil-servant number")]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1, max_length=120)
    version: int = Field(ge=1)
    nip: Nip
    unit_code: str = Field(min_length=1, max_length=40)
    produced_at: AwareDatetime


class DailyAttendance(_Record):
    """One employee's attendance day. Times are the unit's local wall time."""

    kind: Literal["daily"] = "daily"
    day: date
    status: Literal["present", "tk", "excused", "holiday", "off"] = Field(
        description="present (maybe late/early), tk (absent without excuse), excused (an approved absence), "
        "holiday or off (not a working day: sent so that a day that stopped being one replaces its old record)"
    )
    zone: str
    check_in: time | None = None
    check_out: time | None = None
    check_out_day: date | None = Field(
        default=None, description="The check-out's date: the day after `day` when an overnight shift ends then"
    )
    minutes_late: int = Field(ge=0)
    minutes_early: int = Field(ge=0)
    late_code: str | None = Field(default=None, description="TL1-TL4 or a clock-window tier")
    early_code: str | None = Field(default=None, description="PSW1-PSW4")
    absence_code: str | None = Field(default=None, description="TK, CT, S, DL, I, TB, ... or null when present")
    deduction_percent: Decimal = Field(ge=0, le=100)
    source_device: str | None = Field(
        default=None, description="Serial of the terminal of the check-in; null without one (or from a correction)"
    )
    verification: str | None = Field(
        default=None, description="How the check-in was verified: fingerprint, face, card, password or other"
    )

    @model_validator(mode="after")
    def _key_matches(self) -> "DailyAttendance":
        expected = f"{self.nip}:{self.day.isoformat()}"
        if self.key != expected:
            raise ValueError(f"key must be {expected!r} for a daily record")
        return self


class MonthlyRecap(_Record):
    kind: Literal["monthly"] = "monthly"
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    working_days: int = Field(ge=0)
    present_days: int = Field(ge=0)
    tk_days: int = Field(ge=0)
    tier_counts: dict[str, int]
    excused_by_code: dict[str, int]
    deduction_percent: Decimal = Field(ge=0, le=100)
    job_class: int = Field(ge=1, le=17)
    base_tpp: int = Field(ge=0, description="Rupiah")
    discipline_part: int = Field(ge=0, description="Rupiah after deductions")
    performance_part: int = Field(ge=0, description="Rupiah")
    activity_minutes: int = Field(ge=0)

    @model_validator(mode="after")
    def _key_matches(self) -> "MonthlyRecap":
        expected = f"{self.nip}:{self.month}"
        if self.key != expected:
            raise ValueError(f"key must be {expected!r} for a monthly recap")
        return self


class Submission(BaseModel):
    """One POST to the receiver: up to 500 records of either kind."""

    model_config = ConfigDict(extra="forbid")

    records: list[Annotated[DailyAttendance | MonthlyRecap, Field(discriminator="kind")]] = Field(
        min_length=1, max_length=500
    )


class RecordOutcome(BaseModel):
    key: str
    version: int
    outcome: Literal["stored", "duplicate", "stale"]


class SubmissionResult(BaseModel):
    received_at: datetime
    outcomes: list[RecordOutcome]
