"""Mounts the dashboard on the hub's FastAPI app: pages under /dashboard, static files, refusal handlers."""

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from hub.dashboard import pages
from hub.dashboard.auth import Refused, SignInLimiter, SignInRequired
from hub.settings import DashboardSettings

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, settings: DashboardSettings | None = None) -> None:
    app.state.dashboard = settings or DashboardSettings()
    app.state.sign_in_limiter = SignInLimiter.in_memory()
    app.include_router(pages.router)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _exc: SignInRequired) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/dashboard/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> HTMLResponse:
        return pages.render(request, "error.html", {"message_key": exc.message_key}, status_code=403)
