"""Activity entries from an e-Kinerja CSV export, in the registry import's style: the dry run and the real run
are the same code (``hub.registry.csv_import.run_import``), so the dry run's rejected rows are exactly what the
real run skips. Each row carries e-Kinerja's own id (``id`` column, kept as ``external_id``): importing the same
file again changes nothing, and a corrected export updates the entries it changed. Every created or changed
entry is audited and marks its employee's day (both days, if the date moved) for recompute.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.attendance.activity import ActivityStatus
from hub.reconcile.marks import mark_employee
from hub.reconcile.records import ActivityIn, ActivityOut
from hub.registry import audit
from hub.registry.csv_import import ImportReport, csv_records, run_import
from hub.registry.errors import NotFound, RegistryError
from hub.store.models import ActivityRow, Employee

# The export's headers (English as ``hub.attendance.activity.CSV_COLUMNS``, or Indonesian) -> field names.
ACTIVITY_ALIASES = {
    "id": "external_id",
    "id_kegiatan": "external_id",
    "date": "day",
    "tanggal": "day",
    "jam_mulai": "start",
    "mulai": "start",
    "jam_selesai": "end",
    "selesai": "end",
    "uraian": "description",
    "uraian_kegiatan": "description",
    "kegiatan": "description",
    "rhk": "rhk_ref",
    "norma_waktu": "norm_minutes",
    "waktu_norma": "norm_minutes",
    "jumlah": "volume",
    "catatan": "reviewer_comment",
}
REQUIRED = {"external_id", "nip", "day", "start", "end", "description", "norm_minutes"}
COMPARED = ("nip", "day", "start", "end", "description", "rhk_ref", "norm_minutes", "volume")


class ActivityCsvIn(ActivityIn):
    external_id: str = Field(min_length=1, max_length=100)
    status: ActivityStatus | None = None  # blank: new entries are submitted, known ones keep theirs
    reviewer_comment: str | None = None


async def import_activities(session: AsyncSession, text: str, actor: str, *, dry_run: bool) -> ImportReport:
    report = ImportReport(kind="activities", dry_run=dry_run, rows=0)
    seen: dict[str, int] = {}

    async def write(number: int, item: ActivityCsvIn) -> None:
        if item.external_id in seen:
            raise RegistryError(f"id also on row {seen[item.external_id]} of this file", field="external_id")
        seen[item.external_id] = number
        if await session.get(Employee, item.nip) is None:
            raise NotFound(f"no employee with NIP {item.nip}", field="nip")
        found = await session.execute(select(ActivityRow).where(ActivityRow.external_id == item.external_id))
        row = found.scalar_one_or_none()
        now = datetime.now(UTC)
        if row is None:
            row = ActivityRow(
                **item.model_dump(include=set(COMPARED)),
                external_id=item.external_id,
                status=(item.status or ActivityStatus.SUBMITTED).value,
                reviewer_comment=item.reviewer_comment or "",
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            after = ActivityOut.model_validate(row)
            audit.record(session, actor=actor, action="create", entity="activity", key=str(row.id), after=after)
            mark_employee(session, item.nip, item.day, item.day, "activity")
            report.created += 1
            return
        before = ActivityOut.model_validate(row)
        wanted = item.model_dump(include=set(COMPARED))
        if item.status is not None:
            wanted["status"] = item.status.value
        if item.reviewer_comment is not None:
            wanted["reviewer_comment"] = item.reviewer_comment
        if all(getattr(row, name) == value for name, value in wanted.items()):
            report.unchanged += 1
            return
        for name, value in wanted.items():
            setattr(row, name, value)
        row.updated_at = now
        await session.flush()
        after = ActivityOut.model_validate(row)
        audit.record(
            session, actor=actor, action="update", entity="activity", key=str(row.id), before=before, after=after
        )
        mark_employee(session, before.nip, before.day, before.day, "activity")
        mark_employee(session, row.nip, row.day, row.day, "activity")
        report.updated += 1

    rows = csv_records(text, ACTIVITY_ALIASES, REQUIRED)
    return await run_import(session, report, rows, ActivityCsvIn, write, dates=frozenset({"day"}))
