"""The admin API's routes for a tenant's mass-deprovisioning guard (docs/guard.md), behind the same admin keys as the
change feed:

    GET  /admin/v1/tenants/<name>/guard          the settings, the window's count and the hold, if any
    PUT  /admin/v1/tenants/<name>/guard          {"enabled": bool, "max_deprovisions": N|null, "window_seconds": N|null}
    POST /admin/v1/tenants/<name>/guard/release  {"net": bool}: deliver what is held (net: to its net effect)
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app import database
from app.admin_api import key_auth
from app.http import read_json
from scim.errors import InvalidValue
from storage import events, guard, tenants

bp = Blueprint("admin_guard", __name__, url_prefix="/admin/v1/tenants/<name>/guard")


@bp.before_request
@key_auth.login_required
def _authenticate() -> None:
    """Every route needs an admin key."""


@bp.get("")
def show(name: str) -> Response:
    """The tenant's guard now."""
    tenant = tenants.get_by_name(database.get_session(), name)
    return _answer(guard.status(database.get_session(), tenant.id).to_dict())


@bp.put("")
def configure(name: str) -> Response:
    """Change the settings given; a null threshold or window is the default."""
    body = read_json()
    if not isinstance(body, dict):
        raise InvalidValue("The body is a JSON object of guard settings.")
    session = database.get_session(writing=True)
    tenant = tenants.get_by_name(session, name)
    guard.configure(session, tenant.id, body)
    database.commit()
    return _answer(guard.status(session, tenant.id).to_dict())


@bp.post("/release")
def release(name: str) -> Response:
    """Release the hold: every held event goes out in order, or with `net` only those whose effect stands."""
    body = read_json()
    net = body.get("net", False) if isinstance(body, dict) else None
    if not isinstance(net, bool):
        raise InvalidValue('The body is {"net": true} or {"net": false}.')
    session = database.get_session()
    released = guard.release(session, tenants.get_by_name(session, name).id, net=net)
    return _answer({"held": released.hold.summary, "net": net, "delivered": released.delivered,
                    "dropped": released.dropped, "through": events.encode_cursor(released.through)})


def _answer(body: dict) -> Response:
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
