"""One simulated terminal: its roster, attendance log, clock, options and faults.

This is the device, independent of any network: the server (``server.py``) speaks the protocol
on top of it, the workforce (``workforce.py``) punches on it, tests and the admin port flip its
faults. Methods are thread-safe because tests drive it from outside the server's event loop.
"""

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from simulators.zk.clock import SimClock, TerminalClock
from simulators.zk.layouts import (
    DEFAULT_PROFILE,
    PROFILES,
    FirmwareProfile,
    Record,
    Sizes,
    User,
    encode_dataset,
    encode_record,
    encode_sizes,
    encode_user,
)

WhenFull = Literal["stop", "overwrite"]
PunchListener = Callable[[Record], None]


@dataclass(slots=True)
class Faults:
    """Failures switchable at run time. Each models something seen on real terminals."""

    unreachable: bool = False  # cable cut / switch down: packets vanish, nothing answers
    reply_delay: float = 0.0  # seconds before every reply (a busy or far-away terminal)
    drop_mid_transfer: bool = False  # the connection dies halfway through every buffered read
    refuse_auth: bool = False  # the comm key was changed at the device: every AUTH is refused
    udp_only: bool = False  # old firmware: TCP connections are dropped at once, only UDP answers


@dataclass(slots=True)
class TerminalStats:
    punches_recorded: int = 0
    punches_refused_full: int = 0
    punches_lost_powered_off: int = 0
    records_overwritten: int = 0
    punches_deferred_disabled: int = 0
    connections: int = 0
    commands: int = 0
    unknown_commands: int = 0


@dataclass(slots=True)
class Identity:
    serial: str
    name: str = "Presensi Simulated Terminal"
    mac: str = "00:17:61:00:00:01"
    ip: str = "127.0.0.1"
    fp_version: int = 10
    face_version: int = 7


