"""The ZK driver against the simulator through unmodified pyzk 0.9, including the pyzk bugs it works around."""

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from zk import ZK

from devices.driver import TerminalAuthError, TerminalUnreachable
from devices.punch import Punch
from devices.zk.codec import decode_event, decode_records, split_tcp_frames
from devices.zk.driver import ZKDriver
from simulators.zk.fleet import Fleet, SimulatedTerminal
from simulators.zk.layouts import Record, encode_dataset, encode_event, encode_record
from simulators.zk.protocol import encode_packet, tcp_frame
from simulators.zk.terminal import Terminal

BASE = datetime(2026, 11, 2, 7, 0, 0)


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    with Fleet() as running:
        yield running


def _terminal(fleet: Fleet, serial: str, profile: str = "zk8", records: int = 0, **kw: object) -> SimulatedTerminal:
    terminal = Terminal(serial, profile=profile, **kw)  # type: ignore[arg-type]
    for n in range(20):
        terminal.add_user(str(500 + n), f"Pegawai {n}")
    terminal.prefill(
        [Record(1 + i % 20, str(500 + i % 20), BASE + timedelta(seconds=37 * i), i % 2, 1) for i in range(records)]
    )
    return fleet.add(terminal)


def _driver(sim: SimulatedTerminal, **kw: object) -> ZKDriver:
    driver = ZKDriver("127.0.0.1", sim.port, timeout=3, **kw)  # type: ignore[arg-type]
    driver.connect()
    return driver


@pytest.mark.parametrize("profile", ["zk8", "zk6", "zem500"])
@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_driver_reads_what_pyzk_reads_where_pyzk_is_right(fleet: Fleet, profile: str, transport: str) -> None:
    sim = _terminal(fleet, f"D{profile}{transport}", profile, records=3000)
    driver = _driver(sim, transport=transport)
    punches = driver.read_attendance()
    driver.close()
    conn = ZK("127.0.0.1", port=sim.port, timeout=5, force_udp=transport == "udp", ommit_ping=True).connect()
    reference = conn.get_attendance()
    conn.disconnect()
    assert [(p.pin, p.local_time, p.status, p.punch) for p in punches] == [
        (a.user_id, a.timestamp, a.status, a.punch) for a in reference
    ]
    assert len(punches) == 3000


def test_punches_are_normalised_with_zone_utc_and_key(fleet: Fleet) -> None:
    sim = _terminal(fleet, "ZONED", records=1, zone="Asia/Makassar")
    driver = _driver(sim, zone="Asia/Makassar")
    (punch,) = driver.read_attendance()
    driver.close()
    assert punch.terminal_sn == "ZONED"
    assert punch.zone == "Asia/Makassar"
    assert punch.utc.isoformat() == "2026-11-01T23:00:00+00:00"  # 07:00 WITA is UTC+8
    assert punch.key == "ZONED|500|20261102T070000|0"


def test_ma300_byte_order_decodes_correctly_where_pyzk_misreads_it(fleet: Fleet) -> None:
    """pyzk issues 56/92/99: ZEM500/MA300 8-byte records come out of pyzk 0.9 with garbage dates,
    or make it raise on an impossible one."""
    sim = _terminal(fleet, "MA300", "ma300", records=200)
    conn = ZK("127.0.0.1", port=sim.port, timeout=5, ommit_ping=True).connect()
    try:
        pyzk_dates = {a.timestamp for a in conn.get_attendance()}
    except ValueError:
        pyzk_dates = set()
    conn.disconnect()
    assert not pyzk_dates & {r.timestamp for r in sim.terminal.records()}  # the bug is real
    driver = _driver(sim)
    punches = driver.read_attendance()
    driver.close()
    assert [(p.pin, p.local_time) for p in punches] == [(r.pin, r.timestamp) for r in sim.terminal.records()]


def test_configured_record_layout_overrides_detection(fleet: Fleet) -> None:
    sim = _terminal(fleet, "MA300B", "ma300", records=50)
    driver = _driver(sim, record_layout="8-zem500")
    assert [p.local_time for p in driver.read_attendance()] == [r.timestamp for r in sim.terminal.records()]
    driver.close()


