"""Exactly-once delivery across process and network failures: the agent runs as a subprocess.

Each test counts the punches made at the simulated terminals against the punches the MiniHub
stored: every made key present, no key that was never made (resends are allowed and counted).
"""

import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from datetime import datetime

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.buffer import Buffer
from presensi.contract import EdgeStatus, EdgeTopics
from tests.edge.conftest import ROOT, AgentProcess, EdgeEnv, Puncher, assert_exactly_once, wait_until

HISTORY = datetime(2026, 11, 2, 7, 0, 0)
LIVE = datetime(2026, 11, 20, 7, 0, 0)


# The SIGTERM variant (a clean broker stop) is the gentler case of the SIGKILL one: `make test-slow`.
@pytest.mark.parametrize("kill", [pytest.param(False, marks=pytest.mark.slow), True], ids=["sigterm", "sigkill"])
def test_broker_restart_mid_run(env: EdgeEnv, kill: bool) -> None:
    """The broker goes away (cleanly, or killed losing what it had not saved) while punches keep coming."""
    a = env.add_terminal("SNBR0001")
    b = env.add_terminal("SNBR0002", live_capture=True)
    env.ledger.prefill(a, 8000, HISTORY, ["2001", "2002"])
    env.ledger.prefill(b, 2000, HISTORY, ["2001"])
    agent = env.start_agent(env.write_config())
    with Puncher(env.ledger, [a, b], start=LIVE, interval=0.05) as puncher:
        wait_until(lambda: len(env.hub.state.punches) > 1000, 30, "the first deliveries")
        env.broker.stop(kill=kill)
        time.sleep(3)
        env.broker.start()
        time.sleep(3)
    assert puncher.count > 50
    env.wait_delivered(60)
    assert agent.alive(), agent.log()
    assert agent.terminate() == 0
    assert_exactly_once(env.ledger.snapshot(), env.hub.state)
    assert "disconnected from broker" in agent.log()


