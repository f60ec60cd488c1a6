"""The fault suite: scripted faults over the real chain, counting punches made at the terminals against
punches stored at the hub by idempotency key (``Chain.tally()``), failing on any missing or duplicate.

Each scenario starts its own chain (its own SQLite file, or its own PostgreSQL schema), keeps punches
coming with a ``PunchPump`` (steady punches at the terminals through the simulator's admin port, on top
of the simulated workforce), injects its faults at random moments, stops the pump and measures the time
until every punch made is stored (the recovery time). ``run_suite()`` runs the scenarios one after the
other and returns their ``ScenarioResult``s; ``python -m simulators.chain.chaos`` (``make chaos``) prints
them as a table and as JSON.

Sizes: ``Scale.short()`` is the version ``make test`` runs (tests/chaos/), ``Scale.full()`` the one
``make chaos`` runs (50 edge kills, ...); ``PRESENSI_CHAOS_SCALE`` multiplies the fault counts.
"""

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from simulators.chain.harness import Chain, ChainSpec, Tally
from simulators.chain.process import presensi_command

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
PUMP_PINS_PER_TERMINAL = 40
WRAP_TURNOVER_SECONDS = 30.0  # the log-wrap scenario overwrites a whole log this often
PUMP_PIN_BASE = 900_000  # far above the workforce's PINs, so a pump punch never collides with one


class ChaosFailure(AssertionError):
    """A scenario ended with punches missing, unexpected or duplicated at the hub."""


@dataclass(slots=True)
class ScenarioResult:
    name: str
    store: str  # sqlite | postgresql
    injected: str  # what was done, in words, with counts
    faults: int
    made: int  # distinct punches made at the terminals during the scenario (journal keys)
    stored: int  # distinct punches stored at the hub at the end
    missing: int
    unexpected: int
    duplicate_rows: int
    recover_seconds: float  # from the end of the last fault until every punch made was stored
    wall_seconds: float
    notes: list[str] = field(default_factory=list)
    tally: dict[str, Any] = field(default_factory=dict)
    feed_missing: int = 0  # e-Kinerja records the hub sent (or still holds) that the receiver lacks
    feed_duplicates: int = 0  # records the receiver got twice in the same version

    @property
    def ok(self) -> bool:
        punches = self.missing == 0 and self.unexpected == 0 and self.duplicate_rows == 0
        return punches and self.feed_missing == 0 and self.feed_duplicates == 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True, slots=True)
class Scale:
    edge_kills: int = 50
    broker_restarts: int = 10
    ingest_kills: int = 10
    network_cuts: int = 10
    terminal_faults: int = 6
    pump_rate: float = 30.0  # punches per second at the terminals, on top of the workforce
    employees: int = 200
    terminals: int = 6
    edges: int = 3
    speed: float = 3000.0
    settle_timeout: float = 180.0
    day_cut: bool = True  # the network-cut scenario ends with every edge cut for a simulated day
    wrap_turns: float = 4.0  # how many times each terminal's log is overwritten in the log-wrap scenario

    @classmethod
    def short(cls) -> "Scale":
        return cls(
            edge_kills=4, broker_restarts=1, ingest_kills=2, network_cuts=2, terminal_faults=1,
            pump_rate=15.0, employees=40, terminals=4, edges=2, settle_timeout=120.0, day_cut=False,
            wrap_turns=1.5,
        )  # fmt: skip

    @classmethod
    def full(cls, factor: float = 1.0) -> "Scale":
        base = cls()

        def scaled(n: int) -> int:
            return max(1, round(n * factor))

        return cls(
            edge_kills=scaled(base.edge_kills), broker_restarts=scaled(base.broker_restarts),
            ingest_kills=scaled(base.ingest_kills), network_cuts=scaled(base.network_cuts),
            terminal_faults=scaled(base.terminal_faults),
        )  # fmt: skip


# --- a steady stream of punches ---------------------------------------------------------------------


