"""The audit trail: every registry write records who, when, what, and the row before and after.

Written in the same transaction as the change, so a change without its audit entry cannot exist.
"""

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from hub.store.models import AuditEntry

Action = Literal["create", "update", "delete", "import", "revoke", "close", "retry", "resolve", "disable", "recompute"]


def snapshot(model: BaseModel | None) -> dict[str, Any] | None:
    return None if model is None else model.model_dump(mode="json")


def record(
    session: AsyncSession,
    *,
    actor: str,
    action: Action,
    entity: str,
    key: str,
    before: BaseModel | None = None,
    after: BaseModel | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=datetime.now(UTC),
            actor=actor,
            action=action,
            entity=entity,
            entity_key=key,
            before=snapshot(before),
            after=snapshot(after),
        )
    )
