"""Registry writes and reads. Each write checks the registry's rules, records its audit entry and
commits; ``commit=False`` lets the CSV import put many writes in one all-or-nothing transaction."""

from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, and_, delete, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hub.reconcile.marks import mark_employee
from hub.registry import audit
from hub.registry.errors import Conflict, NotFound, RegistryError
from hub.registry.schemas import (
    EmployeeIn,
    EmployeeOut,
    EmployeePatch,
    EnrollmentIn,
    EnrollmentOut,
    EnrollmentPatch,
    TerminalIn,
    TerminalOut,
    TerminalPatch,
    UnitIn,
    UnitOut,
    UnitPatch,
)
from hub.store.models import AttendanceDayRow, Employee, Enrollment, Terminal, Unit

ModelT = TypeVar("ModelT", bound=BaseModel)


def _now() -> datetime:
    return datetime.now(UTC)


async def commit(session: AsyncSession) -> None:
    """Commit, turning a constraint the store enforces (a unit still in use, say) into a Conflict."""
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict("the change conflicts with other registry records", str(exc.orig)) from None


# --- units ----------------------------------------------------------------------------------------


def _unit_query() -> Select[Unit, str]:
    parent = aliased(Unit)
    return select(Unit, parent.code).outerjoin(parent, Unit.parent_id == parent.id).order_by(Unit.code)


def _unit_out(unit: Unit, parent_code: str | None) -> UnitOut:
    return UnitOut(id=unit.id, code=unit.code, name=unit.name, parent_code=parent_code)


async def list_units(session: AsyncSession) -> list[UnitOut]:
    return [_unit_out(u, p) for u, p in (await session.execute(_unit_query())).all()]


async def get_unit(session: AsyncSession, code: str) -> UnitOut:
    row = (await session.execute(_unit_query().where(Unit.code == code))).first()
    if row is None:
        raise NotFound(f"no unit with code {code!r}")
    return _unit_out(*row)


async def _unit_row(session: AsyncSession, code: str, field: str | None = None) -> Unit:
    unit = (await session.execute(select(Unit).where(Unit.code == code))).scalar_one_or_none()
    if unit is None:
        raise NotFound(f"no unit with code {code!r}", field=field)
    return unit


async def subtree_ids(session: AsyncSession, code: str) -> list[int]:
    """The unit and every unit below it (a recursive query, so any depth)."""
    root = await _unit_row(session, code)
    tree = select(Unit.id).where(Unit.id == root.id).cte("tree", recursive=True)
    tree = tree.union_all(select(Unit.id).where(Unit.parent_id == tree.c.id))
    return list((await session.execute(select(tree.c.id))).scalars().all())


async def create_unit(session: AsyncSession, data: UnitIn, actor: str, *, commit_now: bool = True) -> UnitOut:
    if (await session.execute(select(Unit.id).where(Unit.code == data.code))).first():
        raise Conflict(f"unit {data.code!r} already exists", field="code")
    parent_id = (await _unit_row(session, data.parent_code, "parent_code")).id if data.parent_code else None
    now = _now()
    unit = Unit(code=data.code, name=data.name, parent_id=parent_id, created_at=now, updated_at=now)
    session.add(unit)
    await session.flush()
    after = _unit_out(unit, data.parent_code)
    audit.record(session, actor=actor, action="create", entity="unit", key=data.code, after=after)
    if commit_now:
        await commit(session)
    return after


async def update_unit(session: AsyncSession, code: str, patch: UnitPatch, actor: str) -> UnitOut:
    before = await get_unit(session, code)
    unit = await _unit_row(session, code)
    changes = patch.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is not None:
        unit.name = changes["name"]
    if "parent_code" in changes:
        new_parent = changes["parent_code"]
        if new_parent is None:
            unit.parent_id = None
        else:
            if new_parent in {u.code for u in await _units_below(session, code)}:
                raise Conflict(f"unit {new_parent!r} is {code!r} or below it: the tree would become a cycle")
            unit.parent_id = (await _unit_row(session, new_parent, "parent_code")).id
    unit.updated_at = _now()
    await session.flush()
    after = await get_unit(session, code)
    audit.record(session, actor=actor, action="update", entity="unit", key=code, before=before, after=after)
    await commit(session)
    return after


