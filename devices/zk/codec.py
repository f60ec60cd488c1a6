"""Client-side decoding of ZK attendance data, linear in the log size and firmware-aware.

pyzk 0.9's get_attendance slices the remaining buffer after every record (quadratic: seconds of
CPU for a 100k log) and misreads two real layouts (the ZEM500/MA300 8-byte order, and live events
of 10, 14 and 37 bytes). The driver fetches the raw data set through pyzk and decodes it here.
"""

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

RecordLayout = Literal["auto", "8", "8-zem500", "16", "40"]


@dataclass(frozen=True, slots=True)
class RawRecord:
    uid: int
    pin: str  # empty when the layout carries only the uid slot
    local_time: datetime
    status: int
    punch: int
    workcode: int = 0


def decode_time(value: int) -> datetime:
    """The terminal's packed time (12 months of 31 days from 2000). ValueError for impossible dates."""
    value, second = divmod(value, 60)
    value, minute = divmod(value, 60)
    value, hour = divmod(value, 24)
    value, day = divmod(value, 31)
    year, month = divmod(value, 12)
    return datetime(year + 2000, month + 1, day + 1, hour, minute, second)


def decode_time_hex(raw: bytes) -> datetime:
    year, month, day, hour, minute, second = raw[:6]
    return datetime(year + 2000, month, day, hour, minute, second)


def _cstr(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", errors="ignore")


_LAYOUTS: dict[str, tuple[struct.Struct, int]] = {
    # name: (struct, index of the time field)
    "40": (struct.Struct("<H24sBIB8s"), 3),
    "16": (struct.Struct("<IIBB2sI"), 1),
    "8": (struct.Struct("<HBIB"), 2),
    "8-zem500": (struct.Struct("<HBBI"), 3),
}


def layout_for_size(record_size: float, preferred: RecordLayout) -> str:
    """Pick a layout from the data set's record size (as pyzk does) unless configured."""
    if preferred != "auto":
        return preferred
    if record_size == 8:
        return "8"  # refined by detect_8_byte_layout on the actual bytes
    if record_size == 16:
        return "16"
    return "40"


def _plausible(value: int, latest_year: int) -> bool:
    try:
        return 2000 <= decode_time(value).year <= latest_year
    except ValueError:
        return False


def detect_8_byte_layout(body: bytes, sample: int = 200) -> str:
    """8-byte records come in two byte orders; the one whose times decode to dates up to next year wins.

    Read in the wrong order, a time field takes one byte of status or punch code, which lands the
    date decades away: a tight window separates the two reliably.
    """
    latest_year = datetime.now().year + 1
    scores = {}
    for name in ("8", "8-zem500"):
        fmt, time_index = _LAYOUTS[name]
        rows = list(fmt.iter_unpack(body[: min(len(body), sample * 8) // 8 * 8]))
        scores[name] = sum(_plausible(row[time_index], latest_year) for row in rows)
    return max(scores, key=lambda name: (scores[name], name == "8"))


def _decode_row(layout: str, row: tuple[Any, ...]) -> RawRecord:
    """One unpacked record as the firmware meant it; ValueError when its time is not a real date."""
    if layout == "40":
        uid, pin, status, t, punch, _ = row
        return RawRecord(uid, _cstr(pin), decode_time(t), status, punch)
    if layout == "16":
        pin_n, t, status, punch, _, workcode = row
        return RawRecord(0, str(pin_n), decode_time(t), status, punch, workcode)
    if layout == "8":
        uid, status, t, punch = row
    else:
        uid, status, punch, t = row
    return RawRecord(uid, "", decode_time(t), status, punch)


class RecordTable:
    """A CMD_ATTLOG_RRQ data set (u32 length + records) decoded on demand.

    The edge usually needs only two records (to check its cursor still fits) and the new tail, so
    a 50,000-record log is not turned into 50,000 objects at every read.
    """

    def __init__(self, dataset: bytes, record_count: int, preferred: RecordLayout = "auto") -> None:
        self.undecodable = 0
        if len(dataset) < 4 or record_count <= 0:
            self.layout, self._fmt, self._body = "40", _LAYOUTS["40"][0], memoryview(b"")
            return
        total = struct.unpack_from("<I", dataset)[0]
        body = dataset[4 : 4 + total]
        layout = layout_for_size(total / record_count, preferred)
        if layout in ("8", "8-zem500") and preferred == "auto":
            layout = detect_8_byte_layout(body)
        self.layout = layout
        self._fmt = _LAYOUTS[layout][0]
        self._body = memoryview(body)[: len(body) // self._fmt.size * self._fmt.size]

    def __len__(self) -> int:
        return len(self._body) // self._fmt.size

    def record(self, index: int) -> RawRecord:
        """The record at ``index`` (ValueError for a corrupt one, IndexError past the end)."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        return _decode_row(self.layout, self._fmt.unpack_from(self._body, index * self._fmt.size))

    def records(self, start: int = 0) -> Iterator[RawRecord]:
        """Records from ``start`` on. A record whose time is not a real date (a corrupt flash page)
        cannot become a punch: it is counted in ``undecodable``, never silently skipped."""
        for row in self._fmt.iter_unpack(self._body[start * self._fmt.size :]):
            try:
                yield _decode_row(self.layout, row)
            except ValueError:
                self.undecodable += 1


def decode_records(dataset: bytes, record_count: int, preferred: RecordLayout = "auto") -> tuple[list[RawRecord], int]:
    """Every record of a data set, and how many could not be decoded."""
    table = RecordTable(dataset, record_count, preferred)
    records = list(table.records())
    return records, table.undecodable


EVENT_SIZES = (10, 12, 14, 32, 36, 37, 52)


def decode_event(payload: bytes) -> RawRecord:
    """A realtime EF_ATTLOG event of any size real firmware sends (pyzk 0.9 knows 12/32/36/52)."""
    size = len(payload)
    if size in (10, 14):
        uid, status, punch = struct.unpack_from("<HBB", payload)
        return RawRecord(uid, "", decode_time_hex(payload[4:10]), status, punch)
    if size == 12:
        pin_n, status, punch = struct.unpack_from("<IBB", payload)
        return RawRecord(0, str(pin_n), decode_time_hex(payload[6:12]), status, punch)
    if size >= 32:
        pin, status, punch = struct.unpack_from("<24sBB", payload)
        return RawRecord(0, _cstr(pin), decode_time_hex(payload[26:32]), status, punch)
    raise ValueError(f"realtime event of {size} bytes (known sizes: {EVENT_SIZES})")


TCP_PREFIX = struct.Struct("<HHI")
HEADER = struct.Struct("<4H")


def split_tcp_frames(buffer: bytearray) -> Iterator[tuple[int, int, bytes]]:
    """Take every complete frame off the front of ``buffer``: (command, session field, payload)."""
    while len(buffer) >= TCP_PREFIX.size:
        magic1, magic2, length = TCP_PREFIX.unpack_from(buffer)
        if (magic1, magic2) != (0x5050, 0x7D82):
            raise ValueError("lost TCP framing (bad magic)")
        if len(buffer) < TCP_PREFIX.size + length:
            return
        body = bytes(buffer[TCP_PREFIX.size : TCP_PREFIX.size + length])
        del buffer[: TCP_PREFIX.size + length]
        command, _chk, session, _reply = HEADER.unpack_from(body)
        yield command, session, body[HEADER.size :]
