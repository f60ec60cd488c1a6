"""Exactly-once delivery across what terminals do: outages, cleared and wrapping logs, clock resets,
shared PINs, dropped live streams and the clear-log policy. The agent runs in a thread here."""

import threading
import time
from datetime import datetime, timedelta

import pytest

from presensi.contract import PunchFlag
from simulators.zk.fleet import SimulatedTerminal
from tests.edge.conftest import EdgeEnv, assert_exactly_once, delivered, wait_until

HISTORY = datetime(2026, 11, 2, 7, 0, 0)
TODAY = datetime(2026, 11, 20, 7, 0, 0)


def test_unreachable_terminal_then_back_while_another_keeps_delivering(env: EdgeEnv) -> None:
    a = env.add_terminal("SNUR0001")
    b = env.add_terminal("SNUR0002")
    env.ledger.prefill(a, 300, HISTORY, ["8001"])
    env.ledger.prefill(b, 300, HISTORY, ["8001"])
    runner = env.start_thread(env.settings())
    env.wait_delivered(30)
    poller_a = runner.agent.pollers["snur0001"]

    a.terminal.faults.unreachable = True
    wait_until(lambda: not poller_a.health.reachable, 10, "the agent to notice terminal A is gone")
    behind_a = {env.ledger.punch(a, "1001", status=i % 2, at=TODAY + timedelta(seconds=i)) for i in range(10)}
    # B keeps delivering within its own poll interval while A's reads time out (2 s each).
    for round_ in range(3):
        started = time.monotonic()
        from_b = {env.ledger.punch(b, "1002", status=0, at=TODAY + timedelta(minutes=round_))}
        wait_until(delivered(from_b, env.hub.state), 10, "terminal B's punch")
        assert time.monotonic() - started < 2.0, "terminal B was held up by unreachable terminal A"
    assert not behind_a & env.hub.state.punches.keys()
    assert poller_a.health.last_error
    assert runner.agent.health().terminals[0].reachable is False

    a.terminal.faults.unreachable = False
    env.wait_delivered(30)
    assert poller_a.health.reachable
    runner.stop()
    assert_exactly_once(env.ledger.snapshot(), env.hub.state)


@pytest.mark.parametrize("after", [3, 250], ids=["fewer-than-before", "more-than-before"])
def test_log_cleared_at_the_device(env: EdgeEnv, after: int) -> None:
    a = env.add_terminal("SNCL0001")
    env.ledger.prefill(a, 200, HISTORY, ["8101", "8102"])
    runner = env.start_thread(env.settings())
    env.wait_delivered(30)
    assert a.terminal.clear_log() == 200
    for i in range(after):
        env.ledger.punch(a, ["1001", "1002", "1003"][i % 3], status=i % 2, at=TODAY + timedelta(seconds=i))
    env.wait_delivered(30)
    runner.stop()
    assert_exactly_once(env.ledger.snapshot(), env.hub.state)


def test_log_cleared_and_refilled_to_the_same_size(env: EdgeEnv) -> None:
    """Same record count as before the clear: only a full read notices, so it bounds the delay."""
    a = env.add_terminal("SNCL0002", full_read_interval_seconds=2.0)
    env.ledger.prefill(a, 20, HISTORY, ["8201"])
    runner = env.start_thread(env.settings())
    env.wait_delivered(30)
    with a.terminal._lock:  # cleared and refilled between two polls
        a.terminal.clear_log()
        for i in range(20):
            env.ledger.punch(a, "1001", status=i % 2, at=TODAY + timedelta(seconds=i))
    env.wait_delivered(15)
    runner.stop()
    assert_exactly_once(env.ledger.snapshot(), env.hub.state)


