"""Named leases in the store: at most one holder per name at a time, across hub processes and hosts.

A lease is a row (name, holder, expires_at). Taking it is one UPDATE that succeeds only when the lease is free
(expired) or already ours, so two processes racing for it cannot both win: the database serialises the UPDATEs
and the loser's WHERE no longer matches. A holder that dies simply stops renewing; the lease is free again at
``expires_at``. Times come from the hub's clock (hosts are NTP-synced); a holder must renew well inside the
duration, and must not start work it cannot finish before ``expires_at``.

Used by the e-Kinerja dispatcher ("ekinerja-dispatcher"); generic, for any job that must run once at a time.
Each call runs in its own short transaction on its own connection, never inside the caller's session.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.db import insert_for
from hub.store.models import Lease

FREE = datetime(1970, 1, 1, tzinfo=UTC)


def holder_id(role: str) -> str:
    """A holder name unique to this process: host, pid and a random part (pids are reused after restarts)."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:128]


@dataclass
class LeaseHandle:
    """One holder's view of one named lease."""

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
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=self.seconds)
        async with self.engine.begin() as connection:
            insert = insert_for(self.engine)
            await connection.execute(
                insert(Lease).values(name=self.name, holder=None, expires_at=FREE).on_conflict_do_nothing()
            )
            taken = await connection.execute(
                update(Lease)
                .where(Lease.name == self.name, or_(Lease.expires_at < now, Lease.holder == self.holder))
                .values(holder=self.holder, expires_at=expires)
            )
        self.expires_at = expires if taken.rowcount == 1 else None
        return self.expires_at is not None

    async def renew(self) -> bool:
        """Extend the lease we hold; False (and no longer held) if it expired and someone else took it."""
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=self.seconds)
        async with self.engine.begin() as connection:
            renewed = await connection.execute(
                update(Lease)
                .where(Lease.name == self.name, Lease.holder == self.holder, Lease.expires_at >= now)
                .values(expires_at=expires)
            )
        self.expires_at = expires if renewed.rowcount == 1 else None
        return self.expires_at is not None

    async def release(self) -> None:
        """Give the lease up at once (the next holder need not wait for it to expire)."""
        async with self.engine.begin() as connection:
            await connection.execute(
                update(Lease)
                .where(Lease.name == self.name, Lease.holder == self.holder)
                .values(holder=None, expires_at=FREE)
            )
        self.expires_at = None


async def current_holder(engine: AsyncEngine, name: str) -> tuple[str | None, datetime | None]:
    """Who holds ``name`` now and until when; (None, None) when it is free."""
    async with engine.connect() as connection:
        row = (await connection.execute(select(Lease.holder, Lease.expires_at).where(Lease.name == name))).first()
    if row is None or row.holder is None or row.expires_at <= datetime.now(UTC):
        return None, None
    return row.holder, row.expires_at
