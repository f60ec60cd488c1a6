"""The dead-letter table: every refused message or punch, byte for byte, with the reason (decision 3)."""

from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.ingest.classify import Refusal
from hub.store.models import DeadLetter


async def keep(connection: AsyncConnection, refusals: Sequence[Refusal], worker: str) -> None:
    """Insert ``refusals`` in the caller's transaction."""
    if not refusals:
        return
    await connection.execute(
        insert(DeadLetter),
        [
            {
                "received_at": r.received_at,
                "topic": r.topic,
                "edge_id": r.edge_id,
                "reason": r.reason,
                "payload": r.payload,
                "worker": worker,
            }
            for r in refusals
        ],
    )
