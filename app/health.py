"""Liveness and readiness probes, without authentication."""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy.exc import SQLAlchemyError

from app import database
from app.http import scim_response
from storage import revisions

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up; touches no database."""
    return scim_response({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """The database is reachable and migrated to the code's head revision."""
    try:
        current = revisions.current(database.engine())
    except SQLAlchemyError:
        return scim_response({"status": "unavailable", "detail": "The database cannot be reached."}, 503)
    head = revisions.head()
    if current != head:
        detail = f"The database is at revision {current}, the code needs {head}: run `scim-server init-db`."
        return scim_response({"status": "unavailable", "detail": detail}, 503)
    return scim_response({"status": "ready", "revision": current})
