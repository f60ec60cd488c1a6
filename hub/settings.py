"""Hub settings: a TOML file, overridden by ``PRESENSI_HUB_*`` environment variables, validated at start.

A wrong value stops the hub with a message naming the key, the file and the environment variable that
could have set it, so an operator can fix it without reading code (the Frigate habit).
"""

import socket
import tomllib
from contextvars import ContextVar
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from presensi.broker_security import require_secure_broker

ENV_PREFIX = "PRESENSI_HUB_"
FAILED_AUTH_LIMIT = "20/minute"
ENV_NESTED_DELIMITER = "__"

_config_file: ContextVar[Path | None] = ContextVar("_config_file", default=None)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Section):
    url: str = Field(
        default="sqlite:///var/hub.db",
        description="sqlite:///path/to/hub.db (embedded) or postgresql://user@host:5432/db (production)",
    )
    db_schema: str | None = Field(
        default=None,
        alias="schema",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema to keep the hub's tables in (search_path); None for the default",
    )
    pool_size: int = Field(default=10, ge=1, le=200)

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        if not url.startswith(("sqlite:", "sqlite+aiosqlite:", "postgresql:", "postgresql+asyncpg:")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return url


class MqttTlsSettings(_Section):
    ca_file: Path | None = Field(default=None, description="The CA that signed the broker's certificate")
    cert_file: Path | None = Field(default=None, description="A client certificate, if the broker asks for one")
    key_file: Path | None = None
    insecure: bool = Field(default=False, description="Skip the hostname check (test brokers only)")


class MqttSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = Field(default=None, description="Better in PRESENSI_HUB_MQTT__PASSWORD")
    tls: MqttTlsSettings | None = None
    allow_insecure: bool = Field(
        default=False, description="Connect without a login or TLS: private test brokers only, never in production"
    )
    client_id: str = Field(
        default_factory=lambda: f"presensi-hub-{socket.gethostname()}",
        min_length=1,
        max_length=128,
        description="Stable across restarts: the broker keeps the session (and unacked punches) by it",
    )
    group: str = Field(default="presensi-ingest", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    session_expiry_seconds: int = Field(default=86_400, ge=0)
    keepalive_seconds: int = Field(default=30, ge=5, le=3600)

    def require_secure(self, config_file: Path | str | None = None) -> None:
        """Raise InsecureBroker unless the connection has a login and TLS (or ``allow_insecure`` is set)."""
        require_secure_broker(
            section="mqtt",
            username=self.username,
            has_password=self.password is not None and bool(self.password.get_secret_value()),
            has_tls=self.tls is not None,
            allow_insecure=self.allow_insecure,
            host=self.host,
            port=self.port,
            config_file=config_file,
        )


class IngestSettings(_Section):
    max_wait_ms: int = Field(default=50, ge=1, le=10_000, description="Longest a message waits for its batch")
    max_punches: int = Field(default=10_000, ge=1, le=200_000, description="Commit once this many punches wait")
    max_messages: int = Field(
        default=500,
        ge=1,
        le=65_535,
        description="Commit once this many messages wait; keep below the broker's in-flight limit",
    )


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    failed_auth_limit: str = Field(
        default=FAILED_AUTH_LIMIT,
        description="Unknown or revoked bearer tokens allowed per client address in a moving window "
        "('20/minute', '100/hour'); beyond it every token from that address is answered 429 until the window passes",
    )

    @field_validator("failed_auth_limit")
    @classmethod
    def _parsable_limit(cls, value: str) -> str:
        from limits import parse

        parse(value)  # raises ValueError naming what it could not read
        return value


class EkinerjaSettings(_Section):
    """Where and how the outbox is delivered to e-Kinerja (docs/ekinerja-feed.md)."""

    url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="The submissions endpoint; None keeps records queued (pending) without sending them",
    )
    token: SecretStr | None = Field(default=None, description="Bearer token e-Kinerja issued to this region")
    batch_size: int = Field(default=200, ge=1, le=500, description="Records per POST (the receiver takes 500)")
    timeout_seconds: float = Field(default=15.0, gt=0, le=300, description="One POST, connect to last byte")
    first_backoff_seconds: float = Field(default=10.0, gt=0, le=3600, description="Wait after the first failure")
    max_backoff_seconds: float = Field(
        default=1800.0, gt=0, le=86_400, description="The wait doubles per failed attempt up to this"
    )
    poll_seconds: float = Field(default=5.0, gt=0, le=3600, description="How often the dispatcher looks for work")
    lease_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="How long the dispatcher lease lasts unless renewed"
    )
    retention_days: int = Field(
        default=90, ge=1, le=3650, description="Sent and superseded records older than this are pruned"
    )

    @model_validator(mode="after")
    def _lease_outlasts_a_post(self) -> "EkinerjaSettings":
        if self.lease_seconds <= 2 * self.timeout_seconds:
            raise ValueError("lease_seconds must be more than twice timeout_seconds (a POST must end inside it)")
        if self.max_backoff_seconds < self.first_backoff_seconds:
            raise ValueError("max_backoff_seconds must not be below first_backoff_seconds")
        return self


class RecomputeSettings(_Section):
    automatic: bool = Field(
        default=True,
        description="`hub run` processes the days marked for recompute by itself (late punches, registry changes)",
    )
    interval_seconds: float = Field(default=60.0, gt=0, le=86_400, description="Pause between two passes")
    lease_seconds: float = Field(
        default=300.0,
        ge=1,
        le=86_400,
        description="How long a dead pass's lease blocks other runs; renewed every third of it while alive",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Worker processes for a recompute of more than 1,000 employees; default one per core, at most 8",
    )


class DashboardSettings(_Section):
    time_zone: str = Field(
        default="Asia/Jakarta",
        description="IANA zone whose calendar date is 'today' on the Today page (Asia/Jakarta, Asia/Makassar, ...)",
    )
    session_hours: float = Field(default=12, gt=0, le=24 * 30, description="A sign-in lasts this long")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {zone!r}") from None
        return zone


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        populate_by_name=True,
    )

    database: DatabaseSettings = DatabaseSettings()
    mqtt: MqttSettings = MqttSettings()
    ingest: IngestSettings = IngestSettings()
    api: ApiSettings = ApiSettings()
    ekinerja: EkinerjaSettings = EkinerjaSettings()
    recompute: RecomputeSettings = RecomputeSettings()
    dashboard: DashboardSettings = DashboardSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file, so a deployment can override one value without editing it.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


class SettingsError(Exception):
    """Settings that cannot be used; the message is meant for the operator as is."""


def load_settings(path: Path | None = None) -> HubSettings:
    """Read ``path`` (TOML) and the environment; raise SettingsError naming every wrong key."""
    if path is not None:
        if not path.is_file():
            raise SettingsError(f"config file {path} does not exist")
        try:
            with path.open("rb") as handle:
                tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    token = _config_file.set(path)
    try:
        return HubSettings()
    except ValidationError as exc:
        raise SettingsError(_describe(exc, path)) from None
    finally:
        _config_file.reset(token)


def _describe(exc: ValidationError, path: Path | None) -> str:
    where = str(path) if path is not None else "the environment"
    lines = [f"invalid hub settings in {where}:"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        env = ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(part).upper() for part in error["loc"])
        given = f" (got {error['input']!r})" if not isinstance(error["input"], dict) else ""
        lines.append(f"  {key}: {error['msg']}{given}  [file key {key!r} or env {env}]")
    return "\n".join(lines)
