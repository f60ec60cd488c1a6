"""Simulated time: a world clock that can run faster than real time, and terminal clocks on it.

The world clock is UTC and shared by a whole simulated fleet, so a working day can pass in a
minute. Each terminal shows local wall time from that clock, plus its own offset and drift,
which is what set_time changes and what a power loss resets.
"""

import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

POWER_LOSS_TIME = datetime(2000, 1, 1, 0, 0, 0)


class SimClock:
    """World time (aware UTC) running ``speed`` times faster than the host's monotonic clock."""

    def __init__(self, start: datetime | None = None, speed: float = 1.0) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("SimClock start must be timezone-aware")
        self._lock = threading.Lock()
        self._anchor_world = (start or datetime.now(UTC)).astimezone(UTC)
        self._anchor_mono = time.monotonic()
        self._speed = speed

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        with self._lock:
            elapsed = time.monotonic() - self._anchor_mono
            return self._anchor_world + timedelta(seconds=elapsed * self._speed)

    def set_speed(self, speed: float) -> None:
        """Change speed from now on without a jump in world time."""
        if speed <= 0:
            raise ValueError("speed must be positive")
        current = self.now()
        with self._lock:
            self._anchor_world, self._anchor_mono, self._speed = current, time.monotonic(), speed

    def jump(self, delta: timedelta) -> None:
        """Move world time (e.g. skip a night) without changing speed."""
        with self._lock:
            self._anchor_world += delta

    def real_seconds(self, world_seconds: float) -> float:
        return world_seconds / self._speed


class TerminalClock:
    """A terminal's local wall clock: world time in its zone, plus an offset that drifts."""

    def __init__(self, world: SimClock, zone: str, offset_seconds: float = 0.0, drift_ppm: float = 0.0) -> None:
        self.world = world
        self.zone = ZoneInfo(zone)
        self._lock = threading.Lock()
        self._offset = offset_seconds
        self._drift_ppm = drift_ppm
        self._drift_since = world.now()

    def _true_local(self) -> datetime:
        return self.world.now().astimezone(self.zone).replace(tzinfo=None)

    @property
    def offset_seconds(self) -> float:
        """Terminal time minus true local time, including accumulated drift."""
        with self._lock:
            drifted = (self.world.now() - self._drift_since).total_seconds() * self._drift_ppm / 1e6
            return self._offset + drifted

    @property
    def drift_ppm(self) -> float:
        return self._drift_ppm

    def now(self) -> datetime:
        """Local wall time the terminal shows, to the second as a real one keeps it."""
        return self.at(self.world.now())

    def at(self, instant: datetime) -> datetime:
        """What the terminal's clock shows (showed) at world ``instant`` with its current offset."""
        true_local = instant.astimezone(self.zone).replace(tzinfo=None)
        # A ZK clock counts from 2000-01-01 and cannot show anything earlier: a workforce punch planned a few
        # seconds before a power loss and recorded after it would otherwise read 1999-12-31, which the log
        # encoding turns into 2099 (its key then differs from the journal's).
        return max(POWER_LOSS_TIME, (true_local + timedelta(seconds=self.offset_seconds)).replace(microsecond=0))

    def set(self, local: datetime) -> None:
        """What CMD_SET_TIME does: the terminal now shows ``local``; drift starts again from here."""
        with self._lock:
            self._offset = (local - self._true_local()).total_seconds()
            self._drift_since = self.world.now()

    def set_drift(self, ppm: float) -> None:
        with self._lock:
            current = self._offset + (self.world.now() - self._drift_since).total_seconds() * self._drift_ppm / 1e6
            self._offset, self._drift_since, self._drift_ppm = current, self.world.now(), ppm

    def power_loss(self) -> None:
        """The RTC battery is flat: the clock restarts at 2000-01-01 00:00:00."""
        self.set(POWER_LOSS_TIME)
