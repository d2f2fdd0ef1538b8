"""Each request's id, which ties an IdP's failing call to the server's log lines and activity-log event.

The id is the client's (or its proxy's) `X-Request-Id` when that is sane, else a new one; it is echoed in the
response's `X-Request-Id`, carried by every log line written while the request runs (`app.logs`), and stored with
the request's events (`storage.events.Origin`). When the request started is kept beside it, for the access log and
the latency metric.
"""

from __future__ import annotations

import re
import time
import uuid

from flask import Flask, Response, g, has_request_context, request

HEADER = "X-Request-Id"
MAX_LENGTH = 128  # storage.models.Event.request_id holds this many characters
# Printable ASCII without spaces: what proxies and tracers send (UUIDs, hex, `Root=1-…;Parent=…`), and nothing that
# could split a log line or forge a header.
_SANE = re.compile(rf"[\x21-\x7e]{{1,{MAX_LENGTH}}}")


def init_app(app: Flask) -> None:
    """Give every request its id and echo it; called before any other hook is registered, so that it runs first."""
    app.before_request(_begin)
    app.after_request(_echo)


def from_header(value: str | None) -> str:
    """The id a request gets: `value` (its `X-Request-Id`) when sane, else a new one."""
    if value is not None and _SANE.fullmatch(value):
        return value
    return uuid.uuid4().hex


def current() -> str | None:
    """The id of the request being handled, None outside a request."""
    return g.get("request_id") if has_request_context() else None


def started() -> float:
    """When the request being handled started (`time.perf_counter`)."""
    return g.request_started


def _begin() -> None:
    g.request_started = time.perf_counter()
    g.request_id = from_header(request.headers.get(HEADER))


def _echo(response: Response) -> Response:
    response.headers[HEADER] = g.request_id
    return response
