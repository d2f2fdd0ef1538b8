"""The request's database access: one Connection (and a Session only when the request needs the ORM), committed
once before the response is built, rolled back otherwise.

Authentication and the plain reads of the SCIM API (GET by id, searches) go through `reader()`: a Connection, not a
Session, because a Session's transaction bookkeeping cost a quarter of a GET (storage/prepared.py says why the
statements themselves skip SQLAlchemy's execution path too). It reads outside a transaction, each statement what is
committed when it runs (storage.db.start_reading), and is kept for the worker's next request (storage.db.Readers).
Once the request has a Session, `reader()` is that Session, so a writer reads its own writes.

Everything else reads through `get_session()` (storage.db.begin_read: on PostgreSQL in autocommit). A view that writes
calls `writer()` once it has parsed and validated its input, right before its first read-for-update: the request's
Connection (or its Session, if it has one: `write_session()`) starts over in a writing transaction there (on
SQLite, BEGIN IMMEDIATE behind the writer queue of storage/db.py), so authentication and body parsing never hold the
database's single write lock, and the response is rendered after `commit()` released it. A plain Connection writes
at half a Session's cost per transaction; events staged on either are written at its commit (storage/events.py).
(A new password is hashed before `writer()`, by app/resources.py: scrypt takes ~80 ms.)
"""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from storage.db import (
    Readers,
    autocommits,
    begin_read,
    begin_write,
    make_engine,
    make_sessionmaker,
    start_reading,
    start_writing,
)


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["scim.engine"] = engine
    app.extensions["scim.sessionmaker"] = make_sessionmaker(engine)
    app.extensions["scim.readers"] = Readers(engine)
    app.teardown_appcontext(_close)


def engine() -> Engine:
    return current_app.extensions["scim.engine"]


def reader() -> Session | Connection:
    """What the request reads through: its Session once it has one, else a reading Connection of its own."""
    session = g.get("db_session")
    if session is not None:
        return session
    connection = g.get("db_reader")
    if connection is None:
        connection = g.db_reader = current_app.extensions["scim.readers"].take()
    return connection


def writer() -> Session | Connection:
    """The request's writer: its Session, writing, if it has one; else its Connection in a writing transaction,
    the reads before it left behind. Idempotent until `commit()`."""
    if g.get("db_session") is not None:
        return write_session()
    connection = reader()
    assert isinstance(connection, Connection)
    transaction = connection.get_transaction()
    if transaction is None or g.get("db_writing") is not transaction:
        start_writing(connection)
        g.db_writing = connection.get_transaction()
    return connection


def autocommit_writer() -> Connection | None:
    """The request's Connection for a write that commits as its one statement runs (storage.users.commit_if_current):
    on PostgreSQL, where reads autocommit, while the request has no Session and no writing transaction; None
    otherwise (SQLite, whose writers queue; a request with a Session, such as Bulk). Call `committed()` after."""
    if g.get("db_session") is not None or g.get("db_writing") is not None:
        return None
    connection = reader()
    assert isinstance(connection, Connection)
    return connection if autocommits(connection) else None


def committed() -> None:
    """The request's write committed as it ran (`autocommit_writer`): `commit()` has nothing left to do."""
    g.db_committed = True


def get_session() -> Session:
    """The request's session, reading (or writing, after `write_session()`)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["scim.sessionmaker"]()
        begin_read(g.db_session)
    return g.db_session


def write_session() -> Session:
    """The request's session in a writing transaction; the reads before it (SQLite's snapshot, PostgreSQL's
    autocommit connection) are left behind. Idempotent until the writing transaction ends."""
    _close_reader()
    session = get_session()
    transaction = session.get_transaction()
    if transaction is not None and g.get("db_writing") is transaction:
        return session
    session.rollback()
    begin_write(session)
    g.db_writing = session.get_transaction()
    return session


def commit() -> None:
    """Commit the request's writes. Called by views before they build the response: nothing acknowledged is lost."""
    if g.pop("db_committed", False):
        return
    session, writing = g.get("db_session"), g.get("db_writing")
    holder = session if session is not None else g.get("db_reader")
    if writing is None or holder is None or writing is not holder.get_transaction():
        raise RuntimeError("commit() without writer(): the transaction did not start as a writer")
    holder.commit()
    if session is None:
        start_reading(holder)
    g.pop("db_writing")


def _close_reader() -> None:
    connection: Connection | None = g.pop("db_reader", None)
    if connection is not None:
        current_app.extensions["scim.readers"].put_back(connection)


def _close(_exc: BaseException | None) -> None:
    _close_reader()
    g.pop("db_writing", None)
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()  # what was not committed is rolled back as the connection goes back to the pool
