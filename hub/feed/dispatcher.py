"""The dispatcher: POSTs due outbox records to e-Kinerja in batches, under a store lease so that only one hub
process sends at a time however many run.

A record is due when it is pending, or retrying and its ``next_attempt_at`` has come. A batch's answer decides
each record:
- 200 with an outcome per record (stored, duplicate, stale): sent. Duplicate means the receiver already had this
  version (a retry after a lost answer): that is exactly-once delivery by idempotency key, not an error;
- a timeout, a connection failure, 5xx, 429, 401, 404 ...: retrying, ``attempts`` + 1, the wait doubling from
  ``first_backoff_seconds`` up to ``max_backoff_seconds``, the reason in ``last_error``;
- 422 (the receiver refuses the content): a batch is split and each record sent alone, so one bad record does
  not hold back the others; a single refused record is failed until an operator retries it.

The lease is renewed before each batch and outlasts a POST (``lease_seconds`` > 2 x ``timeout_seconds``): if it
is lost, sending stops before the next batch. Two senders could overlap only if a POST outlived the lease, and
then the receiver answers "duplicate" for the second copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.feed import outbox
from hub.feed.records import DAILY, DUE, FeedStatus
from hub.settings import EkinerjaSettings
from hub.store.db import session_factory
from hub.store.lease import LeaseHandle, current_holder, holder_name
from hub.store.models import FeedRecord
from presensi.ekinerja import SubmissionResult

log = logging.getLogger(__name__)

LEASE = "ekinerja-dispatcher"
PRUNE_EVERY = timedelta(hours=1)
GIVE_UP_ROUND_AFTER = 3  # batches failing in a row (nothing sent) end a round early


@dataclass
class SendReport:
    """What one ``send_once`` did."""

    lease: bool = True  # False: another process holds the dispatcher lease, nothing was tried
    batches: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(settings: EkinerjaSettings, attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: first, 2 x first, 4 x first, ... capped."""
    seconds = settings.first_backoff_seconds * 2 ** min(max(attempts - 1, 0), 40)
    return timedelta(seconds=min(seconds, settings.max_backoff_seconds))


@dataclass(frozen=True)
class _Due:
    id: int
    record_key: str
    version: int
    attempts: int
    payload: dict[str, Any]


