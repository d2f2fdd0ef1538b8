"""A database that refuses, never answers, is too slow or drops the connection: SCIM requests get a SCIM 503 with
Retry-After in bounded time (which Okta and Entra retry), a read on a terminated backend is read again, /healthz
answers without the database, /readyz within its bound, and the server starts without its database."""

from __future__ import annotations

import http.client
import json
import secrets
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app, database
from storage import revisions
from storage.db import make_engine
from tests.api.test_foundation import assert_scim_error
from tests.conftest import POSTGRES_URL, make_token
from tests.live import call, free_port, live_server, served
from tests.storage.test_prepared import terminate

USERS = "/scim/v2/Users"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
# Bounds on waiting for an answer that, without the timeouts, never comes (or comes when the test lets it).
HANG_SECONDS = 12
ANSWER_SECONDS = 8


def scim_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}


def assert_unavailable(response: Any) -> None:
    body = assert_scim_error(response, 503)
    assert response.headers["Retry-After"].isdigit() and int(response.headers["Retry-After"]) >= 1
    assert "unavailable" in body["detail"] and "Traceback" not in body["detail"]


def in_time(request: Callable[[], Any], seconds: float = HANG_SECONDS) -> tuple[Any, float]:
    """`request()` on a thread; its result and how long it took, or a failure if it has not answered in `seconds`
    (it is left to end when the test's database stops hanging)."""
    outcome: list[Any] = []
    started = time.monotonic()
    thread = threading.Thread(target=lambda: outcome.append(request()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"no answer within {seconds} s"
    return outcome[0], time.monotonic() - started


@contextmanager
def never_answering() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never says a word: a database behind a network
    that drops its packets, as a client sees it."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        yield listener.getsockname()[1]


def unreachable_url(backend: str, tmp_path: Path) -> str:
    """SQLite: a file in a directory that does not exist; PostgreSQL: a port nothing listens on."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'absent' / 'scim.db'}"
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/scim"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_database_that_cannot_be_reached_is_a_503_with_retry_after(backend: str, tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": unreachable_url(backend, tmp_path), "TESTING": True})
    client = app.test_client()
    assert_unavailable(client.get(USERS, headers=scim_headers("scim_any")))
    assert_unavailable(client.post(USERS, headers=scim_headers("scim_any"), json={"userName": "ann"}))
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json(force=True)["detail"] == "The database cannot be reached."


@pytest.fixture
def hanging_app() -> Iterator[Flask]:
    with never_answering() as port:
        app = create_app({"DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{port}/scim", "TESTING": True,
                          "DB_CONNECT_TIMEOUT": 2, "READY_TIMEOUT": 1})
        yield app


def test_a_database_that_never_answers_is_a_503_after_the_connect_timeout(hanging_app: Flask) -> None:
    client = hanging_app.test_client()
    response, _seconds = in_time(lambda: client.get(USERS, headers=scim_headers("scim_any")))
    assert_unavailable(response)
    assert client.get("/healthz").status_code == 200
    ready, seconds = in_time(lambda: client.get("/readyz"))
    assert ready.status_code == 503 and seconds < ANSWER_SECONDS
    assert ready.get_json(force=True)["detail"] == "The database did not answer within 1 s."


@contextmanager
def holding_the_write_lock(db_url: str) -> Iterator[None]:
    """Another client holds what a new user's INSERT needs: PostgreSQL, an exclusive lock on `users`; SQLite, the
    database's write lock (taken as the sqlite3 shell would, outside the server's writer queue)."""
    if db_url.startswith("sqlite"):
        other = sqlite3.connect(make_url(db_url).database, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.rollback()
            other.close()
        return
    engine = create_engine(db_url)
    try:
        with engine.connect() as other:
            other.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
            try:
                yield
            finally:
                other.rollback()
    finally:
        engine.dispose()


def test_a_statement_that_waits_past_its_timeout_is_a_503(db_url: str) -> None:
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "DB_STATEMENT_TIMEOUT": 1})
    client = app.test_client()
    headers = scim_headers(make_token(app, "acme"))
    assert client.get(USERS, headers=headers).status_code == 200  # the token's first use is written now
    try:
        with holding_the_write_lock(db_url):
            response, seconds = in_time(
                lambda: client.post(USERS, headers=headers, json={"schemas": [USER_URN], "userName": "ann"}))
            assert_unavailable(response)
            assert seconds < ANSWER_SECONDS
        assert client.post(USERS, headers=headers, json={"schemas": [USER_URN], "userName": "ann"}).status_code == 201
    finally:
        app.extensions["scim.engine"].dispose()


def test_a_read_on_a_connection_whose_backend_was_terminated_is_read_again(
    app: Flask, client: FlaskClient, auth: dict[str, str], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request's kept connection was ended by the database (a restart, a failover, pg_terminate_backend) while
    it was recently used, so not pinged: the request's first read finds it dead, and reads again on a new one."""
    if not db_url.startswith("postgresql"):
        pytest.skip("a SQLite connection cannot be ended by its database")
    monkeypatch.setattr("storage.db.PING_AFTER_IDLE_SECONDS", 3600.0)
    created = client.post(USERS, headers=auth, json={"schemas": [USER_URN], "userName": "ann"})
    assert created.status_code == 201
    for request in (lambda: client.get(f"{USERS}/{created.get_json()['id']}", headers=auth),
                    lambda: client.post(USERS, headers=auth, json={"schemas": [USER_URN], "userName": "bob"})):
        with app.test_request_context("/"):
            kept = database.connection()
            terminate(kept, app.extensions["scim.engine"])
        assert request().status_code in (200, 201)
    with app.test_request_context("/"):
        assert database.connection() is kept  # the same Connection, on a new database connection
    assert app.extensions["scim.engine"].pool.checkedout() == 1


def test_reads_keep_answering_while_the_database_ends_every_connection_of_a_live_server(
    db_url: str, tmp_path: Path
) -> None:
    """Every connection of a gunicorn's workers ended (a failover, pg_terminate_backend), again and again between
    requests: each worker's next request finds its connection dead, and reads again on a new one."""
    if not db_url.startswith("postgresql"):
        pytest.skip("a SQLite connection cannot be ended by its database")
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    token = make_token(app, "acme")
    client = app.test_client()
    user = client.post(USERS, headers=scim_headers(token), json={"schemas": [USER_URN], "userName": "ann"})
    path = f"{USERS}/{user.get_json()['id']}"
    statuses = []
    with live_server(db_url, tmp_path / "gunicorn.log", workers=2) as port:
        for _round in range(8):
            with app.extensions["scim.engine"].connect() as admin:
                ended = admin.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()
            assert ended >= 1
            time.sleep(0.2)  # the backends exit on their own time after the signal
            statuses += [call(port, "GET", path, token)[0] for _request in range(10)]
    app.extensions["scim.engine"].dispose()
    assert statuses == [200] * 80


# -- A real server: `scim-server serve`, as a user starts it ----------------------------------------------------------


def get(port: int, path: str, token: str | None = None) -> tuple[int, dict[str, str], Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HANG_SECONDS)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = connection.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), json.loads(data) if data else None
    finally:
        connection.close()


