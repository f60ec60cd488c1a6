"""Operator corrections, kept beside the raw data (raw punches are never edited) with a required reason.

- ``missing_punch``: the employee punched but the terminal has no record -> a virtual punch at ``local_time``;
- ``broken_terminal_day``: the terminal was out of order on ``day`` -> every employee enrolled on it that day gets
  virtual punches at their schedule's start and end;
- ``wrong_pin_mapping``: the punches of ``terminal_sn`` + ``pin`` on ``first``..``last`` are ``nip``'s.

Creating one recomputes the affected days at once and records who, when, why, and the days before and after,
both on the correction and in the audit trail, in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.reconcile.service import (
    BROKEN_TERMINAL_DAY,
    MISSING_PUNCH,
    WRONG_PIN_MAPPING,
    NoPolicy,
    dates,
    recompute,
)
from hub.registry import audit
from hub.registry.errors import NotFound
from hub.registry.schemas import NipText, Pin, Serial, refuse_nul
from hub.registry.service import commit
from hub.store.models import AttendanceDayRow, CorrectionRow, Employee, Enrollment, Terminal

Reason = Annotated[str, Field(min_length=3, max_length=2000, description="why; required and audited")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    _no_nul = model_validator(mode="before")(refuse_nul)


class MissingPunch(_In):
    kind: Literal["missing_punch"]
    nip: NipText
    local_time: datetime = Field(description="naive wall time in the unit's zone")
    reason: Reason


class BrokenTerminalDay(_In):
    kind: Literal["broken_terminal_day"]
    terminal_sn: Serial
    day: date
    reason: Reason


class WrongPinMapping(_In):
    kind: Literal["wrong_pin_mapping"]
    terminal_sn: Serial
    pin: Pin
    nip: NipText = Field(description="whose punches they really are")
    first: date
    last: date
    reason: Reason

    @model_validator(mode="after")
    def _ordered(self) -> WrongPinMapping:
        if self.last < self.first:
            raise ValueError("last is before first")
        if (self.last - self.first).days > 366:
            raise ValueError("a mapping correction covers at most a year")
        return self


CorrectionIn = Annotated[MissingPunch | BrokenTerminalDay | WrongPinMapping, Field(discriminator="kind")]


class CorrectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    nip: str | None
    terminal_sn: str | None
    day: date
    payload: dict[str, Any]
    reason: str
    created_by: str
    created_at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None


async def _affected(
    session: AsyncSession, data: MissingPunch | BrokenTerminalDay | WrongPinMapping
) -> dict[str, list[date]]:
    """Which employees' days the correction changes."""
    if isinstance(data, MissingPunch):
        day = data.local_time.date()
        return {data.nip: [day - timedelta(days=1), day]}
    if isinstance(data, BrokenTerminalDay):
        rows = (
            await session.execute(
                select(Enrollment.nip).where(
                    Enrollment.terminal_sn == data.terminal_sn,
                    Enrollment.valid_from <= data.day,
                    (Enrollment.valid_to.is_(None)) | (Enrollment.valid_to >= data.day),
                )
            )
        ).scalars()
        return {nip: [data.day] for nip in rows.all()}
    days = dates(data.first, data.last)
    previous = (
        await session.execute(
            select(Enrollment.nip).where(
                Enrollment.terminal_sn == data.terminal_sn,
                Enrollment.pin == data.pin,
                Enrollment.valid_from <= data.last,
                (Enrollment.valid_to.is_(None)) | (Enrollment.valid_to >= data.first),
            )
        )
    ).scalars()
    return dict.fromkeys({data.nip, *previous.all()}, days)


async def _snapshot(session: AsyncSession, affected: dict[str, list[date]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for nip, days in affected.items():
        rows = (
            await session.execute(
                select(AttendanceDayRow).where(AttendanceDayRow.nip == nip, AttendanceDayRow.day.in_(days))
            )
        ).scalars()
        for row in rows.all():
            found[f"{nip}/{row.day.isoformat()}"] = {
                "status": row.status,
                "codes": row.codes,
                "check_in": row.check_in.isoformat() if row.check_in else None,
                "check_out": row.check_out.isoformat() if row.check_out else None,
                "deduction_percent": str(row.deduction_percent),
                "version": row.version,
            }
    return found


async def create_correction(
    session: AsyncSession, data: MissingPunch | BrokenTerminalDay | WrongPinMapping, actor: str
) -> CorrectionOut:
    nip = getattr(data, "nip", None)
    if nip is not None and await session.get(Employee, nip) is None:
        raise NotFound(f"no employee with NIP {nip}", field="nip")
    terminal_sn = getattr(data, "terminal_sn", None)
    if terminal_sn is not None and await session.get(Terminal, terminal_sn) is None:
        raise NotFound(f"no terminal {terminal_sn!r}", field="terminal_sn")
    if isinstance(data, MissingPunch):
        day, kind = data.local_time.date(), MISSING_PUNCH
    elif isinstance(data, BrokenTerminalDay):
        day, kind = data.day, BROKEN_TERMINAL_DAY
    else:
        day, kind = data.first, WRONG_PIN_MAPPING
    affected = await _affected(session, data)
    before = await _snapshot(session, affected)
    payload = data.model_dump(mode="json", exclude={"kind", "reason", "nip", "terminal_sn"})
    row = CorrectionRow(
        kind=kind,
        nip=nip,
        terminal_sn=terminal_sn,
        day=day,
        payload=payload,
        reason=data.reason,
        created_by=actor,
        created_at=datetime.now(UTC),
        before=before,
        after=None,
    )
    session.add(row)
    await session.flush()
    for who, days in affected.items():
        try:
            await _recompute_corrected(session, who, min(days), max(days))
        except NoPolicy:
            break  # nothing to compute yet; the correction still stands and applies once a policy is active
    row.after = await _snapshot(session, affected)
    await session.flush()
    out = CorrectionOut.model_validate(row)
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="correction",
        key=str(row.id),
        before=_Days(days=before),
        after=out,
    )
    await commit(session)
    return out


RECOMPUTE_ATTEMPTS = 3


async def _recompute_corrected(session: AsyncSession, nip: str, first: date, last: date) -> None:
    """Recompute the corrected days in the correction's transaction.

    PostgreSQL: a recompute batch (another process, outside this transaction) may store these days between this
    recompute's read and its write; the version and feed record it meant to write are then taken. It runs in a
    savepoint, so only it rolls back, and it reads again (it now sees the batch's days). SQLite: this transaction
    has held the store's write lock since the correction row was flushed, so no other process stores meanwhile."""
    if session.get_bind().dialect.name != "postgresql":
        await recompute(session, [nip], first, last)
        return
    for attempt in range(1, RECOMPUTE_ATTEMPTS + 1):
        try:
            async with session.begin_nested():
                await recompute(session, [nip], first, last)
            return
        except IntegrityError:
            if attempt == RECOMPUTE_ATTEMPTS:
                raise


class _Days(BaseModel):
    days: dict[str, Any]


async def list_corrections(
    session: AsyncSession, *, nip: str | None, first: date | None, last: date | None, limit: int, offset: int
) -> list[CorrectionOut]:
    query = select(CorrectionRow).order_by(CorrectionRow.id)
    if nip is not None:
        query = query.where(CorrectionRow.nip == nip)
    if first is not None:
        query = query.where(CorrectionRow.day >= first)
    if last is not None:
        query = query.where(CorrectionRow.day <= last)
    rows = (await session.execute(query.limit(limit).offset(offset))).scalars().all()
    return [CorrectionOut.model_validate(r) for r in rows]
