"""Exceptions list, policy preview and the e-Kinerja activity CSV import at a size an office of a regency has.

1,000 employees on the national five-day week under the TL/PSW preset, November 2026 (21 working days): two
punches a working day each (a tenth of them late), every 50th employee's punches flagged, PINs 90000+ nobody's,
the month recomputed first. Then timed: ``GET /exceptions``' function for the month (first page of 100 and its
totals), ``preview_policy`` for the month (every employee, twice recapped), and an activity CSV of 5,000 rows
(dry run, real run, idempotent re-run).

``python -m bench.run attend``
"""

import asyncio
import os
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.bench_hub_ingest import Store, postgres_reachable

EMPLOYEES = 1_000
ACTIVITY_ROWS = 5_000
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


def _nip(n: int) -> str:
    return f"19800101200501{1 + n // 1000}{n % 1000:03d}"  # gender digit 1 or 2, then a sequence


async def _seed(engine: Any) -> int:
    from hub.reconcile import records
    from hub.reconcile.documents import ScheduleGroupDoc
    from hub.registry import service
    from hub.registry.schemas import TerminalIn, UnitIn
    from hub.store.db import session_factory
    from hub.store.models import Employee, Enrollment
    from presensi.contract import PunchFlag
    from tests.hub.attendance_kit import NATIONAL_FIVE_DAY, deliver_records, preset_text
    from tests.hub.hub_testkit import punch

    now = datetime.now(UTC)
    async with session_factory(engine)() as db:
        unit = await service.create_unit(db, UnitIn(code="DINAS", name="Dinas"), "bench")
        await service.create_terminal(db, TerminalIn(serial="T1", location="Lobi", zone="Asia/Jakarta"), "bench")
        for n in range(EMPLOYEES):
            db.add(
                Employee(
                    nip=_nip(n),
                    name=f"P{n}",
                    unit_id=unit.id,
                    job_class=9,
                    active_from=date(2020, 1, 1),
                    created_at=now,
                    updated_at=now,
                )
            )
        await db.flush()
        for n in range(EMPLOYEES):
            db.add(
                Enrollment(
                    terminal_sn="T1",
                    pin=str(n),
                    nip=_nip(n),
                    valid_from=date(2026, 1, 1),
                    created_at=now,
                    updated_at=now,
                )
            )
        await db.commit()
        await records.put_schedule_group(db, ScheduleGroupDoc.model_validate(NATIONAL_FIVE_DAY), "bench")
        await records.assign_schedule(db, records.AssignmentIn(group_code="N5", unit_code="DINAS"), "bench")
        await records.upload_policy(db, preset_text(), "yaml", "bench", activate=True)
    records_out = []
    day = NOVEMBER[0]
    while day <= NOVEMBER[1]:
        if day.weekday() < 5:
            for n in range(EMPLOYEES):
                late = 20 if n % 10 == day.day % 10 else 0
                arrive = datetime.combine(day, datetime.min.time()) + timedelta(hours=7, minutes=25 + late)
                leave = datetime.combine(day, datetime.min.time()) + timedelta(hours=16, minutes=35)
                for at in (arrive, leave):
                    record = punch("T1", str(n), at)
                    if n % 50 == 0 and at == arrive:
                        record = record.model_copy(update={"flags": (PunchFlag.CLOCK_DRIFT,)})
                    records_out.append(record)
            records_out.append(punch("T1", str(90_000 + day.day), datetime.combine(day, datetime.min.time())))
        day += timedelta(days=1)
    for start in range(0, len(records_out), 5_000):
        await deliver_records(engine, records_out[start : start + 5_000])
    return len(records_out)


