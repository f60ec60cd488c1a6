"""Hub and edge refuse a broker without a login and TLS unless ``allow_insecure`` says so, naming the key and the
file; and the broker password never reaches a log."""

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.ingest.worker import IngestWorker
from hub.settings import DatabaseSettings, HubSettings, IngestSettings, MqttSettings
from hub.store.db import create_engine
from presensi.broker_security import InsecureBroker
from tests.edge.edgekit import to_toml
from tests.security.brokerkit import ROOT, SecureBroker

SECRET = "s3cret-that-must-not-leak"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRESENSI_HUB_", "PRESENSI_EDGE_"))}
    return subprocess.run(
        [sys.executable, "-m", "presensi.cli", *args], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env
    )


@pytest.mark.parametrize(
    ("mqtt", "missing"),
    [
        pytest.param("", ["no username/password", "no TLS"], id="anonymous-clear-text"),
        pytest.param(f'username = "presensi-hub"\npassword = "{SECRET}"\n', ["no TLS"], id="login-without-tls"),
        pytest.param('[mqtt.tls]\nca_file = "/etc/presensi/ca.pem"\n', ["no username/password"], id="tls-no-login"),
    ],
)
def test_hub_refuses_an_insecure_broker(tmp_path: Path, mqtt: str, missing: list[str]) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/hub.db"\n[mqtt]\nhost = "127.0.0.1"\n{mqtt}')
    for command in (["hub", "run"], ["hub", "ingest", "--worker", "w2"]):
        done = _cli(*command, "--config", str(config))
        assert done.returncode == 2, done.stderr
        message = " ".join(done.stderr.split())
        assert "mqtt.allow_insecure" in message
        assert str(config) in message
        for fragment in missing:
            assert fragment in message
        assert SECRET not in done.stderr + done.stdout
        assert "Traceback" not in done.stderr


def test_edge_refuses_an_insecure_broker(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(
        to_toml(
            {
                "edge_id": "kantor-01",
                "broker": {"host": "127.0.0.1", "username": "kantor-01", "password": SECRET},
                "buffer": {"path": str(tmp_path / "buffer.sqlite3")},
                "terminals": [{"name": "lobby", "host": "127.0.0.1"}],
            }
        )
    )
    for command in ("run", "check-config"):
        done = _cli("edge", command, "--config", str(config))
        assert done.returncode == 2, done.stderr
        message = "".join(done.stderr.split())  # Rich wraps long lines, even inside the path
        assert "broker.allow_insecure" in message
        assert str(config).replace(" ", "") in message
        assert "noTLS" in message
        assert SECRET not in done.stderr + done.stdout
    assert not (tmp_path / "buffer.sqlite3").exists()  # refused before touching anything


def test_the_worker_itself_refuses_without_allow_insecure(tmp_path: Path) -> None:
    settings = HubSettings(
        database=DatabaseSettings(url=f"sqlite:///{tmp_path}/hub.db"),
        mqtt=MqttSettings(host="127.0.0.1", port=1883, client_id="x"),
    )
    engine = create_engine(settings.database)
    with pytest.raises(InsecureBroker, match=r"mqtt\.allow_insecure"):
        IngestWorker(settings, engine)
    asyncio.run(engine.dispose())


async def test_broker_password_stays_out_of_the_logs(
    secure_broker: SecureBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker that logs in, and one the broker refuses (wrong password): neither logs a password."""
    from tests.hub.hub_testkit import running_worker

    caplog.set_level(logging.DEBUG)
    good_password = secure_broker.passwords["presensi-hub"]
    database = DatabaseSettings(url=f"sqlite:///{tmp_path}/hub.db")
    engine = create_engine(database)
    try:
        from hub.store.migrate import upgrade

        await upgrade(engine)
        settings = HubSettings(database=database, mqtt=secure_broker.hub_mqtt(), ingest=IngestSettings())
        async with running_worker(settings, engine, client_id="hub-logs"):
            pass
        refused = HubSettings(database=database, mqtt=secure_broker.hub_mqtt(password=SECRET))
        worker = IngestWorker(refused, engine, client_id="hub-refused")
        task = asyncio.create_task(worker.run())
        for _ in range(200):
            if "refused" in caplog.text:
                break
            await asyncio.sleep(0.05)
        worker.stop()
        await asyncio.wait_for(task, 20)
    finally:
        await engine.dispose()
    assert "broker refused hub-refused" in caplog.text  # the refusal was logged, so the check below means something
    for shown in (caplog.text, repr(settings), str(settings), settings.model_dump_json(), repr(refused)):
        assert good_password not in shown
        assert SECRET not in shown
