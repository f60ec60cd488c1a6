"""Bulk import of employees and enrollments from the personnel system's CSV export.

The dry run and the real run are the same code: every row is checked and written inside one
transaction, which the dry run rolls back. So the dry run's list of rejected rows (row number,
column, reason) is exactly what the real run will skip; valid rows of the real run commit together.
"""

import csv
import io
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.registry import service
from hub.registry.errors import RegistryError
from hub.registry.schemas import EmployeeIn, EnrollmentIn
from hub.store.models import Employee, Enrollment

# Indonesian headers seen in personnel exports, mapped to the registry's field names.
EMPLOYEE_ALIASES = {
    "nama": "name",
    "kode_unit": "unit_code",
    "unit": "unit_code",
    "kelas_jabatan": "job_class",
    "kelompok_jadwal": "schedule_group",
    "tmt": "active_from",
    "aktif_dari": "active_from",
    "aktif_sampai": "active_to",
}
ENROLLMENT_ALIASES = {
    "sn": "terminal_sn",
    "serial": "terminal_sn",
    "berlaku_dari": "valid_from",
    "berlaku_sampai": "valid_to",
}
DATE_COLUMNS = frozenset({"active_from", "active_to", "valid_from", "valid_to"})
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y")


class RejectedRow(BaseModel):
    row: int  # record number in the file; the header is row 1
    column: str | None
    value: str | None
    reason: str


class ImportReport(BaseModel):
    kind: Literal["employees", "enrollments", "activities"]
    dry_run: bool
    rows: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedRow] = []


class CsvFormatError(RegistryError):
    """The file as a whole is unusable (no header, missing columns)."""


def csv_records(text: str, aliases: dict[str, str], required: set[str]) -> Iterator[tuple[int, dict[str, str]]]:
    text = text.lstrip("\ufeff")  # Excel writes a byte-order mark
    first_line = text.splitlines()[0] if text.strip() else ""
    if not first_line:
        raise CsvFormatError("the file is empty: expected a header row")
    delimiter = max(",;\t", key=first_line.count)
    # newline="": the csv module then reads \n, \r\n and a lone \r (old Mac exports) as line ends itself.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [aliases.get(h.strip().lower(), h.strip().lower()) for h in next(reader)]
        missing = required - set(header)
        if missing:
            raise CsvFormatError(f"missing column(s) {', '.join(sorted(missing))}", {"header": header})
        for number, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            yield number, {name: value.strip() for name, value in zip(header, values, strict=False) if name}
    except csv.Error as exc:
        # e.g. a field past the csv module's 128 KiB limit: no real export has one, so the file is refused.
        raise CsvFormatError(f"line {reader.line_num}: not readable as CSV: {exc}") from None


def _prepare(row: dict[str, str], dates: frozenset[str]) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """Blank cells are absent values; dates accept the formats exports use. Returns (data, problems)."""
    data: dict[str, Any] = {}
    problems: list[tuple[str, str, str]] = []
    for column, value in row.items():
        if value == "":
            continue
        if column in dates:
            parsed = _date(value)
            if parsed is None:
                problems.append((column, value, "not a date (YYYY-MM-DD, DD/MM/YYYY or DD-MM-YYYY)"))
                continue
            data[column] = parsed
        else:
            data[column] = value
    return data, problems


def _date(value: str) -> date | None:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def _validation_rejections(number: int, row: dict[str, str], exc: ValidationError) -> list[RejectedRow]:
    rejected = []
    for error in exc.errors(include_url=False):
        column = str(error["loc"][0]) if error["loc"] else None
        reason = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            reason = "unknown column"
        rejected.append(RejectedRow(row=number, column=column, value=row.get(column or ""), reason=reason))
    return rejected


async def run_import(
    session: AsyncSession,
    report: ImportReport,
    rows: Iterator[tuple[int, dict[str, str]]],
    model: type[BaseModel],
    write: Callable[[int, Any], Awaitable[None]],
    dates: frozenset[str] = DATE_COLUMNS,
    finish: Callable[[], Awaitable[None]] | None = None,
) -> ImportReport:
    """Check each row (``dates`` are the date columns), ``write`` the valid ones, ``finish`` (writes kept for
    the end), and commit or, on a dry run, roll back. ``write`` raises ``RegistryError`` to reject a row."""
    for number, row in rows:
        report.rows += 1
        data, problems = _prepare(row, dates)
        if problems:
            report.rejected += [RejectedRow(row=number, column=c, value=v, reason=r) for c, v, r in problems]
            continue
        try:
            item = model.model_validate(data)
        except ValidationError as exc:
            report.rejected += _validation_rejections(number, row, exc)
            continue
        try:
            await write(number, item)
        except RegistryError as exc:
            value = row.get(exc.field) if exc.field else None
            report.rejected.append(RejectedRow(row=number, column=exc.field, value=value, reason=exc.message))
    if finish is not None:
        await finish()
    if report.dry_run:
        await session.rollback()
    else:
        await service.commit(session)
    return report


async def import_employees(session: AsyncSession, text: str, actor: str, *, dry_run: bool) -> ImportReport:
    """Create new employees and update known ones (by NIP) from ``text``."""
    report = ImportReport(kind="employees", dry_run=dry_run, rows=0)
    seen: dict[str, int] = {}

    async def write(number: int, item: EmployeeIn) -> None:
        if item.nip in seen:
            raise RegistryError(f"NIP also on row {seen[item.nip]} of this file", field="nip")
        seen[item.nip] = number
        existing = await session.get(Employee, item.nip)
        if existing is None:
            await service.create_employee(session, item, actor, commit_now=False)
            report.created += 1
            return
        current = await service.get_employee(session, item.nip)
        if current.model_dump() == item.model_dump():
            report.unchanged += 1
            return
        await service.update_employee(session, item.nip, item, actor, commit_now=False)
        report.updated += 1

    rows = csv_records(text, EMPLOYEE_ALIASES, {"nip", "name", "unit_code", "active_from"})
    return await run_import(session, report, rows, EmployeeIn, write)


async def import_enrollments(session: AsyncSession, text: str, actor: str, *, dry_run: bool) -> ImportReport:
    """Create enrollments from ``text``; a row identical to an existing enrollment is left as is."""
    report = ImportReport(kind="enrollments", dry_run=dry_run, rows=0)

    async def write(_number: int, item: EnrollmentIn) -> None:
        same = await session.execute(
            select(Enrollment.id).where(
                Enrollment.terminal_sn == item.terminal_sn,
                Enrollment.pin == item.pin,
                Enrollment.nip == item.nip,
                Enrollment.valid_from == item.valid_from,
                Enrollment.valid_to.is_(None) if item.valid_to is None else Enrollment.valid_to == item.valid_to,
            )
        )
        if same.first():
            report.unchanged += 1
            return
        await service.create_enrollment(session, item, actor, commit_now=False)
        report.created += 1

    rows = csv_records(text, ENROLLMENT_ALIASES, {"terminal_sn", "pin", "nip", "valid_from"})
    return await run_import(session, report, rows, EnrollmentIn, write)
