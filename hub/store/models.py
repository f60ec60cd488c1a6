"""The hub's tables. Migrations in ``hub/migrations`` create them; a test proves the two agree.

Punches keep the raw record exactly as the edge delivered it under the UNIQUE idempotency key.
Whose punch it is is not stored on the punch: it is looked up through ``enrollments`` at query time
(terminal serial + PIN + local date within validity), so adding or correcting an enrollment
re-attributes old punches at once and ingest never waits for the registry.
"""

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hub.attendance.day import Finding
from hub.store.types import BigIntId, JsonDocument, UtcDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# --- registry -------------------------------------------------------------------------------------


class Unit(Base):
    """A satuan kerja / OPD; ``parent_id`` makes the organisation a tree."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Employee(Base):
    """A civil servant, identified by NIP."""

    __tablename__ = "employees"
    __table_args__ = (
        CheckConstraint("job_class BETWEEN 1 AND 17", name="job_class_range"),
        CheckConstraint("active_to IS NULL OR active_to >= active_from", name="active_dates_ordered"),
    )

    nip: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    job_class: Mapped[int | None] = mapped_column(SmallInteger)
    schedule_group: Mapped[str | None] = mapped_column(String(64))
    active_from: Mapped[date] = mapped_column(Date)
    active_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Terminal(Base):
    """An attendance terminal, by the serial it reports; ``zone`` is its IANA zone."""

    __tablename__ = "terminals"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    location: Mapped[str] = mapped_column(String(200))
    zone: Mapped[str] = mapped_column(String(64))
    edge_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Enrollment(Base):
    """PIN ``pin`` on terminal ``terminal_sn`` is employee ``nip`` from ``valid_from`` to ``valid_to``.

    Both dates are inclusive terminal-local dates; ``valid_to`` None means still valid. PINs get
    reused, so the same terminal + PIN may have several enrollments, never overlapping.
    """

    __tablename__ = "enrollments"
    __table_args__ = (
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="validity_ordered"),
        Index(None, "terminal_sn", "pin"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    terminal_sn: Mapped[str] = mapped_column(ForeignKey("terminals.serial", ondelete="RESTRICT"))
    pin: Mapped[str] = mapped_column(String(24))
    nip: Mapped[str] = mapped_column(ForeignKey("employees.nip", ondelete="RESTRICT"), index=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


# --- ingest ---------------------------------------------------------------------------------------


class Punch(Base):
    """One punch as delivered, stored once under its idempotency key."""

    __tablename__ = "punches"
    __table_args__ = (
        Index(None, "terminal_sn", "pin", "local_date"),
        Index(None, "utc"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    terminal_sn: Mapped[str] = mapped_column(String(64))
    pin: Mapped[str] = mapped_column(String(24))
    local_time: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    local_date: Mapped[date] = mapped_column(Date)
    zone: Mapped[str] = mapped_column(String(64))
    utc: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[int] = mapped_column(SmallInteger)
    punch: Mapped[int] = mapped_column(SmallInteger)
    verify: Mapped[int | None] = mapped_column(SmallInteger)
    workcode: Mapped[int] = mapped_column(Integer)
    read_at: Mapped[datetime] = mapped_column(UtcDateTime)
    flags: Mapped[str] = mapped_column(String(200), doc="Comma-separated PunchFlag values, '' for none")
    historical: Mapped[bool] = mapped_column(Boolean)
    edge_id: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[str] = mapped_column(String(80))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Batch(Base):
    """Each punch batch seen, by edge and seq: the record sequence gaps are computed from."""

    __tablename__ = "batches"

    edge_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=False)
    batch_id: Mapped[str] = mapped_column(String(80))
    session: Mapped[int] = mapped_column(BigIntId)
    punches: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeadLetter(Base):
    """A message (or a punch of one) the hub refused, kept byte for byte with the reason."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    topic: Mapped[str] = mapped_column(Text)
    edge_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    worker: Mapped[str] = mapped_column(String(128))


# --- liveness -------------------------------------------------------------------------------------


class Edge(Base):
    """The last known state of an edge agent, from its retained status and its heartbeats."""

    __tablename__ = "edges"

    edge_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(16))
    session: Mapped[int | None] = mapped_column(BigIntId)
    status_reason: Mapped[str | None] = mapped_column(String(32))
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    agent_version: Mapped[str | None] = mapped_column(String(64))
    terminals: Mapped[list[str] | None] = mapped_column(JSON)
    health_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    health_session: Mapped[int | None] = mapped_column(BigIntId)
    last_seq: Mapped[int | None] = mapped_column(BigIntId, doc="Highest seq the edge says it has sent")
    uptime_seconds: Mapped[float | None] = mapped_column(Float)
    buffer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TerminalHealth(Base):
    """A terminal as its edge last reported it."""

    __tablename__ = "terminal_health"

    edge_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    terminal_sn: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    reachable: Mapped[bool] = mapped_column(Boolean)
    last_poll: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_success: Mapped[datetime | None] = mapped_column(UtcDateTime)
    records: Mapped[int | None] = mapped_column(Integer)
    record_capacity: Mapped[int | None] = mapped_column(Integer)
    users: Mapped[int | None] = mapped_column(Integer)
    drift_seconds: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)


