"""The request's database access: one Connection for the SCIM API, a Session for the console and the admin API.

The SCIM API's Connection (`connection()`) comes from storage.db.Readers and reads outside a transaction until a
store's write makes it a writer (storage.connections); the view then calls `commit()` before it builds the response,
so nothing acknowledged is lost. What a request leaves uncommitted is rolled back at its end.
"""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from storage import connections
from storage.db import Readers, begin_read, begin_write, make_engine, make_sessionmaker


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"], connect_timeout=float(app.config["DB_CONNECT_TIMEOUT"]),
                         statement_timeout=float(app.config["DB_STATEMENT_TIMEOUT"]))
    app.extensions["scim.engine"] = engine
    app.extensions["scim.sessionmaker"] = make_sessionmaker(engine)
    app.extensions["scim.readers"] = Readers(engine)
    app.teardown_appcontext(_close)


def engine() -> Engine:
    return current_app.extensions["scim.engine"]


def connection() -> Connection:
    """The request's Connection."""
    held = g.get("db_connection")
    if held is None:
        held = g.db_connection = current_app.extensions["scim.readers"].take()
    return held


def get_session(*, writing: bool = False) -> Session:
    """The request's Session (the console's and the admin API's); with `writing`, in a writing transaction from the
    start (SQLite: BEGIN IMMEDIATE), as a form post that may write needs."""
    session = g.get("db_session")
    if session is None:
        session = g.db_session = current_app.extensions["scim.sessionmaker"]()
        begin_write(session) if writing else begin_read(session)
    return session


def commit() -> None:
    """Commit what the request wrote."""
    session: Session | None = g.get("db_session")
    if session is not None:
        session.commit()
    held: Connection | None = g.get("db_connection")
    if held is not None:
        connections.commit(held)


def _close(_exc: BaseException | None) -> None:
    held: Connection | None = g.pop("db_connection", None)
    if held is not None:
        current_app.extensions["scim.readers"].put_back(held)
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()  # what was not committed is rolled back as the connection goes back to the pool