@pytest.mark.slow  # a CPU comparison over 60,000 records: a benchmark-like run
def test_full_log_read_is_linear_not_quadratic(fleet: Fleet) -> None:
    """pyzk's get_attendance slices its buffer per record; at 60k records the driver must be far faster."""
    sim = _terminal(fleet, "BIG", records=60_000)
    driver = _driver(sim, transport="tcp")
    started = time.process_time()
    punches = driver.read_attendance()
    driver_cpu = time.process_time() - started
    driver.close()
    conn = ZK("127.0.0.1", port=sim.port, timeout=30, ommit_ping=True).connect()
    started = time.process_time()
    reference = conn.get_attendance()
    pyzk_cpu = time.process_time() - started
    conn.disconnect()
    assert len(punches) == len(reference) == 60_000
    assert driver_cpu < pyzk_cpu  # same machine, same process: a relative check, not a timing target


def _live(driver: ZKDriver, want: int, got: list[Punch]) -> threading.Thread:
    def consume() -> None:
        for punch in driver.live_events(0.3):
            if punch is not None:
                got.append(punch)
            if len(got) >= want:
                driver.stop_live()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("profile", ["zk8-event37", "zem500", "ma300", "zk6", "zk8", "zk8-event52"])
@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_live_events_of_every_size_arrive_in_order(fleet: Fleet, profile: str, transport: str) -> None:
    """37-, 10- and 14-byte events make pyzk 0.9's live_capture raise UnboundLocalError (pyzk issue 86)."""
    sim = _terminal(fleet, f"L{profile}{transport}", profile)
    driver = _driver(sim, transport=transport)
    got: list[Punch] = []
    thread = _live(driver, 3, got)
    time.sleep(0.8)
    made = []
    for n, pin in enumerate(("501", "502", "503")):
        made.append(sim.terminal.punch(pin, status=n % 2))
        time.sleep(0.05)
    thread.join(10)
    assert [(p.pin, p.status) for p in got] == [("501", 0), ("502", 1), ("503", 0)]
    assert [p.local_time for p in got] == [r.timestamp for r in made if r is not None]


def test_pyzk_live_capture_fails_on_37_byte_events(fleet: Fleet) -> None:
    """The bug the driver works around: keep it visible so a future pyzk upgrade can drop the workaround."""
    sim = _terminal(fleet, "PYZK37", "zk8-event37")
    conn = ZK("127.0.0.1", port=sim.port, timeout=5, ommit_ping=True).connect()
    errors: list[BaseException] = []

    def capture() -> None:
        try:
            for event in conn.live_capture(new_timeout=1):
                if event is not None:
                    break
        except BaseException as exc:  # recording what pyzk raises is the point of this test
            errors.append(exc)

    thread = threading.Thread(target=capture, daemon=True)
    thread.start()
    time.sleep(0.8)
    sim.terminal.punch("501")
    thread.join(5)
    assert errors
    assert isinstance(errors[0], UnboundLocalError)


def test_two_events_in_one_tcp_read_are_both_decoded() -> None:
    """pyzk reads one recv() per event and misparses two that arrived together; the driver frames them."""
    records = [Record(1, "501", BASE, 0, 1), Record(2, "502", BASE + timedelta(seconds=1), 1, 15)]
    stream = bytearray(b"".join(tcp_frame(encode_packet(500, 1, 0, encode_event(r, "36"))) for r in records))
    stream += tcp_frame(encode_packet(500, 1, 0, b""))[:5]  # the start of a third frame stays buffered
    frames = list(split_tcp_frames(stream))
    assert [decode_event(payload).pin for _cmd, _session, payload in frames] == ["501", "502"]
    assert len(stream) == 5


def test_undecodable_records_are_counted_not_hidden() -> None:
    good = Record(1, "501", BASE, 0, 1)

    corrupt = bytearray(encode_record(good, "40"))
    february_31 = (26 * 12 * 31 + 1 * 31 + 30) * 86400  # the packed calendar allows it, the real one does not
    corrupt[27:31] = february_31.to_bytes(4, "little")
    records, bad = decode_records(encode_dataset([encode_record(good, "40"), bytes(corrupt)]), 2)
    assert [r.pin for r in records] == ["501"]
    assert bad == 1


