"""Each fault gives the pyzk error a dead or misbehaving real terminal gives, within pyzk's timeout,
while the simulator keeps serving other clients; and the terminal recovers once the fault clears."""

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from zk.exception import ZKErrorResponse, ZKNetworkError

from simulators.zk.fleet import Fleet, SimulatedTerminal
from simulators.zk.terminal import Terminal

from .helpers import assert_serves, connected, history, pyzk, serving_terminal

pytestmark = pytest.mark.timeout(30)

KEY = 4242


@pytest.fixture
def faulty(fleet: Fleet) -> SimulatedTerminal:
    terminal = Terminal("FAULTY", comm_key=KEY)
    for i in range(10):
        terminal.add_user(str(5000 + i), f"Pegawai {i}")
    terminal.prefill(history(terminal, 20_000))  # 800 KB: a multi-chunk buffered read
    return fleet.add(terminal)


@pytest.fixture
def healthy(fleet: Fleet) -> SimulatedTerminal:
    return serving_terminal(fleet)


def client(handle: SimulatedTerminal, transport: str, timeout: float = 2) -> Any:
    return pyzk(handle, udp=transport == "udp", key=KEY, timeout=timeout)


def fails_while_others_are_served(
    call: Callable[[], object], others: list[SimulatedTerminal], transport: str
) -> tuple[BaseException | None, float]:
    """Run ``call`` in a thread; meanwhile the other terminals must answer full reads promptly.

    Returns what ``call`` raised (None if it returned) and how long it took.
    """
    outcome: list[BaseException | None] = []
    took: list[float] = []

    def run() -> None:
        started = time.monotonic()
        try:
            call()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)
        took.append(time.monotonic() - started)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(0.1)  # the faulty call is under way
    for other in others:
        started = time.monotonic()
        assert_serves(other, udp=transport == "udp")
        assert time.monotonic() - started < 1.5, "a healthy terminal was held up by another's fault"
    thread.join(10)
    assert not thread.is_alive(), "the faulty call hung past pyzk's timeout"
    return outcome[0], took[0]


def test_unreachable_terminal_times_out_connect(
    faulty: SimulatedTerminal, healthy: SimulatedTerminal, transport: str
) -> None:
    faulty.terminal.faults.unreachable = True
    error, took = fails_while_others_are_served(client(faulty, transport).connect, [healthy], transport)
    assert isinstance(error, ZKNetworkError)
    assert "timed out" in str(error)
    assert 1.9 <= took < 3.5
    faulty.terminal.faults.unreachable = False
    client(faulty, transport).connect().disconnect()


def test_terminal_becoming_unreachable_mid_session_times_out_the_next_call(
    faulty: SimulatedTerminal, healthy: SimulatedTerminal, transport: str
) -> None:
    zk = client(faulty, transport).connect()
    faulty.terminal.faults.unreachable = True
    error, took = fails_while_others_are_served(zk.get_time, [healthy], transport)
    assert isinstance(error, ZKNetworkError)
    assert "timed out" in str(error)
    assert took < 3.5


def test_slow_replies_work_with_a_big_timeout(faulty: SimulatedTerminal, transport: str) -> None:
    faulty.terminal.faults.reply_delay = 0.3
    zk = client(faulty, transport, timeout=3).connect()
    started = time.monotonic()
    assert zk.get_serialnumber() == "FAULTY"
    assert time.monotonic() - started >= 0.3
    zk.disconnect()


def test_slow_replies_fail_with_a_small_timeout(
    faulty: SimulatedTerminal, healthy: SimulatedTerminal, transport: str
) -> None:
    faulty.terminal.faults.reply_delay = 1.0
    error, took = fails_while_others_are_served(client(faulty, transport, timeout=0.5).connect, [healthy], transport)
    assert isinstance(error, ZKNetworkError)
    assert "timed out" in str(error)
    assert took < 1.5


