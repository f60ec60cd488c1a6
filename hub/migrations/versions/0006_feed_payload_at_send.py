"""feed: daily records refer to their day version (feed_records.day), the payload is built when sent

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 06:40:00

Recompute now queues a small row per day version and the dispatcher builds the payload at the first attempt;
rows queued before keep their stored payload and are sent as they are.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feed_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("day", sa.Date(), nullable=True))
        batch_op.alter_column("payload", existing_type=sa.JSON(), nullable=True)


def downgrade() -> None:
    # A record still waiting for its payload cannot be kept without one: it is queued again by
    # `presensi hub feed enqueue` after the downgrade.
    op.execute("DELETE FROM feed_records WHERE payload IS NULL")
    with op.batch_alter_table("feed_records", schema=None) as batch_op:
        batch_op.alter_column("payload", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column("day")