def _kill_repeatedly(env: EdgeEnv, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    a = env.add_terminal("SNKL0001")
    b = env.add_terminal("SNKL0002", live_capture=True)
    env.ledger.prefill(a, 40_000, HISTORY, ["3001", "3002", "3003"])
    env.ledger.prefill(b, 10_000, HISTORY, ["3001", "3002"])
    config = env.write_config(publisher={"batch_size": 500})
    interrupted = 0
    with Puncher(env.ledger, [a, b], start=LIVE, interval=0.1):
        for _ in range(kills):
            agent = env.start_agent(config)
            # Wait until this run is moving punches (or has nothing left), then kill at a random point.
            before = len(env.hub.state.punches)

            def moving(agent: AgentProcess = agent, before: int = before) -> bool:
                return len(env.hub.state.punches) > before or not agent.alive()

            wait_until(moving, 30, "the agent to deliver")
            time.sleep(rng.uniform(0.0, 1.5))
            assert agent.alive(), agent.log()
            agent.kill()
            stats = env.buffer_stats()
            interrupted += stats.sent > 0 or stats.pending > 0
        final = env.start_agent(config)
        time.sleep(1)
    env.wait_delivered(120)
    assert final.terminate() == 0
    assert_exactly_once(env.ledger.snapshot(), env.hub.state)
    # The kills must have hit work in flight, or this test proves nothing.
    assert interrupted >= kills // 2, f"only {interrupted} of {kills} kills left unacknowledged work behind"
    stats = env.buffer_stats()
    assert (stats.pending, stats.sent) == (0, 0)


@pytest.mark.slow  # `make test` kills edge agents repeatedly through the chain (tests/chaos, edge-kill)
def test_sigkill_mid_batch_repeatedly(env: EdgeEnv) -> None:
    _kill_repeatedly(env, kills=6, seed=int(os.environ.get("EDGE_KILL_SEED", "3")))


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_sigkill_mid_batch_50_times(env: EdgeEnv) -> None:
    _kill_repeatedly(env, kills=50, seed=int(os.environ.get("EDGE_KILL_SEED", "50")))


def _edge_status(env: EdgeEnv) -> str:
    """What ``presensi edge status`` prints for the test's config."""
    done = subprocess.run(
        [sys.executable, "-m", "presensi.cli", "edge", "status", "--config", str(env.tmp / "edge.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_hub_absent_then_back(env: EdgeEnv) -> None:
    """Without the hub, punches wait in the buffer as sent-without-ack; they drain when it returns."""
    a = env.add_terminal("SNHA0001")
    env.ledger.prefill(a, 1500, HISTORY, ["4001", "4002"])
    env.hub.stop()
    agent = env.start_agent(env.write_config())
    with Puncher(env.ledger, [a], start=LIVE, interval=0.1):
        wait_until(lambda: env.buffer_stats().sent >= 1500, 30, "punches published and waiting for an ack")
        time.sleep(4)  # at least one resend without an ack
    made = len(env.ledger.made)
    wait_until(lambda: env.buffer_stats().sent == made, 10, "every punch made published")
    stats = env.buffer_stats()
    assert stats.acknowledged == 0
    assert not env.hub.state.punches
    shown = _edge_status(env)
    waiting = re.search(r"sent \(awaiting ack\) (\d+)", shown)
    assert waiting is not None, shown
    assert int(waiting.group(1)) >= 1500
    assert "acknowledged 0" in shown
    assert "resent batch" in agent.log()

    env.hub.start()
    env.wait_delivered(60)
    wait_until(lambda: env.buffer_stats().acknowledged == len(env.ledger.made), 20, "every punch acknowledged")
    assert agent.terminate() == 0
    assert_exactly_once(env.ledger.snapshot(), env.hub.state)
    shown = _edge_status(env)
    assert "sent (awaiting ack) 0" in shown, shown
    assert "pending 0" in shown, shown


def _retained_status(env: EdgeEnv) -> EdgeStatus:
    """Subscribe afresh and take the retained status the broker holds for the edge."""
    got: list[bytes] = []
    arrived = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.retain:
            got.append(bytes(message.payload))
            arrived.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="status-reader", protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.connect(env.broker.host, env.broker.port)
    client.subscribe(EdgeTopics(env.edge_id).status, qos=1)
    client.loop_start()
    try:
        assert arrived.wait(10), "no retained status for the edge"
    finally:
        client.disconnect()
        client.loop_stop()
    return EdgeStatus.model_validate_json(got[-1])


def test_sigterm_flushes_and_says_goodbye(env: EdgeEnv) -> None:
    """SIGTERM mid-drain: exit 0 within seconds, retained offline/shutdown, nothing left unacked."""
    a = env.add_terminal("SNST0001")
    env.ledger.prefill(a, 20_000, HISTORY, ["5001", "5002", "5003"])
    agent = env.start_agent(env.write_config(publisher={"batch_size": 200}))
    wait_until(lambda: len(env.hub.state.punches) > 0, 30, "the first delivery")
    wait_until(lambda: env.buffer_stats().pending + env.buffer_stats().sent > 0, 5, "work in flight")
    assert len(env.hub.state.punches) < 20_000, "drained before SIGTERM; nothing to flush"
    online = _retained_status(env)
    assert (online.state, online.reason) == ("online", "connected")
    started = time.monotonic()
    code = agent.terminate(timeout=20)
    took = time.monotonic() - started
    assert code == 0, agent.log()
    assert took < 8, f"SIGTERM took {took:.1f} s"
    stats = env.buffer_stats()
    assert (stats.pending, stats.sent) == (0, 0), stats
    assert_exactly_once(env.ledger.snapshot(), env.hub.state)
    offline = _retained_status(env)
    assert (offline.state, offline.reason, offline.session) == ("offline", "shutdown", online.session)
    assert "stopped" in agent.log()


def test_restart_resumes_session_and_sequence(env: EdgeEnv) -> None:
    """A restart counts a new session and continues the batch sequence with no gap or reuse."""
    a = env.add_terminal("SNRS0001")
    env.ledger.prefill(a, 300, HISTORY, ["6001"])
    config = env.write_config()
    first = env.start_agent(config)
    env.wait_delivered(30)
    assert first.terminate() == 0
    env.ledger.punch(a, "6001", at=LIVE)
    second = env.start_agent(config)
    env.wait_delivered(30)
    assert second.terminate() == 0
    assert_exactly_once(env.ledger.snapshot(), env.hub.state)
    seqs = sorted(env.hub.state.seqs[env.edge_id])
    assert seqs == list(range(1, len(seqs) + 1))
    sessions = {json.loads(s.model_dump_json())["session"] for s in env.hub.state.statuses}
    assert {1, 2} <= sessions
    buffer = Buffer(env.buffer_path)
    try:
        assert buffer.last_seq == seqs[-1]
    finally:
        buffer.close()
