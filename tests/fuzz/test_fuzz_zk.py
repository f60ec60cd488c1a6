"""A misbehaving terminal must not crash or hang the edge: the ZK driver talks to a simulated terminal through a
TCP proxy that mutates the terminal's replies as hypothesis chooses (flipped bytes, cut or padded frames, garbage,
silence, a dropped connection). A poll (connect, identify, clock, log size, log, users) ends, within a bound,
either normally or with one of the driver's errors; never with anything else (found before: an empty PIN)."""

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from devices.driver import DriverError
from devices.punch import Punch
from devices.zk.driver import ZKDriver
from simulators.zk.fleet import Fleet, SimulatedTerminal
from simulators.zk.layouts import Record
from simulators.zk.terminal import Terminal
from tests.fuzz.fuzzkit import budget

BASE = datetime(2026, 11, 2, 7, 0, 0)
CALL_TIMEOUT = 0.5  # the driver's per-call timeout in this test
POLL_BOUND = 30.0  # far beyond what a poll of ~10 calls can take if every timeout holds; only a hang exceeds it

Mutation = tuple[str, int, bytes]  # (kind, number, data)
mutations = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 64), st.binary(min_size=1, max_size=1)),
    st.tuples(st.just("truncate"), st.integers(0, 40), st.just(b"")),
    st.tuples(st.just("append"), st.just(0), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("replace"), st.just(0), st.binary(max_size=64)),
    st.tuples(st.just("silence"), st.just(0), st.just(b"")),
    st.tuples(st.just("close"), st.just(0), st.just(b"")),
)


@dataclass
class MutatingProxy:
    """Forwards the driver's requests unchanged; reply chunk n (counted over all connections) is mutated by
    ``plan[n]`` when present."""

    upstream_port: int
    plan: dict[int, Mutation]
    replies: int = 0
    _listener: socket.socket = field(init=False)
    _sockets: list[socket.socket] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._spawn(self._accept)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                return
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            self._spawn(self._pipe, client, upstream, False)
            self._spawn(self._pipe, upstream, client, True)

    def _pipe(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if replies:
                    with self._lock:
                        index, self.replies = self.replies, self.replies + 1
                    mutation = self.plan.get(index)
                    if mutation is not None:
                        kind, number, extra = mutation
                        if kind == "close":
                            sink.close()
                            source.close()
                            return
                        data = _mutate(data, kind, number, extra)
                if data:
                    sink.sendall(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() a plain close() would leave blocked
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(5)


def _mutate(data: bytes, kind: str, number: int, extra: bytes) -> bytes:
    if kind == "flip" and data:
        at = number % len(data)
        return data[:at] + bytes([data[at] ^ (extra[0] or 0xFF)]) + data[at + 1 :]
    if kind == "truncate":
        return data[: number % (len(data) + 1)]
    if kind == "append":
        return data + extra
    if kind == "replace":
        return extra
    if kind == "silence":
        return b""
    return data


@pytest.fixture(scope="module")
def terminal() -> Iterator[SimulatedTerminal]:
    with Fleet() as fleet:
        device = Terminal("FUZZ0001", profile="zk8")
        for n in range(5):
            device.add_user(str(500 + n), f"Pegawai {n}")
        device.add_user("", "Tanpa PIN")  # uid 6: a user saved without a PIN broke every later poll once
        device.prefill(
            [Record(1 + i % 6, str(500 + i % 5) if i % 6 < 5 else "", BASE + timedelta(seconds=31 * i), i % 2, 1)
             for i in range(40)]
        )  # fmt: skip
        yield fleet.add(device)


def poll(port: int) -> list[Punch]:
    """What the edge's poller does with a terminal, in one go."""
    driver = ZKDriver("127.0.0.1", port, transport="tcp", timeout=CALL_TIMEOUT)
    try:
        driver.connect()
        driver.identify()
        driver.read_clock()
        driver.log_size()
        punches = list(driver.read_log().punches())
        driver.read_users()
        return punches
    finally:
        driver.close()


def _bounded_poll(port: int) -> list[Punch] | DriverError:
    outcome: list[list[Punch] | BaseException] = []

    def run() -> None:
        try:
            outcome.append(poll(port))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(POLL_BOUND)
    assert not worker.is_alive(), f"a poll did not end within {POLL_BOUND} s: the terminal hung the driver"
    (result,) = outcome
    if isinstance(result, BaseException) and not isinstance(result, DriverError):
        raise result  # anything but a driver error would crash the poller
    return result


def test_an_honest_terminal_polls_cleanly_including_the_user_without_pin(terminal: SimulatedTerminal) -> None:
    proxy = MutatingProxy(terminal.port, {})
    try:
        punches = _bounded_poll(proxy.port)
    finally:
        proxy.close()
    assert isinstance(punches, list)
    assert len(punches) == 40
    assert {p.pin for p in punches if p.pin.startswith("uid")} == {"uid6"}


@budget(30)
@given(plan=st.dictionaries(st.integers(0, 14), mutations, min_size=1, max_size=3))
@example(plan={0: ("replace", 0, b"")})
@example(plan={2: ("close", 0, b"")})
@example(plan={3: ("flip", 8, b"\x01")})
@example(plan={4: ("truncate", 10, b"")})
def test_a_misbehaving_terminal_ends_a_poll_with_a_driver_error_at_worst(
    terminal: SimulatedTerminal, plan: dict[int, Mutation]
) -> None:
    proxy = MutatingProxy(terminal.port, plan)
    try:
        _bounded_poll(proxy.port)
    finally:
        proxy.close()