class PunchPump:
    """Punches at the terminals at a steady rate (the admin port's ``/punch``, journalled like any other).

    The workforce punches in morning and evening bursts; the pump makes sure a fault injected at a
    random moment meets punches in flight. Each terminal gets its own PINs and the pump cycles through
    them, so no two of its punches share a key (PIN, second and status)."""

    def __init__(self, chain: Chain, rate: float, seed: int = 1) -> None:
        self.chain = chain
        self.rate = rate
        self.rng = random.Random(seed)
        self.sent = 0
        self.refused = 0  # a terminal powered off or unreachable: nothing was made
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pins: dict[str, list[str]] = {}

    def enrol(self) -> None:
        for index, terminal in enumerate(self.chain.terminals):
            pins = [str(PUMP_PIN_BASE + index * 1000 + n) for n in range(PUMP_PINS_PER_TERMINAL)]
            for pin in pins:
                self.chain.sim("POST", f"/terminals/{terminal.serial}/users", {"pin": pin, "name": f"Pump {pin}"})
            self._pins[terminal.serial] = pins

    def start(self) -> "PunchPump":
        if not self._pins:
            self.enrol()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="punch-pump", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def _run(self) -> None:
        serials = list(self._pins)
        turn = dict.fromkeys(serials, 0)
        interval = 1.0 / self.rate
        with httpx.Client(base_url=self.chain.sim_admin_url, timeout=10) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                serial = self.rng.choice(serials)
                pins = self._pins[serial]
                pin = pins[turn[serial] % len(pins)]
                turn[serial] += 1
                try:
                    response = client.post(f"/terminals/{serial}/punch", json={"pin": pin, "status": turn[serial] % 2})
                    if response.status_code == 200 and response.json().get("recorded"):
                        self.sent += 1
                    else:
                        self.refused += 1
                except httpx.HTTPError:
                    self.refused += 1
                next_at += interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))