@contextmanager
def serve(db_url: str, log: Path, **settings: str) -> Iterator[int]:
    """`scim-server serve` (tests.live.served) with the SCIM_<name> settings given; yields its port once /healthz
    answers, stops it by PID."""
    with served(db_url, log, **{f"SCIM_{name}": value for name, value in settings.items()}) as (_process, port):
        yield port


@contextmanager
def absent_database(backend: str, tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[str, Callable[[], str]]]:
    """A database URL that cannot be reached yet, and how to bring the database up (migrated, with a tenant and a
    token: its secret): SQLite, a file in a directory made later; PostgreSQL, a database created later."""
    if backend == "sqlite":
        path = tmp_path / "later" / "scim.db"

        def bring_up_sqlite() -> str:
            path.parent.mkdir()
            shutil.copyfile(sqlite_template, path)
            return token_for(f"sqlite:///{path}")

        yield f"sqlite:///{path}", bring_up_sqlite
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured: set SCIM_TEST_POSTGRES_URL")
    name = f"scim_test_later_{secrets.token_hex(5)}"
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")

    def bring_up_postgresql() -> str:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(url)
        revisions.upgrade(engine)
        engine.dispose()
        return token_for(url)

    try:
        yield url, bring_up_postgresql
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def token_for(url: str) -> str:
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    try:
        return make_token(app, "acme")
    finally:
        app.extensions["scim.engine"].dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_server_starts_without_its_database_and_serves_once_it_is_there(
    backend: str, tmp_path: Path, sqlite_template: Path
) -> None:
    with absent_database(backend, tmp_path, sqlite_template) as (url, bring_up), \
            serve(url, tmp_path / "server.log") as port:
        status, _headers, body = get(port, "/readyz")
        assert (status, body["detail"]) == (503, "The database cannot be reached.")
        status, headers, body = get(port, "/scim/v2/Users", "scim_any")
        assert status == 503 and body["status"] == "503" and int(headers["Retry-After"]) >= 1
        token = bring_up()
        assert get(port, "/readyz")[0] == 200
        assert get(port, "/scim/v2/Users", token)[0] == 200


def test_a_database_that_never_answers_leaves_the_probes_answering(tmp_path: Path) -> None:
    """Start-up waits for the database no longer than the connect timeout; then /healthz answers at once, /readyz
    within its bound, and a SCIM request is a 503 once the connect timeout has passed."""
    with never_answering() as database_port, \
            serve(f"postgresql+psycopg://postgres@127.0.0.1:{database_port}/scim", tmp_path / "server.log",
                  DB_CONNECT_TIMEOUT="2", READY_TIMEOUT="1") as port:
        (status, _headers, body), seconds = in_time(lambda: get(port, "/readyz"))
        assert (status, body["detail"]) == (503, "The database did not answer within 1 s.") and seconds < ANSWER_SECONDS
        (status, headers, body), _seconds = in_time(lambda: get(port, "/scim/v2/Users", "scim_any"))
        assert status == 503 and int(headers["Retry-After"]) >= 1
        assert in_time(lambda: get(port, "/healthz"))[0][0] == 200
