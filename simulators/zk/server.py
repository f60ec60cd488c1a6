"""The network face of a simulated terminal: ZK protocol over TCP and UDP on the same port.

Command semantics live in ``SessionHandler`` (transport-independent); ``TerminalServer`` owns the
sockets, framing, pacing and live-event delivery. Behaviour follows pyzk 0.9 and real terminals
(docs/zk-simulator.md): one reply per request, chunk packets written separately with a little
device latency, UDP datagrams paced, live events one per packet and sent after the previous one
was acknowledged.
"""

import asyncio
import contextlib
import logging
import random
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from devices.zk.codec import decode_time
from simulators.zk.layouts import Record, decode_user, encode_event
from simulators.zk.protocol import (
    EF_ATTLOG,
    TCP_PREFIX,
    Cmd,
    Packet,
    commkey_matches,
    decode_packet,
    decode_tcp_prefix,
    encode_packet,
    encode_time,
    tcp_frame,
)
from simulators.zk.terminal import Terminal

log = logging.getLogger(__name__)

Transport = Literal["tcp", "udp"]
DIRECT_DATA_MAX = 1016  # the largest data set sent inline (pyzk's UDP recv(1024) minus the header)
UDP_DATA_MAX = 1024  # payload of one CMD_DATA datagram in a chunk (pyzk reads recv(1032))
TCP_MAX_BODY = 16 * 1024 * 1024
EVENT_ACK_TIMEOUT = 3.0
UNAUTHENTICATED_OK = {Cmd.CONNECT, Cmd.AUTH, Cmd.EXIT}


@dataclass(slots=True)
class Reply:
    """What to send for one request: packets in order, and whether to pace them like a device."""

    packets: list[bytes] = field(default_factory=list)
    paced: bool = False
    close: bool = False  # drop the connection after sending (fault or restart)
    truncate_at: int | None = None  # send only this many packets, then go silent (mid-transfer fault)


@dataclass(slots=True)
class Session:
    sid: int
    transport: Transport
    authenticated: bool
    buffer: bytes | None = None
    event_flags: int = 0
    disabled_device: bool = False
    last_seen: float = field(default_factory=time.monotonic)
    events: "asyncio.Queue[Record]" = field(default_factory=asyncio.Queue)
    event_acked: asyncio.Event = field(default_factory=asyncio.Event)
    sender: asyncio.Task[None] | None = None
    send: Callable[[bytes], Awaitable[None]] | None = None


