"""Users in 28- and 72-byte layouts, attendance in 8-, 16- and 40-byte layouts, read back through pyzk."""

from datetime import datetime

import pytest

from simulators.zk.fleet import Fleet
from simulators.zk.layouts import RECORD_SIZES, Record, RecordLayout, decode_record, encode_record
from simulators.zk.terminal import Terminal

from .helpers import connected

pytestmark = pytest.mark.timeout(30)

# profile -> (user record size, attendance record size)
LAYOUTS = {"zk8": (72, 40), "zk6": (28, 16), "zem500": (28, 8)}

ROSTER = [
    # pin, name (<= 8 chars: the 28-byte layout's limit), privilege, password, card
    ("1001", "Ani", 0, "", 0),
    ("1002", "Budi S", 14, "12345", 0),
    ("65000", "Citra", 0, "999", 1234567),
    ("7", "", 0, "", 0),
]


def _terminal(profile: str) -> Terminal:
    terminal = Terminal(f"LAY-{profile}", profile=profile)
    for pin, name, privilege, password, card in ROSTER:
        terminal.add_user(pin, name, privilege=privilege, password=password, card=card)
    base = datetime(2024, 2, 29, 23, 59, 58)  # a leap day, crossing midnight
    for i, (pin, *_rest) in enumerate(ROSTER * 3):
        user = terminal.user_by_pin(pin)
        assert user is not None
        when = base.replace(second=58 + i % 2) if i < 2 else datetime(2024, 3, 1, 7, i, i)
        terminal.prefill([Record(user.uid, pin, when, (0, 1, 4, 5, 2, 3)[i % 6], (1, 15, 4, 0)[i % 4])])
    return terminal


@pytest.mark.parametrize("profile", sorted(LAYOUTS))
def test_users_read_back_in_the_profile_layout(fleet: Fleet, transport: str, profile: str) -> None:
    terminal = _terminal(profile)
    user_size, _ = LAYOUTS[profile]
    assert len(terminal.users_dataset()) == 4 + user_size * len(ROSTER)
    zk = connected(fleet.add(terminal), udp=transport == "udp")
    try:
        users = zk.get_users()
        assert zk.user_packet_size == user_size
    finally:
        zk.disconnect()
    assert [(u.uid, u.user_id, u.privilege, u.password, u.card) for u in users] == [
        (t.uid, t.pin, t.privilege, t.password, t.card) for t in terminal.users()
    ]
    assert [u.name for u in users] == ["Ani", "Budi S", "Citra", "NN-7"]


@pytest.mark.parametrize("profile", sorted(LAYOUTS))
def test_attendance_reads_back_in_the_profile_layout(fleet: Fleet, transport: str, profile: str) -> None:
    terminal = _terminal(profile)
    _, record_size = LAYOUTS[profile]
    assert terminal.profile.record_size == record_size
    assert len(terminal.attendance_dataset()) == 4 + record_size * terminal.record_count
    zk = connected(fleet.add(terminal), udp=transport == "udp")
    try:
        got = zk.get_attendance()
    finally:
        zk.disconnect()
    assert [(a.user_id, a.timestamp, a.status, a.punch) for a in got] == [
        (r.pin, r.timestamp, r.status, r.punch) for r in terminal.records()
    ]
    assert [int(a.uid) for a in got] == [r.uid for r in terminal.records()]


@pytest.mark.parametrize("profile", sorted(LAYOUTS))
def test_set_user_through_pyzk_in_the_profile_layout(fleet: Fleet, transport: str, profile: str) -> None:
    terminal = _terminal(profile)
    zk = connected(fleet.add(terminal), udp=transport == "udp")
    try:
        zk.get_users()  # pyzk learns the user record size from the first read
        zk.set_user(uid=9, name="Dewi", privilege=14, password="4321", group_id="1", user_id="88001", card=0)
        users = {u.uid: u for u in zk.get_users()}
    finally:
        zk.disconnect()
    assert (users[9].user_id, users[9].name, users[9].privilege, users[9].password) == (
        "88001",
        "Dewi",
        14,
        "4321",
    )
    stored = terminal.user_by_pin("88001")
    assert stored is not None
    assert stored.uid == 9


RECORD_LAYOUTS: list[RecordLayout] = ["8", "8-zem500", "16", "40"]


@pytest.mark.parametrize("layout", RECORD_LAYOUTS)
def test_record_layouts_round_trip_through_the_simulator_codec(layout: RecordLayout) -> None:
    record = Record(3, "1002", datetime(2031, 12, 31, 23, 59, 59), 5, 15)
    data = encode_record(record, layout)
    assert len(data) == RECORD_SIZES[layout]
    back = decode_record(data, layout, {3: "1002"})
    assert (back.pin, back.timestamp, back.status, back.punch) == ("1002", record.timestamp, 5, 15)


def test_ma300_byte_order_is_misread_by_pyzk_as_on_real_devices(fleet: Fleet) -> None:
    terminal = Terminal("MA300", profile="ma300")
    terminal.add_user("5", "Eko")
    terminal.punch("5", 1, at=datetime(2024, 6, 1, 8, 0, 0))
    zk = connected(fleet.add(terminal))
    try:
        got = zk.get_attendance()
    finally:
        zk.disconnect()
    assert len(got) == 1
    assert (got[0].timestamp, got[0].status) != (datetime(2024, 6, 1, 8, 0, 0), 1)
