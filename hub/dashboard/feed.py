"""The e-Kinerja feed status shown on the Recaps page, when the feed is there to ask.

The feed (``hub.feed``) is its own part of the hub. This page looks for ``hub.feed.status.dashboard_status``,
an ``async (session, unit_code, year, month) -> Mapping[str, object]`` of label -> value to display, and shows
"feed status unavailable" when the module, the function or its tables are absent or it fails.
"""

import importlib
import logging
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)
STATUS_MODULE = "hub.feed.status"


async def feed_status(session: AsyncSession, unit_code: str, year: int, month: int) -> Mapping[str, object] | None:
    try:
        module = importlib.import_module(STATUS_MODULE)
    except ImportError:
        return None
    status = getattr(module, "dashboard_status", None)
    if status is None:
        return None
    try:
        found = await status(session, unit_code, year, month)
    except Exception:  # a missing table or a feed fault must not take the recap page down
        log.warning("feed status unavailable", exc_info=True)
        await session.rollback()
        return None
    return dict(found) if found is not None else None
