"""Edge agent settings: one TOML file describes the edge, its broker, buffer and terminals.

Validated with pydantic; environment variables (prefix ``PRESENSI_EDGE_``, nested with ``__``)
override the file, so secrets such as the broker password need not live in it. A bad value is
reported with the file and the dotted key, e.g. ``edge.toml: terminals.1.zone: unknown IANA zone``.
"""

import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from presensi.broker_security import require_secure_broker
from presensi.contract.topics import EDGE_ID_PATTERN
from presensi.zones import ZoneName


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file and every bad key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TlsSettings(_Section):
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = Field(default=False, description="Skip hostname checks (test brokers only)")


class BrokerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8883, ge=1, le=65535)
    protocol: Literal["5", "3.1.1"] = "5"
    username: str | None = Field(default=None, description="The edge's own login; the broker ACL ties it to edge_id")
    password: SecretStr | None = None
    tls: TlsSettings | None = None
    allow_insecure: bool = Field(
        default=False, description="Connect without a login or TLS: private test brokers only, never in production"
    )
    keepalive_seconds: int = Field(default=30, ge=5, le=3600)
    session_expiry_seconds: int = Field(default=7 * 86400, ge=0, description="How long the broker keeps our queue")
    reconnect_min_seconds: float = Field(default=1.0, gt=0)
    reconnect_max_seconds: float = Field(default=120.0, gt=0)

    def require_secure(self, config_file: Path | str | None = None) -> None:
        """Raise InsecureBroker unless the connection has a login and TLS (or ``allow_insecure`` is set)."""
        require_secure_broker(
            section="broker",
            username=self.username,
            has_password=self.password is not None and bool(self.password.get_secret_value()),
            has_tls=self.tls is not None,
            allow_insecure=self.allow_insecure,
            host=self.host,
            port=self.port,
            config_file=config_file,
        )


class BufferSettings(_Section):
    path: Path = Path("/var/lib/presensi-edge/buffer.sqlite3")
    retention_days: float = Field(default=30, ge=0, description="Keep acknowledged punches this long")
    disk_budget_mb: float = Field(default=512, gt=0)


class PublisherSettings(_Section):
    batch_size: int = Field(default=1000, ge=1, le=5000)
    batch_max_age_seconds: float = Field(default=1.0, gt=0, description="Send a partial batch after this long")
    ack_timeout_seconds: float = Field(default=30.0, gt=0, description="Resend a batch not acked within this")
    max_inflight_batches: int = Field(default=20, ge=1)
    historical_after_seconds: float = Field(default=3600, ge=0, description="Older punches are flagged historical")
    heartbeat_seconds: float = Field(default=30.0, gt=0)
    flush_on_stop_seconds: float = Field(default=10.0, ge=0, description="Wait this long for acks at SIGTERM")


class ClockSettings(_Section):
    max_drift_seconds: float = Field(default=120, gt=0, description="Beyond this the clock is reported as drifting")
    auto_correct: bool = Field(default=False, description="Set the terminal clock when it drifts (off: never silently)")
    future_tolerance_seconds: float = Field(default=300, ge=0)


class ClearLogSettings(_Section):
    enabled: bool = False
    fill_above: float = Field(default=0.8, gt=0, le=1, description="Clear only when the log is fuller than this")


class TerminalSettings(_Section):
    name: str = Field(min_length=1, max_length=64)
    host: str
    port: int = Field(default=4370, ge=1, le=65535)
    transport: Literal["tcp", "udp", "auto"] = "auto"
    comm_key: int = Field(default=0, ge=0, le=999999)
    zone: ZoneName = "Asia/Jakarta"
    timeout_seconds: float = Field(default=10.0, gt=0)
    poll_interval_seconds: float = Field(default=15.0, gt=0)
    full_read_interval_seconds: float = Field(
        default=900.0, gt=0, description="Re-read the whole log this often even when its size did not change"
    )
    live_capture: bool = False
    record_layout: Literal["auto", "8", "8-zem500", "16", "40"] = "auto"
    installed_on: date = date(2001, 1, 1)
    clock: ClockSettings = ClockSettings()
    clear_log: ClearLogSettings = ClearLogSettings()


class EdgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRESENSI_EDGE_", env_nested_delimiter="__", extra="forbid")

    edge_id: str = Field(pattern=EDGE_ID_PATTERN)
    broker: BrokerSettings = BrokerSettings()
    buffer: BufferSettings = BufferSettings()
    publisher: PublisherSettings = PublisherSettings()
    terminals: list[TerminalSettings] = Field(min_length=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _unique_terminals(self) -> "EdgeSettings":
        names = [t.name for t in self.terminals]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"terminal names must be unique; repeated: {duplicates}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file, so a secret can be injected by systemd.
        return env_settings, init_settings


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        given = f" (got {error['input']!r})" if error["type"] not in ("missing",) and key != "(top level)" else ""
        lines.append(f"{source}: {key}: {message}{given}")
    return "\n".join(lines)


def load_settings(path: Path) -> EdgeSettings:
    """Read and validate ``path``; raises ConfigError naming the file and the keys."""
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return EdgeSettings(**raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from exc
