"""The activity log, from the request: where each write comes from, and each failed SCIM request as an event.

Writes. A view hands the stores `origin()`: the token (its id, never its secret), the client's address (after
ProxyFix, see SCIM_TRUST_PROXY) and User-Agent, the request's method, path and id (app.request_ids). The store
writes the events of the change with it (scim.changes decides what they say), each with the status of the write it
describes (201 created, 200 replaced or modified, 204 deleted, as RFC 7644 §3.3-§3.6 define them; a group PATCH
answered 204 No Content, or an operation of a Bulk request, still says 200).

Failures. `init_app` adds an after-request hook: any response of 400 or more to a request under the SCIM API is
logged as `request.rejected` with its status, scimType and detail, read back from the SCIM Error body (RFC 7644
§3.12) whichever handler rendered it. A failed authentication (401, or 429 past its limit) is not: it is counted per
client address and minute instead (app/auth_failures.py), so that a flood of bad tokens writes no row per request;
nor is a 503, which says the database could not be used. The request's own work is rolled back first
and the event is written in a transaction of its own (storage.events.record). Recording can fail (the database may
be why the request failed): that is logged and never replaces the error the client gets.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, request

from app import database, request_ids
from scim.changes import REQUEST_REJECTED
from scim.schemas import DEFAULT_REGISTRY
from storage import events
from storage.tokens import Principal

log = logging.getLogger(__name__)

_AUTHENTICATION_REFUSED = frozenset({401, 429})  # app/auth_failures.py counts these
# The database could not be used (app/errors.py): writing the event would wait for it again, and fail.
UNAVAILABLE = 503


def init_app(app: Flask) -> None:
    """Log failed SCIM requests, whichever handler rendered them."""
    app.after_request(_record_failure)


def origin() -> events.Origin:
    """Where the request's events come from."""
    principal: Principal | None = g.get("principal")
    return events.Origin(
        method=request.method,
        path=request.path,
        tenant_id=principal.tenant_id if principal else None,
        token_id=principal.token_id if principal else None,
        client_ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
        request_id=request_ids.current(),
    )


def _record_failure(response: Response) -> Response:
    if response.status_code >= 400 and request.path.startswith(current_app.blueprints["scim"].url_prefix + "/"):
        failed_authentication = response.status_code in _AUTHENTICATION_REFUSED and "principal" not in g
        if not failed_authentication and response.status_code != UNAVAILABLE:
            _record_rejected(response)
    return response


def _record_rejected(response: Response) -> None:
    body = response.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    resource_type, resource_id = _requested_resource()
    try:
        rejected = events.entry(origin(), REQUEST_REJECTED, response.status_code, resource_type, resource_id,
                                scim_type=body.get("scimType"), detail=body.get("detail"))
        events.record(database.connection(), rejected)
    except Exception:
        # The teardown rolls the connection back; the client still gets its own error.
        log.exception("could not log the rejected request %s %s (%s)", request.method, request.path,
                      response.status_code)


def _requested_resource() -> tuple[str | None, str | None]:
    """The resource type and id the URL names, when it names them (`/Users/{id}`)."""
    args = request.view_args or {}
    resource_type = DEFAULT_REGISTRY.by_endpoint(args["endpoint"]) if "endpoint" in args else None
    return (resource_type.name if resource_type else None), args.get("resource_id")
