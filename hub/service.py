"""The hub process: the API server and/or an ingest worker on one asyncio loop, stopped by signal; with the
API (``hub run``) also the automatic recompute loop.

On SIGTERM/SIGINT the worker finishes the batch in hand (commit, acks, PUBACKs) and disconnects,
and uvicorn finishes open requests; a recompute pass in progress is abandoned (each batch it finished is
committed; its marks stay for the next pass); then the store's connections are closed.
"""

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Generator

import uvicorn
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.api.app import create_app
from hub.feed.dispatcher import Dispatcher
from hub.feed.months import resume_interrupted_closes
from hub.ingest.worker import IngestWorker
from hub.reconcile.queue import run_pending
from hub.reconcile.service import RecomputeStats
from hub.registry.errors import RegistryError
from hub.settings import DatabaseSettings, HubSettings, RecomputeSettings
from hub.store.db import create_engine
from hub.store.lease import holder_name
from hub.store.migrate import current_revision, head_revision, upgrade

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: this process stops API and worker together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class _Stopping(Exception):
    """Raised between two batches of a recompute pass when the hub stops."""


def _pending_pass(
    database: DatabaseSettings, holder: str, settings: RecomputeSettings, stopping: threading.Event
) -> RecomputeStats | None:
    """One pass on its own thread, event loop and engine: the rule engine is CPU work, and on the hub's loop a
    large pass (a new policy marks everyone) would hold up ingest acks and API answers for its whole length."""

    def check(_done: int, _total: int) -> None:
        if stopping.is_set():
            raise _Stopping

    async def one() -> RecomputeStats | None:
        engine = create_engine(database)
        try:
            return await run_pending(
                engine, holder, ttl=settings.lease_seconds, progress=check, workers=settings.workers
            )
        finally:
            await engine.dispose()

    try:
        return asyncio.run(one())
    except _Stopping:
        return None


async def recompute_loop(database: DatabaseSettings, settings: RecomputeSettings) -> None:
    """Process the pending marks every ``interval_seconds`` under the ``recompute-pending`` lease, so late punches
    (an edge offline for days) and registry changes reach their days without anyone running a command. A pass
    that fails is logged and tried again next interval; the loop ends only when cancelled, and then stops the
    pass in progress after its current batch (finished batches are committed; the marks stay for next time)."""
    holder = holder_name("hub run")
    stopping = threading.Event()
    problem = ""
    try:
        while True:
            try:
                stats = await asyncio.to_thread(_pending_pass, database, holder, settings, stopping)
                problem = ""
                if stats is not None and stats.days:
                    log.info(
                        "pending recompute: %d employees, %d days (%d new, %d changed) in %.1f s",
                        stats.employees,
                        stats.days,
                        stats.inserted,
                        stats.changed,
                        stats.seconds,
                    )
            except (RegistryError, OSError, DBAPIError) as exc:  # no policy yet, the store away: say so once
                text = getattr(exc, "message", None) or str(exc).splitlines()[0]
                if text != problem:
                    log.warning("pending recompute failed, retrying every %.0f s: %s", settings.interval_seconds, text)
                problem = text
            except Exception:  # a bug must not stop ingest and the API: log it and keep the hub running
                log.exception("pending recompute failed")
            await asyncio.sleep(settings.interval_seconds)
    finally:
        stopping.set()


CLOSE_CHECK_SECONDS = 60.0  # how often `hub run` looks for month closes a stopped hub left running


async def close_resume_loop(engine: AsyncEngine) -> None:
    """Finish month closes a stopped or killed hub left ``running`` (``hub.feed.months``): at start, and every
    minute, since a dead holder's lease has to expire first."""
    while True:
        try:
            await resume_interrupted_closes(engine)
        except (OSError, DBAPIError) as exc:  # the store away for a moment: next time
            log.warning("resuming interrupted month closes failed: %s", str(exc).splitlines()[0])
        except Exception:
            log.exception("resuming interrupted month closes failed")
        await asyncio.sleep(CLOSE_CHECK_SECONDS)


async def serve(settings: HubSettings, *, api: bool, client_id: str, migrate: bool) -> int:
    engine = create_engine(settings.database)
    try:
        try:
            if migrate:
                await upgrade(engine)
            current, head = await current_revision(engine), head_revision()
        except (OSError, DBAPIError) as exc:
            where = make_url(settings.database.url).render_as_string(hide_password=True)
            log.error("cannot use the store at %s: %s", where, str(exc).splitlines()[0])
            return 1
        if current != head:
            log.error("store schema is at %s, this hub needs %s: run `presensi hub migrate`", current, head)
            return 2
        worker = IngestWorker(settings, engine, client_id=client_id)
        stopping = asyncio.Event()
        tasks = [asyncio.create_task(worker.run(), name="ingest")]
        if api and settings.ekinerja.url is not None:
            # Every `hub run` process starts one; the store lease lets only one of them send at a time.
            dispatcher = Dispatcher(settings.ekinerja, engine)
            tasks.append(asyncio.create_task(dispatcher.run(stopping), name="ekinerja-dispatcher"))
        server: _Server | None = None
        if api:
            config = uvicorn.Config(
                create_app(engine, settings.dashboard, failed_auth_limit=settings.api.failed_auth_limit),
                host=settings.api.host,
                port=settings.api.port,
                log_level="info",
            )
            server = _Server(config)
            tasks.append(asyncio.create_task(server.serve(), name="api"))

        def stop() -> None:
            if not stopping.is_set():
                log.info("stopping")
                stopping.set()
            worker.stop()
            if server is not None:
                server.should_exit = True

        recompute = (
            asyncio.create_task(recompute_loop(settings.database, settings.recompute), name="recompute")
            if api and settings.recompute.automatic
            else None
        )
        # Not among ``tasks``: a background loop ending must not stop the hub.
        closes = asyncio.create_task(close_resume_loop(engine), name="month-closes") if api else None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop()  # whichever ended first (a signal, or the API failing to bind), end the other too
        if recompute is not None:
            recompute.cancel()  # a pass in progress stops after its batch and releases the lease
            await asyncio.gather(recompute, return_exceptions=True)
        if closes is not None:
            closes.cancel()  # a close in progress stops between batches; the next hub resumes it
            await asyncio.gather(closes, return_exceptions=True)
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if task.exception() is not None:
                log.error("%s failed: %r", task.get_name(), task.exception())
                return 1
        return 0
    finally:
        await engine.dispose()
