"""Units (satuan kerja / OPD): the organisation tree. Reading is open to every role; shaping the
tree is an administrator's job."""

from fastapi import APIRouter, Response

from hub.api.deps import Administrator, Db, Reader
from hub.registry import service
from hub.registry.schemas import UnitIn, UnitOut, UnitPatch

router = APIRouter(prefix="/units", tags=["units"])


@router.get("")
async def list_units(db: Db, _caller: Reader) -> list[UnitOut]:
    return await service.list_units(db)


@router.post("", status_code=201)
async def create_unit(data: UnitIn, db: Db, caller: Administrator) -> UnitOut:
    return await service.create_unit(db, data, caller.actor)


@router.get("/{code}")
async def get_unit(code: str, db: Db, _caller: Reader) -> UnitOut:
    return await service.get_unit(db, code)


@router.patch("/{code}")
async def update_unit(code: str, patch: UnitPatch, db: Db, caller: Administrator) -> UnitOut:
    return await service.update_unit(db, code, patch, caller.actor)


@router.delete("/{code}", status_code=204)
async def delete_unit(code: str, db: Db, caller: Administrator) -> Response:
    await service.delete_unit(db, code, caller.actor)
    return Response(status_code=204)
