"""Settings: from the TOML file, overridden by PRESENSI_HUB_* variables; a wrong value names key and file."""

from pathlib import Path

import pytest

from hub.settings import SettingsError, load_settings


def test_file_values_are_read_and_environment_overrides_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('[mqtt]\nhost = "broker.internal"\nport = 8883\ngroup = "kab"\n[ingest]\nmax_wait_ms = 20\n')
    monkeypatch.setenv("PRESENSI_HUB_MQTT__PORT", "1884")
    settings = load_settings(config)
    assert (settings.mqtt.host, settings.mqtt.port, settings.mqtt.group) == ("broker.internal", 1884, "kab")
    assert settings.ingest.max_wait_ms == 20
    assert settings.recompute.workers is None  # one per core, at most 8
    assert settings.database.url == "sqlite:///var/hub.db"


def test_wrong_values_name_the_key_the_file_and_the_variable(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('[database]\nurl = "mysql://db"\n[mqtt]\nport = 0\ncolour = "blue"\n[recompute]\nworkers = 0\n')
    with pytest.raises(SettingsError) as err:
        load_settings(config)
    message = str(err.value)
    assert str(config) in message
    assert "database.url: Value error, must start with sqlite:/// or postgresql:// (got 'mysql://db')" in message
    assert "mqtt.port: Input should be greater than or equal to 1" in message
    assert "PRESENSI_HUB_MQTT__PORT" in message
    assert "mqtt.colour: Extra inputs are not permitted" in message
    assert "recompute.workers: Input should be greater than or equal to 1" in message


def test_missing_or_broken_file_is_reported_plainly(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[mqtt\nport = 1")
    with pytest.raises(SettingsError, match=f"{broken}: not valid TOML"):
        load_settings(broken)


def test_the_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "hub.example.toml"
    settings = load_settings(example)
    assert settings.mqtt.client_id == "presensi-hub-1"
