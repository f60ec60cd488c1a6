"""Message models of contract v1. JSON on the wire, UTF-8, one message per MQTT publish.

Rules every model follows:
- ``v`` is the contract version; a receiver refuses a version it does not know.
- Unknown fields are refused (``extra="forbid"``): a typo must not silently lose data.
- UTC instants are timezone-aware ISO 8601; terminal-local times are naive ISO 8601 and always
  travel with the terminal's IANA zone.
"""

from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NaiveDatetime,
    model_validator,
)

from presensi.contract.keys import punch_key
from presensi.contract.topics import EDGE_ID_PATTERN
from presensi.zones import ZoneName

CONTRACT_VERSION = 1
MAX_PUNCHES_PER_BATCH = 5000

EdgeId = Annotated[str, Field(pattern=EDGE_ID_PATTERN)]
TerminalSerial = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^|\s]+$")]
Pin = Annotated[str, Field(min_length=1, max_length=24, pattern=r"^[^|\s]+$")]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1


class PunchFlag(StrEnum):
    """Why the edge doubts a punch. Flagged punches are delivered, never dropped (decision 3)."""

    CLOCK_RESET = "clock_reset"  # timestamp near 2000-01-01: the terminal lost power and its clock
    BEFORE_INSTALL = "before_install"  # earlier than the terminal's configured installation date
    FUTURE = "future"  # later than the edge's own clock allows
    CLOCK_DRIFT = "clock_drift"  # the terminal clock was off by more than the threshold when read


class PunchRecord(BaseModel):
    """One punch as the terminal recorded it, normalised by the edge."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(description="Idempotency key: SERIAL|PIN|YYYYMMDDTHHMMSS|STATUS")
    terminal_sn: TerminalSerial
    pin: Pin
    local_time: NaiveDatetime = Field(description="Terminal-local wall time, the legal record")
    zone: ZoneName = Field(description="IANA zone of the terminal, e.g. Asia/Jakarta")
    utc: AwareDatetime = Field(description="local_time interpreted in zone, as UTC")
    status: int = Field(ge=0, le=255, description="Attendance state key (0 check-in, 1 check-out, ...)")
    punch: int = Field(ge=0, le=255, description="Punch/verify code as the terminal reports it")
    verify: int | None = Field(default=None, ge=0, le=255, description="Verification mode if known")
    workcode: int = Field(default=0, ge=0)
    read_at: AwareDatetime = Field(description="When the edge read the punch from the terminal")
    flags: tuple[PunchFlag, ...] = ()
    historical: bool = Field(
        default=False, description="Replayed long after it happened: the hub recomputes, never overwrites"
    )

    @model_validator(mode="after")
    def _consistent(self) -> "PunchRecord":
        expected = punch_key(self.terminal_sn, self.pin, self.local_time, self.status)
        if self.key != expected:
            raise ValueError(f"key {self.key!r} does not match the punch fields (expected {expected!r})")
        local_as_utc = self.local_time.replace(tzinfo=ZoneInfo(self.zone))
        if abs((local_as_utc - self.utc).total_seconds()) > 0:
            raise ValueError(f"utc {self.utc.isoformat()} is not local_time {self.local_time} in {self.zone}")
        return self


class PunchBatch(_Message):
    """Edge -> hub on ``.../punches``. Resent unchanged (same ``batch_id`` and ``seq``) until acked."""

    edge_id: EdgeId
    batch_id: str = Field(min_length=1, max_length=80)
    seq: int = Field(ge=1, description="Per-edge batch sequence; gaps tell the hub a batch is missing")
    session: int = Field(ge=0, description="The edge's birth counter this batch was first sent under")
    sent_at: AwareDatetime
    punches: tuple[PunchRecord, ...] = Field(min_length=1, max_length=MAX_PUNCHES_PER_BATCH)


class RejectedPunch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    reason: str


class BatchAck(_Message):
    """Hub -> edge on ``.../ack``, published only after the batch is committed (decision 2)."""

    edge_id: EdgeId
    batch_id: str
    seq: int = Field(ge=1)
    stored: int = Field(ge=0, description="Punches newly stored by this batch")
    duplicates: int = Field(ge=0, description="Punches the hub already had (a resend)")
    rejected: tuple[RejectedPunch, ...] = Field(
        default=(), description="Punches kept in the hub's dead-letter store instead of the punch table"
    )
    committed_at: AwareDatetime


class EdgeStatus(_Message):
    """Retained on ``.../status``: "online" at connect (birth), "offline" as Last Will or at shutdown."""

    edge_id: EdgeId
    state: Literal["online", "offline"]
    session: int = Field(ge=0, description="Incremented at every agent start (Sparkplug bdSeq)")
    ts: AwareDatetime
    reason: Literal["connected", "shutdown", "connection_lost"]
    agent_version: str
    terminals: tuple[TerminalSerial, ...] = ()


class TerminalHealth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    terminal_sn: str = Field(description="Serial as read from the device, or the configured name before first contact")
    name: str
    reachable: bool
    last_poll: AwareDatetime | None = None
    last_success: AwareDatetime | None = None
    records: int | None = Field(default=None, ge=0)
    record_capacity: int | None = Field(default=None, ge=0)
    users: int | None = Field(default=None, ge=0)
    drift_seconds: float | None = Field(default=None, description="terminal clock minus edge clock")
    last_error: str | None = None


class BufferHealth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pending: int = Field(ge=0, description="Read from terminals, not yet published")
    sent: int = Field(ge=0, description="Published, waiting for the hub's ack")
    acknowledged: int = Field(ge=0, description="Acked by the hub, kept for the retention period")
    oldest_unacked: AwareDatetime | None = None
    disk_bytes: int = Field(ge=0)
    disk_budget_bytes: int = Field(ge=0)
    budget_reached: bool


class EdgeHealth(_Message):
    """Edge -> hub on ``.../health`` every heartbeat interval (not retained)."""

    edge_id: EdgeId
    session: int = Field(ge=0)
    ts: AwareDatetime
    uptime_seconds: float = Field(ge=0)
    last_seq: int = Field(ge=0, description="Highest batch seq sent so far: a gap check for the hub")
    buffer: BufferHealth
    terminals: tuple[TerminalHealth, ...]


class _CommandBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    terminal_sn: str | None = Field(default=None, description="One terminal, or all of the edge's terminals")


class SyncClock(_CommandBody):
    """Set the terminal clock to the edge's clock now (the only way a clock is written on demand)."""

    kind: Literal["sync_clock"] = "sync_clock"


