"""The edge's local store-and-forward buffer: SQLite in WAL mode with durable commits.

Every punch read from a terminal is committed here (``synchronous=FULL``: a commit survives power
loss) before anything else happens to it, under a UNIQUE idempotency key, so re-reading a whole
terminal log or replaying after a crash never duplicates. A punch moves pending -> sent ->
acknowledged; only acknowledged punches are ever deleted (after the retention period, or oldest
first when the disk budget is reached). Batches are stored with their exact payload so a resend
is byte-identical.
"""

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from pathlib import Path
from typing import NamedTuple

from devices.punch import Punch
from presensi.contract import PunchFlag

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS punches (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    terminal TEXT NOT NULL,
    terminal_sn TEXT NOT NULL,
    pin TEXT NOT NULL,
    local_time TEXT NOT NULL,
    zone TEXT NOT NULL,
    utc TEXT NOT NULL,
    status INTEGER NOT NULL,
    punch INTEGER NOT NULL,
    verify INTEGER,
    workcode INTEGER NOT NULL,
    read_at TEXT NOT NULL,
    flags TEXT NOT NULL DEFAULT '',
    state INTEGER NOT NULL DEFAULT 0,
    batch_id TEXT,
    acked_at TEXT
);
CREATE INDEX IF NOT EXISTS punches_state ON punches(state, id);
CREATE INDEX IF NOT EXISTS punches_batch ON punches(batch_id);
CREATE INDEX IF NOT EXISTS punches_utc ON punches(utc);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    session INTEGER NOT NULL,
    payload BLOB NOT NULL,
    punches INTEGER NOT NULL,
    resend INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    last_sent_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS cursors (
    terminal TEXT PRIMARY KEY,
    serial TEXT NOT NULL,
    count INTEGER NOT NULL,
    first_key TEXT,
    last_key TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class State(IntEnum):
    PENDING = 0
    SENT = 1
    ACKNOWLEDGED = 2


class PunchRow(NamedTuple):
    """A buffered punch as stored: times as ISO text, flags comma-separated. Batches are encoded
    straight from these rows; turning each into objects first cost more than everything else."""

    id: int
    key: str
    terminal_sn: str
    pin: str
    local_time: str
    zone: str
    utc: str
    status: int
    punch: int
    verify: int | None
    workcode: int
    read_at: str
    flags: str


@dataclass(frozen=True, slots=True)
class StoredBatch:
    batch_id: str
    seq: int
    payload: bytes
    punches: int
    attempts: int
    last_sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class Cursor:
    serial: str
    count: int
    first_key: str | None
    last_key: str | None


@dataclass(frozen=True, slots=True)
class BufferStats:
    pending: int
    sent: int
    acknowledged: int
    oldest_unacked: datetime | None
    used_bytes: int
    budget_bytes: int

    @property
    def budget_reached(self) -> bool:
        return self.used_bytes >= self.budget_bytes


# (seq, session, rows, now) -> (batch_id, exact payload bytes); the publisher supplies it.
BatchBuilder = Callable[[int, int, list[PunchRow], datetime], tuple[str, bytes]]


def _iso(value: datetime) -> str:
    return value.isoformat()


class Buffer:
    """Thread-safe: pollers insert from their threads, the publisher reads and acks from its own."""

    def __init__(self, path: Path, *, retention_days: float = 30, disk_budget_bytes: int = 512 * 2**20) -> None:
        self.path = path
        self.retention = timedelta(days=retention_days)
        self.disk_budget_bytes = disk_budget_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit, so a committed punch survives power loss.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._budget_alerted = False

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- meta: session and sequence ----------------------------------------------------------

    def _meta(self, db: sqlite3.Connection, name: str, default: int) -> int:
        row = db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else default

    def _set_meta(self, db: sqlite3.Connection, name: str, value: int) -> None:
        db.execute(
            "INSERT INTO meta(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = ?",
            (name, value, value),
        )

    def next_session(self) -> int:
        """Count agent starts (Sparkplug's bdSeq): the hub tells a restart from a reconnect."""
        with self._tx() as db:
            session = self._meta(db, "session", 0) + 1
            self._set_meta(db, "session", session)
            return session

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._meta(self._db, "last_seq", 0)

    # --- punches ---------------------------------------------------------------------------------

    def add(
        self,
        terminal: str,
        punches: Iterable[Punch],
        read_at: datetime,
        flags: dict[str, tuple[PunchFlag, ...]] | None = None,
    ) -> int:
        """Store punches not seen before (by key); returns how many were new. Durable on return."""
        flags = flags or {}
        rows = [
            (
                p.key, terminal, p.terminal_sn, p.pin, _iso(p.local_time), p.zone, _iso(p.utc), p.status, p.punch,
                p.verify, p.workcode, _iso(read_at), ",".join(flags.get(p.key, ())),
            )
            for p in punches
        ]  # fmt: skip
        if not rows:
            return 0
        with self._tx() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO punches (key, terminal, terminal_sn, pin, local_time, zone, utc, status, punch,"
                " verify, workcode, read_at, flags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return db.total_changes - before

    def acked_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` the hub has acknowledged."""
        keys = list(keys)
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT key FROM punches WHERE state = {State.ACKNOWLEDGED} AND key IN ({marks})"
                found.update(r[0] for r in self._db.execute(sql, chunk))
        return found

    _COLUMNS = "id, key, terminal_sn, pin, local_time, zone, utc, status, punch, verify, workcode, read_at, flags"

    def oldest_pending_read_at(self) -> datetime | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT read_at FROM punches WHERE state = {State.PENDING} ORDER BY id LIMIT 1"
            ).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def pending_at_least(self, count: int) -> bool:
        """Whether ``count`` punches are pending, without counting them all (a backlog can be 100k)."""
        with self._lock:
            sql = f"SELECT count(*) FROM (SELECT 1 FROM punches WHERE state = {State.PENDING} LIMIT ?)"
            return int(self._db.execute(sql, (count,)).fetchone()[0]) >= count

    def create_batch(self, limit: int, build_payload: BatchBuilder, *, now: datetime) -> StoredBatch | None:
        """Take up to ``limit`` pending punches into a new batch with the next sequence number."""
        with self._tx() as db:
            rows = db.execute(
                f"SELECT {self._COLUMNS} FROM punches WHERE state = {State.PENDING} ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
            if not rows:
                return None
            return self._store_batch(db, [PunchRow._make(r) for r in rows], build_payload, now, resend=False)

    def create_resend_batches(
        self, since: datetime, until: datetime, limit: int, build_payload: BatchBuilder, *, now: datetime
    ) -> list[StoredBatch]:
        """Batches re-publishing every buffered punch with utc in [since, until), whatever its state."""
        with self._tx() as db:
            rows = db.execute(
                f"SELECT {self._COLUMNS} FROM punches WHERE utc >= ? AND utc < ? ORDER BY id",
                (_iso(since), _iso(until)),
            ).fetchall()
            chunks = [[PunchRow._make(r) for r in rows[i : i + limit]] for i in range(0, len(rows), limit)]
            return [self._store_batch(db, chunk, build_payload, now, resend=True) for chunk in chunks]

    def _store_batch(
        self,
        db: sqlite3.Connection,
        punches: list[PunchRow],
        build_payload: BatchBuilder,
        now: datetime,
        *,
        resend: bool,
    ) -> StoredBatch:
        seq = self._meta(db, "last_seq", 0) + 1
        session = self._meta(db, "session", 0)
        batch_id, payload = build_payload(seq, session, punches, now)
        # Recorded as published once: the publisher sends it right after this commit. A crash in
        # between is harmless, because a restarting publisher resends every unacked batch at once.
        db.execute(
            "INSERT INTO batches (batch_id, seq, session, payload, punches, resend, created_at, last_sent_at, attempts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
            (batch_id, seq, session, payload, len(punches), int(resend), _iso(now), None if resend else _iso(now)),
        )
        if not resend:
            # The rows are the oldest pending ones by id, so "pending up to the last id" is exactly them.
            db.execute(
                f"UPDATE punches SET state = {State.SENT}, batch_id = ? WHERE state = {State.PENDING} AND id <= ?",
                (batch_id, punches[-1].id),
            )
        self._set_meta(db, "last_seq", seq)
        return StoredBatch(batch_id, seq, payload, len(punches), 0 if resend else 1, None if resend else now)

    def unacked_batches(self) -> list[StoredBatch]:
        with self._lock:
            rows = self._db.execute(
                "SELECT batch_id, seq, payload, punches, attempts, last_sent_at FROM batches ORDER BY seq"
            ).fetchall()
        return [
            StoredBatch(r[0], r[1], bytes(r[2]), r[3], r[4], datetime.fromisoformat(r[5]) if r[5] else None)
            for r in rows
        ]

    def mark_published(self, batch_id: str, now: datetime) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE batches SET attempts = attempts + 1, last_sent_at = ? WHERE batch_id = ?", (_iso(now), batch_id)
            )

    def batch_payload(self, batch_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT payload FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
        return bytes(row[0]) if row else None

    def acknowledge(self, batch_id: str, now: datetime) -> int:
        """The hub committed the batch: its punches are acknowledged. Returns punches newly acked."""
        return self.acknowledge_many([batch_id], now)

    def acknowledge_many(self, batch_ids: Iterable[str], now: datetime) -> int:
        """Apply several acks in one durable transaction (one fsync, not one per batch)."""
        ids = [(_iso(now), batch_id) for batch_id in batch_ids]
        with self._tx() as db:
            before = db.total_changes
            db.executemany(
                f"UPDATE punches SET state = {State.ACKNOWLEDGED}, acked_at = ?"
                f" WHERE batch_id = ? AND state = {State.SENT}",
                ids,
            )
            acked = db.total_changes - before
            db.executemany("DELETE FROM batches WHERE batch_id = ?", [(batch_id,) for _, batch_id in ids])
            return acked

    # --- cursors -----------------------------------------------------------------------------------

    def cursor(self, terminal: str) -> Cursor | None:
        with self._lock:
            row = self._db.execute(
                "SELECT serial, count, first_key, last_key FROM cursors WHERE terminal = ?", (terminal,)
            ).fetchone()
        return Cursor(*row) if row else None

    def set_cursor(self, terminal: str, cursor: Cursor, now: datetime) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO cursors (terminal, serial, count, first_key, last_key, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(terminal) DO UPDATE SET serial = excluded.serial, count = excluded.count,"
                " first_key = excluded.first_key, last_key = excluded.last_key, updated_at = excluded.updated_at",
                (terminal, cursor.serial, cursor.count, cursor.first_key, cursor.last_key, _iso(now)),
            )

    # --- housekeeping ------------------------------------------------------------------------------

    def stats(self) -> BufferStats:
        with self._lock:
            # One indexed count per state: cheaper than a GROUP BY scan of the whole table.
            counts = {
                state: self._db.execute("SELECT count(*) FROM punches WHERE state = ?", (int(state),)).fetchone()[0]
                for state in State
            }
            oldest = self._db.execute(
                f"SELECT min(utc) FROM punches WHERE state IN ({State.PENDING}, {State.SENT})"
            ).fetchone()[0]
            used = self.used_bytes()
        return BufferStats(
            pending=counts.get(State.PENDING, 0),
            sent=counts.get(State.SENT, 0),
            acknowledged=counts.get(State.ACKNOWLEDGED, 0),
            oldest_unacked=datetime.fromisoformat(oldest) if oldest else None,
            used_bytes=used,
            budget_bytes=self.disk_budget_bytes,
        )

    def used_bytes(self) -> int:
        """Pages in use (freed pages are reused, so this, not the file size, is what grows)."""
        with self._lock:
            page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * page_size)

    def housekeep(self, now: datetime) -> int:
        """Drop acknowledged punches past retention; at the disk budget, drop the oldest acknowledged
        ones too. Unacknowledged punches are never deleted: past the budget the agent keeps them and
        alerts. Returns punches deleted."""
        deleted = 0
        with self._tx() as db:
            cur = db.execute(
                f"DELETE FROM punches WHERE state = {State.ACKNOWLEDGED} AND acked_at < ?",
                (_iso(now - self.retention),),
            )
            deleted += cur.rowcount
        while self.used_bytes() >= self.disk_budget_bytes:
            with self._tx() as db:
                cur = db.execute(
                    f"DELETE FROM punches WHERE id IN (SELECT id FROM punches WHERE state = {State.ACKNOWLEDGED}"
                    " ORDER BY acked_at, id LIMIT 5000)"
                )
            if cur.rowcount == 0:
                break
            deleted += cur.rowcount
            log.warning("buffer at its disk budget: dropped %d acknowledged punches early", cur.rowcount)
        over = self.used_bytes() >= self.disk_budget_bytes
        if over and not self._budget_alerted:
            log.critical(
                "BUFFER DISK BUDGET REACHED (%d of %d bytes) with only unacknowledged punches left: keeping every "
                "one of them and growing past the budget. Is the hub acknowledging? Free disk space now.",
                self.used_bytes(), self.disk_budget_bytes,
            )  # fmt: skip
        self._budget_alerted = over
        return deleted


def utcnow() -> datetime:
    return datetime.now(UTC)
