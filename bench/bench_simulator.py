"""Simulator benchmark: pyzk full-log reads from the simulator, and the simulator's CPU share.

The simulator runs as its own process (``presensi sim fleet``) so its CPU time is measured apart
from the client's. Command: ``python -m bench.run simulator``.
"""

import statistics
import threading
import time
from dataclasses import dataclass

import psutil
from zk import ZK

from simulators.zk.fleet import FleetProcess


@dataclass(slots=True)
class ReadResult:
    seconds: float
    records: int


def _read_all(port: int, udp: bool) -> ReadResult:
    started = time.perf_counter()
    conn = ZK("127.0.0.1", port=port, timeout=30, force_udp=udp, ommit_ping=True).connect()
    try:
        records = conn.get_attendance()
    finally:
        conn.disconnect()
    return ReadResult(time.perf_counter() - started, len(records))


def _cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def _single_terminal(records: int, repeats: int) -> list[str]:
    rows = []
    args = ["--terminals", "1", "--base-port", "0", "--users", "400", "--records", str(records), "--no-workforce"]
    with FleetProcess(args) as sim:
        port = sim.info["terminals"][0]["port"]
        sim_proc = psutil.Process(sim.pid)
        me = psutil.Process()
        for udp in (False, True):
            timings: list[float] = []
            sim_cpu = client_cpu = 0.0
            for _ in range(repeats):
                s0, c0 = _cpu_seconds(sim_proc), _cpu_seconds(me)
                result = _read_all(port, udp)
                sim_cpu += _cpu_seconds(sim_proc) - s0
                client_cpu += _cpu_seconds(me) - c0
                if result.records != records:
                    raise AssertionError(f"read {result.records} records, expected {records}")
                timings.append(result.seconds)
            wall = sum(timings)
            rows.append(
                f"| {records:,} | {'UDP' if udp else 'TCP'} | {statistics.median(timings):.2f} s | "
                f"{records / statistics.median(timings):,.0f} | {100 * sim_cpu / wall:.0f}% | "
                f"{100 * client_cpu / wall:.0f}% |"
            )
    return rows


def _fleet(terminals: int, records: int) -> str:
    args = [
        "--terminals", str(terminals), "--base-port", "0", "--users", "100", "--records", str(records),
        "--no-workforce",
    ]  # fmt: skip
    with FleetProcess(args) as sim:
        ports = [t["port"] for t in sim.info["terminals"]]
        sim_proc = psutil.Process(sim.pid)
        results: list[ReadResult] = []
        errors: list[str] = []

        def worker(port: int) -> None:
            try:
                results.append(_read_all(port, False))
            except Exception as exc:  # counted and reported: the figure is how many reads succeed
                errors.append(f"{type(exc).__name__}: {exc}")

        s0 = _cpu_seconds(sim_proc)
        started = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(port,)) for port in ports]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        sim_cpu = _cpu_seconds(sim_proc) - s0
        total = sum(r.records for r in results)
        return (
            f"- {terminals} terminals in one simulator process, {records:,} records each, {terminals} concurrent "
            f"full-log reads over TCP (pyzk, one thread each, in one client process): {len(results)} of "
            f"{terminals} complete, {total:,} records in {wall:.1f} s ({total / wall:,.0f} records/s); "
            f"simulator CPU {sim_cpu:.1f} s = {100 * sim_cpu / wall:.0f}% of one core over the run"
            + (f"; errors: {errors[:3]}" if errors else "")
            + ". The client (pyzk decoding in Python under one GIL) is the limit, not the simulator."
        )


def run() -> str:
    rows = _single_terminal(10_000, 5) + _single_terminal(100_000, 3)
    fleet = _fleet(50, 10_000)
    return "\n".join(
        [
            "## ZK terminal simulator (pyzk 0.9 reading full attendance logs)",
            "",
            "Command: `python -m bench.run simulator`. The simulator runs as a separate process "
            "(`presensi sim fleet --no-workforce`); CPU shares are process CPU time over the wall time of "
            "the reads (100% = one core). Median of 5 reads (10k) and 3 reads (100k), 40-byte records.",
            "",
            "| records | transport | pyzk read time | records/s | simulator CPU | client CPU |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            fleet,
        ]
    )
