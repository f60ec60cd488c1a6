"""The small interface every terminal driver offers, and the errors it raises.

The edge's pollers speak only this interface, so a driver for another protocol (e.g. ADMS push)
plugs in without touching buffering or shipping. Drivers are blocking and used from one thread
each (one per terminal).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from devices.punch import Punch


class DriverError(Exception):
    """Base of every driver error; ``str()`` is meant for operators (and the health report)."""


class TerminalUnreachable(DriverError):
    """No answer, connection refused or dropped: try again later."""


class TerminalAuthError(DriverError):
    """The terminal refused the comm key."""


class TerminalProtocolError(DriverError):
    """The terminal answered something the driver cannot use (firmware quirk, corrupt data)."""


@dataclass(frozen=True, slots=True)
class TerminalInfo:
    serial: str
    platform: str
    firmware: str
    device_name: str
    mac: str
    users: int
    user_capacity: int
    records: int
    record_capacity: int


@dataclass(frozen=True, slots=True)
class DeviceUser:
    uid: int
    pin: str
    name: str
    privilege: int
    card: int


@dataclass(frozen=True, slots=True)
class LogSize:
    records: int
    capacity: int


class AttendanceLog(Protocol):
    """A terminal's whole log as read once, decoded on demand (a 50k-record log is not 50k objects)."""

    def __len__(self) -> int: ...

    def punch_at(self, index: int) -> Punch | None:
        """The punch at ``index`` in log order, or None if that record is corrupt."""
        ...

    def punches(self, start: int = 0) -> Iterator[Punch]:
        """Punches from ``start`` on, in log order (corrupt records are counted by the driver)."""
        ...


class TerminalDriver(Protocol):
    """What a poller needs from a terminal. Every method may raise a ``DriverError``."""

    def connect(self) -> None: ...

    def close(self) -> None: ...

    def identify(self) -> TerminalInfo: ...

    def read_clock(self) -> datetime:
        """The terminal's local wall time (naive)."""
        ...

    def set_clock(self, local: datetime) -> None: ...

    def log_size(self) -> LogSize:
        """Records in the log and its capacity: a cheap check before a full read."""
        ...

    def read_users(self) -> list[DeviceUser]: ...

    def read_log(self) -> AttendanceLog:
        """The whole attendance log (the ZK protocol has no "records since")."""
        ...

    def read_attendance(self) -> list[Punch]:
        """Every record in the log, in log order, normalised."""
        ...

    def live_events(self, tick_seconds: float) -> Iterator[Punch | None]:
        """Punches as they happen; ``None`` every tick without one. Ends by raising DriverError."""
        ...

    def stop_live(self) -> None: ...

    def clear_log(self) -> None: ...

    def disable(self) -> None:
        """Lock the keypad/sensor (nobody can punch) around operations that must not race punches."""
        ...

    def enable(self) -> None: ...
