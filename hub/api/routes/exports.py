"""CSV and XLSX exports of the attendance days and the monthly recaps, by unit (and the units below it) and
month: the same data the e-Kinerja feed carries.

Served twice: under /api/v1/exports for API tokens, and under /dashboard/exports for a signed-in dashboard user (the
download links of the dashboard's Recaps page; a visitor who is not signed in is sent to the sign-in form)."""

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.background import BackgroundTask

from hub.api.deps import Db, Reader
from hub.dashboard.auth import signed_in
from hub.feed import exports
from hub.users import SignedIn

router = APIRouter(prefix="/exports", tags=["exports"])
dashboard_router = APIRouter(prefix="/dashboard/exports", include_in_schema=False)  # the session cookie's path
DashboardUser = Annotated[SignedIn, Depends(signed_in)]
Month = Query(pattern=r"^[1-9]\d{3}-(0[1-9]|1[0-2])$", description="YYYY-MM")  # no year 0 (nor 0xxx)
Format = Literal["csv", "xlsx"]


def _disposition(name: str, fmt: Format) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}


def _file(table: exports.Table, name: str, fmt: Format) -> Response:
    body, media_type = exports.render(table, fmt)
    return Response(body, media_type=media_type, headers=_disposition(name, fmt))


async def _days(request: Request, db: AsyncSession, fmt: Format, month: str, unit: str | None) -> Response:
    """CSV is streamed as it is read, on its own session (the request's may close before the body is sent);
    XLSX is written to a temporary file as it is read (a sheet per 1,048,575 days), sent, then deleted."""
    name = f"days-{month}-{unit or 'all'}"
    query = await exports.days_query(db, month, unit)  # a bad month or unit answers 422/404 here
    if fmt == "xlsx":
        path = await exports.days_xlsx(db, query, month)
        return FileResponse(
            path,
            media_type=exports.XLSX_TYPE,
            headers=_disposition(name, fmt),
            background=BackgroundTask(path.unlink, missing_ok=True),
        )
    sessions = request.app.state.sessions

    async def body() -> AsyncIterator[bytes]:
        async with sessions() as session:
            async for chunk in exports.days_csv(session, query):
                yield chunk

    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers=_disposition(name, fmt))


async def _recaps(db: AsyncSession, fmt: Format, month: str, unit: str | None) -> Response:
    return _file(await exports.recaps_table(db, month, unit), f"recaps-{month}-{unit or 'all'}", fmt)


@router.get("/days.{fmt}")
async def days(
    request: Request, fmt: Format, db: Db, _caller: Reader, month: str = Month, unit: str | None = None
) -> Response:
    """Every stored attendance day of the month, one row per employee and day (CSV streamed; XLSX a sheet per
    1,048,575 days)."""
    return await _days(request, db, fmt, month, unit)


@router.get("/recaps.{fmt}")
async def recaps(fmt: Format, db: Db, _caller: Reader, month: str = Month, unit: str | None = None) -> Response:
    """Each employee's recap of the month (computed now; ``fed_version`` is the version last queued, if closed)."""
    return await _recaps(db, fmt, month, unit)


@dashboard_router.get("/days.{fmt}")
async def dashboard_days(
    request: Request, fmt: Format, db: Db, _user: DashboardUser, month: str = Month, unit: str | None = None
) -> Response:
    return await _days(request, db, fmt, month, unit)


@dashboard_router.get("/recaps.{fmt}")
async def dashboard_recaps(
    fmt: Format, db: Db, _user: DashboardUser, month: str = Month, unit: str | None = None
) -> Response:
    return await _recaps(db, fmt, month, unit)