class SessionHandler:
    """Turns one request packet into a reply, against the terminal's state."""

    def __init__(self, terminal: Terminal, server: "TerminalServer") -> None:
        self.terminal = terminal
        self.server = server

    def _reply(self, session: Session, request: Packet, command: int, payload: bytes = b"") -> Reply:
        return Reply([encode_packet(command, session.sid, request.reply_id, payload)])

    def handle(self, session: Session, request: Packet) -> Reply:
        t = self.terminal
        t.stats.commands += 1
        cmd = request.command
        if cmd == Cmd.CONNECT:
            return self._reply(session, request, Cmd.ACK_UNAUTH if t.comm_key else Cmd.ACK_OK)
        if cmd == Cmd.AUTH:
            ok = not t.faults.refuse_auth and commkey_matches(request.payload, t.comm_key, session.sid)
            session.authenticated = ok
            return self._reply(session, request, Cmd.ACK_OK if ok else Cmd.ACK_UNAUTH)
        if not session.authenticated and cmd not in UNAUTHENTICATED_OK:
            return self._reply(session, request, Cmd.ACK_UNAUTH)
        method = self._commands.get(cmd)
        if method is None:
            t.stats.unknown_commands += 1
            return self._reply(session, request, Cmd.ACK_UNKNOWN)
        return method(self, session, request)

    # Each command: (self, session, request) -> Reply

    def _exit(self, session: Session, request: Packet) -> Reply:
        self._end_session(session)
        reply = self._reply(session, request, Cmd.ACK_OK)
        reply.close = session.transport == "tcp"
        return reply

    def _end_session(self, session: Session) -> None:
        if session.disabled_device:
            self.terminal.set_enabled(True)
            session.disabled_device = False
        session.event_flags = 0
        session.buffer = None

    def _ack(self, session: Session, request: Packet) -> Reply:
        return self._reply(session, request, Cmd.ACK_OK)

    def _enable(self, session: Session, request: Packet) -> Reply:
        session.disabled_device = False
        self.terminal.set_enabled(True)
        return self._ack(session, request)

    def _disable(self, session: Session, request: Packet) -> Reply:
        session.disabled_device = True
        self.terminal.set_enabled(False)
        return self._ack(session, request)

    def _restart(self, session: Session, request: Packet) -> Reply:
        reply = self._ack(session, request)
        self.server.schedule(self.server.restart())
        return reply

    def _poweroff(self, session: Session, request: Packet) -> Reply:
        reply = self._ack(session, request)
        self.server.schedule(self.server.power_off())
        return reply

    def _version(self, session: Session, request: Packet) -> Reply:
        return self._reply(session, request, Cmd.ACK_OK, self.terminal.profile.firmware.encode() + b"\x00")

    def _options_read(self, session: Session, request: Packet) -> Reply:
        key = request.payload.split(b"\x00", 1)[0].decode("ascii", errors="replace")
        value = self.terminal.option(key)
        if value is None:
            return self._reply(session, request, Cmd.ACK_ERROR)
        return self._reply(session, request, Cmd.ACK_OK, f"{key}={value}".encode() + b"\x00")

    def _options_write(self, session: Session, request: Packet) -> Reply:
        text = request.payload.split(b"\x00", 1)[0].decode("ascii", errors="replace")
        if "=" not in text:
            return self._reply(session, request, Cmd.ACK_ERROR)
        key, value = text.split("=", 1)
        self.terminal.options[key] = value
        return self._ack(session, request)

    def _pin_width(self, session: Session, request: Packet) -> Reply:
        return self._reply(session, request, Cmd.ACK_OK, bytes([self.terminal.profile.pin_width]))

    def _sizes(self, session: Session, request: Packet) -> Reply:
        return self._reply(session, request, Cmd.ACK_OK, self.terminal.sizes_block())

    def _get_time(self, session: Session, request: Packet) -> Reply:
        return self._reply(session, request, Cmd.ACK_OK, struct.pack("<I", encode_time(self.terminal.clock.now())))

    def _set_time(self, session: Session, request: Packet) -> Reply:
        if len(request.payload) < 4:
            return self._reply(session, request, Cmd.ACK_ERROR)
        try:
            local = decode_time(struct.unpack("<I", request.payload[:4])[0])
        except ValueError:
            return self._reply(session, request, Cmd.ACK_ERROR)
        self.terminal.clock.set(local)
        return self._ack(session, request)

    def _set_user(self, session: Session, request: Packet) -> Reply:
        try:
            self.terminal.set_user(decode_user(request.payload))
        except ValueError:
            return self._reply(session, request, Cmd.ACK_ERROR)
        return self._ack(session, request)

    def _delete_user(self, session: Session, request: Packet) -> Reply:
        if len(request.payload) < 2:
            return self._reply(session, request, Cmd.ACK_ERROR)
        self.terminal.delete_user(struct.unpack("<H", request.payload[:2])[0])
        return self._ack(session, request)

    def _clear_attlog(self, session: Session, request: Packet) -> Reply:
        self.terminal.clear_log()
        return self._ack(session, request)

    def _clear_data(self, session: Session, request: Packet) -> Reply:
        self.terminal.clear_all()
        return self._ack(session, request)

    def _reg_event(self, session: Session, request: Packet) -> Reply:
        flags = struct.unpack("<I", request.payload[:4].ljust(4, b"\x00"))[0]
        session.event_flags = flags
        self.server.set_live(session, bool(flags & EF_ATTLOG))
        return self._ack(session, request)

    def _prepare_buffer(self, session: Session, request: Packet) -> Reply:
        if len(request.payload) < 11:
            return self._reply(session, request, Cmd.ACK_ERROR)
        _one, inner, _fct, _ext = struct.unpack("<bhii", request.payload[:11])
        if inner == Cmd.USERTEMP_RRQ:
            dataset = self.terminal.users_dataset()
        elif inner == Cmd.ATTLOG_RRQ:
            dataset = self.terminal.attendance_dataset()
        elif inner == Cmd.DB_RRQ:
            dataset = b"\x00\x00\x00\x00"  # no fingerprint templates are simulated
        else:
            return self._reply(session, request, Cmd.ACK_ERROR)
        if len(dataset) <= DIRECT_DATA_MAX:
            session.buffer = None
            return self._reply(session, request, Cmd.DATA, dataset)
        session.buffer = dataset
        size = len(dataset)
        # As real terminals: 00 | size | size | 4 bytes; pyzk reads the size at offset 1.
        return self._reply(session, request, Cmd.ACK_OK, struct.pack("<BII4s", 0, size, size, b"\x00" * 4))

    def _read_buffer(self, session: Session, request: Packet) -> Reply:
        if session.buffer is None or len(request.payload) < 8:
            return self._reply(session, request, Cmd.ACK_ERROR)
        start, size = struct.unpack("<ii", request.payload[:8])
        if start < 0 or size <= 0 or start >= len(session.buffer):
            return self._reply(session, request, Cmd.ACK_ERROR)
        chunk = session.buffer[start : start + size]
        packets = [encode_packet(Cmd.PREPARE_DATA, session.sid, request.reply_id, struct.pack("<II", len(chunk), 0))]
        if session.transport == "tcp":
            packets.append(encode_packet(Cmd.DATA, session.sid, request.reply_id, chunk))
        else:
            packets.extend(
                encode_packet(Cmd.DATA, session.sid, request.reply_id, chunk[i : i + UDP_DATA_MAX])
                for i in range(0, len(chunk), UDP_DATA_MAX)
            )
        packets.append(encode_packet(Cmd.ACK_OK, session.sid, request.reply_id))
        reply = Reply(packets, paced=True)
        if self.terminal.faults.drop_mid_transfer:
            reply.truncate_at = max(1, len(packets) // 2)
            reply.close = True
        return reply

    def _free_data(self, session: Session, request: Packet) -> Reply:
        session.buffer = None
        return self._ack(session, request)

    def _error_ack(self, session: Session, request: Packet) -> Reply:
        # pyzk's _clear_error sends ACK_ERROR / ACK_UNKNOWN as requests and reads a reply to each.
        return self._ack(session, request)

    _commands: ClassVar[dict[int, Callable[["SessionHandler", Session, Packet], Reply]]] = {
        Cmd.EXIT: _exit,
        Cmd.ENABLEDEVICE: _enable,
        Cmd.DISABLEDEVICE: _disable,
        Cmd.RESTART: _restart,
        Cmd.POWEROFF: _poweroff,
        Cmd.REFRESHDATA: _ack,
        Cmd.REFRESHOPTION: _ack,
        Cmd.TESTVOICE: _ack,
        Cmd.UNLOCK: _ack,
        Cmd.STARTVERIFY: _ack,
        Cmd.CANCELCAPTURE: _ack,
        Cmd.GET_VERSION: _version,
        Cmd.OPTIONS_RRQ: _options_read,
        Cmd.OPTIONS_WRQ: _options_write,
        Cmd.GET_PINWIDTH: _pin_width,
        Cmd.GET_FREE_SIZES: _sizes,
        Cmd.GET_TIME: _get_time,
        Cmd.SET_TIME: _set_time,
        Cmd.USER_WRQ: _set_user,
        Cmd.DELETE_USER: _delete_user,
        Cmd.CLEAR_ATTLOG: _clear_attlog,
        Cmd.CLEAR_DATA: _clear_data,
        Cmd.REG_EVENT: _reg_event,
        Cmd.PREPARE_BUFFER: _prepare_buffer,
        Cmd.READ_BUFFER: _read_buffer,
        Cmd.FREE_DATA: _free_data,
        Cmd.ACK_ERROR: _error_ack,
        Cmd.ACK_UNKNOWN: _error_ack,
    }


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: "TerminalServer") -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.server.udp_datagram(data, (str(addr[0]), int(str(addr[1]))))


