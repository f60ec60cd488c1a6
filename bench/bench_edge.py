"""Edge agent benchmark: backlog drain rate, live punch-to-ack latency, and idle footprint.

The agent runs as its own process (``presensi edge run``) against simulated terminals, a private
Mosquitto and the test suite's MiniHub (which stores each punch by key and acks the batch).
Command: ``python -m bench.run edge``.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psutil

from presensi.contract import EdgeHealth
from presensi.mosquitto import MosquittoBroker
from simulators.zk.fleet import Fleet, FleetProcess, SimulatedTerminal
from simulators.zk.layouts import Record
from simulators.zk.terminal import Terminal
from tests.edge.edgekit import to_toml
from tests.edge.minihub import MiniHub

ROOT = Path(__file__).resolve().parents[1]
EDGE_ID = "bench-edge"
JAKARTA = ZoneInfo("Asia/Jakarta")


class TimedHub:
    """MiniHub with the times it stored each punch (``state.stored_at``) and got its first batch."""

    def __init__(self, port: int) -> None:
        self.hub = MiniHub(port)

    @property
    def stored_at(self) -> dict[str, float]:
        return self.hub.state.stored_at

    @property
    def first_batch(self) -> float | None:
        return self.hub.state.first_batch_at

    def start(self) -> "TimedHub":
        self.hub.start()
        return self

    def count(self) -> int:
        return len(self.hub.state.punches)


def _config(tmp: Path, broker: MosquittoBroker, terminals: list[dict[str, Any]], **publisher: Any) -> Path:
    path = tmp / "edge.toml"
    data = {
        "edge_id": EDGE_ID,
        "log_level": "WARNING",
        "broker": {"host": broker.host, "port": broker.port, "allow_insecure": True},  # private loopback broker
        "buffer": {"path": str(tmp / "buffer.sqlite3")},
        "publisher": publisher,
        "terminals": terminals,
    }
    path.write_text(to_toml(data))
    return path


def _agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "presensi.cli", "edge", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        cwd=ROOT,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _prefill(terminal: Terminal, count: int, start: datetime) -> None:
    pins = [f"{9000 + i}" for i in range(50)]
    uids = {pin: terminal.add_user(pin).uid for pin in pins}
    terminal.prefill(
        [Record(uids[pins[i % 50]], pins[i % 50], start + timedelta(seconds=i), i % 2) for i in range(count)]
    )


# --- (a) drain ------------------------------------------------------------------------------------


def drain(records: int = 100_000) -> str:
    with tempfile.TemporaryDirectory() as tmpdir, MosquittoBroker() as broker, Fleet() as fleet:
        tmp = Path(tmpdir)
        terminal = Terminal("BENCH0001", world=fleet.world, record_capacity=max(100_000, records))
        _prefill(terminal, records, datetime(2026, 9, 1, 7, 0))
        sim = fleet.add(terminal)
        hub = TimedHub(broker.port).start()
        config = _config(tmp, broker, [{"name": "lobby", "host": sim.host, "port": sim.port}])
        started = time.perf_counter()
        proc = _agent(config, tmp / "agent.log")
        agent = psutil.Process(proc.pid)
        peak_rss = 0
        while hub.count() < records:
            peak_rss = max(peak_rss, agent.memory_info().rss)
            if time.perf_counter() - started > 600:
                raise TimeoutError(f"drain: {hub.count()} of {records} after 600 s")
            time.sleep(0.05)
        done = time.perf_counter()
        cpu = agent.cpu_times()
        _stop(proc)
        hub.hub.stop()
        assert hub.first_batch is not None
        total, publish = done - started, done - hub.first_batch
        deliveries = sum(hub.hub.state.deliveries.values())
        return (
            f"- **(a) drain**: {records:,} punches in one terminal's log, agent started with an empty buffer "
            f"(default publisher settings: batches of 1,000, 20 in flight, QoS 1, MiniHub acking each batch). "
            f"From agent start to the last punch stored and acked at the hub: **{total:.1f} s = "
            f"{records / total:,.0f} punches/s** (includes interpreter start, the full-log read and the buffer "
            f"insert). From the first batch at the hub to the last: **{publish:.1f} s = {records / publish:,.0f} "
            f"punches/s**. Deliveries {deliveries:,} (resends: {deliveries - records:,}). Agent CPU "
            f"{cpu.user + cpu.system:.1f} s over {total:.1f} s; peak RSS {peak_rss / 2**20:.0f} MiB. "
            f"Target >= 20,000 punches/s."
        )


def backlog(records: int = 100_000) -> str:
    """The issue's drain: a backlog already in the buffer (read while the broker was down) going out."""
    from edge.buffer import Buffer

    with tempfile.TemporaryDirectory() as tmpdir, MosquittoBroker() as broker, Fleet() as fleet:
        tmp = Path(tmpdir)
        terminal = Terminal("BENCH0002", world=fleet.world, record_capacity=max(100_000, records))
        _prefill(terminal, records, datetime(2026, 9, 1, 7, 0))
        sim = fleet.add(terminal)
        broker.stop()  # the agent reads the whole log into its buffer while it cannot publish
        config = _config(tmp, broker, [{"name": "lobby", "host": sim.host, "port": sim.port}])
        proc = _agent(config, tmp / "agent.log")
        buffer = Buffer(tmp / "buffer.sqlite3")
        _wait(lambda: buffer.pending_at_least(records), 300, "the backlog in the buffer")
        buffer.close()
        broker.start()
        hub = TimedHub(broker.port).start()
        started = time.perf_counter()
        _wait(lambda: hub.count() >= records, 600, "the backlog at the hub")
        elapsed = time.perf_counter() - started
        assert hub.first_batch is not None
        draining = time.perf_counter() - hub.first_batch
        agent_cpu = psutil.Process(proc.pid).cpu_times()
        _stop(proc)
        hub.hub.stop()
        return (
            f"- **(a) backlog drain**: {records:,} punches pending in the buffer (read while the broker was "
            f"down), then the broker comes up with the hub. From the first batch at the hub to the last punch "
            f"stored and acked: **{draining:.1f} s = {records / draining:,.0f} punches/s**; from broker start "
            f"(adds the agent's jittered reconnect backoff after the outage): {elapsed:.1f} s. Agent CPU over its "
            f"whole life {agent_cpu.user + agent_cpu.system:.1f} s. MiniHub validates every batch with the "
            f"contract models in the benchmark process, on the same two cores. Target >= 20,000 punches/s."
        )


