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


async def test_the_result_feed_key_and_findings_migrations_go_down_and_up_with_the_data(engine: AsyncEngine) -> None:
    # 0010 (a day's result as text on PostgreSQL), 0011 (one unique index on a feed record's version) and 0012
    # (the findings in a column): both ways keep the rows, the version key stays unique whichever index holds it,
    # and the findings of a day stored before 0012 are filled from its result.
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from hub.store.migrate import alembic_config, upgrade

    day = (
        "INSERT INTO attendance_days (nip, day, status, minutes_late, minutes_early, deduction_percent, policy_id, "
        "policy_version, result, version, inputs_hash, computed_at) VALUES ('1', '2026-11-02', 'off', 0, 0, 0, "
        '\'p\', 1, \'{"status": "present", "findings": ["presence_without_activity", "x"]}\', 1, \'h\', '
        "'2026-11-03 00:00:00')"
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
        findings = (await connection.execute(text("SELECT findings FROM attendance_days"))).scalars().all()
    expected = {"status": "present", "findings": ["presence_without_activity", "x"]}
    assert [orjson.loads(r) if isinstance(r, str) else r for r in results] == [expected]
    assert findings == ["presence_without_activity x"]  # 0012 fills the column from the result
    assert keys == ["daily:1:2026-11-02:v1"]
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text(record))


@pytest.mark.parametrize("kind", ["presence_without_activity", "activity_while_absent"])
async def test_the_exceptions_queue_filter_can_use_its_kinds_partial_index(engine: AsyncEngine, kind: str) -> None:
    # Each finding kind's days have a partial index (migration 0012) whose predicate the exceptions query must
    # repeat word for word, or the planner cannot prove the index holds every day asked for.
    from datetime import date

    from sqlalchemy import select, text

    from hub.store.models import AttendanceDayRow, finding_predicate

    query = select(AttendanceDayRow.nip).where(
        AttendanceDayRow.day.between(date(2026, 11, 1), date(2026, 11, 30)), text(finding_predicate(kind))
    )
    async with engine.connect() as connection:
        compiled = str(query.compile(connection.sync_connection, compile_kwargs={"literal_binds": True}))
        if engine.dialect.name == "postgresql":
            await connection.execute(text("SET enable_seqscan = off"))  # an empty table: else a scan is cheaper
            plan = (await connection.execute(text(f"EXPLAIN {compiled}"))).scalars().all()
        else:
            plan = [row[-1] for row in await connection.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]
    assert any(f"ix_attendance_days_{kind}" in line for line in plan), plan
