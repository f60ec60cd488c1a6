"""CSV and XLSX exports of the attendance days and the monthly recaps, by unit (and the units below it) and
month: the same data the e-Kinerja feed carries."""

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from hub.api.deps import Db, Reader
from hub.feed import exports

router = APIRouter(prefix="/exports", tags=["exports"])
Month = Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")
Format = Literal["csv", "xlsx"]


def _file(table: exports.Table, name: str, fmt: Format) -> Response:
    body, media_type = exports.render(table, fmt)
    return Response(
        body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    )


@router.get("/days.{fmt}")
async def days(fmt: Format, db: Db, _caller: Reader, month: str = Month, unit: str | None = None) -> Response:
    """Every stored attendance day of the month, one row per employee and day."""
    table = await exports.days_table(db, month, unit)
    return _file(table, f"days-{month}-{unit or 'all'}", fmt)


@router.get("/recaps.{fmt}")
async def recaps(fmt: Format, db: Db, _caller: Reader, month: str = Month, unit: str | None = None) -> Response:
    """Each employee's recap of the month (computed now; ``fed_version`` is the version last queued, if closed)."""
    table = await exports.recaps_table(db, month, unit)
    return _file(table, f"recaps-{month}-{unit or 'all'}", fmt)