def test_wrong_comm_key_is_an_auth_error(fleet: Fleet) -> None:
    sim = _terminal(fleet, "KEYED", comm_key=4321)
    with pytest.raises(TerminalAuthError, match="comm key"):
        _driver(sim, comm_key=1)
    _driver(sim, comm_key=4321).close()


def test_dead_terminal_is_unreachable_within_the_timeout(fleet: Fleet) -> None:
    sim = _terminal(fleet, "DEAD")
    sim.terminal.faults.unreachable = True
    started = time.monotonic()
    with pytest.raises(TerminalUnreachable):
        _driver(sim, transport="auto")
    assert time.monotonic() - started < 3 * 2 + 2  # TCP then UDP, each within its 3 s timeout


def test_powered_off_terminal_is_unreachable(fleet: Fleet) -> None:
    sim = _terminal(fleet, "OFF")
    sim.power_off()
    with pytest.raises(TerminalUnreachable):
        _driver(sim, transport="tcp")
    sim.power_on()
    _driver(sim, transport="tcp").close()


def test_connection_dropped_mid_transfer_is_unreachable_then_recovers(fleet: Fleet) -> None:
    sim = _terminal(fleet, "DROP", records=20_000)
    driver = _driver(sim, transport="tcp")
    sim.terminal.faults.drop_mid_transfer = True
    with pytest.raises(TerminalUnreachable):
        driver.read_attendance()
    sim.terminal.faults.drop_mid_transfer = False
    driver.connect()
    assert len(driver.read_attendance()) == 20_000
    driver.close()


def test_clock_read_set_and_identity(fleet: Fleet) -> None:
    sim = _terminal(fleet, "CLOCK", records=5)
    driver = _driver(sim)
    info = driver.identify()
    assert (info.serial, info.records, info.users, info.record_capacity) == ("CLOCK", 5, 20, 100_000)
    driver.set_clock(datetime(2026, 5, 6, 7, 8, 9))
    assert abs((driver.read_clock() - datetime(2026, 5, 6, 7, 8, 9)).total_seconds()) < 3
    assert [u.pin for u in driver.read_users()][:2] == ["500", "501"]
    size = driver.log_size()
    assert (size.records, size.capacity) == (5, 100_000)
    driver.clear_log()
    assert driver.log_size().records == 0
    driver.close()


def test_auto_transport_falls_back_to_udp_when_tcp_is_refused(fleet: Fleet) -> None:
    sim = _terminal(fleet, "UDPONLY", records=10)
    sim.terminal.faults.udp_only = True
    with pytest.raises(TerminalUnreachable):
        _driver(sim, transport="tcp")
    driver = _driver(sim, transport="auto")
    assert driver.connected_over == "udp"
    assert len(driver.read_attendance()) == 10
    driver.close()


def test_log_view_decodes_on_demand_and_matches_the_full_decode(fleet: Fleet) -> None:
    sim = _terminal(fleet, "LAZY", records=1000)
    driver = _driver(sim)
    attendance = driver.read_log()
    everything = driver.read_attendance()
    driver.close()
    assert len(attendance) == 1000
    assert attendance.punch_at(0) == everything[0]
    assert attendance.punch_at(999) == everything[999]
    assert list(attendance.punches(990)) == everything[990:]


def test_record_table_marks_a_corrupt_record_without_losing_its_neighbours() -> None:
    from devices.zk.codec import RecordTable

    good = [encode_record(Record(1, str(500 + i), BASE + timedelta(minutes=i), 0, 1), "40") for i in range(3)]
    corrupt = bytearray(good[1])
    corrupt[27:31] = ((26 * 12 * 31 + 31 + 30) * 86400).to_bytes(4, "little")  # 31 February
    table = RecordTable(encode_dataset([good[0], bytes(corrupt), good[2]]), 3)
    assert len(table) == 3
    assert table.record(2).pin == "502"
    with pytest.raises(ValueError, match="day"):
        table.record(1)
    assert [r.pin for r in table.records()] == ["500", "502"]
    assert table.undecodable == 1
