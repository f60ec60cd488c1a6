"""A Mosquitto configured from ``deploy/mosquitto/`` (TLS listener, password file, ACL) on free ports, with
certificates from ``scripts/make-broker-certs.sh`` and logins from ``scripts/broker-login.sh``, and MQTT
clients that log in to it."""

import os
import shutil
import ssl
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from hub.settings import MqttSettings, MqttTlsSettings
from presensi.mosquitto import MosquittoBroker, free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "mosquitto"
SCRIPTS = ROOT / "scripts"
HUB_LOGIN = "presensi-hub"
EDGES = ("edge-a", "edge-b")


@dataclass
class SecureBroker:
    broker: MosquittoBroker
    plain_port: int
    ca_file: Path
    passwords: dict[str, str]
    other_ca_file: Path

    @property
    def host(self) -> str:
        return self.broker.host

    @property
    def tls_port(self) -> int:
        return self.broker.port

    def hub_mqtt(self, **overrides: object) -> MqttSettings:
        values: dict[str, object] = {
            "host": self.host,
            "port": self.tls_port,
            "username": HUB_LOGIN,
            "password": self.passwords[HUB_LOGIN],
            "tls": MqttTlsSettings(ca_file=self.ca_file),
            "client_id": f"hub-{uuid.uuid4().hex[:6]}",
        }
        values.update(overrides)
        return MqttSettings.model_validate(values)


def _run(*command: str | Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    return done.stdout


def render_config(workdir: Path, tls_port: int, plain_port: int) -> str:
    """deploy/mosquitto/mosquitto.conf with its paths moved to ``workdir`` and its ports made free ones."""
    text = (DEPLOY / "mosquitto.conf").read_text()
    replacements = {
        "/etc/mosquitto/presensi/": f"{workdir}/",
        "listener 8883\n": f"listener {tls_port} 127.0.0.1\n",
        "listener 1883 127.0.0.1\n": f"listener {plain_port} 127.0.0.1\n",
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/mosquitto/mosquitto.conf no longer has {old!r}: update this kit"
        text = text.replace(old, new)
    return text


def start_secure_broker(workdir: Path) -> SecureBroker:
    certs = workdir / "certs"
    _run(SCRIPTS / "make-broker-certs.sh", certs, "localhost", "127.0.0.1")
    _run(SCRIPTS / "make-broker-certs.sh", workdir / "other-ca", "localhost", "127.0.0.1")  # a CA nobody trusts
    passwords = {login: f"pw-{login}-{uuid.uuid4().hex}" for login in (HUB_LOGIN, *EDGES)}
    for login, password in passwords.items():
        _run(
            SCRIPTS / "broker-login.sh",
            workdir / "passwd",
            "--hub" if login == HUB_LOGIN else login,
            env={"PRESENSI_BROKER_PASSWORD": password},
        )
    shutil.copy(DEPLOY / "acl", workdir / "acl")
    tls_port, plain_port = free_port(), free_port()
    broker = MosquittoBroker(
        tls_port, workdir=workdir / "broker", config_text=render_config(workdir, tls_port, plain_port)
    )
    broker.start()
    return SecureBroker(broker, plain_port, certs / "ca.crt", passwords, workdir / "other-ca" / "ca.crt")


class ConnectRefused(Exception):
    pass


@dataclass
class Client:
    """An MQTT 5 client logged in to the secure broker, recording what it receives by topic."""

    login: str | None
    client: mqtt.Client
    received: list[tuple[str, bytes]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def subscribe(self, *filters: str) -> list[int]:
        """Subscribe and return the SUBACK reason codes (a refused filter may still answer 'granted')."""
        done = threading.Event()
        codes: list[int] = []

        def on_subscribe(_c: mqtt.Client, _u: Any, _mid: int, reasons: list[ReasonCode], _p: Any) -> None:
            codes.extend(int(r.value) for r in reasons)
            done.set()

        self.client.on_subscribe = on_subscribe
        self.client.subscribe([(f, 1) for f in filters])
        assert done.wait(5), "no SUBACK"
        return codes

    def publish(self, topic: str, payload: bytes | str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def wait_for(self, topic: str, timeout: float = 10.0) -> list[tuple[str, bytes]]:
        """Wait until a message on ``topic`` arrived; return everything received so far."""
        with self.changed:
            if not self.changed.wait_for(lambda: any(t == topic for t, _ in self.received), timeout):
                raise AssertionError(f"{self.login}: nothing on {topic} within {timeout}s; got {self.received}")
            return list(self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect(
    secure: SecureBroker,
    login: str | None,
    *,
    password: str | None = None,
    tls: bool = True,
    ca_file: Path | None = None,
    port: int | None = None,
) -> Client:
    """Connect and wait for the CONNACK; raise ConnectRefused (with the reason) when refused or the TLS
    handshake fails."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{login or 'anon'}-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
    )
    if login is not None:
        client.username_pw_set(login, password if password is not None else secure.passwords[login])
    if tls:
        client.tls_set(ca_certs=str(ca_file or secure.ca_file), cert_reqs=ssl.CERT_REQUIRED)
    wrapper = Client(login, client)
    outcome: list[str] = []
    answered = threading.Event()

    def on_connect(_c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        outcome.append(str(reason))
        answered.set()

    def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        with wrapper.changed:
            wrapper.received.append((message.topic, bytes(message.payload)))
            wrapper.changed.notify_all()

    def on_disconnect(_c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        outcome.append(f"disconnected: {reason}")
        answered.set()

    client.on_connect = on_connect
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    try:
        client.connect(secure.host, port or secure.tls_port, keepalive=10)
    except (OSError, ssl.SSLError) as exc:
        raise ConnectRefused(f"{type(exc).__name__}: {exc}") from exc
    client.loop_start()
    if not answered.wait(5) or outcome != ["Success"]:
        client.loop_stop()
        raise ConnectRefused(outcome[0] if outcome else "no CONNACK")
    return wrapper