# --- (b) live latency -------------------------------------------------------------------------------


def live_latency(punches: int = 300, batch_age: float = 1.0, interval: float = 0.05) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmpdir, MosquittoBroker() as broker, Fleet() as fleet:
        tmp = Path(tmpdir)
        terminal = Terminal("BENCH0002", world=fleet.world)
        pins = [str(7000 + i) for i in range(20)]
        for pin in pins:
            terminal.add_user(pin)
        sim: SimulatedTerminal = fleet.add(terminal)
        hub = TimedHub(broker.port).start()
        config = _config(
            tmp,
            broker,
            [{"name": "gate", "host": sim.host, "port": sim.port, "live_capture": True}],
            batch_max_age_seconds=batch_age,
        )
        proc = _agent(config, tmp / "agent.log")
        try:
            # Warm up until a live punch comes through.
            base = datetime.now(UTC).astimezone(JAKARTA).replace(tzinfo=None, microsecond=0) - timedelta(hours=1)
            warm = terminal.punch(pins[0], 1, at=base - timedelta(minutes=5))
            assert warm is not None
            _wait(lambda: hub.count() >= 1, 60, "the first live punch")
            time.sleep(1)
            made: dict[str, float] = {}
            for i in range(punches):
                at = base + timedelta(seconds=i)
                record = terminal.punch(pins[i % len(pins)], 0, at=at)
                assert record is not None
                made[f"{terminal.serial}|{record.pin}|{at:%Y%m%dT%H%M%S}|0"] = time.perf_counter()
                time.sleep(interval)
            _wait(lambda: all(k in hub.stored_at for k in made), 60, "every live punch at the hub")
        finally:
            _stop(proc)
            hub.hub.stop()
        latencies = sorted(hub.stored_at[k] - t for k, t in made.items())
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        return statistics.median(latencies), p99, latencies[-1]


# --- (c) idle footprint -----------------------------------------------------------------------------


