"""Insert-or-ignore punches (returning the keys that were new) and batch records, fast.

SQLAlchemy's per-row parameter processing costs about 100 us a row, which would cap ingest below the
morning peak. This module speaks each driver directly through ``exec_driver_sql`` (same connection,
same transaction): PostgreSQL gets one array per column through ``unnest``; SQLite gets multi-row
VALUES statements. Values are written in exactly the forms the ORM reads back
(see ``hub.store.types``): SQLite datetimes as naive-UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` text.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection

from presensi.contract import PunchRecord

COLUMNS = (
    "key",
    "terminal_sn",
    "pin",
    "local_time",
    "local_date",
    "zone",
    "utc",
    "status",
    "punch",
    "verify",
    "workcode",
    "read_at",
    "flags",
    "historical",
    "edge_id",
    "batch_id",
    "received_at",
)
POSTGRES_TYPES = (
    "text",
    "text",
    "text",
    "timestamp",
    "date",
    "text",
    "timestamptz",
    "smallint",
    "smallint",
    "smallint",
    "integer",
    "timestamptz",
    "text",
    "boolean",
    "text",
    "text",
    "timestamptz",
)
SQLITE_ROWS_PER_STATEMENT = 1000  # 17 columns x 1000 stays below SQLite's 32766 bound parameters


class PunchRow(NamedTuple):
    """A punch with the delivery context the hub stores next to it."""

    punch: PunchRecord
    edge_id: str
    batch_id: str
    received_at: datetime


def _flags(p: PunchRecord) -> str:
    return ",".join(sorted({flag.value for flag in p.flags})) if p.flags else ""


async def insert_or_ignore(connection: AsyncConnection, rows: Sequence[PunchRow]) -> list[str]:
    """Insert ``rows`` (keys unique among them), skipping keys already stored; return the new keys."""
    if not rows:
        return []
    if connection.dialect.name == "postgresql":
        return await _postgres(connection, rows)
    return await _sqlite(connection, rows)


async def _postgres(connection: AsyncConnection, rows: Sequence[PunchRow]) -> list[str]:
    columns = list(
        zip(
            *(
                (
                    p.key,
                    p.terminal_sn,
                    p.pin,
                    p.local_time,
                    p.local_time.date(),
                    p.zone,
                    p.utc,
                    p.status,
                    p.punch,
                    p.verify,
                    p.workcode,
                    p.read_at,
                    _flags(p),
                    p.historical,
                    edge_id,
                    batch_id,
                    received_at,
                )
                for p, edge_id, batch_id, received_at in rows
            ),
            strict=True,
        )
    )
    result = await connection.exec_driver_sql(_postgres_sql(), tuple(list(column) for column in columns))
    return [key for (key,) in result.all()]


@cache
def _postgres_sql() -> str:
    arrays = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(POSTGRES_TYPES, start=1))
    return (
        f"INSERT INTO punches ({', '.join(COLUMNS)}) SELECT * FROM unnest({arrays}) "
        "ON CONFLICT (key) DO NOTHING RETURNING key"
    )


async def _sqlite(connection: AsyncConnection, rows: Sequence[PunchRow]) -> list[str]:
    inserted: list[str] = []
    for start in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
        chunk = rows[start : start + SQLITE_ROWS_PER_STATEMENT]
        params: list[object] = []
        # An edge reads many punches at once, so read_at (like received_at) repeats: format each once.
        as_text: dict[datetime, str] = {}
        for p, edge_id, batch_id, received_at in chunk:
            received = as_text.get(received_at) or as_text.setdefault(received_at, _utc_text(received_at))
            read_at = as_text.get(p.read_at) or as_text.setdefault(p.read_at, _utc_text(p.read_at))
            local_text = p.local_time.isoformat(" ", "microseconds")
            params += (
                p.key,
                p.terminal_sn,
                p.pin,
                local_text,
                local_text[:10],  # the local date, YYYY-MM-DD
                p.zone,
                _utc_text(p.utc),
                p.status,
                p.punch,
                p.verify,
                p.workcode,
                read_at,
                _flags(p),
                int(p.historical),
                edge_id,
                batch_id,
                received,
            )
        result = await connection.exec_driver_sql(_sqlite_sql(len(chunk)), tuple(params))
        inserted.extend(key for (key,) in result.all())
    return inserted


@cache
def _sqlite_sql(count: int) -> str:
    one = "(" + ", ".join("?" * len(COLUMNS)) + ")"
    return (
        f"INSERT INTO punches ({', '.join(COLUMNS)}) VALUES {', '.join([one] * count)} "
        "ON CONFLICT (key) DO NOTHING RETURNING key"
    )


def _utc_text(instant: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME text for an aware instant, as ``UtcDateTime`` writes it."""
    if instant.utcoffset():
        instant = instant.astimezone(UTC)
    return instant.replace(tzinfo=None).isoformat(" ", "microseconds")


BATCH_COLUMNS = ("edge_id", "seq", "batch_id", "session", "punches", "received_at")
BATCH_POSTGRES_TYPES = ("text", "bigint", "text", "bigint", "integer", "timestamptz")


class BatchRow(NamedTuple):
    edge_id: str
    seq: int
    batch_id: str
    session: int
    punches: int
    received_at: datetime


async def record_batches(connection: AsyncConnection, rows: Sequence[BatchRow]) -> None:
    """Insert-or-ignore one row per (edge, seq): a resent batch is already there."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        columns = tuple(list(column) for column in zip(*rows, strict=True))
        await connection.exec_driver_sql(_batch_postgres_sql(), columns)
        return
    for start in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
        chunk = rows[start : start + SQLITE_ROWS_PER_STATEMENT]
        params: list[object] = []
        for row in chunk:
            params += (*row[:5], _utc_text(row.received_at))
        await connection.exec_driver_sql(_batch_sqlite_sql(len(chunk)), tuple(params))


@cache
def _batch_postgres_sql() -> str:
    arrays = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(BATCH_POSTGRES_TYPES, start=1))
    return (
        f"INSERT INTO batches ({', '.join(BATCH_COLUMNS)}) SELECT * FROM unnest({arrays}) "
        "ON CONFLICT (edge_id, seq) DO NOTHING"
    )


@cache
def _batch_sqlite_sql(count: int) -> str:
    one = "(" + ", ".join("?" * len(BATCH_COLUMNS)) + ")"
    return (
        f"INSERT INTO batches ({', '.join(BATCH_COLUMNS)}) VALUES {', '.join([one] * count)} "
        "ON CONFLICT (edge_id, seq) DO NOTHING"
    )