# --- running a scenario -----------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for one run's hub tables, dropped afterwards."""
    schema = f"chaos_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres_execute(url, f"CREATE SCHEMA {schema}"))
    try:
        yield schema
    finally:
        asyncio.run(_postgres_execute(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


async def _postgres_execute(url: str, statement: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from hub.store.db import async_url

    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@contextlib.contextmanager
def running_chain(spec: ChainSpec, store: str, postgres_url: str = DEFAULT_POSTGRES_URL) -> Iterator[Chain]:
    """Start a chain on the given store (``sqlite`` or ``postgresql``), stop and clean up after."""
    if store == "sqlite":
        with Chain(spec) as chain:
            yield chain
        return
    with postgres_schema(postgres_url) as schema:
        spec.store_url, spec.store_schema = postgres_url, schema
        with Chain(spec) as chain:
            yield chain


def settle(chain: Chain, timeout: float) -> tuple[Tally, float]:
    """Wait until every punch made is stored; (the tally, seconds it took)."""
    began = time.monotonic()
    tally = chain.wait_until_stored(timeout, poll=0.25)
    return tally, time.monotonic() - began


def finish(
    name: str,
    chain: Chain,
    store: str,
    injected: str,
    faults: int,
    made_before: int,
    began: float,
    timeout: float,
    notes: list[str] | None = None,
    recovering_since: float | None = None,
) -> ScenarioResult:
    """Settle and count. Recovery is timed from ``recovering_since`` (a monotonic instant, e.g. when the hub
    was started again) or else from now."""
    since = recovering_since if recovering_since is not None else time.monotonic()
    tally, _ = settle(chain, timeout)
    recover = time.monotonic() - since
    # Rows written twice under one key cannot exist (UNIQUE), but count them anyway: the check must be able to fail.
    return ScenarioResult(
        name=name,
        store=store,
        injected=injected,
        faults=faults,
        made=tally.made - made_before,
        stored=tally.stored - made_before,
        missing=len(tally.missing),
        unexpected=len(tally.unexpected),
        duplicate_rows=tally.duplicate_rows,
        recover_seconds=round(recover, 2),
        wall_seconds=round(time.monotonic() - began, 1),
        notes=notes or [],
        tally=tally.as_dict(),
    )


def base_spec(scale: Scale, run_dir: Path | None, **overrides: Any) -> ChainSpec:
    values: dict[str, Any] = {
        "terminals": scale.terminals,
        "employees": scale.employees,
        "edges": scale.edges,
        "speed": scale.speed,
        "run_dir": run_dir,
    }
    values.update(overrides)
    return ChainSpec(**values)


def _warm_up(chain: Chain, pump: PunchPump, timeout: float) -> int:
    """Start the pump and let the first punches through before the faults; returns the punches made before."""
    before = chain.tally().made
    pump.start()
    time.sleep(2.0)
    return before


def edge_kills(chain: Chain, store: str, scale: Scale, rng: random.Random) -> ScenarioResult:
    """SIGKILL a random edge at a random moment (0.3-3 s apart), start it again after 0-1.5 s."""
    began = time.monotonic()
    pump = PunchPump(chain, scale.pump_rate, rng.randrange(1 << 30))
    made_before = _warm_up(chain, pump, scale.settle_timeout)
    edges = list(chain.edges.values())
    for _ in range(scale.edge_kills):
        time.sleep(rng.uniform(0.3, 3.0))
        edge = rng.choice(edges)
        edge.kill()
        time.sleep(rng.uniform(0.0, 1.5))  # punches keep coming at the terminals while it is down
        edge.start()
    pump.stop()
    chain.check_running()
    injected = f"{scale.edge_kills} SIGKILLs of a random edge agent (of {len(edges)}) 0.3-3 s apart, down 0-1.5 s"
    return finish("edge agent SIGKILL", chain, store, injected, scale.edge_kills, made_before, began,
                  scale.settle_timeout)  # fmt: skip


def broker_restarts(chain: Chain, store: str, scale: Scale, rng: random.Random) -> ScenarioResult:
    """Stop the broker (alternately SIGTERM and SIGKILL), keep it down 1-6 s, start it again."""
    began = time.monotonic()
    pump = PunchPump(chain, scale.pump_rate, rng.randrange(1 << 30))
    made_before = _warm_up(chain, pump, scale.settle_timeout)
    for n in range(scale.broker_restarts):
        time.sleep(rng.uniform(1.0, 4.0))
        chain.restart_broker(kill=n % 2 == 1, down_seconds=rng.uniform(1.0, 6.0))
    pump.stop()
    chain.check_running()
    injected = f"{scale.broker_restarts} broker stops (every other one SIGKILL), down 1-6 s each"
    return finish("broker restart", chain, store, injected, scale.broker_restarts, made_before, began,
                  scale.settle_timeout)  # fmt: skip


def ingest_kills(chain: Chain, store: str, scale: Scale, rng: random.Random) -> ScenarioResult:
    """SIGKILL a random ingest worker (one of the `hub ingest` processes, or the hub with its own worker)."""
    began = time.monotonic()
    pump = PunchPump(chain, scale.pump_rate, rng.randrange(1 << 30))
    made_before = _warm_up(chain, pump, scale.settle_timeout)
    workers = [*chain.ingest_workers, chain.hub]
    for _ in range(scale.ingest_kills):
        time.sleep(rng.uniform(0.5, 3.0))
        worker = rng.choice(workers)
        worker.kill()
        time.sleep(rng.uniform(0.0, 2.0))
        worker.start()
        if worker is chain.hub:
            worker.wait_for(chain._hub_healthy, 90, what="the API answering /healthz")
    pump.stop()
    chain.check_running()
    injected = (
        f"{scale.ingest_kills} SIGKILLs of a random ingest worker ({len(chain.ingest_workers)} `hub ingest` "
        "+ the hub's own), 0.5-3 s apart, down 0-2 s"
    )
    return finish("hub ingest worker SIGKILL", chain, store, injected, scale.ingest_kills, made_before, began,
                  scale.settle_timeout)  # fmt: skip


def network_cuts(chain: Chain, store: str, scale: Scale, rng: random.Random) -> ScenarioResult:
    """Cut a random edge's link to the broker (reset or blackhole) for 0.5-8 s; then cut every edge for a
    whole simulated day (the terminals punch through a day and a night), and restore."""
    began = time.monotonic()
    pump = PunchPump(chain, scale.pump_rate, rng.randrange(1 << 30))
    made_before = _warm_up(chain, pump, scale.settle_timeout)
    edge_ids = list(chain.edges)
    for n in range(scale.network_cuts):
        time.sleep(rng.uniform(0.5, 3.0))
        edge_id = rng.choice(edge_ids)
        chain.cut(edge_id, "blackhole" if n % 2 else "reset")
        time.sleep(rng.uniform(0.5, 8.0))
        chain.restore(edge_id)
    injected = f"{scale.network_cuts} cuts of one edge's link (reset/blackhole alternately) of 0.5-8 s"
    notes: list[str] = []
    if scale.day_cut:
        day_start = chain.sim_now()
        made_at_cut = chain.tally().made
        for edge_id in edge_ids:
            chain.cut(edge_id, "blackhole")
        cut_began = time.monotonic()
        while (chain.sim_now() - day_start).total_seconds() < 86_400:
            time.sleep(0.5)
        day_cut_real = time.monotonic() - cut_began
        made_during_day = chain.tally().made - made_at_cut
        for edge_id in edge_ids:
            chain.restore(edge_id)
        injected += (
            f"; then every edge cut (blackhole) for one simulated day ({day_cut_real:.0f} s real at speed "
            f"{chain.spec.speed:.0f})"
        )
        notes.append(f"punches made at the terminals during the day-long cut: {made_during_day}")
    pump.stop()
    chain.check_running()
    faults = scale.network_cuts + int(scale.day_cut)
    return finish("network cut (edge-broker)", chain, store, injected, faults, made_before, began,
                  scale.settle_timeout, notes)  # fmt: skip


def terminal_faults(chain: Chain, store: str, scale: Scale, rng: random.Random) -> ScenarioResult:
    """Power loss with a flat clock battery (clock back to 2000-01-01, then set right again) and the log
    cleared at the device, on random terminals, while the edges capture live."""
    began = time.monotonic()
    pump = PunchPump(chain, scale.pump_rate, rng.randrange(1 << 30))
    made_before = _warm_up(chain, pump, scale.settle_timeout)
    serials = [t.serial for t in chain.terminals]
    cleared = 0
    for _ in range(scale.terminal_faults):
        time.sleep(rng.uniform(1.0, 4.0))
        serial = rng.choice(serials)
        chain.power_loss(serial)
        time.sleep(rng.uniform(1.0, 3.0))  # punches recorded with the reset clock
        chain.set_terminal_clock(serial)  # someone notices and sets it right (or the edge reports it)
        time.sleep(rng.uniform(1.0, 3.0))
        cleared += chain.clear_log(rng.choice(serials))
    time.sleep(3.0)
    pump.stop()
    chain.check_running()
    injected = (
        f"{scale.terminal_faults} power losses (clock to 2000-01-01, set right 1-3 s later) and "
        f"{scale.terminal_faults} log clears at the device ({cleared} records cleared) on random terminals"
    )
    return finish("terminal power loss and log cleared", chain, store, injected, 2 * scale.terminal_faults,
                  made_before, began, scale.settle_timeout)  # fmt: skip


def log_wraps(chain: Chain, store: str, scale: Scale, rng: random.Random) -> ScenarioResult:
    """Terminal logs of ``terminal_capacity`` records that overwrite their oldest when full, read by polling
    only (live capture off): the edge must follow a log whose start moves, again and again.

    A full log keeps its record count, so the edge finds new records by its periodic full read: nothing
    is lost while fewer than ``capacity`` records are overwritten between two reads. The pump (the only
    source here, no workforce) turns each log over once per ``WRAP_TURNOVER_SECONDS``, which leaves the
    edge that long between two reads, even on a loaded machine."""
    began = time.monotonic()
    capacity = chain.spec.terminal_capacity
    rate = len(chain.terminals) * capacity / WRAP_TURNOVER_SECONDS
    pump = PunchPump(chain, rate, rng.randrange(1 << 30))
    made_before = _warm_up(chain, pump, scale.settle_timeout)
    target = made_before + round(scale.wrap_turns * capacity * len(chain.terminals))
    deadline = time.monotonic() + 900
    while chain.tally().made < target and time.monotonic() < deadline:
        time.sleep(1.0)
    pump.stop()
    chain.check_running()
    overwritten = sum(int(t["stats"]["records_overwritten"]) for t in chain.sim("GET", "/terminals"))
    full_read = chain.spec.terminal_extra.get("full_read_interval_seconds", "?")
    injected = (
        f"logs of {capacity} records overwriting when full, live capture off (poll every "
        f"{chain.spec.poll_interval_seconds:g} s, full read every {full_read} s), {rate:.1f} punches/s over "
        f"{len(chain.terminals)} terminals: {overwritten} records overwritten at the terminals"
    )
    return finish("terminal log wraps", chain, store, injected, overwritten, made_before, began,
                  scale.settle_timeout)  # fmt: skip


def buffer_budget(chain: Chain, store: str, scale: Scale, rng: random.Random) -> ScenarioResult:
    """The hub stops acknowledging (hub and ingest workers stopped) until every edge's buffer is past its
    disk budget (``[buffer] disk_budget_mb``, set tiny for this run); then the hub comes back."""
    began = time.monotonic()
    pump = PunchPump(chain, scale.pump_rate * 2, rng.randrange(1 << 30))
    made_before = _warm_up(chain, pump, scale.settle_timeout)
    for worker in [*chain.ingest_workers, chain.hub]:
        worker.stop()
    deadline = time.monotonic() + 300
    reached: set[str] = set()
    while len(reached) < len(chain.edges) and time.monotonic() < deadline:
        time.sleep(1.0)
        reached = {edge_id for edge_id in chain.edges if "BUDGET REACHED" in edge_status(chain, edge_id)}
    time.sleep(2.0)  # punches keep being read past the budget
    statuses = {edge_id: _buffer_line(edge_status(chain, edge_id)) for edge_id in chain.edges}
    pump.stop()
    hub_back = time.monotonic()
    chain.hub.start()
    chain.hub.wait_for(chain._hub_healthy, 90, what="the API answering /healthz")
    for worker in chain.ingest_workers:
        worker.start()
    chain.check_running()
    budget = chain.spec.edge_extra.get("buffer", {}).get("disk_budget_mb")
    injected = (
        f"hub and ingest workers stopped until every edge's buffer passed its disk budget ({budget} MiB); "
        f"reached on {len(reached)} of {len(chain.edges)} edges"
    )
    notes = [f"{edge_id} at the budget: {line}" for edge_id, line in statuses.items()]
    result = finish("edge buffer disk budget reached", chain, store, injected, 1, made_before, began,
                    scale.settle_timeout, notes, recovering_since=hub_back)  # fmt: skip
    if len(reached) < len(chain.edges):
        result.notes.append("BUDGET NOT REACHED on every edge within 300 s")
    return result


def receiver_down(chain: Chain, store: str, scale: Scale, rng: random.Random) -> ScenarioResult:
    """The e-Kinerja receiver answers 503 from Monday morning to Tuesday night (simulated) while the hub
    computes both days and queues them in its feed; then it comes back and the feed catches up. Checks:
    every punch stored once, every record the hub queued is at the receiver, none received twice."""
    from simulators.chain import demo

    began = time.monotonic()
    days = demo.demo_days(2)
    zones = chain.spec.zones[: chain.spec.offices]
    api = demo.Api(chain)
    try:
        chain.receiver_mode(down=True)
        down_from = chain.sim_now()
        employees = demo.demo_employees(chain.spec.offices, chain.spec.employees_per_office)
        demo.load_hub(chain, api, employees, days, lambda *_: None)
        for n, day in enumerate(days):
            begin, end = demo.day_window(day, zones)
            if chain.sim_now() < begin:
                chain.jump((begin - chain.sim_now()).total_seconds())  # over the night
            chain.set_speed(scale.speed)
            while chain.sim_now() < end:
                time.sleep(0.5)
            chain.set_speed(1.0)
            chain.wait_until_stored(scale.settle_timeout)
            demo.recompute(chain, days[: n + 1])  # the day's records go to the feed's outbox
        today = datetime.now(UTC).date()
        for year, month in sorted({(d.year, d.month) for d in days}):
            if (year, month) < (today.year, today.month):  # an ended month's recaps are queued too
                chain.hub_cli("feed", "close-month", f"{year}-{month:02d}")
        deadline = time.monotonic() + 120
        while chain.receiver_records()["counters"]["refused"] == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        before = api.call("GET", "/feed/status")["counts"]
        refused = chain.receiver_records()["counters"]["refused"]
        down_sim_hours = (chain.sim_now() - down_from).total_seconds() / 3600
        chain.receiver_mode(down=False)
        back = time.monotonic()
        deadline = back + scale.settle_timeout
        while True:
            counts: dict[str, int] = api.call("GET", "/feed/status")["counts"]
            closing = [c for c in api.call("GET", "/months/closes") if c.get("status") == "running"]
            if (not counts.get("pending", 0) and not counts.get("retrying", 0) and not closing) or (
                time.monotonic() > deadline
            ):
                break
            time.sleep(0.25)
        catch_up = time.monotonic() - back
        sent = {kind: _feed_count(api, "sent", kind) for kind in ("daily", "monthly")}
        received = chain.receiver_records()
        held = {kind: sum(1 for r in received["records"] if r["kind"] == kind) for kind in ("daily", "monthly")}
        hub_days = demo.attendance_days(api, days)["days"]
    finally:
        api.close()
    waiting = counts.get("pending", 0) + counts.get("retrying", 0) + counts.get("failed", 0)
    feed_missing = waiting + sum(max(0, sent[k] - held[k]) for k in sent) + max(0, hub_days - held["daily"])
    injected = (
        f"receiver down (503) for {down_sim_hours:.0f} simulated hours ({days[0]:%a} morning to {days[-1]:%a} "
        f"night): {refused} submissions refused; the hub computed {hub_days} employee-days meanwhile (feed "
        f"before the receiver came back: {before})"
    )
    notes = [
        f"feed after catch-up: {counts}; sent daily/monthly {sent['daily']}/{sent['monthly']}, held at the "
        f"receiver {held['daily']}/{held['monthly']}; receiver counters {received['counters']}",
        f"catch-up (receiver back -> outbox empty): {catch_up:.1f} s",
    ]
    result = finish("e-Kinerja receiver down for a day", chain, store, injected, 1, 0, began, scale.settle_timeout,
                    notes)  # fmt: skip
    result.recover_seconds = round(catch_up, 2)
    result.feed_missing = feed_missing
    result.feed_duplicates = int(received["counters"]["duplicates"])
    return result


def _feed_count(api: Any, status: str, kind: str) -> int:
    total = 0
    while True:
        page = api.call("GET", "/feed/records", params={"status": status, "kind": kind, "limit": 1000, "offset": total})
        total += len(page)
        if len(page) < 1000:
            return total


def _buffer_line(status: str) -> str:
    return next((line.strip() for line in status.splitlines() if "pending" in line), status.strip()[:200])


def edge_status(chain: Chain, edge_id: str) -> str:
    """``presensi edge status`` for one edge, as an operator reads it (buffer counts, disk use, budget)."""
    command = presensi_command("edge", "status", "-c", str(chain.edge_config_path(edge_id)))
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, env=env)
    return done.stdout + done.stderr


Scenario = Callable[[Chain, str, Scale, random.Random], ScenarioResult]

# name -> (scenario, spec overrides)
SCENARIOS: dict[str, tuple[Scenario, dict[str, Any]]] = {
    "edge-kill": (edge_kills, {}),
    "broker-restart": (broker_restarts, {}),
    "ingest-kill": (ingest_kills, {"ingest_workers": 2}),
    "network-cut": (network_cuts, {"proxy": True}),
    "terminal": (terminal_faults, {}),
    # A full log keeps its record count, so the edge finds new records by its periodic full read: no punch
    # is lost while fewer than `capacity` are overwritten between two full reads (docs/reliability.md).
    "log-wrap": (
        log_wraps,
        {
            "terminal_capacity": 30,
            "when_full": "overwrite",
            "live_capture": False,
            "workforce": False,
            "terminal_extra": {"full_read_interval_seconds": 3.0},
        },
    ),
    "buffer-budget": (buffer_budget, {"edge_extra": {"buffer": {"disk_budget_mb": 0.25}}}),
}
# The feed retries in real time: short backoffs so a simulated day's outage is retried within seconds.
FEED_FAST_RETRY = {"ekinerja": {"first_backoff_seconds": 1.0, "max_backoff_seconds": 5.0, "poll_seconds": 1.0}}
SCENARIOS["receiver-down"] = (receiver_down, {"hub_extra": FEED_FAST_RETRY, "speed": 1.0})
SHORT = ("edge-kill", "ingest-kill", "terminal", "log-wrap")


def run_scenario(
    name: str, store: str, scale: Scale, *, seed: int = 7, run_dir: Path | None = None,
    postgres_url: str = DEFAULT_POSTGRES_URL,
) -> ScenarioResult:  # fmt: skip
    scenario, overrides = SCENARIOS[name]
    spec = base_spec(scale, run_dir, seed=seed, **overrides)
    rng = random.Random(f"{seed}|{name}|{store}")
    with running_chain(spec, store, postgres_url) as chain:
        return scenario(chain, store, scale, rng)


def run_suite(
    names: list[str], stores: list[str], scale: Scale, *, seed: int = 7, out: Callable[[str], None] = print,
    postgres_url: str = DEFAULT_POSTGRES_URL,
) -> list[ScenarioResult]:  # fmt: skip
    results: list[ScenarioResult] = []
    for store in stores:
        for name in names:
            out(f"--- {name} on {store} ...")
            began = time.monotonic()
            try:
                result = run_scenario(name, store, scale, seed=seed, postgres_url=postgres_url)
            except Exception as exc:  # one scenario's crash is its failure, not the suite's end
                result = ScenarioResult(
                    name=name, store=store, injected="(did not finish)", faults=0, made=0, stored=0, missing=-1,
                    unexpected=0, duplicate_rows=0, recover_seconds=float("nan"),
                    wall_seconds=round(time.monotonic() - began, 1), notes=[f"{type(exc).__name__}: {exc}"[:2000]],
                )  # fmt: skip
            out(f"    {'OK' if result.ok else 'FAILED'}: {json.dumps(result.as_dict())}")
            results.append(result)
    return results


def table(results: list[ScenarioResult]) -> str:
    """Markdown rows for docs/reliability.md."""
    lines = [
        "| scenario | store | faults | made | stored | missing | duplicates | recover (s) | wall (s) | result |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.store} | {r.faults} | {r.made} | {r.stored} | {r.missing + r.unexpected} | "
            f"{r.duplicate_rows} | {r.recover_seconds:.1f} | {r.wall_seconds:.0f} | {'OK' if r.ok else 'FAILED'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.chain.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), help="default: all")
    parser.add_argument("--store", action="append", choices=["sqlite", "postgresql"], help="default: both")
    parser.add_argument("--short", action="store_true", help="the small sizes of `make test`")
    parser.add_argument("--scale", type=float, default=float(os.environ.get("PRESENSI_CHAOS_SCALE", "1")),
                        help="multiply the fault counts of the full run (env PRESENSI_CHAOS_SCALE)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--postgres-url", default=os.environ.get("PRESENSI_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    args = parser.parse_args(argv)
    scale = Scale.short() if args.short else Scale.full(args.scale)
    names = args.scenario or list(SCENARIOS)
    stores = args.store or ["sqlite", "postgresql"]
    began = time.monotonic()
    results = run_suite(names, stores, scale, seed=args.seed, postgres_url=args.postgres_url)
    print(table(results))
    print(f"suite wall time {time.monotonic() - began:.0f} s; scale {asdict(scale)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([r.as_dict() for r in results], indent=2))
    failed = [r for r in results if not r.ok]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
