"""Configuration: defaults, then `SCIM_*` environment variables, then the mapping given to create_app."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask

DEFAULTS: dict[str, Any] = {
    # Where the server keeps its files (SQLite database, generated secret key); default: Flask's instance folder.
    "DATA_DIR": None,
    "DATABASE_URL": None,  # default: sqlite:///<data folder>/scim.db
    # Seconds: opening a PostgreSQL connection; a statement (PostgreSQL) or the wait for SQLite's write lock; the
    # database check of /readyz. Past them the client gets 503 with Retry-After.
    "DB_CONNECT_TIMEOUT": 5,
    "DB_STATEMENT_TIMEOUT": 20,
    "READY_TIMEOUT": 2,
    # Failed SCIM authentications per client address and minute, for all workers together; past it, 429.
    "AUTH_FAILURES_PER_MINUTE": 20,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "PUBLIC_BASE_URL": None,  # e.g. https://scim.example.com — used for meta.location and Location
    "TRUST_PROXY": 0,  # number of proxies whose X-Forwarded-* headers to trust
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "json",  # one JSON object per line; "text" for a terminal (app/logs.py)
    "ACCESS_LOG": "-",  # one line per request in the log ("-"); empty: none
    "METRICS_TOKEN": None,  # set: /metrics answers the bearer of this token (app/metrics.py); unset: no metrics
    "DEFAULT_PAGE_SIZE": 100,
    "MAX_RESULTS": 1000,
    "EVENT_RETENTION_DAYS": 90,  # `scim-server prune-events` deletes older activity-log events
    # Admin console (/admin). SECRET_KEY signs its cookie; unset, one is generated once into the data folder.
    "SECRET_KEY": None,
    "SESSION_COOKIE_NAME": "scim_console",
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,  # the cookie is Secure anyway on a request that came over TLS
    "CONSOLE_SESSION_HOURS": 12,
    "CONSOLE_MAX_FAILURES": 5,  # failed sign-ins per account in CONSOLE_LOCKOUT_MINUTES before it is locked
    "CONSOLE_MAX_FAILURES_PER_IP": 20,
    "CONSOLE_LOCKOUT_MINUTES": 15,
    "CONSOLE_PAGE_SIZE": 25,
    # Webhooks (app/deliverer.py): seconds before each retry (jittered; past the last the endpoint is disabled), an
    # attempt's timeout, messages sent at once, and claimed per batch. DELIVER=0: `serve` runs no deliverer.
    "WEBHOOK_RETRY_DELAYS": "5,30,120,600,1800,3600,10800,21600",
    "WEBHOOK_TIMEOUT": 10,
    "WEBHOOK_THREADS": 16,
    "WEBHOOK_BATCH": 200,
    "DELIVER": 1,
}


def load(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("SCIM")
    if overrides:
        app.config.from_mapping(overrides)
    if app.config["DATA_DIR"]:
        app.instance_path = os.path.abspath(app.config["DATA_DIR"])
    try:
        if not app.config["DATABASE_URL"]:
            os.makedirs(app.instance_path, exist_ok=True)
            app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "scim.db")
        if not app.config["SECRET_KEY"]:
            app.config["SECRET_KEY"] = persistent_secret_key(app.instance_path)
    except PermissionError as error:
        # An installed package's default instance folder (<prefix>/var/app-instance) is root's in a container.
        raise SystemExit(
            f"SCIM server: cannot write {error.filename}: set SCIM_DATA_DIR to a directory this user can write "
            "(or SCIM_DATABASE_URL and SCIM_SECRET_KEY)."
        ) from error


def persistent_secret_key(instance_path: str) -> str:
    """The key in `<instance>/secret_key`, created on first use, so sessions survive restarts. Workers starting
    together agree: the file appears complete or not at all (hard link of a finished temporary file)."""
    path = os.path.join(instance_path, "secret_key")
    if not os.path.exists(path):
        os.makedirs(instance_path, exist_ok=True)
        temporary = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(secrets.token_hex(32))
        try:
            with contextlib.suppress(FileExistsError):  # another worker was first: use its key
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    with open(path) as file:
        return file.read().strip()


def served_bind() -> str:
    """HOST:PORT that `scim-server serve` listens on: SCIM_BIND, or the loopback port 8000."""
    return os.environ.get("SCIM_BIND", "127.0.0.1:8000")
