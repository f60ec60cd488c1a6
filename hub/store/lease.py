"""A named lease in the store (table ``leases``): at most one holder at a time, until it expires unless renewed.

Used where two processes must not do the same work at once: the e-Kinerja dispatcher ("ekinerja-dispatcher"),
``presensi hub recompute --pending`` and the hub's automatic recompute loop, on one host or several. Taking a
lease is one UPDATE that matches only when it is free, expired or already ours: the database serialises racing
UPDATEs, so exactly one wins. Expiry is what frees a lease whose holder died without
releasing it; a live holder renews well before. Times are the hosts' clocks (keep them NTP-synced); the TTL is
minutes, so seconds of skew do not matter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.db import insert_for
from hub.store.models import Lease

log = logging.getLogger(__name__)


def holder_name(purpose: str) -> str:
    """Who holds it, as an operator would want to read it: host, process and what for."""
    return f"{socket.gethostname()}:{os.getpid()}:{purpose}"[:128]


async def acquire(engine: AsyncEngine, name: str, holder: str, ttl: float) -> bool:
    """Take the lease for ``ttl`` seconds if it is free, expired or already ``holder``'s; False if another holds it."""
    now = datetime.now(UTC)
    until = now + timedelta(seconds=ttl)
    async with engine.begin() as connection:
        taken = await connection.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
            .values(holder=holder, expires_at=until)
        )
        if taken.rowcount == 1:
            return True
        # No row yet: of two racing inserts one wins, the other's conflict does nothing.
        created = await connection.execute(
            insert_for(engine)(Lease)
            .values(name=name, holder=holder, expires_at=until)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return bool(created.rowcount == 1)


async def renew(engine: AsyncEngine, name: str, holder: str, ttl: float) -> bool:
    """Extend ``holder``'s lease by ``ttl`` seconds from now; False if it is no longer theirs."""
    async with engine.begin() as connection:
        renewed = await connection.execute(
            update(Lease)
            .where(Lease.name == name, Lease.holder == holder)
            .values(expires_at=datetime.now(UTC) + timedelta(seconds=ttl))
        )
        return bool(renewed.rowcount == 1)


async def release(engine: AsyncEngine, name: str, holder: str) -> None:
    """Give the lease up (only ``holder``'s own: a lease taken over after expiry stays with its new holder)."""
    async with engine.begin() as connection:
        await connection.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


async def current_holder(engine: AsyncEngine, name: str) -> tuple[str, datetime] | None:
    """Who holds the lease and until when, if anyone does now."""
    async with engine.connect() as connection:
        found = (
            await connection.execute(
                select(Lease.holder, Lease.expires_at).where(Lease.name == name, Lease.expires_at >= datetime.now(UTC))
            )
        ).first()
    if found is None or found[0] is None:  # the column allows NULL (a free lease)
        return None
    return found[0], found[1]


@contextlib.asynccontextmanager
async def held(engine: AsyncEngine, name: str, holder: str, ttl: float) -> AsyncIterator[bool]:
    """``async with held(...) as mine:`` -- ``mine`` says whether the lease was taken; while the block runs it is
    renewed every third of ``ttl``, and released at the end."""
    if not await acquire(engine, name, holder, ttl):
        yield False
        return

    async def keep() -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                if not await renew(engine, name, holder, ttl):
                    log.error("lease %s was lost by %s (paused longer than %.0f s?)", name, holder, ttl)
                    return
            except (OSError, DBAPIError) as exc:  # the store away for a moment: two more tries before expiry
                log.warning("lease %s: renewal failed, trying again: %s", name, str(exc).splitlines()[0])

    renewing = asyncio.create_task(keep(), name=f"lease:{name}")
    try:
        yield True
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        await release(engine, name, holder)


@dataclass
class LeaseHandle:
    """One holder's view of one named lease, for a loop that takes, renews and releases it over and over."""

    engine: AsyncEngine
    name: str
    holder: str
    seconds: float
    expires_at: datetime | None = None  # when we hold it, the expiry we last wrote

    @property
    def held(self) -> bool:
        return self.expires_at is not None and self.expires_at > datetime.now(UTC)

    async def acquire(self) -> bool:
        """Take the lease if it is free or already ours (then this renews it); True when we hold it after."""
        expires = datetime.now(UTC) + timedelta(seconds=self.seconds)
        taken = await acquire(self.engine, self.name, self.holder, self.seconds)
        self.expires_at = expires if taken else None
        return taken

    async def renew(self) -> bool:
        """Extend the lease we hold; False (and no longer held) if someone else has it now."""
        expires = datetime.now(UTC) + timedelta(seconds=self.seconds)
        renewed = await renew(self.engine, self.name, self.holder, self.seconds)
        self.expires_at = expires if renewed else None
        return renewed

    async def release(self) -> None:
        """Give the lease up at once (the next holder need not wait for it to expire)."""
        await release(self.engine, self.name, self.holder)
        self.expires_at = None
