"""ZK terminal driver on unmodified pyzk 0.9.

pyzk does the protocol; this class adds what an unattended edge needs: timeouts, TCP with UDP
fallback, pyzk's many exception types folded into three driver errors, and workarounds for
pyzk 0.9 bugs that bite in the field (each with a test in tests/devices/):
- get_attendance is quadratic in the log size and misreads ZEM500/MA300 8-byte records:
  the raw data set is fetched with pyzk's read_with_buffer and decoded by ``codec``.
- live_capture raises UnboundLocalError on 10/14/37-byte events and misparses two events that
  arrive in one TCP read: events are read here from pyzk's socket, framed and decoded by ``codec``.
- get_users stores the user record size as a float; the driver never relies on it.
"""

import contextlib
import logging
import re
import socket
import struct
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from zk import ZK, const
from zk.exception import ZKErrorConnection, ZKErrorResponse, ZKNetworkError

from devices.driver import (
    DeviceUser,
    DriverError,
    LogSize,
    TerminalAuthError,
    TerminalInfo,
    TerminalProtocolError,
    TerminalUnreachable,
)
from devices.punch import Punch
from devices.zk.codec import RawRecord, RecordLayout, RecordTable, decode_event, split_tcp_frames

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_SERIAL = 64  # the contract's limit
MAX_PIN = 24
_UNUSABLE = re.compile(r"[|\s]")


def usable_pin(value: str, max_length: int = MAX_PIN) -> bool:
    """True when ``value`` can be a PIN (or serial) in a punch key and the contract: non-empty, no '|' or spaces."""
    return 0 < len(value) <= max_length and _UNUSABLE.search(value) is None


Transport = Literal["tcp", "udp", "auto"]


