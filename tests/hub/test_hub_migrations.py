"""Alembic migrations, not create_all, build the store; this proves they build exactly the models."""

import orjson
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.migrate import current_revision, head_revision
from hub.store.models import Base


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        diff = await connection.run_sync(differences)
    assert diff == []
    assert await current_revision(engine) == head_revision()


async def test_the_result_and_feed_key_migrations_go_down_and_up_with_the_data(engine: AsyncEngine) -> None:
    # 0010 (a day's result as text on PostgreSQL) and 0011 (one unique index on a feed record's version): both
    # ways keep the rows, and the version key stays unique whichever index holds it.
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from hub.store.migrate import alembic_config, upgrade

    day = (
        "INSERT INTO attendance_days (nip, day, status, minutes_late, minutes_early, deduction_percent, policy_id, "
        "policy_version, result, version, inputs_hash, computed_at) VALUES ('1', '2026-11-02', 'off', 0, 0, 0, "
        "'p', 1, '{\"status\": \"off\", \"findings\": []}', 1, 'h', '2026-11-03 00:00:00')"
    )
    record = (
        "INSERT INTO feed_records (idempotency_key, kind, record_key, version, nip, unit_code, month, status, "
        "attempts, created_at, next_attempt_at) VALUES ('daily:1:2026-11-02:v1', 'daily', '1:2026-11-02', 1, '1', "
        "'U', '2026-11', 'pending', 0, '2026-11-03 00:00:00', '2026-11-03 00:00:00')"
    )
    async with engine.begin() as connection:
        await connection.execute(text(day))
        await connection.execute(text(record))
    async with engine.begin() as connection:
        await connection.run_sync(lambda c: command.downgrade(alembic_config(c), "0009"))
    assert await current_revision(engine) == "0009"
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()
    async with engine.connect() as connection:
        results = (await connection.execute(text("SELECT result FROM attendance_days"))).scalars().all()
        keys = (await connection.execute(text("SELECT idempotency_key FROM feed_records"))).scalars().all()
    assert [orjson.loads(r) if isinstance(r, str) else r for r in results] == [{"status": "off", "findings": []}]
    assert keys == ["daily:1:2026-11-02:v1"]
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text(record))
