"""The admin console at /admin: server-rendered pages (Jinja2, one stylesheet, no build step) that work without
JavaScript. Every page needs a signed-in admin; every form carries a CSRF token (see `security`)."""

from __future__ import annotations

from flask import Blueprint, Flask, request

from app import database
from app.console import security

bp = Blueprint("console", __name__, url_prefix="/admin", template_folder="templates", static_folder="static")


@bp.before_request
def _writer_for_forms() -> None:
    """A form post may write (sign-in failures are counted even when refused): it runs as a writer from the start.
    Console traffic is an admin's clicks; only the SCIM API takes its write lock late (app.database)."""
    if request.method == "POST":
        database.write_session()


bp.before_request(security.guard)
bp.after_request(security.add_headers)
bp.add_app_template_global(security.csrf_token)


def init_app(app: Flask) -> None:
    """Register the console: its blueprint and a session cookie that turns Secure over TLS."""
    from app.console import activity, directory, pages, sign_in, tenants  # noqa: F401 (they add routes to bp)

    app.session_interface = security.ConsoleSessionInterface()
    app.register_blueprint(bp)