async def _units_below(session: AsyncSession, code: str) -> list[Unit]:
    ids = await subtree_ids(session, code)
    return list((await session.execute(select(Unit).where(Unit.id.in_(ids)))).scalars().all())


async def delete_unit(session: AsyncSession, code: str, actor: str) -> None:
    before = await get_unit(session, code)
    unit = await _unit_row(session, code)
    in_use = await session.execute(
        select(Unit.id)
        .where(Unit.parent_id == unit.id)
        .union_all(select(Employee.unit_id).where(Employee.unit_id == unit.id))
    )
    if in_use.first():
        raise Conflict(f"unit {code!r} still has sub-units or employees")
    await session.delete(unit)
    audit.record(session, actor=actor, action="delete", entity="unit", key=code, before=before)
    await commit(session)


# --- employees ------------------------------------------------------------------------------------


def _employee_query() -> Select[Employee, str]:
    return select(Employee, Unit.code).join(Unit, Employee.unit_id == Unit.id).order_by(Employee.nip)


def _employee_out(e: Employee, unit_code: str) -> EmployeeOut:
    return EmployeeOut(
        nip=e.nip,
        name=e.name,
        unit_code=unit_code,
        job_class=e.job_class,
        schedule_group=e.schedule_group,
        active_from=e.active_from,
        active_to=e.active_to,
    )


async def list_employees(
    session: AsyncSession, *, unit_code: str | None = None, limit: int = 100, offset: int = 0
) -> list[EmployeeOut]:
    query = _employee_query()
    if unit_code is not None:
        query = query.where(Employee.unit_id.in_(await subtree_ids(session, unit_code)))
    rows = (await session.execute(query.limit(limit).offset(offset))).all()
    return [_employee_out(e, code) for e, code in rows]


async def get_employee(session: AsyncSession, nip: str) -> EmployeeOut:
    row = (await session.execute(_employee_query().where(Employee.nip == nip))).first()
    if row is None:
        raise NotFound(f"no employee with NIP {nip}")
    return _employee_out(*row)


async def create_employee(
    session: AsyncSession, data: EmployeeIn, actor: str, *, commit_now: bool = True
) -> EmployeeOut:
    if await session.get(Employee, data.nip):
        raise Conflict(f"employee {data.nip} already exists", field="nip")
    unit = await _unit_row(session, data.unit_code, "unit_code")
    now = _now()
    fields = data.model_dump(exclude={"unit_code"})
    session.add(Employee(**fields, unit_id=unit.id, created_at=now, updated_at=now))
    await session.flush()
    after = EmployeeOut(**data.model_dump())
    audit.record(session, actor=actor, action="create", entity="employee", key=data.nip, after=after)
    if commit_now:
        await commit(session)
    return after


async def update_employee(
    session: AsyncSession, nip: str, patch: EmployeePatch | EmployeeIn, actor: str, *, commit_now: bool = True
) -> EmployeeOut:
    before = await get_employee(session, nip)
    merged = {**before.model_dump(), **patch.model_dump(exclude_unset=True)}
    merged["nip"] = nip
    data = _checked(EmployeeIn, merged)
    employee = await session.get(Employee, nip)
    assert employee is not None
    unit = await _unit_row(session, data.unit_code, "unit_code")
    for name, value in data.model_dump(exclude={"unit_code", "nip"}).items():
        setattr(employee, name, value)
    employee.unit_id = unit.id
    employee.updated_at = _now()
    await session.flush()
    after = EmployeeOut(**data.model_dump())
    audit.record(session, actor=actor, action="update", entity="employee", key=nip, before=before, after=after)
    if commit_now:
        await commit(session)
    return after


