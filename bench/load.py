"""``make load``: a compressed morning peak through the whole chain, on PostgreSQL.

The target is a large province: 50,000 employees on 500 simulated terminals behind 50 edge agents, arriving
within 45 simulated minutes (the workforce's arrivals fall 1-45 minutes before 07:30, with a tail of late
ones), through one Mosquitto into two hub ingest workers (``presensi hub run``'s own and one
``presensi hub ingest``) and PostgreSQL. Every part is a real process started by the chain harness
(simulators/chain/). The simulated clock starts at 06:30 (Asia/Jakarta, one zone) at speed 1 while the
chain comes up, then runs at ``--speed`` until 07:35; ``--speed 30`` compresses 06:30-07:35 into about
2 minutes 10 seconds of real time.

Two runs, each on a fresh PostgreSQL schema:

1. ``live``: the hub up through the peak. Figures:
   - punches/s stored at the hub, from the store's ``received_at`` (the ingest worker's clock when it
     stored the batch): the peak is the busiest 1-second window, "sustained" is every punch of the run
     divided by the time from the first to the last one stored;
   - delivery latency from the edges' own buffers: ``read_at`` (the edge read the punch from the terminal)
     to ``acked_at`` (the hub's ack after its commit reached the edge). It includes the edge's batching
     wait (``batch_max_age_seconds`` 0.3 in the harness) and so bounds publish-to-ack from above;
   - hub CPU (% of one core, summed over the hub and the ingest worker) and RSS, sampled every second with
     psutil; the edges' and simulator's CPU for context;
   - the API during the peak: ``GET /api/v1/edges`` (the fleet view) and ``GET /api/v1/punches?limit=50``
     (latest punches) alternately, one every 150 ms, p50/p99/max and errors.
2. ``hub-down``: the hub and its ingest worker stopped for the whole peak and started after 07:35; the
   backlog drain time is from the hub's start until every punch made is stored.

Command: ``make load`` (full size), ``PRESENSI_LOAD_SCALE=0.1 make load`` for a tenth of the fleet
(employees, terminals and edges scaled together), or ``python -m bench.load --employees N --terminals N
--edges N --speed S [--only live|hub-down] [--no-write]``. Results go to the ``load`` section of
docs/benchmarks.md (kept by ``make bench``).
"""

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psutil

from bench.run import OUTPUT, SECTION, machine
from simulators.chain.chaos import DEFAULT_POSTGRES_URL, postgres_schema
from simulators.chain.harness import Chain, ChainSpec
from simulators.chain.process import ManagedProcess

ZONE = "Asia/Jakarta"
PEAK_FROM = (6, 30)
PEAK_UNTIL = (7, 35)
TERMINALS_PER_OFFICE = 5


@dataclass(frozen=True, slots=True)
class LoadSize:
    employees: int = 50_000
    terminals: int = 500
    edges: int = 50
    speed: float = 30.0

    @property
    def offices(self) -> int:
        return max(1, self.terminals // TERMINALS_PER_OFFICE)

    @classmethod
    def scaled(cls, factor: float, speed: float) -> "LoadSize":
        full = cls()
        return cls(
            employees=max(100, round(full.employees * factor)),
            terminals=max(TERMINALS_PER_OFFICE, round(full.terminals * factor)),
            edges=max(1, round(full.edges * factor)),
            speed=speed,
        )


@dataclass(slots=True)
class Samples:
    hub_cpu: list[float] = field(default_factory=list)  # % of one core, hub + ingest workers
    hub_rss: list[float] = field(default_factory=list)  # MiB
    edges_cpu: list[float] = field(default_factory=list)
    edges_rss: list[float] = field(default_factory=list)
    fleet_cpu: list[float] = field(default_factory=list)
    machine_cpu: list[float] = field(default_factory=list)  # % of the whole machine
    api_ms: list[float] = field(default_factory=list)
    api_errors: int = 0


class Sampler:
    """psutil every second over the chain's processes, and an API request every 150 ms (while ``api``)."""

    def __init__(self, chain: Chain, *, api: bool) -> None:
        self.chain = chain
        self.api = api
        self.samples = Samples()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._cpu, daemon=True)]
        if api:
            self._threads.append(threading.Thread(target=self._requests, daemon=True))
        self._procs: dict[int, psutil.Process] = {}

    def __enter__(self) -> "Sampler":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _proc(self, managed: ManagedProcess) -> psutil.Process | None:
        if not managed.running or managed.pid is None:
            return None
        if managed.pid not in self._procs:
            process = psutil.Process(managed.pid)
            process.cpu_percent(None)  # the first call only sets the baseline
            self._procs[managed.pid] = process
        return self._procs[managed.pid]

    def _measure(self, group: list[ManagedProcess]) -> tuple[float, float]:
        cpu = rss = 0.0
        for managed in group:
            with _quiet():
                process = self._proc(managed)
                if process is not None:
                    cpu += process.cpu_percent(None)
                    rss += process.memory_info().rss / 2**20
        return cpu, rss

    def _cpu(self) -> None:
        psutil.cpu_percent(None)
        hub = [self.chain.hub, *self.chain.ingest_workers]
        edges = list(self.chain.edges.values())
        first = True
        while not self._stop.wait(1.0):
            hub_cpu, hub_rss = self._measure(hub)
            edges_cpu, edges_rss = self._measure(edges)
            fleet_cpu, _ = self._measure([self.chain.fleet])
            machine_cpu = psutil.cpu_percent(None)
            if first:  # baselines just set
                first = False
                continue
            s = self.samples
            if any(p.running for p in hub):
                s.hub_cpu.append(hub_cpu)
                s.hub_rss.append(hub_rss)
            s.edges_cpu.append(edges_cpu)
            s.edges_rss.append(edges_rss)
            s.fleet_cpu.append(fleet_cpu)
            s.machine_cpu.append(machine_cpu)

    def _requests(self) -> None:
        paths = ["/api/v1/edges", "/api/v1/punches?limit=50"]
        headers = {"Authorization": f"Bearer {self.chain.admin_token}"}
        n = 0
        with httpx.Client(base_url=self.chain.api_url, headers=headers, timeout=10) as client:
            while not self._stop.wait(0.15):
                began = time.perf_counter()
                try:
                    response = client.get(paths[n % 2])
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                n += 1
                if ok:
                    self.samples.api_ms.append((time.perf_counter() - began) * 1000)
                else:
                    self.samples.api_errors += 1


