"""Attendance terminals by serial, with the zone their local time is in."""

from fastapi import APIRouter, Response

from hub.api.deps import Corrector, Db, Reader
from hub.registry import service
from hub.registry.schemas import TerminalIn, TerminalOut, TerminalPatch

router = APIRouter(prefix="/terminals", tags=["terminals"])


@router.get("")
async def list_terminals(db: Db, _caller: Reader) -> list[TerminalOut]:
    return await service.list_terminals(db)


@router.post("", status_code=201)
async def create_terminal(data: TerminalIn, db: Db, caller: Corrector) -> TerminalOut:
    return await service.create_terminal(db, data, caller.actor)


@router.get("/{serial}")
async def get_terminal(serial: str, db: Db, _caller: Reader) -> TerminalOut:
    return await service.get_terminal(db, serial)


@router.patch("/{serial}")
async def update_terminal(serial: str, patch: TerminalPatch, db: Db, caller: Corrector) -> TerminalOut:
    return await service.update_terminal(db, serial, patch, caller.actor)


@router.delete("/{serial}", status_code=204)
async def delete_terminal(serial: str, db: Db, caller: Corrector) -> Response:
    await service.delete_terminal(db, serial, caller.actor)
    return Response(status_code=204)
