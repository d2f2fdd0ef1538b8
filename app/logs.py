"""The log: one JSON object per line (SCIM_LOG_FORMAT=json, the default) or readable text (`text`, as `make run`
sets), every line written during a request carrying that request's id (`request_id`), and the access log, one line
per request (SCIM_ACCESS_LOG; empty turns it off). gunicorn's own lines take the same format (app/gunicorn_hooks.py).
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request
from pythonjsonlogger.json import JsonFormatter

from app import request_ids

FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

access_log = logging.getLogger("app.access")


class RequestIdFilter(logging.Filter):
    """Adds the id of the request under way to each record a handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request_id = request_ids.current()
            if request_id is not None:
                record.request_id = request_id
        return True


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of SCIM_LOG_FORMAT: JSON with `time` (UTC, ISO 8601), `level`, `logger`, `message`, then the
    record's extra fields (`request_id`, an access line's fields, `exc_info`), or a line of text."""
    if log_format not in FORMATS:
        raise ValueError(f"SCIM_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    return JsonFormatter("%(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level", "name": "logger"},
                         timestamp="time")


def handler(log_format: str) -> logging.Handler:
    """A handler writing to stderr in `log_format`, with the request id."""
    stream = logging.StreamHandler()
    stream.setFormatter(formatter(log_format))
    stream.addFilter(RequestIdFilter())
    return stream


def init_app(app: Flask) -> None:
    """Log through the root logger in the configured format, unless something (a test runner) already set it up;
    and write the access log when it is on."""
    log_format = str(app.config["LOG_FORMAT"]).lower()
    root_handler = handler(log_format)  # checks the format even where the root logger is already set up
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(root_handler)
        root.setLevel(str(app.config["LOG_LEVEL"]).upper())
    if app.config["ACCESS_LOG"]:
        access_log.setLevel(logging.INFO)  # whatever SCIM_LOG_LEVEL says, as gunicorn's access log was
        app.after_request(_log_access)


def _log_access(response: Response) -> Response:
    # The message reads well as text; the JSON line has each part as a field of its own too.
    duration_ms = round((time.perf_counter() - request_ids.started()) * 1000, 2)
    path = g.get("logged_path", request.path)  # a view whose path holds a secret names it otherwise
    access_log.info("%s %s %s %.2f ms", request.method, path, response.status_code, duration_ms, extra={
        "request_id": request_ids.current(), "method": request.method, "path": path,
        "status": response.status_code, "duration_ms": duration_ms, "client_ip": request.remote_addr,
        "user_agent": request.headers.get("User-Agent"),
    })
    return response
