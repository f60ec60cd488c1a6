"""Run simulated terminals (and their workforce) on an event loop in a background thread.

``Fleet`` is the Python API tests use: start terminals in-process, add users, inject punches and
flip faults from the test's own thread. The CLI runs the same Fleet and waits for Ctrl-C.
``FleetProcess`` starts ``presensi sim fleet`` as a subprocess for tests that need a separate
process (kill -9, CPU accounting).
"""

import asyncio
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from simulators.zk.clock import SimClock
from simulators.zk.journal import FLUSH_SECONDS, PunchJournal
from simulators.zk.server import TerminalServer
from simulators.zk.terminal import Terminal
from simulators.zk.workforce import Employee, Workforce

T = TypeVar("T")


@dataclass(slots=True)
class SimulatedTerminal:
    """A terminal and the server that puts it on the network."""

    terminal: Terminal
    server: TerminalServer
    fleet: "Fleet"

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def host(self) -> str:
        return self.server.host

    def power_off(self) -> None:
        """Unplug it: nothing listens, nobody can punch."""
        self.fleet.call(self.server.power_off())

    def power_on(self) -> None:
        self.fleet.call(self.server.power_on())

    def power_loss(self) -> None:
        """A power cut with a flat clock battery: off, on again, clock at 2000-01-01."""
        self.power_off()
        self.terminal.power_loss()
        self.power_on()


class Fleet:
    """Terminals served from one background event loop, sharing one simulated world clock."""

    def __init__(self, world: SimClock | None = None, *, host: str = "127.0.0.1") -> None:
        self.world = world or SimClock()
        self.host = host
        self.terminals: list[SimulatedTerminal] = []
        self.workforce: Workforce | None = None
        self.journal: PunchJournal | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="zk-sim", daemon=True)
        self._workforce_task: concurrent.futures.Future[None] | None = None
        self._extra_tasks: list[concurrent.futures.Future[Any]] = []

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def start(self) -> "Fleet":
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the fleet's loop from another thread and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Run a coroutine on the fleet's loop in the background until the fleet stops."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        self._extra_tasks.append(future)
        return future

    def add(self, terminal: Terminal, port: int = 0, **server_options: Any) -> SimulatedTerminal:
        """Serve ``terminal`` on ``port`` (0: a free one) and return its handle."""
        self.start()
        server = TerminalServer(terminal, self.host, port, **server_options)
        self.call(server.start())
        handle = SimulatedTerminal(terminal, server, self)
        if self.journal is not None:
            self.journal.attach(terminal)
        self.terminals.append(handle)
        return handle

    def keep_journal(self, path: Path) -> PunchJournal:
        """Journal every punch of every terminal (those added later too) to ``path``."""
        self.journal = PunchJournal(path)
        for handle in self.terminals:
            self.journal.attach(handle.terminal)
        journal = self.journal

        async def flush_often() -> None:
            while True:
                await asyncio.sleep(FLUSH_SECONDS)
                journal.flush()

        self.spawn(flush_often())
        return journal

    def run_workforce(self, employees: list[Employee], *, seed: int = 0, tick_seconds: float = 0.02) -> Workforce:
        self.workforce = Workforce(employees, self.world, seed=seed)
        self._workforce_task = asyncio.run_coroutine_threadsafe(self.workforce.run(tick_seconds), self._loop)
        return self.workforce

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        for future in [self._workforce_task, *self._extra_tasks]:
            if future is not None:
                future.cancel()
        for handle in self.terminals:
            self.call(handle.server.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> "Fleet":
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class FleetProcess:
    """``presensi sim fleet`` in a subprocess; ``info`` is the JSON it prints once it serves."""

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def start(self, timeout: float = 60.0) -> "FleetProcess":
        cmd = [sys.executable, "-m", "presensi.cli", "sim", "fleet", "--json", *self.args]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **(self.env or {})},
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        result: dict[str, Any] = {}

        def read_ready() -> None:
            assert self.proc is not None
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                if line.startswith("{"):
                    result.update(json.loads(line))
                    return

        reader = threading.Thread(target=read_ready, daemon=True)
        reader.start()
        reader.join(timeout)
        if not result:
            self.stop()
            raise TimeoutError(f"simulator did not report ready within {timeout}s: {' '.join(cmd)}")
        self.info = result
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def __enter__(self) -> "FleetProcess":
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def state_path_for(base: Path, serial: str) -> Path:
    return base / f"{serial}.json" if base.is_dir() else base