async def delete_employee(session: AsyncSession, nip: str, actor: str) -> None:
    before = await get_employee(session, nip)
    if (await session.execute(select(Enrollment.id).where(Enrollment.nip == nip))).first():
        raise Conflict(f"employee {nip} has enrollments: end them (valid_to) instead of deleting the employee")
    employee = await session.get(Employee, nip)
    await session.execute(delete(AttendanceDayRow).where(AttendanceDayRow.nip == nip))  # no FK cascade (0008)
    await session.delete(employee)
    audit.record(session, actor=actor, action="delete", entity="employee", key=nip, before=before)
    await commit(session)


# --- terminals ------------------------------------------------------------------------------------


async def list_terminals(session: AsyncSession) -> list[TerminalOut]:
    rows = (await session.execute(select(Terminal).order_by(Terminal.serial))).scalars().all()
    return [TerminalOut.model_validate(t) for t in rows]


async def get_terminal(session: AsyncSession, serial: str) -> TerminalOut:
    terminal = await session.get(Terminal, serial)
    if terminal is None:
        raise NotFound(f"no terminal with serial {serial!r}")
    return TerminalOut.model_validate(terminal)


async def create_terminal(session: AsyncSession, data: TerminalIn, actor: str) -> TerminalOut:
    if await session.get(Terminal, data.serial):
        raise Conflict(f"terminal {data.serial!r} already exists", field="serial")
    now = _now()
    session.add(Terminal(**data.model_dump(), created_at=now, updated_at=now))
    after = TerminalOut(**data.model_dump())
    audit.record(session, actor=actor, action="create", entity="terminal", key=data.serial, after=after)
    await commit(session)
    return after


async def update_terminal(session: AsyncSession, serial: str, patch: TerminalPatch, actor: str) -> TerminalOut:
    before = await get_terminal(session, serial)
    data = _checked(TerminalIn, {**before.model_dump(), **patch.model_dump(exclude_unset=True)})
    terminal = await session.get(Terminal, serial)
    assert terminal is not None
    for name, value in data.model_dump(exclude={"serial"}).items():
        setattr(terminal, name, value)
    terminal.updated_at = _now()
    after = TerminalOut(**data.model_dump())
    audit.record(session, actor=actor, action="update", entity="terminal", key=serial, before=before, after=after)
    await commit(session)
    return after


async def delete_terminal(session: AsyncSession, serial: str, actor: str) -> None:
    before = await get_terminal(session, serial)
    if (await session.execute(select(Enrollment.id).where(Enrollment.terminal_sn == serial))).first():
        raise Conflict(f"terminal {serial!r} has enrollments")
    await session.delete(await session.get(Terminal, serial))
    audit.record(session, actor=actor, action="delete", entity="terminal", key=serial, before=before)
    await commit(session)


# --- enrollments ----------------------------------------------------------------------------------