class ResendRange(_CommandBody):
    """Publish again every buffered punch with its UTC instant in [since, until)."""

    kind: Literal["resend_range"] = "resend_range"
    since: AwareDatetime
    until: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> "ResendRange":
        if self.until <= self.since:
            raise ValueError("until must be after since")
        return self


class RereadUsers(_CommandBody):
    """Read the user roster of the terminal(s) again and report it."""

    kind: Literal["reread_users"] = "reread_users"


class Command(_Message):
    """Hub -> edge on ``.../command``. Commands are idempotent by ``command_id``."""

    command_id: str = Field(min_length=1, max_length=80)
    issued_at: AwareDatetime
    issued_by: str = Field(description="The hub user who asked, for the audit trail")
    expires_at: AwareDatetime | None = None
    body: Annotated[SyncClock | ResendRange | RereadUsers, Field(discriminator="kind")]


class CommandResult(_Message):
    """Edge -> hub on ``.../command/result``."""

    edge_id: EdgeId
    command_id: str
    ok: bool
    detail: str = ""
    finished_at: AwareDatetime


__all__ = [
    "CONTRACT_VERSION",
    "MAX_PUNCHES_PER_BATCH",
    "BatchAck",
    "BufferHealth",
    "Command",
    "CommandResult",
    "EdgeHealth",
    "EdgeStatus",
    "PunchBatch",
    "PunchFlag",
    "PunchRecord",
    "RejectedPunch",
    "RereadUsers",
    "ResendRange",
    "SyncClock",
    "TerminalHealth",
]