# --- access ---------------------------------------------------------------------------------------


class ApiToken(Base):
    """A bearer token; only the SHA-256 of the secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditEntry(Base):
    """Who changed what in the registry, when, with the row before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "entity", "entity_key"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(16))
    entity: Mapped[str] = mapped_column(String(32))
    entity_key: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# --- attendance -----------------------------------------------------------------------------------


class ScheduleGroupRow(Base):
    """A schedule group: the document (``hub.reconcile.documents.ScheduleGroupDoc``) kept as JSON."""

    __tablename__ = "schedule_groups"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ScheduleAssignmentRow(Base):
    """A group assigned to a unit (``unit_id``) or, as a per-employee exception, to one employee (``nip``)."""

    __tablename__ = "schedule_assignments"
    __table_args__ = (
        CheckConstraint("(unit_id IS NULL) <> (nip IS NULL)", name="unit_or_employee"),
        CheckConstraint("valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from", name="validity_ordered"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_code: Mapped[str] = mapped_column(ForeignKey("schedule_groups.code", ondelete="RESTRICT"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    nip: Mapped[str | None] = mapped_column(ForeignKey("employees.nip", ondelete="CASCADE"), index=True)
    zone: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class HolidayRow(Base):
    """A national holiday or cuti bersama date."""

    __tablename__ = "holidays"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class AbsenceRow(Base):
    """Cuti, sakit, dinas luar, izin, tugas belajar for ``first``..``last`` inclusive, with its approval."""

    __tablename__ = "absences"
    __table_args__ = (
        CheckConstraint("last >= first", name="dates_ordered"),
        Index(None, "nip", "first", "last"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    nip: Mapped[str] = mapped_column(ForeignKey("employees.nip", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(8))
    first: Mapped[date] = mapped_column(Date)
    last: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ActivityRow(Base):
    """A daily activity entry with its review state."""

    __tablename__ = "activities"
    __table_args__ = (Index(None, "nip", "day"), Index(None, "external_id", unique=True))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    nip: Mapped[str] = mapped_column(ForeignKey("employees.nip", ondelete="RESTRICT"))
    day: Mapped[date] = mapped_column(Date)
    start: Mapped[time] = mapped_column(Time)
    end: Mapped[time] = mapped_column(Time)
    description: Mapped[str] = mapped_column(Text)
    rhk_ref: Mapped[str] = mapped_column(String(200))
    norm_minutes: Mapped[int] = mapped_column(Integer)
    volume: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(24))
    reviewer_comment: Mapped[str] = mapped_column(Text)
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    external_id: Mapped[str | None] = mapped_column(
        String(100), doc="The entry's id in e-Kinerja: a CSV re-import updates the same row"
    )


class PolicyRow(Base):
    """One version of an allowance policy document; ``active`` versions are the ones the hub applies."""

    __tablename__ = "policies"
    __table_args__ = (Index(None, "policy_id", "version", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    policy_id: Mapped[str] = mapped_column(String(64))
    organisation: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime)


def finding_predicate(kind: str) -> str:
    """SQL that is true for the attendance days with finding ``kind`` (a ``Finding`` value, never user text)."""
    return f"findings LIKE '%{kind}%'"


class AttendanceDayRow(Base):
    """The computed attendance day; ``version`` grows each time a recompute changes ``result``."""

    __tablename__ = "attendance_days"
    __table_args__ = (
        Index(None, "day"),
        # The exceptions queue lists one finding kind's days by date: a partial index per kind holds only those
        # days (migration 0012). The predicate is written out in the query too, or the planner cannot use it.
        *(
            Index(
                f"ix_attendance_days_{kind.value}",
                "day",
                "nip",
                postgresql_where=sql_text(finding_predicate(kind.value)),
                sqlite_where=sql_text(finding_predicate(kind.value)),
            )
            for kind in Finding
        ),
    )

    # No foreign key to employees: recompute is the only writer and reads the employee in the same batch, and
    # the per-row check cost a third of PostgreSQL's insert (migration 0008); delete_employee deletes the days.
    nip: Mapped[str] = mapped_column(String(18), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    check_in: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    check_out: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    minutes_late: Mapped[int] = mapped_column(Integer)
    minutes_early: Mapped[int] = mapped_column(Integer)
    codes: Mapped[str | None] = mapped_column(String(64))
    deduction_percent: Mapped[Decimal] = mapped_column(Numeric(9, 4))
    policy_id: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[int] = mapped_column(Integer)
    result: Mapped[dict[str, Any]] = mapped_column(JsonDocument)  # text on PostgreSQL (migration 0010)
    version: Mapped[int] = mapped_column(Integer)
    inputs_hash: Mapped[str] = mapped_column(String(64))
    # On PostgreSQL it defaults to now() (migration 0009): recompute's COPY leaves it out.
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The result's reconciliation findings, space-separated (migration 0012): the exceptions queue's filter.
    findings: Mapped[str] = mapped_column(String(200), default="", server_default="")


class CorrectionRow(Base):
    """An operator's correction beside the raw data (raw punches are never edited)."""

    __tablename__ = "corrections"
    __table_args__ = (
        CheckConstraint("length(reason) > 0", name="reason_required"),
        Index(None, "nip", "day"),
        Index(None, "terminal_sn", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(24))
    nip: Mapped[str | None] = mapped_column(ForeignKey("employees.nip", ondelete="RESTRICT"))
    terminal_sn: Mapped[str | None] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class RecomputeTerminalDay(Base):
    """Ingest marks (terminal, local date) here; ``recompute --pending`` resolves it to employees later."""

    __tablename__ = "recompute_terminal_days"

    terminal_sn: Mapped[str] = mapped_column(String(64), primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    marked_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RecomputeQueue(Base):
    """An employee's days ``first``..``last`` to recompute; ``recompute --pending`` merges and deletes them."""

    __tablename__ = "recompute_queue"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    nip: Mapped[str] = mapped_column(String(18))
    first: Mapped[date] = mapped_column(Date)
    last: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(32))
    marked_at: Mapped[datetime] = mapped_column(UtcDateTime)


# --- e-Kinerja feed -------------------------------------------------------------------------------


class FeedRecord(Base):
    """One version of a record for e-Kinerja in the transactional outbox, written in the same transaction as the
    attendance day (or the month's recap) it carries, so a committed change can never miss the feed. A daily
    record refers to its day's version (``nip``, ``day``, ``version``) rather than copying it: recompute queues a
    small row, and the dispatcher builds the payload from that version (a day that has moved on to a newer
    version has a newer record queued too).

    ``status``: pending -> sent, or retrying (``attempts``, ``last_error``, ``next_attempt_at``) -> sent; failed
    when the receiver refuses the record itself (an operator retries it); superseded when a newer version of the
    same ``record_key`` was queued before this one was sent (the newer one carries the data).

    A record version is unique by (``kind``, ``record_key``, ``version``), which ``idempotency_key`` spells out for
    the receiver (``hub.feed.records.idempotency_key``); one index keeps both unique (migration 0011)."""

    __tablename__ = "feed_records"
    __table_args__ = (
        Index(None, "status", "next_attempt_at"),
        UniqueConstraint("kind", "record_key", "version"),
        Index(None, "month", "unit_code"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(16))
    record_key: Mapped[str] = mapped_column(String(120))
    version: Mapped[int] = mapped_column(Integer)
    nip: Mapped[str] = mapped_column(String(18), index=True)
    unit_code: Mapped[str] = mapped_column(String(32))
    month: Mapped[str] = mapped_column(String(7))
    day: Mapped[date | None] = mapped_column(Date, doc="The attendance day of a daily record")
    payload: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, doc="The record as sent; a daily record's is built from its day's version at the first attempt"
    )
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(16), doc="The receiver's word: stored, duplicate, stale")
    # Both default to now() on PostgreSQL (migration 0009): recompute's COPY of first versions leaves them out.
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class MonthRecapRow(Base):
    """The recap of a closed month as last fed: a later correction that changes it bumps ``version``."""

    __tablename__ = "month_recaps"
    __table_args__ = (Index(None, "month", "unit_code"),)

    nip: Mapped[str] = mapped_column(ForeignKey("employees.nip", ondelete="CASCADE"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    recap: Mapped[dict[str, Any]] = mapped_column(JSON)
    closed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MonthClose(Base):
    """One run of closing a month (for a unit subtree or everyone) and what it did."""

    __tablename__ = "month_closes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    unit_code: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), doc="running, done or failed")
    employees: Mapped[int] = mapped_column(Integer)
    enqueued: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer, doc="No day of the month could be evaluated")
    error: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# --- coordination ---------------------------------------------------------------------------------


class Lease(Base):
    """A named lease: whoever holds an unexpired one may do the named job (one dispatcher, one recompute)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


# --- dashboard ------------------------------------------------------------------------------------


class HubUser(Base):
    """A person who signs in to the dashboard; ``role`` is one of the API's roles. Only the argon2 hash is kept."""

    __tablename__ = "hub_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class HubSession(Base):
    """A signed-in dashboard session, kept server-side: the cookie holds a secret, the table its SHA-256."""

    __tablename__ = "hub_sessions"

    secret_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("hub_users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    flash: Mapped[dict[str, str] | None] = mapped_column(
        JSON, doc="The outcome of the last write ({'notice'|'error': text}), shown once on the next page"
    )


class DeadLetterResolution(Base):
    """A dead letter an operator looked at and settled, with why; the dead letter itself is never edited."""

    __tablename__ = "dead_letter_resolutions"

    dead_letter_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("dead_letters.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    reason: Mapped[str] = mapped_column(Text)
    resolved_by: Mapped[str] = mapped_column(String(100))
    resolved_at: Mapped[datetime] = mapped_column(UtcDateTime)
