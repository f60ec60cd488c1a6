"""Attendance days (computed, versioned), monthly recaps computed on the fly, and an on-demand recompute."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.api.deps import Corrector, Db, Limit, Offset, Reader
from hub.reconcile.documents import jsonable
from hub.reconcile.queue import PENDING_LEASE, PENDING_LEASE_TTL
from hub.reconcile.recaps import month_recaps
from hub.reconcile.service import RecomputeStats, employees_in, recap_for, recompute_range
from hub.registry import audit
from hub.registry.errors import Conflict, RegistryError
from hub.registry.service import subtree_ids
from hub.store.lease import current_holder, held, holder_name
from hub.store.models import AttendanceDayRow, Employee

router = APIRouter(prefix="/attendance", tags=["attendance"])
Year = Query(ge=2000, le=2100)
Month = Query(ge=1, le=12)


class AttendanceDayOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    nip: str
    day: date
    status: str
    check_in: datetime | None
    check_out: datetime | None
    minutes_late: int
    minutes_early: int
    codes: str | None
    deduction_percent: Decimal
    policy_id: str
    policy_version: int
    version: int
    computed_at: datetime
    result: dict[str, Any]


@router.get("/days")
async def list_days(
    db: Db,
    _caller: Reader,
    nip: str | None = None,
    unit: str | None = None,
    from_: date | None = Query(default=None, alias="from"),
    to: date | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[AttendanceDayOut]:
    """Days by employee (NIP), unit (and the units below it) and date range [from, to]."""
    query = select(AttendanceDayRow).order_by(AttendanceDayRow.nip, AttendanceDayRow.day)
    if nip is not None:
        query = query.where(AttendanceDayRow.nip == nip)
    if unit is not None:
        units = await subtree_ids(db, unit)
        query = query.where(AttendanceDayRow.nip.in_(select(Employee.nip).where(Employee.unit_id.in_(units))))
    if from_ is not None:
        query = query.where(AttendanceDayRow.day >= from_)
    if to is not None:
        query = query.where(AttendanceDayRow.day <= to)
    rows = (await db.execute(query.limit(limit).offset(offset))).scalars().all()
    return [AttendanceDayOut.model_validate(r) for r in rows]


@router.get("/recap/employee/{nip}")
async def employee_recap(nip: str, db: Db, _caller: Reader, year: int = Year, month: int = Month) -> dict[str, Any]:
    """The month of one employee, recomputed from the inputs now (``monthly_recap``)."""
    recap = await recap_for(db, nip, year, month)
    if recap is None:
        raise RegistryError("no day of the month can be evaluated (schedule, policy or kelas jabatan missing)")
    return dict(jsonable(recap))


@router.get("/recap/unit/{code}")
async def unit_recap(
    code: str, db: Db, _caller: Reader, year: int = Year, month: int = Month, limit: Limit = 100, offset: Offset = 0
) -> list[dict[str, Any]]:
    """The month of each employee of a unit (and the units below it), NIP order, paged."""
    nips = (await employees_in(db, code))[offset : offset + limit]
    recaps = await month_recaps(db, nips, year, month)  # one batch load, the same figures closing the month feeds
    return [{"nip": nip, "recap": None if recaps.get(nip) is None else jsonable(recaps[nip])} for nip in nips]


class RecomputeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    unit: str | None = None


class RecomputeAudit(BaseModel):
    """The audit entry of an on-demand recompute: what was asked and what changed (each day keeps its versions)."""

    request: RecomputeIn
    stats: dict[str, Any]


@router.post("/recompute")
async def recompute(data: RecomputeIn, db: Db, caller: Corrector) -> dict[str, Any]:
    """Recompute the days of [from, to] now (a unit subtree, or everyone). Large ranges: use the CLI."""
    if data.to < data.from_ or (data.to - data.from_).days > 62:
        raise RegistryError("give a range of at most 62 days, to not before from", field="to")
    engine = db.bind
    assert isinstance(engine, AsyncEngine)
    # The recompute lease (as the CLI and the hub's loop take it): two recomputes never write the same days.
    async with held(engine, PENDING_LEASE, holder_name("api recompute"), PENDING_LEASE_TTL) as mine:
        if not mine:
            other = await current_holder(engine, PENDING_LEASE)
            raise Conflict(f"{other[0] if other else 'another process'} is recomputing already: try again later")
        stats: RecomputeStats = await recompute_range(db, data.from_, data.to, unit_code=data.unit)
    summary = dict(jsonable(stats))
    key = f"{data.from_}..{data.to}" + (f" {data.unit}" if data.unit else "")
    after = RecomputeAudit(request=data, stats=summary)
    audit.record(db, actor=caller.actor, action="recompute", entity="attendance", key=key[:64], after=after)
    await db.commit()
    return summary
