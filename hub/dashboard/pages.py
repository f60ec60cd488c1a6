"""The dashboard's pages. Reads go through ``hub.dashboard.views``; writes call the same services as the API
(registry, corrections, dead-letter resolution), which audit them with the signed-in user as the actor.

Every write is a plain form POST answered with a redirect (post/redirect/get), so the pages work without
JavaScript and a reload never repeats a write.
"""

import re
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from hub.attendance.activity import ReviewAction
from hub.dashboard import views
from hub.dashboard.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SignInLimiter,
    can_write,
    client_address,
    current_user,
    login_csrf_ok,
    new_login_csrf,
    sessions,
    signed_in,
    writer,
)
from hub.dashboard.feed import feed_status
from hub.dashboard.i18n import COOKIE, LANGUAGES, chosen_language, translator
from hub.deadletter_resolution import ResolveIn, list_dead_letters, resolve_dead_letter
from hub.reconcile.corrections import BrokenTerminalDay, MissingPunch, create_correction
from hub.reconcile.records import ReviewIn, review_activity
from hub.registry.errors import RegistryError
from hub.registry.schemas import EnrollmentIn
from hub.registry.service import create_enrollment, get_employee
from hub.settings import DashboardSettings
from hub.users import SignedIn, check_password, close_session, open_session, set_flash

router = APIRouter(prefix="/dashboard", include_in_schema=False)
User = Annotated[SignedIn, Depends(signed_in)]
Writer = Annotated[SignedIn, Depends(writer)]

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
# The pages have no inline script or style: everything comes from /dashboard/static.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
REVIEW_ACTIONS = [a.value for a in ReviewAction]
MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _settings(request: Request) -> DashboardSettings:
    settings: DashboardSettings = request.app.state.dashboard
    return settings


def render(
    request: Request, template: str, context: dict[str, Any], *, user: SignedIn | None = None, status_code: int = 200
) -> HTMLResponse:
    language = chosen_language(request.cookies.get(COOKIE))
    page = _templates.get_template(template).render(
        t=translator(language),
        language=language,
        languages=LANGUAGES,
        user=user,
        can_write=user is not None and can_write(user),
        csrf=user.csrf_token if user is not None else "",
        path=request.url.path,
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        notice=(user.flash or {}).get("notice") if user is not None else None,
        error=(user.flash or {}).get("error") if user is not None else None,
        **context,
    )
    return HTMLResponse(page, status_code=status_code, headers=SECURITY_HEADERS)


async def _back(
    request: Request, path: str, *, notice: str | None = None, error: str | None = None, **params: object
) -> RedirectResponse:
    """Post/redirect/get: the outcome waits in the session for the page redirected to."""
    secret = request.cookies.get(SESSION_COOKIE)
    flash = {k: v for k, v in (("notice", notice), ("error", error)) if v is not None}
    if secret and flash:
        async with sessions(request)() as db:
            await set_flash(db, secret, flash)
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


def _local(target: str | None) -> str:
    """Only paths inside the dashboard: a sign-in link must not send anyone elsewhere."""
    if target and target.startswith("/dashboard/") and not target.startswith("//"):
        return target
    return "/dashboard/today"


def _problem(exc: Exception) -> str:
    if isinstance(exc, RegistryError):
        return exc.message
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return str(exc)


def _month(text: str | None, today: date) -> tuple[int, int]:
    found = MONTH.match(text or "")
    if found and 1 <= int(found.group(2)) <= 12:
        return int(found.group(1)), int(found.group(2))
    return today.year, today.month


def _today(request: Request) -> date:
    return datetime.now(ZoneInfo(_settings(request).time_zone)).date()


# --- sign-in ---------------------------------------------------------------------------------------------------


