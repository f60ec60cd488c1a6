"""attendance days: no foreign key to employees (recompute writes them by the million; deletion is explicit)

A computed day is written only by recompute, which reads its employee in the same batch; PostgreSQL's per-row
foreign-key check cost about a third of inserting a month of days (issue 5). ``delete_employee`` deletes the
employee's days itself, as the ``ON DELETE CASCADE`` did.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:40:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attendance_days", schema=None) as batch_op:
        batch_op.drop_constraint("fk_attendance_days_nip_employees", type_="foreignkey")


def downgrade() -> None:
    op.execute("DELETE FROM attendance_days WHERE nip NOT IN (SELECT nip FROM employees)")
    with op.batch_alter_table("attendance_days", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_attendance_days_nip_employees", "employees", ["nip"], ["nip"], ondelete="CASCADE"
        )
