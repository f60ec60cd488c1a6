"""Holidays (import from CSV or the bundled calendar) and schedule groups with their assignments."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request

from hub.api.deps import Corrector, Db, Reader
from hub.api.routes.employees import CSV_BODY, csv_text
from hub.attendance.calendar import HolidayKind
from hub.reconcile import records
from hub.reconcile.documents import ScheduleGroupDoc
from hub.reconcile.records import AssignmentIn, AssignmentOut, HolidayImport, HolidayIn, HolidayOut

router = APIRouter(tags=["calendars"])


@router.get("/holidays")
async def list_holidays(
    db: Db, _caller: Reader, year: Annotated[int | None, Query(ge=1900, le=2200)] = None
) -> list[HolidayOut]:
    return await records.list_holidays(db, year)


@router.post("/holidays/import", openapi_extra=CSV_BODY)
async def import_holidays(
    request: Request,
    db: Db,
    caller: Corrector,
    bundled: int | None = Query(
        default=None, ge=1900, le=2200, description="import the calendar bundled for this year instead"
    ),
) -> HolidayImport:
    """CSV columns date, name, kind (libur_nasional / cuti_bersama), or ``?bundled=2026``."""
    if bundled is not None:
        return await records.import_holidays(db, caller.actor, year=bundled)
    return await records.import_holidays(db, caller.actor, csv_text=await csv_text(request))


@router.post("/holidays")
async def add_holiday(data: HolidayIn, db: Db, caller: Corrector) -> HolidayImport:
    """One holiday (or a new name for one); its day is marked for every employee's recompute."""
    return await records.add_holiday(db, data, caller.actor)


@router.delete("/holidays/{day}")
async def remove_holiday(day: date, kind: HolidayKind, db: Db, caller: Corrector) -> dict[str, int]:
    """Remove a holiday entered by mistake; its day is marked for every employee's recompute."""
    return {"marked": await records.remove_holiday(db, day, kind, caller.actor)}


@router.get("/schedule-groups")
async def list_schedule_groups(db: Db, _caller: Reader) -> list[ScheduleGroupDoc]:
    return await records.list_schedule_groups(db)


@router.post("/schedule-groups")
async def put_schedule_group(doc: ScheduleGroupDoc, db: Db, caller: Corrector) -> ScheduleGroupDoc:
    """Create or replace a group by code."""
    return await records.put_schedule_group(db, doc, caller.actor)


@router.post("/schedule-assignments", status_code=201)
async def assign_schedule(data: AssignmentIn, db: Db, caller: Corrector) -> AssignmentOut:
    """A group for a unit (and the units below it without their own), or an employee's exception."""
    return await records.assign_schedule(db, data, caller.actor)
