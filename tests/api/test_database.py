"""The request's database access (app/database.py): reads first (a Connection until a Session is needed), a writer only
from `write_session()`, commits only there."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import Connection, select

from app import database
from storage import tenants
from storage.models import Tenant


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
        assert reading.closed
        tenants.create(writing, "unseen elsewhere yet")
        assert database.reader() is writing
        assert database.reader().scalars(select(Tenant.name)).all() == ["unseen elsewhere yet"]
    with app.test_request_context("/"):
        assert database.reader().execute(select(Tenant.name)).all() == []  # never committed