def test_log_wraps_slowly(env: EdgeEnv) -> None:
    """A full log overwriting its oldest records keeps its size; punches made meanwhile all arrive.

    The record count no longer changes once the log is full, so new records are found by the
    periodic full read (``full_read_interval_seconds``, 2 s here; 900 s by default).
    """
    a = env.add_terminal(
        "SNWR0001",
        full_read_interval_seconds=2.0,
        terminal_options={"record_capacity": 40, "when_full": "overwrite"},
    )
    env.ledger.prefill(a, 30, HISTORY, ["8301"])
    runner = env.start_thread(env.settings())
    env.wait_delivered(30)
    for i in range(100):  # 2.5 capacities in total, a few records per poll
        env.ledger.punch(a, ["1001", "1002"][i % 2], status=(i // 2) % 2, at=TODAY + timedelta(seconds=i))
        time.sleep(0.05)
    env.wait_delivered(20)
    assert a.terminal.stats.records_overwritten >= 90
    assert a.terminal.record_count == 40
    runner.stop()
    assert_exactly_once(env.ledger.snapshot(), env.hub.state)


def test_clock_reset_punches_arrive_flagged(env: EdgeEnv) -> None:
    a = env.add_terminal("SNCR0001")
    env.ledger.prefill(a, 50, HISTORY, ["8401"])
    runner = env.start_thread(env.settings())
    env.wait_delivered(30)
    a.power_loss()
    assert a.terminal.clock.now() < datetime(2000, 1, 2)
    reset = {env.ledger.punch(a, pin, status) for pin in ("1001", "1002", "1003") for status in (0, 1)}
    assert all("|20000101T" in key for key in reset)
    env.wait_delivered(30)
    runner.stop()
    assert_exactly_once(env.ledger.snapshot(), env.hub.state)
    punches = env.hub.state.punches
    for key in reset:
        assert PunchFlag.CLOCK_RESET in punches[key].flags, punches[key]
        assert punches[key].local_time.year == 2000
    assert not any(PunchFlag.CLOCK_RESET in p.flags for k, p in punches.items() if k not in reset)


def test_same_pin_on_two_terminals(env: EdgeEnv) -> None:
    a = env.add_terminal("SNSP0001", pins=("7777",))
    b = env.add_terminal("SNSP0002", pins=("7777",))
    runner = env.start_thread(env.settings())
    keys = set()
    for i in range(5):
        at = TODAY + timedelta(minutes=i)
        keys |= {env.ledger.punch(a, "7777", 0, at=at), env.ledger.punch(b, "7777", 0, at=at)}
    assert len(keys) == 10
    env.wait_delivered(30)
    runner.stop()
    assert_exactly_once(env.ledger.snapshot(), env.hub.state)
    by_terminal = {
        sn: [p for p in env.hub.state.punches.values() if p.terminal_sn == sn] for sn in ("SNSP0001", "SNSP0002")
    }
    assert [len(v) for v in by_terminal.values()] == [5, 5]
    assert {p.local_time for p in by_terminal["SNSP0001"]} == {p.local_time for p in by_terminal["SNSP0002"]}


def _wait_live(env: EdgeEnv, sim: SimulatedTerminal, pin: str, at: datetime) -> None:
    """A punch arrives well within the (long) poll interval: the live stream is up."""
    started = time.monotonic()
    key = env.ledger.punch(sim, pin, at=at)
    wait_until(delivered({key}, env.hub.state), 10, "a live punch")
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("how", ["silent-then-closed", "power-cycle"])
def test_live_capture_dropped(env: EdgeEnv, how: str) -> None:
    """Punches made while the event stream was down arrive through the backfill read."""
    # A poll interval far longer than the test: only live events and reconnect backfills deliver.
    a = env.add_terminal("SNLV0001", live_capture=True, poll_interval_seconds=120.0)
    env.ledger.prefill(a, 100, HISTORY, ["8501"])
    runner = env.start_thread(env.settings())
    env.wait_delivered(30)
    wait_until(lambda: runner.agent.pollers["snlv0001"].health.mode == "live", 10, "live mode")
    _wait_live(env, a, "1001", TODAY)

    missed: set[str] = set()
    if how == "silent-then-closed":
        # The stream goes quiet (events vanish, as when a switch drops packets), punches land in
        # the log only, then the terminal restarts and closes every session.
        a.terminal.faults.unreachable = True
        time.sleep(0.3)
        missed = {env.ledger.punch(a, "1002", i % 2, at=TODAY + timedelta(minutes=1, seconds=i)) for i in range(5)}
        time.sleep(1.5)
        assert not missed & env.hub.state.punches.keys()
        a.power_off()
        a.terminal.faults.unreachable = False
        a.power_on()
    else:
        a.power_off()
        a.power_on()
        missed = {env.ledger.punch(a, "1002", i % 2, at=TODAY + timedelta(minutes=1, seconds=i)) for i in range(5)}
    env.wait_delivered(20)
    wait_until(lambda: runner.agent.pollers["snlv0001"].health.mode == "live", 10, "live mode again")
    _wait_live(env, a, "1003", TODAY + timedelta(minutes=5))
    runner.stop()
    assert_exactly_once(env.ledger.snapshot(), env.hub.state)


def test_clear_log_policy_clears_only_acknowledged(env: EdgeEnv) -> None:
    """Above the fill level the device log is cleared, but only once the hub acked every record."""
    a = env.add_terminal(
        "SNCP0001",
        clear_log={"enabled": True, "fill_above": 0.3},
        terminal_options={"record_capacity": 100, "when_full": "stop"},
    )
    env.ledger.prefill(a, 50, HISTORY, ["8601", "8602"])
    env.hub.stop()
    runner = env.start_thread(env.settings())
    poller = runner.agent.pollers["sncp0001"]
    wait_until(lambda: env.buffer_stats().sent == 50, 20, "the backlog published")
    time.sleep(2)  # several polls above the fill level with nothing acked
    assert a.terminal.record_count == 50
    assert poller.health.log_clears == 0

    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_punching() -> None:
        # Bursts with quiet gaps between them, as people arrive: the clear needs a moment when
        # every record in the log is acknowledged (under continuous punching it never comes).
        i = 0
        try:
            while not stop.wait(2.0):
                for _ in range(3):
                    env.ledger.punch_when_enabled(a, ["1001", "1002", "1003"][i % 3], status=(i // 3) % 2)
                    i += 1
                    time.sleep(0.2)
        except BaseException as exc:
            errors.append(exc)

    puncher = threading.Thread(target=keep_punching, daemon=True)
    puncher.start()
    try:
        env.hub.start()
        wait_until(lambda: poller.health.log_clears >= 1, 30, "the log cleared")
        # Keep punching until two bursts have landed after the clear (how soon the clear comes
        # after the hub is back varies, so count punches rather than sleep a fixed time).
        made_at_clear = len(env.ledger.snapshot())
        wait_until(lambda: len(env.ledger.snapshot()) >= made_at_clear + 6, 30, "punches after the clear")
    finally:
        stop.set()
        puncher.join(5)
    assert not errors, errors
    env.wait_delivered(30)
    assert a.terminal.record_count < 50
    assert a.terminal.stats.punches_refused_full == 0
    runner.stop()
    assert_exactly_once(env.ledger.snapshot(), env.hub.state)
    stats = env.buffer_stats()
    assert (stats.pending, stats.sent) == (0, 0)
