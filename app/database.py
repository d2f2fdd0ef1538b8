"""One SQLAlchemy session per request: committed once before the response is built, rolled back otherwise."""

from __future__ import annotations

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from storage.db import begin_write, make_engine, make_sessionmaker

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["scim.engine"] = engine
    app.extensions["scim.sessionmaker"] = make_sessionmaker(engine)
    app.teardown_appcontext(_close)


def engine() -> Engine:
    return current_app.extensions["scim.engine"]


def get_session() -> Session:
    """The request's session; a writing request starts its transaction as a writer."""
    if "db_session" not in g:
        session = current_app.extensions["scim.sessionmaker"]()
        if has_request_context() and request.method in WRITE_METHODS:
            begin_write(session)
        g.db_session = session
    return g.db_session


def commit() -> None:
    """Commit the request's work. Called by views before they build the response: nothing acknowledged is lost."""
    if "db_session" in g:
        g.db_session.commit()


def _close(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()
