"""Allowance policy documents: validate, upload (YAML or TOML), activate, list. Refusals list each bad field's
path in ``details`` (``[{path, message}]``)."""

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Query, Request, Response

from hub.api.deps import Administrator, Db, Limit, Offset, Reader, RowId
from hub.api.errors import ApiError
from hub.reconcile import records
from hub.reconcile.preview import PolicyPreview, preview_policy, previous_month
from hub.reconcile.preview_jobs import PreviewJobOut, PreviewJobs
from hub.reconcile.recaps import parse_month
from hub.reconcile.records import PolicyDocumentOut, PolicyOut

router = APIRouter(prefix="/policies", tags=["policies"])
POLICY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/toml": {"schema": {"type": "string"}},
        },
    }
}
MAX_POLICY_BYTES = 1 * 2**20
PreviewMonth = Query(default=None, pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$", description="YYYY-MM; default last month")


async def document_text(request: Request) -> str:
    body = await request.body()
    if len(body) > MAX_POLICY_BYTES:
        raise ApiError(413, f"a policy document is at most {MAX_POLICY_BYTES} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the policy document is not UTF-8 text") from None


@router.get("")
async def list_policies(db: Db, _caller: Reader) -> list[PolicyOut]:
    return await records.list_policies(db)


@router.get("/{policy_row_id}")
async def get_policy(policy_row_id: RowId, db: Db, _caller: Reader) -> PolicyDocumentOut:
    return await records.get_policy(db, policy_row_id)


@router.post("/validate", openapi_extra=POLICY_BODY)
async def validate_policy(
    request: Request, _caller: Administrator, fmt: Literal["yaml", "toml"] = Query(default="yaml", alias="format")
) -> dict[str, object]:
    """Check a document without storing it: 200 with its id and version, or 422 listing every problem."""
    policy = records.check_policy(await document_text(request), fmt)
    return {"valid": True, "id": policy.id, "version": policy.version, "effective_from": policy.effective_from}


@router.post("", status_code=201, openapi_extra=POLICY_BODY)
async def upload_policy(
    request: Request,
    db: Db,
    caller: Administrator,
    fmt: Literal["yaml", "toml"] = Query(default="yaml", alias="format"),
    activate: bool = Query(default=False, description="make this version active at once"),
) -> PolicyOut:
    """Store a new version (refused with the path of each bad field); versions are never overwritten."""
    return await records.upload_policy(db, await document_text(request), fmt, caller.actor, activate=activate)


@router.post("/{policy_row_id}/activate")
async def activate_policy(policy_row_id: RowId, db: Db, caller: Administrator) -> PolicyOut:
    return await records.activate_policy(db, policy_row_id, caller.actor)


@router.post("/{policy_row_id}/preview")
async def preview(
    policy_row_id: RowId,
    db: Db,
    _caller: Administrator,
    month: str | None = PreviewMonth,
    unit: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PolicyPreview:
    """The month (default: last month) under the active policies and under this version alone, per employee
    (paged) and in total. Writes nothing; the version need not be active. Computed for each request: for a whole
    organisation, start a preview job instead (``POST .../previews``)."""
    year, number = _month(month)
    return await preview_policy(db, policy_row_id, year, number, unit_code=unit, limit=limit, offset=offset)


def _month(month: str | None) -> tuple[int, int]:
    return previous_month(datetime.now(UTC).date()) if month is None else parse_month(month)


def _previews(request: Request) -> PreviewJobs:
    jobs: PreviewJobs = request.app.state.previews
    return jobs


@router.post("/{policy_row_id}/previews", status_code=202)
async def start_preview(
    policy_row_id: RowId,
    request: Request,
    response: Response,
    db: Db,
    caller: Administrator,
    month: str | None = PreviewMonth,
    unit: str | None = None,
) -> PreviewJobOut:
    """Start the preview of a whole organisation's (or a unit subtree's) month in the background: follow it and
    page its result at the ``Location`` given (``GET .../previews/{job}``). At most two run at once (409)."""
    year, number = _month(month)
    job = await _previews(request).start(db, policy_row_id, year, number, unit, caller.actor)
    response.headers["Location"] = f"{request.url.path}/{job.id}"
    return job.out()


@router.get("/{policy_row_id}/previews/{job_id}")
async def preview_job(
    policy_row_id: RowId, job_id: str, request: Request, _caller: Reader, limit: Limit = 100, offset: Offset = 0
) -> PreviewJobOut:
    """A preview job: running (``done`` of ``total`` employees), failed (``error``), or done with a page of its
    result (``preview``, paged by limit/offset from the kept result: nothing is computed again)."""
    return _previews(request).get(policy_row_id, job_id).out(limit, offset)
