"""A malformed config stops ``presensi edge run`` with exit code 2, naming the file and the key."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.edge.conftest import ROOT
from tests.edge.edgekit import to_toml

GOOD_TERMINAL = {"name": "lobby", "host": "127.0.0.1", "port": 4370}


def _run(config: Path, command: str = "run") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "presensi.cli", "edge", command, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("PRESENSI_EDGE_")},
    )


def _good() -> dict[str, object]:
    return {
        "edge_id": "kantor-01",
        "buffer": {"path": "/nonexistent/never-created.sqlite3"},
        "terminals": [GOOD_TERMINAL],
    }


CASES: dict[str, tuple[str, list[str]]] = {
    "bad-toml": ('edge_id = "kantor-01\n[[terminals]]\nname = "x"\n', ["not valid TOML"]),
    "unknown-key": (
        to_toml({**_good(), "terminals": [{**GOOD_TERMINAL, "colour": "red"}]}),
        ["terminals.0.colour", "Extra inputs are not permitted"],
    ),
    "unknown-section": (to_toml({**_good(), "brokr": {"host": "x"}}), ["brokr"]),
    "wrong-type": (
        to_toml({**_good(), "terminals": [{**GOOD_TERMINAL, "port": "lobby"}]}),
        ["terminals.0.port", "'lobby'"],
    ),
    "out-of-range": (to_toml({**_good(), "broker": {"port": 70000}}), ["broker.port", "70000"]),
    "bad-zone": (
        to_toml({**_good(), "terminals": [GOOD_TERMINAL, {**GOOD_TERMINAL, "name": "gate", "zone": "Asia/Jakrta"}]}),
        ["terminals.1.zone", "Asia/Jakrta"],
    ),
    "missing-edge-id": (to_toml({k: v for k, v in _good().items() if k != "edge_id"}), ["edge_id", "required"]),
    "bad-edge-id": (to_toml({**_good(), "edge_id": "kantor bupati"}), ["edge_id", "kantor bupati"]),
    "no-terminals": (to_toml({**_good(), "terminals": []}), ["terminals"]),
    "nested-clock": (
        to_toml({**_good(), "terminals": [{**GOOD_TERMINAL, "clock": {"auto_correct": "sometimes"}}]}),
        ["terminals.0.clock.auto_correct"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_config_names_file_and_key(tmp_path: Path, case: str) -> None:
    text, expected = CASES[case]
    config = tmp_path / f"{case}.toml"
    config.write_text(text)
    done = _run(config)
    assert done.returncode == 2, (done.returncode, done.stderr)
    # Rich may wrap long lines; the message must survive joining them back.
    stderr = " ".join(done.stderr.split())
    assert str(config) in stderr.replace(" ", "") or str(config) in stderr, stderr
    for fragment in expected:
        assert fragment in stderr, f"{fragment!r} not in: {done.stderr}"
    assert "Traceback" not in done.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    done = _run(tmp_path / "absent.toml")
    assert done.returncode == 2
    stderr = " ".join(done.stderr.split())  # Rich wraps at 80 columns when stderr is not a terminal
    assert "absent.toml: no such file" in stderr, done.stderr


def test_check_config_accepts_a_good_file_and_hides_secrets(tmp_path: Path) -> None:
    config = tmp_path / "good.toml"
    broker = {"username": "edge", "password": "s3cret", "tls": {"ca_file": "/etc/presensi/ca.pem"}}
    config.write_text(to_toml({**_good(), "broker": broker}))
    done = _run(config, "check-config")
    assert done.returncode == 0, done.stderr
    assert "kantor-01" in done.stdout
    assert "s3cret" not in done.stdout
