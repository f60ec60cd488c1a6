"""The fault suite over the real chain (simulators/chain/chaos.py): every punch made at a terminal is stored
at the hub exactly once, whatever is killed, stopped or cut on the way.

The short version runs in `make test`: one chain on SQLite takes a few edge kills and the tally is checked.
Under `make test-slow` the same chain then takes ingest worker kills, a broker restart, network cuts and
terminal faults one after the other (each test checks the whole tally so far; each fault is covered in
`make test` at its own level), the edge kills run on PostgreSQL too, and the short wrapping log runs (it must
wait for logs to turn over; tests/edge covers a wrapping log in `make test`). The full suite (50 edge
kills, every scenario on both stores, a cut lasting a simulated day) is `make chaos`, or `-m slow` here.
"""

import os
import random
import time
from collections.abc import Iterator

import pytest

from simulators.chain.chaos import (
    DEFAULT_POSTGRES_URL,
    SCENARIOS,
    PunchPump,
    Scale,
    Scenario,
    ScenarioResult,
    base_spec,
    broker_restarts,
    edge_kills,
    ingest_kills,
    network_cuts,
    run_scenario,
    terminal_faults,
)
from simulators.chain.harness import Chain
from tests.hub.hub_testkit import require_postgres

pytestmark = pytest.mark.timeout(1800)

SHORT = Scale.short()


def _postgres_or_skip() -> str:
    return str(require_postgres())


def _check(result: ScenarioResult) -> None:
    assert result.made > 0, result.as_dict()
    assert result.ok, result.as_dict()


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    """One chain for the short faults: two edges behind proxies, the hub and one more ingest worker."""
    spec = base_spec(SHORT, tmp_path_factory.mktemp("chaos") / "run", ingest_workers=1, proxy=True)
    with Chain(spec) as running:
        yield running


@pytest.mark.parametrize(
    "scenario",
    [
        pytest.param(edge_kills, id="edge-kill"),
        # Each of these is covered in `make test` at its own level (tests/hub/test_hub_workers.py kills ingest
        # workers, tests/edge a broker restart and terminal faults, tests/chain a network cut through the proxy);
        # the chain versions run under `make test-slow` and `make chaos` to keep the default run under 10 minutes.
        pytest.param(ingest_kills, id="ingest-kill", marks=pytest.mark.slow),
        pytest.param(broker_restarts, id="broker-restart", marks=pytest.mark.slow),
        pytest.param(network_cuts, id="network-cut", marks=pytest.mark.slow),
        pytest.param(terminal_faults, id="terminal", marks=pytest.mark.slow),
    ],
)
def test_short_fault_loses_and_doubles_nothing(chain: Chain, scenario: Scenario) -> None:
    _check(scenario(chain, "sqlite", SHORT, random.Random(f"short|{scenario.__name__}")))


def test_the_tally_sees_punches_that_have_not_reached_the_hub(chain: Chain) -> None:
    """The check can fail: with every edge stopped, punches made are reported missing until they come back."""
    for edge in chain.edges.values():
        edge.stop()
    pump = PunchPump(chain, 20, seed=3).start()
    deadline = time.monotonic() + 30
    while pump.sent < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    pump.stop()
    tally = chain.tally()
    assert len(tally.missing) >= 5
    assert not tally.complete
    for edge in chain.edges.values():
        edge.start()
    assert chain.wait_until_stored(120).complete


@pytest.mark.slow  # 75 s on a loaded machine; tests/edge/test_edge_terminals.py covers a wrapping log in `make test`
def test_short_log_wrap_loses_and_doubles_nothing() -> None:
    _check(run_scenario("log-wrap", "sqlite", SHORT))


@pytest.mark.slow  # the chain on PostgreSQL is in `make test` through tests/chain (hub killed and restarted)
def test_short_edge_kills_on_postgresql_lose_and_double_nothing() -> None:
    _check(run_scenario("edge-kill", "postgresql", SHORT, postgres_url=_postgres_or_skip()))


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_full_scenario_loses_and_doubles_nothing(name: str, store: str) -> None:
    url = _postgres_or_skip() if store == "postgresql" else DEFAULT_POSTGRES_URL
    scale = Scale.full(float(os.environ.get("PRESENSI_CHAOS_SCALE", "1")))
    _check(run_scenario(name, store, scale, postgres_url=url))
