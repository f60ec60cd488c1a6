"""Dashboard users from the command line (create, refuse bad input, disable) and the [dashboard] settings."""

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.settings import SettingsError, load_settings
from hub.store.db import create_engine, session_factory
from hub.users import check_password, list_users

runner = CliRunner()


async def _users(config: Path) -> list[tuple[str, str, bool]]:
    engine = create_engine(load_settings(config).database)
    try:
        async with session_factory(engine)() as db:
            return [(u.username, u.role.value, u.disabled_at is None) for u in await list_users(db)]
    finally:
        await engine.dispose()


async def _signs_in(config: Path, username: str, password: str) -> bool:
    engine = create_engine(load_settings(config).database)
    try:
        async with session_factory(engine)() as db:
            return await check_password(db, username, password) is not None
    finally:
        await engine.dispose()


def test_create_and_disable_users_from_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "hub.db"}"\n')
    assert runner.invoke(app, ["migrate", "--config", str(config)]).exit_code == 0

    def create(*args: str, password: str = "sandi-rahasia-2026\n") -> tuple[int, str]:
        result = runner.invoke(app, ["create-user", *args, "--password-stdin", "--config", str(config)], input=password)
        return result.exit_code, result.output

    assert create("rina", "--role", "operator", "--display-name", "Rina (BKPSDM)") == (
        0,
        "user 'rina' (operator) created\n",
    )
    assert create("rina", "--role", "viewer")[0] == 1  # the name is taken
    assert create("svc", "--role", "service")[0] == 2  # machines use tokens, not passwords
    code, output = create("short", "--role", "viewer", password="pendek\n")
    assert code == 1
    assert "at least 10 characters" in output
    assert asyncio.run(_users(config)) == [("rina", "operator", True)]
    assert asyncio.run(_signs_in(config, "rina", "sandi-rahasia-2026"))
    assert not asyncio.run(_signs_in(config, "rina", "sandi-rahasia-2025"))

    assert runner.invoke(app, ["disable-user", "rina", "--config", str(config)]).exit_code == 0
    assert asyncio.run(_users(config)) == [("rina", "operator", False)]
    listed = runner.invoke(app, ["list-users", "--config", str(config)])
    assert listed.exit_code == 0
    assert listed.output.startswith("rina\toperator\tdisabled ")
    assert not asyncio.run(_signs_in(config, "rina", "sandi-rahasia-2026"))
    assert runner.invoke(app, ["disable-user", "nobody", "--config", str(config)]).exit_code == 1


def test_dashboard_settings_check_the_time_zone(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('[dashboard]\ntime_zone = "Asia/Makassar"\nsession_hours = 8\n')
    settings = load_settings(config)
    assert (settings.dashboard.time_zone, settings.dashboard.session_hours) == ("Asia/Makassar", 8)
    config.write_text('[dashboard]\ntime_zone = "Asia/Atlantis"\n')
    with pytest.raises(SettingsError) as err:
        load_settings(config)
    assert "dashboard.time_zone" in str(err.value)
    assert "PRESENSI_HUB_DASHBOARD__TIME_ZONE" in str(err.value)
