"""Request parsing and response building shared by the SCIM views."""

from __future__ import annotations

import functools
import json
import re
from array import array
from itertools import accumulate
from typing import Any

from flask import Response, current_app, g, request
from werkzeug.sansio.utils import get_current_url

from scim.encoding import dumps
from scim.errors import InvalidSyntax, PayloadTooLarge, UnsupportedMediaType

SCIM_JSON = "application/scim+json"

# Arrays and objects nested deeper than this are refused: SCIM bodies nest a handful of levels (a Bulk operation's
# resource about seven), and everything that walks a body (the JSON parser, validation, PATCH, Bulk) recurses.
MAX_JSON_DEPTH = 32

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = b"[{]}"
_NOT_BRACKETS = bytes(set(range(256)) - set(_BRACKETS))
_STEPS = bytes.maketrans(_BRACKETS, b"\x01\x01\xff\xff")  # +1 and, read as signed bytes, -1


def read_json() -> Any:
    """The request body as JSON. Per RFC 7644 §8.1 application/scim+json; application/json and any +json accepted."""
    mimetype = request.mimetype
    if mimetype != "application/json" and not (mimetype.startswith("application/") and mimetype.endswith("+json")):
        raise UnsupportedMediaType(f"Content-Type {request.content_type or '(none)'} is not supported; "
                                   "send application/scim+json or application/json.")
    data = _body()
    try:
        text = data.decode(json.detect_encoding(data), "surrogatepass")  # as json.loads decodes bytes
        if _depth(text) > MAX_JSON_DEPTH:
            raise InvalidSyntax(f"The request body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels.")
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidSyntax(f"The request body is not valid JSON: {error}.") from error


def _body() -> bytes:
    """The body, 413 when over MAX_CONTENT_LENGTH however it is framed.

    A body of announced length is checked before any view runs (`app/__init__.py:_limit_body`). A streamed one
    (chunked) is cut at `request.max_content_length` by werkzeug without an error, so it is read up to one byte more
    than the limit: a body that reaches that byte is over it.
    """
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if limit and request.content_length is None:
        request.max_content_length = limit + 1
    data = request.get_data(cache=True)
    check_body_size(len(data))
    return data


def check_body_size(length: int | None) -> None:
    """413 for a body of `length` bytes over MAX_CONTENT_LENGTH."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if limit and (length or 0) > limit:
        raise PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes.")


def _depth(text: str) -> int:
    """How deep arrays and objects nest in JSON text (brackets inside strings do not count), in C-speed passes:
    a body with fewer brackets than the limit is not searched at all."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0
    brackets = _JSON_STRING.sub("", text).encode("ascii", "ignore").translate(_STEPS, _NOT_BRACKETS)
    return max(accumulate(array("b", brackets)), default=0)


def scim_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    payload = "" if body is None else dumps(body)
    response = current_app.response_class(payload, status=status, mimetype=SCIM_JSON)
    if headers:
        response.headers.update(headers)
    return response


def no_content(status: int, headers: dict[str, str] | None = None) -> Response:
    """A 204 or 304: no body, so no Content-Type (RFC 9110 §8.3 describes a body that is not there)."""
    response = current_app.response_class(status=status, headers=headers)
    del response.headers["Content-Type"]
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
