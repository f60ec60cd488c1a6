"""API access: roles, what each may do, and bearer tokens kept as SHA-256 of the secret.

Kept free of FastAPI so ``presensi hub create-token`` can use it without the web stack.
"""

import hashlib
import secrets
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.registry import audit
from hub.registry.errors import Conflict, NotFound
from hub.store.models import ApiToken

SECRET_PREFIX = "psh_"


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"  # reads, and corrects the registry
    VIEWER = "viewer"  # reads
    SERVICE = "service"  # machine clients (reconciliation, e-Kinerja feed): reads


class Permission(StrEnum):
    READ = "read"
    CORRECT = "correct"  # employees, terminals, enrollments, imports
    ADMINISTER = "administer"  # units (the organisation tree), tokens, the audit trail


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset({Permission.READ, Permission.CORRECT}),
    Role.VIEWER: frozenset({Permission.READ}),
    Role.SERVICE: frozenset({Permission.READ}),
}


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: Role
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


class IssuedToken(TokenOut):
    secret: str  # shown once, never stored


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def issue_token(session: AsyncSession, name: str, role: Role, created_by: str) -> IssuedToken:
    if (await session.execute(select(ApiToken.id).where(ApiToken.name == name))).first():
        raise Conflict(f"a token named {name!r} exists already", field="name")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name, role=role.value, secret_sha256=digest(secret), created_at=datetime.now(UTC), created_by=created_by
    )
    session.add(token)
    await session.flush()
    out = TokenOut.model_validate(token)
    audit.record(session, actor=created_by, action="create", entity="token", key=name, after=out)
    await session.commit()
    return IssuedToken(**out.model_dump(), secret=secret)


async def revoke_token(session: AsyncSession, name: str, revoked_by: str) -> TokenOut:
    token = (await session.execute(select(ApiToken).where(ApiToken.name == name))).scalar_one_or_none()
    if token is None:
        raise NotFound(f"no token named {name!r}")
    before = TokenOut.model_validate(token)
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
    await session.flush()
    after = TokenOut.model_validate(token)
    audit.record(session, actor=revoked_by, action="revoke", entity="token", key=name, before=before, after=after)
    await session.commit()
    return after


async def list_tokens(session: AsyncSession) -> list[TokenOut]:
    rows = (await session.execute(select(ApiToken).order_by(ApiToken.name))).scalars().all()
    return [TokenOut.model_validate(t) for t in rows]


async def token_for_secret(session: AsyncSession, secret: str) -> ApiToken | None:
    """The live token ``secret`` belongs to, or None (unknown or revoked)."""
    token = (
        await session.execute(select(ApiToken).where(ApiToken.secret_sha256 == digest(secret)))
    ).scalar_one_or_none()
    return token if token is not None and token.revoked_at is None else None
