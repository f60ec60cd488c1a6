"""Seeding for the attendance tests: one unit on the national five-day week, the TL/PSW preset active,
employees enrolled on terminal T1, punches delivered through the real ingest commit path."""

from datetime import UTC, date, datetime
from importlib import resources

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from hub.ingest.classify import Delivery, classify
from hub.ingest.commit import Received, commit_received
from hub.reconcile import records
from hub.reconcile.documents import ScheduleGroupDoc
from hub.registry import service
from hub.registry.schemas import EmployeeIn, EnrollmentIn, TerminalIn, UnitIn
from hub.store.db import session_factory
from presensi.contract import PunchRecord
from tests.hub.hub_testkit import batch, punch

BUDI = "198705122015031002"
SITI = "199001012019032001"
ACTOR = "test"
WEEKDAY = {"start": "07:30", "end": "16:00", "break_minutes": 60}
FRIDAY = {"start": "07:30", "end": "16:30", "break_minutes": 90}
NATIONAL_FIVE_DAY = {
    "code": "N5",
    "name": "Perpres 21/2023",
    "pattern": {"type": "weekly", "days": [WEEKDAY, WEEKDAY, WEEKDAY, WEEKDAY, FRIDAY, None, None]},
}
PINS = {BUDI: "7", SITI: "8"}


def preset_text(name: str = "tlpsw-standard") -> str:
    return resources.files("hub.attendance").joinpath(f"presets/{name}.yaml").read_text(encoding="utf-8")


async def seed(db: AsyncSession, *, policy: bool = True) -> None:
    await service.create_unit(db, UnitIn(code="BKPSDM", name="BKPSDM"), ACTOR)
    await service.create_unit(db, UnitIn(code="BKPSDM.UMUM", name="Umum", parent_code="BKPSDM"), ACTOR)
    await service.create_terminal(db, TerminalIn(serial="T1", location="Lobi", zone="Asia/Jakarta"), ACTOR)
    for nip, unit in ((BUDI, "BKPSDM"), (SITI, "BKPSDM.UMUM")):
        employee = EmployeeIn(nip=nip, name=nip[-4:], unit_code=unit, job_class=9, active_from=date(2020, 1, 1))
        await service.create_employee(db, employee, ACTOR)
        enrollment = EnrollmentIn(terminal_sn="T1", pin=PINS[nip], nip=nip, valid_from=date(2026, 1, 1))
        await service.create_enrollment(db, enrollment, ACTOR)
    await records.put_schedule_group(db, ScheduleGroupDoc.model_validate(NATIONAL_FIVE_DAY), ACTOR)
    await records.assign_schedule(db, records.AssignmentIn(group_code="N5", unit_code="BKPSDM"), ACTOR)
    if policy:
        await records.upload_policy(db, preset_text(), "yaml", ACTOR, activate=True)


_seq = iter(range(1, 1_000_000))


async def deliver(engine: AsyncEngine, punches: list[tuple[str, datetime]]) -> None:
    """Punches (nip, local time) on T1, through the ingest commit path (which marks the terminal days)."""
    await deliver_records(engine, [punch("T1", PINS[nip], at) for nip, at in punches])


async def deliver_records(engine: AsyncEngine, punches: list[PunchRecord]) -> None:
    payload = batch("edge-a", next(_seq), punches).model_dump_json().encode()
    delivery = Delivery("presensi/v1/edge/edge-a/punches", payload, 1, 1, False, datetime.now(UTC))
    await commit_received(engine, [Received(delivery, classify(delivery))], "test")


async def seeded(engine: AsyncEngine, *, policy: bool = True) -> None:
    async with session_factory(engine)() as db:
        await seed(db, policy=policy)
