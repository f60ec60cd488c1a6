"""A TCP proxy the chain harness puts between an edge agent and the broker, to cut and restore its network.

Two ways to cut, because an edge meets both in the field:

- ``cut("reset")``: every connection is closed and new ones are refused at once (a router that reboots,
  a broker host that is unreachable with an ICMP reply). The client sees the failure immediately.
- ``cut("blackhole")``: connections stay open but nothing gets through, and new ones are accepted but
  never answered (a mobile link that goes silent). Only the MQTT keepalive notices. Bytes swallowed
  during a blackhole cannot be delivered later, so ``restore()`` closes those connections: to the client
  it looks like the connection died during the outage, and it reconnects.

The proxy runs its own event loop in a background thread; every method is safe to call from any thread.
"""

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from presensi.mosquitto import free_port

CutMode = Literal["reset", "blackhole"]
CHUNK = 65_536


@dataclass(slots=True)
class ProxyStats:
    accepted: int = 0
    refused: int = 0
    cuts: int = 0
    bytes_up: int = 0  # client -> target
    bytes_down: int = 0  # target -> client
    bytes_swallowed: int = 0  # read during a blackhole and thrown away


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.blackholed = False

    def close(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                with contextlib.suppress(Exception):
                    # abort, not close: a cut network does not say goodbye with a FIN after the data.
                    writer.transport.abort()


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self.port = port or free_port(host)
        self.stats = ProxyStats()
        self._mode: CutMode | None = None
        self._links: set[_Link] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"proxy-{self.port}", daemon=True)
        self._server: asyncio.Server | None = None

    # --- control (any thread) ----------------------------------------------------------------------

    @property
    def cut_mode(self) -> CutMode | None:
        """``None`` while traffic flows."""
        return self._mode

    @property
    def open_connections(self) -> int:
        return len(self._links)

    def start(self) -> "TcpProxy":
        if not self._thread.is_alive():
            self._thread.start()
        self._call(self._start())
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def cut(self, mode: CutMode = "reset") -> None:
        """Cut the network: see the module docstring for the two modes."""
        self._call(self._cut(mode))

    def restore(self) -> None:
        """Let traffic through again (connections swallowed by a blackhole are closed first)."""
        self._call(self._restore())

    def target(self, host: str, port: int) -> None:
        """Point new connections elsewhere (e.g. a broker restarted on another port)."""
        self.target_host, self.target_port = host, port

    def __enter__(self) -> "TcpProxy":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    # --- the loop ----------------------------------------------------------------------------------

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.close()
        self._links.clear()

    async def _cut(self, mode: CutMode) -> None:
        self._mode = mode
        self.stats.cuts += 1
        for link in list(self._links):
            if mode == "reset":
                link.close()
            else:
                link.blackholed = True

    async def _restore(self) -> None:
        for link in list(self._links):
            if link.blackholed:
                link.close()
        self._mode = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(writer)
        if self._mode == "reset":
            self.stats.refused += 1
            link.close()
            return
        self.stats.accepted += 1
        self._links.add(link)
        try:
            if self._mode == "blackhole":
                link.blackholed = True
                await self._swallow(reader)
                return
            try:
                up_reader, link.upstream = await asyncio.open_connection(self.target_host, self.target_port)
            except OSError:
                return  # the target is down: the client sees its connection close, as with a dead broker
            await asyncio.gather(
                self._pump(reader, link.upstream, link, up=True),
                self._pump(up_reader, writer, link, up=False),
                return_exceptions=True,
            )
        finally:
            link.close()
            self._links.discard(link)

    async def _swallow(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(CHUNK):
                self.stats.bytes_swallowed += len(data)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link, *, up: bool) -> None:
        try:
            while data := await reader.read(CHUNK):
                if link.blackholed:
                    self.stats.bytes_swallowed += len(data)
                    continue
                writer.write(data)
                await writer.drain()
                if up:
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
        except (OSError, ConnectionError):
            pass
        finally:
            # One side ended: end the other, as a TCP connection through a NAT would.
            link.close()