def test_connection_dropped_mid_transfer_fails_get_attendance(
    faulty: SimulatedTerminal, healthy: SimulatedTerminal, transport: str
) -> None:
    zk = client(faulty, transport).connect()
    faulty.terminal.faults.drop_mid_transfer = True
    error, took = fails_while_others_are_served(zk.get_attendance, [healthy], transport)
    if transport == "tcp":
        # The socket closes under pyzk mid-chunk: it reads an empty frame.
        assert isinstance(error, ZKNetworkError)
        assert "TCP packet invalid" in str(error)
    else:
        # UDP has no connection to lose: the rest of the chunk never comes, and pyzk 0.9's chunk
        # reader lets the raw socket timeout through unwrapped, as with a real terminal.
        assert isinstance(error, TimeoutError)
    assert took < 3.5
    faulty.terminal.faults.drop_mid_transfer = False
    again = client(faulty, transport).connect()
    assert len(again.get_attendance()) == 20_000
    again.disconnect()


def test_refused_auth_raises_unauthenticated(
    faulty: SimulatedTerminal, healthy: SimulatedTerminal, transport: str
) -> None:
    faulty.terminal.faults.refuse_auth = True
    error, took = fails_while_others_are_served(client(faulty, transport).connect, [healthy], transport)
    assert isinstance(error, ZKErrorResponse)
    assert str(error) == "Unauthenticated"
    assert took < 1
    faulty.terminal.faults.refuse_auth = False
    client(faulty, transport).connect().disconnect()


def test_powered_off_terminal_raises_network_error(
    faulty: SimulatedTerminal, healthy: SimulatedTerminal, transport: str
) -> None:
    faulty.power_off()
    assert faulty.terminal.punch("5000") is None  # nobody can punch on a dark terminal
    error, took = fails_while_others_are_served(client(faulty, transport).connect, [healthy], transport)
    assert isinstance(error, ZKNetworkError)
    if transport == "tcp":
        # Connection refused: pyzk ignores connect_ex's result and fails on the first send.
        assert took < 1
    else:
        assert "timed out" in str(error)  # nothing answers the datagram
    faulty.power_on()
    zk = client(faulty, transport).connect()
    assert len(zk.get_attendance()) == 20_000  # the log survived
    zk.disconnect()


def test_power_loss_resets_the_clock_to_2000(faulty: SimulatedTerminal, transport: str) -> None:
    zk = client(faulty, transport).connect()
    assert zk.get_time().year >= 2024
    zk.disconnect()
    faulty.power_loss()
    zk = client(faulty, transport).connect()
    got = zk.get_time()
    assert datetime(2000, 1, 1, 0, 0, 0) <= got < datetime(2000, 1, 1, 0, 1, 0)
    assert len(zk.get_attendance()) == 20_000
    zk.disconnect()


def test_log_cleared_at_the_device_reads_empty(faulty: SimulatedTerminal, transport: str) -> None:
    zk = client(faulty, transport).connect()
    zk.read_sizes()
    assert zk.records == 20_000
    assert faulty.terminal.clear_log() == 20_000
    assert zk.get_attendance() == []
    zk.read_sizes()
    assert zk.records == 0
    faulty.terminal.punch("5001", 1)
    assert [a.user_id for a in zk.get_attendance()] == ["5001"]
    zk.disconnect()


def test_firmware_profile_change_changes_layouts_and_pyzk_follows(fleet: Fleet, transport: str) -> None:
    terminal = Terminal("FW1")
    for pin in ("11", "12", "13"):
        terminal.add_user(pin, f"User {pin}")
    terminal.prefill(history(terminal, 50))
    handle = fleet.add(terminal)
    expected = [(r.pin, r.timestamp, r.status, r.punch) for r in terminal.records()]
    for profile, user_size, record_size in [("zk8", 72, 40), ("zk6", 28, 16), ("zem500", 28, 8), ("zk8", 72, 40)]:
        terminal.set_profile(profile)
        assert len(terminal.attendance_dataset()) == 4 + 50 * record_size
        zk = connected(handle, udp=transport == "udp")
        try:
            got = zk.get_attendance()
            assert zk.user_packet_size == user_size
            assert zk.get_platform() == terminal.profile.platform
        finally:
            zk.disconnect()
        assert [(a.user_id, a.timestamp, a.status, a.punch) for a in got] == expected, profile
