"""Recompute benchmark: one month of attendance days for many employees under the TL/PSW preset.

The store is generated fast and outside the timing (bulk driver-level inserts: SQLite ``executemany``,
PostgreSQL ``COPY``): units under one root on the national five-day week, one terminal per unit, each employee
enrolled once, the tlpsw-standard policy active, and October 2026 (22 working days) of punches drawn from a fixed
seed: mostly on time, some late or early by every tier, double presses, missing check-outs, TK days, a few
punches the edge flagged, and a three-day approved cuti for one employee in a hundred. About 44 punches an
employee, so 50,000 employees are about 2.2 million punches.

Then ``recompute_range`` runs over the month twice in a fresh process each: the first run computes every day
(all inserts), the second finds nothing changed (every day skipped by its inputs hash). Reported: cumulative
seconds at each 10,000 employees, days/s, and peak RSS of the recompute process and of its worker processes.
On PostgreSQL the generated tables are vacuumed and analysed before timing, as autovacuum would have done to a
month of ingested punches.

With ``--month-ops`` each store then times, in a fresh process, what an administrator does with a whole
organisation's month: a policy preview job, the days CSV export and the days XLSX export.

Command: ``python -m bench.run recompute [--employees N] [--stores sqlite,postgres] [--month-ops]`` (PostgreSQL needs
PRESENSI_TEST_POSTGRES_URL or postgresql://postgres@127.0.0.1:5432/test; left out with a note when unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import resource
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bench.bench_hub_ingest import POSTGRES_URL, Store, postgres_reachable

CTX = mp.get_context("spawn")
FIRST, LAST = date(2026, 10, 1), date(2026, 10, 31)
UNITS = 100
STEP = 10_000  # report the cumulative time at every STEP employees
SEED = 20261001
ACTOR = "bench"
PRESET = Path(__file__).resolve().parents[1] / "hub/attendance/presets/tlpsw-standard.yaml"


@dataclass
class Generated:
    employees: int
    punches: int
    absences: int
    seconds: float


@dataclass
class Timed:
    seconds: float
    employees: int
    days: int
    inserted: int
    changed: int
    unchanged: int
    marks: list[tuple[int, float]] = field(default_factory=list)  # (employees done, seconds since start)
    rss_mib: float = 0.0
    children_rss_mib: float = 0.0
    cpu_main: float = 0.0  # CPU seconds of the recompute process (user + system), its threads included
    cpu_workers: float = 0.0  # CPU seconds of its worker processes
    load_before: float = 0.0  # 1-minute load average when the run started
    cpu_machine: float = 0.0  # CPU seconds of the whole machine during the run (the store server included)


# --- generation -----------------------------------------------------------------------------------


def nip_of(n: int) -> str:
    return f"19{n:016d}"


def day_punches(rng: random.Random, day: date) -> list[tuple[datetime, str]]:
    """One employee's punches on a working day as (local time, flags): mostly on time, every tier now and then."""
    friday = day.weekday() == 4
    start = datetime.combine(day, datetime.min.time()).replace(hour=7, minute=30)
    end = start.replace(hour=16, minute=30 if friday else 0)
    roll = rng.random()
    if roll < 0.015:
        return []  # TK
    arrive = start - timedelta(minutes=rng.randint(1, 40), seconds=rng.randint(0, 59))
    leave = end + timedelta(minutes=rng.randint(0, 60), seconds=rng.randint(0, 59))
    if roll < 0.07:
        arrive = start + timedelta(minutes=rng.choice([5, 20, 45, 75, 100]), seconds=rng.randint(0, 59))
    elif roll < 0.10:
        leave = end - timedelta(minutes=rng.choice([10, 40, 70, 120]))
    out = [(arrive, "")]
    if roll < 0.12:
        out.append((arrive + timedelta(minutes=1), ""))  # the key pressed twice
    if 0.12 <= roll < 0.13:
        return out  # no check-out
    if 0.13 <= roll < 0.132:
        out.append((arrive - timedelta(hours=3), "clock_drift"))  # flagged by the edge: an exception
    out.append((leave, ""))
    return out