@router.get("")
@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/dashboard/today", status_code=303)


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    token = new_login_csrf()
    response = render(request, "login.html", {"next": _local(next), "login_csrf": token, "failed": None})
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    target = _local(str(form.get("next", "")))
    limiter: SignInLimiter = request.app.state.sign_in_limiter
    address = client_address(request)

    def again(message_key: str, status_code: int) -> HTMLResponse:
        token = new_login_csrf()
        context = {"next": target, "login_csrf": token, "failed": message_key, "username": username}
        response = render(request, "login.html", context, status_code=status_code)
        response.set_cookie(
            LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
        return response

    if not login_csrf_ok(request, form.get("csrf")):
        return again("error.csrf", 403)
    if not limiter.allowed(username, address):
        return again("login.limited", 429)
    async with sessions(request)() as db:
        user = await check_password(db, username, password)
        if user is None:
            limiter.failed(username, address)
            return again("login.failed", 401)
        secret = await open_session(db, user, _settings(request).session_hours)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(_settings(request).session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/dashboard",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request) -> RedirectResponse:
    user = await current_user(request)
    form = await request.form()
    secret = request.cookies.get(SESSION_COOKIE)
    # Signing out is a write too: only with the session's own CSRF token, so no other site can do it.
    if user is not None and secret and form.get("csrf") == user.csrf_token:
        async with sessions(request)() as db:
            await close_session(db, secret)
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/dashboard")
    return response


@router.get("/lang/{code}")
async def language(code: str, next: str | None = None) -> RedirectResponse:
    response = RedirectResponse(_local(next), status_code=303)
    if code in LANGUAGES:
        response.set_cookie(COOKIE, code, max_age=365 * 86400, samesite="lax")
    return response


# --- today --------------------------------------------------------------------------------------------------


@router.get("/today")
async def today(request: Request, user: User, day: str | None = None) -> HTMLResponse:
    try:
        chosen = date.fromisoformat(day) if day else _today(request)
    except ValueError:
        chosen = _today(request)
    async with sessions(request)() as db:
        board = await views.today_board(db, chosen)
    peak = max([b.count for b in board.histogram] or [0])
    return render(request, "today.html", {"board": board, "peak": peak}, user=user)


# --- terminals ----------------------------------------------------------------------------------------------


@router.get("/terminals")
async def terminals(request: Request, user: User) -> HTMLResponse:
    async with sessions(request)() as db:
        fleet = await views.fleet(db)
    context = {"fleet": fleet, "buffer_depth": views.buffer_depth, "drift_warn": views.DRIFT_WARN_SECONDS}
    return render(request, "terminals.html", context, user=user)


@router.post("/terminals/{serial}/broken-day")
async def broken_day(request: Request, serial: str, user: Writer) -> RedirectResponse:
    """The terminal was out of order that day: everyone enrolled on it gets their schedule's times (a correction,
    reason required, audited and recomputed at once)."""
    form = await request.form()
    async with sessions(request)() as db:
        try:
            data = BrokenTerminalDay(
                kind="broken_terminal_day",
                terminal_sn=serial,
                day=date.fromisoformat(str(form.get("day", ""))),
                reason=str(form.get("reason", "")),
            )
            made = await create_correction(db, data, user.actor)
        except (RegistryError, ValidationError, ValueError) as exc:
            return await _back(request, "/dashboard/terminals", error=_problem(exc))
    t = translator(chosen_language(request.cookies.get(COOKIE)))
    return await _back(request, "/dashboard/terminals", notice=t("terminals.broken_saved", serial=serial, day=made.day))


# --- exceptions ---------------------------------------------------------------------------------------------


@router.get("/exceptions")
async def exceptions(
    request: Request,
    user: User,
    resolved: bool = False,
    mapped_terminal: str | None = None,
    mapped_pin: str | None = None,
    mapped_nip: str | None = None,
) -> HTMLResponse:
    async with sessions(request)() as db:
        unmatched = await views.unmatched_pins(db)
        suspect = await views.suspect_punches(db)
        conflicts = await views.reconciliation_conflicts(db, _today(request))
        dead_letters, dead_total = await list_dead_letters(db, unresolved_only=not resolved, limit=100)
        attributed = []
        if mapped_terminal and mapped_pin and mapped_nip:
            attributed = await views.attributed_punches(db, mapped_terminal, mapped_pin, mapped_nip)
    context = {
        "unmatched": unmatched,
        "suspect": suspect,
        "conflicts": conflicts,
        "dead_letters": dead_letters,
        "dead_total": dead_total,
        "show_resolved": resolved,
        "attributed": attributed,
        "mapped": (mapped_terminal, mapped_pin) if attributed else None,
    }
    return render(request, "exceptions.html", context, user=user)


@router.post("/exceptions/map")
async def map_pin(request: Request, user: Writer) -> RedirectResponse:
    """An unmatched PIN becomes an enrollment (the registry's own write, audited); its punches follow at once."""
    form = await request.form()
    terminal_sn, pin, nip = (str(form.get(k, "")).strip() for k in ("terminal_sn", "pin", "nip"))
    async with sessions(request)() as db:
        try:
            data = EnrollmentIn(
                terminal_sn=terminal_sn, pin=pin, nip=nip, valid_from=date.fromisoformat(str(form.get("valid_from")))
            )
            await create_enrollment(db, data, user.actor)
        except (RegistryError, ValidationError, ValueError) as exc:
            return await _back(request, "/dashboard/exceptions", error=_problem(exc))
        attributed = await views.attributed_punches(db, terminal_sn, pin, nip)
        employee = await get_employee(db, nip)
    t = translator(chosen_language(request.cookies.get(COOKIE)))
    notice = t("exceptions.mapped", pin=pin, terminal=terminal_sn, name=employee.name, count=len(attributed))
    return await _back(
        request, "/dashboard/exceptions", notice=notice, mapped_terminal=terminal_sn, mapped_pin=pin, mapped_nip=nip
    )


@router.post("/exceptions/dead-letters/{dead_letter_id}/resolve")
async def resolve(request: Request, dead_letter_id: int, user: Writer) -> RedirectResponse:
    form = await request.form()
    async with sessions(request)() as db:
        try:
            await resolve_dead_letter(db, dead_letter_id, ResolveIn(reason=str(form.get("reason", ""))), user.actor)
        except (RegistryError, ValidationError) as exc:
            return await _back(request, "/dashboard/exceptions", error=_problem(exc))
    t = translator(chosen_language(request.cookies.get(COOKIE)))
    return await _back(request, "/dashboard/exceptions", notice=t("exceptions.resolved", id=dead_letter_id))


# --- employees ----------------------------------------------------------------------------------------------


@router.get("/employees")
async def employees(request: Request, user: User, q: str = "") -> HTMLResponse:
    async with sessions(request)() as db:
        found = await views.find_employees(db, q.strip())
    return render(request, "employees.html", {"found": found, "q": q}, user=user)


@router.get("/employees/{nip}")
async def employee(
    request: Request, nip: str, user: User, month: str | None = None, at: str | None = None
) -> HTMLResponse:
    year, number = _month(month, _today(request))
    async with sessions(request)() as db:
        try:
            view = await views.employee_month(db, nip, year, number)
        except RegistryError as exc:
            return render(request, "error.html", {"message": exc.message}, user=user, status_code=exc.status)
    context = {"view": view, "month": f"{year:04d}-{number:02d}", "at": at or "", "review_actions": REVIEW_ACTIONS}
    return render(request, "employee.html", context, user=user)


@router.post("/employees/{nip}/corrections")
async def correct(request: Request, nip: str, user: Writer) -> RedirectResponse:
    """A missing punch, through the correction service: reason required, recomputed and audited at once."""
    form = await request.form()
    month = str(form.get("month", ""))
    page = f"/dashboard/employees/{nip}"
    async with sessions(request)() as db:
        try:
            data = MissingPunch(
                kind="missing_punch",
                nip=nip,
                local_time=datetime.fromisoformat(str(form.get("local_time", ""))),
                reason=str(form.get("reason", "")),
            )
            await create_correction(db, data, user.actor)
        except (RegistryError, ValidationError, ValueError) as exc:
            return await _back(request, page, month=month or None, error=_problem(exc))
    t = translator(chosen_language(request.cookies.get(COOKIE)))
    return await _back(request, page, month=month or None, notice=t("employee.corrected"))


@router.post("/employees/{nip}/activities/{activity_id}/review")
async def review(request: Request, nip: str, activity_id: int, user: Writer) -> RedirectResponse:
    """The supervisor's review through the activity service (audited; the day is marked for recompute)."""
    form = await request.form()
    month = str(form.get("month", "")) or None
    page = f"/dashboard/employees/{nip}"
    async with sessions(request)() as db:
        try:
            data = ReviewIn(action=ReviewAction(str(form.get("action", ""))), comment=str(form.get("comment", "")))
            await review_activity(db, activity_id, data, user.actor)
        except (RegistryError, ValidationError, ValueError) as exc:
            return await _back(request, page, month=month, error=_problem(exc))
    t = translator(chosen_language(request.cookies.get(COOKIE)))
    return await _back(request, page, month=month, notice=t("employee.reviewed"))


# --- recaps -------------------------------------------------------------------------------------------------


@router.get("/recaps")
async def recaps(request: Request, user: User, unit: str | None = None, month: str | None = None) -> Response:
    year, number = _month(month, _today(request))
    async with sessions(request)() as db:
        units = await views.all_units(db)
        rows: list[Any] = []
        feed = None
        if unit:
            try:
                rows = await views.unit_recaps(db, unit, year, number)
            except RegistryError as exc:
                return await _back(request, "/dashboard/recaps", error=exc.message)
    if unit:
        async with sessions(request)() as db:  # its own session: a failure there rolls back nothing shown here
            feed = await feed_status(db, unit, year, number)
    context = {
        "units": units,
        "unit": unit,
        "month": f"{year:04d}-{number:02d}",
        "rows": rows,
        "feed": feed,
        "export_query": urlencode({"unit": unit or "", "month": f"{year:04d}-{number:02d}"}),
    }
    return render(request, "recaps.html", context, user=user)
