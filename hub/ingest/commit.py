"""Commit what a flush of messages means in ONE transaction, then say which acks to publish.

Punches go in with insert-or-ignore on the idempotency key (``INSERT ... ON CONFLICT DO NOTHING``
on both SQLite and PostgreSQL); the keys the insert returns are the newly stored ones, the rest
were duplicates. Acks are built only after the commit returned (decision 2).
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub import deadletter, liveness
from hub.ingest.classify import (
    Delivery,
    HealthDelivery,
    Ignored,
    Meaning,
    PunchDelivery,
    Refusal,
    StatusDelivery,
    refuse,
)
from hub.ingest.fast_insert import BatchRow, PunchRow, insert_or_ignore, record_batches
from hub.reconcile.marks import mark_terminal_days
from presensi.contract import BatchAck, EdgeTopics, RejectedPunch

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Received:
    """A delivery and what it means; the unit the worker commits and then PUBACKs."""

    delivery: Delivery
    meaning: Meaning


@dataclass(slots=True)
class Outcome:
    acks: list[tuple[str, BatchAck]] = field(default_factory=list)
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0


class StoreUnavailable(Exception):
    """The store could not be reached or was busy: retry the same flush later, ack nothing."""


# PostgreSQL aborts one of two transactions that wait on each other (deadlock_detected), or one that
# conflicts under serializable isolation (serialization_failure): the same transaction succeeds when run
# again, so the punches in it are not the data's fault. Seen with two ingest workers and the hub's pending
# recompute marking and claiming the same terminal days at a morning peak.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})


def is_transient(exc: BaseException) -> bool:
    """Connection trouble, a busy SQLite or a deadlock: worth retrying. Anything else is the data's fault."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in RETRY_SQLSTATES:
        return True
    if isinstance(exc, (IntegrityError, StatementError)) and not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    return isinstance(exc, (OperationalError, InterfaceError, OSError, TimeoutError))


async def commit_received(engine: AsyncEngine, received: Sequence[Received], worker: str) -> Outcome:
    """Commit ``received`` together; if the store refuses the data, commit message by message.

    A message the store itself refuses (a value beyond a column's range, say) becomes a dead
    letter instead of blocking every later message. Raises StoreUnavailable for transient trouble.
    """
    try:
        return await _commit(engine, received, worker)
    except Exception as exc:
        if is_transient(exc):
            raise StoreUnavailable(_first_line(exc)) from exc
        if len(received) == 1:
            return await _commit_refused(engine, received[0], exc, worker)
        log.warning("store refused a flush of %d messages (%s); isolating the culprit", len(received), _first_line(exc))
    outcome = Outcome()
    for one in received:
        single = await commit_received(engine, [one], worker)
        outcome.acks += single.acks
        outcome.stored += single.stored
        outcome.duplicates += single.duplicates
        outcome.dead_letters += single.dead_letters
    return outcome


async def _commit_refused(engine: AsyncEngine, one: Received, exc: BaseException, worker: str) -> Outcome:
    """Keep a message the store refused as a dead letter. A punch batch is still acked, naming every
    punch as rejected, so the edge stops resending something the hub can never store."""
    d = one.delivery
    reason = f"store refused the message: {type(exc).__name__}: {_first_line(exc)}"
    meaning = one.meaning
    letter = refuse(d, getattr(meaning, "edge_id", None), reason)
    if isinstance(meaning, PunchDelivery):
        rejected = meaning.rejected + tuple(RejectedPunch(key=p.key, reason=reason) for p in meaning.punches)
        acked = replace(meaning, punches=(), rejected=rejected, refusals=(letter,))
        try:
            return await _commit(engine, [Received(d, acked)], worker)
        except Exception as again:
            if is_transient(again):
                raise StoreUnavailable(_first_line(again)) from again
            # Even the envelope does not fit (a seq beyond the column, say): dead letter, no ack.
    return await _commit(engine, [Received(d, letter)], worker)


def _first_line(exc: BaseException) -> str:
    """Driver errors carry the whole statement and parameters; the first line says what went wrong."""
    lines = str(exc).splitlines()
    return lines[0][:500] if lines else type(exc).__name__


async def _commit(engine: AsyncEngine, received: Sequence[Received], worker: str) -> Outcome:
    punch_deliveries: list[PunchDelivery] = []
    statuses: list[StatusDelivery] = []
    heartbeats: list[HealthDelivery] = []
    refusals: list[Refusal] = []
    for one in received:
        meaning = one.meaning
        if isinstance(meaning, PunchDelivery):
            punch_deliveries.append(meaning)
            refusals.extend(meaning.refusals)
        elif isinstance(meaning, StatusDelivery):
            statuses.append(meaning)
        elif isinstance(meaning, HealthDelivery):
            heartbeats.append(meaning)
        elif isinstance(meaning, Refusal):
            refusals.append(meaning)
        else:
            assert isinstance(meaning, Ignored)

    async with engine.begin() as connection:
        claimed = await _store_punches(connection, punch_deliveries)
        await _record_batches(connection, punch_deliveries)
        await liveness.apply_statuses(connection, statuses)
        await liveness.apply_heartbeats(connection, heartbeats)
        await deadletter.keep(connection, refusals, worker)
    committed_at = datetime.now(UTC)

    outcome = Outcome(dead_letters=len(refusals))
    for index, d in enumerate(punch_deliveries):
        stored = claimed.get(index, 0)
        duplicates = len(d.punches) - stored
        outcome.stored += stored
        outcome.duplicates += duplicates
        ack = BatchAck(
            edge_id=d.edge_id,
            batch_id=d.batch_id,
            seq=d.seq,
            stored=stored,
            duplicates=duplicates,
            rejected=d.rejected,
            committed_at=committed_at,
        )
        outcome.acks.append((EdgeTopics(d.edge_id).ack, ack))
    return outcome


async def _store_punches(connection: AsyncConnection, deliveries: Sequence[PunchDelivery]) -> dict[int, int]:
    """Insert-or-ignore every punch; return how many each delivery (by index) stored for the first time."""
    owner: dict[str, int] = {}
    rows: list[PunchRow] = []
    for index, d in enumerate(deliveries):
        for p in d.punches:
            if p.key in owner:
                continue  # the same punch twice in one flush: the first message stores it
            owner[p.key] = index
            rows.append(PunchRow(p, d.edge_id, d.batch_id, d.received_at))
    stored: dict[int, int] = {}
    new_keys = await insert_or_ignore(connection, rows)
    for key in new_keys:
        stored[owner[key]] = stored.get(owner[key], 0) + 1
    if new_keys:
        # Attendance days to recompute: (terminal, local date) only; employees are resolved later.
        fresh = set(new_keys)
        await mark_terminal_days(
            connection, {(r.punch.terminal_sn, r.punch.local_time.date()) for r in rows if r.punch.key in fresh}
        )
    return stored


async def _record_batches(connection: AsyncConnection, deliveries: Sequence[PunchDelivery]) -> None:
    rows = {
        (d.edge_id, d.seq): BatchRow(
            d.edge_id, d.seq, d.batch_id, d.session, len(d.punches) + len(d.rejected), d.received_at
        )
        for d in deliveries
    }
    await record_batches(connection, list(rows.values()))
