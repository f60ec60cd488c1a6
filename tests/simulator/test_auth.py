"""Comm key: right key accepted, wrong key refused, sessions that never authenticate refused data."""

import pytest
from zk.exception import ZKErrorResponse

from simulators.zk.fleet import Fleet, SimulatedTerminal
from simulators.zk.protocol import Cmd
from simulators.zk.terminal import Terminal

from .helpers import connected, pyzk
from .rawclient import RawClient

pytestmark = pytest.mark.timeout(30)

KEY = 123456


@pytest.fixture
def keyed(fleet: Fleet) -> SimulatedTerminal:
    terminal = Terminal("KEYED1", comm_key=KEY)
    terminal.add_user("1", "Satu")
    return fleet.add(terminal)


def test_right_comm_key_connects(keyed: SimulatedTerminal, transport: str) -> None:
    zk = connected(keyed, udp=transport == "udp", key=KEY)
    assert zk.get_serialnumber() == "KEYED1"
    assert [u.user_id for u in zk.get_users()] == ["1"]
    zk.disconnect()


@pytest.mark.parametrize("wrong", [0, KEY + 1, 12])
def test_wrong_comm_key_is_refused_unauthenticated(keyed: SimulatedTerminal, transport: str, wrong: int) -> None:
    with pytest.raises(ZKErrorResponse, match="Unauthenticated"):
        pyzk(keyed, udp=transport == "udp", key=wrong, timeout=3).connect()


def test_no_key_terminal_accepts_any_client_without_auth(fleet: Fleet, transport: str) -> None:
    open_terminal = fleet.add(Terminal("OPEN1"))
    with RawClient(open_terminal.host, open_terminal.port, transport) as raw:
        assert raw.request(Cmd.CONNECT).command == Cmd.ACK_OK
    zk = connected(open_terminal, udp=transport == "udp", key=999)  # pyzk only sends AUTH when asked
    assert zk.get_serialnumber() == "OPEN1"
    zk.disconnect()


@pytest.mark.parametrize(
    ("command", "payload"),
    [
        (Cmd.GET_FREE_SIZES, b""),
        (Cmd.OPTIONS_RRQ, b"~SerialNumber\x00"),
        (Cmd.PREPARE_BUFFER, b"\x01\x0d\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
        (Cmd.CLEAR_ATTLOG, b""),
        (Cmd.GET_TIME, b""),
    ],
)
def test_session_that_never_authenticates_gets_ack_unauth_on_data_commands(
    keyed: SimulatedTerminal, transport: str, command: int, payload: bytes
) -> None:
    keyed.terminal.punch("1")
    with RawClient(keyed.host, keyed.port, transport) as raw:
        hello = raw.connect(key=None)
        assert hello.command == Cmd.ACK_UNAUTH
        assert hello.session_id != 0
        reply = raw.request(command, payload)
        assert reply.command == Cmd.ACK_UNAUTH
        assert reply.payload == b""
        assert reply.reply_id == raw.reply_id - 1  # the reply echoes the request's reply id
    assert keyed.terminal.record_count == 1  # nothing was cleared


def test_refused_auth_then_right_key_on_a_new_connection_works(keyed: SimulatedTerminal, transport: str) -> None:
    with RawClient(keyed.host, keyed.port, transport) as raw:
        assert raw.connect(key=KEY + 7).command == Cmd.ACK_UNAUTH
        assert raw.request(Cmd.GET_FREE_SIZES).command == Cmd.ACK_UNAUTH
    with RawClient(keyed.host, keyed.port, transport) as raw:
        assert raw.connect(key=KEY).command == Cmd.ACK_OK
        assert raw.request(Cmd.GET_FREE_SIZES).command == Cmd.ACK_OK
