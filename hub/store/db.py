"""Engines and sessions: SQLite (aiosqlite, WAL) embedded, PostgreSQL (asyncpg) in production."""

from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from hub.settings import DatabaseSettings

SQLITE_BUSY_TIMEOUT_MS = 10_000
# The settings each engine was made from: a recompute's worker processes open their own engines like it.
_SETTINGS: WeakKeyDictionary[Engine, DatabaseSettings] = WeakKeyDictionary()


def async_url(url: str) -> str:
    """Map the operator's plain URL to the async driver SQLAlchemy needs."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url.removeprefix("sqlite:")
    if url.startswith("postgresql:"):
        return "postgresql+asyncpg:" + url.removeprefix("postgresql:")
    return url


def create_engine(database: DatabaseSettings) -> AsyncEngine:
    engine = _create_engine(database)
    _SETTINGS[engine.sync_engine] = database
    return engine


def settings_of(engine: AsyncEngine) -> DatabaseSettings | None:
    """The settings ``engine`` was created from by ``create_engine`` (None for an engine made otherwise)."""
    return _SETTINGS.get(engine.sync_engine)


def shared_store(database: DatabaseSettings) -> bool:
    """Whether another process opening ``database`` sees the same store (not an in-memory SQLite)."""
    url = async_url(database.url)
    return not url.startswith("sqlite") or make_url(url).database not in (None, "", ":memory:")


def _create_engine(database: DatabaseSettings) -> AsyncEngine:
    url = async_url(database.url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its directory
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if database.db_schema:
        connect_args["server_settings"] = {"search_path": database.db_schema}
    return create_async_engine(
        url, pool_size=database.pool_size, max_overflow=database.pool_size, connect_args=connect_args
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while ingest writes. FULL sync because an ack promises the punch is on
    # disk; the fsync is paid once per batched commit, not per punch.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def insert_for(engine: AsyncEngine) -> Any:
    """The dialect's ``insert`` (both offer ``on_conflict_do_nothing``/``on_conflict_do_update``)."""
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
