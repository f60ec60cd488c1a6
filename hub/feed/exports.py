"""CSV and XLSX exports of the data the feed carries, by unit (and the units below it) and month: the stored
attendance days, and the monthly recaps from ``month_recaps`` (the figures closing the month snapshots).

Text that a spreadsheet would run as a formula (starting with = + - @) is prefixed with an apostrophe in both
formats: names come from personnel systems and must not become formulas on an operator's machine.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import JSON, Select, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.reconcile.recaps import month_bounds, month_recaps, parse_month
from hub.registry.errors import RegistryError
from hub.registry.service import subtree_ids
from hub.store.models import AttendanceDayRow, Employee, MonthRecapRow, Unit

Cell = str | int | Decimal | date | datetime | None

DAY_COLUMNS = (
    "nip", "name", "unit", "day", "status", "check_in", "check_out", "minutes_late", "minutes_early",
    "late_code", "early_code", "absence_code", "codes", "deduction_percent", "version", "computed_at",
)  # fmt: skip
RECAP_HEAD = ("nip", "name", "unit", "month", "job_class", "working_days", "present_days", "tk_days", "holidays")
RECAP_TAIL = (
    "late_minutes", "early_minutes", "missing_punches", "deduction_percent", "activity_minutes",
    "effective_minutes", "activity_score", "base_tpp", "performance_part", "discipline_part", "allowance",
    "policy", "fed_version",
)  # fmt: skip


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]]


def _month(month: str) -> tuple[int, int]:
    try:
        return parse_month(month)
    except ValueError as exc:
        raise RegistryError(str(exc), field="month") from None


async def _employees(session: AsyncSession, unit_code: str | None) -> list[tuple[str, str, str]]:
    """(NIP, name, unit code) of the unit subtree (or everyone), NIP order."""
    query = select(Employee.nip, Employee.name, Unit.code).join(Unit, Unit.id == Employee.unit_id)
    if unit_code is not None:
        query = query.where(Employee.unit_id.in_(await subtree_ids(session, unit_code)))
    return [(r.nip, r.name, r.code) for r in (await session.execute(query.order_by(Employee.nip))).all()]


XLSX_MAX_ROWS = 1_048_575  # an XLSX sheet holds 1,048,576 rows, the header included
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STREAM_ROWS = 5_000  # rows fetched and written at a time: a whole organisation's month is 1.5 million days


class TooLarge(RegistryError):
    code = "too_large"
    status = 413


async def days_query(session: AsyncSession, month: str, unit_code: str | None = None) -> Select[Any]:
    """The days export's query (its columns are ``DAY_COLUMNS``), checked: a bad month or an unknown unit is
    refused here, before a streamed answer has begun. Only the columns it shows are read, the tier and absence
    codes out of the stored result by the store's JSON functions (no result document is parsed here)."""
    first, last = month_bounds(*_month(month))
    result: Any = AttendanceDayRow.result
    if (await session.connection()).dialect.name == "postgresql":
        result = cast(result, JSON)  # stored as text there (``JsonDocument``)
    query = (
        select(
            AttendanceDayRow.nip,
            Employee.name,
            Unit.code,
            AttendanceDayRow.day,
            AttendanceDayRow.status,
            AttendanceDayRow.check_in,
            AttendanceDayRow.check_out,
            AttendanceDayRow.minutes_late,
            AttendanceDayRow.minutes_early,
            result["late_code"].as_string(),
            result["early_code"].as_string(),
            result["absence_code"].as_string(),
            AttendanceDayRow.codes,
            AttendanceDayRow.deduction_percent,
            AttendanceDayRow.version,
            AttendanceDayRow.computed_at,
        )
        .join(Employee, Employee.nip == AttendanceDayRow.nip)
        .join(Unit, Unit.id == Employee.unit_id)
        .where(AttendanceDayRow.day.between(first, last))
        .order_by(AttendanceDayRow.nip, AttendanceDayRow.day)
    )
    if unit_code is not None:
        query = query.where(Employee.unit_id.in_(await subtree_ids(session, unit_code)))
    return query


async def day_rows(session: AsyncSession, query: Select[Any]) -> AsyncIterator[Sequence[tuple[Cell, ...]]]:
    """The rows of ``days_query``, ``STREAM_ROWS`` at a time (a server-side cursor on PostgreSQL)."""
    stream = await session.stream(query.execution_options(yield_per=STREAM_ROWS))
    async for part in stream.partitions():
        yield [tuple(row) for row in part]


async def days_csv(session: AsyncSession, query: Select[Any]) -> AsyncIterator[bytes]:
    """The days export as CSV, written as it is read: memory stays at ``STREAM_ROWS`` rows whatever the month."""
    yield csv_lines([DAY_COLUMNS]).encode("utf-8-sig")  # the BOM: Excel reads UTF-8 then
    async for part in day_rows(session, query):
        yield csv_lines([_text(v) for v in row] for row in part).encode()


