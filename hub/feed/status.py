"""The feed's state for one unit (and the units below it) and month, as the dashboard's Recaps page shows it
(``hub.dashboard.feed`` looks for ``dashboard_status``): label -> value, in Indonesian like the dashboard's
default language, with the record statuses under their API names."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.feed.dispatcher import LEASE
from hub.feed.records import DAILY, MONTHLY, FeedStatus
from hub.registry.service import subtree_ids
from hub.store.lease import current_holder
from hub.store.models import Employee, FeedRecord, MonthClose, MonthRecapRow, Unit


def _counts(found: Mapping[str, int]) -> str:
    shown = [f"{status.value} {found[status.value]}" for status in FeedStatus if found.get(status.value)]
    return ", ".join(shown) or "-"


async def dashboard_status(session: AsyncSession, unit_code: str, year: int, month: int) -> Mapping[str, object]:
    label = f"{year:04d}-{month:02d}"
    units = await subtree_ids(session, unit_code)
    codes = list((await session.execute(select(Unit.code).where(Unit.id.in_(units)))).scalars().all())
    nips = select(Employee.nip).where(Employee.unit_id.in_(units))
    by_kind: dict[str, dict[str, int]] = {DAILY: {}, MONTHLY: {}}
    counted = (
        select(FeedRecord.kind, FeedRecord.status, func.count().label("n"))
        .where(FeedRecord.month == label, FeedRecord.unit_code.in_(codes))
        .group_by(FeedRecord.kind, FeedRecord.status)
    )
    for row in (await session.execute(counted)).all():
        by_kind.setdefault(row.kind, {})[row.status] = int(row.n)
    snapshots = (
        await session.execute(select(func.count()).where(MonthRecapRow.month == label, MonthRecapRow.nip.in_(nips)))
    ).scalar_one()
    employees = (await session.execute(select(func.count()).where(Employee.unit_id.in_(units)))).scalar_one()
    last_close = (
        await session.execute(
            select(MonthClose).where(MonthClose.month == label).order_by(MonthClose.id.desc()).limit(1)
        )
    ).scalar_one_or_none()
    problem = (
        await session.execute(
            select(FeedRecord.last_error)
            .where(
                FeedRecord.month == label,
                FeedRecord.unit_code.in_(codes),
                FeedRecord.status.in_((FeedStatus.RETRYING.value, FeedStatus.FAILED.value)),
            )
            .order_by(FeedRecord.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    sender = await current_holder(session.bind, LEASE)  # type: ignore[arg-type]
    closed = "belum" if last_close is None else f"{last_close.status}, {last_close.started_at:%Y-%m-%d %H:%M} UTC"
    return {
        "Rekap harian (daily)": _counts(by_kind.get(DAILY, {})),
        "Rekap bulanan (monthly)": _counts(by_kind.get(MONTHLY, {})),
        "Bulan ditutup (month closed)": closed,
        "Rekap tersimpan (recaps snapshotted)": f"{snapshots} / {employees}",
        "Galat terakhir (last error)": problem or "-",
        "Pengirim (sender)": sender[0] if sender else "-",
    }
