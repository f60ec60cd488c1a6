"""Enrollments: terminal serial + PIN -> employee for a validity period (PINs get reused)."""

from fastapi import APIRouter, Query, Request, Response

from hub.api.deps import Corrector, Db, Limit, Offset, Reader, RowId
from hub.api.routes.employees import CSV_BODY, csv_text
from hub.registry import csv_import, service
from hub.registry.schemas import EnrollmentIn, EnrollmentOut, EnrollmentPatch

router = APIRouter(prefix="/enrollments", tags=["enrollments"])


@router.get("")
async def list_enrollments(
    db: Db,
    _caller: Reader,
    nip: str | None = None,
    terminal: str | None = None,
    pin: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[EnrollmentOut]:
    return await service.list_enrollments(db, nip=nip, terminal_sn=terminal, pin=pin, limit=limit, offset=offset)


@router.post("", status_code=201)
async def create_enrollment(data: EnrollmentIn, db: Db, caller: Corrector) -> EnrollmentOut:
    """Attributes every stored punch of this terminal + PIN within the validity period at once."""
    return await service.create_enrollment(db, data, caller.actor)


@router.post("/import", openapi_extra=CSV_BODY)
async def import_enrollments(
    request: Request,
    db: Db,
    caller: Corrector,
    dry_run: bool = Query(default=True, description="Check every row and report, change nothing"),
) -> csv_import.ImportReport:
    """Create enrollments from CSV (columns terminal_sn, pin, nip, valid_from, valid_to)."""
    return await csv_import.import_enrollments(db, await csv_text(request), caller.actor, dry_run=dry_run)


@router.get("/{enrollment_id}")
async def get_enrollment(enrollment_id: RowId, db: Db, _caller: Reader) -> EnrollmentOut:
    return await service.get_enrollment(db, enrollment_id)


@router.patch("/{enrollment_id}")
async def update_enrollment(enrollment_id: RowId, patch: EnrollmentPatch, db: Db, caller: Corrector) -> EnrollmentOut:
    return await service.update_enrollment(db, enrollment_id, patch, caller.actor)


@router.delete("/{enrollment_id}", status_code=204)
async def delete_enrollment(enrollment_id: RowId, db: Db, caller: Corrector) -> Response:
    await service.delete_enrollment(db, enrollment_id, caller.actor)
    return Response(status_code=204)
