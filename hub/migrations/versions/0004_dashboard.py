"""dashboard: hub users, server-side sessions, dead-letter resolutions

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 06:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hub_users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_users")),
        sa.UniqueConstraint("username", name=op.f("uq_hub_users_username")),
    )
    op.create_table(
        "hub_sessions",
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["hub_users.id"], name=op.f("fk_hub_sessions_user_id_hub_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("secret_sha256", name=op.f("pk_hub_sessions")),
    )
    with op.batch_alter_table("hub_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hub_sessions_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hub_sessions_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "dead_letter_resolutions",
        sa.Column("dead_letter_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("resolved_by", sa.String(length=100), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dead_letter_id"],
            ["dead_letters.id"],
            name=op.f("fk_dead_letter_resolutions_dead_letter_id_dead_letters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dead_letter_id", name=op.f("pk_dead_letter_resolutions")),
    )


def downgrade() -> None:
    op.drop_table("dead_letter_resolutions")
    with op.batch_alter_table("hub_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hub_sessions_expires_at"))
        batch_op.drop_index(batch_op.f("ix_hub_sessions_user_id"))
    op.drop_table("hub_sessions")
    op.drop_table("hub_users")
