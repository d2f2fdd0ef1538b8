"""The admin console at /admin: server-rendered pages (Jinja2, one stylesheet, no build step) that work without
JavaScript. Every page needs a signed-in admin; every form carries a CSRF token (see `security`)."""

from __future__ import annotations

from flask import Flask

from app.console import (  # noqa: F401 (they add routes to bp)
    activity,
    capture,
    directory,
    guard,
    home,
    pages,
    setup_links,
    sign_in,
    tenants,
    webhooks,
)
from app.console.blueprint import bp
from app.console.security import ConsoleSessionInterface


def init_app(app: Flask) -> None:
    """Register the console: its blueprint, a session cookie that turns Secure over TLS, and the front door at `/`
    that points to it and to the SCIM API."""
    app.session_interface = ConsoleSessionInterface()
    app.register_blueprint(bp)
    app.register_blueprint(home.bp)
