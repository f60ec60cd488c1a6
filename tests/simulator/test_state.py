"""Terminal state saved to and loaded from a file; what a full log does in 'stop' and 'overwrite' mode."""

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from simulators.zk.fleet import Fleet
from simulators.zk.layouts import User
from simulators.zk.terminal import Terminal

from .helpers import connected, history

pytestmark = pytest.mark.timeout(30)


def test_save_and_load_round_trips_users_log_clock_and_settings(tmp_path: Path, fleet: Fleet) -> None:
    original = Terminal("STATE1", profile="zk6", comm_key=77, record_capacity=5000, when_full="stop")
    original.add_user("1001", "Ani", privilege=14, password="123", card=998877)
    original.set_user(User(9, "1009", "Slot Sembilan", 0, "", 0, "3"))
    original.prefill(history(original, 1234))
    original.clock.set(original.clock.now() - timedelta(minutes=17))
    path = tmp_path / "state.json"
    original.save(path)
    assert not path.with_suffix(".json.tmp").exists()

    loaded = Terminal.load(path)
    assert loaded.serial == "STATE1"
    assert (loaded.profile.name, loaded.comm_key, loaded.record_capacity, loaded.when_full) == (
        "zk6",
        77,
        5000,
        "stop",
    )
    assert loaded.users() == original.users()
    assert loaded.records() == original.records()
    assert abs(loaded.clock.offset_seconds - original.clock.offset_seconds) < 2
    assert abs(loaded.clock.offset_seconds + 17 * 60) < 2

    # and pyzk reads the same from the loaded terminal as from the original
    readings = []
    for terminal in (original, loaded):
        zk = connected(fleet.add(terminal), key=77)
        readings.append(
            (
                [(u.uid, u.user_id, u.name) for u in zk.get_users()],
                [(a.user_id, a.timestamp) for a in zk.get_attendance()],
            )
        )
        zk.disconnect()
    assert readings[0] == readings[1]
    assert len(readings[1][1]) == 1234


def test_full_log_in_stop_mode_refuses_new_punches(fleet: Fleet) -> None:
    terminal = Terminal("FULL-STOP", record_capacity=10, when_full="stop")
    terminal.add_user("1", "Ani")
    terminal.prefill(history(terminal, 10))
    assert terminal.punch("1", 1) is None
    assert terminal.record_count == 10
    assert terminal.stats.punches_refused_full == 1
    zk = connected(fleet.add(terminal))
    zk.read_sizes()
    assert (zk.records, zk.rec_cap, zk.rec_av) == (10, 10, 0)
    got = zk.get_attendance()
    zk.disconnect()
    assert [a.timestamp for a in got] == [r.timestamp for r in history(terminal, 10)]


def test_full_log_in_overwrite_mode_drops_the_oldest(fleet: Fleet, transport: str) -> None:
    terminal = Terminal("FULL-OVER", record_capacity=10, when_full="overwrite")
    terminal.add_user("1", "Ani")
    terminal.prefill(history(terminal, 10))
    newest = [terminal.punch("1", 1, at=datetime(2025, 1, 2, 16, 0, i)) for i in range(3)]
    assert terminal.record_count == 10
    assert terminal.stats.records_overwritten == 3
    zk = connected(fleet.add(terminal), udp=transport == "udp")
    got = zk.get_attendance()
    zk.disconnect()
    old = history(terminal, 10)
    assert [a.timestamp for a in got] == [r.timestamp for r in old[3:]] + [r.timestamp for r in newest if r is not None]
