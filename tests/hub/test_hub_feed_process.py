"""The feed as operators run it: two real ``presensi hub run`` processes on one store, each with its dispatcher,
deliver every record exactly once (the store lease lets one send); and the ``presensi hub feed`` commands."""

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from hub.cli import app
from hub.reconcile.corrections import MissingPunch, create_correction
from hub.reconcile.service import recompute_range
from hub.settings import DatabaseSettings
from hub.store.db import create_engine, session_factory
from hub.store.migrate import upgrade
from hub.store.models import AttendanceDayRow, FeedRecord
from presensi.mosquitto import MosquittoBroker, free_port
from simulators.ekinerja.receiver import ReceiverMode, ReceiverServer
from tests.hub.attendance_kit import BUDI, deliver, seed

TOKEN = "rahasia-ekinerja"
runner = CliRunner()


@pytest.fixture
def receiver() -> Iterator[ReceiverServer]:
    server = ReceiverServer(token=TOKEN).start()
    yield server
    server.stop()


async def _prepare(url: str, *, recompute: bool = True) -> None:
    engine = create_engine(DatabaseSettings(url=url))
    await upgrade(engine)
    async with session_factory(engine)() as db:
        await seed(db)
    await deliver(engine, [(BUDI, datetime(2026, 11, 3, 7, 50)), (BUDI, datetime(2026, 11, 3, 16, 0))])
    if recompute:
        async with session_factory(engine)() as db:
            await recompute_range(db, date(2026, 11, 2), date(2026, 11, 8))
    await engine.dispose()


async def _statuses(url: str) -> dict[str, int]:
    engine = create_engine(DatabaseSettings(url=url))
    async with session_factory(engine)() as db:
        rows = (await db.execute(select(FeedRecord.status, func.count()).group_by(FeedRecord.status))).all()
    await engine.dispose()
    return {status: int(count) for status, count in rows}


async def _correct(url: str) -> None:
    engine = create_engine(DatabaseSettings(url=url))
    async with session_factory(engine)() as db:
        missing = MissingPunch(
            kind="missing_punch", nip=BUDI, local_time=datetime(2026, 11, 4, 7, 29), reason="terminal lobi mati"
        )
        await create_correction(db, missing, "test")
    await engine.dispose()


def _config(tmp_path: Path, name: str, url: str, broker: MosquittoBroker, receiver: ReceiverServer) -> Path:
    config = tmp_path / f"{name}.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n'
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nclient_id = "hub-{name}"\nallow_insecure = true\n'
        f"[api]\nport = {free_port()}\n"
        f'[ekinerja]\nurl = "{receiver.url}"\ntoken = "{TOKEN}"\nbatch_size = 3\npoll_seconds = 0.2\n'
        "first_backoff_seconds = 0.1\nmax_backoff_seconds = 0.5\ntimeout_seconds = 2\nlease_seconds = 10\n"
        # The seeding leaves days marked for recompute: the automatic pass would queue them too.
        "[recompute]\nautomatic = false\n"
    )
    return config


async def _until(condition: object, seconds: float = 30) -> None:
    for _ in range(int(seconds / 0.1)):
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached")


