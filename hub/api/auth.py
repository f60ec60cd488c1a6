"""Bearer-token authentication and role checks as FastAPI dependencies.

Every route but the public ones (OpenAPI, docs, ``/healthz``) depends on ``require(permission)``:
no or unknown token answers 401, a token whose role lacks the permission answers 403.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
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


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with factory() as opened:
        yield opened


def require(permission: Permission) -> Callable[..., Awaitable[Caller]]:
    async def check(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
        db: AsyncSession = Depends(session),
    ) -> Caller:
        if credentials is None:
            raise ApiError(401, "a bearer token is required", headers=CHALLENGE)
        token = await token_for_secret(db, credentials.credentials)
        if token is None:
            raise ApiError(401, "unknown or revoked token", headers=CHALLENGE)
        role = Role(token.role)
        if permission not in GRANTS[role]:
            raise ApiError(403, f"role {role.value} may not {permission.value}")
        return Caller(token.name, role)

    return check


reader = require(Permission.READ)
corrector = require(Permission.CORRECT)
administrator = require(Permission.ADMINISTER)
