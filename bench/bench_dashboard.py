"""Dashboard page times on a realistic store: 1,000 employees in 10 units with a working month of punches.

The store (SQLite, as embedded) is filled through the registry services and the ingest commit path; the pages
are then fetched through the whole FastAPI app in process (httpx ASGI transport, signed in as an operator),
each several times; the table gives the median and the slowest. Today's board evaluates every employee's day
with the attendance engine; a unit's recap page recomputes each employee's month.

Command: ``python -m bench.run dashboard``.
"""

import asyncio
import re
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path

import httpx

from hub.access import Role
from hub.api.app import create_app
from hub.ingest.classify import Delivery, classify
from hub.ingest.commit import Received, commit_received
from hub.reconcile import records
from hub.reconcile.documents import ScheduleGroupDoc
from hub.registry import service
from hub.registry.schemas import EmployeeIn, EnrollmentIn, TerminalIn, UnitIn
from hub.settings import DatabaseSettings
from hub.store.db import create_engine, session_factory
from hub.store.migrate import upgrade
from hub.users import create_user
from presensi.contract import PunchBatch, PunchRecord, punch_key

UNITS = 10
EMPLOYEES = 1_000
MONTH = (2026, 11)
DAY = date(2026, 11, 24)
RUNS = 5
ACTOR = "bench"
PASSWORD = "bench-password-1"
WEEKDAY = {"start": "07:30", "end": "16:00", "break_minutes": 60}
GROUP = {"code": "N5", "name": "five-day week", "pattern": {"type": "weekly", "days": [WEEKDAY] * 5 + [None, None]}}
ZONE = "Asia/Jakarta"
OFFSET = timedelta(hours=7)


def _nip(i: int) -> str:
    return f"19800101200501{1000 + i:04d}"


def _punch(serial: str, pin: str, local: datetime) -> PunchRecord:
    utc = (local - OFFSET).replace(tzinfo=UTC)
    return PunchRecord(
        key=punch_key(serial, pin, local, 0),
        terminal_sn=serial,
        pin=pin,
        local_time=local,
        zone=ZONE,
        utc=utc,
        status=0,
        punch=1,
        verify=1,
        read_at=utc + timedelta(seconds=5),
    )


async def _fill(database: DatabaseSettings) -> int:
    engine = create_engine(database)
    await upgrade(engine)
    async with session_factory(engine)() as db:
        for u in range(UNITS):
            await service.create_unit(db, UnitIn(code=f"U{u:02d}", name=f"Unit {u}"), ACTOR)
            serial = f"T{u:02d}"
            await service.create_terminal(db, TerminalIn(serial=serial, location=f"Lobi {u}", zone=ZONE), ACTOR)
        for i in range(EMPLOYEES):
            unit = i % UNITS
            employee = EmployeeIn(
                nip=_nip(i), name=f"Pegawai {i}", unit_code=f"U{unit:02d}", job_class=9, active_from=date(2020, 1, 1)
            )
            await service.create_employee(db, employee, ACTOR, commit_now=False)
        await db.commit()
        for i in range(EMPLOYEES):
            enrollment = EnrollmentIn(
                terminal_sn=f"T{i % UNITS:02d}", pin=str(i), nip=_nip(i), valid_from=date(2026, 1, 1)
            )
            await service.create_enrollment(db, enrollment, ACTOR, commit_now=False)
        await db.commit()
        await records.put_schedule_group(db, ScheduleGroupDoc.model_validate(GROUP), ACTOR)
        for u in range(UNITS):
            await records.assign_schedule(db, records.AssignmentIn(group_code="N5", unit_code=f"U{u:02d}"), ACTOR)
        policy = resources.files("hub.attendance").joinpath("presets/tlpsw-standard.yaml").read_text(encoding="utf-8")
        await records.upload_policy(db, policy, "yaml", ACTOR, activate=True)
        await create_user(db, "operator", PASSWORD, Role.OPERATOR, ACTOR)
    # Everyone works every weekday of the month; arrivals spread 07:00..07:59, leaving 16:00..16:59.
    punches = []
    first = date(*MONTH, 1)
    for d in range(30):
        day = first + timedelta(days=d)
        if day.weekday() >= 5:
            continue
        for i in range(EMPLOYEES):
            serial, pin = f"T{i % UNITS:02d}", str(i)
            punches.append(
                _punch(
                    serial,
                    pin,
                    datetime.combine(day, datetime.min.time()) + timedelta(hours=7, minutes=(i * 7 + d) % 60),
                )
            )
            punches.append(
                _punch(
                    serial,
                    pin,
                    datetime.combine(day, datetime.min.time()) + timedelta(hours=16, minutes=(i * 11 + d) % 60),
                )
            )
    for seq, start in enumerate(range(0, len(punches), 1000), start=1):
        batch = PunchBatch(
            edge_id="bench",
            batch_id=f"bench:1:{seq:06d}",
            seq=seq,
            session=1,
            sent_at=datetime.now(UTC),
            punches=tuple(punches[start : start + 1000]),
        )
        delivery = Delivery(
            "presensi/v1/edge/bench/punches", batch.model_dump_json().encode(), 1, 1, False, datetime.now(UTC)
        )
        await commit_received(engine, [Received(delivery, classify(delivery))], "bench")
    await engine.dispose()
    return len(punches)


async def _measure(database: DatabaseSettings) -> list[tuple[str, float, float]]:
    engine = create_engine(database)
    app = create_app(engine)
    pages = [
        ("Today board, 1,000 employees", f"/dashboard/today?day={DAY}"),
        ("Terminals and edges", "/dashboard/terminals"),
        ("Exceptions queue", "/dashboard/exceptions"),
        ("Employee month (42 punches, 21 days)", f"/dashboard/employees/{_nip(5)}?month=2026-11"),
        ("Recaps of a unit (100 employees)", "/dashboard/recaps?unit=U03&month=2026-11"),
    ]
    out = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as client:
        form = await client.get("/dashboard/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        signed = await client.post(
            "/dashboard/login", data={"username": "operator", "password": PASSWORD, "csrf": token.group(1)}
        )
        assert signed.status_code == 303
        for label, path in pages:
            seconds = []
            for _ in range(RUNS):
                started = time.perf_counter()
                response = await client.get(path)
                seconds.append(time.perf_counter() - started)
                assert response.status_code == 200, (path, response.text[:300])
            out.append((label, statistics.median(seconds), max(seconds)))
    await engine.dispose()
    return out


def run() -> str:
    with tempfile.TemporaryDirectory() as folder:
        database = DatabaseSettings(url=f"sqlite:///{Path(folder) / 'hub.db'}")
        started = time.perf_counter()
        punches = asyncio.run(_fill(database))
        filled = time.perf_counter() - started
        rows = asyncio.run(_measure(database))
    lines = [
        "### Dashboard pages",
        "",
        f"SQLite store with {EMPLOYEES:,} employees in {UNITS} units, {punches:,} punches (a working month, in and "
        f"out), the TL/PSW preset active (filled in {filled:.0f} s). Each page fetched {RUNS} times through the "
        "FastAPI app in process, signed in as an operator (server time only, no network or browser).",
        "",
        "| page | median ms | slowest ms |",
        "|---|---:|---:|",
    ]
    lines += [f"| {label} | {median * 1000:,.0f} | {worst * 1000:,.0f} |" for label, median, worst in rows]
    lines += ["", "Command: `python -m bench.run dashboard`."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
