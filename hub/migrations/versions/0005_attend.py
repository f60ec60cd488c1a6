"""attend: activities.external_id (idempotent e-Kinerja CSV import)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 06:05:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("activities", sa.Column("external_id", sa.String(length=100), nullable=True))
    op.create_index(op.f("ix_activities_external_id"), "activities", ["external_id"], unique=True)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f("ix_activities_external_id"), table_name="activities")
    with op.batch_alter_table("activities") as batch:
        batch.drop_column("external_id")
