"""The edge agent: pollers for every terminal, the buffer, the publisher, and hub commands.

``run_agent`` is what ``presensi edge run`` and the systemd unit start. SIGTERM (and Ctrl-C)
stop the pollers, publish what is pending, wait a little for acks, announce "offline" and exit 0.
A kill -9 or power cut loses nothing: every punch was committed to the buffer when read, and a
restart resumes from it (unacked batches are republished unchanged).
"""

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from devices.driver import DriverError, TerminalDriver
from devices.zk.driver import ZKDriver
from edge.buffer import Buffer
from edge.config import EdgeSettings, TerminalSettings
from edge.poller import TerminalPoller
from edge.publisher import Publisher
from presensi.contract import BufferHealth, Command, EdgeHealth, RereadUsers, ResendRange, SyncClock

log = logging.getLogger(__name__)
HOUSEKEEPING_SECONDS = 300.0


def zk_driver(settings: TerminalSettings) -> TerminalDriver:
    return ZKDriver(
        settings.host,
        settings.port,
        zone=settings.zone,
        transport=settings.transport,
        comm_key=settings.comm_key,
        timeout=settings.timeout_seconds,
        record_layout=settings.record_layout,
    )


def status_path(settings: EdgeSettings) -> Path:
    """Where the running agent writes its latest health, for ``presensi edge status``."""
    return settings.buffer.path.with_suffix(".status.json")


class SystemdNotifier:
    """sd_notify over $NOTIFY_SOCKET (READY, WATCHDOG, STOPPING); silent when not under systemd."""

    def __init__(self) -> None:
        address = os.environ.get("NOTIFY_SOCKET")
        self._address = ("\0" + address[1:]) if address and address.startswith("@") else address

    def notify(self, state: str) -> None:
        if not self._address:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto(state.encode(), self._address)
            except OSError as exc:
                log.debug("sd_notify failed: %s", exc)


class EdgeAgent:
    def __init__(
        self, settings: EdgeSettings, *, driver_factory: Callable[[TerminalSettings], TerminalDriver] = zk_driver
    ) -> None:
        self.settings = settings
        self.started = time.monotonic()
        self.buffer = Buffer(
            settings.buffer.path,
            retention_days=settings.buffer.retention_days,
            disk_budget_bytes=int(settings.buffer.disk_budget_mb * 2**20),
        )
        self.session = self.buffer.next_session()
        self.pollers = {t.name: TerminalPoller(t, self.buffer, driver_factory) for t in settings.terminals}
        self.publisher = Publisher(
            settings,
            self.buffer,
            session=self.session,
            health=self.health,
            on_command=self.handle_command,
            terminals=lambda: tuple(p.health.serial or p.settings.name for p in self.pollers.values()),
            agent_version=version("presensi"),
        )
        self._stop = threading.Event()
        self._seen_commands: set[str] = set()

    # --- health and commands -----------------------------------------------------------------------

    def health(self) -> EdgeHealth:
        stats = self.buffer.stats()
        return EdgeHealth(
            edge_id=self.settings.edge_id,
            session=self.session,
            ts=datetime.now(UTC),
            uptime_seconds=round(time.monotonic() - self.started, 1),
            last_seq=self.buffer.last_seq,
            buffer=BufferHealth(
                pending=stats.pending,
                sent=stats.sent,
                acknowledged=stats.acknowledged,
                oldest_unacked=stats.oldest_unacked,
                disk_bytes=stats.used_bytes,
                disk_budget_bytes=stats.budget_bytes,
                budget_reached=stats.budget_reached,
            ),
            terminals=tuple(p.health.to_contract() for p in self.pollers.values()),
        )

    def _targets(self, terminal_sn: str | None) -> list[TerminalPoller]:
        if terminal_sn is None:
            return list(self.pollers.values())
        return [p for p in self.pollers.values() if terminal_sn in (p.health.serial, p.settings.name)]

    def handle_command(self, command: Command) -> None:
        """Run a hub command on the right pollers; the result is published when they are done."""
        if command.command_id in self._seen_commands:
            return  # QoS 1 may deliver twice; commands are idempotent by id
        self._seen_commands.add(command.command_id)
        body = command.body
        log.info("command %s from %s: %s", command.command_id, command.issued_by, body.kind)
        if isinstance(body, ResendRange):
            self.publisher.resend_range(command.command_id, body.since, body.until)
            return
        targets = self._targets(body.terminal_sn)
        if not targets:
            self.publisher.publish_result(command.command_id, False, f"no terminal {body.terminal_sn!r} on this edge")
            return
        futures: list[Future[str]] = []
        for poller in targets:
            if isinstance(body, SyncClock):
                futures.append(poller.submit(poller.sync_clock))
            elif isinstance(body, RereadUsers):
                futures.append(poller.submit(poller.count_users))
        threading.Thread(target=self._report, args=(command.command_id, futures), daemon=True).start()

    def _report(self, command_id: str, futures: list["Future[str]"]) -> None:
        details, ok = [], True
        for future in futures:
            try:
                details.append(future.result(timeout=120))
            except (DriverError, TimeoutError) as exc:
                ok = False
                details.append(f"failed: {exc}")
        self.publisher.publish_result(command_id, ok, "; ".join(details))

    # --- lifecycle ---------------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    def run(self) -> int:
        notifier = SystemdNotifier()
        log.info("edge %s starting (session %d) with %d terminals; buffer %s",
                 self.settings.edge_id, self.session, len(self.pollers), self.settings.buffer.path)  # fmt: skip
        for poller in self.pollers.values():
            poller.start()
        self.publisher.start()
        notifier.notify("READY=1")
        last_housekeeping = last_status = 0.0
        while not self._stop.wait(1.0):
            notifier.notify("WATCHDOG=1")
            if time.monotonic() - last_housekeeping >= HOUSEKEEPING_SECONDS:
                last_housekeeping = time.monotonic()
                self.buffer.housekeep(datetime.now(UTC))
            # The status file serves `presensi edge status`; counting a big buffer every second would
            # cost the idle CPU a Pi cannot spare, so it is as fresh as the heartbeat.
            if time.monotonic() - last_status >= self.settings.publisher.heartbeat_seconds:
                last_status = time.monotonic()
                self._write_status()
            if not self.publisher.is_alive():
                log.critical("publisher thread died; exiting so the service manager restarts the agent")
                self._stop.set()
        notifier.notify("STOPPING=1")
        log.info("stopping: flushing pending punches")
        for poller in self.pollers.values():
            poller.stop()
        for poller in self.pollers.values():
            poller.join(timeout=self.settings.terminals[0].timeout_seconds + 5)
        self.publisher.stop(flush_seconds=self.settings.publisher.flush_on_stop_seconds)
        self.publisher.join(timeout=self.settings.publisher.flush_on_stop_seconds + 10)
        self._write_status()
        self.buffer.close()
        log.info("stopped")
        return 0

    def _write_status(self) -> None:
        path = status_path(self.settings)
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(self.health().model_dump_json(indent=2))
            tmp.replace(path)
        except OSError as exc:
            log.debug("cannot write %s: %s", path, exc)


def run_agent(settings: EdgeSettings) -> int:
    agent = EdgeAgent(settings)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: agent.request_stop())
    return agent.run()


def read_status(settings: EdgeSettings) -> EdgeHealth | None:
    """The health the running agent last wrote (None when it never ran here or the file is unreadable)."""
    try:
        return EdgeHealth.model_validate_json(status_path(settings).read_bytes())
    except (OSError, ValueError):
        return None
