"""The platform's admin API at /admin/v1: the change feed, authenticated by admin keys (never by SCIM tokens).

`GET /admin/v1/events?after=CURSOR&limit=N` and `GET /admin/v1/tenants/<name>/events?…` return events in commit
order (see storage.events for why id order is commit order):

    {"events": [{"id": CURSOR, "time": …, "tenant": …, "kind": …, …}], "next_cursor": CURSOR, "has_more": false}

A consumer stores `next_cursor` after it has processed a page and asks again with `after=next_cursor`; a crash
before that repeats the page (at-least-once; an event's `id` is stable, for de-duplication). Errors are SCIM Error
bodies (RFC 7644 §3.12), rendered by app/errors.py as on the SCIM API.

Both feeds read through storage.guard, so the mass-deprovisioning guard stops them at a hold (docs/guard.md): a
tenant's page ends before the event that tripped it, with `"held": {summary}`, and `next_cursor` stays before the
held events until the hold is released. The all-tenants page ends before the first held event of any tenant, so its
cursor never passes a held event either; `"held"` is then the summary of the hold that stopped it.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from flask_httpauth import HTTPTokenAuth

from app import database
from app.errors import render
from scim.errors import InvalidValue, MethodNotAllowed, NotFound, Unauthorized
from storage import admin_keys, events, guard, tenants
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


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@bp.route("/<path:_path>", methods=list(_METHODS))
def unknown(_path: str) -> None:
    """A path no route serves is a 404; one served for other methods a 405 naming them."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = [method for method in _METHODS if adapter.match(request.path, method=method)[0] != request.endpoint]
    if allowed:
        raise MethodNotAllowed(f"{request.path} takes {', '.join(allowed)}.", headers={"Allow": ", ".join(allowed)})
    raise NotFound("No such admin API endpoint.")


def _page(tenant_id: int | None) -> Response:
    cursor = request.args.get("after")
    after = events.decode_cursor(cursor) if cursor else 0
    limit = _limit()
    session = database.get_session()
    # one more than the page, to tell whether more follow; the cursor is then the page's own
    if tenant_id is None:
        page = guard.deliverable_all(session, after, limit + 1)
    else:
        page = guard.deliverable(session, tenant_id, after, limit + 1)
    has_more = len(page.events) > limit
    if has_more:
        page = guard.Deliverable(page.events[:limit], page.events[limit - 1].id)
    names = tenants.names(session, (row.tenant_id for row in page.events))
    body = {"events": [events.to_dict(row, names.get(row.tenant_id)) for row in page.events],
            "next_cursor": events.encode_cursor(page.through), "has_more": has_more}
    if page.hold is not None:
        body["held"] = page.hold.summary
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def _limit() -> int:
    text = request.args.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidValue(f"limit must be an integer from 1 to {MAX_LIMIT}.")
    return int(text)
