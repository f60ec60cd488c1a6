"""Helpers shared by the simulator tests: pyzk clients for a simulated terminal, and synthetic history."""

from datetime import datetime, timedelta
from typing import Any

from zk import ZK

from simulators.zk.fleet import Fleet, SimulatedTerminal
from simulators.zk.layouts import Record
from simulators.zk.terminal import Terminal


def pyzk(
    handle: SimulatedTerminal, *, udp: bool = False, key: int = 0, timeout: float = 5
) -> Any:  # zk.ZK: pyzk ships no type hints
    """An unconnected pyzk client for ``handle`` (never pings: tests run without a ping binary)."""
    return ZK(handle.host, port=handle.port, timeout=timeout, password=key, force_udp=udp, ommit_ping=True)


def connected(handle: SimulatedTerminal, *, udp: bool = False, key: int = 0, timeout: float = 5) -> Any:
    return pyzk(handle, udp=udp, key=key, timeout=timeout).connect()


def history(terminal: Terminal, count: int, start: datetime = datetime(2024, 1, 1, 7, 0, 0)) -> list[Record]:
    """``count`` records cycling over the terminal's users, one a minute, statuses 0/1/4/5."""
    users = terminal.users()
    assert users, "enrol users before making history"
    return [
        Record(
            users[i % len(users)].uid,
            users[i % len(users)].pin,
            start + timedelta(minutes=i),
            (0, 1, 4, 5)[i % 4],
            (1, 15, 4, 0)[i % 4],
        )
        for i in range(count)
    ]


def serving_terminal(fleet: Fleet, serial: str = "SN-OK", **options: Any) -> SimulatedTerminal:
    """A healthy terminal with two users and three records, to check the fleet keeps serving."""
    terminal = Terminal(serial, **options)
    terminal.add_user("1001", "Healthy One")
    terminal.add_user("1002", "Healthy Two")
    terminal.prefill(history(terminal, 3))
    return fleet.add(terminal)


def assert_serves(handle: SimulatedTerminal, *, udp: bool = False) -> None:
    """pyzk reads this terminal's full log within a short timeout."""
    zk = connected(handle, udp=udp, timeout=3)
    try:
        got = zk.get_attendance()
        assert [(a.user_id, a.timestamp) for a in got] == [(r.pin, r.timestamp) for r in handle.terminal.records()]
    finally:
        zk.disconnect()
