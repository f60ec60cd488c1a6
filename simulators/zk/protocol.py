"""ZK binary protocol: command codes, packet framing, checksums, time and comm-key encodings.

Pure functions over bytes; no sockets here. The authority is pyzk 0.9's zk/base.py and the
captures of real terminals in its test.py (see docs/zk-simulator.md).
"""

import struct
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

USHRT_MAX = 0xFFFF
TCP_MAGIC = (0x5050, 0x7D82)
TCP_PREFIX = struct.Struct("<HHI")
HEADER = struct.Struct("<4H")


class Cmd(IntEnum):
    DB_RRQ = 7
    USER_WRQ = 8
    USERTEMP_RRQ = 9
    OPTIONS_RRQ = 11
    OPTIONS_WRQ = 12
    ATTLOG_RRQ = 13
    CLEAR_DATA = 14
    CLEAR_ATTLOG = 15
    DELETE_USER = 18
    DELETE_USERTEMP = 19
    UNLOCK = 31
    GET_FREE_SIZES = 50
    STARTVERIFY = 60
    CANCELCAPTURE = 62
    GET_PINWIDTH = 69
    GET_TIME = 201
    SET_TIME = 202
    REG_EVENT = 500
    CONNECT = 1000
    EXIT = 1001
    ENABLEDEVICE = 1002
    DISABLEDEVICE = 1003
    RESTART = 1004
    POWEROFF = 1005
    REFRESHDATA = 1013
    REFRESHOPTION = 1014
    TESTVOICE = 1017
    GET_VERSION = 1100
    AUTH = 1102
    PREPARE_DATA = 1500
    DATA = 1501
    FREE_DATA = 1502
    PREPARE_BUFFER = 1503
    READ_BUFFER = 1504
    ACK_OK = 2000
    ACK_ERROR = 2001
    ACK_DATA = 2002
    ACK_RETRY = 2003
    ACK_REPEAT = 2004
    ACK_UNAUTH = 2005
    ACK_UNKNOWN = 0xFFFF


EF_ATTLOG = 1


def checksum(data: bytes) -> int:
    """16-bit one's complement of the little-endian u16 sum (end-around carry), as terminals send it.

    An odd last byte counts as a low byte. pyzk computes its own checksums over the previous
    reply id and never checks ours, so the server accepts any checksum it receives.
    """
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"<{len(data) // 2}H", data))
    while total > USHRT_MAX:
        total = (total & USHRT_MAX) + (total >> 16)
    return (~total) & USHRT_MAX


@dataclass(frozen=True, slots=True)
class Packet:
    command: int
    session_id: int
    reply_id: int
    payload: bytes = b""
    checksum: int = 0


def encode_packet(command: int, session_id: int, reply_id: int, payload: bytes = b"") -> bytes:
    """Header + payload with a correct checksum (the UDP datagram / the TCP frame body)."""
    blank = HEADER.pack(command, 0, session_id, reply_id) + payload
    return HEADER.pack(command, checksum(blank), session_id, reply_id) + payload


def tcp_frame(body: bytes) -> bytes:
    """Prefix a packet with the TCP top header: magic 0x5050 0x7D82 and the body length."""
    return TCP_PREFIX.pack(*TCP_MAGIC, len(body)) + body


def decode_packet(body: bytes) -> Packet:
    if len(body) < HEADER.size:
        raise ValueError(f"packet of {len(body)} bytes is shorter than the 8-byte header")
    command, chk, session_id, reply_id = HEADER.unpack_from(body)
    return Packet(command, session_id, reply_id, body[HEADER.size :], chk)


def decode_tcp_prefix(prefix: bytes) -> int:
    """Return the body length announced by a TCP top header; ValueError on a wrong magic."""
    magic1, magic2, length = TCP_PREFIX.unpack(prefix)
    if (magic1, magic2) != TCP_MAGIC:
        raise ValueError(f"bad TCP magic {magic1:#06x} {magic2:#06x}")
    return int(length)


def encode_time(t: datetime) -> int:
    """The terminal's packed time: seconds in a calendar of 12 months of 31 days, from 2000."""
    return (
        ((t.year % 100) * 12 * 31 + (t.month - 1) * 31 + t.day - 1) * 86400 + (t.hour * 60 + t.minute) * 60 + t.second
    )


def encode_time_hex(t: datetime) -> bytes:
    """The 6-byte time of realtime events: year-2000, month, day, hour, minute, second."""
    return bytes((t.year - 2000, t.month, t.day, t.hour, t.minute, t.second))


def make_commkey(key: int, session_id: int, ticks: int = 50) -> bytes:
    """The 4-byte scrambled comm key a client sends with CMD_AUTH (commpro.c MakeKey)."""
    k = 0
    for i in range(32):
        k = (k << 1) | 1 if key & (1 << i) else k << 1
    k = (k + session_id) & 0xFFFFFFFF
    b = struct.pack("<I", k)
    b = bytes((b[0] ^ ord("Z"), b[1] ^ ord("K"), b[2] ^ ord("S"), b[3] ^ ord("O")))
    lo, hi = struct.unpack("<HH", b)
    b = struct.pack("<HH", hi, lo)
    t = ticks & 0xFF
    return bytes((b[0] ^ t, b[1] ^ t, t, b[3] ^ t))


def commkey_matches(received: bytes, key: int, session_id: int) -> bool:
    """Verify an AUTH payload: the third byte carries the ticks the client scrambled with."""
    return len(received) >= 4 and make_commkey(key, session_id, received[2]) == received[:4]
