"""Schedule group documents as stored (JSON), and an evaluated day as stored (JSON)."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.attendance.day import AttendanceDay
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


def day_result(day: AttendanceDay) -> dict[str, Any]:
    """The stored form of an evaluated day, plus the derived ``code`` and total ``percent``."""
    result: dict[str, Any] = jsonable(day)
    result["code"] = day.code
    result["percent"] = str(day.percent)
    return result


def digest(value: Any) -> str:
    """A fingerprint of engine inputs: their ``repr`` (frozen dataclasses, decimals and dates print stably)."""
    return hashlib.sha256(repr(value).encode()).hexdigest()