def csv_lines(rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


async def recaps_table(session: AsyncSession, month: str, unit_code: str | None = None) -> Table:
    """One row per employee with a recap; a column per tier and per absence code that occurs in the month."""
    year, number = _month(month)
    people = await _employees(session, unit_code)
    recaps = await month_recaps(session, [nip for nip, _, _ in people], year, number)
    versions = select(MonthRecapRow.nip, MonthRecapRow.version).where(MonthRecapRow.month == month)
    fed = {row.nip: row.version for row in (await session.execute(versions)).all()}
    present = [r for r in recaps.values() if r is not None]
    tiers = sorted({code for r in present for code in r.tier_counts})
    excused = sorted({code for r in present for code in r.excused_by_code})
    columns = (*RECAP_HEAD, *tiers, *(f"excused_{code}" for code in excused), *RECAP_TAIL)
    rows: list[tuple[Cell, ...]] = []
    for nip, name, unit in people:
        r = recaps.get(nip)
        if r is None:
            continue
        rows.append(
            (
                nip,
                name,
                unit,
                month,
                r.job_class,
                r.working_days,
                r.present_days,
                r.tk_days,
                r.holidays,
                *(r.tier_counts.get(code, 0) for code in tiers),
                *(r.excused_by_code.get(code, 0) for code in excused),
                r.late_minutes,
                r.early_minutes,
                r.missing_punches,
                r.deduction_percent,
                r.activity_minutes,
                r.effective_minutes,
                r.activity_score,
                r.base_tpp,
                r.performance_part,
                r.discipline_part,
                r.allowance,
                f"{r.policy_id} v{r.policy_version}",
                fed.get(nip),
            )
        )
    return Table(f"recaps {month}", columns, rows)


def _safe(value: Cell) -> Cell:
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return "'" + value
    return value


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(_safe(value))


def to_csv(table: Table) -> str:
    return csv_lines([table.columns, *([_text(v) for v in row] for row in table.rows)])


def _cell(value: Cell) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones: the UTC wall time (the column says so)
    if isinstance(value, Decimal):
        return float(value)  # Excel keeps doubles; figures here have at most 4 decimals
    return _safe(value)


def check_xlsx(rows: int) -> None:
    if rows > XLSX_MAX_ROWS:
        raise TooLarge(f"{rows:,} rows: more than an XLSX sheet holds ({XLSX_MAX_ROWS:,}); export CSV, or one unit")


def to_xlsx(table: Table) -> bytes:
    check_xlsx(len(table.rows))
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=table.title[:31])
    sheet.append(list(table.columns))
    for row in table.rows:
        sheet.append([_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def days_xlsx(session: AsyncSession, query: Select[Any], month: str) -> Path:
    """The days export as an XLSX file on disk, which the caller deletes: rows are read ``STREAM_ROWS`` at a time
    and written in a thread (openpyxl's write-only sheets keep them in temporary files), so memory stays flat and
    the event loop free for a whole organisation's month (1.5 million days: about four minutes). A sheet holds
    ``XLSX_MAX_ROWS`` days under its header; the next ones go on the next sheet ("days 2026-10 (2)", ...)."""
    book = Workbook(write_only=True)
    sheets: list[Any] = []
    in_sheet = XLSX_MAX_ROWS  # rows in the current sheet: full, so the first row opens one

    def open_sheet() -> None:
        nonlocal in_sheet
        sheets.append(book.create_sheet(f"days {month}" + (f" ({len(sheets) + 1})" if sheets else "")))
        sheets[-1].append(list(DAY_COLUMNS))
        in_sheet = 0

    def write(part: Sequence[tuple[Cell, ...]]) -> None:
        nonlocal in_sheet
        for row in part:
            if in_sheet == XLSX_MAX_ROWS:
                open_sheet()
            sheets[-1].append([_cell(v) for v in row])
            in_sheet += 1

    descriptor, name = tempfile.mkstemp(prefix="presensi-days-", suffix=".xlsx")
    os.close(descriptor)
    path = Path(name)
    try:
        async for part in day_rows(session, query):
            await asyncio.to_thread(write, part)
        if not sheets:
            open_sheet()  # a month without days: the header alone
        await asyncio.to_thread(book.save, path)
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return path


def render(table: Table, fmt: str) -> tuple[bytes, str]:
    """The file and its media type for ``fmt`` (csv or xlsx)."""
    if fmt == "csv":
        return to_csv(table).encode("utf-8-sig"), "text/csv; charset=utf-8"  # the BOM: Excel reads UTF-8 then
    return to_xlsx(table), XLSX_TYPE
