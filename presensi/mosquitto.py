"""A private Mosquitto broker on a free loopback port, for tests, the demo and benchmarks.

The project never relies on a broker already running on the machine: each user of this module
gets its own process, config and persistence directory, and can stop/start it to inject outages.
"""

import contextlib
import getpass
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the usual race applies; callers start at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if not found:
        raise FileNotFoundError("mosquitto is not installed: run `make system-deps` (apt-get install mosquitto)")
    return found


class MosquittoBroker:
    """One Mosquitto process. ``stop()``/``start()`` keep the port and persistence, like a restart."""

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        workdir: Path | None = None,
        extra_config: str = "",
        allow_anonymous: bool = True,
        config_text: str | None = None,
    ) -> None:
        """``config_text`` replaces the generated config (listeners, auth) as a whole; the process still
        runs as the current user with persistence and the log in ``workdir``, and answers on ``port``."""
        self.host = host
        self.port = port or free_port(host)
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="presensi-mosquitto-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        process = [
            # Run as whoever starts it: as root, Mosquitto would otherwise switch to the
            # `mosquitto` user, fail to write this directory and silently lose persistence.
            f"user {getpass.getuser()}",
            "persistence true",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        listeners = [
            "per_listener_settings false",
            f"listener {self.port} {host}",
            f"allow_anonymous {'true' if allow_anonymous else 'false'}",
            "max_inflight_messages 1000",
            "max_queued_messages 1000000",
            "max_queued_bytes 0",
        ]
        body = [config_text] if config_text is not None else listeners
        self.config_path.write_text("\n".join([*process, *body, extra_config, ""]))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> "MosquittoBroker":
        if self.running:
            return self
        self._proc = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
                raise RuntimeError(f"mosquitto exited at start (port {self.port}): {err}{log}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout}s")

    def stop(self, *, kill: bool = False) -> None:
        """Stop the broker (SIGTERM, or SIGKILL with ``kill=True`` to lose what is not yet saved)."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            if kill:
                self._proc.kill()
            else:
                self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        if self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "MosquittoBroker":
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
