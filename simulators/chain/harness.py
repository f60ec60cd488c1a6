"""The whole chain as real processes, for the demo, the chaos suite and the load runs.

``Chain(spec).start()`` brings up, each with its config file in the run directory:

- a private Mosquitto on a free port (per-edge logins and an ACL when ``broker_auth`` is on);
- the mock e-Kinerja receiver (``presensi sim ekinerja``);
- the hub (``presensi hub run``: API and one ingest worker) and ``ingest_workers`` more
  (``presensi hub ingest``);
- the simulated terminal fleet (``presensi sim fleet``) with its admin port and punch journal;
- ``edges`` edge agents (``presensi edge run``), terminal i on edge i mod edges, each optionally behind
  its own ``TcpProxy`` to the broker.

Then any process can be stopped, killed (SIGKILL) and started again, the broker stopped and restarted,
an edge's network cut, a terminal's power cut (clock reset) or its log cleared. ``tally()`` counts the
punches made at the terminals (the simulator's journal) against those stored at the hub (the store's
``punches`` table) by idempotency key: missing, unexpected and duplicate rows.
"""

import asyncio
import json
import math
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx

from presensi.mosquitto import MosquittoBroker, free_port
from simulators.chain.configs import (
    BrokerPlan,
    TerminalEndpoint,
    edge_config,
    hub_config,
    plan_broker,
    to_toml,
    write_broker_auth,
)
from simulators.chain.process import ManagedProcess, ProcessError, presensi_command
from simulators.chain.proxy import CutMode, TcpProxy
from simulators.zk.journal import read_journal_keys_from

ADMIN_TOKEN_NAME = "chain-admin"
SERIAL_PREFIX = "PRS"


def last_week_start(now: datetime | None = None) -> datetime:
    """05:00 UTC+8 (WITA, the earliest of the default zones) on Monday of last week, as aware UTC.

    A simulated run replays a week that is over: punches are never in the edge's future, and the
    week is complete whatever day the run happens on.
    """
    today = (now or datetime.now(UTC)).date()
    monday = today - timedelta(days=today.weekday() + 7)
    return datetime(monday.year, monday.month, monday.day, 5, 0, tzinfo=UTC) - timedelta(hours=8)


@dataclass(slots=True)
class ChainSpec:
    terminals: int = 8
    offices: int = 2
    zones: tuple[str, ...] = ("Asia/Jakarta", "Asia/Makassar")  # one per office, cycled
    employees: int = 300  # in all, spread evenly over the offices (each enrolled on its office's terminals)
    edges: int = 2
    ingest_workers: int = 0  # `presensi hub ingest` workers besides the hub's own
    speed: float = 1800.0  # simulated seconds per real second
    start: datetime | None = None  # simulated start (aware); None: last_week_start()
    seed: int = 7
    store_url: str | None = None  # None: SQLite in the run directory
    store_schema: str | None = None  # PostgreSQL schema (search_path) for the hub's tables
    broker_auth: bool = True  # per-edge logins and an ACL; off: anonymous
    proxy: bool = False  # a TcpProxy between each edge and the broker (cut()/restore())
    live_capture: bool = True
    poll_interval_seconds: float = 2.0
    terminal_capacity: int = 100_000
    when_full: Literal["stop", "overwrite"] = "overwrite"
    workforce: bool = True  # employees punch as simulated time passes
    receiver: bool = True  # the mock e-Kinerja receiver
    receiver_token: str = "demo-ekinerja-token"
    run_dir: Path | None = None  # None: a fresh temporary directory, removed by close()
    hub_extra: dict[str, Any] = field(default_factory=dict)  # merged into hub.toml
    edge_extra: dict[str, Any] = field(default_factory=dict)  # merged into every edge's TOML

    @property
    def employees_per_office(self) -> int:
        return math.ceil(self.employees / self.offices)

    def edge_ids(self) -> list[str]:
        return [f"edge-{n + 1}" for n in range(self.edges)]


