"""Employees (by NIP) and their bulk import from the personnel system's CSV export."""

from fastapi import APIRouter, Query, Request, Response

from hub.api.deps import Corrector, Db, Limit, Offset, Reader
from hub.api.errors import ApiError
from hub.registry import csv_import, service
from hub.registry.schemas import EmployeeIn, EmployeeOut, EmployeePatch

router = APIRouter(prefix="/employees", tags=["employees"])

CSV_BODY = {"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}}
MAX_CSV_BYTES = 20 * 2**20


async def csv_text(request: Request) -> str:
    body = await request.body()
    if len(body) > MAX_CSV_BYTES:
        raise ApiError(413, f"CSV larger than {MAX_CSV_BYTES} bytes: split it")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return body.decode("cp1252")  # older Excel exports
        except UnicodeDecodeError:
            raise ApiError(400, "the CSV is neither UTF-8 nor Windows-1252 text") from None


@router.get("")
async def list_employees(
    db: Db, _caller: Reader, unit: str | None = None, limit: Limit = 100, offset: Offset = 0
) -> list[EmployeeOut]:
    """Employees, optionally of one unit and every unit below it."""
    return await service.list_employees(db, unit_code=unit, limit=limit, offset=offset)


@router.post("", status_code=201)
async def create_employee(data: EmployeeIn, db: Db, caller: Corrector) -> EmployeeOut:
    return await service.create_employee(db, data, caller.actor)


@router.post("/import", openapi_extra=CSV_BODY)
async def import_employees(
    request: Request,
    db: Db,
    caller: Corrector,
    dry_run: bool = Query(default=True, description="Check every row and report, change nothing"),
) -> csv_import.ImportReport:
    """Create or update employees from CSV (columns nip, name, unit_code, active_from, ...)."""
    return await csv_import.import_employees(db, await csv_text(request), caller.actor, dry_run=dry_run)


@router.get("/{nip}")
async def get_employee(nip: str, db: Db, _caller: Reader) -> EmployeeOut:
    return await service.get_employee(db, nip)


@router.patch("/{nip}")
async def update_employee(nip: str, patch: EmployeePatch, db: Db, caller: Corrector) -> EmployeeOut:
    return await service.update_employee(db, nip, patch, caller.actor)


@router.delete("/{nip}", status_code=204)
async def delete_employee(nip: str, db: Db, caller: Corrector) -> Response:
    await service.delete_employee(db, nip, caller.actor)
    return Response(status_code=204)
