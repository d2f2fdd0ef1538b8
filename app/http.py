"""Request parsing and response building shared by the SCIM views."""

from __future__ import annotations

import functools
import json
from typing import Any

from flask import Response, current_app, g, request
from werkzeug.sansio.utils import get_current_url

from scim.encoding import dumps
from scim.errors import InvalidSyntax, UnsupportedMediaType

SCIM_JSON = "application/scim+json"


def read_json() -> Any:
    """The request body as JSON. Per RFC 7644 §8.1 application/scim+json; application/json and any +json accepted."""
    mimetype = request.mimetype
    if mimetype != "application/json" and not (mimetype.startswith("application/") and mimetype.endswith("+json")):
        raise UnsupportedMediaType(f"Content-Type {request.content_type or '(none)'} is not supported; "
                                   "send application/scim+json or application/json.")
    data = request.get_data(cache=True)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidSyntax(f"The request body is not valid JSON: {error}.") from error


def scim_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    payload = "" if body is None else dumps(body)
    response = current_app.response_class(payload, status=status, mimetype=SCIM_JSON)
    if headers:
        response.headers.update(headers)
    return response


def base_url() -> str:
    """The SCIM base URL clients use (for meta.location): SCIM_PUBLIC_BASE_URL, else the request's own host."""
    if "scim_base_url" not in g:
        configured = current_app.config.get("PUBLIC_BASE_URL")
        if configured:
            g.scim_base_url = configured.rstrip("/") + "/scim/v2"
        else:
            g.scim_base_url = _host_base_url(request.scheme, request.host)
    return g.scim_base_url


@functools.lru_cache(maxsize=64)
def _host_base_url(scheme: str, host: str) -> str:
    # werkzeug's request.host_url (IRI decoding and all), once for each of the few hosts a server is reached by.
    return get_current_url(scheme, host).rstrip("/") + "/scim/v2"
