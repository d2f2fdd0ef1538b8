"""The request's database access (app/database.py): reads first (a Connection until a Session is needed), a writer only
from `write_session()`, commits only there."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import Connection, func, insert, select, text

from app import database
from storage import events, tenants
from storage.db import write_transaction
from storage.models import Event, Tenant


def test_commit_needs_a_writer(app: Flask) -> None:
    with app.test_request_context("/scim/v2/Users", method="POST"):
        database.get_session().execute(select(Tenant.id)).all()
        with pytest.raises(RuntimeError, match="writer"):
            database.commit()


def test_write_session_is_one_transaction_until_commit_then_starts_again(app: Flask) -> None:
    with app.test_request_context("/scim/v2/Users", method="POST"):
        session = database.write_session()
        tenants.create(session, "first")
        assert database.write_session() is session
        assert session.get_transaction() is not None
        database.commit()
        tenants.create(database.write_session(), "second")
        database.commit()
    with app.test_request_context("/"):
        names = database.get_session().scalars(select(Tenant.name).order_by(Tenant.name)).all()
    assert names == ["first", "second"]


def test_an_uncommitted_write_is_lost(app: Flask) -> None:
    with app.test_request_context("/scim/v2/Users", method="POST"):
        tenants.create(database.write_session(), "kept")
        database.commit()
        tenants.create(database.write_session(), "dropped")  # not committed: the teardown rolls it back
    with app.test_request_context("/"):
        assert database.get_session().scalars(select(Tenant.name)).all() == ["kept"]


def test_the_writer_leaves_the_reads_behind_and_postgresql_reads_in_autocommit(app: Flask, db_url: str) -> None:
    """SQLite's read snapshot cannot become the writer; PostgreSQL's reads need no transaction (READ COMMITTED)."""
    postgresql = db_url.startswith("postgresql")
    with app.test_request_context("/scim/v2/Users", method="POST"):
        session = database.get_session()
        assert session.scalars(select(Tenant.name)).all() == []
        reading = session.get_transaction()
        if postgresql:
            assert session.connection().connection.dbapi_connection.autocommit is True
        writing = database.write_session()
        assert writing.get_transaction() is not reading
        if postgresql:
            assert writing.connection().connection.dbapi_connection.autocommit is False
        tenants.create(writing, "written")
        database.commit()
    with app.test_request_context("/"):
        assert database.get_session().scalars(select(Tenant.name)).all() == ["written"]


def test_plain_reads_use_a_connection_and_a_writer_reads_its_own_writes(app: Flask, db_url: str) -> None:
    with app.test_request_context("/scim/v2/Users", method="POST"):
        reading = database.reader()
        assert isinstance(reading, Connection)
        assert reading.execute(select(Tenant.name)).all() == []
        if db_url.startswith("postgresql"):
            assert reading.connection.dbapi_connection.autocommit is True
        writing = database.write_session()
        assert not reading.in_transaction()
        tenants.create(writing, "unseen elsewhere yet")
        assert database.reader() is writing
        assert database.reader().scalars(select(Tenant.name)).all() == ["unseen elsewhere yet"]
    with app.test_request_context("/"):
        assert database.reader().execute(select(Tenant.name)).all() == []  # never committed


def test_the_reading_connection_is_kept_for_the_next_request_with_nothing_of_the_last_one(
    app: Flask, db_url: str
) -> None:
    """A request's Connection is kept for the next request rather than going back to the pool: what the request left
    (a writer that never committed, its staged event, SQLite's read snapshot) ends with it."""
    with app.test_request_context("/scim/v2/Users", method="PATCH"):
        kept = database.writer()  # SQLite: the writer queue's lock and BEGIN IMMEDIATE
        assert isinstance(kept, Connection)
        kept.execute(insert(Tenant).values(name="never committed"))
        events.stage(kept, events.entry(events.Origin("PATCH", "/scim/v2/Users/x"), "user.updated", 200))
        # the view fails before commit()
    with app.test_request_context("/"):
        assert database.reader() is kept
        assert kept.execute(select(Tenant.name)).all() == []  # SQLite: this request's snapshot, taken now
        with write_transaction(database.engine()) as other:  # not blocked: the failed writer's lock went
            other.execute(insert(Tenant).values(name="elsewhere"))
    with app.test_request_context("/scim/v2/Users", method="POST"):
        assert database.reader() is kept
        assert kept.execute(select(Tenant.name)).scalars().all() == ["elsewhere"]  # not the last request's snapshot
        database.writer().execute(insert(Tenant).values(name="written"))
        database.commit()
        assert kept.execute(select(func.count()).select_from(Event)).scalar_one() == 0  # the staged event went


def test_a_kept_connection_the_database_dropped_is_replaced_after_an_idle_spell(
    app: Flask, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection kept while the database restarted (here: its backend terminated) is pinged before reuse."""
    if not db_url.startswith("postgresql"):
        pytest.skip("a SQLite connection cannot be dropped by its database")
    with app.test_request_context("/"):
        kept = database.reader()
        backend = kept.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with write_transaction(database_engine := app.extensions["scim.engine"]) as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    monkeypatch.setattr("storage.db.PING_AFTER_IDLE_SECONDS", 0.0)
    with app.test_request_context("/"):
        replacement = database.reader()
        assert replacement is not kept
        assert replacement.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
    assert database_engine.pool.checkedout() == 1  # the one kept, nothing leaked
