"""Unit tests of the edge buffer (``edge.buffer.Buffer``) and the poller's cursor and flag logic."""

import json
import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from devices.punch import Punch
from edge.buffer import Buffer, Cursor
from edge.poller import flags_for, resume_at
from edge.publisher import build_batch_payload
from presensi.contract import PunchBatch, PunchFlag, PunchRecord

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
BUILD = build_batch_payload("edge-unit", timedelta(hours=1))


def punch(i: int, serial: str = "SN1", pin: str | None = None, status: int = 0, base: datetime | None = None) -> Punch:
    local = (base or datetime(2026, 11, 23, 7, 0)) + timedelta(seconds=i)
    return Punch.from_device(serial, JAKARTA, pin or str(1000 + i % 7), local, status, 1)


def punches(n: int, **kwargs: object) -> list[Punch]:
    return [punch(i, **kwargs) for i in range(n)]  # type: ignore[arg-type]


@pytest.fixture
def buffer(tmp_path: Path) -> Buffer:
    return Buffer(tmp_path / "buffer.sqlite3")


def states(buffer: Buffer) -> dict[str, int]:
    stats = buffer.stats()
    return {"pending": stats.pending, "sent": stats.sent, "acknowledged": stats.acknowledged}


# --- buffer --------------------------------------------------------------------------------------


def test_unique_key_dedups(buffer: Buffer) -> None:
    batch = punches(50)
    assert buffer.add("t1", batch, NOW) == 50
    assert buffer.add("t1", batch, NOW) == 0
    assert buffer.add("t1", [*batch[:10], *punches(60)[50:]], NOW) == 10
    assert states(buffer) == {"pending": 60, "sent": 0, "acknowledged": 0}
    # The same PIN and time at another terminal is another punch.
    assert buffer.add("t2", punches(50, serial="SN2"), NOW) == 50


def test_pending_sent_acknowledged(buffer: Buffer) -> None:
    buffer.next_session()
    buffer.add("t1", punches(25), NOW)
    first = buffer.create_batch(10, BUILD, now=NOW)
    second = buffer.create_batch(10, BUILD, now=NOW)
    assert first is not None
    assert second is not None
    assert (first.seq, second.seq, first.punches) == (1, 2, 10)
    assert states(buffer) == {"pending": 5, "sent": 20, "acknowledged": 0}
    assert [b.batch_id for b in buffer.unacked_batches()] == [first.batch_id, second.batch_id]
    assert buffer.acknowledge(first.batch_id, NOW) == 10
    assert buffer.acknowledge(first.batch_id, NOW) == 0  # a duplicate ack changes nothing
    assert states(buffer) == {"pending": 5, "sent": 10, "acknowledged": 10}
    assert [b.batch_id for b in buffer.unacked_batches()] == [second.batch_id]
    assert buffer.acknowledge("edge-unit:9:999999", NOW) == 0  # an ack for a batch we never sent
    assert buffer.acked_keys(p.key for p in punches(25)) == {p.key for p in punches(25)[:10]}
    assert buffer.last_seq == 2


def test_batches_survive_reopen_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    buffer = Buffer(path)
    buffer.next_session()
    buffer.add("t1", punches(30), NOW)
    made = [buffer.create_batch(10, BUILD, now=NOW) for _ in range(3)]
    buffer.mark_published(made[0].batch_id, NOW)  # type: ignore[union-attr]  # a resend
    buffer.close()  # or a kill -9: every commit above was durable

    reopened = Buffer(path)
    again = reopened.unacked_batches()
    assert [(b.batch_id, b.seq, b.payload) for b in again] == [(b.batch_id, b.seq, b.payload) for b in made if b]
    # Creating a batch records its first publish (the publisher sends it right after the commit).
    assert [b.attempts for b in again] == [2, 1, 1]
    assert again[0].last_sent_at == NOW
    assert again[1].last_sent_at == NOW
    batch = PunchBatch.model_validate_json(again[0].payload)
    assert [p.key for p in batch.punches] == [p.key for p in punches(30)[:10]]
    assert reopened.next_session() == 2
    assert reopened.create_batch(10, BUILD, now=NOW) is None
    assert reopened.last_seq == 3


