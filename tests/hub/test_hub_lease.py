"""The store lease: one holder at a time, taken over only after expiry, renewed and released by its holder
only; racing acquirers get exactly one winner; ``recompute --pending`` refuses to start while it is held."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from hub.cli import app
from hub.reconcile.queue import PENDING_LEASE
from hub.settings import DatabaseSettings
from hub.store.db import create_engine, session_factory
from hub.store.lease import acquire, current_holder, held, release, renew
from hub.store.migrate import upgrade
from tests.hub.attendance_kit import seed


async def test_one_holder_until_expiry(engine: AsyncEngine) -> None:
    assert await acquire(engine, "job", "a", 60)
    assert not await acquire(engine, "job", "b", 60)
    assert await acquire(engine, "job", "a", 60)  # the holder may take it again (a restart with the same name)
    assert await acquire(engine, "other", "b", 60)  # names are independent
    assert not await renew(engine, "job", "b", 60)
    await release(engine, "job", "b")  # not b's to release
    holder = await current_holder(engine, "job")
    assert holder is not None
    assert holder[0] == "a"
    assert holder[1] > datetime.now(UTC)
    assert await renew(engine, "job", "a", -1)  # as if a stopped renewing and the time ran out
    assert await current_holder(engine, "job") is None
    assert await acquire(engine, "job", "b", 60)  # expired: b takes it over
    assert not await renew(engine, "job", "a", 60)  # a notices it lost it
    await release(engine, "job", "a")
    assert (await current_holder(engine, "job") or ("",))[0] == "b"
    await release(engine, "job", "b")
    assert await current_holder(engine, "job") is None


async def test_racing_acquirers_get_one_winner(engine: AsyncEngine) -> None:
    won = await asyncio.gather(*(acquire(engine, "race", f"holder-{n}", 60) for n in range(8)))
    assert sorted(won) == [False] * 7 + [True]


async def test_held_renews_and_releases(engine: AsyncEngine) -> None:
    async with held(engine, "block", "a", 0.3) as mine:
        assert mine
        async with held(engine, "block", "b", 0.3) as theirs:
            assert not theirs
        await asyncio.sleep(0.5)  # longer than the TTL: only the renewals keep it
        assert (await current_holder(engine, "block") or ("",))[0] == "a"
    assert await current_holder(engine, "block") is None


async def _prepare(url: str, holder: str | None) -> None:
    engine = create_engine(DatabaseSettings(url=url))
    await upgrade(engine)
    if holder is None:
        async with session_factory(engine)() as db:
            await seed(db)
    else:
        assert await acquire(engine, PENDING_LEASE, holder, 60)
    await engine.dispose()


async def _release(url: str, holder: str) -> None:
    engine = create_engine(DatabaseSettings(url=url))
    await release(engine, PENDING_LEASE, holder)
    await engine.dispose()


def test_recompute_pending_refuses_while_another_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    config = tmp_path / "hub.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    asyncio.run(_prepare(url, None))
    asyncio.run(_prepare(url, "otherhost:4242:hub run"))
    runner = CliRunner()
    refused = runner.invoke(app, ["recompute", "--pending", "-c", str(config)])
    assert refused.exit_code == 3, refused.output
    assert "not started: otherhost:4242:hub run (lease until" in refused.output
    # A date range takes the same lease: it must not write days the other process is writing.
    ranged = runner.invoke(app, ["recompute", "--from", "2026-11-02", "--to", "2026-11-06", "-c", str(config)])
    assert ranged.exit_code == 3, ranged.output
    assert "not started: otherhost:4242:hub run (lease until" in ranged.output
    asyncio.run(_release(url, "otherhost:4242:hub run"))
    ran = runner.invoke(app, ["recompute", "--pending", "-c", str(config)])
    assert ran.exit_code == 0, ran.output
    assert "employees" in ran.output
