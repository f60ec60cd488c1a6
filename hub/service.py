"""The hub process: the API server and/or an ingest worker on one asyncio loop, stopped by signal.

On SIGTERM/SIGINT the worker finishes the batch in hand (commit, acks, PUBACKs) and disconnects,
and uvicorn finishes open requests; then the store's connections are closed.
"""

import asyncio
import contextlib
import logging
import signal
from collections.abc import Generator

import uvicorn
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError

from hub.api.app import create_app
from hub.ingest.worker import IngestWorker
from hub.settings import HubSettings
from hub.store.db import create_engine
from hub.store.migrate import current_revision, head_revision, upgrade

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: this process stops API and worker together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


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
        server: _Server | None = None
        if api:
            config = uvicorn.Config(
                create_app(engine, failed_auth_limit=settings.api.failed_auth_limit),
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

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop()  # whichever ended first (a signal, or the API failing to bind), end the other too
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if task.exception() is not None:
                log.error("%s failed: %r", task.get_name(), task.exception())
                return 1
        return 0
    finally:
        await engine.dispose()
