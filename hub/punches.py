"""Punch queries. Attribution happens here, at query time: a punch belongs to the employee whose
enrollment covers its terminal, PIN and local date, so a new or corrected enrollment changes the
answer for old punches at once (retroactive attribution) and ``unmatched`` is simply no such row."""

from collections.abc import Collection
from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.registry.service import enrollment_matches, subtree_ids
from hub.store.models import Employee, Enrollment, Punch

PunchSelect = Select[Punch, str | None, str | None]  # a punch, its NIP and name (None: unmatched)


class PunchOut(BaseModel):
    id: int
    key: str
    terminal_sn: str
    pin: str
    local_time: datetime
    local_date: date
    zone: str
    utc: datetime
    status: int
    punch: int
    verify: int | None
    workcode: int
    read_at: datetime
    flags: list[str]
    historical: bool
    edge_id: str
    batch_id: str
    received_at: datetime
    nip: str | None
    employee_name: str | None


class PunchPage(BaseModel):
    items: list[PunchOut]
    total: int
    limit: int
    offset: int


async def punch_query(
    session: AsyncSession,
    *,
    nip: str | None = None,
    unit_code: str | None = None,
    terminal_sn: str | None = None,
    terminal_sns: Collection[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    first: date | None = None,
    last: date | None = None,
    unmatched: bool = False,
    flagged: bool = False,
) -> PunchSelect:
    """The one punch query every listing uses (search, the unmatched list, the exceptions list): each punch
    with the NIP and name its enrollment gives it. ``since``/``until`` bound UTC, ``first``/``last`` the local
    date; ``unmatched`` keeps unattributed punches, ``flagged`` the ones the edge flagged."""
    query: PunchSelect = (
        select(Punch, Enrollment.nip, Employee.name)
        .outerjoin(Enrollment, enrollment_matches(Punch.terminal_sn, Punch.pin, Punch.local_date))
        .outerjoin(Employee, Employee.nip == Enrollment.nip)
    )
    if nip is not None:
        query = query.where(Enrollment.nip == nip)
    if unit_code is not None:
        query = query.where(Employee.unit_id.in_(await subtree_ids(session, unit_code)))
    if terminal_sn is not None:
        query = query.where(Punch.terminal_sn == terminal_sn)
    if terminal_sns is not None:
        query = query.where(Punch.terminal_sn.in_(terminal_sns))
    if since is not None:
        query = query.where(Punch.utc >= since)
    if until is not None:
        query = query.where(Punch.utc < until)
    if first is not None:
        query = query.where(Punch.local_date >= first)
    if last is not None:
        query = query.where(Punch.local_date <= last)
    if unmatched:
        query = query.where(Enrollment.id.is_(None))
    if flagged:
        query = query.where(Punch.flags != "")
    return query


async def punch_page(session: AsyncSession, query: PunchSelect, limit: int, offset: int) -> PunchPage:
    """``query``'s total and one page of it, oldest first; ``limit`` 0 counts only."""
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = (
        (await session.execute(query.order_by(Punch.utc, Punch.id).limit(limit).offset(offset))).all()
        if limit and offset < total
        else []
    )
    items = [
        PunchOut(
            id=p.id,
            key=p.key,
            terminal_sn=p.terminal_sn,
            pin=p.pin,
            local_time=p.local_time,
            local_date=p.local_date,
            zone=p.zone,
            utc=p.utc,
            status=p.status,
            punch=p.punch,
            verify=p.verify,
            workcode=p.workcode,
            read_at=p.read_at,
            flags=p.flags.split(",") if p.flags else [],
            historical=p.historical,
            edge_id=p.edge_id,
            batch_id=p.batch_id,
            received_at=p.received_at,
            nip=employee_nip,
            employee_name=name,
        )
        for p, employee_nip, name in rows
    ]
    return PunchPage(items=items, total=total, limit=limit, offset=offset)


async def search_punches(
    session: AsyncSession,
    *,
    nip: str | None = None,
    unit_code: str | None = None,
    terminal_sn: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    unmatched: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> PunchPage:
    """Punches in [since, until) (UTC), filtered; newest last; ``unmatched`` keeps unattributed ones."""
    query = await punch_query(
        session, nip=nip, unit_code=unit_code, terminal_sn=terminal_sn, since=since, until=until, unmatched=unmatched
    )
    return await punch_page(session, query, limit, offset)
