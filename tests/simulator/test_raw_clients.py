"""Terminal behaviour other ZK clients rely on (protocol map section 11), seen through a raw-socket client."""

import select
import socket
import struct

import pytest

from simulators.zk.fleet import Fleet, SimulatedTerminal
from simulators.zk.protocol import Cmd, decode_packet, decode_tcp_prefix
from simulators.zk.terminal import Terminal

from .helpers import history
from .rawclient import RawClient, chunk_request

pytestmark = pytest.mark.timeout(30)

RECORDS = 2000  # 80,004-byte attendance data set: chunked, not direct


@pytest.fixture
def handle(fleet: Fleet) -> SimulatedTerminal:
    terminal = Terminal("RAW1")
    for i in range(5):
        terminal.add_user(str(3000 + i), f"Pegawai {i}")
    terminal.prefill(history(terminal, RECORDS))
    return fleet.add(terminal)


def _prepare_attlog(raw: RawClient) -> int:
    reply = raw.prepare_buffer(Cmd.ATTLOG_RRQ)
    assert reply.command == Cmd.ACK_OK
    assert len(reply.payload) == 13  # as real terminals: 00 | size | size | 4 bytes
    (size,) = struct.unpack("<I", reply.payload[1:5])
    return int(size)


def test_tcp_chunk_reply_is_three_packets_prepare_data_ack(handle: SimulatedTerminal) -> None:
    dataset = handle.terminal.attendance_dataset()
    with RawClient(handle.host, handle.port, "tcp") as raw:
        raw.connect()
        size = _prepare_attlog(raw)
        assert size == len(dataset) == 4 + 40 * RECORDS
        got = b""
        for start in range(0, size, 0xFFC0):
            n = min(0xFFC0, size - start)
            raw.send(Cmd.READ_BUFFER, chunk_request(start, n))
            request_reply_id = raw.reply_id - 1
            packets = [raw.recv() for _ in range(3)]
            assert [p.packet.command for p in packets] == [Cmd.PREPARE_DATA, Cmd.DATA, Cmd.ACK_OK]
            assert all(p.packet.reply_id == request_reply_id for p in packets)
            assert packets[0].packet.payload == struct.pack("<II", n, 0)
            assert len(packets[1].packet.payload) == n
            assert packets[2].packet.payload == b""
            got += packets[1].packet.payload
        assert got == dataset
        assert raw.request(Cmd.FREE_DATA).command == Cmd.ACK_OK


def test_tcp_chunk_packets_are_written_separately(fleet: Fleet) -> None:
    """A client reading one packet per recv() sees PREPARE_DATA alone, then DATA, then ACK_OK."""
    terminal = Terminal("RAW-GAP")
    terminal.add_user("1", "A")
    terminal.prefill(history(terminal, 100))
    handle = fleet.add(terminal, chunk_gap=0.05)  # a slower device makes the gaps observable
    with RawClient(handle.host, handle.port, "tcp") as raw:
        raw.connect()
        size = _prepare_attlog(raw)
        raw.send(Cmd.READ_BUFFER, chunk_request(0, size))
        reads: list[bytes] = []
        for _ in range(3):
            ready, _, _ = select.select([raw.sock], [], [], 3)
            assert ready
            reads.append(raw.sock.recv(1 << 20))
        commands = []
        for data in reads:
            length = decode_tcp_prefix(data[:8])
            assert len(data) == 8 + length  # exactly one whole packet per read
            commands.append(decode_packet(data[8:]).command)
        assert commands == [Cmd.PREPARE_DATA, Cmd.DATA, Cmd.ACK_OK]


def test_pipelined_chunk_requests_are_answered_in_order(handle: SimulatedTerminal) -> None:
    dataset = handle.terminal.attendance_dataset()
    with RawClient(handle.host, handle.port, "tcp") as raw:
        raw.connect()
        size = _prepare_attlog(raw)
        step = 16_000
        starts = list(range(0, size, step))
        assert len(starts) >= 5
        burst = b"".join(raw.frame(Cmd.READ_BUFFER, chunk_request(s, min(step, size - s))) for s in starts)
        first_reply_id = raw.reply_id - len(starts)
        raw.send_raw(burst)  # every request in one write
        got = b""
        for index, start in enumerate(starts):
            packets = raw.read_chunk_packets()
            assert [p.packet.command for p in packets] == [Cmd.PREPARE_DATA, Cmd.DATA, Cmd.ACK_OK]
            assert {p.packet.reply_id for p in packets} == {first_reply_id + index}
            assert len(packets[1].packet.payload) == min(step, size - start)
            got += packets[1].packet.payload
        assert got == dataset


