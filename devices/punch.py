"""A punch as it leaves a driver: normalised, zoned, keyed."""

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from presensi.contract import punch_key


@dataclass(frozen=True, slots=True)
class Punch:
    terminal_sn: str
    pin: str
    local_time: datetime  # naive terminal wall time: the legal record
    zone: str
    utc: datetime
    status: int
    punch: int
    verify: int | None
    workcode: int
    key: str

    @classmethod
    def from_device(
        cls,
        terminal_sn: str,
        zone: ZoneInfo,
        pin: str,
        local_time: datetime,
        status: int,
        punch: int,
        workcode: int = 0,
        verify: int | None = None,
    ) -> "Punch":
        """Attach serial, zone, UTC instant and the idempotency key to what the terminal recorded."""
        return cls(
            terminal_sn=terminal_sn,
            pin=pin,
            local_time=local_time,
            zone=zone.key,
            utc=local_time.replace(tzinfo=zone).astimezone(UTC),
            status=status,
            punch=punch,
            verify=punch if verify is None else verify,
            workcode=workcode,
            key=punch_key(terminal_sn, pin, local_time, status),
        )
