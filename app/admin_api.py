"""The platform's admin API at /admin/v1: the change feed, authenticated by admin keys (never by SCIM tokens).

`GET /admin/v1/events?after=CURSOR&limit=N` and `GET /admin/v1/tenants/<name>/events?…` return events in commit
order (see storage.events for why id order is commit order):

    {"events": [{"id": CURSOR, "time": …, "tenant": …, "kind": …, …}], "next_cursor": CURSOR, "has_more": false}

A consumer stores `next_cursor` after it has processed a page and asks again with `after=next_cursor`; a crash
before that repeats the page (at-least-once; an event's `id` is stable, for de-duplication). Errors are SCIM Error
bodies (RFC 7644 §3.12), rendered by app/errors.py as on the SCIM API.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from flask_httpauth import HTTPTokenAuth

from app import database
from app.errors import render
from scim.errors import InvalidValue, MethodNotAllowed, NotFound, Unauthorized
from storage import admin_keys, events, tenants
from storage.models import AdminKey

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

bp = Blueprint("admin_api", __name__, url_prefix="/admin/v1")
key_auth = HTTPTokenAuth(scheme="Bearer", realm="admin")


@key_auth.verify_token
def _verify(secret: str) -> AdminKey | None:
    return admin_keys.authenticate(database.get_session(), secret)


@key_auth.error_handler
def _unauthorized(_status: int) -> Response:
    error = Unauthorized("A valid admin API key is required (SCIM bearer tokens are not admin keys).")
    error.headers["WWW-Authenticate"] = 'Bearer realm="admin"'
    return render(error)


@bp.before_request
@key_auth.login_required
def _authenticate() -> None:
    """Every route needs an admin key."""


@bp.get("/events")
def feed() -> Response:
    """The change feed of every tenant (and of requests refused before a tenant was known)."""
    return _page(None)


@bp.get("/tenants/<name>/events")
def tenant_feed(name: str) -> Response:
    """The change feed of one tenant."""
    return _page(tenants.get_by_name(database.get_session(), name).id)


@bp.route("/<path:_path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(_path: str) -> None:
    if request.method != "GET":
        raise MethodNotAllowed("The admin API only reads: use GET.", headers={"Allow": "GET"})
    raise NotFound("No such admin API endpoint.")


def _page(tenant_id: int | None) -> Response:
    cursor = request.args.get("after")
    after = events.decode_cursor(cursor) if cursor else 0
    limit = _limit()
    rows = events.read(database.get_session(), after=after, limit=limit + 1, tenant_id=tenant_id)
    page = rows[:limit]
    next_cursor = events.encode_cursor(page[-1][0].id if page else after)
    response = jsonify({"events": [events.to_dict(*row) for row in page], "next_cursor": next_cursor,
                        "has_more": len(rows) > limit})
    response.headers["Cache-Control"] = "no-store"
    return response


def _limit() -> int:
    text = request.args.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidValue(f"limit must be an integer from 1 to {MAX_LIMIT}.")
    return int(text)
