"""CSV imports (registry employees and enrollments, holidays, activities): whatever the file holds, the answer
is a report (rows taken, rows rejected with a reason) or a refusal of the file as a whole; nothing else escapes
and nothing is half-written (found before: carriage returns, NUL bytes, fields past the csv module's limit)."""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.attendance.activity import parse_activities_csv
from hub.attendance.calendar import parse_holidays_csv
from hub.attendance.importing import Parsed
from hub.registry.csv_import import ImportReport, import_employees, import_enrollments
from hub.registry.errors import RegistryError
from hub.settings import DatabaseSettings
from hub.store.db import create_engine, session_factory
from hub.store.migrate import upgrade
from tests.fuzz.fuzzkit import budget
from tests.hub.attendance_kit import BUDI, seed

EMPLOYEE_HEADER = "nip,name,unit_code,active_from,active_to,job_class\n"
ENROLLMENT_HEADER = "terminal_sn,pin,nip,valid_from,valid_to\n"
NASTY = ["\x00", "\r", "\r\n", "\n", '"', '""', ",", ";", "\t", "\ufeff", "\u2028", "x" * 200_000, "9" * 40]

cells = st.one_of(
    st.text(max_size=20),
    st.sampled_from(NASTY),
    st.sampled_from([BUDI, "BKPSDM", "T1", "2026-01-01", "31/12/2026", "2026-02-30", "17", "-1", "1e9"]),
)


@st.composite
def csv_text(draw: st.DrawFn, header: str) -> str:
    """A header (sometimes mangled) and rows of arbitrary cells joined with arbitrary separators."""
    head = header if draw(st.booleans()) else draw(st.sampled_from([header.upper(), header.replace(",", ";"), ""]))
    rows = draw(st.lists(st.lists(cells, max_size=7), max_size=4))
    separator = draw(st.sampled_from([",", ";", "\t"]))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return head + ending.join(separator.join(row) for row in rows)


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[asyncio.AbstractEventLoop, AsyncEngine]]:
    path: Path = tmp_path_factory.mktemp("csv-fuzz") / "hub.db"
    loop = asyncio.new_event_loop()
    engine = create_engine(DatabaseSettings(url=f"sqlite:///{path}"))

    async def prepare() -> None:
        await upgrade(engine)
        async with session_factory(engine)() as db:
            await seed(db, policy=False)

    loop.run_until_complete(prepare())
    yield loop, engine
    loop.run_until_complete(engine.dispose())
    loop.close()


def _import(store: tuple[asyncio.AbstractEventLoop, AsyncEngine], kind: str, text: str) -> None:
    loop, engine = store

    async def run() -> ImportReport | RegistryError:
        async with session_factory(engine)() as db:
            try:
                run = import_employees if kind == "employees" else import_enrollments
                return await run(db, text, "fuzz", dry_run=True)
            except RegistryError as refused:  # the file as a whole (no header, missing columns, unreadable)
                return refused

    outcome = loop.run_until_complete(run())
    if isinstance(outcome, RegistryError):
        assert outcome.message
        return
    for rejected in outcome.rejected:
        assert rejected.row >= 2
        assert rejected.reason
    assert outcome.created + outcome.updated + outcome.unchanged <= outcome.rows


@budget(60)
@given(text=csv_text(EMPLOYEE_HEADER))
@example(f"{EMPLOYEE_HEADER}{BUDI},Budi\x00,BKPSDM,2020-01-01,,9\n")
@example(f"{EMPLOYEE_HEADER}{BUDI},Bu\rdi,BKPSDM,2020-01-01,,9\n")
@example(f"{EMPLOYEE_HEADER}{BUDI},{'x' * 200_000},BKPSDM,2020-01-01,,9\n")
@example(f"{EMPLOYEE_HEADER}{BUDI},Budi,BKPSDM,2020-01-01,,99999999999999999999999\n")
@example(f"{EMPLOYEE_HEADER}{BUDI},Budi,BKPSDM,0001-01-01,9999-12-31,9\n")
@example("\r\r\r")
@example('nip,name\n"unterminated')
def test_employee_csv_is_a_report_or_a_refusal(
    seeded_store: tuple[asyncio.AbstractEventLoop, AsyncEngine], text: str
) -> None:
    _import(seeded_store, "employees", text)


@budget(60)
@given(text=csv_text(ENROLLMENT_HEADER))
@example(f"{ENROLLMENT_HEADER}T1,\x00,{BUDI},2026-01-01,\n")
@example(f"{ENROLLMENT_HEADER}T1,7,{BUDI},2026-01-01,2025-01-01\n")
@example(f"{ENROLLMENT_HEADER}T1,{'9' * 200_000},{BUDI},2026-01-01,\n")
def test_enrollment_csv_is_a_report_or_a_refusal(
    seeded_store: tuple[asyncio.AbstractEventLoop, AsyncEngine], text: str
) -> None:
    _import(seeded_store, "enrollments", text)


def _parsed(result: Parsed[Any]) -> None:
    for error in result.errors:
        assert error.message
        assert isinstance(error.line, int)


@budget(100)
@given(text=csv_text("date,name,kind\n"))
@example("date,name,kind\n2026-01-01,Tahun\x00Baru,libur_nasional\n")
@example("date,name,kind\n2026-01-01,Tahun\rBaru,libur_nasional\n")
@example(f"date,name,kind\n2026-01-01,{'x' * 200_000},libur_nasional\n")
def test_holiday_csv_is_parsed_or_reported(text: str) -> None:
    _parsed(parse_holidays_csv(text))


@budget(100)
@given(text=csv_text("id,nip,date,start,end,description,rhk_ref,norm_minutes,volume\n"))
@example(
    f"id,nip,date,start,end,description,rhk_ref,norm_minutes,volume\n1,{BUDI},2026-11-02,08:00,09:00,a\rb,R,60,99999999999999999999999\n"
)
def test_activity_csv_is_parsed_or_reported(text: str) -> None:
    _parsed(parse_activities_csv(text))
