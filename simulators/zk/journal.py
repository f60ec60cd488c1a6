"""The punch journal: every record a simulated terminal writes, one JSON line each, with its idempotency key.

It is the ground truth of "punches made at the terminals" that the chain harness (simulators/chain/)
compares with the punches stored at the hub. Lines are buffered and written by ``flush()`` (a background
task of the fleet calls it several times a second, the admin port's ``GET /journal`` calls it before
answering), so a workforce tick of many punches costs one write, not one per punch.
"""

import json
import threading
from pathlib import Path
from typing import TextIO

from presensi.contract import punch_key
from simulators.zk.layouts import Record
from simulators.zk.terminal import Terminal

FLUSH_SECONDS = 0.2


class PunchJournal:
    """Append-only JSON lines: ``{"key", "serial", "pin", "local_time", "status"}`` per record written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self.count = 0

    def attach(self, terminal: Terminal) -> None:
        serial = terminal.serial

        def on_record(record: Record) -> None:
            line = json.dumps(
                {
                    "key": punch_key(serial, record.pin, record.timestamp, record.status),
                    "serial": serial,
                    "pin": record.pin,
                    "local_time": record.timestamp.isoformat(),
                    "status": record.status,
                },
                separators=(",", ":"),
            )
            with self._lock:
                self._pending.append(line)
                self.count += 1

        terminal.add_listener(on_record)

    def flush(self) -> int:
        """Write what is pending; returns the number of records journalled so far."""
        with self._lock:
            pending, self._pending = self._pending, []
            count = self.count
            if pending:
                self._file.write("\n".join(pending) + "\n")
                self._file.flush()
        return count

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._file.close()


def read_journal_keys(path: Path) -> list[str]:
    """Every key in a journal file, in the order made."""
    return read_journal_keys_from(path, 0)[0]


def read_journal_keys_from(path: Path, offset: int) -> tuple[list[str], int]:
    """The keys of the whole lines after byte ``offset``, and the offset to read on from. A line not yet
    complete (being written, or torn by a killed writer) is left for the next read."""
    if not path.exists():
        return [], offset
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read()
    end = data.rfind(b"\n") + 1
    keys = [json.loads(line)["key"] for line in data[:end].splitlines() if line]
    return keys, offset + end
