"""Hub commands on the contract's command topic: sync_clock, resend_range, reread_users."""

from datetime import UTC, datetime, timedelta

from presensi.contract import Command, CommandResult, EdgeTopics, RereadUsers, ResendRange, SyncClock
from tests.edge.conftest import EdgeEnv, assert_exactly_once, wait_until

HISTORY = datetime(2026, 11, 2, 7, 0, 0)  # Asia/Jakarta: 00:00 UTC


def _send(env: EdgeEnv, command_id: str, body: SyncClock | ResendRange | RereadUsers) -> CommandResult:
    # An edge's first session has no subscription before its SUBACK: a command sent earlier is lost (MQTT).
    wait_until(lambda: all(t.agent.publisher.connected.is_set() for t in env.threads), 20, "the edge subscribed")
    command = Command(command_id=command_id, issued_at=datetime.now(UTC), issued_by="test.operator", body=body)
    env.hub.publish(EdgeTopics(env.edge_id).command, command.model_dump_json())

    def result() -> CommandResult | None:
        with env.hub.state.lock:
            return next((r for r in env.hub.state.results if r.command_id == command_id), None)

    wait_until(lambda: result() is not None, 20, f"the result of {command_id}")
    found = result()
    assert found is not None
    return found


def _local_now(zone: str = "Asia/Jakarta") -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.now(UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def test_sync_clock_sets_a_drifted_clock(env: EdgeEnv) -> None:
    a = env.add_terminal("SNCC0001", terminal_options={"clock_offset_seconds": -3600.0})
    b = env.add_terminal("SNCC0002", terminal_options={"clock_offset_seconds": -600.0})
    runner = env.start_thread(env.settings())
    poller = runner.agent.pollers["sncc0001"]
    wait_until(lambda: poller.health.drift_seconds is not None, 10, "a clock reading")
    assert abs(poller.health.drift_seconds + 3600) < 5  # type: ignore[operator]
    # Drift is reported, never corrected silently (auto_correct is off by default).
    wait_until(lambda: poller.health.last_success is not None and poller.health.last_poll is not None, 5, "polls")
    assert abs((a.terminal.clock.now() - _local_now()).total_seconds() + 3600) < 5

    result = _send(env, "cmd-sync-1", SyncClock(terminal_sn="SNCC0001"))
    assert result.ok, result
    assert "SNCC0001" in result.detail
    assert abs((a.terminal.clock.now() - _local_now()).total_seconds()) < 3
    # Only the named terminal was touched.
    assert abs((b.terminal.clock.now() - _local_now()).total_seconds() + 600) < 5
    wait_until(lambda: abs(poller.health.drift_seconds or 99) < 3, 10, "the drift measured near zero")

    unknown = _send(env, "cmd-sync-2", SyncClock(terminal_sn="NOSUCH"))
    assert not unknown.ok
    runner.stop()


def test_resend_range_republishes_without_new_keys(env: EdgeEnv) -> None:
    a = env.add_terminal("SNRR0001")
    env.ledger.prefill(a, 120, HISTORY, ["8701"])  # 07:00:00-07:01:59 local = 00:00-00:02 UTC
    runner = env.start_thread(env.settings())
    env.wait_delivered(30)
    wait_until(lambda: env.buffer_stats().acknowledged == 120, 10, "every punch acknowledged")
    before = dict(env.hub.state.deliveries)
    since = datetime(2026, 11, 2, 0, 0, 30, tzinfo=UTC)
    result = _send(env, "cmd-resend-1", ResendRange(since=since, until=since + timedelta(seconds=60)))
    assert result.ok, result
    assert result.detail.startswith("60 ")
    wait_until(lambda: sum(env.hub.state.deliveries.values()) >= sum(before.values()) + 60, 20, "the resent punches")
    grown = {k for k, n in env.hub.state.deliveries.items() if n > before.get(k, 0)}
    assert len(grown) == 60
    assert all(since <= env.hub.state.punches[k].utc < since + timedelta(seconds=60) for k in grown)
    assert_exactly_once(env.ledger.snapshot(), env.hub.state)
    # The resend batches are acked and leave nothing behind.
    wait_until(lambda: not runner.agent.buffer.unacked_batches(), 10, "resend batches acked")
    runner.stop()


def test_reread_users_reports_the_count(env: EdgeEnv) -> None:
    a = env.add_terminal("SNRU0001", pins=("1", "2", "3"))
    b = env.add_terminal("SNRU0002", pins=("1",))
    runner = env.start_thread(env.settings())
    wait_until(lambda: runner.agent.pollers["snru0001"].health.users == 3, 10, "the first roster")
    a.terminal.add_user("4")
    b.terminal.add_user("2")
    result = _send(env, "cmd-users-1", RereadUsers(terminal_sn=None))
    assert result.ok, result
    assert "SNRU0001: 4 users" in result.detail
    assert "SNRU0002: 2 users" in result.detail
    assert runner.agent.pollers["snru0001"].health.users == 4
    # Commands are idempotent by id: the same id again is not run twice.
    count = len(env.hub.state.results)
    env.hub.publish(
        EdgeTopics(env.edge_id).command,
        Command(
            command_id="cmd-users-1", issued_at=datetime.now(UTC), issued_by="t", body=RereadUsers()
        ).model_dump_json(),
    )
    later = _send(env, "cmd-users-2", RereadUsers())
    assert later.ok
    assert len(env.hub.state.results) == count + 1
    # A command past its expiry is refused, not run.
    stale = Command(
        command_id="cmd-users-3", issued_at=datetime.now(UTC) - timedelta(hours=2), issued_by="t",
        expires_at=datetime.now(UTC) - timedelta(hours=1), body=RereadUsers(),
    )  # fmt: skip
    env.hub.publish(EdgeTopics(env.edge_id).command, stale.model_dump_json())
    wait_until(lambda: any(r.command_id == "cmd-users-3" for r in env.hub.state.results), 10, "the refusal")
    refused = next(r for r in env.hub.state.results if r.command_id == "cmd-users-3")
    assert not refused.ok
    assert "expired" in refused.detail
    runner.stop()