class ZKDriver:
    """One ZK terminal. Not thread-safe: each terminal has its own poller thread and driver."""

    def __init__(
        self,
        host: str,
        port: int = 4370,
        *,
        zone: str = "Asia/Jakarta",
        transport: Transport = "auto",
        comm_key: int = 0,
        timeout: float = 10.0,
        record_layout: RecordLayout = "auto",
    ) -> None:
        self.host = host
        self.port = port
        self.zone = ZoneInfo(zone)
        self.transport = transport
        self.comm_key = comm_key
        self.timeout = timeout
        self.record_layout: RecordLayout = record_layout
        self.serial: str | None = None
        self.undecodable_records = 0
        self.connected_over: Literal["tcp", "udp"] | None = None
        self._conn: Any = None
        self._pin_of_uid: dict[int, str] = {}
        self._live = False

    def __repr__(self) -> str:
        return f"ZKDriver({self.host}:{self.port}, {self.transport})"

    # --- plumbing ----------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run a pyzk call, turning its exceptions into driver errors an operator can read."""
        try:
            return fn()
        except ZKErrorResponse as exc:
            if "Unauthenticated" in str(exc):
                raise TerminalAuthError(f"{self.host}:{self.port} refused the comm key") from exc
            raise TerminalProtocolError(f"{what}: terminal refused ({exc})") from exc
        except (ZKNetworkError, ZKErrorConnection, OSError) as exc:
            # socket.timeout is an OSError; pyzk lets it escape from chunked reads.
            self._drop()
            raise TerminalUnreachable(f"{what}: {self.host}:{self.port}: {exc or type(exc).__name__}") from exc
        except (struct.error, ValueError, IndexError, UnboundLocalError, TypeError, AttributeError) as exc:
            self._drop()
            raise TerminalProtocolError(f"{what}: unexpected reply ({type(exc).__name__}: {exc})") from exc

    def _drop(self) -> None:
        if self._conn is not None:
            sock = getattr(self._conn, "_ZK__sock", None)
            with contextlib.suppress(OSError):
                if sock is not None:
                    sock.close()
        self._conn = None

    @property
    def conn(self) -> Any:
        if self._conn is None:
            raise TerminalUnreachable(f"{self.host}:{self.port}: not connected")
        return self._conn

    # --- the driver interface ----------------------------------------------------------------

    def connect(self) -> None:
        order: list[Literal["tcp", "udp"]] = ["tcp", "udp"] if self.transport == "auto" else [self.transport]
        last: DriverError | None = None
        for transport in order:
            zk = ZK(
                self.host,
                port=self.port,
                timeout=self.timeout,
                password=self.comm_key,
                force_udp=transport == "udp",
                ommit_ping=True,
            )
            try:
                self._conn = self._call("connect", zk.connect)
                self.connected_over = transport
                return
            except TerminalAuthError:
                raise  # a wrong key is wrong on every transport
            except DriverError as exc:
                last = exc
                log.debug("%r: %s failed: %s", self, transport, exc)
        assert last is not None
        raise last

    def close(self) -> None:
        if self._conn is None:
            return
        with contextlib.suppress(Exception):
            self._conn.disconnect()
        self._drop()

    def identify(self) -> TerminalInfo:
        conn = self.conn
        serial = self._call("serial number", conn.get_serialnumber)
        if not usable_pin(serial, MAX_SERIAL):
            raise TerminalProtocolError(f"{self.host}:{self.port} reports an unusable serial number {serial!r}")
        self.serial = serial
        self._call("sizes", conn.read_sizes)
        return TerminalInfo(
            serial=serial,
            platform=self._call("platform", conn.get_platform),
            firmware=self._call("firmware", conn.get_firmware_version),
            device_name=self._call("device name", conn.get_device_name),
            mac=self._call("mac", conn.get_mac),
            users=conn.users,
            user_capacity=conn.users_cap,
            records=conn.records,
            record_capacity=conn.rec_cap,
        )

    def read_clock(self) -> datetime:
        return self._call("read clock", self.conn.get_time)  # type: ignore[no-any-return]

    def set_clock(self, local: datetime) -> None:
        self._call("set clock", lambda: self.conn.set_time(local))

    def log_size(self) -> LogSize:
        conn = self.conn
        self._call("sizes", conn.read_sizes)
        return LogSize(records=conn.records, capacity=conn.rec_cap)

    def read_users(self) -> list[DeviceUser]:
        users = self._call("read users", self.conn.get_users)
        result = [DeviceUser(u.uid, str(u.user_id), u.name, u.privilege, int(u.card)) for u in users]
        self._pin_of_uid = {u.uid: u.pin for u in result}
        return result

    def _serial(self) -> str:
        if self.serial is None:
            self.identify()
        assert self.serial is not None
        return self.serial

    def _punch(self, raw: RawRecord) -> Punch:
        pin = raw.pin
        if not pin:
            if raw.uid not in self._pin_of_uid:
                self.read_users()
            # A uid with no user (deleted since) still identifies the person on this terminal.
            pin = self._pin_of_uid.get(raw.uid, "")
        if not usable_pin(pin):
            # A user saved without a PIN, or with one the punch key cannot carry ('|', spaces): the punch
            # still counts, under the terminal's uid, where an operator can enroll it. Raising here would
            # stop every later record of the log from being read, poll after poll.
            log.warning(
                "%s: uid %d has PIN %r, unusable in a punch key; using uid%d", self.serial, raw.uid, pin, raw.uid
            )
            pin = f"uid{raw.uid}"
        return Punch.from_device(self._serial(), self.zone, pin, raw.local_time, raw.status, raw.punch, raw.workcode)

    def read_log(self) -> "ZKAttendanceLog":
        conn = self.conn
        self._serial()
        self._call("sizes", conn.read_sizes)
        count = conn.records
        if count == 0:
            return ZKAttendanceLog(self, RecordTable(b"", 0))
        dataset, _size = self._call("read attendance", lambda: conn.read_with_buffer(const.CMD_ATTLOG_RRQ))
        return ZKAttendanceLog(self, RecordTable(dataset, count, self.record_layout))

    def read_attendance(self) -> list[Punch]:
        return list(self.read_log().punches())

    def _undecodable(self, count: int) -> None:
        self.undecodable_records += count
        log.error("%s: %d attendance records with impossible timestamps could not be decoded", self.serial, count)

    def live_events(self, tick_seconds: float) -> Iterator[Punch | None]:
        conn = self.conn
        self._serial()
        self.read_users()
        self._call("cancel capture", conn.cancel_capture)
        self._call("verify mode", conn.verify_user)
        self._call("enable", conn.enable_device)
        self._call("register events", lambda: conn.reg_event(const.EF_ATTLOG))
        sock: socket.socket = conn._ZK__sock
        sock.settimeout(tick_seconds)
        tcp = self.connected_over == "tcp"
        pending = bytearray()
        self._live = True
        try:
            while self._live:
                try:
                    data = sock.recv(65536 if tcp else 2048)
                except TimeoutError:
                    yield None
                    continue
                except OSError as exc:
                    raise TerminalUnreachable(f"live events from {self.host}:{self.port}: {exc}") from exc
                if tcp and not data:
                    raise TerminalUnreachable(f"live events from {self.host}:{self.port}: connection closed")
                if tcp:
                    pending += data
                    try:
                        frames = list(split_tcp_frames(pending))
                    except ValueError as exc:
                        raise TerminalProtocolError(f"live events: {exc}") from exc
                else:
                    frames = [(*struct.unpack_from("<HxxH", data), data[8:])] if len(data) >= 8 else []
                for command, _session, payload in frames:
                    self._call("ack event", conn._ZK__ack_ok)
                    if command != const.CMD_REG_EVENT or not payload:
                        continue
                    try:
                        raw = decode_event(payload)
                    except ValueError as exc:
                        self.undecodable_records += 1
                        log.error(
                            "%s: undecodable live event (%s); the next poll reads it from the log", self.serial, exc
                        )
                        continue
                    yield self._punch(raw)
        finally:
            self._live = False
            # The connection may still carry events; the poller reconnects for its next command.
            self.close()

    def stop_live(self) -> None:
        self._live = False

    def clear_log(self) -> None:
        self._call("clear attendance", self.conn.clear_attendance)

    def disable(self) -> None:
        self._call("disable", self.conn.disable_device)

    def enable(self) -> None:
        self._call("enable", self.conn.enable_device)


class ZKAttendanceLog:
    """A log read from a ZK terminal: raw bytes, decoded into punches only where asked."""

    def __init__(self, driver: ZKDriver, table: RecordTable) -> None:
        self._driver = driver
        self._table = table

    def __len__(self) -> int:
        return len(self._table)

    def punch_at(self, index: int) -> Punch | None:
        try:
            return self._driver._punch(self._table.record(index))
        except ValueError:
            return None

    def punches(self, start: int = 0) -> Iterator[Punch]:
        before = self._table.undecodable
        for record in self._table.records(start):
            yield self._driver._punch(record)
        if self._table.undecodable > before:
            self._driver._undecodable(self._table.undecodable - before)
