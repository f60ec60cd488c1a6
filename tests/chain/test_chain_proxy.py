"""The chain's TCP proxy with real sockets: traffic flows, a reset cut closes and refuses, a blackhole
swallows silently, and restore lets new connections through again."""

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from simulators.chain.proxy import TcpProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A real TCP echo server on a free port."""
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield int(server.server_address[1])
        server.shutdown()


def _connect(proxy: TcpProxy) -> socket.socket:
    return socket.create_connection((proxy.host, proxy.port), timeout=2)


def _closed(sock: socket.socket) -> bool:
    """The peer closed (EOF) or reset the connection."""
    try:
        return sock.recv(10) == b""
    except ConnectionResetError:
        return True


def _echo(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    received = b""
    while len(received) < len(data):
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


def test_reset_cut_closes_and_refuses_then_restore_lets_through(echo_port: int) -> None:
    with TcpProxy("127.0.0.1", echo_port) as proxy:
        before = _connect(proxy)
        assert _echo(before, b"hello") == b"hello"
        proxy.cut("reset")
        # The open connection is gone: reading gives EOF or a reset.
        before.settimeout(2)
        assert _closed(before)
        during = _connect(proxy)  # the listener still accepts the SYN, then drops the connection at once
        during.settimeout(2)
        assert _closed(during)
        assert proxy.stats.refused == 1
        proxy.restore()
        after = _connect(proxy)
        assert _echo(after, b"again") == b"again"
        for sock in (before, during, after):
            sock.close()


def test_blackhole_swallows_silently_and_restore_closes_the_swallowed_connection(echo_port: int) -> None:
    with TcpProxy("127.0.0.1", echo_port) as proxy:
        sock = _connect(proxy)
        assert _echo(sock, b"ping") == b"ping"
        proxy.cut("blackhole")
        sock.sendall(b"lost")
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(10)  # nothing comes back, and nothing says the connection is dead
        assert proxy.cut_mode == "blackhole"
        proxy.restore()
        sock.settimeout(2)
        assert _closed(sock)
        fresh = _connect(proxy)
        assert _echo(fresh, b"pong") == b"pong"
        assert proxy.stats.bytes_swallowed >= 4
        sock.close()
        fresh.close()
