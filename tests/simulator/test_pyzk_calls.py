"""Every pyzk 0.9 call issue 2 lists, against the simulator, over TCP and over UDP."""

import time
from datetime import datetime
from typing import Any

import pytest
from zk.exception import ZKError

from simulators.zk.fleet import Fleet, SimulatedTerminal
from simulators.zk.protocol import Cmd
from simulators.zk.terminal import Identity, Terminal

from .helpers import connected, history

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def handle(fleet: Fleet) -> SimulatedTerminal:
    identity = Identity(
        serial="",
        name="Kantor Bupati Lobby",
        mac="00:17:61:12:34:56",
        ip="10.1.2.3",
        fp_version=10,
        face_version=7,
    )
    terminal = Terminal("SIM0001", identity=identity, user_capacity=3000, record_capacity=80_000)
    terminal.add_user("19850101", "Ani", privilege=14)
    terminal.add_user("19850102", "Budi")
    terminal.prefill(history(terminal, 5))
    return fleet.add(terminal, restart_seconds=0.2)


@pytest.fixture
def zk(handle: SimulatedTerminal, transport: str) -> Any:
    client = connected(handle, udp=transport == "udp")
    yield client
    if client.is_connect:
        client.disconnect()


def test_connect_then_disconnect_sends_exit_and_ends_the_session(handle: SimulatedTerminal, transport: str) -> None:
    client = connected(handle, udp=transport == "udp")
    assert client.is_connect
    commands_before = handle.terminal.stats.commands
    assert client.disconnect() is True
    assert not client.is_connect
    assert handle.terminal.stats.commands == commands_before + 1  # the EXIT was answered


def test_identity_options_read_back(zk: Any) -> None:
    assert zk.get_firmware_version() == "Ver 6.60 Apr 28 2016"
    assert zk.get_serialnumber() == "SIM0001"
    assert zk.get_platform() == "ZMM220_TFT"
    assert zk.get_device_name() == "Kantor Bupati Lobby"
    assert zk.get_mac() == "00:17:61:12:34:56"
    assert zk.get_fp_version() == 10
    assert zk.get_face_version() == 7
    assert zk.get_pin_width() == 9


def test_format_options_match_the_firmware_profile(zk: Any, handle: SimulatedTerminal) -> None:
    assert zk.get_extend_fmt() == 1  # 40-byte records
    assert zk.get_user_extend_fmt() == 1  # 72-byte users
    assert zk.get_face_fun_on() == 1
    assert zk.get_compat_old_firmware() == 0


def test_format_options_of_old_firmware(fleet: Fleet, transport: str) -> None:
    old = fleet.add(Terminal("OLD1", profile="zk6", identity=Identity("", face_version=0)))
    zk = connected(old, udp=transport == "udp")
    try:
        assert zk.get_extend_fmt() == 0
        assert zk.get_user_extend_fmt() == 0
        assert zk.get_face_fun_on() == 0
        assert zk.get_compat_old_firmware() == 1
        assert zk.get_platform() == "ZEM510_TFT"
    finally:
        zk.disconnect()


def test_network_params_read_back(zk: Any) -> None:
    assert zk.get_network_params() == {"ip": "10.1.2.3", "mask": "255.255.255.0", "gateway": "0.0.0.0"}


def test_read_sizes_reports_counts_and_capacities(zk: Any) -> None:
    assert zk.read_sizes() is True
    assert (zk.users, zk.fingers, zk.records) == (2, 0, 5)
    assert (zk.users_cap, zk.fingers_cap, zk.rec_cap) == (3000, 3000, 80_000)
    assert (zk.users_av, zk.fingers_av, zk.rec_av) == (2998, 3000, 79_995)
    assert zk.faces_cap == 500


def test_set_time_then_get_time_reads_the_new_time(zk: Any, handle: SimulatedTerminal) -> None:
    target = datetime(2024, 5, 6, 7, 8, 9)
    assert zk.set_time(target) is True
    got = zk.get_time()
    assert target <= got <= datetime(2024, 5, 6, 7, 8, 11)
    assert abs((handle.terminal.clock.now() - target).total_seconds()) < 3


