"""Punch search and the unmatched list (punches whose terminal + PIN has no enrollment that day)."""

from fastapi import APIRouter
from pydantic import AwareDatetime

from hub.api.deps import Db, Limit, Offset, Reader
from hub.punches import PunchPage, search_punches

router = APIRouter(prefix="/punches", tags=["punches"])


@router.get("")
async def search(
    db: Db,
    _caller: Reader,
    nip: str | None = None,
    unit: str | None = None,
    terminal: str | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PunchPage:
    """Punches by employee (NIP), unit (and the units below it), terminal and UTC range [since, until)."""
    return await search_punches(
        db, nip=nip, unit_code=unit, terminal_sn=terminal, since=since, until=until, limit=limit, offset=offset
    )


@router.get("/unmatched")
async def unmatched(
    db: Db,
    _caller: Reader,
    terminal: str | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PunchPage:
    """Punches no enrollment covers; adding the enrollment takes them off this list."""
    return await search_punches(
        db, terminal_sn=terminal, since=since, until=until, unmatched=True, limit=limit, offset=offset
    )