class Dispatcher:
    def __init__(
        self, settings: EkinerjaSettings, engine: AsyncEngine, *, holder: str | None = None, max_batches: int = 50
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions = session_factory(engine)
        self.lease = LeaseHandle(engine, LEASE, holder or holder_name("e-kinerja dispatcher"), settings.lease_seconds)
        self.max_batches = max_batches  # per send_once, so a large backlog does not starve the lease renewal
        self._last_prune: datetime | None = None
        self._stopping: asyncio.Event | None = None

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.settings.token is not None:
            headers["Authorization"] = f"Bearer {self.settings.token.get_secret_value()}"
        return headers

    async def send_once(self, *, keep_lease: bool = False) -> SendReport:
        """Take the lease, send due records batch by batch until none is due (or ``max_batches``), release."""
        report = SendReport()
        if self.settings.url is None:
            report.errors.append("ekinerja.url is not set: records stay pending")
            return report
        if not await self.lease.acquire():
            report.lease = False
            return report
        try:
            timeout = httpx.Timeout(self.settings.timeout_seconds)
            # Each record is tried at most once a round: one that fails now is due again only after the round.
            started = datetime.now(UTC)
            failed_in_a_row = 0
            async with httpx.AsyncClient(timeout=timeout, headers=self._headers()) as client:
                for _ in range(self.max_batches):
                    if self._stopping is not None and self._stopping.is_set():
                        break  # shutting down: the batch in hand was settled, the rest waits for the next run
                    due = await self._due(started)
                    if not due:
                        break
                    if not await self.lease.renew():
                        report.errors.append("lost the dispatcher lease")
                        break
                    report.batches += 1
                    retrying, sent = report.retrying, report.sent
                    await self._send(client, due, report)
                    failed = report.retrying > retrying and report.sent == sent  # this batch: nothing went through
                    failed_in_a_row = failed_in_a_row + 1 if failed else 0
                    if failed_in_a_row >= GIVE_UP_ROUND_AFTER:
                        break  # the receiver is down: leave the rest for the next round instead of hammering it
        finally:
            if not keep_lease:
                await self.lease.release()
        return report

    async def _due(self, now: datetime) -> list[_Due]:
        """The next batch of due records, oldest first, each with its payload (daily ones built from their day
        now, at their first attempt); records that turn out superseded or unbuildable are settled on the way."""
        query = (
            select(
                FeedRecord.id,
                FeedRecord.kind,
                FeedRecord.record_key,
                FeedRecord.version,
                FeedRecord.attempts,
                FeedRecord.payload,
                FeedRecord.nip,
                FeedRecord.day,
                FeedRecord.created_at,
            )
            .where(FeedRecord.status.in_(DUE), FeedRecord.next_attempt_at <= now)
            .order_by(FeedRecord.id)
            .limit(self.settings.batch_size)
        )
        while True:
            async with self.sessions() as db:
                rows = (await db.execute(query)).all()
                if not rows:
                    return []
                built = await outbox.daily_payloads(db, [r for r in rows if r.payload is None and r.kind == DAILY])
                for r in rows:
                    if r.payload is None and r.id not in built:
                        built[r.id] = outbox.Built(None, f"a {r.kind} record without a payload")
                unusable = [
                    {
                        "id": record_id,
                        "status": (FeedStatus.SUPERSEDED if b.superseded else FeedStatus.FAILED).value,
                        "last_error": b.problem,
                        "payload": b.payload,
                    }
                    for record_id, b in built.items()
                    if b.problem is not None
                ]
                if unusable:
                    await db.execute(update(FeedRecord), unusable)
                    await db.commit()
            due = []
            for r in rows:
                payload = built[r.id].payload if r.id in built else r.payload
                if payload is not None and (r.id not in built or built[r.id].problem is None):
                    due.append(_Due(r.id, r.record_key, r.version, r.attempts, payload))
            if due:  # else every row was settled as unusable just now: look at the next ones
                return due

    async def _send(self, client: httpx.AsyncClient, batch: list[_Due], report: SendReport) -> None:
        assert self.settings.url is not None
        try:
            response = await client.post(self.settings.url, json={"records": [r.payload for r in batch]})
        except httpx.TimeoutException:
            await self._retry(batch, f"no answer within {self.settings.timeout_seconds} s", report)
            return
        except httpx.HTTPError as exc:
            await self._retry(batch, f"{type(exc).__name__}: {exc}", report)
            return
        if response.status_code == 422:
            if len(batch) > 1:  # find the bad record(s): the others must not wait for an operator
                for record in batch:
                    await self._send(client, [record], report)
                return
            await self._settle(batch, FeedStatus.FAILED, f"refused as invalid: {response.text[:1500]}", report)
            return
        if response.status_code != 200:
            await self._retry(batch, f"HTTP {response.status_code}: {response.text[:500]}", report)
            return
        try:
            result = SubmissionResult.model_validate_json(response.content)
        except ValidationError as exc:
            await self._retry(batch, f"unreadable answer: {str(exc)[:500]}", report)
            return
        outcomes = {(o.key, o.version): o.outcome for o in result.outcomes}
        answered = [r for r in batch if (r.record_key, r.version) in outcomes]
        unanswered = [r for r in batch if (r.record_key, r.version) not in outcomes]
        await self._settle(answered, FeedStatus.SENT, None, report, outcomes)
        if unanswered:
            await self._retry(unanswered, "the receiver gave no outcome for this record", report)

    async def _settle(
        self,
        records: list[_Due],
        status: FeedStatus,
        error: str | None,
        report: SendReport,
        outcomes: Mapping[tuple[str, int], str] | None = None,
    ) -> None:
        if not records:
            return
        now = datetime.now(UTC)
        rows = [
            {
                "id": r.id,
                "status": status.value,
                "attempts": r.attempts + 1,
                "last_error": error,
                "outcome": (outcomes or {}).get((r.record_key, r.version)),
                "sent_at": now if status is FeedStatus.SENT else None,
                "payload": r.payload,  # what was sent: kept for the record
            }
            for r in records
        ]
        async with self.sessions() as db:
            await db.execute(update(FeedRecord), rows)
            await db.commit()
        if status is FeedStatus.SENT:
            report.sent += len(records)
        else:
            report.failed += len(records)
            report.errors.append(error or status.value)

    async def _retry(self, records: list[_Due], error: str, report: SendReport) -> None:
        now = datetime.now(UTC)
        rows = [
            {
                "id": r.id,
                "status": FeedStatus.RETRYING.value,
                "attempts": r.attempts + 1,
                "last_error": error,
                "next_attempt_at": now + backoff(self.settings, r.attempts + 1),
                "payload": r.payload,  # the next attempt sends the same bytes
            }
            for r in records
        ]
        async with self.sessions() as db:
            await db.execute(update(FeedRecord), rows)
            await db.commit()
        report.retrying += len(records)
        report.errors.append(error)
        log.warning("e-Kinerja feed: %d records to retry: %s", len(records), error)

    async def prune(self, now: datetime | None = None) -> int:
        async with self.sessions() as db:
            pruned = await outbox.prune(db, self.settings.retention_days, now)
            await db.commit()
        return pruned

    async def run(self, stopping: asyncio.Event) -> None:
        """Send, then wait ``poll_seconds`` (or less when a backlog remains), until ``stopping`` is set.

        Holds the lease between rounds while it keeps winning it, so another process only takes over when this
        one stops or dies; prunes old records once an hour while holding it."""
        log.info("e-Kinerja dispatcher %s sending to %s", self.lease.holder, self.settings.url)
        self._stopping = stopping
        try:
            while not stopping.is_set():
                wait = self.settings.poll_seconds
                try:
                    report = await self.send_once(keep_lease=True)
                    if report.batches >= self.max_batches:
                        wait = 0.0  # a backlog: go on at once, the lease stays ours
                    if report.lease and self.lease.held and self._prune_due():
                        pruned = await self.prune()
                        if pruned:
                            log.info("e-Kinerja feed: pruned %d old records", pruned)
                except Exception:  # the store or the network hiccuped: log, keep the dispatcher alive
                    log.exception("e-Kinerja dispatcher round failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=wait)
        finally:
            with contextlib.suppress(Exception):
                await self.lease.release()
            log.info("e-Kinerja dispatcher stopped")

    def _prune_due(self) -> bool:
        now = datetime.now(UTC)
        if self._last_prune is not None and now - self._last_prune < PRUNE_EVERY:
            return False
        self._last_prune = now
        return True


@dataclass
class FeedStatusReport:
    counts: dict[str, int]
    oldest_open_at: datetime | None
    next_attempt_at: datetime | None
    lease_holder: str | None
    lease_expires_at: datetime | None


async def feed_status(engine: AsyncEngine) -> FeedStatusReport:
    """How many records are in each status, the oldest unsent one, the next retry, and who sends."""
    async with session_factory(engine)() as db:
        by_status = select(FeedRecord.status, func.count().label("n")).group_by(FeedRecord.status)
        counts = {row.status: int(row.n) for row in (await db.execute(by_status)).all()}
        oldest = (
            await db.execute(select(func.min(FeedRecord.created_at)).where(FeedRecord.status.in_(DUE)))
        ).scalar_one()
        upcoming = (
            await db.execute(
                select(func.min(FeedRecord.next_attempt_at)).where(FeedRecord.status == FeedStatus.RETRYING.value)
            )
        ).scalar_one()
    holder, expires = await current_holder(engine, LEASE) or (None, None)
    return FeedStatusReport(
        counts={s.value: counts.get(s.value, 0) for s in FeedStatus},
        oldest_open_at=_aware(oldest),
        next_attempt_at=_aware(upcoming),
        lease_holder=holder,
        lease_expires_at=expires,
    )


def _aware(value: datetime | None) -> datetime | None:
    # min() over a UtcDateTime column comes back raw on SQLite (naive text); the column holds UTC
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