async def list_enrollments(
    session: AsyncSession,
    *,
    nip: str | None = None,
    terminal_sn: str | None = None,
    pin: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[EnrollmentOut]:
    query = select(Enrollment).order_by(Enrollment.terminal_sn, Enrollment.pin, Enrollment.valid_from)
    if nip is not None:
        query = query.where(Enrollment.nip == nip)
    if terminal_sn is not None:
        query = query.where(Enrollment.terminal_sn == terminal_sn)
    if pin is not None:
        query = query.where(Enrollment.pin == pin)
    rows = (await session.execute(query.limit(limit).offset(offset))).scalars().all()
    return [EnrollmentOut.model_validate(e) for e in rows]


async def get_enrollment(session: AsyncSession, enrollment_id: int) -> EnrollmentOut:
    enrollment = await session.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise NotFound(f"no enrollment {enrollment_id}")
    return EnrollmentOut.model_validate(enrollment)


async def _check_enrollment(session: AsyncSession, data: EnrollmentIn, exclude_id: int | None = None) -> None:
    if await session.get(Terminal, data.terminal_sn) is None:
        raise NotFound(f"no terminal with serial {data.terminal_sn!r}", field="terminal_sn")
    if await session.get(Employee, data.nip) is None:
        raise NotFound(f"no employee with NIP {data.nip}", field="nip")
    overlap = select(Enrollment).where(
        Enrollment.terminal_sn == data.terminal_sn,
        Enrollment.pin == data.pin,
        or_(Enrollment.valid_to.is_(None), Enrollment.valid_to >= data.valid_from),
        true() if data.valid_to is None else Enrollment.valid_from <= data.valid_to,
    )
    if exclude_id is not None:
        overlap = overlap.where(Enrollment.id != exclude_id)
    clash = (await session.execute(overlap)).scalars().first()
    if clash is not None:
        raise Conflict(
            f"PIN {data.pin} on {data.terminal_sn} is already enrolled for {clash.nip} "
            f"from {clash.valid_from} to {clash.valid_to or 'open end'}; periods of one PIN must not overlap",
            {"enrollment_id": clash.id},
            field="valid_from",
        )


async def create_enrollment(
    session: AsyncSession, data: EnrollmentIn, actor: str, *, commit_now: bool = True
) -> EnrollmentOut:
    await _check_enrollment(session, data)
    now = _now()
    enrollment = Enrollment(**data.model_dump(), created_at=now, updated_at=now)
    session.add(enrollment)
    await session.flush()
    after = EnrollmentOut.model_validate(enrollment)
    audit.record(session, actor=actor, action="create", entity="enrollment", key=str(enrollment.id), after=after)
    mark_employee(session, data.nip, data.valid_from, data.valid_to, "enrollment")
    if commit_now:
        await commit(session)
    return after


async def update_enrollment(
    session: AsyncSession, enrollment_id: int, patch: EnrollmentPatch, actor: str
) -> EnrollmentOut:
    before = await get_enrollment(session, enrollment_id)
    merged = {**before.model_dump(exclude={"id"}), **patch.model_dump(exclude_unset=True)}
    data = _checked(EnrollmentIn, merged)
    await _check_enrollment(session, data, exclude_id=enrollment_id)
    enrollment = await session.get(Enrollment, enrollment_id)
    assert enrollment is not None
    enrollment.valid_from, enrollment.valid_to = data.valid_from, data.valid_to
    enrollment.updated_at = _now()
    await session.flush()
    after = EnrollmentOut.model_validate(enrollment)
    audit.record(
        session, actor=actor, action="update", entity="enrollment", key=str(enrollment_id), before=before, after=after
    )
    mark_employee(session, before.nip, min(before.valid_from, data.valid_from), None, "enrollment")
    await commit(session)
    return after


async def delete_enrollment(session: AsyncSession, enrollment_id: int, actor: str) -> None:
    before = await get_enrollment(session, enrollment_id)
    await session.delete(await session.get(Enrollment, enrollment_id))
    audit.record(session, actor=actor, action="delete", entity="enrollment", key=str(enrollment_id), before=before)
    mark_employee(session, before.nip, before.valid_from, before.valid_to, "enrollment")
    await commit(session)


def enrollment_matches(punch_terminal: Any, punch_pin: Any, punch_date: Any) -> Any:
    """The join condition that attributes a punch: same terminal and PIN, local date within validity."""
    return and_(
        Enrollment.terminal_sn == punch_terminal,
        Enrollment.pin == punch_pin,
        Enrollment.valid_from <= punch_date,
        or_(Enrollment.valid_to.is_(None), Enrollment.valid_to >= punch_date),
    )


def _checked(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    """Check a patched record as a whole, so a patch cannot leave it invalid."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = exc.errors(include_url=False, include_context=False, include_input=False)
        raise RegistryError("the change would leave an invalid record", details) from None
