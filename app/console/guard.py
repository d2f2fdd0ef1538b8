"""The mass-deprovisioning guard on a tenant's connection page: its settings, and a hold with release buttons."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from werkzeug.wrappers import Response

from app import database
from app.console.blueprint import bp
from app.console.pages import FormError
from storage import admins, guard

WINDOW_MINUTES_MAX = 7 * 24 * 60


@bp.post("/tenants/<int:tenant_id>/guard")
def guard_settings(tenant_id: int) -> Response:
    """Save the guard's settings: an empty threshold or window is the default."""
    session = database.get_session()
    tenant = admins.get_tenant(session, tenant_id)
    try:
        settings = _settings_form()
    except FormError as error:
        flash(str(error))
        return redirect(url_for("console.connection", tenant_id=tenant.id, _anchor="guard"), code=303)
    guard.configure(session, tenant.id, settings)
    database.commit()
    flash("Guard settings saved.")
    return redirect(url_for("console.connection", tenant_id=tenant.id, _anchor="guard"), code=303)


@bp.post("/tenants/<int:tenant_id>/guard/release")
def guard_release(tenant_id: int) -> Response:
    """Release the hold: all held events, or (net) only those whose effect stands."""
    session = database.get_session()
    tenant = admins.get_tenant(session, tenant_id)
    net = request.form.get("net") == "1"
    released = guard.release(session, tenant.id, net=net)
    database.commit()
    dropped = f"; dropped as cancelling out: {released.dropped}" if net else ""
    flash(f"Hold released. Events delivered: {released.delivered}{dropped}.")
    return redirect(url_for("console.connection", tenant_id=tenant.id, _anchor="guard"), code=303)


def _settings_form() -> dict[str, Any]:
    threshold = request.form.get("max_deprovisions", "").strip()
    minutes = request.form.get("window_minutes", "").strip()
    if threshold and (not threshold.isdigit() or int(threshold) < 1):
        raise FormError("The threshold is a positive number of deprovisions, or empty for the default.")
    if minutes and (not minutes.isdigit() or not 1 <= int(minutes) <= WINDOW_MINUTES_MAX):
        raise FormError(f"The window is 1 to {WINDOW_MINUTES_MAX} minutes, or empty for the default.")
    return {"enabled": request.form.get("enabled") == "on",
            "max_deprovisions": int(threshold) if threshold else None,
            "window_seconds": int(minutes) * 60 if minutes else None}