class TerminalServer:
    """Serves one ``Terminal`` on ``host:port`` over TCP and UDP, in the running event loop."""

    def __init__(
        self,
        terminal: Terminal,
        host: str = "127.0.0.1",
        port: int = 4370,
        *,
        chunk_gap: float = 0.001,
        udp_gap: float = 0.00005,
        restart_seconds: float = 1.0,
    ) -> None:
        self.terminal = terminal
        self.host = host
        self.port = port
        self.chunk_gap = chunk_gap
        self.udp_gap = udp_gap
        self.restart_seconds = restart_seconds
        self.handler = SessionHandler(terminal, self)
        self._tcp: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_sessions: dict[int, tuple[Session, tuple[str, int]]] = {}
        self._udp_locks: dict[int, asyncio.Lock] = {}
        self._tcp_writers: set[asyncio.StreamWriter] = set()
        self._tcp_handlers: set[asyncio.Task[object]] = set()
        self._live: set[int] = set()
        self._sessions_by_id: dict[int, Session] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        terminal.add_listener(self._on_punch)

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> "TerminalServer":
        self._loop = asyncio.get_running_loop()
        self._tcp = await asyncio.start_server(self._tcp_client, self.host, self.port, reuse_address=True)
        if self.port == 0:
            self.port = self._tcp.sockets[0].getsockname()[1]
        self._udp, _ = await self._loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(self.host, self.port), reuse_port=False
        )
        self.terminal.powered = True
        log.info("terminal %s serving tcp+udp %s:%d", self.terminal.serial, self.host, self.port)
        return self

    async def stop(self) -> None:
        """Close listeners and every session (Ctrl-C, power off, end of test)."""
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        for writer in list(self._tcp_writers):
            writer.close()
        cancelled: list[asyncio.Task[object] | asyncio.Task[None]] = list(self._tcp_handlers)
        cancelled += [s.sender for s in self._sessions_by_id.values() if s.sender is not None]
        for session in list(self._sessions_by_id.values()):
            self._drop_session(session)
        # Not the task running this stop: restart() goes on to power on again after it.
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
                cancelled.append(task)
        self._udp_sessions.clear()
        if cancelled:
            # Let the cancellations finish while the loop runs, so none is left pending when a
            # fleet stops and closes its loop.
            await asyncio.wait(cancelled, timeout=1.0)

    async def power_off(self) -> None:
        """The terminal goes dark: nothing listens and nobody can punch until power_on()."""
        await asyncio.sleep(0.05)  # let the ACK of CMD_POWEROFF leave first
        self.terminal.powered = False
        await self.stop()

    async def power_on(self) -> None:
        if self._tcp is None:
            await self.start()

    async def restart(self) -> None:
        await self.power_off()
        await asyncio.sleep(self.restart_seconds)
        await self.power_on()

    def schedule(self, coro: Awaitable[object]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- sessions -----------------------------------------------------------------------------

    def _new_session(self, transport: Transport) -> Session:
        sid = random.randint(1, 0xFFFE)
        while sid in self._sessions_by_id:
            sid = random.randint(1, 0xFFFE)
        session = Session(sid, transport, authenticated=not self.terminal.comm_key)
        self._sessions_by_id[sid] = session
        return session

    def _drop_session(self, session: Session) -> None:
        self.handler._end_session(session)
        self.set_live(session, False)
        self._sessions_by_id.pop(session.sid, None)
        self._udp_sessions.pop(session.sid, None)

    def set_live(self, session: Session, on: bool) -> None:
        if on and session.sender is None:
            self._live.add(session.sid)
            session.sender = asyncio.ensure_future(self._event_sender(session))
        elif not on:
            self._live.discard(session.sid)
            if session.sender is not None:
                session.sender.cancel()
                session.sender = None

    def _on_punch(self, record: Record) -> None:
        """Called from whichever thread recorded the punch; hand it to the loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._fan_out, record)

    def _fan_out(self, record: Record) -> None:
        for sid in list(self._live):
            session = self._sessions_by_id.get(sid)
            if session is not None:
                session.events.put_nowait(record)

    async def _event_sender(self, session: Session) -> None:
        """One event per packet; the next goes after the client's ACK (or a timeout)."""
        while True:
            record = await session.events.get()
            if self.terminal.faults.unreachable or session.send is None:
                continue
            payload = encode_event(record, self.terminal.profile.event_layout)
            session.event_acked.clear()
            try:
                await session.send(encode_packet(Cmd.REG_EVENT, EF_ATTLOG, 0, payload))
            except (ConnectionError, OSError):
                return
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races with
            # the ACK, leaving this sender running after REG_EVENT 0 or the end of the session.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(EVENT_ACK_TIMEOUT):
                    await session.event_acked.wait()

    async def _answer(self, session: Session, request: Packet, send: Callable[[bytes], Awaitable[None]]) -> bool:
        """Handle one request and send its reply. Returns False when the connection must close."""
        session.last_seen = time.monotonic()
        if request.command == Cmd.ACK_OK:
            session.event_acked.set()  # clients ACK realtime events and expect no answer
            return True
        if self.terminal.faults.unreachable:
            return True
        reply = self.handler.handle(session, request)
        if self.terminal.faults.reply_delay:
            await asyncio.sleep(self.terminal.faults.reply_delay)
        packets = reply.packets if reply.truncate_at is None else reply.packets[: reply.truncate_at]
        for index, packet in enumerate(packets):
            if reply.paced and index:
                await self._pace(session.transport)
            await send(packet)
        return not reply.close

    async def _pace(self, transport: Transport) -> None:
        if transport == "tcp":
            await asyncio.sleep(self.chunk_gap)
            return
        # Sub-millisecond gaps: the event loop cannot sleep that briefly, so yield until it passed.
        until = time.perf_counter() + self.udp_gap
        await asyncio.sleep(0)
        while time.perf_counter() < until:  # noqa: ASYNC110 - a deadline, not a condition to wait for
            await asyncio.sleep(0)

    # --- TCP ----------------------------------------------------------------------------------

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.terminal.faults.udp_only:
            writer.close()
            return
        self._tcp_writers.add(writer)
        handler = asyncio.current_task()
        if handler is not None:
            self._tcp_handlers.add(handler)
        self.terminal.stats.connections += 1
        session: Session | None = None

        async def send(packet: bytes) -> None:
            writer.write(tcp_frame(packet))
            await writer.drain()

        try:
            while True:
                try:
                    prefix = await reader.readexactly(TCP_PREFIX.size)
                except asyncio.IncompleteReadError:
                    return  # includes pyzk's empty probe connection
                length = decode_tcp_prefix(prefix)
                if not 8 <= length <= TCP_MAX_BODY:
                    raise ValueError(f"TCP frame length {length} out of range")
                request = decode_packet(await reader.readexactly(length))
                if request.command == Cmd.CONNECT:
                    if session is not None:
                        self._drop_session(session)
                    session = self._new_session("tcp")
                    session.send = send
                if session is None or (request.session_id not in (session.sid, 0) and request.command != Cmd.CONNECT):
                    if self.terminal.faults.unreachable:
                        continue
                    await send(encode_packet(Cmd.ACK_UNAUTH, request.session_id, request.reply_id))
                    continue
                if not await self._answer(session, request, send):
                    return
        except (ValueError, ConnectionError, asyncio.IncompleteReadError) as exc:
            log.debug("terminal %s: tcp client dropped: %s", self.terminal.serial, exc)
        finally:
            if session is not None:
                self._drop_session(session)
            self._tcp_writers.discard(writer)
            if handler is not None:
                self._tcp_handlers.discard(handler)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    # --- UDP ----------------------------------------------------------------------------------

    def udp_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            request = decode_packet(data)
        except ValueError:
            return
        if request.command == Cmd.CONNECT:
            session = self._new_session("udp")
            self._udp_sessions[session.sid] = (session, addr)
            self._udp_locks[session.sid] = asyncio.Lock()
        else:
            found = self._udp_sessions.get(request.session_id)
            if found is None:
                if not self.terminal.faults.unreachable and self._udp is not None:
                    self._udp.sendto(encode_packet(Cmd.ACK_UNAUTH, request.session_id, request.reply_id), addr)
                return
            session = found[0]
            self._udp_sessions[session.sid] = (session, addr)

        async def send(packet: bytes) -> None:
            current = self._udp_sessions.get(session.sid)
            if self._udp is not None and current is not None:
                self._udp.sendto(packet, current[1])

        session.send = send
        self.schedule(self._udp_request(session, request, send))
        self._expire_udp_sessions()

    async def _udp_request(self, session: Session, request: Packet, send: Callable[[bytes], Awaitable[None]]) -> None:
        lock = self._udp_locks.setdefault(session.sid, asyncio.Lock())
        async with lock:
            keep = await self._answer(session, request, send)
            if not keep or request.command == Cmd.EXIT:
                self._drop_session(session)
                self._udp_locks.pop(session.sid, None)

    def _expire_udp_sessions(self, idle_seconds: float = 600.0) -> None:
        now = time.monotonic()
        for sid, (session, _addr) in list(self._udp_sessions.items()):
            if now - session.last_seen > idle_seconds and sid not in self._live:
                self._drop_session(session)
                self._udp_locks.pop(sid, None)
