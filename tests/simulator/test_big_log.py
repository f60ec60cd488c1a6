"""100,000 attendance records read back complete and correct through pyzk, over TCP and over UDP."""

import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import pytest

from simulators.zk.fleet import Fleet, SimulatedTerminal
from simulators.zk.terminal import Terminal

from .helpers import connected, history

# A hang guard only: the read's speed is measured by `make bench` (bench/bench_simulator.py, 100k records).
pytestmark = pytest.mark.timeout(300)

COUNT = 100_000


def digest(rows: Iterable[tuple[str, datetime, int]]) -> str:
    h = hashlib.sha256()
    for pin, timestamp, status in rows:
        h.update(f"{pin}|{timestamp.isoformat()}|{status}\n".encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def big() -> Iterator[SimulatedTerminal]:
    with Fleet() as fleet:
        terminal = Terminal("BIG1", record_capacity=COUNT)
        for i in range(200):
            terminal.add_user(str(199000000 + i), f"Pegawai {i}")
        terminal.prefill(history(terminal, COUNT))
        yield fleet.add(terminal)


# UDP's chunked read is in `make test` through the 20,000-record logs of test_faults.py; its 100k run is slow.
@pytest.mark.parametrize("transport", ["tcp", pytest.param("udp", marks=pytest.mark.slow)])
def test_100k_records_read_back_complete_and_correct(big: SimulatedTerminal, transport: str) -> None:
    expected = big.terminal.records()
    assert len(expected) == COUNT
    zk: Any = connected(big, udp=transport == "udp", timeout=10)
    try:
        got = zk.get_attendance()
    finally:
        zk.disconnect()
    assert len(got) == COUNT
    assert (got[0].user_id, got[0].timestamp, got[0].status) == (
        expected[0].pin,
        expected[0].timestamp,
        expected[0].status,
    )
    assert (got[-1].user_id, got[-1].timestamp, got[-1].status) == (
        expected[-1].pin,
        expected[-1].timestamp,
        expected[-1].status,
    )
    assert digest((a.user_id, a.timestamp, a.status) for a in got) == digest(
        (r.pin, r.timestamp, r.status) for r in expected
    )
