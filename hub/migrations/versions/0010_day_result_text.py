"""PostgreSQL: a computed day's result is stored as text, not json

Recompute writes a month of days by ``COPY`` (issue 5). PostgreSQL's ``json`` type parses each value it receives
to check it: a fifth to a third of the server's work to store a day (0.04-0.10 s of 0.21-0.28 s per 1,000
employees' month on the benchmark machine). The hub writes every result itself from a dict, so the check finds nothing;
``hub.store.types.JsonDocument`` reads and writes the text, and SQL that looks inside a result casts it to
``json``. SQLite keeps its JSON column (text either way).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 14:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column("attendance_days", "result", type_=sa.Text(), postgresql_using="result::text")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column("attendance_days", "result", type_=sa.JSON(), postgresql_using="result::json")
