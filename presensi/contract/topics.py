"""Topic names of contract v1, as values rather than f-strings scattered through the code.

Every edge owns the subtree ``presensi/v1/edge/<edge_id>/``. That keeps broker ACLs simple (an
edge may publish only below its own id and read only its own ``ack`` and ``command``) and lets
the hub spread punch ingest over several workers with one MQTT 5 shared subscription.
"""

from dataclasses import dataclass

ROOT = "presensi/v1"
EDGE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


@dataclass(frozen=True, slots=True)
class EdgeTopics:
    """The topics of one edge agent."""

    edge_id: str

    @property
    def base(self) -> str:
        return f"{ROOT}/edge/{self.edge_id}"

    @property
    def punches(self) -> str:
        """Edge -> hub: punch batches (QoS 1)."""
        return f"{self.base}/punches"

    @property
    def ack(self) -> str:
        """Hub -> edge: a batch was committed (QoS 1)."""
        return f"{self.base}/ack"

    @property
    def status(self) -> str:
        """Edge -> all: retained birth ("online") and, as Last Will, death ("offline")."""
        return f"{self.base}/status"

    @property
    def health(self) -> str:
        """Edge -> hub: periodic heartbeat with buffer and terminal health."""
        return f"{self.base}/health"

    @property
    def command(self) -> str:
        """Hub -> edge: operator commands (QoS 1)."""
        return f"{self.base}/command"

    @property
    def command_result(self) -> str:
        """Edge -> hub: the outcome of a command."""
        return f"{self.base}/command/result"


@dataclass(frozen=True, slots=True)
class HubSubscriptions:
    """What the hub subscribes to. ``group`` names the MQTT 5 shared-subscription group."""

    group: str = "presensi-ingest"

    @property
    def punches(self) -> str:
        """Shared: each batch goes to exactly one ingest worker of the group."""
        return f"$share/{self.group}/{ROOT}/edge/+/punches"

    @property
    def punches_unshared(self) -> str:
        """For MQTT 3.1.1 brokers or a single worker."""
        return f"{ROOT}/edge/+/punches"

    @property
    def status(self) -> str:
        return f"{ROOT}/edge/+/status"

    @property
    def health(self) -> str:
        return f"{ROOT}/edge/+/health"

    @property
    def command_results(self) -> str:
        return f"{ROOT}/edge/+/command/result"


def edge_id_from_topic(topic: str) -> str:
    """Return the edge id of any topic below ``presensi/v1/edge/<edge_id>/``.

    Raises ValueError for a topic outside the contract, so callers can dead-letter it.
    """
    parts = topic.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != ROOT or parts[2] != "edge" or not parts[3]:
        raise ValueError(f"topic {topic!r} is not below {ROOT}/edge/<edge_id>/")
    return parts[3]
