"""Alembic environment: the URL and, optionally, a live connection come from `storage.revisions`.

Revisions apply in the order of their `down_revision` links, not of their numbers:
0001 → 0004 → 0003 → 0005 → 0006 → 0007 → 0008 → 0009 → 0010 → 0011 → 0012, and there is no 0002. A revision id is
stored in every deployed database (table alembic_version), so ids are never renumbered and links never rewired; a new
revision revises the current head (`storage.revisions.head()`), keeping one line.
"""

from alembic import context

from storage.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
