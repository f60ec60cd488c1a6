"""The MQTT contract between edge agents and the hub, version 1.

Everything that crosses the broker is defined here: topic names (``topics``), the message
models (``messages``) and the punch idempotency key (``keys``). Edge and hub import these and
nothing else, so the wire format lives in one place. ``docs/mqtt-contract.md`` is the prose.
"""

from presensi.contract.keys import punch_key
from presensi.contract.messages import (
    CONTRACT_VERSION,
    BatchAck,
    BufferHealth,
    Command,
    CommandResult,
    EdgeHealth,
    EdgeStatus,
    PunchBatch,
    PunchFlag,
    PunchRecord,
    RejectedPunch,
    RereadUsers,
    ResendRange,
    SyncClock,
    TerminalHealth,
)
from presensi.contract.topics import EdgeTopics, HubSubscriptions

__all__ = [
    "CONTRACT_VERSION",
    "BatchAck",
    "BufferHealth",
    "Command",
    "CommandResult",
    "EdgeHealth",
    "EdgeStatus",
    "EdgeTopics",
    "HubSubscriptions",
    "PunchBatch",
    "PunchFlag",
    "PunchRecord",
    "RejectedPunch",
    "RereadUsers",
    "ResendRange",
    "SyncClock",
    "TerminalHealth",
    "punch_key",
]
