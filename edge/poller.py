"""One poller per terminal: it owns the terminal's connection, cursor, clock care and health.

Like a Home Assistant coordinator, a poller is the only thing that talks to its terminal; the rest
of the agent reads its ``health`` and queues work for it (``submit``). Each runs in its own thread
because pyzk blocks: a slow or dead terminal never delays another.

Finding new punches: the ZK protocol only reads the whole log. A cheap size check runs every poll
and a full read happens only when the size changed (or every ``full_read_interval``, which also
catches a full log overwriting its oldest records). New punches are the records past the cursor
when the log still starts and continues as last time; otherwise (cleared, wrapped, reordered, a
different device) the whole log is offered to the buffer, whose UNIQUE key keeps what it already
had. Either way a punch is committed to the buffer before the cursor moves past it.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from devices.driver import AttendanceLog, DriverError, TerminalDriver
from devices.punch import Punch
from edge.buffer import Buffer, Cursor
from edge.config import TerminalSettings
from presensi.contract import PunchFlag, TerminalHealth

log = logging.getLogger(__name__)
POWER_LOSS_BEFORE = datetime(2001, 1, 1)
LIVE_TICK_SECONDS = 1.0
STORE_CHUNK = 1000
# Decoding and storing a whole log is local CPU work; one terminal at a time keeps the peak memory of
# a start-up with many full logs low on a Pi. Network reads stay concurrent: a slow terminal holds no lock.
_DECODE_ONE_AT_A_TIME = threading.Lock()

Job = Callable[[TerminalDriver], str]


@dataclass(slots=True)
class PollerHealth:
    name: str
    serial: str | None = None
    reachable: bool = False
    mode: str = "starting"
    last_poll: datetime | None = None
    last_success: datetime | None = None
    records: int | None = None
    record_capacity: int | None = None
    users: int | None = None
    drift_seconds: float | None = None
    last_error: str | None = None
    punches_read: int = 0
    clock_corrections: int = 0
    log_clears: int = 0

    def to_contract(self) -> TerminalHealth:
        return TerminalHealth(
            terminal_sn=self.serial or self.name,
            name=self.name,
            reachable=self.reachable,
            last_poll=self.last_poll,
            last_success=self.last_success,
            records=self.records,
            record_capacity=self.record_capacity,
            users=self.users,
            drift_seconds=self.drift_seconds,
            last_error=self.last_error,
        )


def flags_for(
    punch: Punch, *, installed_on: date, now: datetime, future_tolerance: timedelta, drifting: bool
) -> tuple[PunchFlag, ...]:
    """Why a punch's timestamp is doubtful. Flagged punches are kept and sent, never dropped."""
    flags: list[PunchFlag] = []
    if punch.local_time < POWER_LOSS_BEFORE:
        flags.append(PunchFlag.CLOCK_RESET)
    elif punch.local_time.date() < installed_on:
        flags.append(PunchFlag.BEFORE_INSTALL)
    if punch.utc > now + future_tolerance:
        flags.append(PunchFlag.FUTURE)
    if drifting:
        flags.append(PunchFlag.CLOCK_DRIFT)
    return tuple(flags)


def resume_at(attendance: AttendanceLog, serial: str, cursor: Cursor | None) -> tuple[int, str]:
    """Where new punches start in a freshly read log: past the cursor when the log still starts and
    continues as last time, else at 0 with the reason (the buffer's unique key drops what it had)."""
    if cursor is None:
        return 0, "first read"
    if cursor.serial != serial:
        return 0, f"serial changed from {cursor.serial} to {serial}"
    if cursor.count == 0:
        return 0, ""
    if len(attendance) < cursor.count:
        return 0, f"log shrank from {cursor.count} to {len(attendance)} records (cleared at the device?)"
    first, last = attendance.punch_at(0), attendance.punch_at(cursor.count - 1)
    if first is None or last is None or first.key != cursor.first_key or last.key != cursor.last_key:
        return 0, "log no longer starts as before (wrapped, reordered or replaced)"
    return cursor.count, ""


def chunked(punches: Iterator[Punch], size: int) -> Iterator[list[Punch]]:
    while chunk := list(islice(punches, size)):
        yield chunk


