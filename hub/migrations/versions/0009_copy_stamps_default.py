"""PostgreSQL: computed days' and queued feed records' stamps default to the transaction's time

Recompute queues a month of days and their feed records by ``COPY`` (issue 5). Encoding a time-zone-aware
timestamp costs asyncpg about a microsecond and a half a value, and every row of a batch carries the same one
(three columns, 93,000 values per 1,000 employees): the ``COPY`` leaves them out and the server fills in
``now()``, the batch transaction's start. SQLite is left as it is: its rows are always written with their stamps,
and adding a default there rebuilds the tables.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 12:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAMPS = (("attendance_days", "computed_at"), ("feed_records", "created_at"), ("feed_records", "next_attempt_at"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in STAMPS:
        op.alter_column(table, column, server_default=sa.func.now())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in STAMPS:
        op.alter_column(table, column, server_default=None)
