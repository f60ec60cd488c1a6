"""attend: activities.external_id (idempotent e-Kinerja CSV import), leases (one recompute --pending at a time)

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-03 06:05:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("activities", sa.Column("external_id", sa.String(length=100), nullable=True))
    op.create_index(op.f("ix_activities_external_id"), "activities", ["external_id"], unique=True)
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("leases")
    op.drop_index(op.f("ix_activities_external_id"), table_name="activities")
    with op.batch_alter_table("activities") as batch:
        batch.drop_column("external_id")
