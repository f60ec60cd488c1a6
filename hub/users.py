"""Dashboard users: people who sign in with a password (argon2id), and their server-side sessions.

Users carry one of the API's roles (``hub.access.Role``), so the dashboard and the API grant the same things.
The session cookie holds a random secret; the table keeps only its SHA-256, so a copy of the database cannot
be used to sign in. Kept free of FastAPI so ``presensi hub create-user`` can use it without the web stack.
"""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.access import Role, digest
from hub.registry import audit
from hub.registry.errors import Conflict, NotFound, RegistryError
from hub.store.models import HubSession, HubUser

MIN_PASSWORD_LENGTH = 10
# People sign in; machines use API tokens. A service role has no business in the dashboard.
USER_ROLES = (Role.ADMIN, Role.OPERATOR, Role.VIEWER)

_hasher = PasswordHasher()  # argon2id with the library's current recommended cost
# Verified when the username is unknown, so a wrong username costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: Role
    created_at: datetime
    created_by: str
    disabled_at: datetime | None


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session: who, with which role, and the CSRF token its forms must carry."""

    user_id: int
    username: str
    display_name: str
    role: Role
    csrf_token: str
    flash: dict[str, str] | None = None  # the last write's outcome, taken (and cleared) with this look-up

    @property
    def actor(self) -> str:
        return f"user:{self.username}"


async def create_user(
    session: AsyncSession, username: str, password: str, role: Role, created_by: str, display_name: str = ""
) -> UserOut:
    if role not in USER_ROLES:
        raise RegistryError(f"role {role.value} is for API tokens; users are admin, operator or viewer", field="role")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RegistryError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if (await session.execute(select(HubUser.id).where(HubUser.username == username))).first():
        raise Conflict(f"a user named {username!r} exists already", field="username")
    user = HubUser(
        username=username,
        display_name=display_name or username,
        role=role.value,
        password_hash=_hasher.hash(password),
        created_at=datetime.now(UTC),
        created_by=created_by,
        disabled_at=None,
    )
    session.add(user)
    await session.flush()
    out = UserOut.model_validate(user)
    audit.record(session, actor=created_by, action="create", entity="user", key=username, after=out)
    await session.commit()
    return out


async def disable_user(session: AsyncSession, username: str, disabled_by: str) -> UserOut:
    """Refuse the user's sign-ins from now on and end their open sessions at once."""
    user = (await session.execute(select(HubUser).where(HubUser.username == username))).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user named {username!r}")
    before = UserOut.model_validate(user)
    if user.disabled_at is None:
        user.disabled_at = datetime.now(UTC)
    await session.execute(delete(HubSession).where(HubSession.user_id == user.id))
    await session.flush()
    after = UserOut.model_validate(user)
    audit.record(session, actor=disabled_by, action="disable", entity="user", key=username, before=before, after=after)
    await session.commit()
    return after


async def list_users(session: AsyncSession) -> list[UserOut]:
    rows = (await session.execute(select(HubUser).order_by(HubUser.username))).scalars().all()
    return [UserOut.model_validate(u) for u in rows]


async def check_password(session: AsyncSession, username: str, password: str) -> HubUser | None:
    """The enabled user whose password this is, or None (unknown user, wrong password, disabled)."""
    user = (await session.execute(select(HubUser).where(HubUser.username == username))).scalar_one_or_none()
    try:
        _hasher.verify(user.password_hash if user is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled_at is not None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        await session.commit()
    return user


async def open_session(session: AsyncSession, user: HubUser, hours: float) -> str:
    """Start a session for ``user``; returns the cookie secret (the table keeps only its hash)."""
    secret = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    await session.execute(delete(HubSession).where(HubSession.expires_at < now))  # housekeeping, cheap by index
    session.add(
        HubSession(
            secret_sha256=digest(secret),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    await session.commit()
    return secret


async def session_for(session: AsyncSession, secret: str) -> SignedIn | None:
    """The live session the cookie ``secret`` opens, or None (unknown, expired, or the user was disabled)."""
    row = (
        await session.execute(
            select(HubSession, HubUser)
            .join(HubUser, HubUser.id == HubSession.user_id)
            .where(HubSession.secret_sha256 == digest(secret))
        )
    ).first()
    if row is None:
        return None
    found, user = row
    if found.expires_at <= datetime.now(UTC) or user.disabled_at is not None:
        return None
    flash = found.flash
    if flash is not None:
        found.flash = None  # shown once
        await session.commit()
    return SignedIn(user.id, user.username, user.display_name, Role(user.role), found.csrf_token, flash)


async def set_flash(session: AsyncSession, secret: str, flash: dict[str, str]) -> None:
    """Keep a write's outcome for the page the browser is sent to next. Server-side, so a link cannot carry a
    made-up message into the dashboard."""
    await session.execute(update(HubSession).where(HubSession.secret_sha256 == digest(secret)).values(flash=flash))
    await session.commit()


async def close_session(session: AsyncSession, secret: str) -> None:
    await session.execute(delete(HubSession).where(HubSession.secret_sha256 == digest(secret)))
    await session.commit()
