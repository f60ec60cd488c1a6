"""The registry: NIP structure, CSV import with its dry run, enrollments and retroactive attribution."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from hub.ingest.classify import Delivery, classify
from hub.ingest.commit import Received, commit_received
from hub.punches import search_punches
from hub.registry import csv_import, service
from hub.registry.errors import Conflict
from hub.registry.nip import NipError, parse_nip
from hub.registry.schemas import EmployeeIn, EnrollmentIn, EnrollmentPatch, TerminalIn, UnitIn
from hub.store.db import session_factory
from hub.store.models import AuditEntry, Employee
from tests.hub.hub_testkit import batch, punch

TODAY = date(2026, 11, 23)
BUDI = "198705122015031002"
SITI = "199011032019022001"


# --- NIP ------------------------------------------------------------------------------------------


def test_valid_nip_is_split_into_its_parts() -> None:
    nip = parse_nip(BUDI, today=TODAY)
    assert (nip.birth_date, nip.appointed, nip.gender, nip.sequence) == (date(1987, 5, 12), (2015, 3), "male", 2)
    assert parse_nip(SITI, today=TODAY).gender == "female"


@pytest.mark.parametrize(
    ("nip", "reason"),
    [
        ("19870512201503100", "exactly 18 digits"),
        ("1987051220150310021", "exactly 18 digits"),
        ("19870512201503100A", "exactly 18 digits"),
        ("198702302015031002", "birth date 19870230 (digits 1-8) is not a valid"),
        ("188705122015031002", "not plausible"),
        ("202801012015031002", "not plausible"),
        ("198705122015131002", "appointment 201513 (digits 9-14) is not a valid YYYYMM"),
        ("198705122015001002", "appointment 201500"),
        ("198705121980031002", "is not after birth"),
        ("198705122031031002", "in the future"),
        ("198705122015033002", "gender digit (15th) must be 1 (male) or 2 (female), got 3"),
        ("198705122015030002", "got 0"),
    ],
)
def test_invalid_nip_is_refused_naming_the_wrong_part(nip: str, reason: str) -> None:
    with pytest.raises(NipError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_nip(nip, today=TODAY)


# --- registry on both stores ----------------------------------------------------------------------


async def seed(db: AsyncSession) -> None:
    await service.create_unit(db, UnitIn(code="PEMDA", name="Pemerintah Kabupaten"), "test")
    await service.create_unit(db, UnitIn(code="BKPSDM", name="BKPSDM", parent_code="PEMDA"), "test")
    await service.create_unit(db, UnitIn(code="BKPSDM-MUT", name="Bidang Mutasi", parent_code="BKPSDM"), "test")
    await service.create_terminal(db, TerminalIn(serial="T1", location="Lobi", zone="Asia/Jakarta"), "test")
    for nip, name, unit in ((BUDI, "Budi", "BKPSDM-MUT"), (SITI, "Siti", "PEMDA")):
        await service.create_employee(
            db, EmployeeIn(nip=nip, name=name, unit_code=unit, active_from=date(2015, 3, 1)), "test"
        )


async def store_punches(engine: AsyncEngine, *punches_: object) -> None:
    payload = batch("edge-a", 1, list(punches_)).model_dump_json().encode()  # type: ignore[arg-type]
    delivery = Delivery("presensi/v1/edge/edge-a/punches", payload, 1, 1, False, datetime.now(UTC))
    await commit_received(engine, [Received(delivery, classify(delivery))], "test")


async def test_adding_an_enrollment_attributes_stored_punches_retroactively(engine: AsyncEngine) -> None:
    day1, day2 = datetime(2026, 11, 2, 7, 10), datetime(2026, 11, 20, 7, 5)
    await store_punches(engine, punch("T1", "42", day1), punch("T1", "42", day2), punch("T1", "77", day1))
    async with session_factory(engine)() as db:
        await seed(db)
        unmatched = await search_punches(db, unmatched=True)
        assert unmatched.total == 3
        assert all(p.nip is None for p in unmatched.items)

        # PIN 42 was Budi's until 10 November, then reused for Siti.
        await service.create_enrollment(
            db,
            EnrollmentIn(
                terminal_sn="T1", pin="42", nip=BUDI, valid_from=date(2026, 1, 1), valid_to=date(2026, 11, 10)
            ),
            "op",
        )
        await service.create_enrollment(
            db, EnrollmentIn(terminal_sn="T1", pin="42", nip=SITI, valid_from=date(2026, 11, 11)), "op"
        )
        unmatched = await search_punches(db, unmatched=True)
        assert [(p.pin, p.local_time) for p in unmatched.items] == [("77", day1)]
        budi = await search_punches(db, nip=BUDI)
        assert [(p.local_time, p.employee_name) for p in budi.items] == [(day1, "Budi")]
        siti = await search_punches(db, nip=SITI)
        assert [p.local_time for p in siti.items] == [day2]
        # By unit: BKPSDM includes its sub-unit BKPSDM-MUT (Budi); PEMDA is the whole tree.
        assert (await search_punches(db, unit_code="BKPSDM")).total == 1
        assert (await search_punches(db, unit_code="PEMDA")).total == 2
        # Correcting the validity moves the punch back to the unmatched list.
        budi_enrollment = (await service.list_enrollments(db, nip=BUDI))[0]
        await service.update_enrollment(db, budi_enrollment.id, EnrollmentPatch(valid_from=date(2026, 11, 5)), "op")
        assert (await search_punches(db, unmatched=True)).total == 2


async def test_overlapping_enrollment_of_a_pin_is_refused(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as db:
        await seed(db)
        await service.create_enrollment(
            db, EnrollmentIn(terminal_sn="T1", pin="42", nip=BUDI, valid_from=date(2026, 1, 1)), "op"
        )
        with pytest.raises(Conflict, match="already enrolled"):
            await service.create_enrollment(
                db, EnrollmentIn(terminal_sn="T1", pin="42", nip=SITI, valid_from=date(2026, 6, 1)), "op"
            )


async def test_punch_search_filters_by_terminal_and_time_and_pages(engine: AsyncEngine) -> None:
    base = datetime(2026, 11, 23, 7, 0)
    await store_punches(
        engine, *(punch("T1" if i % 2 else "T2", str(i), base + timedelta(minutes=i)) for i in range(10))
    )
    async with session_factory(engine)() as db:
        since = datetime(2026, 11, 23, 0, 2, tzinfo=UTC)  # 07:02 WIB
        until = datetime(2026, 11, 23, 0, 8, tzinfo=UTC)
        page = await search_punches(db, terminal_sn="T1", since=since, until=until, limit=2, offset=1)
    assert page.total == 3  # 07:03, 07:05, 07:07 on T1
    assert [p.pin for p in page.items] == ["5", "7"]


EMPLOYEES_CSV = f"""nip;nama;kode_unit;kelas_jabatan;tmt;aktif_sampai
{BUDI};Budi Santoso;BKPSDM;9;01/03/2015;
199011032019022001;Siti Aminah;BKPSDM;18;2019-02-01;
123;Tanpa NIP;BKPSDM;;2019-02-01;
198202142010011003;Unit Hilang;DINKES;5;2010-01-01;
198202142010011003;Ganda;BKPSDM;5;2010-01-01;
199501012020121004;Tanggal Salah;BKPSDM;5;31/02/2020;
197001012000011005;Selesai Dulu;BKPSDM;5;2000-01-01;1999-12-31
197805202005012006;Dewi Lestari;BKPSDM;7;2005-01-01;
"""


async def test_employee_csv_dry_run_lists_every_rejected_row_and_changes_nothing(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as db:
        await service.create_unit(db, UnitIn(code="BKPSDM", name="BKPSDM"), "test")
        report = await csv_import.import_employees(db, EMPLOYEES_CSV, "op", dry_run=True)
        assert report.dry_run
        assert (report.rows, report.created, report.updated) == (8, 2, 0)
        rejected = [(r.row, r.column, r.reason) for r in report.rejected]
        assert rejected == [
            (3, "job_class", "Input should be less than or equal to 17"),
            (4, "nip", "NIP must be exactly 18 digits, got 3 characters (3 digits)"),
            (5, "unit_code", "no unit with code 'DINKES'"),
            (6, "nip", "NIP also on row 5 of this file"),
            (7, "active_from", "not a date (YYYY-MM-DD, DD/MM/YYYY or DD-MM-YYYY)"),
            (8, None, "active_to is before active_from"),
        ]
        assert (await db.execute(select(Employee))).first() is None

        applied = await csv_import.import_employees(db, EMPLOYEES_CSV, "op", dry_run=False)
        assert applied.rejected == report.rejected
        assert applied.created == 2
        stored = {e.nip: e for e in (await db.execute(select(Employee))).scalars()}
        assert set(stored) == {BUDI, "197805202005012006"}
        assert stored[BUDI].active_from == date(2015, 3, 1)
        assert stored[BUDI].job_class == 9
        audited = (await db.execute(select(AuditEntry).where(AuditEntry.entity == "employee"))).scalars().all()
        assert sorted(a.entity_key for a in audited) == sorted(stored)
        assert all(a.actor == "op" and a.action == "create" and a.before is None for a in audited)

        again = await csv_import.import_employees(db, EMPLOYEES_CSV, "op", dry_run=False)
        assert (again.created, again.unchanged) == (0, 2)


async def test_enrollment_csv_import_reports_unknown_references_and_overlaps(engine: AsyncEngine) -> None:
    text = f"""terminal_sn,pin,nip,valid_from,valid_to
T1,42,{BUDI},2026-01-01,2026-06-30
T1,42,{SITI},2026-06-01,
T9,43,{BUDI},2026-01-01,
T1,44,198202142010011003,2026-01-01,
T1,45,{SITI},2026-07-01,
"""
    async with session_factory(engine)() as db:
        await seed(db)
        report = await csv_import.import_enrollments(db, text, "op", dry_run=True)
        assert report.created == 2
        assert [(r.row, r.column) for r in report.rejected] == [(3, "valid_from"), (4, "terminal_sn"), (5, "nip")]
        assert await service.list_enrollments(db) == []
