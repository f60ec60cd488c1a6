"""The outbox alone at the scale of issue 5: ``enqueue_daily`` for BATCHES batches of 1,000 employees x 31 days
(recompute's batch shape), each committed, on a store holding those employees; prints the time per day.

Not part of ``make bench`` (it measures one function, bench_recompute measures the whole): run it as
``python -m bench.outbox_scale sqlite|postgres [BATCHES]`` (50 batches = 50,000 employees, 1.55 M days).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bench import bench_feed
from hub.feed import outbox
from hub.store.db import session_factory

BATCH, DAYS = 1000, 31


def _nip(n: int) -> str:
    return f"1990010120{n:08d}"


async def measure(kind: str, batches: int) -> None:
    bench_feed.EMPLOYEES = 1  # the store, its unit and policy; the employees are inserted below
    with tempfile.TemporaryDirectory() as folder:
        async with bench_feed._store(kind, Path(folder)) as engine:
            created = datetime(2026, 1, 1, tzinfo=UTC) if kind == "postgres" else "2026-01-01 00:00:00.000000"
            async with engine.begin() as conn:
                unit = (await conn.execute(text("SELECT id FROM units"))).scalar_one()
                await conn.execute(
                    text(
                        "INSERT INTO employees (nip, name, unit_id, job_class, active_from, created_at, updated_at) "
                        "VALUES (:nip, 'x', :unit, 9, :since, :created, :created)"
                    ),
                    [
                        {"nip": _nip(n), "unit": unit, "since": date(2020, 1, 1), "created": created}
                        for n in range(batches * BATCH)
                    ],
                )
            total = 0.0
            for b in range(batches):
                rows = [
                    outbox.ChangedDay(_nip(n), date(2026, 10, 1) + timedelta(d), 1)
                    for n in range(b * BATCH, (b + 1) * BATCH)
                    for d in range(DAYS)
                ]
                async with session_factory(engine)() as db:
                    started = time.perf_counter()
                    await outbox.enqueue_daily(db, rows)
                    await db.commit()
                    total += time.perf_counter() - started
                if b % 10 == 9 or b == batches - 1:
                    days = (b + 1) * BATCH * DAYS
                    print(f"{kind}: {days:,} days queued in {total:.1f} s ({total / days * 1e6:.1f} us a day)")


if __name__ == "__main__":
    asyncio.run(measure(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50))
