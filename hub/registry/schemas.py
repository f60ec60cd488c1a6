"""What the registry accepts and returns. The API, the CSV import and the audit trail share these."""

from datetime import date
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from hub.registry.nip import parse_nip
from presensi.contract.topics import EDGE_ID_PATTERN


def _nip(value: str) -> str:
    parse_nip(value)
    return value


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA zone {value!r} (e.g. Asia/Jakarta, Asia/Makassar, Asia/Jayapura)") from None
    return value


NipText = Annotated[str, Field(examples=["198705122015031002"]), AfterValidator(_nip)]
UnitCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]  # one line of text
Serial = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^|\s]+$")]
Pin = Annotated[str, Field(min_length=1, max_length=24, pattern=r"^[^|\s]+$")]
Zone = Annotated[str, Field(examples=["Asia/Jakarta"]), AfterValidator(_zone)]
JobClass = Annotated[int, Field(ge=1, le=17, description="Kelas jabatan")]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def refuse_nul(data: Any) -> Any:
    """PostgreSQL text cannot hold U+0000 (SQLite can): refuse it anywhere in an input, on every store alike."""
    if _has_nul(data):
        raise ValueError("text must not contain NUL (U+0000) characters")
    return data


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    _no_nul = model_validator(mode="before")(refuse_nul)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- units ----------------------------------------------------------------------------------------


class UnitIn(_In):
    code: UnitCode
    name: Name
    parent_code: UnitCode | None = None


class UnitPatch(_In):
    name: Name | None = None
    parent_code: UnitCode | None = None


class UnitOut(_Out):
    id: int
    code: str
    name: str
    parent_code: str | None


# --- employees ------------------------------------------------------------------------------------


class EmployeeIn(_In):
    nip: NipText
    name: Name
    unit_code: UnitCode
    job_class: JobClass | None = None
    schedule_group: str | None = Field(default=None, max_length=64)
    active_from: date
    active_to: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.active_to is not None and self.active_to < self.active_from:
            raise ValueError("active_to is before active_from")
        return self


class EmployeePatch(_In):
    """Only the fields given change; the result is checked again as a whole."""

    name: Name | None = None
    unit_code: UnitCode | None = None
    job_class: JobClass | None = None
    schedule_group: str | None = Field(default=None, max_length=64)
    active_from: date | None = None
    active_to: date | None = None


class EmployeeOut(_Out):
    nip: str
    name: str
    unit_code: str
    job_class: int | None
    schedule_group: str | None
    active_from: date
    active_to: date | None


# --- terminals ------------------------------------------------------------------------------------


class TerminalIn(_In):
    serial: Serial
    location: Name
    zone: Zone
    edge_id: str | None = Field(default=None, pattern=EDGE_ID_PATTERN)


class TerminalPatch(_In):
    location: Name | None = None
    zone: Zone | None = None
    edge_id: str | None = Field(default=None, pattern=EDGE_ID_PATTERN)


class TerminalOut(_Out):
    serial: str
    location: str
    zone: str
    edge_id: str | None


# --- enrollments ----------------------------------------------------------------------------------


class EnrollmentIn(_In):
    terminal_sn: Serial
    pin: Pin
    nip: NipText
    valid_from: date = Field(description="First terminal-local date the PIN is this employee's")
    valid_to: date | None = Field(default=None, description="Last such date (inclusive); none: still valid")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class EnrollmentPatch(_In):
    """Close or correct a validity period; the result is checked again as a whole."""

    valid_from: date | None = None
    valid_to: date | None = None


class EnrollmentOut(_Out):
    id: int
    terminal_sn: str
    pin: str
    nip: str
    valid_from: date
    valid_to: date | None
