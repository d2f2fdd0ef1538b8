"""The console's blueprint, which every page module adds its routes to, and the hooks every console request runs."""

from __future__ import annotations

from flask import Blueprint, request

from app import database
from app.console import security

bp = Blueprint("console", __name__, url_prefix="/admin", template_folder="templates", static_folder="static")


@bp.before_request
def _writer_for_forms() -> None:
    """A form post may write (sign-in failures are counted even when refused): it runs as a writer from the start.
    Console traffic is an admin's clicks; only the SCIM API takes its write lock late (app.database)."""
    if request.method == "POST":
        database.get_session(writing=True)


bp.before_request(security.guard)
bp.after_request(security.add_headers)
bp.add_app_template_global(security.csrf_token)