def test_durable_settings(buffer: Buffer) -> None:
    db = sqlite3.connect(buffer.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert buffer._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_retention_deletes_only_acknowledged(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path / "b.sqlite3", retention_days=1)
    buffer.next_session()
    buffer.add("t1", punches(30), NOW)
    old = buffer.create_batch(10, BUILD, now=NOW)
    buffer.create_batch(10, BUILD, now=NOW)  # sent, never acked
    assert old is not None
    buffer.acknowledge(old.batch_id, NOW - timedelta(days=3))
    assert buffer.housekeep(NOW) == 10
    assert states(buffer) == {"pending": 10, "sent": 10, "acknowledged": 0}
    # Long after: still nothing unacknowledged goes.
    assert buffer.housekeep(NOW + timedelta(days=365)) == 0
    assert states(buffer) == {"pending": 10, "sent": 10, "acknowledged": 0}
    # A re-read of the terminal after retention: the deleted (acked) keys come back as new punches.
    # That is the documented price of retention; the hub's UNIQUE key absorbs the resend.
    assert buffer.add("t1", punches(30), NOW) == 10


def test_disk_budget_never_deletes_unacknowledged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    buffer = Buffer(tmp_path / "b.sqlite3", disk_budget_bytes=64 * 1024)
    buffer.next_session()
    total = 0
    for start in range(0, 3000, 500):
        total += buffer.add("t1", [punch(i) for i in range(start, start + 500)], NOW)
    sent = buffer.create_batch(500, BUILD, now=NOW)
    assert sent is not None
    assert buffer.stats().budget_reached
    with caplog.at_level(logging.WARNING, logger="edge.buffer"):
        assert buffer.housekeep(NOW) == 0
        buffer.housekeep(NOW)
    assert states(buffer) == {"pending": 2500, "sent": 500, "acknowledged": 0}
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1, "alert once per crossing, loudly"
    assert "BUDGET" in critical[0].getMessage()
    # Acknowledged punches are what goes first, oldest first, when the budget is reached.
    buffer.acknowledge(sent.batch_id, NOW)
    deleted = buffer.housekeep(NOW)
    assert deleted == 500
    assert states(buffer) == {"pending": 2500, "sent": 0, "acknowledged": 0}


def test_resend_batches_cover_the_range(buffer: Buffer) -> None:
    buffer.next_session()
    buffer.add("t1", punches(20), NOW)
    while (batch := buffer.create_batch(7, BUILD, now=NOW)) is not None:
        buffer.acknowledge(batch.batch_id, NOW)
    since = punch(5).utc
    count = sum(
        b.punches for b in buffer.create_resend_batches(since, since + timedelta(seconds=10), 4, BUILD, now=NOW)
    )
    assert count == 10
    resend = buffer.unacked_batches()
    assert [b.punches for b in resend] == [4, 4, 2]
    keys = [p.key for b in resend for p in PunchBatch.model_validate_json(b.payload).punches]
    assert keys == [p.key for p in punches(15)[5:15]]
    assert states(buffer)["acknowledged"] == 20  # resending does not un-acknowledge


def test_historical_flag_in_payload(buffer: Buffer) -> None:
    buffer.next_session()
    old = punch(0, base=datetime(2026, 11, 1, 7, 0))
    fresh = Punch.from_device("SN1", JAKARTA, "1", NOW.astimezone(JAKARTA).replace(tzinfo=None), 0, 1)
    buffer.add("t1", [old, fresh], NOW, {old.key: (PunchFlag.CLOCK_DRIFT,)})
    batch = buffer.create_batch(10, BUILD, now=NOW)
    assert batch is not None
    records = {p.key: p for p in PunchBatch.model_validate_json(batch.payload).punches}
    assert records[old.key].historical
    assert not records[fresh.key].historical
    assert records[old.key].flags == (PunchFlag.CLOCK_DRIFT,)


# --- resume_at: the cursor -------------------------------------------------------------------------


class ListLog:
    """A log read from a terminal, as the driver's lazy view offers it."""

    def __init__(self, punches: list[Punch]) -> None:
        self._punches = punches

    def __len__(self) -> int:
        return len(self._punches)

    def punch_at(self, index: int) -> Punch | None:
        return self._punches[index]

    def punches(self, start: int = 0) -> Iterator[Punch]:
        return iter(self._punches[start:])


def new_since(log: list[Punch], serial: str, cursor: Cursor | None) -> tuple[list[Punch], str]:
    """The punches the poller stores from ``log``: from where resume_at says, with its reason."""
    start, reason = resume_at(ListLog(log), serial, cursor)
    return log[start:], reason


def cursor_of(log: list[Punch], serial: str = "SN1") -> Cursor:
    return Cursor(serial, len(log), log[0].key if log else None, log[-1].key if log else None)


def test_new_since_first_read_and_append() -> None:
    log = punches(10)
    assert new_since(log, "SN1", None) == (log, "first read")
    grown = punches(15)
    assert new_since(grown, "SN1", cursor_of(log)) == (grown[10:], "")
    assert new_since(log, "SN1", cursor_of(log)) == ([], "")


def test_new_since_cleared() -> None:
    log = punches(10)
    after = punches(3, base=datetime(2026, 11, 24, 7, 0))
    fresh, reason = new_since(after, "SN1", cursor_of(log))
    assert fresh == after
    assert "shrank" in reason
    # Cleared, then refilled past the old size: the first record no longer matches.
    refilled = punches(12, base=datetime(2026, 11, 24, 7, 0))
    fresh, reason = new_since(refilled, "SN1", cursor_of(log))
    assert fresh == refilled
    assert reason
    # Cleared by the agent itself (cursor reset to zero): everything is new.
    assert new_since(after, "SN1", Cursor("SN1", 0, None, None)) == (after, "")


def test_new_since_wrapped_and_reordered() -> None:
    log = punches(10)
    wrapped = punches(13)[3:]  # same size, oldest three overwritten
    fresh, reason = new_since(wrapped, "SN1", cursor_of(log))
    assert fresh == wrapped
    assert "wrapped" in reason
    reordered = [*log[5:], *log[:5], punch(10)]
    fresh, reason = new_since(reordered, "SN1", cursor_of(log))
    assert fresh == reordered
    assert reason
    # Same first and last record at the cursor but the middle changed places: only the tail is new,
    # and the middle records were all seen before (the buffer holds them by key).
    swapped = [log[0], log[2], log[1], *log[3:], punch(10)]
    assert new_since(swapped, "SN1", cursor_of(log)) == ([punch(10)], "")


def test_new_since_serial_changed() -> None:
    log = punches(10)
    other = punches(10, serial="SN9")
    fresh, reason = new_since(other, "SN9", cursor_of(log))
    assert fresh == other
    assert "serial changed" in reason


# --- flags_for ------------------------------------------------------------------------------------


def flags(local: datetime, *, drifting: bool = False, now: datetime = NOW) -> tuple[PunchFlag, ...]:
    p = Punch.from_device("SN1", JAKARTA, "1", local, 0, 1)
    return flags_for(
        p, installed_on=date(2024, 1, 1), now=now, future_tolerance=timedelta(minutes=5), drifting=drifting
    )


def test_flags_for() -> None:
    assert flags(datetime(2026, 11, 23, 7, 59)) == ()
    assert flags(datetime(2000, 1, 1, 0, 4, 13)) == (PunchFlag.CLOCK_RESET,)
    assert flags(datetime(2023, 6, 1, 8, 0)) == (PunchFlag.BEFORE_INSTALL,)
    assert flags(datetime(2026, 11, 23, 8, 4)) == ()  # within the future tolerance
    assert flags(datetime(2026, 11, 23, 8, 6)) == (PunchFlag.FUTURE,)
    assert flags(datetime(2026, 11, 23, 7, 0), drifting=True) == (PunchFlag.CLOCK_DRIFT,)
    assert flags(datetime(2000, 1, 1), drifting=True) == (PunchFlag.CLOCK_RESET, PunchFlag.CLOCK_DRIFT)


def test_batch_payload_is_the_contract_encoding_of_the_buffered_punch(buffer: Buffer) -> None:
    """Batches are encoded straight from buffered rows (for speed): hold them to the contract models."""
    p = Punch.from_device("SN1", ZoneInfo("Asia/Jayapura"), "0042", datetime(2026, 11, 23, 7, 0, 5), 4, 15)
    buffer.add("t1", [p], NOW, {p.key: (PunchFlag.FUTURE, PunchFlag.CLOCK_DRIFT)})
    batch = buffer.create_batch(10, BUILD, now=NOW)
    assert batch is not None
    parsed = PunchBatch.model_validate_json(batch.payload)
    (record,) = parsed.punches
    expected = PunchRecord(
        key=p.key, terminal_sn="SN1", pin="0042", local_time=p.local_time, zone="Asia/Jayapura", utc=p.utc,
        status=4, punch=15, verify=15, workcode=0, read_at=NOW, flags=(PunchFlag.FUTURE, PunchFlag.CLOCK_DRIFT),
        historical=True,  # 22:00:05 UTC is three hours before NOW, past the one-hour threshold
    )  # fmt: skip
    assert record == expected
    assert (parsed.edge_id, parsed.seq, parsed.session, parsed.sent_at) == ("edge-unit", 1, 0, NOW)
    # Every contract field is written explicitly, so a new contract field cannot be left out unnoticed.
    assert set(json.loads(batch.payload)["punches"][0]) == set(PunchRecord.model_fields)
    assert set(json.loads(batch.payload)) == set(PunchBatch.model_fields)
