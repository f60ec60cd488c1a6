"""The broker goes away while a batch is being committed: the worker must not die when it then publishes
the ack and PUBACKs on a dead connection (paho marks such a publish NO_CONN, and its is_published() then
raises for good). After the broker is back, the batch is delivered again, stored once and acked."""

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.ingest.commit import Outcome, Received
from hub.ingest.worker import IngestWorker
from presensi.mosquitto import MosquittoBroker
from tests.hub.hub_testkit import FakeEdge, Store, batch, eventually, hub_settings, morning_punches
from tests.hub.test_hub_ingest import stored_keys


class HeldCommitWorker(IngestWorker):
    """Holds its first commit until the test lets it go (the broker is stopped meanwhile)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.committing = asyncio.Event()
        self.release = asyncio.Event()

    async def _commit_until_done(self, group: list[Received]) -> Outcome | None:
        if not self.release.is_set():
            self.committing.set()
            await self.release.wait()
        return await super()._commit_until_done(group)


async def test_worker_survives_the_broker_going_down_during_a_commit(
    broker: MosquittoBroker, sqlite_store: Store, sqlite_engine: AsyncEngine
) -> None:
    edge = FakeEdge(broker)
    worker = HeldCommitWorker(hub_settings(broker, sqlite_store), sqlite_engine, client_id="hub-outage")
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            await worker.subscribed.wait()
        sent = batch(edge.edge_id, 1, morning_punches(20))
        edge.send(sent)
        async with asyncio.timeout(10):
            await worker.committing.wait()
        await asyncio.to_thread(broker.stop)
        await eventually(lambda: not worker.subscribed.is_set())
        worker.release.set()  # the commit finishes; ack and PUBACK meet a dead connection
        await eventually(lambda: worker.stats.flushes >= 1)
        await asyncio.sleep(0.5)
        assert not task.done(), task.exception() if task.done() else None
        await asyncio.to_thread(broker.start)
        ack = await asyncio.to_thread(edge.wait_ack_of, sent.batch_id, 30)
        assert ack.stored + ack.duplicates == 20
        assert sorted(await stored_keys(sqlite_engine)) == sorted(p.key for p in sent.punches)
        assert not task.done()
    finally:
        worker.stop()
        await asyncio.wait_for(task, 30)
        edge.close()
