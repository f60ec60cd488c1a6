"""Activity entries from an e-Kinerja CSV export, in the registry import's style: the dry run and the real run
are the same code (``hub.registry.csv_import.run_import``), so the dry run's rejected rows are exactly what the
real run skips. Each row carries e-Kinerja's own id (``id`` column, kept as ``external_id``): importing the same
file again changes nothing, and a corrected export updates the entries it changed. Every created or changed
entry is audited and marks its employee's day (both days, if the date moved) for recompute.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.attendance.activity import ActivityStatus
from hub.reconcile.marks import mark_employee
from hub.reconcile.records import ActivityIn, ActivityOut
from hub.registry import audit
from hub.registry.csv_import import ImportReport, csv_records, run_import
from hub.registry.errors import Conflict, NotFound, RegistryError
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
IN_CHUNK = 1000  # values per IN list
# As in the review state machine (hub.attendance.activity.TRANSITIONS): figures already fed on never change
# under a recap, so an import does not rewrite an approved or rejected entry either.
FINAL = frozenset({ActivityStatus.APPROVED.value, ActivityStatus.REJECTED.value})
FLUSH_EVERY = 500  # new rows written per flush
COMPARED = ("nip", "day", "start", "end", "description", "rhk_ref", "norm_minutes", "volume")


class ActivityCsvIn(ActivityIn):
    external_id: str = Field(min_length=1, max_length=100)
    status: ActivityStatus | None = None  # blank: new entries are submitted, known ones keep theirs
    reviewer_comment: str | None = None


async def _existing(
    session: AsyncSession, rows: list[tuple[int, dict[str, str]]]
) -> tuple[set[str], dict[str, ActivityRow]]:
    """The file's known NIPs and already imported entries, in a few IN queries rather than two per row."""
    nips = sorted({r["nip"] for _, r in rows if r.get("nip")})
    ids = sorted({r["external_id"] for _, r in rows if r.get("external_id")})
    known: set[str] = set()
    imported: dict[str, ActivityRow] = {}
    for start in range(0, max(len(nips), len(ids)), IN_CHUNK):
        chosen = nips[start : start + IN_CHUNK]
        known |= set((await session.execute(select(Employee.nip).where(Employee.nip.in_(chosen)))).scalars())
        wanted = ids[start : start + IN_CHUNK]
        found = await session.execute(select(ActivityRow).where(ActivityRow.external_id.in_(wanted)))
        imported |= {row.external_id or "": row for row in found.scalars()}
    return known, imported


async def import_activities(session: AsyncSession, text: str, actor: str, *, dry_run: bool) -> ImportReport:
    report = ImportReport(kind="activities", dry_run=dry_run, rows=0)
    rows = list(csv_records(text, ACTIVITY_ALIASES, REQUIRED))
    known, imported = await _existing(session, rows)
    seen: dict[str, int] = {}
    marked: set[tuple[str, date]] = set()

    def mark(nip: str, day: date) -> None:
        if (nip, day) not in marked:  # one mark per employee day, however many entries it has
            marked.add((nip, day))
            mark_employee(session, nip, day, day, "activity")

    created: list[ActivityRow] = []

    async def audit_created() -> None:
        """New rows get their ids in one flush per ``FLUSH_EVERY``, not one per row; then their audit entries."""
        await session.flush()
        for row in created:
            after = ActivityOut.model_validate(row)
            audit.record(session, actor=actor, action="create", entity="activity", key=str(row.id), after=after)
        created.clear()

    async def write(number: int, item: ActivityCsvIn) -> None:
        if item.external_id in seen:
            raise RegistryError(f"id also on row {seen[item.external_id]} of this file", field="external_id")
        seen[item.external_id] = number
        if item.nip not in known:
            raise NotFound(f"no employee with NIP {item.nip}", field="nip")
        row = imported.get(item.external_id)
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
            created.append(row)
            if len(created) >= FLUSH_EVERY:
                await audit_created()
            mark(item.nip, item.day)
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
        if row.status in FINAL:
            raise Conflict(
                f"the entry is {row.status}, which is final: e-Kinerja must send a corrected entry under a new id",
                field="external_id",
            )
        for name, value in wanted.items():
            setattr(row, name, value)
        row.updated_at = now
        after = ActivityOut.model_validate(row)
        audit.record(
            session, actor=actor, action="update", entity="activity", key=str(row.id), before=before, after=after
        )
        mark(before.nip, before.day)
        mark(row.nip, row.day)
        report.updated += 1

    return await run_import(
        session, report, iter(rows), ActivityCsvIn, write, dates=frozenset({"day"}), finish=audit_created
    )
