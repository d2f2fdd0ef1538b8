"""Liveness and readiness probes, without authentication."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as Late
from typing import Any

from flask import Blueprint, Response, current_app
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from app import database
from app.http import scim_response
from storage import revisions

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)

_CHECK = "scim.readiness_check"  # the app's database check in flight, or its last one


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up; touches no database."""
    return scim_response({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """The database is reachable and migrated to the code's head revision; answered within SCIM_READY_TIMEOUT
    seconds whatever the database does."""
    bound = float(current_app.config["READY_TIMEOUT"])
    try:
        current = _check(current_app.extensions, database.engine()).result(timeout=bound)
    except Late:
        return _unavailable(f"The database did not answer within {bound:g} s.")
    except SQLAlchemyError as error:
        log.warning("readiness: the database cannot be reached: %s", getattr(error, "orig", None) or error)
        return _unavailable("The database cannot be reached.")
    head = revisions.head()
    if current != head:
        return _unavailable(f"The database is at revision {current}, the code needs {head}: run `scim-server init-db`.")
    return scim_response({"status": "ready", "revision": current})


def _unavailable(detail: str) -> Response:
    return scim_response({"status": "unavailable", "detail": detail}, 503)


def _check(extensions: dict[str, Any], engine: Engine) -> Future[str | None]:
    """The database's revision, read on a thread of its own so that the probe can stop waiting. A check still in
    flight is waited for again rather than joined by another: a database that hangs holds one thread, not one per
    probe."""
    check: Future[str | None] | None = extensions.get(_CHECK)
    if check is None or check.done():
        check = extensions[_CHECK] = Future()
        threading.Thread(target=_read_revision, args=(engine, check), name="readiness-check", daemon=True).start()
    return check


def _read_revision(engine: Engine, check: Future[str | None]) -> None:
    try:
        check.set_result(revisions.current(engine))
    except BaseException as error:  # the probe reports it
        check.set_exception(error)
