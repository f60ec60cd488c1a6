"""The hub's FastAPI application: ``create_app(engine)``."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.api import errors
from hub.api.auth import FailedAuthLimiter
from hub.api.routes import (
    absences,
    access,
    activities,
    attendance,
    calendars,
    corrections,
    dead_letters,
    employees,
    enrollments,
    exceptions,
    exports,
    feed,
    liveness,
    policies,
    punches,
    terminals,
    units,
)
from hub.dashboard.app import install as install_dashboard
from hub.reconcile.preview_jobs import PreviewJobs
from hub.settings import FAILED_AUTH_LIMIT, DashboardSettings
from hub.store.db import session_factory

API_PREFIX = "/api/v1"
PUBLIC_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/healthz"})


def create_app(
    engine: AsyncEngine, dashboard: DashboardSettings | None = None, *, failed_auth_limit: str = FAILED_AUTH_LIMIT
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await app.state.previews.close()  # a running policy preview stops with the API

    app = FastAPI(
        lifespan=lifespan,
        title="presensi hub",
        version=version("presensi"),
        description="Registry, punches, liveness and dead letters of the attendance hub. "
        "Every route under /api/v1 needs a bearer token; errors are {error: {code, message, details}}.",
    )
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.failed_auth = FailedAuthLimiter(failed_auth_limit)
    app.state.previews = PreviewJobs(app.state.sessions)
    errors.install(app)
    modules = (units, employees, terminals, enrollments, punches, liveness, dead_letters, access)
    attendance_modules = (attendance, absences, activities, corrections, policies, calendars, exceptions)
    for module in (*modules, *attendance_modules, feed, exports):
        app.include_router(module.router, prefix=API_PREFIX)
    install_dashboard(app, dashboard)  # server-rendered pages under /dashboard, outside the OpenAPI document
    app.include_router(exports.dashboard_router)  # the Recaps page's download links, by dashboard session

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness for load balancers: the process answers and the store answers."""
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app
