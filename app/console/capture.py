"""A tenant's traffic capture in the console: start it for a while, stop it, and read what it kept
(storage.journal; the same capture as `scim-server capture` and the admin API)."""

from __future__ import annotations

from datetime import timedelta

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app import database
from app.console.blueprint import bp
from scim import capture
from scim.errors import InvalidValue
from storage import admins, journal
from storage.models import utcnow

# The durations the form offers, in minutes; the CLI and the admin API take any up to scim.capture.MAX_DURATION.
DURATIONS = (15, 60, 240, 1440)


@bp.get("/tenants/<int:tenant_id>/capture")
def capture_page(tenant_id: int) -> str:
    """Whether the tenant's traffic is captured, until when, and the captured requests, newest first."""
    session = database.get_session()
    tenant = admins.get_tenant(session, tenant_id)
    running = journal.capturing(tenant.capture_until, utcnow())
    rows = [journal.to_dict(entry) for entry in journal.captured(session, tenant.id)]
    return render_template("console/capture.html", tenant=tenant, running=running, rows=rows, durations=DURATIONS,
                           default=int(capture.DEFAULT_DURATION.total_seconds() // 60),
                           kept_hours=int(journal.CAPTURE_KEPT.total_seconds() // 3600))


@bp.post("/tenants/<int:tenant_id>/capture/start")
def start_capture(tenant_id: int) -> Response:
    """Start capturing for the chosen minutes; what an earlier capture kept is discarded."""
    session = database.get_session()
    tenant = admins.get_tenant(session, tenant_id)
    minutes = request.form.get("minutes", "")
    try:
        if not minutes.isdigit():
            raise InvalidValue("Choose how long to capture.")
        until = journal.start_capture(session, tenant, timedelta(minutes=int(minutes)))
    except InvalidValue as error:
        flash(error.detail)
    else:
        database.commit()
        flash(f"Capturing the traffic of {tenant.name} until {until:%Y-%m-%d %H:%M} UTC.")
    return redirect(url_for("console.capture_page", tenant_id=tenant.id), code=303)


@bp.post("/tenants/<int:tenant_id>/capture/stop")
def stop_capture(tenant_id: int) -> Response:
    """Stop capturing now; what was captured stays until it expires."""
    session = database.get_session()
    tenant = admins.get_tenant(session, tenant_id)
    journal.stop_capture(session, tenant)
    database.commit()
    flash(f"Capture of {tenant.name} stopped.")
    return redirect(url_for("console.capture_page", tenant_id=tenant.id), code=303)
