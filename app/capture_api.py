"""Traffic capture through the admin API (admin keys, as the rest of /admin/v1; see docs/troubleshooting.md):

    POST   /admin/v1/tenants/<name>/capture   start, for `?for=90m` (default 60m, at most 24h): {"capture_until"}
    DELETE /admin/v1/tenants/<name>/capture   stop now
    GET    /admin/v1/tenants/<name>/capture   {"tenant", "capture_until", "requests": [newest first, bodies included]}
"""

from __future__ import annotations

from flask import Response, jsonify, request

from app import database
from app.admin_api import bp
from scim import capture
from storage import journal, tenants
from storage.documents import timestamp
from storage.models import Tenant, utcnow


@bp.post("/tenants/<name>/capture")
def start(name: str) -> Response:
    """Start capturing the tenant's traffic; an earlier capture's is discarded."""
    session = database.get_session(writing=True)
    tenant = tenants.get_by_name(session, name)
    journal.start_capture(session, tenant, capture.duration(request.args.get("for")))
    database.commit()
    return _answer(tenant, [], 201)


@bp.delete("/tenants/<name>/capture")
def stop(name: str) -> Response:
    """Stop capturing now; what was captured stays readable until it expires."""
    session = database.get_session(writing=True)
    tenant = tenants.get_by_name(session, name)
    journal.stop_capture(session, tenant)
    database.commit()
    return _answer(tenant, [])


@bp.get("/tenants/<name>/capture")
def show(name: str) -> Response:
    """The captured requests, newest first, with their redacted headers and bodies."""
    session = database.get_session()
    tenant = tenants.get_by_name(session, name)
    return _answer(tenant, [journal.to_dict(entry) for entry in journal.captured(session, tenant.id)])


def _answer(tenant: Tenant, rows: list[dict], status: int = 200) -> Response:
    until = tenant.capture_until
    running = until is not None and until > utcnow()
    response = jsonify({"tenant": tenant.name, "capture_until": timestamp(until) if running else None,
                        "requests": rows})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