def test_get_time_reads_the_terminal_clock(zk: Any, handle: SimulatedTerminal) -> None:
    expected = handle.terminal.clock.now()
    assert abs((zk.get_time() - expected).total_seconds()) <= 1


def test_disable_then_enable_device(zk: Any, handle: SimulatedTerminal) -> None:
    assert zk.disable_device() is True
    assert handle.terminal.enabled is False
    assert handle.terminal.punch("19850102") is None  # the screen says "working...": deferred
    assert zk.enable_device() is True
    assert handle.terminal.enabled is True
    assert handle.terminal.record_count == 6  # the deferred punch landed once enabled


def test_restart_drops_the_session_and_the_terminal_comes_back(
    zk: Any, handle: SimulatedTerminal, transport: str
) -> None:
    assert zk.restart() is True
    assert not zk.is_connect
    deadline = time.monotonic() + 5
    while handle.terminal.powered:  # the terminal goes dark first...
        assert time.monotonic() < deadline, "the terminal never went down for its restart"
        time.sleep(0.01)
    with pytest.raises(ZKError):
        connected(handle, udp=transport == "udp", timeout=0.5)
    while True:
        try:
            again = connected(handle, udp=transport == "udp", timeout=1)
            break
        except ZKError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert again.get_serialnumber() == "SIM0001"  # ...then serves again
    assert handle.terminal.powered
    again.disconnect()


def test_refresh_data_is_acknowledged(zk: Any) -> None:
    assert zk.refresh_data() is True


def test_set_user_then_get_users_reads_it(zk: Any, handle: SimulatedTerminal) -> None:
    # Over UDP pyzk assumes 28-byte users (8-char names) until get_users has seen the real size.
    zk.get_users()
    zk.set_user(uid=7, name="Citra Dewi", privilege=14, password="1234", group_id="2", user_id="19900303", card=0)
    users = {u.uid: u for u in zk.get_users()}
    assert set(users) == {1, 2, 7}
    citra = users[7]
    assert (citra.user_id, citra.name, citra.privilege, citra.password, citra.group_id) == (
        "19900303",
        "Citra Dewi",
        14,
        "1234",
        "2",
    )
    assert handle.terminal.user_by_pin("19900303") is not None


def test_set_user_replaces_the_user_in_the_same_slot(zk: Any) -> None:
    zk.get_users()
    zk.set_user(uid=2, name="Budi Santoso", user_id="19850102")
    users = {u.uid: u for u in zk.get_users()}
    assert len(users) == 2
    assert users[2].name == "Budi Santoso"


def test_delete_user_removes_it_from_get_users(zk: Any, handle: SimulatedTerminal) -> None:
    zk.delete_user(uid=2)
    assert [u.user_id for u in zk.get_users()] == ["19850101"]
    zk.delete_user(user_id="19850101")
    assert zk.get_users() == []
    assert handle.terminal.users() == []


def test_get_attendance_reads_every_record(zk: Any, handle: SimulatedTerminal) -> None:
    expected = handle.terminal.records()
    got = zk.get_attendance()
    assert [(a.user_id, a.timestamp, a.status, a.punch, a.uid) for a in got] == [
        (r.pin, r.timestamp, r.status, r.punch, r.uid) for r in expected
    ]


def test_free_data_is_acknowledged(zk: Any) -> None:
    assert zk.free_data() is True


def test_clear_attendance_empties_the_log(zk: Any, handle: SimulatedTerminal) -> None:
    assert zk.clear_attendance() is True
    assert zk.get_attendance() == []
    assert handle.terminal.record_count == 0
    zk.read_sizes()
    assert zk.records == 0


def test_unknown_command_is_answered_with_ack_unknown(zk: Any, handle: SimulatedTerminal) -> None:
    reply = zk._ZK__send_command(4321, b"", 1024)
    assert reply == {"status": False, "code": Cmd.ACK_UNKNOWN}
    assert handle.terminal.stats.unknown_commands == 1
    assert zk.get_serialnumber() == "SIM0001"  # the session carries on