@pytest.mark.parametrize("key", [b"~SerialNumber", b"~SerialNumber\x00", b"~Platform", b"MAC\x00"])
def test_option_read_is_answered_key_equals_value_nul_with_or_without_trailing_nul(
    handle: SimulatedTerminal, transport: str, key: bytes
) -> None:
    expected = {"~SerialNumber": "RAW1", "~Platform": "ZMM220_TFT", "MAC": "00:17:61:00:00:01"}
    name = key.rstrip(b"\x00").decode()
    with RawClient(handle.host, handle.port, transport) as raw:
        raw.connect()
        reply = raw.request(Cmd.OPTIONS_RRQ, key)
    assert reply.command == Cmd.ACK_OK
    assert reply.payload == f"{name}={expected[name]}".encode() + b"\x00"


def test_unknown_option_is_an_error_not_an_empty_value(handle: SimulatedTerminal) -> None:
    with RawClient(handle.host, handle.port, "tcp") as raw:
        raw.connect()
        assert raw.request(Cmd.OPTIONS_RRQ, b"NoSuchOption\x00").command == Cmd.ACK_ERROR


def test_udp_chunk_datagrams_are_each_at_most_1032_bytes(handle: SimulatedTerminal) -> None:
    dataset = handle.terminal.attendance_dataset()
    with RawClient(handle.host, handle.port, "udp") as raw:
        raw.connect()
        size = _prepare_attlog(raw)
        got = b""
        for start in range(0, size, 16_384):
            n = min(16_384, size - start)
            raw.send(Cmd.READ_BUFFER, chunk_request(start, n))
            packets = raw.read_chunk_packets()
            assert packets[0].packet.command == Cmd.PREPARE_DATA
            data = packets[1:-1]
            assert all(p.packet.command == Cmd.DATA for p in data)
            assert all(p.wire_size <= 1032 for p in packets)
            assert len(data) == -(-n // 1024)
            got += b"".join(p.packet.payload for p in data)
        assert got == dataset


def test_direct_data_reply_is_the_whole_answer(fleet: Fleet, transport: str) -> None:
    terminal = Terminal("RAW-SMALL")
    terminal.add_user("42", "Kecil")
    terminal.prefill(history(terminal, 3))
    handle = fleet.add(terminal)
    with RawClient(handle.host, handle.port, transport, timeout=0.3) as raw:
        raw.connect()
        reply = raw.prepare_buffer(Cmd.ATTLOG_RRQ)
        assert reply.command == Cmd.DATA
        assert reply.payload == terminal.attendance_dataset()
        with pytest.raises(socket.timeout):
            raw.recv()  # nothing follows a direct CMD_DATA


def test_free_sizes_offsets_users_records_capacity(handle: SimulatedTerminal, transport: str) -> None:
    with RawClient(handle.host, handle.port, transport) as raw:
        raw.connect()
        reply = raw.request(Cmd.GET_FREE_SIZES)
    assert reply.command == Cmd.ACK_OK
    users, records, capacity = (struct.unpack_from("<i", reply.payload, at)[0] for at in (16, 32, 64))
    assert (users, records, capacity) == (5, RECORDS, 100_000)


def test_client_sent_ack_ok_gets_no_answer(handle: SimulatedTerminal, transport: str) -> None:
    with RawClient(handle.host, handle.port, transport, timeout=0.3) as raw:
        raw.connect()
        raw.send(Cmd.ACK_OK)
        with pytest.raises(socket.timeout):
            raw.recv()
        assert raw.request(Cmd.GET_FREE_SIZES).command == Cmd.ACK_OK


def test_client_sent_ack_error_and_ack_unknown_are_answered(handle: SimulatedTerminal, transport: str) -> None:
    """pyzk's _clear_error sends 2001 and 0xFFFF as requests and reads a reply to each."""
    with RawClient(handle.host, handle.port, transport) as raw:
        raw.connect()
        for command in (Cmd.ACK_ERROR, Cmd.ACK_UNKNOWN, Cmd.ACK_UNKNOWN, Cmd.ACK_UNKNOWN):
            assert raw.request(command, b"~ExtendFmt\x00").command == Cmd.ACK_OK
        assert raw.request(Cmd.GET_FREE_SIZES).command == Cmd.ACK_OK
