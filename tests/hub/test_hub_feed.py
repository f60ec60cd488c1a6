"""The e-Kinerja feed against the mock receiver over real HTTP: the outbox filled by recompute in its own
transaction, delivery, an outage (503) and a slow receiver (timeout) followed by recovery with every record
delivered once, a correction re-sent as a new version, month closing, invalid records, and the lease."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.feed import outbox
from hub.feed.dispatcher import LEASE, Dispatcher, SendReport, backoff, feed_status
from hub.feed.months import begin_close, close_month, resume_interrupted_closes, run_lease
from hub.feed.records import daily_fields
from hub.reconcile.corrections import MissingPunch, create_correction
from hub.reconcile.service import recompute_range
from hub.registry.errors import Conflict
from hub.settings import EkinerjaSettings
from hub.store import lease
from hub.store.db import session_factory
from hub.store.lease import LeaseHandle, current_holder
from hub.store.models import AttendanceDayRow, FeedRecord, Lease, MonthClose
from presensi.ekinerja import DailyAttendance, MonthlyRecap
from simulators.ekinerja.receiver import ReceiverMode, ReceiverServer
from tests.hub.attendance_kit import BUDI, SITI, deliver, seeded
from tests.hub.hub_testkit import Store

TOKEN = "rahasia-ekinerja"
MON, SUN = date(2026, 11, 2), date(2026, 11, 8)
# Budi's week: Mon on time, Tue 15 min late (TL1), Wed no punch (TK) ... Siti never punches (TK on weekdays).
WEEK = [
    (BUDI, datetime(2026, 11, 2, 7, 25)),
    (BUDI, datetime(2026, 11, 2, 16, 5)),
    (BUDI, datetime(2026, 11, 3, 7, 45, 30)),
    (BUDI, datetime(2026, 11, 3, 16, 0)),
    (BUDI, datetime(2026, 11, 5, 7, 20)),
    (BUDI, datetime(2026, 11, 5, 16, 10)),
    (BUDI, datetime(2026, 11, 6, 7, 20)),
    (BUDI, datetime(2026, 11, 6, 16, 40)),
]
DAYS_IN_WEEK = 14  # two employees x seven days (off days are fed too, with status "off")


@pytest.fixture
def receiver() -> Iterator[ReceiverServer]:
    server = ReceiverServer(token=TOKEN).start()
    yield server
    server.stop()


def feed_settings(receiver: ReceiverServer, **overrides: object) -> EkinerjaSettings:
    values: dict[str, object] = {
        "url": receiver.url,
        "token": SecretStr(TOKEN),
        "batch_size": 5,  # several batches for a week of two employees
        "timeout_seconds": 0.5,
        "first_backoff_seconds": 0.05,
        "max_backoff_seconds": 0.2,
        "lease_seconds": 5,
    }
    return EkinerjaSettings.model_validate({**values, **overrides})


async def _week(engine: AsyncEngine) -> None:
    await seeded(engine)
    await deliver(engine, WEEK)
    async with session_factory(engine)() as db:
        await recompute_range(db, MON, SUN)


async def _records(engine: AsyncEngine) -> list[FeedRecord]:
    async with session_factory(engine)() as db:
        return list((await db.execute(select(FeedRecord).order_by(FeedRecord.id))).scalars().all())


async def _drain(dispatcher: Dispatcher, rounds: int = 200) -> SendReport:
    """send_once until nothing is due or retrying (the test backoff is 0.05-0.2 s)."""
    import asyncio

    total = SendReport()
    for _ in range(rounds):
        report = await dispatcher.send_once()
        total.sent += report.sent
        total.retrying += report.retrying
        total.failed += report.failed
        status = await feed_status(dispatcher.engine)
        if status.counts["pending"] == 0 and status.counts["retrying"] == 0:
            return total
        await asyncio.sleep(0.05)
    raise AssertionError(f"feed not drained: {await feed_status(dispatcher.engine)}")


def _held(receiver: ReceiverServer) -> dict[str, tuple[int, str]]:
    """What the receiver keeps: key -> (version, daily status or monthly tk days)."""
    found: dict[str, tuple[int, str]] = {}
    for key, record in receiver.state.records.items():
        if isinstance(record, DailyAttendance):
            found[key] = (record.version, record.status)
        else:
            assert isinstance(record, MonthlyRecap)
            found[key] = (record.version, f"tk={record.tk_days}")
    return found


async def test_recompute_queues_each_new_or_changed_day_in_its_transaction(engine: AsyncEngine) -> None:
    await _week(engine)
    records = await _records(engine)
    assert len(records) == DAYS_IN_WEEK
    assert {r.status for r in records} == {"pending"}
    tuesday = next(r for r in records if r.record_key == f"{BUDI}:2026-11-03")
    assert tuesday.idempotency_key == f"daily:{BUDI}:2026-11-03:v1"
    assert (tuesday.kind, tuesday.version, tuesday.unit_code, tuesday.month) == ("daily", 1, "BKPSDM", "2026-11")
    assert (tuesday.day, tuesday.payload) == (date(2026, 11, 3), None)  # built from the day when sent
    wednesday = next(r for r in records if r.record_key == f"{BUDI}:2026-11-04")
    async with session_factory(engine)() as db:
        built = await outbox.daily_payloads(db, [tuesday, wednesday])
    payload = built[tuesday.id].payload
    assert payload is not None
    assert built[tuesday.id].problem is None
    assert (payload["key"], payload["version"], payload["status"]) == (f"{BUDI}:2026-11-03", 1, "present")
    assert (payload["late_code"], payload["minutes_late"], payload["check_in"]) == ("TL1", 15, "07:45:30")
    assert (payload["zone"], payload["deduction_percent"], payload["unit_code"]) == ("Asia/Jakarta", "0.5000", "BKPSDM")
    tk = built[wednesday.id].payload
    assert tk is not None
    assert (tk["status"], tk["absence_code"], tk["check_in"]) == ("tk", "TK", None)
    siti = next(r for r in records if r.record_key == f"{SITI}:2026-11-04")
    assert siti.unit_code == "BKPSDM.UMUM"

    # An unchanged recompute queues nothing; a rolled-back one leaves no record behind.
    async with session_factory(engine)() as db:
        await recompute_range(db, MON, SUN)
    assert len(await _records(engine)) == DAYS_IN_WEEK
    await deliver(engine, [(BUDI, datetime(2026, 11, 4, 7, 31))])
    async with session_factory(engine)() as db:
        from hub.reconcile.service import recompute

        stats = await recompute(db, [BUDI], MON, SUN)
        assert stats.changed == 1
        assert (await db.execute(select(func.count()).select_from(FeedRecord))).scalar_one() == DAYS_IN_WEEK + 1
        await db.rollback()
    assert len(await _records(engine)) == DAYS_IN_WEEK
    async with session_factory(engine)() as db:
        day = await db.get(AttendanceDayRow, (BUDI, date(2026, 11, 4)))
        assert day is not None
        assert day.version == 1


async def test_normal_delivery_sends_every_record_once(engine: AsyncEngine, receiver: ReceiverServer) -> None:
    await _week(engine)
    dispatcher = Dispatcher(feed_settings(receiver), engine)
    report = await dispatcher.send_once()
    assert (report.lease, report.batches, report.sent, report.retrying) == (True, 3, DAYS_IN_WEEK, 0)
    records = await _records(engine)
    assert {(r.status, r.outcome, r.attempts) for r in records} == {("sent", "stored", 1)}
    assert all(r.sent_at is not None for r in records)
    counters = receiver.state
    assert (counters.stored_versions, counters.duplicates, counters.stale) == (DAYS_IN_WEEK, 0, 0)
    held = _held(receiver)
    assert held[f"{BUDI}:2026-11-03"] == (1, "present")
    assert held[f"{BUDI}:2026-11-04"] == (1, "tk")
    assert held[f"{SITI}:2026-11-07"] == (1, "off")
    # Where the check-in came from, and the check-out's date (the day itself outside overnight shifts).
    tuesday = receiver.state.records[f"{BUDI}:2026-11-03"]
    assert isinstance(tuesday, DailyAttendance)
    assert (tuesday.source_device, tuesday.verification) == ("T1", "fingerprint")
    assert (tuesday.check_in, tuesday.check_out, tuesday.check_out_day) == (
        time(7, 45, 30),
        time(16, 0),
        date(2026, 11, 3),
    )
    absent = receiver.state.records[f"{BUDI}:2026-11-04"]
    assert isinstance(absent, DailyAttendance)
    assert (absent.check_out_day, absent.source_device, absent.verification) == (None, None, None)
    assert (await dispatcher.send_once()).batches == 0  # nothing left
    assert await current_holder(engine, LEASE) is None  # released after the round


async def test_receiver_down_then_back_delivers_everything_once(engine: AsyncEngine, receiver: ReceiverServer) -> None:
    await _week(engine)
    dispatcher = Dispatcher(feed_settings(receiver), engine)
    receiver.state.mode = ReceiverMode(down=True)
    report = await dispatcher.send_once()
    assert (report.sent, report.retrying) == (0, DAYS_IN_WEEK)
    records = await _records(engine)
    assert {(r.status, r.attempts) for r in records} == {("retrying", 1)}
    assert all(r.last_error is not None and "HTTP 503" in r.last_error for r in records)
    assert all(r.next_attempt_at > r.created_at for r in records)
    status = await feed_status(engine)
    assert status.counts["retrying"] == DAYS_IN_WEEK
    assert status.next_attempt_at is not None

    # Still down for a few more rounds: attempts grow, the wait doubles up to the cap.
    for _ in range(3):
        await _wait_due(engine)
        await dispatcher.send_once()
    assert {r.attempts for r in await _records(engine)} == {4}
    refused_while_down = receiver.state.refused
    assert refused_while_down >= 4

    receiver.state.mode = ReceiverMode()
    await _drain(dispatcher)
    records = await _records(engine)
    assert {r.status for r in records} == {"sent"}
    assert {r.last_error for r in records} == {None}
    assert receiver.state.stored_versions == DAYS_IN_WEEK  # no record missing ...
    assert receiver.state.duplicates == 0  # ... and none twice
    assert len(receiver.state.records) == DAYS_IN_WEEK


async def _wait_due(engine: AsyncEngine) -> None:
    import asyncio

    for _ in range(100):
        async with session_factory(engine)() as db:
            later = (
                await db.execute(
                    select(func.count()).where(
                        FeedRecord.status == "retrying", FeedRecord.next_attempt_at > datetime.now(UTC)
                    )
                )
            ).scalar_one()
        if later == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("retries never came due")


async def test_slow_receiver_times_out_then_the_retry_delivers(engine: AsyncEngine, receiver: ReceiverServer) -> None:
    await _week(engine)
    dispatcher = Dispatcher(feed_settings(receiver, batch_size=100, timeout_seconds=0.3), engine)
    receiver.state.mode = ReceiverMode(delay_seconds=1.0)
    report = await dispatcher.send_once()
    assert (report.sent, report.retrying) == (0, DAYS_IN_WEEK)
    records = await _records(engine)
    assert all(r.last_error == "no answer within 0.3 s" for r in records)

    receiver.state.mode = ReceiverMode()
    await _drain(dispatcher)
    assert {r.status for r in await _records(engine)} == {"sent"}
    # The slow request may still have been stored after the hub gave up on it: the retry is then answered
    # "duplicate". Either way each record version is stored exactly once and none is missing.
    assert receiver.state.stored_versions == DAYS_IN_WEEK
    assert {version for version, _ in _held(receiver).values()} == {1}
    assert len(receiver.state.records) == DAYS_IN_WEEK


async def test_a_correction_is_re_sent_as_a_new_version(engine: AsyncEngine, receiver: ReceiverServer) -> None:
    await _week(engine)
    dispatcher = Dispatcher(feed_settings(receiver), engine)
    await _drain(dispatcher)
    assert _held(receiver)[f"{BUDI}:2026-11-04"] == (1, "tk")

    # Budi was there on Wednesday; the terminal lost both punches. Two corrections before the feed runs again:
    # version 2 (check-in only) is superseded by version 3 (both) and never sent.
    async with session_factory(engine)() as db:
        for at in (datetime(2026, 11, 4, 7, 29), datetime(2026, 11, 4, 16, 2)):
            correction = MissingPunch(kind="missing_punch", nip=BUDI, local_time=at, reason="terminal lobi mati")
            await create_correction(db, correction, "token:operator")
    wednesday = [r for r in await _records(engine) if r.record_key == f"{BUDI}:2026-11-04"]
    assert [(r.version, r.status) for r in wednesday] == [(1, "sent"), (2, "superseded"), (3, "pending")]
    assert wednesday[2].idempotency_key == f"daily:{BUDI}:2026-11-04:v3"

    report = await _drain(dispatcher)
    assert report.sent == 1
    assert _held(receiver)[f"{BUDI}:2026-11-04"] == (3, "present")
    corrected = receiver.state.records[f"{BUDI}:2026-11-04"]
    assert isinstance(corrected, DailyAttendance)
    assert (corrected.source_device, corrected.verification) == (None, None)  # no terminal saw this check-in
    assert receiver.state.stored_versions == DAYS_IN_WEEK + 1
    assert receiver.state.duplicates == 0


async def test_closing_a_month_feeds_recaps_and_a_later_correction_re_feeds_them(
    engine: AsyncEngine, receiver: ReceiverServer
) -> None:
    await _week(engine)
    async with session_factory(engine)() as db:
        await recompute_range(db, date(2026, 11, 1), date(2026, 11, 30))
    dispatcher = Dispatcher(feed_settings(receiver, batch_size=100), engine)
    async with session_factory(engine)() as db:
        with pytest.raises(Conflict):
            await close_month(db, "2026-11", "token:admin", today=date(2026, 11, 30))
        closed = await close_month(db, "2026-11", "token:admin", today=date(2026, 12, 1))
    assert (closed.status, closed.employees, closed.enqueued, closed.unchanged, closed.skipped) == ("done", 2, 2, 0, 0)
    await _drain(dispatcher)
    held = _held(receiver)
    # November 2026 has 21 working days (no holidays seeded). Budi: present Mon, Tue, Thu, Fri of the first
    # week, TK on the other 17; Siti: TK on all 21.
    assert held[f"{BUDI}:2026-11"] == (1, "tk=17")
    assert held[f"{SITI}:2026-11"] == (1, "tk=21")
    recap = receiver.state.records[f"{BUDI}:2026-11"]
    assert isinstance(recap, MonthlyRecap)
    assert (recap.working_days, recap.present_days, recap.tier_counts) == (21, 4, {"TL1": 1})

    # Closing again changes nothing.
    async with session_factory(engine)() as db:
        again = await close_month(db, "2026-11", "token:admin", today=date(2026, 12, 1))
    assert (again.enqueued, again.unchanged) == (0, 2)

    # A correction in the closed month: the day and the recap both go out as version 2.
    async with session_factory(engine)() as db:
        correction = MissingPunch(
            kind="missing_punch", nip=BUDI, local_time=datetime(2026, 11, 4, 7, 29), reason="terminal lobi mati"
        )
        await create_correction(db, correction, "token:operator")
    await _drain(dispatcher)
    held = _held(receiver)
    assert held[f"{BUDI}:2026-11-04"] == (2, "present")
    assert held[f"{BUDI}:2026-11"] == (2, "tk=16")
    assert held[f"{SITI}:2026-11"] == (1, "tk=21")
    assert receiver.state.duplicates == 0


async def test_an_invalid_record_fails_alone_and_the_others_go_through(
    engine: AsyncEngine, receiver: ReceiverServer
) -> None:
    await _week(engine)
    async with session_factory(engine)() as db:
        # A record the receiver refuses although the hub built it (e.g. an older hub's payload): a wrong key.
        first = (await db.execute(select(FeedRecord).order_by(FeedRecord.id).limit(1))).scalar_one()
        payload = (await outbox.daily_payloads(db, [first]))[first.id].payload
        assert payload is not None
        first.payload = {**payload, "key": "not-the-right-key"}
        await db.commit()
    dispatcher = Dispatcher(feed_settings(receiver, batch_size=100), engine)
    report = await dispatcher.send_once()
    assert (report.sent, report.failed) == (DAYS_IN_WEEK - 1, 1)
    failed = [r for r in await _records(engine) if r.status == "failed"]
    assert [r.id for r in failed] == [first.id]
    assert failed[0].last_error is not None
    assert "refused as invalid" in failed[0].last_error
    assert "key must be" in failed[0].last_error
    assert (await dispatcher.send_once()).batches == 0  # failed waits for an operator
    sent = [r for r in await _records(engine) if r.status == "sent"]
    assert all(r.payload is not None and r.payload["version"] == 1 for r in sent)  # kept as sent


async def test_a_record_that_cannot_be_built_fails_and_a_moved_on_day_is_superseded(
    engine: AsyncEngine, receiver: ReceiverServer
) -> None:
    await _week(engine)
    async with session_factory(engine)() as db:
        # Neither happens through recompute; a hand-edited store (or a bug) must still not block the feed.
        await db.execute(
            update(AttendanceDayRow)
            .where(AttendanceDayRow.nip == BUDI, AttendanceDayRow.day == date(2026, 11, 2))
            .values(deduction_percent=150)
        )
        await db.execute(
            update(AttendanceDayRow)
            .where(AttendanceDayRow.nip == BUDI, AttendanceDayRow.day == date(2026, 11, 3))
            .values(version=7)
        )
        await db.commit()
    report = await Dispatcher(feed_settings(receiver, batch_size=100), engine).send_once()
    assert report.sent == DAYS_IN_WEEK - 2
    by_key = {r.record_key: r for r in await _records(engine)}
    invalid, moved = by_key[f"{BUDI}:2026-11-02"], by_key[f"{BUDI}:2026-11-03"]
    assert invalid.status == "failed"
    assert invalid.last_error is not None
    assert "invalid record" in invalid.last_error
    assert "deduction_percent" in invalid.last_error
    assert moved.status == "superseded"
    assert moved.last_error == "the day is at version 7: a newer record carries it"
    assert f"{BUDI}:2026-11-02" not in receiver.state.records


async def test_only_one_dispatcher_holds_the_lease(engine: AsyncEngine, receiver: ReceiverServer) -> None:
    await _week(engine)
    settings = feed_settings(receiver)
    first, second = Dispatcher(settings, engine, holder="hub-a"), Dispatcher(settings, engine, holder="hub-b")
    assert await first.lease.acquire()
    assert (await second.send_once()).lease is False
    assert {r.status for r in await _records(engine)} == {"pending"}
    assert (await current_holder(engine, LEASE) or ("",))[0] == "hub-a"

    # hub-a dies without releasing: once its lease has expired, hub-b takes over, and hub-a cannot renew.
    async with session_factory(engine)() as db:
        await db.execute(update(Lease).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        await db.commit()
    report = await second.send_once(keep_lease=True)
    assert (report.lease, report.sent) == (True, DAYS_IN_WEEK)
    assert not await first.lease.renew()
    assert not await first.lease.acquire()
    await second.lease.release()
    assert await first.lease.acquire()  # released: free at once


async def test_lease_is_generic_and_exclusive_under_a_race(engine: AsyncEngine) -> None:
    import asyncio

    handles = [LeaseHandle(engine, "recompute", f"worker-{n}", 30) for n in range(6)]
    won = await asyncio.gather(*(h.acquire() for h in handles))
    assert sum(won) == 1
    winner = handles[won.index(True)]
    assert (await current_holder(engine, "recompute") or ("",))[0] == winner.holder
    assert await winner.renew()
    assert await winner.acquire()  # re-acquiring our own lease renews it


def test_backoff_doubles_up_to_the_cap() -> None:
    settings = EkinerjaSettings(first_backoff_seconds=10, max_backoff_seconds=60, timeout_seconds=5)
    assert [backoff(settings, n).total_seconds() for n in range(1, 6)] == [10, 20, 40, 60, 60]
    assert backoff(settings, 500).total_seconds() == 60


def test_settings_refuse_a_lease_shorter_than_a_post() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="lease_seconds"):
        EkinerjaSettings(timeout_seconds=30, lease_seconds=40)


async def test_prune_keeps_open_records_and_recent_ones(engine: AsyncEngine, receiver: ReceiverServer) -> None:
    await _week(engine)
    dispatcher = Dispatcher(feed_settings(receiver, retention_days=30), engine)
    async with session_factory(engine)() as db:
        ids = [r.id for r in (await db.execute(select(FeedRecord).order_by(FeedRecord.id))).scalars().all()]
        old = datetime.now(UTC) - timedelta(days=31)
        statuses = ["sent", "superseded", "pending", "retrying", "failed", "sent"]
        for record_id, status in zip(ids, statuses, strict=False):
            created = old if record_id != ids[5] else datetime.now(UTC)  # the last "sent" one is recent
            await db.execute(
                update(FeedRecord).where(FeedRecord.id == record_id).values(status=status, created_at=created)
            )
        await db.commit()
    assert await dispatcher.prune() == 2
    left = {r.id: r.status for r in await _records(engine)}
    assert ids[0] not in left
    assert ids[1] not in left
    assert [left[i] for i in ids[2:6]] == ["pending", "retrying", "failed", "sent"]
    assert len(left) == DAYS_IN_WEEK - 2


async def test_a_round_gives_up_after_three_failed_batches_and_tries_each_record_once(
    engine: AsyncEngine, receiver: ReceiverServer
) -> None:
    await _week(engine)
    # A backoff shorter than a round: the records failed in the first batches are due again before it ends.
    dispatcher = Dispatcher(feed_settings(receiver, batch_size=2, first_backoff_seconds=0.001), engine)
    receiver.state.mode = ReceiverMode(down=True)
    report = await dispatcher.send_once()
    assert (report.batches, report.retrying) == (3, 6)
    assert receiver.state.refused == 3
    statuses = [(r.status, r.attempts) for r in await _records(engine)]
    assert statuses.count(("retrying", 1)) == 6
    assert statuses.count(("pending", 0)) == DAYS_IN_WEEK - 6


async def test_records_queued_before_0006_keep_their_payload(store: Store) -> None:
    from sqlalchemy import text

    from hub.store.db import create_engine
    from hub.store.migrate import upgrade

    engine = create_engine(store.database)
    try:
        await upgrade(engine, "0005")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO feed_records (idempotency_key, kind, record_key, version, nip, unit_code, month, "
                    "payload, status, attempts, created_at, next_attempt_at) VALUES ('daily:x:2026-11-02:v1', "
                    "'daily', 'x:2026-11-02', 1, 'x', 'U', '2026-11', '{\"key\": \"x:2026-11-02\"}', 'pending', 0, "
                    ":now, :now)"
                ),
                {"now": datetime(2026, 11, 3, tzinfo=UTC)},
            )
        await upgrade(engine)
        (record,) = await _records(engine)
        assert (record.day, record.payload) == (None, {"key": "x:2026-11-02"})
    finally:
        await engine.dispose()


async def test_records_of_different_shapes_are_queued_together(engine: AsyncEngine) -> None:
    await seeded(engine)
    good = outbox.record_values("monthly", f"{BUDI}:2026-10", 1, BUDI, "BKPSDM", "2026-10", payload={"k": 1})
    bad = outbox.record_values("monthly", f"{SITI}:2026-10", 1, SITI, "BKPSDM", "2026-10", payload={}, problem="no")
    daily = outbox.record_values("daily", f"{BUDI}:2026-10-01", 1, BUDI, "BKPSDM", "2026-10", day=date(2026, 10, 1))
    assert set(bad) - set(good) == {"last_error"}
    assert "payload" not in daily  # a queued daily record carries no payload yet: the column is left out
    async with session_factory(engine)() as db:
        assert await outbox.add_records(db, [good, bad, daily]) == 3
        await db.commit()
    found = {r.record_key: (r.status, r.payload, r.last_error, r.day) for r in await _records(engine)}
    assert found == {
        f"{BUDI}:2026-10": ("pending", {"k": 1}, None, None),
        f"{SITI}:2026-10": ("failed", {}, "no", None),
        f"{BUDI}:2026-10-01": ("pending", None, None, date(2026, 10, 1)),
    }


async def test_enqueue_daily_writes_the_rows_record_values_spells_and_supersedes_open_older_versions(
    engine: AsyncEngine,
) -> None:
    # enqueue_daily builds its rows in the store (one statement per batch): they must be the rows
    # record_values/add_records would have written, down to the keys, the month, the unit code ("-" for an unknown
    # employee) and which older versions it supersedes (open ones only).
    await seeded(engine)
    nobody = "199001012020121999"
    first = [outbox.ChangedDay(BUDI, date(2026, 10, 31), 1), outbox.ChangedDay(SITI, date(2026, 11, 2), 1)]
    async with session_factory(engine)() as db:
        assert await outbox.enqueue_daily(db, first) == 2
        await db.commit()
    async with session_factory(engine)() as db:
        await db.execute(update(FeedRecord).where(FeedRecord.nip == SITI).values(status="sent"))
        await db.commit()
    again = [
        outbox.ChangedDay(BUDI, date(2026, 10, 31), 2),
        outbox.ChangedDay(SITI, date(2026, 11, 2), 2),
        outbox.ChangedDay(nobody, date(2026, 12, 1), 1),
    ]
    async with session_factory(engine)() as db:
        assert await outbox.enqueue_daily(db, again) == 3
        await db.commit()
    records = await _records(engine)
    columns = ("idempotency_key", "kind", "record_key", "version", "nip", "unit_code", "month", "day", "attempts")
    spelled = [
        outbox.record_values(
            "daily", f"{r.nip}:{r.day.isoformat()}", r.version, r.nip, unit, r.day.strftime("%Y-%m"), day=r.day
        )
        for r, unit in zip([*first, *again], ["BKPSDM", "BKPSDM.UMUM", "BKPSDM", "BKPSDM.UMUM", "-"], strict=True)
    ]
    assert [tuple(getattr(r, c) for c in columns) for r in records] == [tuple(v[c] for c in columns) for v in spelled]
    assert [r.status for r in records] == ["superseded", "sent", "pending", "pending", "pending"]
    assert all(r.payload is None and r.last_error is None and r.outcome is None and r.sent_at is None for r in records)
    assert all(r.created_at == r.next_attempt_at and r.created_at.tzinfo is not None for r in records)
    assert abs(records[-1].created_at - datetime.now(UTC)) < timedelta(minutes=5)


def test_an_overnight_check_out_carries_its_own_date() -> None:
    day = AttendanceDayRow(
        nip=BUDI,
        day=date(2026, 11, 2),
        status="present",
        check_in=datetime(2026, 11, 2, 22, 0),
        check_out=datetime(2026, 11, 3, 6, 5),
        minutes_late=0,
        minutes_early=0,
        codes=None,
        deduction_percent=Decimal(0),
        policy_id="p",
        policy_version=1,
        result={"schedule": {"zone": "Asia/Jakarta"}},
        version=1,
    )
    fields = daily_fields(day, "U1", datetime.now(UTC), ("T9", "face"))
    record = DailyAttendance.model_validate(fields)
    assert (record.day, record.check_out, record.check_out_day) == (date(2026, 11, 2), time(6, 5), date(2026, 11, 3))
    assert (record.source_device, record.verification) == ("T9", "face")


async def test_a_close_left_running_by_a_stopped_hub_is_finished_by_the_next_one(engine: AsyncEngine) -> None:
    await _week(engine)
    async with session_factory(engine)() as db:
        await recompute_range(db, date(2026, 11, 1), date(2026, 11, 30))
        # The API recorded the run and answered; the hub stopped before the background work began.
        run = await begin_close(db, "2026-11", "token:admin", today=date(2026, 12, 1))

    async def status() -> tuple[str, int]:
        async with session_factory(engine)() as db:
            found = await db.get(MonthClose, run.id)
            assert found is not None
            monthly = await db.scalar(select(func.count()).where(FeedRecord.kind == "monthly"))
            return found.status, int(monthly or 0)

    # A run still going in a live hub holds its lease: left alone.
    other = "other-host:4242:month close"
    assert await lease.acquire(engine, run_lease(run.id), other, 60)
    assert await resume_interrupted_closes(engine) == []
    assert await status() == ("running", 0)
    await lease.release(engine, run_lease(run.id), other)

    assert await resume_interrupted_closes(engine) == [run.id]
    assert await status() == ("done", 2)
    assert await current_holder(engine, run_lease(run.id)) is None
    assert await resume_interrupted_closes(engine) == []  # nothing left running