def _start(config: Path, log: Path) -> "subprocess.Popen[bytes]":
    presensi = str(Path(sys.executable).with_name("presensi"))
    with log.open("w") as stderr:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([presensi, "hub", "run", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=stderr)


async def test_two_hub_processes_deliver_every_record_once(
    tmp_path: Path, broker: MosquittoBroker, receiver: ReceiverServer
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    await _prepare(url)
    processes = [_start(_config(tmp_path, name, url, broker, receiver), tmp_path / f"{name}.log") for name in "ab"]
    try:
        # Slow (each POST takes 0.3 s, so both processes would find the same records due) and flaky (retries).
        receiver.state.mode = ReceiverMode(fail_rate=0.2, delay_seconds=0.3)

        async def all_sent() -> bool:
            return await _statuses(url) == {"sent": 14}

        await _until(all_sent, 60)
        receiver.state.mode = ReceiverMode()
        await _correct(url)  # while both run: version 2 of Wednesday goes out too

        async def corrected() -> bool:
            record = receiver.state.records.get(f"{BUDI}:2026-11-04")
            return record is not None and record.version == 2

        await _until(corrected)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(30) for process in processes]
    logs = "\n".join((tmp_path / f"{n}.log").read_text() for n in ("a", "b"))
    assert codes == [0, 0], logs
    assert receiver.state.stored_versions == 15
    assert receiver.state.duplicates == 0, logs  # one sender at a time
    assert len(receiver.state.records) == 14
    assert "e-Kinerja dispatcher stopped" in logs


def test_feed_commands(tmp_path: Path, receiver: ReceiverServer) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    asyncio.run(_prepare(url, recompute=True))
    config = tmp_path / "hub.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    unset = runner.invoke(app, ["feed", "send-once", "-c", str(config)])
    assert unset.exit_code == 2
    status = runner.invoke(app, ["feed", "status", "-c", str(config)])
    assert status.exit_code == 0, status.output
    assert "pending 14" in status.output
    assert "not set" in status.output

    config.write_text(
        f'[database]\nurl = "{url}"\n[ekinerja]\nurl = "{receiver.url}"\ntoken = "{TOKEN}"\n'
        "first_backoff_seconds = 0.05\nmax_backoff_seconds = 0.1\n"
    )
    receiver.state.mode = ReceiverMode(down=True)
    down = runner.invoke(app, ["feed", "send-once", "-c", str(config)])
    assert down.exit_code == 1
    assert "14 to retry" in down.output
    assert "HTTP 503" in down.output
    receiver.state.mode = ReceiverMode()
    import time

    time.sleep(0.2)  # the retries come due (0.05 s backoff)
    sent = runner.invoke(app, ["feed", "send-once", "-c", str(config)])
    assert sent.exit_code == 0, sent.output
    assert "14 sent" in sent.output
    assert len(receiver.state.records) == 14

    closed = runner.invoke(app, ["feed", "close-month", "2026-11", "--unit", "BKPSDM", "-c", str(config)])
    assert closed.exit_code == 0, closed.output
    assert "2 employees, 2 recaps queued" in closed.output
    not_yet = runner.invoke(app, ["feed", "close-month", "2999-01", "-c", str(config)])
    assert not_yet.exit_code == 1
    assert "has not ended" in not_yet.output

    # Backfill: days computed before the feed existed (here: their outbox rows removed) are queued once.
    async def forget_daily_records() -> None:
        engine = create_engine(DatabaseSettings(url=url))
        async with session_factory(engine)() as db:
            from sqlalchemy import delete

            await db.execute(delete(FeedRecord).where(FeedRecord.kind == "daily"))
            await db.execute(update(AttendanceDayRow).values(version=AttendanceDayRow.version))
            await db.commit()
        await engine.dispose()

    asyncio.run(forget_daily_records())
    backfill = runner.invoke(app, ["feed", "enqueue", "--from", "2026-11-01", "--to", "2026-11-30", "-c", str(config)])
    assert backfill.exit_code == 0, backfill.output
    assert "14 daily records queued" in backfill.output
    again = runner.invoke(app, ["feed", "enqueue", "--from", "2026-11-01", "--to", "2026-11-30", "-c", str(config)])
    assert "0 daily records queued" in again.output

    retried = runner.invoke(app, ["feed", "retry-failed", "--month", "2026-11", "-c", str(config)])
    assert retried.exit_code == 0, retried.output
    assert "0 failed records back to pending" in retried.output

    pruned = runner.invoke(app, ["feed", "prune", "-c", str(config)])
    assert pruned.exit_code == 0
    assert "0 records pruned" in pruned.output  # nothing is 90 days old
    assert os.path.exists(tmp_path / "hub.db")
