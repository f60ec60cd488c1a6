"""The holiday calendar as data: national holidays (libur nasional) and cuti bersama, importable from CSV or YAML.

Both kinds are non-working days for attendance; cuti bersama is kept distinct because it is charged to the
employee's annual leave (SKB 3 Menteri), which the leave ledger needs to know."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from importlib import resources
from typing import Any

import yaml

from hub.attendance.importing import FieldError, Parsed, RowError, csv_rows, parse_date


class HolidayKind(StrEnum):
    NATIONAL = "libur_nasional"
    CUTI_BERSAMA = "cuti_bersama"


@dataclass(frozen=True)
class Holiday:
    day: date
    name: str
    kind: HolidayKind


@dataclass(frozen=True)
class HolidayCalendar:
    holidays: tuple[Holiday, ...]

    def on(self, day: date) -> Holiday | None:
        """The holiday on ``day``; a national holiday wins over cuti bersama on the same date."""
        found = [h for h in self.holidays if h.day == day]
        found.sort(key=lambda h: h.kind != HolidayKind.NATIONAL)
        return found[0] if found else None

    def merged(self, other: HolidayCalendar) -> HolidayCalendar:
        return HolidayCalendar(tuple(sorted({*self.holidays, *other.holidays}, key=lambda h: (h.day, h.kind))))


def _holiday(values: Mapping[str, Any]) -> Holiday:
    raw_day = values.get("date")
    day = raw_day if isinstance(raw_day, date) else parse_date("date", str(raw_day or ""))
    name = str(values.get("name") or "").strip()
    if not name:
        raise FieldError("name", "required")
    kind = str(values.get("kind") or "").strip()
    if kind not in {k.value for k in HolidayKind}:
        raise FieldError("kind", f"{kind!r} is not one of {', '.join(k.value for k in HolidayKind)}")
    return Holiday(day=day, name=name, kind=HolidayKind(kind))


def _collect(rows: Iterable[tuple[int, Mapping[str, Any]]]) -> Parsed[Holiday]:
    items: list[Holiday] = []
    errors: list[RowError] = []
    for line, row in rows:
        try:
            items.append(_holiday(row))
        except FieldError as exc:
            errors.append(RowError(line, exc.field, exc.message))
    return Parsed(tuple(items), tuple(errors))


def parse_holidays_csv(text: str) -> Parsed[Holiday]:
    """CSV with columns ``date,name,kind`` (kind: libur_nasional or cuti_bersama)."""
    rows = csv_rows(text, ("date", "name", "kind"))
    if isinstance(rows, RowError):
        return Parsed((), (rows,))
    return _collect(rows)


def parse_holidays_yaml(text: str) -> Parsed[Holiday]:
    """YAML with a top-level ``holidays:`` list of ``{date, name, kind}``; ``line`` in errors is the item's
    1-based position in that list (YAML has no stable row lines once parsed)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return Parsed((), (RowError(0, "document", f"not valid YAML: {exc}"),))
    entries = document.get("holidays") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return Parsed((), (RowError(0, "holidays", "the document needs a top-level 'holidays' list"),))
    rows = [(n, e if isinstance(e, dict) else {}) for n, e in enumerate(entries, start=1)]
    return _collect(rows)


def bundled_calendar(year: int = 2026) -> HolidayCalendar:
    """The calendar shipped with presensi for ``year``; raises ``FileNotFoundError`` for a year not bundled."""
    text = resources.files("hub.attendance").joinpath(f"data/holidays-{year}.yaml").read_text(encoding="utf-8")
    parsed = parse_holidays_yaml(text)
    if parsed.errors:
        raise ValueError(f"bundled holidays-{year}.yaml is invalid: {'; '.join(map(str, parsed.errors))}")
    return HolidayCalendar(parsed.items)
