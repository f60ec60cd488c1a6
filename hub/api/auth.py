"""Bearer-token authentication and role checks as FastAPI dependencies.

Every route but the public ones (OpenAPI, docs, ``/healthz``) depends on ``require(permission)``:
no or unknown token answers 401, a token whose role lacks the permission answers 403. The API has no
sign-in; its only guessable secret is the token, so failed token checks are counted per client address
and an address past ``api.failed_auth_limit`` is answered 429 for every token until its window passes
(even a right one: otherwise a guesser could still tell a hit from a miss).
"""

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.access import GRANTS, Permission, Role, token_for_secret
from hub.api.errors import ApiError

bearer = HTTPBearer(auto_error=False, description="A token from `presensi hub create-token`")
CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the token's name is the actor in the audit trail."""

    name: str
    role: Role

    @property
    def actor(self) -> str:
        return f"token:{self.name}"


class FailedAuthLimiter:
    """Failed bearer-token checks per client address, in this process's memory (each hub process counts its own)."""

    def __init__(self, limit: str) -> None:
        self.limit = parse(limit)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def blocked_for(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None when it may try now."""
        if self._limiter.test(self.limit, address):
            return None
        reset_at, _remaining = self._limiter.get_window_stats(self.limit, address)
        return max(1, int(reset_at - time.time()) + 1)

    def failed(self, address: str) -> None:
        self._limiter.hit(self.limit, address)


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with factory() as opened:
        yield opened


def require(permission: Permission) -> Callable[..., Awaitable[Caller]]:
    async def check(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
        db: AsyncSession = Depends(session),
    ) -> Caller:
        if credentials is None:
            raise ApiError(401, "a bearer token is required", headers=CHALLENGE)
        limiter: FailedAuthLimiter = request.app.state.failed_auth
        address = request.client.host if request.client is not None else "unknown"
        wait = limiter.blocked_for(address)
        if wait is not None:
            raise ApiError(429, f"too many failed token checks from {address}; retry in {wait} s",
                           headers={"Retry-After": str(wait)})  # fmt: skip
        token = await token_for_secret(db, credentials.credentials)
        if token is None:
            limiter.failed(address)
            raise ApiError(401, "unknown or revoked token", headers=CHALLENGE)
        role = Role(token.role)
        if permission not in GRANTS[role]:
            raise ApiError(403, f"role {role.value} may not {permission.value}")
        return Caller(token.name, role)

    check.permission = permission  # type: ignore[attr-defined]  # read by the tests that audit every route
    return check


reader = require(Permission.READ)
corrector = require(Permission.CORRECT)
administrator = require(Permission.ADMINISTER)
