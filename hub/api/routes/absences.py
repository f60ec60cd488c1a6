"""Absences (cuti, sakit, DL, izin, tugas belajar): create, change, approve / reject / cancel, delete."""

from datetime import date

from fastapi import APIRouter, Query, Response

from hub.api.deps import Corrector, Db, Limit, Offset, Reader, RowId
from hub.attendance.absence import ApprovalStatus
from hub.reconcile import records
from hub.reconcile.records import AbsenceIn, AbsenceOut, AbsencePatch

router = APIRouter(prefix="/absences", tags=["absences"])


@router.get("")
async def list_absences(
    db: Db,
    _caller: Reader,
    nip: str | None = None,
    from_: date | None = Query(default=None, alias="from"),
    to: date | None = None,
    status: ApprovalStatus | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[AbsenceOut]:
    return await records.list_absences(db, nip=nip, first=from_, last=to, status=status, limit=limit, offset=offset)


@router.post("", status_code=201)
async def create_absence(data: AbsenceIn, db: Db, caller: Corrector) -> AbsenceOut:
    """A new absence is pending until approved; only an approved one excuses its days."""
    return await records.create_absence(db, data, caller.actor)


@router.get("/{absence_id}")
async def get_absence(absence_id: RowId, db: Db, _caller: Reader) -> AbsenceOut:
    return await records.get_absence(db, absence_id)


@router.patch("/{absence_id}")
async def update_absence(absence_id: RowId, patch: AbsencePatch, db: Db, caller: Corrector) -> AbsenceOut:
    return await records.update_absence(db, absence_id, patch, caller.actor)


@router.post("/{absence_id}/approve")
async def approve_absence(absence_id: RowId, db: Db, caller: Corrector) -> AbsenceOut:
    """Approve; its working days become excused once recomputed (they are marked for it now)."""
    return await records.set_absence_status(db, absence_id, ApprovalStatus.APPROVED, caller.actor)


@router.post("/{absence_id}/reject")
async def reject_absence(absence_id: RowId, db: Db, caller: Corrector) -> AbsenceOut:
    return await records.set_absence_status(db, absence_id, ApprovalStatus.REJECTED, caller.actor)


@router.post("/{absence_id}/cancel")
async def cancel_absence(absence_id: RowId, db: Db, caller: Corrector) -> AbsenceOut:
    return await records.set_absence_status(db, absence_id, ApprovalStatus.CANCELLED, caller.actor)


@router.delete("/{absence_id}", status_code=204)
async def delete_absence(absence_id: RowId, db: Db, caller: Corrector) -> Response:
    await records.delete_absence(db, absence_id, caller.actor)
    return Response(status_code=204)
