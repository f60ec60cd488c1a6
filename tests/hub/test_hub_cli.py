"""The ``presensi hub`` commands an operator types: migrate, create-token, import (dry run first)."""

from pathlib import Path

from typer.testing import CliRunner

from hub.cli import app

runner = CliRunner()


def test_token_and_import_commands_work_on_a_fresh_store(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "hub.db"}"\n')
    assert runner.invoke(app, ["migrate", "--config", str(config)]).exit_code == 0

    created = runner.invoke(app, ["create-token", "--role", "viewer", "--name", "dash", "--config", str(config)])
    assert created.exit_code == 0, created.output
    assert created.stdout.strip().startswith("psh_")
    again = runner.invoke(app, ["create-token", "--role", "viewer", "--name", "dash", "--config", str(config)])
    assert again.exit_code == 1
    assert "exists already" in again.output
    wrong_role = runner.invoke(app, ["create-token", "--role", "root", "--name", "x", "--config", str(config)])
    assert wrong_role.exit_code == 2
    assert runner.invoke(app, ["revoke-token", "dash", "--config", str(config)]).exit_code == 0

    csv_file = tmp_path / "pegawai.csv"
    csv_file.write_text("nip,name,unit_code,active_from\n198705122015031002,Budi,NOPE,2015-03-01\n")
    dry = runner.invoke(app, ["import-employees", str(csv_file), "--config", str(config)])
    assert dry.exit_code == 1
    assert "row 2: unit_code='NOPE': no unit with code 'NOPE'" in dry.output
    assert "dry run: nothing changed" in dry.output


def test_bad_config_exits_with_the_settings_message(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text("[api]\nport = 70000\n")
    result = runner.invoke(app, ["migrate", "--config", str(config)])
    assert result.exit_code == 2
    assert "api.port" in result.output
