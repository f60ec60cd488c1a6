"""Alembic environment for the hub. Run through ``hub.store.migrate`` (``presensi hub migrate``).

Migrations run on a connection handed in by ``hub.store.migrate`` so the same code serves the CLI,
the tests and ``presensi hub run``, on SQLite and PostgreSQL alike.
"""

from alembic import context
from sqlalchemy.engine import Connection

from hub.store.models import Base

config = context.config


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run hub migrations with `presensi hub migrate` (hub.store.migrate), not alembic")
run_migrations(connection)
