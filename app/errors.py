"""Errors of the SCIM API and the admin API leave as SCIM Error bodies (RFC 7644 §3.12), rendered here only."""

from __future__ import annotations

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from app import request_ids
from app.http import scim_response
from scim.errors import InternalError, InvalidSyntax, ScimError, ServiceUnavailable
from storage.faults import unavailable

log = logging.getLogger(__name__)

# A database that is down or slow is usually back within seconds (a restart, a failover); Okta and Entra retry a 503
# after this long.
RETRY_AFTER_SECONDS = 5

# Headers of werkzeug's own exceptions that must survive (Allow on 405, WWW-Authenticate on 401).
_KEPT_HEADERS = frozenset({"allow", "www-authenticate", "retry-after"})


def register(app: Flask) -> None:
    app.register_error_handler(ScimError, render)
    app.register_error_handler(HTTPException, _render_http)
    app.register_error_handler(Exception, _render_unexpected)


def render(error: ScimError) -> Response:
    return scim_response(error.to_body(), error.status, error.headers)


def _render_http(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {name: value for name, value in error.get_headers() if name.lower() in _KEPT_HEADERS}
    if status == 400:
        # werkzeug raises BadRequest for an unparsable JSON body; RFC 7644 §3.12 calls that invalidSyntax.
        scim_error: ScimError = InvalidSyntax(error.description)
    else:
        scim_error = ScimError(error.description)
        scim_error.status = status
    scim_error.headers.update(headers)
    return render(scim_error)


def _render_unexpected(error: Exception) -> Response:
    """A database that cannot answer now is a 503 with Retry-After; anything else a 500 naming the request's id,
    which the log's traceback line carries too. Neither shows a traceback or SQL."""
    if unavailable(error):
        log.warning("database unavailable: %s", getattr(error, "orig", None) or error)
        return render(ServiceUnavailable(RETRY_AFTER_SECONDS, "The database is unavailable: try again later."))
    request_id = request_ids.current()
    log.exception("unhandled error, request id %s", request_id, exc_info=error)
    return render(InternalError(f"An internal error occurred (request id {request_id})."))
