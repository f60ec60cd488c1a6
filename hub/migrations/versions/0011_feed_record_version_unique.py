"""feed records: one unique index on (kind, record_key, version) instead of two indexes on the same key

A record version's idempotency key is ``kind:record_key:v<version>`` (``hub.feed.records.idempotency_key``), so
the unique index on ``idempotency_key`` and the index on (kind, record_key, version) kept the same key twice.
Recompute queues a feed record for every day it writes (1.5 million a month for 50,000 employees, issue 5), and
each index costs every insert: the second index is made unique and the first is dropped.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 14:45:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feed_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_records_kind_record_key_version"))
        batch_op.drop_constraint(batch_op.f("uq_feed_records_idempotency_key"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_feed_records_kind_record_key_version"), ["kind", "record_key", "version"]
        )


def downgrade() -> None:
    with op.batch_alter_table("feed_records", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_feed_records_kind_record_key_version"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_feed_records_idempotency_key"), ["idempotency_key"])
        batch_op.create_index(
            batch_op.f("ix_feed_records_kind_record_key_version"), ["kind", "record_key", "version"], unique=False
        )
