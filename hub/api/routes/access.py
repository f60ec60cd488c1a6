"""Tokens and the audit trail: an administrator's business."""

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hub import access
from hub.api.deps import Administrator, Db, Limit, Offset
from hub.store.models import AuditEntry

router = APIRouter(tags=["access"])


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: access.Role


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_key: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@router.get("/tokens")
async def list_tokens(db: Db, _caller: Administrator) -> list[access.TokenOut]:
    return await access.list_tokens(db)


@router.post("/tokens", status_code=201)
async def issue_token(request: TokenRequest, db: Db, caller: Administrator) -> access.IssuedToken:
    """The secret is in this answer only; the hub keeps its SHA-256."""
    return await access.issue_token(db, request.name, request.role, caller.actor)


@router.delete("/tokens/{name}")
async def revoke_token(name: str, db: Db, caller: Administrator) -> access.TokenOut:
    return await access.revoke_token(db, name, caller.actor)


@router.get("/audit")
async def audit_trail(
    db: Db,
    _caller: Administrator,
    entity: str | None = None,
    key: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[AuditOut]:
    """Registry and token changes, newest first: who, when, what, before and after."""
    query = select(AuditEntry)
    if entity is not None:
        query = query.where(AuditEntry.entity == entity)
    if key is not None:
        query = query.where(AuditEntry.entity_key == key)
    rows = (await db.execute(query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))).scalars().all()
    return [AuditOut.model_validate(a) for a in rows]
