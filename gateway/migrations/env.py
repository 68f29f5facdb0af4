"""How Alembic runs here: on the connection ``gateway.db.upgrade`` hands it (inside its lock
and transaction), or from the ``alembic`` command line on ``-x url=...`` or the settings.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from gateway import db

db.import_models()  # the models are only the target of --autogenerate, never of a revision
config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection, target_metadata=SQLModel.metadata,
        # SQLite alters tables by copying them: revisions use op.batch_alter_table for it.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from gateway.settings import get_settings

    url = context.get_x_argument(as_dictionary=True).get("url") or (
        get_settings().effective_database_url)
    engine = db.make_engine(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run them on a database")
run_migrations_online()
