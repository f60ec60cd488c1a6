"""The one rule hub and edge share about their broker connection: a login and TLS, or an explicit opt-out.

An edge or hub that talks to the broker anonymously or in clear text lets anyone on the network publish
punches under any edge id or read every office's commands. Both refuse to start that way unless the
config says ``allow_insecure = true`` (tests, the demo and benchmarks on a private loopback broker).
"""

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import SecretStr

if TYPE_CHECKING:  # settings import this module; only the connecting code needs paho
    import paho.mqtt.client as mqtt


class InsecureBroker(ValueError):
    """The broker settings lack a login or TLS and ``allow_insecure`` is not set; the message says how to fix it."""


def insecure_broker_problems(*, username: str | None, has_password: bool, has_tls: bool) -> list[str]:
    """What is missing for a secured connection (empty when nothing is)."""
    problems = []
    if not username or not has_password:
        problems.append("no username/password (the broker must refuse anonymous clients)")
    if not has_tls:
        problems.append("no TLS (the password and every punch would cross the network in clear text)")
    return problems


def require_secure_broker(
    *,
    section: str,
    username: str | None,
    has_password: bool,
    has_tls: bool,
    allow_insecure: bool,
    host: str,
    port: int,
    config_file: Path | str | None = None,
) -> None:
    """Raise InsecureBroker naming the keys to set (and the file, when known) unless the connection is secured."""
    if allow_insecure:
        return
    problems = insecure_broker_problems(username=username, has_password=has_password, has_tls=has_tls)
    if not problems:
        return
    where = f" in {config_file}" if config_file is not None else ""
    raise InsecureBroker(
        f"refusing to connect to the broker at {host}:{port}: " + "; ".join(problems) + ". "
        f"Set {section}.username, {section}.password and [{section}.tls] ca_file{where}, "
        f"or, for a private test broker only, {section}.allow_insecure = true{where}."
    )


class TlsFiles(Protocol):
    """The ``tls`` section of the hub's ``[mqtt]`` and the edge's ``[broker]``."""

    @property
    def ca_file(self) -> Path | None: ...
    @property
    def cert_file(self) -> Path | None: ...
    @property
    def key_file(self) -> Path | None: ...
    @property
    def insecure(self) -> bool: ...


def apply_login_and_tls(
    client: "mqtt.Client", *, username: str | None, password: SecretStr | None, tls: TlsFiles | None
) -> None:
    """Give a paho client the connection's login and TLS settings (the secret is read only here)."""
    if username:
        client.username_pw_set(username, password.get_secret_value() if password else None)
    if tls is not None:
        client.tls_set(
            ca_certs=str(tls.ca_file) if tls.ca_file else None,
            certfile=str(tls.cert_file) if tls.cert_file else None,
            keyfile=str(tls.key_file) if tls.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
        client.tls_insecure_set(tls.insecure)
