"""Several clients and several terminals at once: each gets complete data of its own terminal."""

import threading
from typing import Any

import pytest

from simulators.zk.fleet import Fleet
from simulators.zk.terminal import Terminal

from .helpers import connected, history

pytestmark = pytest.mark.timeout(60)


def _read_all(handle: Any, udp: bool, barrier: threading.Barrier, results: dict[str, Any], key: str) -> None:
    try:
        zk = connected(handle, udp=udp, timeout=10)
        barrier.wait(5)
        try:
            results[key] = (zk.get_serialnumber(), zk.get_users(), zk.get_attendance())
        finally:
            zk.disconnect()
    except BaseException as exc:
        results[key] = exc


def test_two_clients_read_the_full_log_at_once_over_tcp_and_udp(fleet: Fleet) -> None:
    terminal = Terminal("SHARED1")
    for i in range(50):
        terminal.add_user(str(700 + i), f"Pegawai {i}")
    terminal.prefill(history(terminal, 30_000))
    handle = fleet.add(terminal)
    expected = [(r.pin, r.timestamp, r.status) for r in terminal.records()]
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}
    threads = [
        threading.Thread(target=_read_all, args=(handle, udp, barrier, results, name))
        for name, udp in (("tcp", False), ("udp", True))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(45)
    assert set(results) == {"tcp", "udp"}
    for name, result in results.items():
        assert not isinstance(result, BaseException), f"{name}: {result!r}"
        _serial, users, records = result
        assert len(users) == 50
        assert [(a.user_id, a.timestamp, a.status) for a in records] == expected, name


def test_three_terminals_in_one_process_each_serve_their_own_data(fleet: Fleet) -> None:
    handles = []
    for n, (profile, count) in enumerate([("zk8", 30), ("zk6", 2000), ("zem500", 500)]):
        terminal = Terminal(f"FLEET-{n}", profile=profile)
        for i in range(3 + n):
            terminal.add_user(str(100 * (n + 1) + i), f"T{n} U{i}")
        terminal.prefill(history(terminal, count))
        handles.append(fleet.add(terminal))
    assert len({h.port for h in handles}) == 3
    barrier = threading.Barrier(3)
    results: dict[str, Any] = {}
    threads = [
        threading.Thread(target=_read_all, args=(h, n % 2 == 1, barrier, results, h.terminal.serial))
        for n, h in enumerate(handles)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for handle in handles:
        result = results[handle.terminal.serial]
        assert not isinstance(result, BaseException), repr(result)
        serial, users, records = result
        assert serial == handle.terminal.serial
        assert [u.user_id for u in users] == [u.pin for u in handle.terminal.users()]
        assert [(a.user_id, a.timestamp) for a in records] == [(r.pin, r.timestamp) for r in handle.terminal.records()]


def test_a_punch_lands_only_on_its_own_terminal(fleet: Fleet) -> None:
    one, two = Terminal("ONE"), Terminal("TWO")
    for terminal in (one, two):
        terminal.add_user("1", "Same PIN on both")
    handles = [fleet.add(one), fleet.add(two)]
    one.punch("1", 0)
    counts = []
    for handle in handles:
        zk = connected(handle)
        counts.append(len(zk.get_attendance()))
        zk.disconnect()
    assert counts == [1, 0]
