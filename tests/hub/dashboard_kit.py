"""Seeding and sign-in for the dashboard tests: the attendance seed plus an unenrolled employee, punches on a
fixed Tuesday (so the board does not depend on the day the suite runs), an unmatched PIN, a dead letter and
one user per role."""

import re
from datetime import UTC, date, datetime, time

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access import Role
from hub.reconcile import records
from hub.registry import service
from hub.registry.schemas import EmployeeIn
from hub.store.db import session_factory
from hub.store.models import DeadLetter
from hub.users import create_user
from presensi.contract import PunchFlag
from tests.hub.attendance_kit import ACTOR, BUDI, PINS, SITI, deliver, deliver_records, seed
from tests.hub.hub_testkit import punch

DAY = date(2026, 11, 24)  # a Tuesday: a working day of the national five-day week
MONTH = "2026-11"
ANI = "199503032020122003"
UNMATCHED_PIN = "99"
PASSWORD = "correct horse battery"
USERS = {Role.ADMIN: "admin", Role.OPERATOR: "operator", Role.VIEWER: "viewer"}


async def seed_dashboard(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as db:
        await seed(db)
        employee = EmployeeIn(
            nip=ANI, name="Ani Lestari", unit_code="BKPSDM", job_class=7, active_from=date(2020, 1, 1)
        )
        await service.create_employee(db, employee, ACTOR)
        for role, username in USERS.items():
            await create_user(db, username, PASSWORD, role, ACTOR, display_name=username.title())
    # Budi works every other weekday of the month in full; on DAY he is in at 07:41 (TL1) and never checks out.
    # Siti is not in yet; PIN 99 is nobody (yet).
    month = [date(2026, 11, d) for d in range(1, 31)]
    full_days = [d for d in month if d.weekday() < 5 and d != DAY]
    punches = [(BUDI, datetime.combine(d, time(7, 25))) for d in full_days]
    punches += [(BUDI, datetime.combine(d, time(16, 35) if d.weekday() == 4 else time(16, 5))) for d in full_days]
    await deliver(engine, [*punches, (BUDI, datetime(2026, 11, 24, 7, 41))])
    drifted = punch("T1", PINS[SITI], datetime(2026, 11, 23, 3, 2)).model_copy(
        update={"flags": (PunchFlag.CLOCK_DRIFT,)}
    )
    await deliver_records(engine, [drifted])
    async with session_factory(engine)() as db:
        activity = records.ActivityIn(
            nip=BUDI,
            day=DAY,
            start=time(8, 0),
            end=time(11, 30),
            description="Verifikasi berkas mutasi",
            norm_minutes=60,
            volume=3,
        )
        await records.create_activity(db, activity, ACTOR)
    await deliver_records(
        engine,
        [
            punch("T1", UNMATCHED_PIN, datetime(2026, 11, 24, 7, 5)),
            punch("T1", UNMATCHED_PIN, datetime(2026, 11, 24, 16, 2)),
        ],
    )
    async with engine.begin() as connection:
        await connection.execute(
            insert(DeadLetter).values(
                received_at=datetime(2026, 11, 24, 1, 0, tzinfo=UTC),
                topic="presensi/v1/edge/edge-a/punches",
                edge_id="edge-a",
                reason="not valid JSON",
                payload=b"{broken",
                worker="test",
            )
        )


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    form = await client.get("/dashboard/login")
    return await client.post(
        "/dashboard/login",
        data={"username": username, "password": password, "csrf": csrf_of(form.text), "next": "/dashboard/today"},
    )
