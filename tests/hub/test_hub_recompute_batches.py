"""Recompute in batches: worker processes give the same days as the sequential path, a day whose inputs did not
change is not rewritten, and new inputs with the same result only refresh the stored hash."""

import asyncio
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.reconcile import service
from hub.reconcile.corrections import MissingPunch, create_correction
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
    # "new" days then meets the stored ones; the batch must re-read them and write each day and feed record once,
    # in the same transaction. (On SQLite the days are upserted: the next test's whole batch reads again.)
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


@pytest.mark.parametrize("meanwhile", ["first-versions", "a-new-version"])
async def test_a_batch_whose_days_another_process_stored_meanwhile_reads_again(
    engine: AsyncEngine, meanwhile: str
) -> None:
    # A worker's batch read the store and evaluated it; before it stored, another process (an operator's
    # correction beside a bulk recompute, say) stored the same days: every version and feed record the batch
    # meant to write is taken. Its transaction rolls back and it reads again, on both stores.
    await seeded(engine)
    await deliver(engine, WEEK)
    thursday = (SITI, date(2026, 11, 5))
    if meanwhile == "a-new-version":
        async with session_factory(engine)() as db:
            await recompute_range(db, MON, SUN)
        await deliver(engine, [(SITI, datetime(2026, 11, 5, 7, 10))])
    nips = [BUDI, SITI]
    read = await service.read_batch(engine, nips, MON, SUN)  # Thursday: a check-in, no check-out yet
    if meanwhile == "a-new-version":
        await deliver(engine, [(SITI, datetime(2026, 11, 5, 16, 10))])
    async with session_factory(engine)() as db:  # the other process
        await recompute_range(db, MON, SUN, nips=nips)
    stored_meanwhile = await _stored(engine)
    expected_thursday = ("present", None, 2) if meanwhile == "a-new-version" else ("tk", "TK", 1)
    assert stored_meanwhile[thursday][:3] == expected_thursday

    stats = await service.store_batch(engine, threading.Lock(), read)
    assert (stats.employees, stats.inserted, stats.changed, stats.unchanged) == (2, 0, 0, 14)
    assert await _stored(engine) == stored_meanwhile
    async with session_factory(engine)() as db:
        keys = (await db.execute(select(FeedRecord.idempotency_key))).scalars().all()
    assert len(keys) == len(set(keys)) == (15 if meanwhile == "a-new-version" else 14)


async def test_a_correction_meeting_a_batch_that_stores_the_same_day_reads_again(engine: AsyncEngine) -> None:
    # PostgreSQL: an operator's correction recomputes in its own transaction while a recompute batch (another
    # process) stores the same day. The correction read the day at version 1, the batch's version 2 lands first:
    # the correction's recompute rolls back to its savepoint and reads again, and stores version 3.
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite: the correction holds the write lock from its first write, no batch stores meanwhile")
    await seeded(engine)
    await deliver(engine, [(SITI, datetime(2026, 11, 5, 7, 10))])
    async with session_factory(engine)() as db:
        await recompute_range(db, MON, SUN)
    await deliver(engine, [(SITI, datetime(2026, 11, 5, 16, 10))])
    read = await service.read_batch(engine, [SITI], MON, SUN)
    thursday = date(2026, 11, 5)
    async with session_factory(engine)() as batch:
        # The batch has written Thursday's version 2 and holds the row until it commits.
        stats = await service.store_computed(batch, read.computed, read.stored, MON, SUN)
        assert stats.changed == 1
        missing = MissingPunch(
            kind="missing_punch",
            nip=SITI,
            local_time=datetime(2026, 11, 5, 16, 30),
            reason="pulang lewat pintu samping",
        )

        async def correct() -> None:
            async with session_factory(engine)() as db:
                await create_correction(db, missing, "token:operator")

        correcting = asyncio.ensure_future(correct())
        async with session_factory(engine)() as watcher:
            for _ in range(200):  # until the correction's write waits for the batch's row
                waiting = await watcher.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND datname = current_database() AND query LIKE 'INSERT INTO attendance_days%'"
                    )
                )
                await watcher.rollback()
                if waiting or correcting.done():
                    break
                await asyncio.sleep(0.05)
        assert waiting == 1
        assert not correcting.done()
        await batch.commit()
    await correcting
    days = await _stored(engine)
    assert days[(SITI, thursday)][:3] == ("present", None, 3)
    assert str(days[(SITI, thursday)][4]["check_out"]).endswith("16:30:00")
    async with session_factory(engine)() as db:
        versions = (
            await db.execute(select(FeedRecord.version).where(FeedRecord.record_key == f"{SITI}:2026-11-05"))
        ).scalars()
        assert sorted(versions) == [1, 2, 3]


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
