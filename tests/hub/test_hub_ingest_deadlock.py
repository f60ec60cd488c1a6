"""A PostgreSQL deadlock during an ingest commit is transient: the flush is retried, its punches are not
dead-lettered. (Found by the load run: two ingest workers and the hub's pending recompute deadlocked at
the morning peak, and five punches were rejected to their edge as if the store could never take them.)"""

import asyncio
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from hub.ingest.commit import is_transient
from hub.store.db import async_url
from tests.hub.hub_testkit import require_postgres


async def _real_deadlock(url: str) -> DBAPIError:
    """Two transactions that each hold the row the other one wants: PostgreSQL aborts one of them."""
    engine = create_async_engine(async_url(url))
    table = f"deadlock_{uuid.uuid4().hex[:10]}"
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE TABLE {table} (id int PRIMARY KEY, v int)"))
        await connection.execute(text(f"INSERT INTO {table} VALUES (1, 0), (2, 0)"))
    try:
        async with engine.connect() as first, engine.connect() as second:
            await first.begin()
            await second.begin()
            await first.execute(text(f"UPDATE {table} SET v = 1 WHERE id = 1"))
            await second.execute(text(f"UPDATE {table} SET v = 1 WHERE id = 2"))
            outcomes = await asyncio.gather(
                first.execute(text(f"UPDATE {table} SET v = 2 WHERE id = 2")),
                second.execute(text(f"UPDATE {table} SET v = 2 WHERE id = 1")),
                return_exceptions=True,
            )
        errors = [o for o in outcomes if isinstance(o, DBAPIError)]
        assert len(errors) == 1, outcomes
        return errors[0]
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP TABLE {table}"))
        await engine.dispose()


def test_a_deadlock_is_transient_so_the_flush_is_retried_not_dead_lettered() -> None:
    error = asyncio.run(_real_deadlock(require_postgres()))
    assert "deadlock" in str(error)
    assert is_transient(error)


@pytest.mark.parametrize("statement", ["SELECT 1/0", "SELECT 'x'::int"])
def test_a_statement_the_store_refuses_stays_permanent(statement: str) -> None:
    async def refused() -> DBAPIError:
        engine = create_async_engine(async_url(require_postgres()))
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        except DBAPIError as exc:
            return exc
        finally:
            await engine.dispose()
        raise AssertionError("the statement went through")

    assert not is_transient(asyncio.run(refused()))
