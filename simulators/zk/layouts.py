"""Byte layouts of users, attendance records, realtime events and the free-sizes block.

Which layout a terminal uses depends on its firmware; ``FirmwareProfile`` names the combinations
seen on real devices, including ones pyzk 0.9 decodes wrongly (kept so the edge driver can be
tested against them).
"""

import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from devices.zk.codec import decode_time
from simulators.zk.protocol import encode_time, encode_time_hex

UserSize = Literal[28, 72]
RecordLayout = Literal["8", "8-zem500", "16", "40"]
EventLayout = Literal["10", "12", "14", "32", "36", "37", "52"]

USER_28 = struct.Struct("<HB5s8sIxBhI")
USER_72 = struct.Struct("<HB8s24sIx7sx24s")
RECORD_8 = struct.Struct("<HB4sB")  # what pyzk 0.9 reads: uid, status, time, punch
RECORD_8_ZEM500 = struct.Struct("<HBB4s")  # ZEM500/MA300 as reported in pyzk issues 56/92/99
RECORD_16 = struct.Struct("<I4sBB2sI")
RECORD_40 = struct.Struct("<H24sB4sB8s")
RECORD_SIZES: dict[str, int] = {"8": 8, "8-zem500": 8, "16": 16, "40": 40}


@dataclass(frozen=True, slots=True)
class FirmwareProfile:
    """The record layouts and identity strings of one kind of terminal firmware."""

    name: str
    platform: str
    firmware: str
    user_size: UserSize
    record_layout: RecordLayout
    event_layout: EventLayout
    pin_width: int

    @property
    def record_size(self) -> int:
        return RECORD_SIZES[self.record_layout]


PROFILES: dict[str, FirmwareProfile] = {
    p.name: p
    for p in (
        # Current TFT/face terminals (the default): 72-byte users, 40-byte records.
        FirmwareProfile("zk8", "ZMM220_TFT", "Ver 6.60 Apr 28 2016", 72, "40", "36", 9),
        FirmwareProfile("zk8-event52", "ZMM220_TFT", "Ver 6.60 Sep 12 2019", 72, "40", "52", 9),
        FirmwareProfile("zk8-event32", "ZMM220_TFT", "Ver 6.60 Jan 10 2017", 72, "40", "32", 9),
        # Older ZK6 black-and-white units: 28-byte users, 16-byte records with numeric PINs.
        FirmwareProfile("zk6", "ZEM510_TFT", "Ver 6.4.1 Mar 12 2013", 28, "16", "12", 9),
        # Oldest units: 8-byte records keyed by uid slot.
        FirmwareProfile("zem500", "ZEM500", "Ver 6.21 Nov 19 2008", 28, "8", "10", 5),
        # 8-byte records in the byte order real ZEM500/MA300 send, which pyzk 0.9 misreads.
        FirmwareProfile("ma300", "ZEM500", "Ver 6.21 Aug 19 2010", 28, "8-zem500", "14", 5),
        # Firmware whose live events are 37 bytes: pyzk 0.9 raises UnboundLocalError on them.
        FirmwareProfile("zk8-event37", "ZMM220_TFT", "Ver 6.60 Oct 2 2020", 72, "40", "37", 9),
    )
}
DEFAULT_PROFILE = "zk8"


def profile_for_record_size(size: int) -> FirmwareProfile:
    """The preset used by ``--record-size``."""
    by_size = {40: "zk8", 16: "zk6", 8: "zem500"}
    if size not in by_size:
        raise ValueError(f"record size must be one of {sorted(by_size)}, not {size}")
    return PROFILES[by_size[size]]


@dataclass(slots=True)
class User:
    uid: int  # the internal slot, 1..65535
    pin: str  # user_id: what people type; numeric on 28-byte firmware
    name: str = ""
    privilege: int = 0
    password: str = ""
    card: int = 0
    group: str = "1"


@dataclass(frozen=True, slots=True)
class Record:
    uid: int
    pin: str
    timestamp: datetime  # device-local, naive
    status: int = 0  # the state key: 0 check-in, 1 check-out, 4 overtime in, 5 overtime out
    punch: int = 1  # verification: 1 fingerprint, 0 password, 4 card, 15 face
    workcode: int = 0


def _text(value: str, size: int) -> bytes:
    return value.encode("utf-8", errors="ignore")[:size]


def _numeric_pin(pin: str) -> int:
    try:
        return int(pin)
    except ValueError:
        raise ValueError(f"PIN {pin!r} is not numeric: 28-byte/16-byte firmware stores PINs as integers") from None


def encode_user(user: User, size: UserSize) -> bytes:
    if size == 28:
        group = int(user.group) if user.group.isdigit() else 0
        return USER_28.pack(
            user.uid,
            user.privilege,
            _text(user.password, 5),
            _text(user.name, 8),
            user.card,
            group,
            0,
            _numeric_pin(user.pin),
        )
    return USER_72.pack(
        user.uid,
        user.privilege,
        _text(user.password, 8),
        _text(user.name, 24),
        user.card,
        _text(user.group, 7),
        _text(user.pin, 24),
    )


