"""Fixtures: every storage-touching test runs on SQLite and on PostgreSQL (when SCIM_TEST_POSTGRES_URL is set).

Under CI=true PostgreSQL is mandatory: unset or unreachable, its tests fail instead of skipping, since some write
paths run on PostgreSQL alone and a green run without it would not have tested them.

Each test gets a fresh database: a copy of a migrated SQLite file, or, on PostgreSQL, a database created for the
test session (migrated once) whose tables are truncated before each test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from app import create_app
from storage import revisions, tenants, tokens
from storage.connections import start_reading
from storage.db import make_engine, make_sessionmaker

POSTGRES_URL = os.environ.get("SCIM_TEST_POSTGRES_URL")
IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_report_header() -> str:
    if POSTGRES_URL:
        return f"PostgreSQL tests: on ({make_url(POSTGRES_URL).render_as_string(hide_password=True)})"
    if IN_CI:
        return "PostgreSQL tests: failing (CI=true needs SCIM_TEST_POSTGRES_URL)"
    return "PostgreSQL tests: skipped (set SCIM_TEST_POSTGRES_URL to run them)"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; each test copies it."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    revisions.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database of this test session's own, migrated to head, dropped at the end."""
    if not POSTGRES_URL:
        if IN_CI:
            pytest.fail("PostgreSQL is mandatory under CI=true: set SCIM_TEST_POSTGRES_URL", pytrace=False)
        pytest.skip("PostgreSQL not configured: set SCIM_TEST_POSTGRES_URL")
    server = make_url(POSTGRES_URL)
    name = f"scim_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        if IN_CI:
            raise
        pytest.skip(f"PostgreSQL at {server.render_as_string(hide_password=True)} unreachable: {error}")
    url = server.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    revisions.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def truncate_all(url: str) -> None:
    engine = make_engine(url)
    if not revisions.is_current(engine):  # a migration test emptied the database: build it again
        revisions.upgrade(engine)
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    names = ", ".join(f'"{name}"' for name in sorted(tables))
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database URL on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "scim.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_database")
    truncate_all(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine of the server's own make (storage.db.make_engine) on a fresh database."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(postgres_database: str) -> Iterator[Engine]:
    """PostgreSQL alone, for its one-statement writes (SQLite's writers queue, in a transaction)."""
    truncate_all(postgres_database)
    engine = make_engine(postgres_database)
    yield engine
    engine.dispose()


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A Connection as a request reads through: outside a transaction (on PostgreSQL, autocommit)."""
    with engine.connect() as connection:
        start_reading(connection)
        yield connection


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    yield app
    app.extensions["scim.engine"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


def make_token(app: Flask, tenant_name: str) -> str:
    """Create `tenant_name` if needed and a token for it; returns the secret."""
    session = make_sessionmaker(app.extensions["scim.engine"])()
    with session.begin():
        tenant = tenants.find_by_name(session, tenant_name) or tenants.create(session, tenant_name)
        _token, secret = tokens.issue(session, tenant, label="tests")
    session.close()
    return secret


@pytest.fixture
def token(app: Flask) -> str:
    return make_token(app, "acme")


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    """Headers an IdP sends: the bearer token and SCIM JSON."""
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/scim+json",
        "Accept": "application/scim+json",
    }