class TerminalPoller(threading.Thread):
    def __init__(
        self,
        settings: TerminalSettings,
        buffer: Buffer,
        driver_factory: Callable[[TerminalSettings], TerminalDriver],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(name=f"poller-{settings.name}", daemon=True)
        self.settings = settings
        self.buffer = buffer
        self.driver_factory = driver_factory
        self.now = now
        self.zone = ZoneInfo(settings.zone)
        self.health = PollerHealth(settings.name)
        self._driver: TerminalDriver | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._jobs: queue.Queue[tuple[Job, Future[str]]] = queue.Queue()
        self._last_full_read = 0.0
        self._connected = False
        cursor = buffer.cursor(settings.name)
        if cursor is not None:
            self.health.serial = cursor.serial

    # --- control from other threads ------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._driver is not None:
            self._driver.stop_live()

    def submit(self, job: Job) -> "Future[str]":
        """Run ``job(driver)`` in this poller's thread (the driver is not thread-safe)."""
        future: Future[str] = Future()
        self._jobs.put((job, future))
        self._wake.set()
        if self._driver is not None:
            self._driver.stop_live()  # leave live capture so the job runs soon
        return future

    def request_full_read(self) -> None:
        self._last_full_read = 0.0
        self._wake.set()

    # --- the loop ------------------------------------------------------------------------------

    def run(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                self._ensure_connected()
                self._run_jobs()
                self.poll_once()
                backoff = 1.0
                if self.settings.live_capture and not self._stopping.is_set() and self._jobs.empty():
                    self._live()
                else:
                    self._wait(self.settings.poll_interval_seconds)
            except DriverError as exc:
                self._failed(str(exc))
                self._wait(min(backoff, self.settings.poll_interval_seconds))
                backoff = min(backoff * 2, 300.0)
            except Exception as exc:  # a poller must outlive any bug in one poll
                log.exception("terminal %s: unexpected error", self.settings.name)
                self._failed(f"{type(exc).__name__}: {exc}")
                self._wait(min(backoff, self.settings.poll_interval_seconds))
                backoff = min(backoff * 2, 300.0)
        self._run_jobs()
        self._disconnect()
        self.health.mode = "stopped"

    def _wait(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _failed(self, error: str) -> None:
        if self.health.last_error != error or self.health.reachable:
            log.warning("terminal %s: %s", self.settings.name, error)
        self.health.reachable = False
        self.health.last_error = error
        self.health.last_poll = self.now()
        self.health.mode = "retrying"
        self._disconnect()

    def _disconnect(self) -> None:
        if self._driver is not None:
            self._driver.close()
        self._connected = False

    def _ensure_connected(self) -> TerminalDriver:
        if self._driver is None:
            self._driver = self.driver_factory(self.settings)
        if not self._connected:
            self._driver.connect()
            info = self._driver.identify()
            self._connected = True
            if self.health.serial not in (None, info.serial):
                log.warning(
                    "terminal %s: serial changed from %s to %s", self.settings.name, self.health.serial, info.serial
                )
            self.health.serial = info.serial
            self.health.users = info.users
            self.health.record_capacity = info.record_capacity
            # After every (re)connect the next poll reads the whole log: the backfill that catches
            # punches made while we could not reach the terminal or its live stream was down.
            self._last_full_read = 0.0
        return self._driver

    def _run_jobs(self) -> None:
        while True:
            try:
                job, future = self._jobs.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job(self._ensure_connected()))
            except BaseException as exc:
                future.set_exception(exc)
                if isinstance(exc, DriverError):
                    self._failed(str(exc))

    # --- one poll --------------------------------------------------------------------------------

    def poll_once(self) -> int:
        """Check the clock and the log size; read the log when needed. Returns new punches stored."""
        driver = self._ensure_connected()
        now = self.now()
        self.health.last_poll = now
        drifting = self._check_clock(driver, now)
        size = driver.log_size()
        self.health.records, self.health.record_capacity = size.records, size.capacity
        cursor = self.buffer.cursor(self.settings.name)
        due = time.monotonic() - self._last_full_read >= self.settings.full_read_interval_seconds
        changed = cursor is None or cursor.count != size.records or cursor.serial != self.health.serial
        stored = self.read_log(driver, drifting) if (changed or due) else 0
        self._maybe_clear_log(driver, size.records, size.capacity)
        self.health.reachable = True
        self.health.last_error = None
        self.health.last_success = self.now()
        self.health.mode = "live" if self.settings.live_capture else "polling"
        return stored

    def read_log(self, driver: TerminalDriver, drifting: bool = False) -> int:
        """Read the whole log and store what is new; decodes only the cursor probes and the new tail."""
        attendance = driver.read_log()
        self._last_full_read = time.monotonic()
        count = len(attendance)
        first = attendance.punch_at(0) if count else None
        last = attendance.punch_at(count - 1) if count else None
        serial = self.health.serial or (first.terminal_sn if first else "")
        start, reason = resume_at(attendance, serial, self.buffer.cursor(self.settings.name))
        if reason:
            log.info("terminal %s: re-reading all %d records: %s", self.settings.name, count, reason)
        # In chunks, so a first read of a 100k-record log never holds 100k punch objects at once.
        with _DECODE_ONE_AT_A_TIME:
            stored = sum(self.store(chunk, drifting) for chunk in chunked(attendance.punches(start), STORE_CHUNK))
        cursor = Cursor(serial, count, first.key if first else None, last.key if last else None)
        self.buffer.set_cursor(self.settings.name, cursor, self.now())
        return stored

    def store(self, punches: list[Punch], drifting: bool = False) -> int:
        if not punches:
            return 0
        now = self.now()
        clock = self.settings.clock
        flags = {
            p.key: f
            for p in punches
            if (
                f := flags_for(
                    p,
                    installed_on=self.settings.installed_on,
                    now=now,
                    future_tolerance=timedelta(seconds=clock.future_tolerance_seconds),
                    drifting=drifting,
                )
            )
        }
        for key, reasons in flags.items():
            log.warning("terminal %s: punch %s flagged %s", self.settings.name, key, ",".join(reasons))
        stored = self.buffer.add(self.settings.name, punches, now, flags)
        self.health.punches_read += stored
        return stored

    def _check_clock(self, driver: TerminalDriver, now: datetime) -> bool:
        """Measure drift at every poll; correct it only when configured. Returns whether it drifts."""
        terminal_time = driver.read_clock()
        edge_local = now.astimezone(self.zone).replace(tzinfo=None)
        drift = (terminal_time - edge_local).total_seconds()
        self.health.drift_seconds = round(drift, 1)
        limit = self.settings.clock.max_drift_seconds
        if abs(drift) <= limit:
            return False
        if self.settings.clock.auto_correct:
            driver.set_clock(self.now().astimezone(self.zone).replace(tzinfo=None))
            self.health.clock_corrections += 1
            log.warning("terminal %s: clock off by %+.0f s, corrected (auto_correct is on)", self.settings.name, drift)
            return False
        log.warning("terminal %s: clock off by %+.0f s (limit %.0f s); not corrected", self.settings.name, drift, limit)
        return True

    def sync_clock(self, driver: TerminalDriver) -> str:
        """Set the terminal clock from the edge clock now (an operator's command)."""
        before = self.health.drift_seconds
        driver.set_clock(self.now().astimezone(self.zone).replace(tzinfo=None))
        self.health.clock_corrections += 1
        self._check_clock(driver, self.now())
        who = self.health.serial or self.settings.name
        return f"{who}: clock set (drift was {before} s, now {self.health.drift_seconds} s)"

    def count_users(self, driver: TerminalDriver) -> str:
        """Read the roster again (an operator's command) and say how many users it holds."""
        users = driver.read_users()
        self.health.users = len(users)
        return f"{self.health.serial or self.settings.name}: {len(users)} users"

    def _maybe_clear_log(self, driver: TerminalDriver, records: int, capacity: int) -> None:
        """Clear the device log above the fill level, only if the hub acknowledged every record in it.

        The terminal is disabled (nobody can punch) between the final read and the clear, so no
        punch can slip in between.
        """
        rule = self.settings.clear_log
        if not rule.enabled or capacity <= 0 or records / capacity < rule.fill_above:
            return
        driver.disable()
        try:
            punches = driver.read_attendance()
            self.store(punches)
            unacked = len(punches) - len(self.buffer.acked_keys(p.key for p in punches))
            if unacked:
                log.info("terminal %s: log %.0f%% full; %d records not yet acked, not clearing",
                         self.settings.name, 100 * records / capacity, unacked)  # fmt: skip
                return
            driver.clear_log()
            self.buffer.set_cursor(self.settings.name, Cursor(punches[0].terminal_sn, 0, None, None), self.now())
            self.health.log_clears += 1
            self.health.records = 0
            log.warning(
                "terminal %s: cleared %d acknowledged records from the device log", self.settings.name, len(punches)
            )
        finally:
            driver.enable()

    # --- live capture ----------------------------------------------------------------------------

    def _live(self) -> None:
        """Store punches as they happen; return to poll after ``full_read_interval`` or when the stream
        dies (the caller reconnects and its poll backfills whatever was missed)."""
        driver = self._ensure_connected()
        until = time.monotonic() + self.settings.full_read_interval_seconds
        self.health.mode = "live"
        caught_up = False
        try:
            for punch in driver.live_events(LIVE_TICK_SECONDS):
                if punch is not None:
                    self.store([punch])
                    self.health.last_success = self.now()
                if not caught_up:
                    caught_up = True
                    self._catch_up()
                if self._stopping.is_set() or not self._jobs.empty() or time.monotonic() >= until:
                    driver.stop_live()
        finally:
            self._connected = False  # live capture ends with the connection closed

    def _catch_up(self) -> None:
        """Read punches made between the backfill read and the event registration.

        Those reached neither the read nor the stream; the live connection cannot carry commands,
        so a second, short connection checks the log size and reads the log if it grew.
        """
        side = self.driver_factory(self.settings)
        try:
            side.connect()
            cursor = self.buffer.cursor(self.settings.name)
            if cursor is None or side.log_size().records != cursor.count:
                self.read_log(side)
        finally:
            side.close()

    def snapshot(self) -> PollerHealth:
        return replace(self.health)