def _cstr(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", errors="ignore")


def decode_user(data: bytes) -> User:
    """A user record as a client writes it with CMD_USER_WRQ (28 or 72 bytes)."""
    if len(data) == USER_28.size:
        uid, priv, password, name, card, group, _tz, pin = USER_28.unpack(data)
        return User(uid, str(pin), _cstr(name), priv, _cstr(password), card, str(group))
    if len(data) == USER_72.size:
        # pyzk writes the card as 4 raw bytes in the same place as the u32 we read.
        uid, priv, password, name, card, group, pin = USER_72.unpack(data)
        return User(uid, _cstr(pin), _cstr(name), priv, _cstr(password), card, _cstr(group))
    raise ValueError(f"user record of {len(data)} bytes (expected 28 or 72)")


def encode_record(record: Record, layout: RecordLayout) -> bytes:
    t = struct.pack("<I", encode_time(record.timestamp))
    if layout == "40":
        return RECORD_40.pack(record.uid, _text(record.pin, 24), record.status, t, record.punch, b"")
    if layout == "16":
        return RECORD_16.pack(_numeric_pin(record.pin), t, record.status, record.punch, b"", record.workcode)
    if layout == "8":
        return RECORD_8.pack(record.uid, record.status, t, record.punch)
    return RECORD_8_ZEM500.pack(record.uid, record.status, record.punch, t)


def decode_record(data: bytes, layout: RecordLayout, pin_of_uid: dict[int, str] | None = None) -> Record:
    """Decode as the firmware meant it (the edge driver uses this to repair pyzk misreads)."""
    pins = pin_of_uid or {}
    if layout == "40":
        uid, pin, status, t, punch, _ = RECORD_40.unpack(data)
        return Record(uid, _cstr(pin), decode_time(struct.unpack("<I", t)[0]), status, punch)
    if layout == "16":
        pin_n, t, status, punch, _, workcode = RECORD_16.unpack(data)
        return Record(0, str(pin_n), decode_time(struct.unpack("<I", t)[0]), status, punch, workcode)
    if layout == "8":
        uid, status, t, punch = RECORD_8.unpack(data)
    else:
        uid, status, punch, t = RECORD_8_ZEM500.unpack(data)
    return Record(uid, pins.get(uid, str(uid)), decode_time(struct.unpack("<I", t)[0]), status, punch)


def encode_dataset(items: list[bytes]) -> bytes:
    """A buffered-read data set: u32 total length of the records, then the records."""
    body = b"".join(items)
    return struct.pack("<I", len(body)) + body


def encode_event(record: Record, layout: EventLayout) -> bytes:
    """A realtime EF_ATTLOG event payload."""
    th = encode_time_hex(record.timestamp)
    pin24 = _text(record.pin, 24).ljust(24, b"\x00")
    if layout == "10":
        return struct.pack("<HBB6s", record.uid, record.status, record.punch, th)
    if layout == "12":
        return struct.pack("<IBB6s", _numeric_pin(record.pin), record.status, record.punch, th)
    if layout == "14":
        return struct.pack("<HBB6s4s", record.uid, record.status, record.punch, th, b"")
    if layout == "32":
        return struct.pack("<24sBB6s", pin24, record.status, record.punch, th)
    if layout == "36":
        return struct.pack("<24sBB6s4s", pin24, record.status, record.punch, th, b"")
    if layout == "37":
        return struct.pack("<24sBB6s5s", pin24, record.status, record.punch, th, b"")
    return struct.pack("<24sBB6s20s", pin24, record.status, record.punch, th, b"")


@dataclass(frozen=True, slots=True)
class Sizes:
    users: int
    fingers: int
    records: int
    user_capacity: int
    finger_capacity: int
    record_capacity: int
    faces: int = 0
    face_capacity: int = 0


def encode_sizes(s: Sizes) -> bytes:
    """CMD_GET_FREE_SIZES reply: 20 int32 then 3 int32 of face counts (92 bytes)."""
    fields = [0] * 20
    fields[4], fields[6], fields[8] = s.users, s.fingers, s.records
    fields[14], fields[15], fields[16] = s.finger_capacity, s.user_capacity, s.record_capacity
    fields[17] = s.finger_capacity - s.fingers
    fields[18] = s.user_capacity - s.users
    fields[19] = s.record_capacity - s.records
    return struct.pack("<20i", *fields) + struct.pack("<3i", s.faces, 0, s.face_capacity)


__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "FirmwareProfile",
    "Record",
    "Sizes",
    "User",
    "decode_record",
    "decode_user",
    "encode_dataset",
    "encode_event",
    "encode_record",
    "encode_sizes",
    "encode_user",
    "profile_for_record_size",
]