def idle(terminals: int = 8, records: int = 50_000, seconds: float = 60.0) -> str:
    args = [
        "--terminals", str(terminals), "--base-port", "0", "--users", "200", "--records", str(records),
        "--no-workforce",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmpdir, MosquittoBroker() as broker, FleetProcess(args) as sim:
        tmp = Path(tmpdir)
        ports = [t["port"] for t in sim.info["terminals"]]
        config = _config(
            tmp,
            broker,
            [{"name": f"t{i}", "host": "127.0.0.1", "port": port} for i, port in enumerate(ports)],
        )
        hub = TimedHub(broker.port).start()
        started = time.perf_counter()
        proc = _agent(config, tmp / "agent.log")
        agent = psutil.Process(proc.pid)
        status = tmp / "buffer.status.json"
        peak = 0

        def drained() -> bool:
            nonlocal peak
            peak = max(peak, agent.memory_info().rss)
            try:
                health = EdgeHealth.model_validate_json(status.read_bytes())
            except (OSError, ValueError):
                return False
            read = all(t.records is not None and t.last_success is not None for t in health.terminals)
            buffer = health.buffer
            return read and buffer.pending == 0 and buffer.sent == 0 and buffer.acknowledged > 0

        try:
            _wait(drained, 900, "the initial backlog drained")
            drain_seconds = time.perf_counter() - started
            acked = EdgeHealth.model_validate_json(status.read_bytes()).buffer.acknowledged
            time.sleep(5)  # settle
            cpu0 = agent.cpu_times()
            t0 = time.perf_counter()
            samples: list[int] = []
            while time.perf_counter() - t0 < seconds:
                samples.append(agent.memory_info().rss)
                time.sleep(1)
            cpu1 = agent.cpu_times()
            wall = time.perf_counter() - t0
            uss = agent.memory_full_info().uss
        finally:
            _stop(proc)
            hub.hub.stop()
        cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        return (
            f"- **(c) idle footprint**: {terminals} simulated terminals (separate process) each holding "
            f"{records:,} records, default terminal settings (poll every 15 s: clock + log-size check; full "
            f"read every 900 s or when the size changes). Initial backlog of {acked:,} distinct punches drained in "
            f"{drain_seconds:.0f} s (peak RSS meanwhile {peak / 2**20:.0f} MiB). Then {wall:.0f} s with nothing "
            f"new: agent CPU **{100 * cpu / wall:.2f}% of one core**, RSS **{statistics.median(samples) / 2**20:.0f}"
            f" MiB** (max {max(samples) / 2**20:.0f} MiB, USS {uss / 2**20:.0f} MiB). Targets < 2% and < 80 MB."
        )


def run() -> str:
    parts = [
        "## Edge agent (store-and-forward from terminals to MQTT)",
        "",
        "Command: `python -m bench.run edge`. The agent runs as `presensi edge run` in its own process, with a "
        "private Mosquitto 2 and the test suite's MiniHub (`tests/edge/minihub.py`: stores each punch by key, "
        "then publishes the batch ack) in the benchmark process; terminals are the ZK simulator over TCP. "
        "Everything shares the machine's cores.",
        "",
    ]
    parts.append(drain())
    parts.append(backlog())
    rows = []
    for age in (1.0, 0.1):
        p50, p99, worst = live_latency(batch_age=age)
        rows.append(f"| {age:.1f} s{' (default)' if age == 1.0 else ''} | {p50 * 1000:.0f} ms | {p99 * 1000:.0f} ms "
                    f"| {worst * 1000:.0f} ms |")  # fmt: skip
    parts += [
        "- **(b) live latency**: 300 punches, 50 ms apart, at a live-capture terminal; time from `Terminal.punch` "
        "to the MiniHub storing the punch and publishing the batch ack (the edge marks it acknowledged ~1 ms "
        "later). The publisher sends a partial batch once its oldest punch is `batch_max_age_seconds` old, "
        "which dominates the figure:",
        "",
        "| batch_max_age_seconds | p50 | p99 | max |",
        "|---|---|---|---|",
        *rows,
        "",
    ]
    parts.append(idle(seconds=float(os.environ.get("BENCH_EDGE_IDLE_SECONDS", "60"))))
    parts += [
        "",
        "History (same command, same machine): the first run of this benchmark measured a drain of 6,145 "
        "punches/s end to end, 4.8% idle CPU, 94 MiB idle and 358 MiB peak RSS. Profiling showed pydantic models "
        "built and validated twice per punch for every batch, three fsynced transactions per batch, a full "
        "`COUNT(*)` of pending punches on every publisher pass, the status file recounting the whole buffer every "
        "second, and every full-log read materialised as objects. Batches are now encoded straight from buffered "
        "rows (a test holds them to the contract models), acks are applied one transaction per pass, pending "
        "checks are bounded, the status file follows the heartbeat, and logs are decoded lazily and stored in "
        "chunks, one terminal at a time (the network reads stay concurrent). What remains in the drain is "
        "SQLite: a row fetch and one fsynced commit per batch, which is why the default batch is 1,000 punches.",
    ]
    return "\n".join(parts)


if __name__ == "__main__":
    print(run())