class _quiet:
    """Ignore a process that exits between the check and the measurement."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> bool:
        return exc_type is not None and issubclass(exc_type, psutil.Error)


def monday_at(hour: int, minute: int) -> datetime:
    """``hour:minute`` Asia/Jakarta on Monday of last week, as aware UTC (a week that is over)."""
    today = datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday() + 7)
    local = datetime(monday.year, monday.month, monday.day, hour, minute, tzinfo=ZoneInfo(ZONE))
    return local.astimezone(UTC)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


async def _hub_times(url: str, schema: str) -> list[tuple[datetime, datetime]]:
    from sqlalchemy import select

    from hub.settings import DatabaseSettings
    from hub.store.db import create_engine
    from hub.store.models import Punch

    engine = create_engine(DatabaseSettings(url=url, schema=schema))
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(Punch.read_at, Punch.received_at))).all()
    finally:
        await engine.dispose()
    return [(r[0], r[1]) for r in rows]


def edge_latencies(chain: Chain) -> list[float]:
    """Seconds from read (edge) to ack (hub's, received at the edge), per punch, from every edge's buffer."""
    found: list[float] = []
    for edge_id in chain.edges:
        path = chain.edge_config_path(edge_id).parent / "buffer.sqlite3"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            for read_at, acked_at in db.execute("SELECT read_at, acked_at FROM punches WHERE acked_at IS NOT NULL"):
                found.append((datetime.fromisoformat(acked_at) - datetime.fromisoformat(read_at)).total_seconds())
    return found


def rates(received: list[datetime]) -> tuple[float, float, float]:
    """(peak over 1-second windows, sustained first-to-last, seconds first-to-last) in punches/s."""
    if len(received) < 2:
        return 0.0, 0.0, 0.0
    stamps = sorted(t.timestamp() for t in received)
    span = stamps[-1] - stamps[0]
    peak, start = 0, 0
    for end in range(len(stamps)):
        while stamps[end] - stamps[start] >= 1.0:
            start += 1
        peak = max(peak, end - start + 1)
    return float(peak), len(stamps) / span if span > 0 else float("nan"), span


def _settled(chain: Chain, timeout: float = 600.0) -> None:
    """Wait until the simulator answers its admin port promptly: at start-up it serves hundreds of terminal
    connections (every edge reading every log once) and the peak must not start in that backlog."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        began = time.monotonic()
        try:
            chain.world()
        except httpx.HTTPError:
            continue
        if time.monotonic() - began < 0.5:
            return
        time.sleep(2.0)
    raise TimeoutError(f"the simulator did not settle within {timeout:.0f} s")


def run_peak(size: LoadSize, mode: str, postgres_url: str, run_dir: Path | None) -> dict[str, Any]:
    """One peak; ``mode`` is ``live`` or ``hub-down``."""
    with postgres_schema(postgres_url) as schema:
        spec = ChainSpec(
            terminals=size.terminals, offices=size.offices, zones=(ZONE,), employees=size.employees,
            edges=size.edges, ingest_workers=1, speed=1.0, start=monday_at(*PEAK_FROM), seed=11,
            store_url=postgres_url, store_schema=schema, receiver=False, run_dir=run_dir,
            terminal_capacity=100_000,
        )  # fmt: skip
        began = time.monotonic()
        with Chain(spec) as chain:
            startup = time.monotonic() - began
            result: dict[str, Any] = {"mode": mode, "size": asdict(size), "startup_seconds": round(startup, 1)}
            hub = [chain.hub, *chain.ingest_workers]
            if mode == "hub-down":
                for process in hub:
                    process.stop()
            until = monday_at(*PEAK_UNTIL)
            with Sampler(chain, api=mode == "live") as sampler:
                _settled(chain)
                peak_began = time.monotonic()
                chain.set_speed(size.speed)
                while chain.sim_now() < until:
                    time.sleep(0.5)
                    chain.check_running() if mode == "live" else None
                chain.set_speed(1.0)
                peak_real = time.monotonic() - peak_began
                made_at_end = chain.tally().made
                if mode == "hub-down":
                    drain_began = time.monotonic()
                    chain.hub.start()
                    chain.hub.wait_for(chain._hub_healthy, 120, what="the API answering /healthz")
                    result["hub_ready_seconds"] = round(time.monotonic() - drain_began, 1)
                    for worker in chain.ingest_workers:
                        worker.start()
                else:
                    drain_began = time.monotonic()
                tally = chain.wait_until_stored(1800, poll=1.0)
                after_peak = time.monotonic() - drain_began
            samples = sampler.samples
            times = asyncio.run(_hub_times(postgres_url, schema))
            for edge in chain.edges.values():
                edge.stop()
            latencies = edge_latencies(chain)
            hub_latencies = [(received - read).total_seconds() for read, received in times]
            peak, sustained, span = rates([received for _, received in times])
            result.update(
                {
                    "peak_real_seconds": round(peak_real, 1),
                    "made": tally.made,
                    "made_by_0735": made_at_end,
                    "stored": tally.stored,
                    "missing": len(tally.missing),
                    "duplicate_rows": tally.duplicate_rows,
                    "peak_per_second_1s": round(peak, 1),
                    "sustained_per_second": round(sustained, 1),
                    "store_span_seconds": round(span, 1),
                    "after_peak_seconds": round(after_peak, 1),  # hub-down: the backlog drain time
                    "read_to_ack_p50_s": round(percentile(latencies, 50), 3),
                    "read_to_ack_p99_s": round(percentile(latencies, 99), 3),
                    "read_to_stored_p50_s": round(percentile(hub_latencies, 50), 3),
                    "read_to_stored_p99_s": round(percentile(hub_latencies, 99), 3),
                    "hub_cpu_mean": round(statistics.fmean(samples.hub_cpu), 1) if samples.hub_cpu else None,
                    "hub_cpu_max": round(max(samples.hub_cpu), 1) if samples.hub_cpu else None,
                    "hub_rss_max_mib": round(max(samples.hub_rss), 0) if samples.hub_rss else None,
                    "edges_cpu_mean": round(statistics.fmean(samples.edges_cpu), 1) if samples.edges_cpu else None,
                    "edges_rss_max_mib": round(max(samples.edges_rss), 0) if samples.edges_rss else None,
                    "fleet_cpu_mean": round(statistics.fmean(samples.fleet_cpu), 1) if samples.fleet_cpu else None,
                    "machine_cpu_mean": round(statistics.fmean(samples.machine_cpu), 1)
                    if samples.machine_cpu
                    else None,
                    "api_requests": len(samples.api_ms) + samples.api_errors,
                    "api_p50_ms": round(percentile(samples.api_ms, 50), 1),
                    "api_p99_ms": round(percentile(samples.api_ms, 99), 1),
                    "api_max_ms": round(max(samples.api_ms), 1) if samples.api_ms else None,
                    "api_errors": samples.api_errors,
                    "load_average_1m": round(os.getloadavg()[0], 1),
                }
            )
            return result


def section(results: list[dict[str, Any]], command: str, note: str, reading: str = "") -> str:
    by_mode = {r["mode"]: r for r in results}
    size = results[0]["size"]
    lines = [
        "## Load: a compressed morning peak (whole chain, PostgreSQL)",
        "",
        f"Command: `{command}`. Size: {size['employees']:,} employees on {size['terminals']} simulated terminals "
        f"behind {size['edges']} edge agents, one Mosquitto, two hub ingest workers (the hub's own and one "
        f"`presensi hub ingest`), PostgreSQL 127.0.0.1. Simulated 06:30-07:35 (Asia/Jakarta) at speed "
        f"{size['speed']:g}. {note}",
        "",
        "| figure | hub up through the peak | hub down for the peak, started after |",
        "|---|---:|---:|",
    ]
    rows = [
        ("punches made (journal) / stored / missing / duplicate rows", "made", None),
        ("real seconds for the simulated 06:30-07:35", "peak_real_seconds", None),
        ("peak punches/s stored (busiest second, hub `received_at`)", "peak_per_second_1s", None),
        ("sustained punches/s stored (all / first..last stored)", "sustained_per_second", None),
        ("read -> ack at the edge p50 / p99 (s, edge buffers)", "read_to_ack_p50_s", "read_to_ack_p99_s"),
        ("read -> stored at the hub p50 / p99 (s, `received_at - read_at`)", "read_to_stored_p50_s",
         "read_to_stored_p99_s"),
        ("hub CPU mean / max (% of one core, hub + ingest worker)", "hub_cpu_mean", "hub_cpu_max"),
        ("hub RSS max (MiB, hub + ingest worker)", "hub_rss_max_mib", None),
        ("API during the peak p50 / p99 / max (ms)", "api_p50_ms", "api_p99_ms"),
        ("API requests / errors", "api_requests", "api_errors"),
        ("after the peak until every punch stored (s; hub-down: from starting the hub)", "after_peak_seconds", None),
        ("of which the hub's start until /healthz answers (s)", "hub_ready_seconds", None),
        ("50 edges' CPU mean (% of one core, all edges) / RSS max (MiB)", "edges_cpu_mean", "edges_rss_max_mib"),
        ("simulator CPU mean (% of one core) / machine CPU mean (%)", "fleet_cpu_mean", "machine_cpu_mean"),
        ("chain start-up (s) / 1-min load average at the end", "startup_seconds", "load_average_1m"),
    ]  # fmt: skip
    for label, first, second in rows:
        cells = []
        for mode in ("live", "hub-down"):
            r = by_mode.get(mode)
            if r is None:
                cells.append("not run")
            elif first == "made":
                cells.append(f"{r['made']:,} / {r['stored']:,} / {r['missing']} / {r['duplicate_rows']}")
            elif first == "api_p50_ms":
                cells.append(f"{r['api_p50_ms']} / {r['api_p99_ms']} / {r['api_max_ms']}" if mode == "live" else "-")
            else:
                value = r.get(first)
                cells.append(f"{value}" + (f" / {r.get(second)}" if second else ""))
        label = label.replace("50 edges", f"{size['edges']} edges")
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    if reading:
        lines += ["", reading]
    lines += ["", "Raw figures:", "", "```json", json.dumps(results, indent=1), "```", ""]
    return "\n".join(lines)


def write_section(body: str) -> None:
    text = OUTPUT.read_text() if OUTPUT.exists() else "# Benchmarks\n"
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = f"<!-- bench:load:start -->\n_Run {started} on {machine()}._\n\n{body.strip()}\n<!-- bench:load:end -->\n"
    if SECTION.search(text) and "<!-- bench:load:start -->" in text:
        start = text.index("<!-- bench:load:start -->")
        end = text.index("<!-- bench:load:end -->\n") + len("<!-- bench:load:end -->\n")
        text = text[:start] + block + text[end:]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    OUTPUT.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    factor = float(os.environ.get("PRESENSI_LOAD_SCALE", "1"))
    parser.add_argument("--speed", type=float, default=float(os.environ.get("PRESENSI_LOAD_SPEED", "30")))
    parser.add_argument("--employees", type=int)
    parser.add_argument("--terminals", type=int)
    parser.add_argument("--edges", type=int)
    parser.add_argument("--only", choices=["live", "hub-down"])
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    parser.add_argument("--note", default="", help="a sentence for the section (e.g. why the size was reduced)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--postgres-url", default=os.environ.get("PRESENSI_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    args = parser.parse_args(argv)
    base = LoadSize.scaled(factor, args.speed)
    size = LoadSize(
        employees=args.employees or base.employees,
        terminals=args.terminals or base.terminals,
        edges=args.edges or base.edges,
        speed=args.speed,
    )
    modes = [args.only] if args.only else ["live", "hub-down"]
    results = []
    for mode in modes:
        print(f"== load {mode}: {asdict(size)}", flush=True)
        result = run_peak(size, mode, args.postgres_url, None)
        print(json.dumps(result), flush=True)
        results.append(result)
    command = "python -m bench.load " + " ".join(argv if argv is not None else sys.argv[1:])
    if factor != 1:
        command = f"PRESENSI_LOAD_SCALE={factor:g} {command}"
    body = section(results, command.strip(), args.note)
    print(body)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if not args.no_write:
        write_section(body)
    failed = [r for r in results if r["missing"] or r["duplicate_rows"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
