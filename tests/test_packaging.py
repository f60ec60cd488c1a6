"""An edge box installs ``presensi[edge]`` only: the edge must import and run without hub packages."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HUB_ONLY = ("fastapi", "sqlalchemy", "starlette", "uvicorn", "asyncpg", "aiosqlite", "alembic", "jinja2")

BLOCKER = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HUB_ONLY!r}:
            raise ImportError(f"{{name}} is a hub dependency and must not be needed on an edge box")
        return None
sys.meta_path.insert(0, Block())
sys.argv = ["presensi", *sys.argv[1:]]
import edge.agent, edge.cli, devices.zk.driver
from presensi.cli import app
app()
"""


def _project() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]  # type: ignore[no-any-return]


def test_edge_extra_lists_no_hub_dependency() -> None:
    project = _project()
    extras: dict[str, list[str]] = project["optional-dependencies"]  # type: ignore[assignment]
    required = [*project["dependencies"], *extras["edge"]]  # type: ignore[misc]
    assert not [dep for dep in required if dep.split("[")[0].split(">")[0].split("=")[0] in HUB_ONLY]


def test_edge_commands_run_with_hub_packages_unimportable() -> None:
    example = ROOT / "deploy" / "edge.example.toml"
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER, "edge", "check-config", "--config", str(example)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        # The example keeps the password out of the file, as a deployment would (edge.env).
        env={**os.environ, "PRESENSI_EDGE_BROKER__PASSWORD": "edge-secret-from-env"},
    )
    assert result.returncode == 0, result.stderr
    assert '"edge_id": "kantor-bupati-01"' in result.stdout
    assert "PRESENSI_EDGE_BROKER__PASSWORD" not in result.stdout
    assert "edge-secret-from-env" not in result.stdout


def test_the_blocker_really_blocks() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER.replace("import edge.agent", "import fastapi"), "edge", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode != 0
    assert "hub dependency" in result.stderr