@dataclass(slots=True)
class Tally:
    """Punches made at the terminals against punches stored at the hub, by idempotency key."""

    made_records: int  # journal lines (a record written twice in the same second is one punch)
    made: int  # distinct keys made
    stored: int  # distinct keys stored
    stored_rows: int
    missing: list[str]  # made, not stored
    unexpected: list[str]  # stored, never made at a terminal

    @property
    def duplicate_rows(self) -> int:
        return self.stored_rows - self.stored

    @property
    def complete(self) -> bool:
        return not self.missing and not self.unexpected and self.duplicate_rows == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "made_records": self.made_records,
            "made": self.made,
            "stored": self.stored,
            "missing": len(self.missing),
            "unexpected": len(self.unexpected),
            "duplicate_rows": self.duplicate_rows,
            "missing_sample": self.missing[:10],
            "unexpected_sample": self.unexpected[:10],
        }


class Chain:
    def __init__(self, spec: ChainSpec) -> None:
        self.spec = spec
        self._own_dir = spec.run_dir is None
        self.run_dir = (spec.run_dir or Path(tempfile.mkdtemp(prefix="presensi-chain-"))).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.logs = self.run_dir / "logs"
        self.start_time = spec.start or last_week_start()
        self.store_url = spec.store_url or f"sqlite:///{self.run_dir / 'hub' / 'hub.db'}"
        self.api_port = free_port()
        self.admin_port = free_port()
        self.receiver_port = free_port()
        self.journal_path = self.run_dir / "sim" / "journal.jsonl"
        self.broker = MosquittoBroker(workdir=self.run_dir / "broker", allow_anonymous=not spec.broker_auth)
        self.plan: BrokerPlan = plan_broker(
            self.broker.host, self.broker.port, auth=spec.broker_auth, edge_ids=spec.edge_ids()
        )
        if spec.broker_auth:
            extra = write_broker_auth(self.plan, self.run_dir / "broker")
            self.broker.config_path.write_text(self.broker.config_path.read_text() + extra)
        self.hub_config_path = self.run_dir / "hub" / "hub.toml"
        self.hub = ManagedProcess(
            "hub", presensi_command("hub", "run", "-c", str(self.hub_config_path)), self._log("hub")
        )
        self.ingest_workers = [
            ManagedProcess(
                f"ingest-{n + 1}",
                presensi_command("hub", "ingest", "--worker", f"w{n + 1}", "-c", str(self.hub_config_path)),
                self._log(f"ingest-{n + 1}"),
            )
            for n in range(spec.ingest_workers)
        ]
        self.receiver: ManagedProcess | None = None
        if spec.receiver:
            self.receiver = ManagedProcess(
                "ekinerja",
                presensi_command("sim", "ekinerja", "--port", str(self.receiver_port), "--token", spec.receiver_token),
                self._log("ekinerja"),
            )
        self.fleet = ManagedProcess("fleet", self._fleet_command(), self._log("fleet"))
        self.terminals: list[TerminalEndpoint] = []
        self.edge_of: dict[str, str] = {}  # terminal serial -> edge id
        self.proxies: dict[str, TcpProxy] = {}
        self.edges: dict[str, ManagedProcess] = {}
        self.admin_token = ""
        self._started = False
        self._journal_read = 0  # bytes of the journal already parsed into _made
        self._made: list[str] = []

    # --- paths and URLs ---------------------------------------------------------------------------

    def _log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def dashboard_url(self) -> str:
        return f"{self.api_url}/dashboard"

    @property
    def sim_admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def receiver_url(self) -> str:
        return f"http://127.0.0.1:{self.receiver_port}"

    def edge_config_path(self, edge_id: str) -> Path:
        return self.run_dir / "edges" / edge_id / "edge.toml"

    def serial(self, index: int) -> str:
        """The serial of terminal ``index`` (the simulator numbers them from its base port 0)."""
        return f"{SERIAL_PREFIX}{self.spec.seed % 100:02d}{index:05d}"

    # --- start and stop ----------------------------------------------------------------------------

    def _fleet_command(self) -> list[str]:
        spec = self.spec
        return presensi_command(
            "sim", "fleet", "--json",
            "--terminals", str(spec.terminals), "--base-port", "0", "--offices", str(spec.offices),
            "--zones", ",".join(spec.zones), "--users", str(spec.employees_per_office),
            "--speed", str(spec.speed), "--seed", str(spec.seed),
            "--start", self.start_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "--capacity", str(spec.terminal_capacity), "--when-full", spec.when_full,
            "--admin-port", str(self.admin_port), "--journal", str(self.journal_path),
            "--workforce" if spec.workforce else "--no-workforce",
        )  # fmt: skip

    def start(self) -> "Chain":
        """Start everything and wait until each part is ready. On failure, stop what started and raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def _start(self) -> None:
        spec = self.spec
        if spec.store_schema and self.store_url.startswith("postgres"):
            asyncio.run(_create_schema(self.store_url, spec.store_schema))
        self.broker.start()
        if self.receiver is not None:
            self.receiver.start()
        self.write_hub_config()
        self.hub.start()
        self.hub.wait_for(self._hub_healthy, 90, what="the API answering /healthz")
        self.hub.wait_for("subscribed (group", 30, what="the ingest worker subscribed")
        for worker in self.ingest_workers:
            worker.start()
        for worker in self.ingest_workers:
            worker.wait_for("subscribed (group", 60, what="the ingest worker subscribed")
        self.fleet.start()
        self.fleet.wait_for(lambda: self._fleet_info() is not None, 120, what="the simulator serving")
        info = self._fleet_info()
        assert info is not None
        self.terminals = [TerminalEndpoint(t["serial"], t["host"], t["port"], t["zone"]) for t in info["terminals"]]
        edge_ids = spec.edge_ids()
        for index, terminal in enumerate(self.terminals):
            self.edge_of[terminal.serial] = edge_ids[index % len(edge_ids)]
        for edge_id in edge_ids:
            self.write_edge_config(edge_id)
            self.edges[edge_id] = ManagedProcess(
                edge_id, presensi_command("edge", "run", "-c", str(self.edge_config_path(edge_id))), self._log(edge_id)
            )
        for edge in self.edges.values():
            edge.start()
        for edge in self.edges.values():
            edge.wait_for("connected to broker", 60, what="the edge connected to the broker")
        if self.receiver is not None:
            self.receiver.wait_for(self._receiver_up, 30, what="the receiver answering")
        self.admin_token = self.create_token(ADMIN_TOKEN_NAME, "admin")

    def write_hub_config(self) -> None:
        config = hub_config(
            self.plan,
            store_url=self.store_url,
            store_schema=self.spec.store_schema,
            api_port=self.api_port,
            client_id="chain-hub",
            ekinerja_url=f"{self.receiver_url}/api/v1/submissions" if self.spec.receiver else None,
            ekinerja_token=self.spec.receiver_token,
            extra=self.spec.hub_extra,
        )
        self.hub_config_path.parent.mkdir(parents=True, exist_ok=True)
        self.hub_config_path.write_text(to_toml(config))

    def write_edge_config(self, edge_id: str) -> None:
        host, port = self.broker.host, self.broker.port
        if self.spec.proxy:
            if edge_id not in self.proxies:
                self.proxies[edge_id] = TcpProxy(self.broker.host, self.broker.port).start()
            host, port = self.proxies[edge_id].host, self.proxies[edge_id].port
        path = self.edge_config_path(edge_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        config = edge_config(
            self.plan,
            edge_id,
            [t for t in self.terminals if self.edge_of[t.serial] == edge_id],
            buffer_path=path.parent / "buffer.sqlite3",
            broker_host=host,
            broker_port=port,
            live_capture=self.spec.live_capture,
            poll_interval_seconds=self.spec.poll_interval_seconds,
            extra=self.spec.edge_extra,
        )
        path.write_text(to_toml(config))

    def stop(self) -> None:
        """Stop in order: edges first (they flush), then terminals, hub, receiver, broker, proxies."""
        for edge in self.edges.values():
            edge.stop()
        self.fleet.stop()
        for worker in self.ingest_workers:
            worker.stop()
        self.hub.stop()
        if self.receiver is not None:
            self.receiver.stop()
        self.broker.stop()
        for proxy in self.proxies.values():
            proxy.stop()

    def close(self) -> None:
        """Stop, and remove the run directory if the harness made it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> "Chain":
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def processes(self) -> list[ManagedProcess]:
        found = [self.hub, *self.ingest_workers, self.fleet, *self.edges.values()]
        return found + ([self.receiver] if self.receiver is not None else [])

    def check_running(self) -> None:
        """Raise if a process that should run has exited (crashed) since it was started. Processes stopped
        or killed through the harness (``stop()``, ``kill()``) do not count until started again."""
        dead = [p for p in self.processes() if p.crashed]
        if dead:
            raise ProcessError("; ".join(f"{p.name} exited with {p.returncode}:\n{p.tail()}" for p in dead))

    # --- readiness probes --------------------------------------------------------------------------

    def _hub_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def _receiver_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.receiver_url}/admin/mode", timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def _fleet_info(self) -> dict[str, Any] | None:
        for line in self.fleet.log_text().splitlines():
            if line.startswith("{"):
                info: dict[str, Any] = json.loads(line)
                return info
        return None

    # --- faults ----------------------------------------------------------------------------------

    def stop_broker(self, *, kill: bool = False) -> None:
        self.broker.stop(kill=kill)

    def start_broker(self) -> None:
        self.broker.start()

    def restart_broker(self, *, kill: bool = False, down_seconds: float = 0.0) -> None:
        self.stop_broker(kill=kill)
        time.sleep(down_seconds)
        self.start_broker()

    def proxy(self, edge_id: str) -> TcpProxy:
        if edge_id not in self.proxies:
            raise KeyError(f"no proxy for {edge_id}: start the chain with ChainSpec(proxy=True)")
        return self.proxies[edge_id]

    def cut(self, edge_id: str, mode: CutMode = "reset") -> None:
        """Cut the network between ``edge_id`` and the broker."""
        self.proxy(edge_id).cut(mode)

    def restore(self, edge_id: str) -> None:
        self.proxy(edge_id).restore()

    def sim(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the simulator's admin port (see simulators/zk/admin.py)."""
        response = httpx.request(method, f"{self.sim_admin_url}{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def power_loss(self, serial: str) -> dict[str, Any]:
        """A power cut with a flat clock battery: the terminal's clock restarts at 2000-01-01."""
        found: dict[str, Any] = self.sim("POST", f"/terminals/{serial}/actions/power_loss", {})
        return found

    def power_off(self, serial: str) -> None:
        self.sim("POST", f"/terminals/{serial}/actions/power_off", {})

    def power_on(self, serial: str) -> None:
        self.sim("POST", f"/terminals/{serial}/actions/power_on", {})

    def clear_log(self, serial: str) -> int:
        """Someone clears the attendance log at the device. Returns how many records went."""
        return int(self.sim("POST", f"/terminals/{serial}/actions/clear_log", {})["cleared"])

    def set_terminal_clock(self, serial: str, local_time: datetime | None = None) -> None:
        """Set a terminal's clock (default: the true local time of its zone in the simulated world)."""
        if local_time is None:
            zone = next(t.zone for t in self.terminals if t.serial == serial)
            from zoneinfo import ZoneInfo

            local_time = self.sim_now().astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        self.sim("POST", f"/terminals/{serial}/clock", {"local_time": local_time.isoformat()})

    def terminal_faults(self, serial: str, **faults: bool | float) -> None:
        """Switch a terminal's faults (unreachable, reply_delay, drop_mid_transfer, refuse_auth, udp_only)."""
        self.sim("POST", f"/terminals/{serial}/faults", dict(faults))

    def receiver_mode(self, **mode: bool | float) -> dict[str, Any]:
        """Switch the mock e-Kinerja receiver: ``down=True``, ``fail_rate=0.3``, ``delay_seconds=2``."""
        response = httpx.post(f"{self.receiver_url}/admin/mode", json=dict(mode), timeout=30)
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def receiver_records(self) -> dict[str, Any]:
        """What the receiver holds: ``{"counters": {...}, "records": [...]}``."""
        response = httpx.get(f"{self.receiver_url}/admin/records", timeout=60)
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def world(self) -> dict[str, Any]:
        found: dict[str, Any] = self.sim("GET", "/world")
        return found

    def sim_now(self) -> datetime:
        return datetime.fromisoformat(self.world()["now"])

    def jump(self, seconds: float) -> None:
        """Move simulated time forward (e.g. over a night)."""
        self.sim("POST", "/world", {"jump_seconds": seconds})

    def set_speed(self, speed: float) -> None:
        self.sim("POST", "/world", {"speed": speed})

    # --- counting ----------------------------------------------------------------------------------

    def made_keys(self) -> list[str]:
        """Every punch the terminals recorded so far (journal flushed first), in order made.

        Read incrementally: a load run's journal of hundreds of thousands of lines is parsed once.
        """
        if self.fleet.running:
            self.sim("GET", "/journal")
        keys, self._journal_read = read_journal_keys_from(self.journal_path, self._journal_read)
        self._made.extend(keys)
        return list(self._made)

    def stored_keys(self) -> tuple[set[str], int]:
        """The keys in the hub's store, and its number of punch rows."""
        return asyncio.run(_stored_keys(self.store_url, self.spec.store_schema))

    def flagged_punches(self) -> dict[str, int]:
        """Stored punches whose timestamp the edge doubted, by flag (clock_reset, future, ...)."""
        return asyncio.run(_flag_counts(self.store_url, self.spec.store_schema))

    def flagged_keys(self) -> set[str]:
        return asyncio.run(_flagged_keys(self.store_url, self.spec.store_schema))

    def tally(self) -> Tally:
        made_list = self.made_keys()
        stored, rows = self.stored_keys()
        made = set(made_list)
        return Tally(
            made_records=len(made_list),
            made=len(made),
            stored=len(stored),
            stored_rows=rows,
            missing=sorted(made - stored),
            unexpected=sorted(stored - made),
        )

    def wait_quiet(self, quiet_seconds: float = 3.0, timeout: float = 120.0) -> Tally:
        """Wait until neither the punches made nor those stored change for ``quiet_seconds``."""
        deadline = time.monotonic() + timeout
        last = self.tally()
        since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.tally()
            if (now.made_records, now.stored_rows) != (last.made_records, last.stored_rows):
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_seconds:
                return now
        return last

    def wait_until_stored(self, timeout: float = 120.0, *, poll: float = 0.5) -> Tally:
        """Wait until every punch made so far is stored; returns the last tally either way."""
        deadline = time.monotonic() + timeout
        while True:
            tally = self.tally()
            if not tally.missing or time.monotonic() > deadline:
                return tally
            time.sleep(poll)

    # --- hub API and CLI ---------------------------------------------------------------------------

    def hub_cli(self, *args: str, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
        """``presensi hub ARGS -c hub.toml``; raises with its output when it fails."""
        command = presensi_command("hub", *args, "-c", str(self.hub_config_path))
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise ProcessError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def create_token(self, name: str, role: str) -> str:
        """A hub API token (through the hub CLI, as an operator would make one)."""
        return self.hub_cli("create-token", "--name", name, "--role", role).stdout.strip().splitlines()[-1]

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to the hub API as the chain's admin token (``path`` under /api/v1, or absolute)."""
        url = path if path.startswith("http") else f"{self.api_url}/api/v1{path}"
        headers = {"Authorization": f"Bearer {self.admin_token}", **kwargs.pop("headers", {})}
        return httpx.request(method, url, headers=headers, timeout=kwargs.pop("timeout", 120), **kwargs)


async def _stored_keys(url: str, schema: str | None) -> tuple[set[str], int]:
    from sqlalchemy import select

    from hub.settings import DatabaseSettings
    from hub.store.db import create_engine
    from hub.store.models import Punch

    engine = create_engine(DatabaseSettings(url=url, schema=schema))
    try:
        async with engine.connect() as connection:
            keys = list((await connection.execute(select(Punch.key))).scalars())
    finally:
        await engine.dispose()
    return set(keys), len(keys)


async def _flag_counts(url: str, schema: str | None) -> dict[str, int]:
    from sqlalchemy import func, select

    from hub.settings import DatabaseSettings
    from hub.store.db import create_engine
    from hub.store.models import Punch

    engine = create_engine(DatabaseSettings(url=url, schema=schema))
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(Punch.flags, func.count()).where(Punch.flags != "").group_by(Punch.flags)
                )
            ).all()
    finally:
        await engine.dispose()
    counts: dict[str, int] = {}
    for flags, count in rows:
        for flag in str(flags).split(","):
            counts[flag] = counts.get(flag, 0) + int(count)
    return dict(sorted(counts.items()))


async def _create_schema(url: str, schema: str) -> None:
    """A PostgreSQL schema of the run's own, so runs sharing a database do not see each other's rows."""
    from sqlalchemy import text

    from hub.settings import DatabaseSettings
    from hub.store.db import create_engine

    engine = create_engine(DatabaseSettings(url=url))
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    finally:
        await engine.dispose()


async def _flagged_keys(url: str, schema: str | None) -> set[str]:
    from sqlalchemy import select

    from hub.settings import DatabaseSettings
    from hub.store.db import create_engine
    from hub.store.models import Punch

    engine = create_engine(DatabaseSettings(url=url, schema=schema))
    try:
        async with engine.connect() as connection:
            return set((await connection.execute(select(Punch.key).where(Punch.flags != ""))).scalars())
    finally:
        await engine.dispose()
