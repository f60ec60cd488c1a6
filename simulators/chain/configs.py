"""Config files for a chain run: the broker's logins and ACL, the hub's and each edge's TOML.

Everything the hub and the edges need to know about the broker comes out of ``broker_client_settings``,
one function, so that a change in how they must connect (TLS, an ``allow_insecure`` switch for a test
broker without it, other credentials) is made in one place for both.
"""

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

HUB_LOGIN = "presensi-hub"  # the hub's login in deploy/mosquitto/acl
# The ACL production brokers use: the chain runs under the same rules (edge login = edge id).
DEPLOY_ACL = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "acl"
PBKDF2_ITERATIONS = 101  # what mosquitto_passwd writes for its $7$ (PBKDF2-SHA512) hashes


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class BrokerPlan:
    """How clients reach the broker: where, and (when auth is on) with which login per client."""

    host: str
    port: int
    auth: bool
    logins: dict[str, Login]  # "hub" and each edge id

    def login_for(self, who: str) -> Login | None:
        return self.logins.get(who) if self.auth else None


def plan_broker(host: str, port: int, *, auth: bool, edge_ids: list[str]) -> BrokerPlan:
    logins = {who: Login(who, secrets.token_urlsafe(18)) for who in [HUB_LOGIN, *edge_ids]}
    return BrokerPlan(host, port, auth, logins)


def mosquitto_password_line(login: Login, *, salt: bytes | None = None) -> str:
    """A mosquitto 2 password-file line, as ``mosquitto_passwd`` writes it (no need for the tool)."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", login.password.encode(), salt, PBKDF2_ITERATIONS)
    encoded = f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    return f"{login.username}:{encoded}"


def mosquitto_acl() -> str:
    """Per-edge rights as deploy/mosquitto/acl ships them: an edge writes only under its own id and reads only
    its own acks and commands (the login name is the edge id); the hub reads every edge's messages and writes
    acks and commands."""
    return DEPLOY_ACL.read_text()


def write_broker_auth(plan: BrokerPlan, directory: Path) -> str:
    """Write the password file and ACL for ``plan``; returns the Mosquitto config lines that use them."""
    if not plan.auth:
        return ""
    directory.mkdir(parents=True, exist_ok=True)
    passwords = directory / "passwords"
    passwords.write_text("".join(mosquitto_password_line(login) + "\n" for login in plan.logins.values()))
    passwords.chmod(0o600)
    acl = directory / "acl"
    acl.write_text(mosquitto_acl())
    return f"password_file {passwords}\nacl_file {acl}\n"


def broker_client_settings(plan: BrokerPlan, who: str, *, client: Literal["hub", "edge"]) -> dict[str, Any]:
    """The ``[mqtt]`` (hub) or ``[broker]`` (edge) section for client ``who``. The one place to adapt
    when hub or edge need more to connect (TLS, an explicit allow-insecure switch for a test broker)."""
    section: dict[str, Any] = {"host": plan.host, "port": plan.port}
    login = plan.login_for(who)
    if login is not None:
        section["username"] = login.username
        section["password"] = login.password
    # A private broker on loopback without TLS (with logins when ``plan.auth``): hub and edge refuse such a
    # broker unless told that this is on purpose.
    section["allow_insecure"] = True
    if client == "edge":
        # Short keepalive and reconnect delays: the harness cuts the network and wants recovery in seconds.
        section.update({"keepalive_seconds": 5, "reconnect_min_seconds": 0.5, "reconnect_max_seconds": 5.0})
    else:
        section["keepalive_seconds"] = 5
    return section


def hub_config(
    plan: BrokerPlan,
    *,
    store_url: str,
    store_schema: str | None,
    api_port: int,
    client_id: str,
    ekinerja_url: str | None = None,
    ekinerja_token: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    database: dict[str, Any] = {"url": store_url}
    if store_schema:
        database["schema"] = store_schema
    config: dict[str, Any] = {
        "database": database,
        "mqtt": {**broker_client_settings(plan, HUB_LOGIN, client="hub"), "client_id": client_id},
        "api": {"host": "127.0.0.1", "port": api_port},
    }
    if ekinerja_url:
        # Polled every second and retried within seconds: a receiver outage in a test is seconds long.
        config["ekinerja"] = {
            "url": ekinerja_url,
            "token": ekinerja_token or "",
            "poll_seconds": 1.0,
            "first_backoff_seconds": 1.0,
            "max_backoff_seconds": 10.0,
        }
    return merge(config, extra or {})


@dataclass(frozen=True, slots=True)
class TerminalEndpoint:
    serial: str
    host: str
    port: int
    zone: str


# Terminals run on the simulated clock (last week, at speed), the edge on the real one: the difference is
# not drift, and punches of last week are not "historical" backlog. Both limits are set past a simulated run.
SIMULATED_CLOCK_TOLERANCE_SECONDS = 90 * 86_400


def edge_config(
    plan: BrokerPlan,
    edge_id: str,
    terminals: list[TerminalEndpoint],
    *,
    buffer_path: Path,
    broker_host: str,
    broker_port: int,
    live_capture: bool,
    poll_interval_seconds: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    broker = broker_client_settings(plan, edge_id, client="edge")
    broker.update({"host": broker_host, "port": broker_port})  # a proxy may sit in between
    config: dict[str, Any] = {
        "edge_id": edge_id,
        "log_level": "INFO",
        "broker": broker,
        "buffer": {"path": str(buffer_path)},
        "publisher": {
            "batch_max_age_seconds": 0.3,
            "ack_timeout_seconds": 10.0,
            "heartbeat_seconds": 5.0,
            "flush_on_stop_seconds": 5.0,
            "historical_after_seconds": SIMULATED_CLOCK_TOLERANCE_SECONDS,
        },
        "terminals": [
            {
                "name": t.serial,
                "host": t.host,
                "port": t.port,
                "transport": "tcp",
                "zone": t.zone,
                "timeout_seconds": 5.0,
                "poll_interval_seconds": poll_interval_seconds,
                "full_read_interval_seconds": 60.0,
                "live_capture": live_capture,
                "installed_on": date(2001, 1, 1),
                "clock": {
                    "max_drift_seconds": SIMULATED_CLOCK_TOLERANCE_SECONDS,
                    "future_tolerance_seconds": 300,
                },
            }
            for t in terminals
        ],
    }
    return merge(config, extra or {})


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` merged into ``base`` table by table (a spec's hub_extra/edge_extra)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def to_toml(data: dict[str, Any]) -> str:
    """TOML for the plain configs above: scalars, dates, tables and arrays of tables."""
    lines: list[str] = []
    _emit(data, [], lines)
    return "\n".join(lines) + "\n"


def _emit(table: dict[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and not _is_table_array(v)}
    for key, value in scalars.items():
        lines.append(f"{key} = {_value(value)}")
    for key, value in table.items():
        if isinstance(value, dict):
            lines.append("")
            lines.append(f"[{'.'.join([*path, key])}]")
            _emit(value, [*path, key], lines)
        elif _is_table_array(value):
            for item in value:
                lines.append("")
                lines.append(f"[[{'.'.join([*path, key])}]]")
                _emit(item, [*path, key], lines)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str | Path):
        text = str(value).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{text}"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