def _activities_csv() -> str:
    lines = ["id,nip,date,start,end,description,rhk_ref,norm_minutes,volume"]
    for i in range(ACTIVITY_ROWS):
        n, day = i % EMPLOYEES, 2 + (i // EMPLOYEES)
        lines.append(f"EK-{i},{_nip(n)},2026-11-{day:02d},08:00,10:00,Menyusun laporan,RHK-1,60,2")
    return "\n".join(lines) + "\n"


async def _measure(database: dict[str, Any]) -> dict[str, float | int]:
    from hub.reconcile import records
    from hub.reconcile.activity_import import import_activities
    from hub.reconcile.exceptions import list_exceptions
    from hub.reconcile.preview import preview_policy
    from hub.reconcile.service import recompute_range
    from hub.settings import DatabaseSettings
    from hub.store.db import create_engine, session_factory
    from tests.hub.attendance_kit import preset_text

    figures: dict[str, float | int] = {}
    engine = create_engine(DatabaseSettings.model_validate(database))
    try:
        figures["punches"] = await _seed(engine)
        sessions = session_factory(engine)
        async with sessions() as db:
            started = time.perf_counter()
            stats = await recompute_range(db, *NOVEMBER)
            figures["recompute_s"] = time.perf_counter() - started
            figures["days"] = stats.days
        async with sessions() as db:
            started = time.perf_counter()
            page = await list_exceptions(db, first=NOVEMBER[0], last=NOVEMBER[1])
            figures["exceptions_s"] = time.perf_counter() - started
            figures["exceptions"] = page.total
        candidate = preset_text().replace("\nversion: 1", "\nversion: 2")
        async with sessions() as db:
            row_id = (await records.upload_policy(db, candidate, "yaml", "bench", activate=False)).id
        async with sessions() as db:
            started = time.perf_counter()
            preview = await preview_policy(db, row_id, 2026, 11)
            figures["preview_s"] = time.perf_counter() - started
            figures["preview_compared"] = preview.totals.compared
        text = _activities_csv()
        for label, dry_run in (("import_dry_s", True), ("import_apply_s", False), ("import_again_s", False)):
            async with sessions() as db:
                started = time.perf_counter()
                report = await import_activities(db, text, "bench", dry_run=dry_run)
                figures[label] = time.perf_counter() - started
                assert not report.rejected, report.rejected[:3]
    finally:
        await engine.dispose()
    return figures


def run() -> str:
    kinds = ["sqlite"] + (["postgres"] if postgres_reachable() else [])
    load = os.getloadavg()[0]  # the machine is shared: figures under load are not the machine's best
    rows = []
    for kind in kinds:
        with Store(kind) as store:
            f = asyncio.run(_measure(store.database))
        per_row_ms = 1000 * f["import_apply_s"] / ACTIVITY_ROWS
        rows.append(
            f"| {kind} | {f['days']:,} days in {f['recompute_s']:.1f} s | {f['exceptions']:,} in "
            f"{f['exceptions_s']:.2f} s | {f['preview_compared']:,} employees in {f['preview_s']:.1f} s | "
            f"{f['import_dry_s']:.1f} / {f['import_apply_s']:.1f} ({per_row_ms:.2f} ms a row) / "
            f"{f['import_again_s']:.1f} s |"
        )
    return "\n".join(
        [
            "## Exceptions, policy preview, activity CSV import",
            "",
            "`python -m bench.run attend`: 1,000 employees, November 2026 (21 working days, two punches a day each, "
            "a tenth late, every 50th employee's check-ins flagged, one unmatched PIN a day), TL/PSW preset. "
            "Recompute of the month first (for context: the recompute's own speed is another section); then "
            "`list_exceptions` for the month (totals of all six kinds + the first page of 100), "
            f"`preview_policy` for the month, and an e-Kinerja CSV of {ACTIVITY_ROWS:,} activity rows "
            "(dry run / real run / the same file again).",
            "",
            f"Load average (1 min) when the run started: {load:.1f} on {os.cpu_count()} cores.",
            "",
            "| store | recompute | exceptions (total, time) | preview | activity import dry / apply / again |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
