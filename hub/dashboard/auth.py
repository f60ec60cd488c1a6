"""Dashboard sign-in: the session cookie, CSRF tokens on every form, roles, and the sign-in rate limit.

- The cookie ``presensi_session`` holds a random secret; ``hub.users`` keeps the session server-side.
- Every POST carries the session's CSRF token in the form field ``csrf``; the sign-in form, which has no
  session yet, uses a double-submit cookie instead.
- Writes need the API's CORRECT permission: a viewer's POST is refused here, whatever the page showed.
- Failed sign-ins are counted (``limits``, moving window, in this process's memory): 5 per account and 20 per
  client address in 15 minutes; past that every attempt is refused, right password or not, until the window moves.
"""

import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.access import GRANTS, Permission
from hub.users import SignedIn, session_for

SESSION_COOKIE = "presensi_session"
LOGIN_CSRF_COOKIE = "presensi_login_csrf"
PER_ACCOUNT = parse("5 per 15 minutes")
PER_ADDRESS = parse("20 per 15 minutes")


class SignInRequired(Exception):
    """No live session: the page answers with a redirect to the sign-in form."""


class Refused(Exception):
    """A request the dashboard refuses (403): the role may not, or the CSRF token is missing or wrong."""

    def __init__(self, message_key: str) -> None:
        super().__init__(message_key)
        self.message_key = message_key


@dataclass
class SignInLimiter:
    """Counts failed sign-ins per account and per client address."""

    limiter: MovingWindowRateLimiter
    per_account: RateLimitItem = PER_ACCOUNT
    per_address: RateLimitItem = PER_ADDRESS

    @classmethod
    def in_memory(cls) -> "SignInLimiter":
        return cls(MovingWindowRateLimiter(MemoryStorage()))

    def allowed(self, username: str, address: str) -> bool:
        return self.limiter.test(self.per_account, "account", username.lower()) and self.limiter.test(
            self.per_address, "address", address
        )

    def failed(self, username: str, address: str) -> None:
        self.limiter.hit(self.per_account, "account", username.lower())
        self.limiter.hit(self.per_address, "address", address)


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return factory


async def current_user(request: Request) -> SignedIn | None:
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    async with sessions(request)() as db:
        return await session_for(db, secret)


async def signed_in(request: Request) -> SignedIn:
    """Dependency of every page: the signed-in user, or a redirect to the sign-in form."""
    user = await current_user(request)
    if user is None:
        raise SignInRequired
    return user


def can_write(user: SignedIn) -> bool:
    return Permission.CORRECT in GRANTS[user.role]


async def writer(request: Request) -> SignedIn:
    """Dependency of every write: signed in, allowed to correct, and the form's CSRF token is the session's."""
    user = await signed_in(request)
    form = await request.form()
    sent = form.get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, user.csrf_token):
        raise Refused("error.csrf")
    if not can_write(user):
        raise Refused("error.forbidden")
    return user


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def login_csrf_ok(request: Request, sent: object) -> bool:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    return bool(cookie) and isinstance(sent, str) and hmac.compare_digest(cookie or "", sent)
