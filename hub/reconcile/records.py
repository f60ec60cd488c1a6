"""The attendance inputs the hub keeps: schedule groups and assignments, holidays, absences, activities and
policies. Every write is audited and marks the affected employee days for recompute."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.attendance.absence import AbsenceKind, ApprovalStatus
from hub.attendance.activity import ActivityStatus, ReviewAction, ReviewError, review
from hub.attendance.calendar import Holiday, HolidayKind, bundled_calendar, parse_holidays_csv
from hub.attendance.policy import Policy, PolicyError, load_policy
from hub.reconcile.documents import ScheduleGroupDoc
from hub.reconcile.marks import mark_employee, mark_everyone
from hub.reconcile.service import activity_of
from hub.registry import audit
from hub.registry.errors import Conflict, NotFound, RegistryError
from hub.registry.schemas import NipText, UnitCode, Zone, refuse_nul
from hub.registry.service import commit
from hub.store.models import (
    AbsenceRow,
    ActivityRow,
    Employee,
    HolidayRow,
    PolicyRow,
    ScheduleAssignmentRow,
    ScheduleGroupRow,
    Unit,
)

OutT = TypeVar("OutT", bound=BaseModel)


async def _add_audited(session: AsyncSession, row: Any, out_type: type[OutT], actor: str, entity: str) -> OutT:
    """Insert ``row`` and audit its creation (who, what, after) in the same transaction."""
    session.add(row)
    await session.flush()
    out = out_type.model_validate(row)
    audit.record(session, actor=actor, action="create", entity=entity, key=str(row.id), after=out)
    return out


def _now() -> datetime:
    return datetime.now(UTC)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    _no_nul = model_validator(mode="before")(refuse_nul)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


async def _employee(session: AsyncSession, nip: str) -> Employee:
    employee = await session.get(Employee, nip)
    if employee is None:
        raise NotFound(f"no employee with NIP {nip}", field="nip")
    return employee


# --- schedules --------------------------------------------------------------------------------------------


class AssignmentIn(_In):
    group_code: str
    unit_code: UnitCode | None = None
    nip: NipText | None = None
    zone: Zone = "Asia/Jakarta"
    valid_from: date | None = None
    valid_to: date | None = None

    @model_validator(mode="after")
    def _one_target(self) -> AssignmentIn:
        if (self.unit_code is None) == (self.nip is None):
            raise ValueError("give exactly one of unit_code (the unit's schedule) or nip (an employee's exception)")
        return self


class AssignmentOut(_Out):
    id: int
    group_code: str
    unit_id: int | None
    nip: str | None
    zone: str
    valid_from: date | None
    valid_to: date | None


async def put_schedule_group(session: AsyncSession, doc: ScheduleGroupDoc, actor: str) -> ScheduleGroupDoc:
    try:
        doc.build()
    except ValueError as exc:
        raise RegistryError(str(exc), field="pattern") from None
    row = await session.get(ScheduleGroupRow, doc.code)
    before = None if row is None else ScheduleGroupDoc.model_validate(row.document)
    now = _now()
    if row is None:
        session.add(
            ScheduleGroupRow(
                code=doc.code, name=doc.name, document=doc.model_dump(mode="json"), created_at=now, updated_at=now
            )
        )
    else:
        row.name, row.document, row.updated_at = doc.name, doc.model_dump(mode="json"), now
    audit.record(
        session,
        actor=actor,
        action="create" if before is None else "update",
        entity="schedule_group",
        key=doc.code,
        before=before,
        after=doc,
    )
    if before is not None and before != doc:
        await mark_everyone(session, date.min, "schedule")
    await commit(session)
    return doc


async def list_schedule_groups(session: AsyncSession) -> list[ScheduleGroupDoc]:
    rows = (await session.execute(select(ScheduleGroupRow).order_by(ScheduleGroupRow.code))).scalars().all()
    return [ScheduleGroupDoc.model_validate(r.document) for r in rows]


async def assign_schedule(session: AsyncSession, data: AssignmentIn, actor: str) -> AssignmentOut:
    if await session.get(ScheduleGroupRow, data.group_code) is None:
        raise NotFound(f"no schedule group {data.group_code!r}", field="group_code")
    unit_id = None
    if data.unit_code is not None:
        unit_id = (await session.execute(select(Unit.id).where(Unit.code == data.unit_code))).scalar_one_or_none()
        if unit_id is None:
            raise NotFound(f"no unit {data.unit_code!r}", field="unit_code")
    else:
        assert data.nip is not None
        await _employee(session, data.nip)
    row = ScheduleAssignmentRow(
        group_code=data.group_code,
        unit_id=unit_id,
        nip=data.nip,
        zone=data.zone,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        created_at=_now(),
    )
    out = await _add_audited(session, row, AssignmentOut, actor, "schedule_assignment")
    if data.nip is not None:
        mark_employee(session, data.nip, data.valid_from or date.min, data.valid_to, "schedule")
    else:
        await mark_everyone(session, data.valid_from or date.min, "schedule")
    await commit(session)
    return out


# --- holidays ---------------------------------------------------------------------------------------------


class HolidayOut(_Out):
    day: date
    kind: str
    name: str


class HolidayIn(_In):
    day: date
    kind: HolidayKind
    name: str = Field(min_length=1, max_length=200)


class HolidayImport(BaseModel):
    imported: int
    changed: int = 0  # new dates or new names: their days are marked for recompute
    marked: int = 0  # employee ranges queued
    errors: list[str]


class HolidaySet(BaseModel):
    """What an import replaced (before) or wrote (after), for the audit trail."""

    source: str
    holidays: list[HolidayOut]


async def _put_holidays(session: AsyncSession, holidays: Sequence[Holiday]) -> tuple[list[date], list[HolidayOut]]:
    """Insert or rename. Returns the dates whose holiday is new or renamed (a day's result names its holiday)
    and the holidays as they were before a rename (for the audit trail)."""
    changed: list[date] = []
    replaced: list[HolidayOut] = []
    for h in holidays:
        row = await session.get(HolidayRow, (h.day, h.kind.value))
        if row is None:
            session.add(HolidayRow(day=h.day, kind=h.kind.value, name=h.name))
            changed.append(h.day)
            continue
        replaced.append(HolidayOut(day=row.day, kind=row.kind, name=row.name))
        if row.name != h.name:
            row.name = h.name
            changed.append(h.day)
    return changed, replaced


async def _mark_holidays(session: AsyncSession, days: Sequence[date]) -> int:
    """Every employee's days between the first and the last changed date (the usual recompute horizon)."""
    return await mark_everyone(session, min(days), "holiday", max(days)) if days else 0


async def import_holidays(
    session: AsyncSession, actor: str, *, csv_text: str | None = None, year: int | None = None
) -> HolidayImport:
    """From CSV text, or the calendar bundled for ``year``; an existing (date, kind) is renamed."""
    if csv_text is not None:
        parsed = parse_holidays_csv(csv_text)
        if parsed.errors:
            return HolidayImport(imported=0, errors=[str(e) for e in parsed.errors])
        holidays: tuple[Holiday, ...] = parsed.items
    else:
        try:
            holidays = bundled_calendar(year or 2026).holidays
        except FileNotFoundError:
            raise NotFound(f"no bundled holiday calendar for {year}", field="year") from None
    source = "csv" if csv_text is not None else f"bundled {year or 2026}"
    changed, replaced = await _put_holidays(session, holidays)
    written = [HolidayOut(day=h.day, kind=h.kind.value, name=h.name) for h in holidays]
    audit.record(
        session,
        actor=actor,
        action="import",
        entity="holiday",
        key=str(len(holidays)),
        before=HolidaySet(source=source, holidays=replaced) if replaced else None,
        after=HolidaySet(source=source, holidays=written),
    )
    marked = await _mark_holidays(session, changed)
    await commit(session)
    return HolidayImport(imported=len(holidays), changed=len(changed), marked=marked, errors=[])


async def add_holiday(session: AsyncSession, data: HolidayIn, actor: str) -> HolidayImport:
    """One holiday (or a new name for one); its day is marked for everyone."""
    holiday = Holiday(data.day, data.name, data.kind)
    changed, replaced = await _put_holidays(session, [holiday])
    audit.record(
        session,
        actor=actor,
        action="update" if replaced else "create",
        entity="holiday",
        key=f"{data.day}/{data.kind.value}",
        before=replaced[0] if replaced else None,
        after=data,
    )
    marked = await _mark_holidays(session, changed)
    await commit(session)
    return HolidayImport(imported=1, changed=len(changed), marked=marked, errors=[])


async def remove_holiday(session: AsyncSession, day: date, kind: HolidayKind, actor: str) -> int:
    """Delete a holiday (a date entered by mistake); its day is marked for everyone. Returns ranges queued."""
    row = await session.get(HolidayRow, (day, kind.value))
    if row is None:
        raise NotFound(f"no {kind.value} holiday on {day}")
    before = HolidayOut.model_validate(row)
    await session.delete(row)
    audit.record(session, actor=actor, action="delete", entity="holiday", key=f"{day}/{kind.value}", before=before)
    marked = await _mark_holidays(session, [day])
    await commit(session)
    return marked


async def list_holidays(session: AsyncSession, year: int | None) -> list[HolidayOut]:
    query = select(HolidayRow).order_by(HolidayRow.day)
    if year is not None:
        query = query.where(HolidayRow.day.between(date(year, 1, 1), date(year, 12, 31)))
    return [HolidayOut.model_validate(r) for r in (await session.execute(query)).scalars().all()]


# --- absences ---------------------------------------------------------------------------------------------


class AbsenceIn(_In):
    nip: NipText
    kind: AbsenceKind
    first: date
    last: date
    reference: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _ordered(self) -> AbsenceIn:
        if self.last < self.first:
            raise ValueError("last is before first")
        return self


class AbsencePatch(_In):
    kind: AbsenceKind | None = None
    first: date | None = None
    last: date | None = None
    reference: str | None = Field(default=None, max_length=200)


class AbsenceOut(_Out):
    id: int
    nip: str
    kind: AbsenceKind
    first: date
    last: date
    status: ApprovalStatus
    reference: str
    created_by: str
    created_at: datetime
    updated_at: datetime


async def _absence(session: AsyncSession, absence_id: int) -> AbsenceRow:
    row = await session.get(AbsenceRow, absence_id)
    if row is None:
        raise NotFound(f"no absence {absence_id}")
    return row


async def create_absence(session: AsyncSession, data: AbsenceIn, actor: str) -> AbsenceOut:
    await _employee(session, data.nip)
    now = _now()
    row = AbsenceRow(
        **data.model_dump(), status=ApprovalStatus.PENDING.value, created_by=actor, created_at=now, updated_at=now
    )
    out = await _add_audited(session, row, AbsenceOut, actor, "absence")
    await commit(session)
    return out


async def update_absence(session: AsyncSession, absence_id: int, patch: AbsencePatch, actor: str) -> AbsenceOut:
    row = await _absence(session, absence_id)
    before = AbsenceOut.model_validate(row)
    for name, value in patch.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(row, name, value)
    if row.last < row.first:
        raise RegistryError("last is before first", field="last")
    return await _changed(session, row, before, actor)


async def set_absence_status(session: AsyncSession, absence_id: int, status: ApprovalStatus, actor: str) -> AbsenceOut:
    row = await _absence(session, absence_id)
    before = AbsenceOut.model_validate(row)
    if before.status is not ApprovalStatus.PENDING and status is not ApprovalStatus.CANCELLED:
        raise Conflict(f"the absence is {before.status.value} already", field="status")
    row.status = status.value
    return await _changed(session, row, before, actor)


async def _changed(session: AsyncSession, row: AbsenceRow, before: AbsenceOut, actor: str) -> AbsenceOut:
    row.updated_at = _now()
    await session.flush()
    after = AbsenceOut.model_validate(row)
    audit.record(session, actor=actor, action="update", entity="absence", key=str(row.id), before=before, after=after)
    mark_employee(session, row.nip, min(before.first, row.first), max(before.last, row.last), "absence")
    await commit(session)
    return after


async def delete_absence(session: AsyncSession, absence_id: int, actor: str) -> None:
    row = await _absence(session, absence_id)
    before = AbsenceOut.model_validate(row)
    await session.delete(row)
    audit.record(session, actor=actor, action="delete", entity="absence", key=str(absence_id), before=before)
    mark_employee(session, before.nip, before.first, before.last, "absence")
    await commit(session)


async def list_absences(
    session: AsyncSession,
    *,
    nip: str | None,
    first: date | None,
    last: date | None,
    status: ApprovalStatus | None,
    limit: int,
    offset: int,
) -> list[AbsenceOut]:
    query = select(AbsenceRow).order_by(AbsenceRow.first, AbsenceRow.id)
    if nip is not None:
        query = query.where(AbsenceRow.nip == nip)
    if first is not None:
        query = query.where(AbsenceRow.last >= first)
    if last is not None:
        query = query.where(AbsenceRow.first <= last)
    if status is not None:
        query = query.where(AbsenceRow.status == status.value)
    rows = (await session.execute(query.limit(limit).offset(offset))).scalars().all()
    return [AbsenceOut.model_validate(r) for r in rows]


async def get_absence(session: AsyncSession, absence_id: int) -> AbsenceOut:
    return AbsenceOut.model_validate(await _absence(session, absence_id))


# --- activities -------------------------------------------------------------------------------------------


class ActivityIn(_In):
    nip: NipText
    day: date
    start: time
    end: time
    description: str = Field(min_length=1)
    rhk_ref: str = Field(default="", max_length=200)
    norm_minutes: int = Field(ge=0)
    volume: int = Field(default=1, ge=0)


class ActivityOut(_Out):
    id: int
    nip: str
    day: date
    start: time
    end: time
    description: str
    rhk_ref: str
    norm_minutes: int
    volume: int
    status: ActivityStatus
    reviewer_comment: str
    reviewed_by: str | None
    external_id: str | None = None  # e-Kinerja's id of an imported entry


class ReviewIn(_In):
    action: ReviewAction
    comment: str = ""


async def create_activity(session: AsyncSession, data: ActivityIn, actor: str) -> ActivityOut:
    await _employee(session, data.nip)
    now = _now()
    row = ActivityRow(
        **data.model_dump(), status=ActivityStatus.SUBMITTED.value, reviewer_comment="", created_at=now, updated_at=now
    )
    out = await _add_audited(session, row, ActivityOut, actor, "activity")
    mark_employee(session, data.nip, data.day, data.day, "activity")
    await commit(session)
    return out


async def review_activity(session: AsyncSession, activity_id: int, data: ReviewIn, actor: str) -> ActivityOut:
    row = await session.get(ActivityRow, activity_id)
    if row is None:
        raise NotFound(f"no activity {activity_id}")
    before = ActivityOut.model_validate(row)
    try:
        reviewed = review(activity_of(row), data.action, data.comment)
    except ReviewError as exc:
        raise Conflict(str(exc), field="action") from None
    row.status, row.reviewer_comment = reviewed.status.value, reviewed.reviewer_comment
    row.reviewed_by, row.updated_at = actor, _now()
    await session.flush()
    after = ActivityOut.model_validate(row)
    audit.record(session, actor=actor, action="update", entity="activity", key=str(row.id), before=before, after=after)
    mark_employee(session, row.nip, row.day, row.day, "activity")
    await commit(session)
    return after


async def list_activities(
    session: AsyncSession,
    *,
    nip: str | None,
    first: date | None,
    last: date | None,
    status: ActivityStatus | None,
    limit: int,
    offset: int,
) -> list[ActivityOut]:
    query = select(ActivityRow).order_by(ActivityRow.day, ActivityRow.start, ActivityRow.id)
    if nip is not None:
        query = query.where(ActivityRow.nip == nip)
    if first is not None:
        query = query.where(ActivityRow.day >= first)
    if last is not None:
        query = query.where(ActivityRow.day <= last)
    if status is not None:
        query = query.where(ActivityRow.status == status.value)
    rows = (await session.execute(query.limit(limit).offset(offset))).scalars().all()
    return [ActivityOut.model_validate(r) for r in rows]


# --- policies ---------------------------------------------------------------------------------------------


class PolicyOut(_Out):
    id: int
    policy_id: str
    organisation: str
    version: int
    effective_from: date
    active: bool
    uploaded_by: str
    uploaded_at: datetime


class PolicyDocumentOut(PolicyOut):
    document: dict[str, Any]


class PolicyInvalid(RegistryError):
    """The policy's problems, each with the path of the bad field, in ``details``."""


def check_policy(text: str, fmt: Literal["yaml", "toml"]) -> Policy:
    try:
        return load_policy(text, fmt)
    except PolicyError as exc:
        problems = [{"path": p.path, "message": p.message} for p in exc.problems]
        raise PolicyInvalid(f"the policy is not valid: {exc}", problems) from None


async def upload_policy(
    session: AsyncSession, text: str, fmt: Literal["yaml", "toml"], actor: str, *, activate: bool
) -> PolicyOut:
    policy = check_policy(text, fmt)
    exists = (
        await session.execute(
            select(PolicyRow.id).where(PolicyRow.policy_id == policy.id, PolicyRow.version == policy.version)
        )
    ).first()
    if exists:
        raise Conflict(
            f"policy {policy.id} version {policy.version} exists already; upload a new version", field="version"
        )
    row = PolicyRow(
        policy_id=policy.id,
        organisation=policy.organisation,
        version=policy.version,
        effective_from=policy.effective_from,
        document=policy.model_dump(mode="json"),
        active=False,
        uploaded_by=actor,
        uploaded_at=_now(),
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="policy",
        key=f"{policy.id}@{policy.version}",
        after=PolicyOut.model_validate(row),
    )
    if activate:
        await _activate(session, row, actor)
    await commit(session)
    return PolicyOut.model_validate(row)


async def _activate(session: AsyncSession, row: PolicyRow, actor: str) -> None:
    """One policy id is in force at a time: activating a version of another policy retires the old one's.

    Each row whose ``active`` changes is audited with its state before and after, the retired ones too."""
    retired = (
        await session.execute(select(PolicyRow).where(PolicyRow.policy_id != row.policy_id, PolicyRow.active))
    ).scalars()
    for old in retired.all():
        before = PolicyOut.model_validate(old)
        old.active = False
        audit.record(
            session,
            actor=actor,
            action="update",
            entity="policy",
            key=f"{old.policy_id}@{old.version}",
            before=before,
            after=PolicyOut.model_validate(old),
        )
    before = PolicyOut.model_validate(row)
    row.active = True
    await session.flush()
    await mark_everyone(session, row.effective_from, "policy")
    audit.record(
        session,
        actor=actor,
        action="update",
        entity="policy",
        key=f"{row.policy_id}@{row.version}",
        before=before,
        after=PolicyOut.model_validate(row),
    )


async def activate_policy(session: AsyncSession, row_id: int, actor: str) -> PolicyOut:
    row = await session.get(PolicyRow, row_id)
    if row is None:
        raise NotFound(f"no policy {row_id}")
    clash = (
        await session.execute(
            select(PolicyRow.id).where(
                PolicyRow.policy_id == row.policy_id,
                PolicyRow.active,
                PolicyRow.id != row.id,
                PolicyRow.effective_from == row.effective_from,
            )
        )
    ).first()
    if clash:
        raise Conflict("an active version of this policy takes effect the same day", field="effective_from")
    await _activate(session, row, actor)
    await commit(session)
    return PolicyOut.model_validate(row)


async def list_policies(session: AsyncSession) -> list[PolicyOut]:
    rows = (await session.execute(select(PolicyRow).order_by(PolicyRow.policy_id, PolicyRow.version))).scalars()
    return [PolicyOut.model_validate(r) for r in rows.all()]


async def get_policy(session: AsyncSession, row_id: int) -> PolicyDocumentOut:
    row = await session.get(PolicyRow, row_id)
    if row is None:
        raise NotFound(f"no policy {row_id}")
    return PolicyDocumentOut.model_validate(row)
