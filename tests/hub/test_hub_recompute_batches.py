"""Recompute in batches: worker processes give the same days as the sequential path, a day whose inputs did not
change is not rewritten, and new inputs with the same result only refresh the stored hash."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.reconcile import service
from hub.reconcile.service import recompute_range
from hub.store.db import session_factory
from hub.store.models import AttendanceDayRow, FeedRecord
from tests.hub.attendance_kit import BUDI, SITI, deliver, seeded

MON, SUN = date(2026, 11, 2), date(2026, 11, 8)
WEEK = [
    (BUDI, datetime(2026, 11, 2, 7, 25)),
    (BUDI, datetime(2026, 11, 2, 16, 5)),
    (BUDI, datetime(2026, 11, 3, 7, 45, 30)),
    (BUDI, datetime(2026, 11, 3, 16, 0)),
    (SITI, datetime(2026, 11, 4, 8, 40)),
    (SITI, datetime(2026, 11, 4, 15, 20)),
]
Stored = dict[tuple[str, date], tuple[str, str | None, int, str, dict[str, object]]]


async def _stored(engine: AsyncEngine) -> Stored:
    async with session_factory(engine)() as db:
        rows = (await db.execute(select(AttendanceDayRow))).scalars().all()
    return {(r.nip, r.day): (r.status, r.codes, r.version, r.inputs_hash, r.result) for r in rows}


async def test_workers_store_what_the_sequential_path_stores(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seeded(engine)
    await deliver(engine, WEEK)
    async with session_factory(engine)() as db:
        sequential = await recompute_range(db, MON, SUN, workers=1)
    expected = await _stored(engine)
    async with engine.begin() as conn:  # a fresh store: no days, and no feed records of them
        await conn.execute(delete(AttendanceDayRow))
        await conn.execute(delete(FeedRecord))

    monkeypatch.setattr(service, "CHUNK", 1)  # one employee a batch: two batches, so the pool is used
    progress: list[tuple[int, int]] = []
    async with session_factory(engine)() as db:
        pooled = await recompute_range(db, MON, SUN, workers=2, progress=lambda n, of: progress.append((n, of)))
    assert (pooled.employees, pooled.days, pooled.inserted) == (sequential.employees, sequential.days, 14)
    assert progress == [(1, 2), (2, 2)]
    assert await _stored(engine) == expected
    assert expected[(BUDI, date(2026, 11, 3))][:3] == ("present", "TL1", 1)
    assert expected[(SITI, date(2026, 11, 4))][:3] == ("present", "TL3+PSW2", 1)

    async with session_factory(engine)() as db:
        again = await recompute_range(db, MON, SUN, workers=2)
    assert (again.unchanged, again.changed, again.inserted) == (14, 0, 0)
    assert await _stored(engine) == expected


async def test_new_inputs_with_the_same_result_refresh_only_the_hash(engine: AsyncEngine) -> None:
    await seeded(engine)
    await deliver(engine, WEEK)
    async with session_factory(engine)() as db:
        await recompute_range(db, MON, SUN)
    before = await _stored(engine)
    # Budi pressed again two minutes after his Monday check-in: one press repeated, the day is the same.
    await deliver(engine, [(BUDI, datetime(2026, 11, 2, 7, 27))])
    async with session_factory(engine)() as db:
        stats = await recompute_range(db, MON, SUN)
    assert (stats.changed, stats.unchanged, stats.inserted) == (0, 14, 0)
    after = await _stored(engine)
    monday = (BUDI, MON)
    assert after[monday][:3] == before[monday][:3] == ("present", None, 1)
    assert after[monday][4] == before[monday][4]
    assert after[monday][3] != before[monday][3]
    assert {k: v for k, v in after.items() if k != monday} == {k: v for k, v in before.items() if k != monday}


async def test_a_day_stored_meanwhile_by_another_process_is_stored_once(engine: AsyncEngine) -> None:
    # A batch read the store before another process stored its days (stored = {}): on PostgreSQL the COPY of
    # "new" days then meets the stored ones; the batch must re-read them and write each day and feed record once.
    # (On SQLite the days are upserted; recomputes there rely on the recompute lease, tested with the CLI.)
    if engine.dialect.name != "postgresql":
        pytest.skip("the COPY of new days is PostgreSQL's")
    await seeded(engine)
    await deliver(engine, WEEK)
    async with session_factory(engine)() as db:
        await recompute_range(db, MON, SUN)
    before = await _stored(engine)
    await deliver(engine, [(SITI, datetime(2026, 11, 5, 7, 10)), (SITI, datetime(2026, 11, 5, 16, 10))])
    async with session_factory(engine)() as db:
        nips = [BUDI, SITI]
        inputs = await service.load_inputs(db, nips, MON, SUN)
        computed = service.compute_batch(inputs, nips, MON, SUN, {})
        stats = await service.store_computed(db, computed, {}, MON, SUN)
        await db.commit()
    assert (stats.inserted, stats.changed, stats.unchanged) == (0, 1, 13)
    after = await _stored(engine)
    thursday = (SITI, date(2026, 11, 5))
    assert before[thursday][:3] == ("tk", "TK", 1)
    assert after[thursday][:3] == ("present", None, 2)
    assert {k: v[:3] for k, v in after.items() if k != thursday} == {
        k: v[:3] for k, v in before.items() if k != thursday
    }
    async with session_factory(engine)() as db:
        keys = (await db.execute(select(FeedRecord.idempotency_key))).scalars().all()
    assert len(keys) == len(set(keys)) == 15  # 14 first versions and Siti's Thursday v2


async def test_stored_days_and_queued_records_carry_the_time_they_were_stored(engine: AsyncEngine) -> None:
    # PostgreSQL's COPY leaves these stamps to the columns' default, now() (migration 0009); SQLite writes them.
    await seeded(engine)
    await deliver(engine, WEEK)
    before = datetime.now(UTC) - timedelta(seconds=1)  # the server's clock is this machine's
    async with session_factory(engine)() as db:
        await recompute_range(db, MON, SUN)
    after = datetime.now(UTC) + timedelta(seconds=1)
    async with session_factory(engine)() as db:
        computed = (await db.execute(select(AttendanceDayRow.computed_at))).scalars().all()
        queued = (await db.execute(select(FeedRecord.created_at, FeedRecord.next_attempt_at))).all()
    assert len(computed) == len(queued) == 14
    assert all(before <= stamp <= after for stamp in computed)
    assert all(before <= created == due <= after for created, due in queued)
