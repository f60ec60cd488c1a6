"""Edge test fixtures: a simulated fleet, a private Mosquitto, a MiniHub, config files and the agent.

The agent runs as a real subprocess (``python -m presensi.cli edge run --config ...``) wherever
process death matters, with its stderr captured to a file the test can show on failure, or as an
``EdgeAgent`` in a thread where it does not. Every scenario keeps a ``Ledger`` of the punches it
made at the terminals and ends with ``assert_exactly_once``: every made key stored at the hub, and
no key the terminals never made.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.agent import EdgeAgent
from edge.buffer import Buffer, BufferStats
from edge.config import EdgeSettings, load_settings
from presensi.contract import punch_key
from presensi.mosquitto import MosquittoBroker
from simulators.zk.fleet import Fleet, SimulatedTerminal
from simulators.zk.layouts import Record
from simulators.zk.terminal import Terminal
from tests.edge.edgekit import to_toml
from tests.edge.minihub import HubState, MiniHub

EDGE_ID = "edge-test-01"
ROOT = Path(__file__).resolve().parents[2]

# Fast timings so each scenario runs in seconds (the defaults are for a real office).
FAST_TERMINAL: dict[str, Any] = {"poll_interval_seconds": 0.5, "timeout_seconds": 2.0}
FAST_PUBLISHER: dict[str, Any] = {
    "batch_max_age_seconds": 0.1,
    "ack_timeout_seconds": 2.0,
    "heartbeat_seconds": 1.0,
    "flush_on_stop_seconds": 5.0,
}
# The fixtures' private Mosquitto is anonymous and clear-text on loopback, so the edge must be told it may.
FAST_BROKER: dict[str, Any] = {
    "reconnect_min_seconds": 0.2,
    "reconnect_max_seconds": 2.0,
    "keepalive_seconds": 5,
    "allow_insecure": True,
}


# --- ledger of punches made at the terminals ----------------------------------------------------


def key_of(terminal: Terminal, record: Record) -> str:
    return punch_key(terminal.serial, record.pin, record.timestamp, record.status)


@dataclass
class Ledger:
    """Every punch a test made at a terminal (by idempotency key): what the hub must end up with."""

    made: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def punch(self, sim: SimulatedTerminal | Terminal, pin: str, status: int = 0, at: datetime | None = None) -> str:
        terminal = sim if isinstance(sim, Terminal) else sim.terminal
        record = terminal.punch(pin, status, at=at)
        assert record is not None, f"terminal {terminal.serial} did not record the punch of {pin}"
        key = key_of(terminal, record)
        with self.lock:
            assert key not in self.made, f"test bug: punch {key} made twice"
            self.made.add(key)
        return key

    def punch_when_enabled(self, sim: SimulatedTerminal, pin: str, status: int = 0) -> str:
        """Punch on the terminal clock, waiting while the agent has the keypad disabled (as people do)."""
        terminal = sim.terminal
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with terminal._lock:  # enabled cannot change between the check and the punch
                if terminal.enabled:
                    return self.punch(terminal, pin, status)
            time.sleep(0.01)
        raise TimeoutError(f"terminal {terminal.serial} stayed disabled")

    def prefill(self, sim: SimulatedTerminal | Terminal, count: int, start: datetime, pins: list[str]) -> None:
        """``count`` historical records, one PIN after another, one second apart (all keys distinct)."""
        terminal = sim if isinstance(sim, Terminal) else sim.terminal
        uids = {pin: terminal.add_user(pin).uid for pin in pins}
        records = [
            Record(uids[pins[i % len(pins)]], pins[i % len(pins)], start + timedelta(seconds=i), i % 2)
            for i in range(count)
        ]
        terminal.prefill(records)
        with self.lock:
            self.made.update(key_of(terminal, r) for r in records)

    def snapshot(self) -> set[str]:
        with self.lock:
            return set(self.made)


def assert_exactly_once(made: set[str], hub: HubState) -> None:
    """Every punch made is stored at the hub, and nothing else is (the hub stores each key once)."""
    with hub.lock:
        stored = set(hub.punches)
        records = list(hub.punches.values())
    missing = made - stored
    extra = stored - made
    summary = f"made {len(made)}, stored {len(stored)}, missing {len(missing)}, unexpected {len(extra)}"
    assert not missing, f"{summary}; missing at the hub, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{summary}; never made at a terminal, e.g. {sorted(extra)[:5]}"
    for record in records:
        assert record.key == punch_key(record.terminal_sn, record.pin, record.local_time, record.status)


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    if not condition():
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def delivered(made: set[str], hub: HubState) -> Callable[[], bool]:
    def check() -> bool:
        with hub.lock:
            return made <= hub.punches.keys()

    return check


# --- the agent -------------------------------------------------------------------------------------


class AgentProcess:
    """``presensi edge run`` as a subprocess; its stderr (the agent's log) goes to a file."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "AgentProcess":
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "presensi.cli", "edge", "run", "--config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye, like a power cut of the process."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def terminate(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._log.close()
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop_quietly(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)
        if self.proc is not None and not self._log.closed:
            self._log.close()


class AgentThread:
    """``EdgeAgent`` in a thread of the test process (when process death does not matter)."""

    def __init__(self, settings: EdgeSettings) -> None:
        self.agent = EdgeAgent(settings)
        self.result: int | None = None
        self.thread = threading.Thread(target=self._run, name="edge-agent", daemon=True)

    def _run(self) -> None:
        self.result = self.agent.run()

    def start(self) -> "AgentThread":
        self.thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.agent.request_stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the agent did not stop"


@dataclass
class EdgeEnv:
    """One test's world: terminals, broker, hub, config and agent runs."""

    tmp: Path
    fleet: Fleet
    broker: MosquittoBroker
    hub: MiniHub
    ledger: Ledger = field(default_factory=Ledger)
    terminals: list[dict[str, Any]] = field(default_factory=list)
    agents: list[AgentProcess] = field(default_factory=list)
    threads: list[AgentThread] = field(default_factory=list)
    edge_id: str = EDGE_ID

    @property
    def buffer_path(self) -> Path:
        return self.tmp / "buffer.sqlite3"

    def add_terminal(
        self,
        serial: str,
        *,
        pins: tuple[str, ...] = ("1001", "1002", "1003"),
        terminal_options: dict[str, Any] | None = None,
        **config: Any,
    ) -> SimulatedTerminal:
        """Serve a new simulated terminal and add it to the agent's config (``config``: TOML keys)."""
        terminal = Terminal(serial, world=self.fleet.world, **(terminal_options or {}))
        for pin in pins:
            terminal.add_user(pin, f"User {pin}")
        sim = self.fleet.add(terminal)
        entry: dict[str, Any] = {"name": config.pop("name", serial.lower()), "host": sim.host, "port": sim.port}
        entry.update(FAST_TERMINAL)
        if terminal.comm_key:
            entry["comm_key"] = terminal.comm_key
        entry.update(config)
        self.terminals.append(entry)
        return sim

    def config(self, **sections: Any) -> dict[str, Any]:
        return {
            "edge_id": self.edge_id,
            "log_level": "INFO",
            "broker": {"host": self.broker.host, "port": self.broker.port, **FAST_BROKER, **sections.pop("broker", {})},
            "buffer": {"path": str(self.buffer_path), **sections.pop("buffer", {})},
            "publisher": {**FAST_PUBLISHER, **sections.pop("publisher", {})},
            "terminals": self.terminals,
            **sections,
        }

    def write_config(self, name: str = "edge.toml", **sections: Any) -> Path:
        path = self.tmp / name
        path.write_text(to_toml(self.config(**sections)))
        return path

    def settings(self, **sections: Any) -> EdgeSettings:
        return load_settings(self.write_config(**sections))

    def start_agent(self, config: Path) -> AgentProcess:
        agent = AgentProcess(config, self.tmp / f"agent-{len(self.agents)}.log").start()
        self.agents.append(agent)
        return agent

    def start_thread(self, settings: EdgeSettings) -> AgentThread:
        runner = AgentThread(settings).start()
        self.threads.append(runner)
        return runner

    def buffer_stats(self) -> BufferStats:
        """Read the agent's buffer from outside (WAL lets a reader in while the agent writes)."""
        buffer = Buffer(self.buffer_path)
        try:
            return buffer.stats()
        finally:
            buffer.close()

    def agent_logs(self) -> str:
        return "\n".join(f"--- {a.log_path.name}\n{a.log()[-4000:]}" for a in self.agents if a.log_path.exists())

    def wait_delivered(self, timeout: float = 30.0, made: set[str] | None = None) -> None:
        expected = self.ledger.snapshot() if made is None else made
        try:
            wait_until(delivered(expected, self.hub.state), timeout, f"{len(expected)} punches at the hub")
        except BaseException:
            state = self.hub.state
            with state.lock:
                missing = expected - state.punches.keys()
            print(
                f"hub: {len(state.punches)} punches, {sum(state.batches.values())} batches received; "
                f"missing {len(missing)} e.g. {sorted(missing)[:5]}; buffer {self.buffer_stats()}"
            )
            print(self.agent_logs())
            raise


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    with Fleet() as running:
        yield running


@pytest.fixture
def hub(broker: MosquittoBroker) -> Iterator[MiniHub]:
    minihub = MiniHub(broker.port).start()
    yield minihub
    minihub.stop()


@pytest.fixture
def env(tmp_path: Path, fleet: Fleet, broker: MosquittoBroker, hub: MiniHub) -> Iterator[EdgeEnv]:
    world = EdgeEnv(tmp_path, fleet, broker, hub)
    try:
        yield world
    finally:
        for runner in world.threads:
            if runner.thread.is_alive():
                runner.agent.request_stop()
                runner.thread.join(30)
        for agent in world.agents:
            agent.stop_quietly()


class Puncher:
    """Keeps punching at some terminals from a background thread (explicit, distinct local times)."""

    def __init__(
        self, ledger: Ledger, sims: list[SimulatedTerminal], *, start: datetime, interval: float = 0.05
    ) -> None:
        self.ledger = ledger
        self.sims = sims
        self.interval = interval
        self.at = start
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="puncher", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.at += timedelta(seconds=1)
            for sim in self.sims:
                pins = [u.pin for u in sim.terminal.users()]
                self.ledger.punch(sim, pins[self.count % len(pins)], self.count % 2, at=self.at)
            self.count += 1

    def __enter__(self) -> "Puncher":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
