"""A minimal ZK client over raw sockets, for behaviour pyzk never exercises (protocol map section 11).

Unlike pyzk it reads exactly one packet per call (TCP: the 8-byte top header, then exactly the
announced body), so tests can see how a reply is split into packets and in what order they come.
"""

import socket
import struct
from dataclasses import dataclass
from types import TracebackType

from simulators.zk.protocol import (
    Cmd,
    Packet,
    decode_packet,
    decode_tcp_prefix,
    encode_packet,
    make_commkey,
    tcp_frame,
)


@dataclass(slots=True)
class Received:
    packet: Packet
    wire_size: int  # bytes of the datagram, or of the TCP frame including its top header


class RawClient:
    """One connection to a simulated terminal; ``send`` and ``recv`` work packet by packet."""

    def __init__(self, host: str, port: int, transport: str = "tcp", timeout: float = 3.0) -> None:
        if transport not in ("tcp", "udp"):
            raise ValueError(f"transport must be tcp or udp, not {transport!r}")
        self.address = (host, port)
        self.transport = transport
        self.session_id = 0
        self.reply_id = 0
        kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.settimeout(timeout)
        if transport == "tcp":
            self.sock.connect(self.address)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- packets ------------------------------------------------------------------------------

    def frame(self, command: int, payload: bytes = b"") -> bytes:
        """The wire bytes of the next request (advances the reply id)."""
        body = encode_packet(command, self.session_id, self.reply_id, payload)
        self.reply_id = (self.reply_id + 1) & 0xFFFF
        return tcp_frame(body) if self.transport == "tcp" else body

    def send(self, command: int, payload: bytes = b"") -> None:
        self.send_raw(self.frame(command, payload))

    def send_raw(self, wire: bytes) -> None:
        if self.transport == "tcp":
            self.sock.sendall(wire)
        else:
            self.sock.sendto(wire, self.address)

    def _read_exactly(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            got = self.sock.recv(size - len(data))
            if not got:
                raise ConnectionError(f"connection closed after {len(data)} of {size} bytes")
            data += got
        return bytes(data)

    def recv(self) -> Received:
        """Exactly one packet."""
        if self.transport == "tcp":
            prefix = self._read_exactly(8)
            length = decode_tcp_prefix(prefix)
            return Received(decode_packet(self._read_exactly(length)), 8 + length)
        datagram = self.sock.recv(65535)
        return Received(decode_packet(datagram), len(datagram))

    def request(self, command: int, payload: bytes = b"") -> Packet:
        self.send(command, payload)
        return self.recv().packet

    # --- conversations ------------------------------------------------------------------------

    def connect(self, key: int | None = 0) -> Packet:
        """CONNECT, then AUTH with ``key`` if the terminal asks for it (``None``: never authenticate)."""
        reply = self.request(Cmd.CONNECT)
        self.session_id = reply.session_id
        if reply.command == Cmd.ACK_UNAUTH and key is not None:
            reply = self.request(Cmd.AUTH, make_commkey(key, self.session_id))
        return reply

    def prepare_buffer(self, inner: int, fct: int = 0) -> Packet:
        return self.request(Cmd.PREPARE_BUFFER, struct.pack("<bhii", 1, inner, fct, 0))

    def read_chunk_packets(self) -> list[Received]:
        """The packets of one 1504 reply: PREPARE_DATA, DATA..., up to and including ACK_OK."""
        packets = [self.recv()]
        while packets[-1].packet.command != Cmd.ACK_OK:
            packets.append(self.recv())
        return packets


def chunk_request(start: int, size: int) -> bytes:
    return struct.pack("<ii", start, size)