def punch_rows(employees: int) -> tuple[list[tuple[Any, ...]], list[tuple[str, date, date]]]:
    """(terminal, pin, local time, flags) for every punch of the month, and the approved cuti ranges."""
    rng = random.Random(SEED)
    working = [FIRST + timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
    working = [d for d in working if d.weekday() < 5]
    rows: list[tuple[Any, ...]] = []
    cuti: list[tuple[str, date, date]] = []
    for n in range(employees):
        terminal, pin = f"B{n % UNITS:03d}", str(n // UNITS + 1)
        leave_day = rng.randrange(len(working) - 3) if n % 100 == 7 else None
        if leave_day is not None:
            cuti.append((nip_of(n), working[leave_day], working[leave_day + 2]))
        for day in working:
            for local, flags in day_punches(rng, day):
                rows.append((terminal, pin, local, flags))
    return rows, cuti


async def seed_registry(database: dict[str, Any], employees: int) -> None:
    """Units, terminals, the schedule group and the policy through the services (a few hundred writes)."""
    from hub.reconcile import records
    from hub.reconcile.documents import ScheduleGroupDoc
    from hub.registry import service
    from hub.registry.schemas import TerminalIn, UnitIn
    from hub.settings import DatabaseSettings
    from hub.store.db import create_engine, session_factory

    weekday = {"start": "07:30", "end": "16:00", "break_minutes": 60}
    friday = {"start": "07:30", "end": "16:30", "break_minutes": 90}
    group = {"code": "N5", "pattern": {"type": "weekly", "days": [weekday] * 4 + [friday, None, None]}}
    preset = PRESET.read_text()
    engine = create_engine(DatabaseSettings.model_validate(database))
    async with session_factory(engine)() as db:
        await service.create_unit(db, UnitIn(code="PEMDA", name="Pemerintah Daerah"), ACTOR)
        for u in range(UNITS):
            await service.create_unit(db, UnitIn(code=f"OPD{u:03d}", name=f"OPD {u}", parent_code="PEMDA"), ACTOR)
            terminal = TerminalIn(serial=f"B{u:03d}", location=f"OPD {u}", zone="Asia/Jakarta")
            await service.create_terminal(db, terminal, ACTOR)
        await records.put_schedule_group(db, ScheduleGroupDoc.model_validate(group), ACTOR)
        await records.assign_schedule(db, records.AssignmentIn(group_code="N5", unit_code="PEMDA"), ACTOR)
        await records.upload_policy(db, preset, "yaml", ACTOR, activate=True)
        await db.commit()
    await engine.dispose()


def _registry_rows(employees: int, unit_ids: dict[str, int], now: datetime) -> tuple[list[Any], list[Any]]:
    people = [
        (nip_of(n), f"Pegawai {n}", unit_ids[f"OPD{n % UNITS:03d}"], 9, None, date(2020, 1, 1), None, now, now)
        for n in range(employees)
    ]
    enrolled = [
        (f"B{n % UNITS:03d}", str(n // UNITS + 1), nip_of(n), date(2026, 1, 1), None, now, now)
        for n in range(employees)
    ]
    return people, enrolled


EMPLOYEE_COLUMNS = "nip, name, unit_id, job_class, schedule_group, active_from, active_to, created_at, updated_at"
ENROLLMENT_COLUMNS = "terminal_sn, pin, nip, valid_from, valid_to, created_at, updated_at"
PUNCH_COLUMNS = (
    "key, terminal_sn, pin, local_time, local_date, zone, utc, status, punch, verify, workcode, read_at, flags, "
    "historical, edge_id, batch_id, received_at"
)
ABSENCE_COLUMNS = "nip, kind, first, last, status, reference, created_by, created_at, updated_at"


def _punch_tuple(row: tuple[Any, ...], received: datetime) -> tuple[Any, ...]:
    terminal, pin, local, flags = row
    utc = (local - timedelta(hours=7)).replace(tzinfo=UTC)
    key = f"{terminal}|{pin}|{local:%Y%m%dT%H%M%S}|0"
    return (key, terminal, pin, local, local.date(), "Asia/Jakarta", utc, 0, 1, 1, 0, received, flags, False,
            f"edge-{terminal}", f"edge-{terminal}:1:000001", received)  # fmt: skip


def generate_sqlite(path: Path, employees: int) -> tuple[int, int]:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    unit_ids = dict(connection.execute("SELECT code, id FROM units").fetchall())
    now = datetime.now(UTC)

    def text(moment: datetime) -> str:  # the forms the ORM reads back (see hub.store.types)
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    people, enrolled = _registry_rows(employees, unit_ids, now)
    with connection:
        connection.executemany(
            f"INSERT INTO employees ({EMPLOYEE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
            [(*p[:5], p[5].isoformat(), None, text(now), text(now)) for p in people],
        )
        connection.executemany(
            f"INSERT INTO enrollments ({ENROLLMENT_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
            [(*e[:3], e[3].isoformat(), None, text(now), text(now)) for e in enrolled],
        )
    rows, cuti = punch_rows(employees)
    received = text(now)
    with connection:
        for start in range(0, len(rows), 200_000):
            chunk = []
            for row in rows[start : start + 200_000]:
                p = _punch_tuple(row, now)
                local = p[3].isoformat(" ", "microseconds")
                chunk.append((p[0], p[1], p[2], local, local[:10], p[5], text(p[6]), *p[7:11], received, p[12], 0,
                              p[14], p[15], received))  # fmt: skip
            connection.executemany(f"INSERT INTO punches ({PUNCH_COLUMNS}) VALUES ({','.join('?' * 17)})", chunk)
        connection.executemany(
            f"INSERT INTO absences ({ABSENCE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (nip, "CT", a.isoformat(), b.isoformat(), "approved", "SK cuti", ACTOR, received, received)
                for nip, a, b in cuti
            ],
        )
    connection.execute("ANALYZE")
    connection.close()
    return len(rows), len(cuti)


async def generate_postgres(schema: str, employees: int) -> tuple[int, int]:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_URL, server_settings={"search_path": schema})
    try:
        unit_ids = {r["code"]: r["id"] for r in await connection.fetch("SELECT code, id FROM units")}
        now = datetime.now(UTC)
        people, enrolled = _registry_rows(employees, unit_ids, now)
        await connection.copy_records_to_table("employees", records=people, columns=EMPLOYEE_COLUMNS.split(", "))
        await connection.copy_records_to_table("enrollments", records=enrolled, columns=ENROLLMENT_COLUMNS.split(", "))
        rows, cuti = punch_rows(employees)
        for start in range(0, len(rows), 200_000):
            chunk = [_punch_tuple(row, now) for row in rows[start : start + 200_000]]
            await connection.copy_records_to_table("punches", records=chunk, columns=PUNCH_COLUMNS.split(", "))
        await connection.copy_records_to_table(
            "absences",
            records=[(nip, "CT", a, b, "approved", "SK cuti", ACTOR, now, now) for nip, a, b in cuti],
            columns=ABSENCE_COLUMNS.split(", "),
        )
        # What autovacuum does to a month of ingested punches long before month end (this machine's server runs
        # with autovacuum off): statistics, and hint bits set, so that the timed recompute is not the first
        # reader of two million freshly copied rows (it would write every page back: 60.6 s instead of ~52 s).
        await connection.execute("VACUUM (ANALYZE) employees, enrollments, punches, absences")
    finally:
        await connection.close()
    return len(rows), len(cuti)


def _generate(kind: str, database: dict[str, Any], schema: str, employees: int, out: Any) -> None:
    started = time.perf_counter()
    asyncio.run(seed_registry(database, employees))
    if kind == "sqlite":
        punches, absences = generate_sqlite(Path(urlparse(database["url"]).path), employees)
    else:
        punches, absences = asyncio.run(generate_postgres(schema, employees))
    out.put(Generated(employees, punches, absences, time.perf_counter() - started))


# --- the timed recompute --------------------------------------------------------------------------


def _machine_cpu() -> float:
    """CPU seconds spent by every process on the machine so far (user + system + nice), from /proc/stat."""
    import psutil

    times = psutil.cpu_times()
    return float(times.user + times.system + times.nice)


def _recompute(database: dict[str, Any], out: Any) -> None:

    from hub.reconcile.service import recompute_range
    from hub.settings import DatabaseSettings
    from hub.store.db import create_engine, session_factory

    async def main() -> Timed:
        engine = create_engine(DatabaseSettings.model_validate(database))
        marks: list[tuple[int, float]] = []
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            if done // STEP > (marks[-1][0] // STEP if marks else 0) or done == total:
                marks.append((done, time.perf_counter() - started))

        machine_before = _machine_cpu()
        async with session_factory(engine)() as db:
            stats = await recompute_range(db, FIRST, LAST, progress=progress)
        seconds = time.perf_counter() - started
        await engine.dispose()
        timed = Timed(seconds, stats.employees, stats.days, stats.inserted, stats.changed, stats.unchanged, marks)
        timed.cpu_machine = _machine_cpu() - machine_before
        return timed

    load_before = os.getloadavg()[0]
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    timed = asyncio.run(main())
    me_after, children_after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    timed.rss_mib = me_after.ru_maxrss / 1024
    timed.children_rss_mib = children_after.ru_maxrss / 1024
    timed.cpu_main = me_after.ru_utime + me_after.ru_stime - me.ru_utime - me.ru_stime
    timed.cpu_workers = children_after.ru_utime + children_after.ru_stime - children.ru_utime - children.ru_stime
    timed.load_before = load_before
    out.put(timed)


@dataclass
class MonthOps:
    """Whole-organisation operations on the recomputed month (``--month-ops``), in one fresh process."""

    preview_seconds: float
    preview_employees: int
    csv_seconds: float
    csv_bytes: int
    xlsx_seconds: float
    xlsx_bytes: int
    xlsx_sheets: int
    rss_mib: float = 0.0


def _month_ops(database: dict[str, Any], out: Any) -> None:
    from openpyxl import load_workbook
    from sqlalchemy import select

    from hub.feed import exports
    from hub.reconcile.preview_jobs import PreviewJobs
    from hub.settings import DatabaseSettings
    from hub.store.db import create_engine, session_factory
    from hub.store.models import PolicyRow

    async def main() -> MonthOps:
        engine = create_engine(DatabaseSettings.model_validate(database))
        sessions = session_factory(engine)
        month = f"{FIRST:%Y-%m}"
        async with sessions() as db:
            policy = (await db.execute(select(PolicyRow.id))).scalars().first()
            assert policy is not None
            started = time.perf_counter()
            job = await PreviewJobs(sessions).start(db, policy, FIRST.year, FIRST.month, None, ACTOR)
        assert job.task is not None
        await job.task
        assert job.status == "done", job.error
        preview = time.perf_counter() - started
        async with sessions() as db:
            query = await exports.days_query(db, month)
            started = time.perf_counter()
            size = sum([len(chunk) async for chunk in exports.days_csv(db, query)])
            csv_seconds = time.perf_counter() - started
            started = time.perf_counter()
            path = await exports.days_xlsx(db, query, month)
            xlsx_seconds = time.perf_counter() - started
        sheets = len(load_workbook(path, read_only=True).sheetnames)
        ops = MonthOps(preview, job.done, csv_seconds, size, xlsx_seconds, path.stat().st_size, sheets)
        path.unlink()
        await engine.dispose()
        return ops

    ops = asyncio.run(main())
    ops.rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put(ops)


def _in_process(target: Any, *args: Any) -> Any:
    out = CTX.Queue()
    process = CTX.Process(target=target, args=(*args, out))
    process.start()
    result = out.get(timeout=3600)
    process.join(60)
    if process.exitcode != 0:
        raise RuntimeError(f"{target.__name__} exited with {process.exitcode}")
    return result


@dataclass
class StoreRun:
    kind: str
    generated: Generated
    first: Timed
    second: Timed
    load: float
    speed: tuple[float, float] = (0.0, 0.0)  # the reference loop's seconds before and after the runs
    month_ops: MonthOps | None = None


def reference_seconds() -> float:
    """A fixed pure-Python workload (best of three): the host's speed at the time, since this VM's fell by half
    for hours on the same day (lower is faster). Recompute's CPU seconds scale with it."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        found: dict[int, tuple[int, str]] = {}
        for n in range(400_000):
            found[n % 1000] = (n * n, f"{n}:{n % 7}")
        best = min(best, time.process_time() - started)
    return best


def settle(kind: str) -> None:
    """Let the previous step's writes reach the disk before a timed run, so that a run is not charged with the
    write-back of the generated store (a gigabyte of punches) or the previous run: ``sync``, and a PostgreSQL
    ``CHECKPOINT`` (the server then starts the run with no dirty buffers)."""
    os.sync()
    if kind == "postgres":
        import asyncpg

        async def checkpoint() -> None:
            connection = await asyncpg.connect(POSTGRES_URL)
            try:
                await connection.execute("CHECKPOINT")
            finally:
                await connection.close()

        asyncio.run(checkpoint())
        os.sync()
    time.sleep(2)


def bench_store(kind: str, employees: int, month_ops: bool = False) -> StoreRun:
    with Store(kind) as store:
        generated = _in_process(_generate, kind, store.database, store.schema, employees)
        speed_before = reference_seconds()
        print(f"  {kind}: generated {generated.punches:,} punches in {generated.seconds:.1f} s", flush=True)
        settle(kind)
        first = _in_process(_recompute, store.database)
        print(f"  {kind}: first recompute {first.seconds:.1f} s ({first.days:,} days)", flush=True)
        settle(kind)
        second = _in_process(_recompute, store.database)
        print(f"  {kind}: second recompute {second.seconds:.1f} s ({second.unchanged:,} unchanged)", flush=True)
        run = StoreRun(kind, generated, first, second, os.getloadavg()[0], (speed_before, reference_seconds()))
        if month_ops:
            run.month_ops = _in_process(_month_ops, store.database)
            print(f"  {kind}: month operations {run.month_ops}", flush=True)
        return run


def _marks(t: Timed) -> str:
    return ", ".join(f"{done // 1000}k: {seconds:.1f} s" for done, seconds in t.marks)


def report(runs: list[StoreRun], employees: int, skipped: list[str], command: str) -> str:
    lines = [
        "### Recompute one month (TL/PSW preset)",
        "",
        f"{employees:,} employees in {UNITS} units on the national five-day week, one terminal per unit, "
        f"{FIRST:%B %Y} ({FIRST.isoformat()}..{LAST.isoformat()}, 22 working days); every day of the month is "
        "evaluated and stored (weekends as `off`). Generation is bulk driver-level inserts, not timed. "
        "Each recompute runs `recompute_range` over the month in a fresh process on a fresh engine; the second "
        "run has nothing to change.",
        "",
        "| store | punches | generation | run | seconds | days | days/s | inserted / changed / unchanged "
        "| CPU s (recompute process / its workers / whole machine) | peak RSS (main / workers) | load avg at start |",
        "|---|---:|---:|---|---:|---:|---:|---|---|---|---:|",
    ]
    for r in runs:
        for label, t in (("first (all new)", r.first), ("second (no change)", r.second)):
            lines.append(
                f"| {r.kind} | {r.generated.punches:,} | {r.generated.seconds:.0f} s | {label} | {t.seconds:.1f} | "
                f"{t.days:,} | {t.days / t.seconds:,.0f} | {t.inserted:,} / {t.changed:,} / {t.unchanged:,} | "
                f"{t.cpu_main:.1f} / {t.cpu_workers:.1f} / {t.cpu_machine:.1f} | "
                f"{t.rss_mib:.0f} / {t.children_rss_mib:.0f} MiB | {t.load_before:.1f} |"
            )
    for kind in skipped:
        lines.append(f"| {kind} | - | - | not run: {POSTGRES_URL} unreachable | - | - | - | - | - | - | - |")
    lines += ["", "Cumulative seconds by employees done (growth per 10,000):", ""]
    for r in runs:
        lines.append(f"- {r.kind}, first run: {_marks(r.first)}")
        lines.append(f"- {r.kind}, second run: {_marks(r.second)}")
        lines.append(f"- {r.kind}: load average (1 min) after its runs: {r.load:.1f}")
        lines.append(
            f"- {r.kind}: host speed, a reference loop of pure Python before / after its runs: "
            f"{r.speed[0]:.3f} / {r.speed[1]:.3f} s (lower is faster)"
        )
    ops = [(r.kind, r.month_ops) for r in runs if r.month_ops is not None]
    if ops:
        lines += [
            "",
            "Whole-organisation operations on the recomputed month (`--month-ops`, one fresh process per store): "
            "a policy preview job (every employee recapped under the active policy and the candidate, here the "
            "active version itself), the days CSV export (streamed) and the days XLSX export (a temporary file, "
            "a sheet per 1,048,575 days).",
            "",
            "| store | preview job | days CSV | days XLSX | peak RSS |",
            "|---|---:|---:|---:|---:|",
        ]
        for kind, o in ops:
            lines.append(
                f"| {kind} | {o.preview_seconds:.1f} s ({o.preview_employees:,} employees) | "
                f"{o.csv_seconds:.1f} s ({o.csv_bytes / 1e6:.0f} MB) | "
                f"{o.xlsx_seconds:.1f} s ({o.xlsx_bytes / 1e6:.0f} MB, {o.xlsx_sheets} sheets) | {o.rss_mib:.0f} MiB |"
            )
    lines += [
        "",
        "How it runs: batches of 1,000 employees handed to two worker processes; each worker loads a batch's "
        "inputs and stored hashes as plain rows, evaluates (skipping every day whose inputs hash is unchanged), "
        "and writes the batch in one transaction on its own connection (SQLite: one upsert, the workers taking "
        "turns; PostgreSQL: `COPY` of the new days and their feed records). The recompute process only hands "
        "out batches, so its CPU is near zero; the whole machine's CPU seconds include the PostgreSQL server. "
        "Before each timed run the generated store is written back to disk (`sync`, and a `CHECKPOINT` on "
        "PostgreSQL), so that a run is not charged with the previous step's writes.",
        "",
        "Target (issue 5): one month for 50,000 employees in under 60 s on SQLite and on PostgreSQL. The "
        "machine's two cores are shared with other jobs: the load average shows how busy it was, and CPU seconds "
        "(the whole machine's, the PostgreSQL server included) are the steadier figure of the recompute's cost.",
        "",
        f"Command: `{command}`",
    ]
    return "\n".join(lines)


def run(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m bench.run recompute")
    parser.add_argument("--employees", type=int, default=50_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument(
        "--month-ops",
        action="store_true",
        help="then time a whole-organisation policy preview job and the days CSV and XLSX exports (minutes more)",
    )
    args = parser.parse_args(argv or [])
    wanted = args.stores.split(",")
    kinds = [k for k in wanted if k == "sqlite" or postgres_reachable()]
    runs = [bench_store(kind, args.employees, args.month_ops) for kind in kinds]
    command = "python -m bench.run recompute" + (f" {' '.join(argv)}" if argv else "")
    return report(runs, args.employees, [k for k in wanted if k not in kinds], command)


if __name__ == "__main__":
    import sys

    print(run(sys.argv[1:]))