class Terminal:
    """A ZK attendance terminal's state."""

    def __init__(
        self,
        serial: str,
        *,
        world: SimClock | None = None,
        zone: str = "Asia/Jakarta",
        profile: str | FirmwareProfile = DEFAULT_PROFILE,
        comm_key: int = 0,
        user_capacity: int = 10_000,
        record_capacity: int = 100_000,
        when_full: WhenFull = "overwrite",
        clock_offset_seconds: float = 0.0,
        clock_drift_ppm: float = 0.0,
        identity: Identity | None = None,
    ) -> None:
        self.identity = identity or Identity(serial=serial)
        self.identity.serial = serial
        self.world = world or SimClock()
        self.zone = zone
        self.clock = TerminalClock(self.world, zone, clock_offset_seconds, clock_drift_ppm)
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.comm_key = comm_key
        self.user_capacity = user_capacity
        self.record_capacity = record_capacity
        self.when_full: WhenFull = when_full
        self.faults = Faults()
        self.stats = TerminalStats()
        self.enabled = True
        self.powered = True
        self.options: dict[str, str] = {}
        self._lock = threading.RLock()
        self._users: dict[int, User] = {}
        # Indexes kept with _users: enrolling 50k employees and punching by PIN must not scan the roster.
        self._uid_by_pin: dict[str, int] = {}
        self._next_free_uid = 1
        self._log: deque[Record] = deque()
        self._log_bytes = bytearray()
        self._users_blob: bytes | None = None
        self._deferred: list[tuple[str, int, int]] = []
        self._listeners: list[PunchListener] = []

    # --- identity -------------------------------------------------------------------------

    @property
    def serial(self) -> str:
        return self.identity.serial

    def option(self, key: str) -> str | None:
        """An option as CMD_OPTIONS_RRQ answers it (``None``: the terminal does not know the key)."""
        builtin = {
            "~SerialNumber": self.serial,
            "~Platform": self.profile.platform,
            "~DeviceName": self.identity.name,
            "MAC": self.identity.mac,
            "~ZKFPVersion": str(self.identity.fp_version),
            "ZKFaceVersion": str(self.identity.face_version),
            "~ExtendFmt": "1" if self.profile.record_size == 40 else "0",
            "~UserExtFmt": "1" if self.profile.user_size == 72 else "0",
            "FaceFunOn": "1" if self.identity.face_version else "0",
            "CompatOldFirmware": "0" if self.profile.user_size == 72 else "1",
            "IPAddress": self.identity.ip,
            "NetMask": "255.255.255.0",
            "GATEIPAddress": "0.0.0.0",
            "~OS": "1",
            "~PIN2Width": str(self.profile.pin_width),
        }
        with self._lock:
            return self.options.get(key, builtin.get(key))

    # --- roster ---------------------------------------------------------------------------

    def users(self) -> list[User]:
        with self._lock:
            return [self._users[uid] for uid in sorted(self._users)]

    def add_user(self, pin: str, name: str = "", *, privilege: int = 0, card: int = 0, password: str = "") -> User:
        """Enrol a PIN in the next free uid slot (or return the existing enrolment)."""
        with self._lock:
            existing = self.user_by_pin(pin)
            if existing is not None:
                return existing
            if len(self._users) >= self.user_capacity:
                raise OverflowError(f"terminal {self.serial} user capacity {self.user_capacity} reached")
            uid = self._next_free_uid
            while uid in self._users:
                uid += 1
            if uid >= 65536:
                uid = next(i for i in range(1, 65536) if i not in self._users)  # slots freed by deletions
            user = User(uid, pin, name, privilege, password, card)
            self.set_user(user)
            return user

    def set_user(self, user: User) -> None:
        with self._lock:
            # A uid slot holds one user and a PIN lives in one slot, as on the device.
            old_uid = self._uid_by_pin.get(user.pin)
            if old_uid is not None and old_uid != user.uid:
                self._forget(old_uid)
            replaced = self._users.get(user.uid)
            if replaced is not None and replaced.pin != user.pin:
                self._uid_by_pin.pop(replaced.pin, None)
            self._users[user.uid] = user
            self._uid_by_pin[user.pin] = user.uid
            if user.uid == self._next_free_uid:
                self._next_free_uid += 1
            self._users_blob = None

    def _forget(self, uid: int) -> bool:
        user = self._users.pop(uid, None)
        if user is None:
            return False
        if self._uid_by_pin.get(user.pin) == uid:
            del self._uid_by_pin[user.pin]
        self._next_free_uid = min(self._next_free_uid, uid)
        return True

    def delete_user(self, uid: int) -> bool:
        with self._lock:
            self._users_blob = None
            return self._forget(uid)

    def user_by_pin(self, pin: str) -> User | None:
        with self._lock:
            uid = self._uid_by_pin.get(pin)
            return None if uid is None else self._users[uid]

    # --- attendance log ---------------------------------------------------------------------

    def records(self) -> list[Record]:
        with self._lock:
            return list(self._log)

    @property
    def record_count(self) -> int:
        with self._lock:
            return len(self._log)

    def add_listener(self, listener: PunchListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: PunchListener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def punch(
        self, pin: str, status: int = 0, verify: int = 1, *, at: datetime | None = None, workcode: int = 0
    ) -> Record | None:
        """Someone verifies at the terminal. Returns the record, or None if none was written.

        The record carries what the terminal's clock shows, right or wrong, as a real one does;
        ``at`` gives that reading for a planned instant (the workforce) or for history.
        """
        with self._lock:
            user = self.user_by_pin(pin)
            if user is None:
                raise KeyError(f"PIN {pin!r} is not enrolled on terminal {self.serial}")
            if not self.powered:
                self.stats.punches_lost_powered_off += 1
                return None
            if not self.enabled:
                # The screen says "working..."; people wait and verify once it is enabled again.
                self._deferred.append((pin, status, verify))
                self.stats.punches_deferred_disabled += 1
                return None
            record = self._append(Record(user.uid, pin, at or self.clock.now(), status, verify, workcode))
            if record is not None:
                self.stats.punches_recorded += 1
            listeners = list(self._listeners) if record else []
        for listener in listeners:
            assert record is not None
            listener(record)
        return record

    def _append(self, record: Record) -> Record | None:
        if len(self._log) >= self.record_capacity:
            if self.when_full == "stop":
                self.stats.punches_refused_full += 1
                return None
            self._log.popleft()
            del self._log_bytes[: self.profile.record_size]
            self.stats.records_overwritten += 1
        self._log.append(record)
        self._log_bytes += encode_record(record, self.profile.record_layout)
        return record

    def prefill(self, records: list[Record]) -> None:
        """Load history quickly (no listeners): for large logs in tests and benchmarks."""
        with self._lock:
            for record in records:
                self._append(record)

    def clear_log(self) -> int:
        """Someone cleared the attendance log at the device (or CMD_CLEAR_ATTLOG). Returns how many went."""
        with self._lock:
            count = len(self._log)
            self._log.clear()
            self._log_bytes = bytearray()
            return count

    def clear_all(self) -> None:
        """CMD_CLEAR_DATA: users and attendance."""
        with self._lock:
            self.clear_log()
            self._users.clear()
            self._uid_by_pin.clear()
            self._next_free_uid = 1
            self._users_blob = None

    def set_enabled(self, enabled: bool) -> None:
        with self._lock:
            self.enabled = enabled
            deferred, self._deferred = (self._deferred, []) if enabled else ([], self._deferred)
        for pin, status, verify in deferred:
            self.punch(pin, status, verify)

    # --- clock, power and firmware ----------------------------------------------------------

    def power_loss(self) -> None:
        """Power cut with a flat RTC battery: the clock restarts at 2000-01-01, the log survives."""
        self.clock.power_loss()

    def set_profile(self, profile: str | FirmwareProfile) -> None:
        """Switch firmware (as after a firmware update): every layout follows, the data stays."""
        with self._lock:
            self.profile = PROFILES[profile] if isinstance(profile, str) else profile
            self._log_bytes = bytearray(b"".join(encode_record(r, self.profile.record_layout) for r in self._log))
            self._users_blob = None

    # --- what the protocol reads --------------------------------------------------------------

    def sizes(self) -> Sizes:
        with self._lock:
            return Sizes(
                users=len(self._users),
                fingers=0,
                records=len(self._log),
                user_capacity=self.user_capacity,
                finger_capacity=3000,
                record_capacity=self.record_capacity,
                faces=0,
                face_capacity=500 if self.identity.face_version else 0,
            )

    def sizes_block(self) -> bytes:
        return encode_sizes(self.sizes())

    def users_dataset(self) -> bytes:
        with self._lock:
            if self._users_blob is None:
                self._users_blob = encode_dataset(
                    [encode_user(self._users[uid], self.profile.user_size) for uid in sorted(self._users)]
                )
            return self._users_blob

    def attendance_dataset(self) -> bytes:
        with self._lock:
            return len(self._log_bytes).to_bytes(4, "little") + bytes(self._log_bytes)

    # --- persistence --------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "serial": self.serial,
                "identity": asdict(self.identity),
                "zone": self.zone,
                "profile": self.profile.name,
                "comm_key": self.comm_key,
                "user_capacity": self.user_capacity,
                "record_capacity": self.record_capacity,
                "when_full": self.when_full,
                "clock": {"offset_seconds": self.clock.offset_seconds, "drift_ppm": self.clock.drift_ppm},
                "options": dict(self.options),
                "users": [asdict(u) for u in self.users()],
                "records": [[r.uid, r.pin, r.timestamp.isoformat(), r.status, r.punch, r.workcode] for r in self._log],
            }

    def save(self, path: Path) -> None:
        """Write the state atomically (a crash mid-save leaves the previous file)."""
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_state()))
        tmp.replace(path)

    @classmethod
    def from_state(cls, state: dict[str, Any], world: SimClock | None = None) -> "Terminal":
        terminal = cls(
            state["serial"],
            world=world,
            zone=state["zone"],
            profile=state["profile"],
            comm_key=state["comm_key"],
            user_capacity=state["user_capacity"],
            record_capacity=state["record_capacity"],
            when_full=state["when_full"],
            clock_offset_seconds=state["clock"]["offset_seconds"],
            clock_drift_ppm=state["clock"]["drift_ppm"],
            identity=Identity(**state["identity"]),
        )
        terminal.options.update(state.get("options", {}))
        for user in state["users"]:
            terminal.set_user(User(**user))
        terminal.prefill(
            [Record(uid, pin, datetime.fromisoformat(ts), st, pu, wc) for uid, pin, ts, st, pu, wc in state["records"]]
        )
        terminal.stats = TerminalStats()
        return terminal

    @classmethod
    def load(cls, path: Path, world: SimClock | None = None) -> "Terminal":
        return cls.from_state(json.loads(path.read_text()), world)

    def describe(self) -> dict[str, Any]:
        """A summary for the CLI, the admin port and logs."""
        with self._lock:
            return {
                "serial": self.serial,
                "zone": self.zone,
                "profile": self.profile.name,
                "user_size": self.profile.user_size,
                "record_size": self.profile.record_size,
                "users": len(self._users),
                "records": len(self._log),
                "record_capacity": self.record_capacity,
                "when_full": self.when_full,
                "comm_key_set": bool(self.comm_key),
                "clock": self.clock.now().isoformat(),
                "enabled": self.enabled,
                "powered": self.powered,
                "faults": asdict(self.faults),
                "stats": asdict(self.stats),
            }


__all__ = ["Faults", "Identity", "Terminal", "TerminalStats", "WhenFull"]
