"""The request's database access (app/database.py over storage.connections): a Connection that reads outside a
transaction until a write makes it a writer, committed once by `commit()`; a Session for the console."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, insert, select, text

from app import database
from storage import connections, events, tenants
from storage.db import write_transaction
from storage.models import Event, Tenant


def test_a_write_is_one_transaction_until_commit_then_the_connection_reads_again(app: Flask, db_url: str) -> None:
    with app.test_request_context("/scim/v2/Users", method="POST"):
        connection = database.connection()
        assert connections.is_reading(connection)
        if db_url.startswith("postgresql"):
            assert connection.connection.dbapi_connection.autocommit is True
        assert connections.writing(connection) is connection
        connection.execute(insert(Tenant).values(name="first"))
        assert connections.writing(connection) is connection and connection.in_transaction()
        if db_url.startswith("postgresql"):
            assert connection.connection.dbapi_connection.autocommit is False
        connection.execute(insert(Tenant).values(name="second"))
        database.commit()
        assert connections.is_reading(connection)
        database.commit()  # nothing under way: nothing to do
    with app.test_request_context("/"):
        names = database.connection().execute(select(Tenant.name).order_by(Tenant.name)).scalars().all()
    assert names == ["first", "second"]


def test_an_uncommitted_write_is_lost_and_its_event_with_it(app: Flask) -> None:
    with app.test_request_context("/scim/v2/Users", method="POST"):
        connection = connections.writing(database.connection())
        connection.execute(insert(Tenant).values(name="kept"))
        database.commit()
        connections.writing(connection).execute(insert(Tenant).values(name="dropped"))
        events.stage(connection, events.entry(events.Origin("POST", "/scim/v2/Users"), "user.created", 201))
        # the view fails before commit(): the teardown rolls it back
    with app.test_request_context("/"):
        connection = database.connection()
        assert connection.execute(select(Tenant.name)).scalars().all() == ["kept"]
        assert connection.execute(select(func.count()).select_from(Event)).scalar_one() == 0


def test_the_console_session_writes_from_its_first_statement_and_commits(app: Flask) -> None:
    with app.test_request_context("/admin/tenants", method="POST"):
        tenants.create(database.get_session(writing=True), "from-the-console")
        database.commit()
    with app.test_request_context("/"):
        assert database.get_session().scalars(select(Tenant.name)).all() == ["from-the-console"]


def test_the_connection_is_kept_for_the_next_request_with_nothing_of_the_last_one(app: Flask) -> None:
    """A request's Connection is kept for the next request rather than going back to the pool: what the request left
    (a writer that never committed, its staged event, SQLite's write lock) ends with it."""
    with app.test_request_context("/scim/v2/Users", method="PATCH"):
        kept = connections.writing(database.connection())  # SQLite: the writer queue's lock and BEGIN IMMEDIATE
        kept.execute(insert(Tenant).values(name="never committed"))
        events.stage(kept, events.entry(events.Origin("PATCH", "/scim/v2/Users/x"), "user.updated", 200))
    with app.test_request_context("/"):
        assert database.connection() is kept and connections.is_reading(kept)
        assert kept.execute(select(Tenant.name)).all() == []
        with write_transaction(database.engine()) as other:  # not blocked: the failed writer's lock went
            other.execute(insert(Tenant).values(name="elsewhere"))
    with app.test_request_context("/scim/v2/Users", method="POST"):
        assert database.connection() is kept
        assert kept.execute(select(Tenant.name)).scalars().all() == ["elsewhere"]
        connections.writing(kept).execute(insert(Tenant).values(name="written"))
        database.commit()
        assert kept.execute(select(func.count()).select_from(Event)).scalar_one() == 0  # the staged event went


def test_a_kept_connection_the_database_dropped_is_replaced_after_an_idle_spell(
    app: Flask, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection kept while the database restarted (here: its backend terminated) is pinged before reuse."""
    if not db_url.startswith("postgresql"):
        pytest.skip("a SQLite connection cannot be dropped by its database")
    with app.test_request_context("/"):
        kept = database.connection()
        backend = kept.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with write_transaction(database_engine := app.extensions["scim.engine"]) as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    monkeypatch.setattr("storage.db.PING_AFTER_IDLE_SECONDS", 0.0)
    with app.test_request_context("/"):
        replacement = database.connection()
        assert replacement is not kept
        assert replacement.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
    assert database_engine.pool.checkedout() == 1  # the one kept, nothing leaked
