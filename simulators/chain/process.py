"""One real process of the chain (hub, ingest worker, edge agent, simulator, receiver), with its log file.

Stop it gracefully (SIGTERM), kill it (SIGKILL, as a power cut would), start it again with the same
command; wait for a line in its log. Each process runs in its own session so a Ctrl-C at the demo's
terminal reaches only the demo, which then stops the chain in order.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


class ProcessError(RuntimeError):
    """A process of the chain exited or did not get ready; the message ends with its log's tail."""


def presensi_command(*args: str) -> list[str]:
    """``presensi ARGS`` with this interpreter (works without the venv's bin/ on PATH)."""
    return [sys.executable, "-m", "presensi.cli", *args]


class ManagedProcess:
    def __init__(self, name: str, command: list[str], log_path: Path, *, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.command = command
        self.log_path = log_path
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.starts = 0
        self.kills = 0
        self.wanted = False  # started and not stopped or killed on purpose: it should be running
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0  # where the current run's output starts in the log

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def start(self) -> "ManagedProcess":
        if self.running:
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            log.write(f"--- start {self.starts + 1}: {' '.join(self.command)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        self.starts += 1
        self.wanted = True
        return self

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``). Returns the exit code."""
        self.wanted = False
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        return self._proc.returncode

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye (the Last Will fires at the broker)."""
        self.wanted = False
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
            self.kills += 1

    def restart(self, *, kill: bool = False) -> "ManagedProcess":
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start()

    def log_text(self, *, current_run: bool = True) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            if current_run:
                log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text(current_run=False).splitlines()[-lines:])

    @property
    def crashed(self) -> bool:
        """It should be running (not stopped or killed through this object) but has exited."""
        return self.wanted and self._proc is not None and self._proc.poll() is not None

    def wait_for(self, ready: Callable[[], bool] | str, timeout: float = 60.0, *, what: str = "") -> None:
        """Wait until ``ready()`` is true (or the text appears in this run's log); fail if the process exits."""
        check: Callable[[], bool] = (lambda: ready in self.log_text()) if isinstance(ready, str) else ready
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            if not self.running:
                raise ProcessError(f"{self.name} exited ({self.returncode}) before {what or ready!r}:\n{self.tail()}")
            time.sleep(0.1)
        raise ProcessError(f"{self.name}: no {what or ready!r} within {timeout:.0f} s:\n{self.tail()}")
