"""The e-Kinerja feed status shown on the Recaps page: for a unit (and the units below it) and a month, how many
of the feed's records are in each status, and the last time the month was closed.

Read straight from the feed's tables (``feed_records``, ``month_closes``). When they are absent (a store whose
feed migration has not run) or the query fails, the page says "feed status unavailable" and still works.
"""

import logging
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.feed.records import FeedStatus
from hub.registry.service import subtree_ids
from hub.store.models import FeedRecord, MonthClose, Unit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedView:
    counts: dict[str, int]  # every FeedStatus value, 0 when none
    last_close: MonthClose | None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def feed_status(session: AsyncSession, unit_code: str, year: int, month: int) -> FeedView | None:
    text = f"{year:04d}-{month:02d}"
    try:
        ids = await subtree_ids(session, unit_code)
        codes = (await session.execute(select(Unit.code).where(Unit.id.in_(ids)))).scalars().all()
        by_status = (
            select(FeedRecord.status, func.count())
            .where(FeedRecord.month == text, FeedRecord.unit_code.in_(codes))
            .group_by(FeedRecord.status)
        )
        found = {status: int(n) for status, n in (await session.execute(by_status)).all()}
        close = (
            await session.execute(
                select(MonthClose)
                .where(MonthClose.month == text, or_(MonthClose.unit_code.is_(None), MonthClose.unit_code.in_(codes)))
                .order_by(MonthClose.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    except DBAPIError:  # no feed tables in this store (or a fault reading them): the page goes on without
        log.warning("feed status unavailable", exc_info=True)
        await session.rollback()
        return None
    return FeedView({s.value: found.get(s.value, 0) for s in FeedStatus}, close)
