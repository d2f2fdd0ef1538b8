"""Migrations build the schema from empty on both databases and match the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask.testing import FlaskClient
from sqlalchemy import inspect, select, text

from scim.changes import REQUEST_REJECTED
from storage import events, revisions
from storage.db import make_engine
from storage.models import Base, Event


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


def test_the_request_id_migration_downgrades_and_upgrades_keeping_the_events(db_url: str) -> None:
    engine = make_engine(db_url)
    origin = events.Origin("GET", "/scim/v2/Users/x", request_id="req-1")
    with engine.begin() as connection:
        events.stage(connection, events.entry(origin, REQUEST_REJECTED, 404))
    try:
        revisions.downgrade(engine, "0007-1")
        assert "request_id" not in {column["name"] for column in inspect(engine).get_columns("events")}
        revisions.upgrade(engine)
        assert revisions.is_current(engine)
        with engine.connect() as connection:
            assert connection.execute(select(Event.path, Event.request_id)).all() == [("/scim/v2/Users/x", None)]
    finally:
        engine.dispose()


def test_the_revisions_form_the_one_documented_line() -> None:
    """Deployed databases store these ids: the order env.py documents is the order Alembic applies, with one head."""
    script = ScriptDirectory.from_config(revisions._config())
    assert script.get_heads() == [revisions.head()]
    line = [revision.revision for revision in reversed(list(script.walk_revisions()))]
    assert line == ["0001", "0004", "0003", "0005", "0006", "0007", "0008", "0009", "0010", "0011", "0012"]
    assert " → ".join(line) in (Path(revisions.__file__).parent / "migrations" / "env.py").read_text()
