"""Policy previews run in the background of the hub's API process, for a whole organisation's month.

A preview of 50,000 employees recaps each of them twice: 30-40 s on the benchmark machine, more on a busy one,
longer than a reverse proxy may let one request wait; and ``POST /policies/{id}/preview`` computed it again for
every page. Here a preview is started (``POST /policies/{id}/previews``: 202 with the job), followed (``GET
.../previews/{job}``: how many employees are done), then paged from the kept result as often as wanted. Jobs live
in the process's memory: a restarted hub has none (a preview writes nothing, so starting it again loses nothing).
The newest ``KEEP`` finished jobs are kept, each employee's figures as JSON (a 50,000-employee preview is ~210 MiB
as objects, ~26 MiB as text); at most ``RUNNING`` run at once, as each takes the worker processes recompute uses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.reconcile.preview import EmployeePreview, PolicyPreview, PreviewRun, candidate_policy, run_preview
from hub.registry.errors import Conflict, NotFound
from hub.registry.service import subtree_ids

log = logging.getLogger(__name__)

KEEP = 10  # finished jobs kept for paging, newest first
RUNNING = 2  # jobs computing at once

JobStatus = Literal["running", "done", "failed"]


class PreviewJobOut(BaseModel):
    """A preview job as the API shows it; ``preview`` is a page of the result once it is done."""

    id: str
    policy_row_id: int
    year: int
    month: int
    unit: str | None
    requested_by: str
    status: JobStatus
    done: int  # employees compared so far
    total: int | None  # employees to compare (known once the job has read them)
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    preview: PolicyPreview | None


@dataclass(frozen=True)
class KeptPreview:
    """A finished preview as a job keeps it: the run without its employees, and each employee as JSON, parsed
    back only for the page asked for."""

    run: PreviewRun  # ``employees`` left empty
    employees: list[str]

    @classmethod
    def of(cls, run: PreviewRun) -> KeptPreview:
        return cls(dataclasses.replace(run, employees=[]), [e.model_dump_json() for e in run.employees])

    def page(self, limit: int, offset: int) -> PolicyPreview:
        shown = [EmployeePreview.model_validate_json(e) for e in self.employees[offset : offset + limit]]
        return self.run.page(0, 0).model_copy(update={"employees": shown, "limit": limit, "offset": offset})


@dataclass
class PreviewJob:
    id: str
    policy_row_id: int
    year: int
    month: int
    unit: str | None
    requested_by: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: JobStatus = "running"
    done: int = 0
    total: int | None = None
    finished_at: datetime | None = None
    error: str | None = None
    result: KeptPreview | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def out(self, limit: int = 100, offset: int = 0) -> PreviewJobOut:
        fields: dict[str, Any] = {k: getattr(self, k) for k in PreviewJobOut.model_fields if k != "preview"}
        return PreviewJobOut(**fields, preview=None if self.result is None else self.result.page(limit, offset))


class PreviewJobs:
    """The API process's preview jobs (``app.state.previews``)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, keep: int = KEEP, running: int = RUNNING):
        self._sessions = sessions
        self._keep = keep
        self._running = running
        self._jobs: OrderedDict[str, PreviewJob] = OrderedDict()

    async def start(
        self, session: AsyncSession, policy_row_id: int, year: int, month: int, unit: str | None, requested_by: str
    ) -> PreviewJob:
        """Check the request (an unknown version answers 404 here, not in the job) and start computing."""
        await candidate_policy(session, policy_row_id)
        if unit is not None:
            await subtree_ids(session, unit)  # an unknown unit: 404
        await session.rollback()
        busy = sum(job.status == "running" for job in self._jobs.values())
        if busy >= self._running:
            raise Conflict(f"{busy} previews are running already: wait for one to finish")
        job = PreviewJob(uuid.uuid4().hex, policy_row_id, year, month, unit, requested_by)
        self._jobs[job.id] = job
        job.task = asyncio.create_task(self._compute(job), name=f"policy preview {job.id}")
        self._forget_old()
        return job

    def get(self, policy_row_id: int, job_id: str) -> PreviewJob:
        job = self._jobs.get(job_id)
        if job is None or job.policy_row_id != policy_row_id:
            raise NotFound(f"no preview {job_id} of policy {policy_row_id} (kept in memory: the newest {KEEP})")
        return job

    async def close(self) -> None:
        """Stop the running jobs (the API is shutting down)."""
        tasks = [job.task for job in self._jobs.values() if job.task is not None and not job.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _compute(self, job: PreviewJob) -> None:
        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        try:
            async with self._sessions() as session:
                run = await run_preview(
                    session, job.policy_row_id, job.year, job.month, unit_code=job.unit, progress=progress
                )
            job.result = await asyncio.to_thread(KeptPreview.of, run)  # ~1 s for 50,000 employees
            job.total = job.done = len(run.employees)
            job.status = "done"
        except asyncio.CancelledError:
            job.status, job.error = "failed", "the hub stopped before the preview finished"
            raise
        except Exception as exc:  # the job reports it; the API process carries on
            log.exception("policy preview %s failed", job.id)
            job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            job.finished_at = datetime.now(UTC)

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self._jobs.items() if job.status != "running"]
        for job_id in finished[: max(0, len(finished) - self._keep)]:
            del self._jobs[job_id]
