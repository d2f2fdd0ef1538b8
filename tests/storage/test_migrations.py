"""Migrations build the schema from empty on both databases and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask.testing import FlaskClient
from sqlalchemy import text

from storage import revisions
from storage.db import make_engine
from storage.models import Base


def _empty(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        else:
            for table in [*reversed(Base.metadata.sorted_tables)]:
                connection.execute(text(f'DROP TABLE IF EXISTS "{table.name}"'))
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def test_migrations_upgrade_an_empty_database_to_the_models(db_url: str) -> None:
    _empty(db_url)
    engine = make_engine(db_url)
    assert revisions.current(engine) is None
    revisions.upgrade(engine)
    assert revisions.is_current(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


def test_readiness_fails_on_an_unmigrated_database(db_url: str, client: FlaskClient) -> None:
    _empty(db_url)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "init-db" in response.get_json(force=True)["detail"]
