"""pyzk's live_capture receives punches injected at the terminal, in order, in every event layout it reads."""

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from simulators.zk.fleet import Fleet, SimulatedTerminal
from simulators.zk.layouts import Record
from simulators.zk.terminal import Terminal

from .helpers import connected

pytestmark = pytest.mark.timeout(30)

# profile -> realtime event payload length; all four are the lengths pyzk 0.9 decodes.
EVENT_PROFILES = {"zk6": 12, "zk8-event32": 32, "zk8": 36, "zk8-event52": 52}


@dataclass
class Capture:
    """pyzk's live_capture generator running in its own thread until ``want`` events came."""

    zk: Any
    want: int
    events: list[Any] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    listening: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def run(self) -> None:
        try:
            for event in self.zk.live_capture(new_timeout=0.3):
                if event is None:
                    self.listening.set()  # registered and idle: a timeout tick came round
                else:
                    self.events.append(event)
                if len(self.events) >= self.want:
                    self.zk.end_live_capture = True  # the generator ends on the next pull
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            self.listening.set()

    def start(self) -> "Capture":
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        assert self.listening.wait(5), "live capture never started listening"
        assert not self.errors, self.errors
        return self

    def join(self, timeout: float = 10) -> None:
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"live capture still running with {len(self.events)} events"
        if self.errors:
            raise self.errors[0]


def _terminal(fleet: Fleet, profile: str) -> SimulatedTerminal:
    terminal = Terminal(f"LIVE-{profile}", profile=profile)
    for pin in ("501", "502", "503"):
        terminal.add_user(pin, f"Live {pin}")
    return fleet.add(terminal)


def _punch_all(terminal: Terminal, count: int) -> list[Record]:
    made = []
    for i in range(count):
        record = terminal.punch(("501", "502", "503")[i % 3], (0, 1, 4, 5)[i % 4], verify=(1, 15, 4)[i % 3])
        assert record is not None
        made.append(record)
    return made


@pytest.mark.parametrize("profile", sorted(EVENT_PROFILES))
def test_live_capture_receives_injected_punches_in_order(fleet: Fleet, transport: str, profile: str) -> None:
    handle = _terminal(fleet, profile)
    zk = connected(handle, udp=transport == "udp")
    capture = Capture(zk, want=8).start()
    made = _punch_all(handle.terminal, 8)
    capture.join()
    assert [(e.user_id, e.timestamp, e.status, e.punch) for e in capture.events] == [
        (r.pin, r.timestamp, r.status, r.punch) for r in made
    ]
    assert [e.uid for e in capture.events] == [r.uid for r in made]
    # live capture ended cleanly: the session still answers, and the punches are in the log
    assert [a.user_id for a in zk.get_attendance()] == [r.pin for r in made]
    zk.disconnect()


def test_punches_reach_every_live_client_and_only_once(fleet: Fleet) -> None:
    handle = _terminal(fleet, "zk8")
    captures = [
        Capture(connected(handle, udp=False), want=5).start(),
        Capture(connected(handle, udp=True), want=5).start(),
    ]
    made = _punch_all(handle.terminal, 5)
    for capture in captures:
        capture.join()
        assert [(e.user_id, e.timestamp) for e in capture.events] == [(r.pin, r.timestamp) for r in made]
        capture.zk.disconnect()


def test_punches_after_capture_ended_are_not_pushed(fleet: Fleet, transport: str) -> None:
    handle = _terminal(fleet, "zk8")
    zk = connected(handle, udp=transport == "udp")
    capture = Capture(zk, want=1).start()
    _punch_all(handle.terminal, 1)
    capture.join()
    _punch_all(handle.terminal, 2)  # nobody is registered for events now
    time.sleep(0.2)
    assert zk.get_time() is not None  # an event arriving here would be read as the reply and fail
    assert len(zk.get_attendance()) == 3
    zk.disconnect()


def test_event_layout_pyzk_cannot_read_raises_unbound_local_error(fleet: Fleet) -> None:
    """Firmware with 37-byte events breaks pyzk 0.9's live_capture (pyzk issue 86), as real ones do."""
    handle = _terminal(fleet, "zk8-event37")
    capture = Capture(connected(handle), want=1).start()
    _punch_all(handle.terminal, 1)
    with pytest.raises(UnboundLocalError):
        capture.join()
