"""Schedule group documents as stored (JSON), and an evaluated day as stored (JSON)."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.attendance.day import AttendanceDay, Punch
from hub.attendance.schedule import (
    DateOverride,
    Pattern,
    PunchWindows,
    ScheduleGroup,
    ShiftRotation,
    WeeklyPattern,
    WorkPeriod,
)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PeriodDoc(_Doc):
    start: time
    end: time = Field(description="at or before start: ends the next day (overnight)")
    break_minutes: int = Field(default=0, ge=0)

    def build(self) -> WorkPeriod:
        return WorkPeriod(self.start, self.end, self.break_minutes)


class WeeklyDoc(_Doc):
    type: Literal["weekly"] = "weekly"
    days: list[PeriodDoc | None] = Field(min_length=7, max_length=7, description="Monday first; null = day off")

    def build(self) -> WeeklyPattern:
        return WeeklyPattern(tuple(d.build() if d else None for d in self.days))


class RotationDoc(_Doc):
    type: Literal["rotation"]
    anchor: date
    cycle: list[PeriodDoc | None] = Field(min_length=1)

    def build(self) -> ShiftRotation:
        return ShiftRotation(self.anchor, tuple(d.build() if d else None for d in self.cycle))


PatternDoc = Annotated[WeeklyDoc | RotationDoc, Field(discriminator="type")]


class OverrideDoc(_Doc):
    name: str
    first: date
    last: date
    pattern: PatternDoc


class WindowsDoc(_Doc):
    check_in_opens_before_start: int = Field(default=180, ge=0)
    check_out_closes_after_end: int = Field(default=360, ge=0)
    double_punch_minutes: int = Field(default=5, ge=0)


class ScheduleGroupDoc(_Doc):
    """A schedule group as the API takes it and ``schedule_groups.document`` keeps it."""

    code: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str = ""
    pattern: PatternDoc
    overrides: list[OverrideDoc] = []
    windows: WindowsDoc = WindowsDoc()
    works_on_holidays: bool = False

    def build(self) -> ScheduleGroup:
        """The engine's group; raises ``ValueError`` for a period or override that cannot be."""

        def pattern(doc: WeeklyDoc | RotationDoc) -> Pattern:
            return doc.build()

        return ScheduleGroup(
            code=self.code,
            pattern=pattern(self.pattern),
            overrides=tuple(DateOverride(o.name, o.first, o.last, pattern(o.pattern)) for o in self.overrides),
            windows=PunchWindows(**self.windows.model_dump()),
            works_on_holidays=self.works_on_holidays,
        )


_PLAIN = frozenset({str, int, float, bool})
_FIELDS: dict[type, tuple[str, ...]] = {}


def jsonable(value: Any) -> Any:
    """Dataclasses, tuples, decimals, dates and enums as plain JSON values (decimals as strings)."""
    if value is None or type(value) in _PLAIN:
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    names = _FIELDS.get(type(value))
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[type(value)] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: jsonable(getattr(value, name)) for name in names}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return value


def day_result(day: AttendanceDay, schedule: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stored form of an evaluated day, plus the derived ``code`` and total ``percent``.

    ``schedule`` is ``jsonable(day.schedule)`` when the caller already has it: a recompute shares one schedule
    object among every employee of a unit on a date, so it is converted once. The fields are written out
    rather than walked (the generic walk was most of a recompute's time); a test holds this to ``jsonable``.
    """
    return {
        "nip": day.nip,
        "day": day.day.isoformat(),
        "status": day.status.value,
        "policy_id": day.policy_id,
        "policy_version": day.policy_version,
        "schedule": jsonable(day.schedule) if schedule is None else schedule,
        "holiday": day.holiday,
        "absence_code": day.absence_code,
        "check_in": None if day.check_in is None else day.check_in.isoformat(),
        "check_out": None if day.check_out is None else day.check_out.isoformat(),
        "minutes_late": day.minutes_late,
        "minutes_early": day.minutes_early,
        "late_code": day.late_code,
        "early_code": day.early_code,
        "missing_check_in": day.missing_check_in,
        "missing_check_out": day.missing_check_out,
        "deductions": [{"code": d.code, "percent": str(d.percent), "rule": d.rule} for d in day.deductions],
        "presence_minutes": day.presence_minutes,
        "activity_minutes": day.activity_minutes,
        "activity_value_minutes": day.activity_value_minutes,
        "effective_minutes": day.effective_minutes,
        "findings": [f.value for f in day.findings],
        "exceptions": [jsonable(e) for e in day.exceptions] if day.exceptions else [],
        "code": day.code,
        "percent": str(day.percent),
    }


def digest(value: Any) -> str:
    """A fingerprint of engine inputs: their ``repr`` (frozen dataclasses, decimals and dates print stably)."""
    return hashlib.sha256(repr(value).encode()).hexdigest()


DIGEST_FORMAT = "2"  # bump when ``day_digest``'s text changes: every stored day is then evaluated once more


def punch_text(p: Punch) -> str:
    """What of a punch the engine reads, as one line (a recompute prints millions: no ``repr``)."""
    return f"{p.key}\t{p.local_time.isoformat()}\t{p.status}\t{','.join(p.flags)}\t{p.matched:d}"


def day_digest(
    punches: tuple[Punch, ...],
    schedule_digest: str,
    holiday: Any,
    absences: list[Any],
    activities: list[Any],
    policy_id: str,
    policy_version: int,
) -> str:
    """The inputs hash of one day: everything ``evaluate_day`` reads, so an equal hash means an equal result.

    ``schedule_digest`` is ``digest(schedule)``, computed once per schedule object (a unit's employees share it);
    holidays, absences and activities are frozen dataclasses printed by ``repr``, punches by ``punch_text``.
    Days stored under an older format are evaluated once more; their version moves only if the result does."""
    text = (
        f"{DIGEST_FORMAT}\n{schedule_digest}\n{policy_id}\n{policy_version}\n{holiday!r}\n{absences!r}\n"
        f"{activities!r}\n" + "\n".join(map(punch_text, punches))
    )
    return hashlib.sha256(text.encode()).hexdigest()
