"""The admin API's setup links (admin keys, as the rest of /admin/v1):

    POST   /admin/v1/tenants/<name>/setup-links        {"expires": "7d", "label": …} → 201 {id, url, expires_at, …}
    GET    /admin/v1/tenants/<name>/setup-links        → {"setup_links": [{id, prefix, label, …, state}]}
    DELETE /admin/v1/tenants/<name>/setup-links/<id>   → the revoked link

The URL, which holds the secret, is in the creating answer only.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app import database
from app import setup_links as links
from app.admin_api import key_auth
from app.http import read_json
from scim.errors import InvalidValue
from storage import setup_links, tenants

bp = Blueprint("setup_links_api", __name__, url_prefix="/admin/v1/tenants/<name>/setup-links")


@bp.before_request
@key_auth.login_required
def _authenticate() -> None:
    """Every route needs an admin key."""


@bp.post("")
def create(name: str) -> tuple[Response, int]:
    """Create a link; its URL is in this answer only."""
    body = read_json() if request.content_length else {}
    if not isinstance(body, dict) or not all(isinstance(body.get(key), str | None) for key in ("expires", "label")):
        raise InvalidValue('The body is an object with optional strings "expires" (e.g. "7d") and "label".')
    session = database.get_session(writing=True)
    tenant = tenants.get_by_name(session, name)
    link, secret = setup_links.create(session, tenant, setup_links.parse_expiry(body.get("expires")),
                                      _label(body.get("label")))
    database.commit()
    response = jsonify({**links.to_dict(link, tenant.name), "url": links.url(links.request_base(), secret)})
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@bp.get("")
def list_links(name: str) -> Response:
    """The tenant's links, newest first."""
    session = database.get_session()
    tenant = tenants.get_by_name(session, name)
    rows = setup_links.list_links(session, tenant)
    return jsonify({"setup_links": [links.to_dict(link, tenant_name) for link, tenant_name in rows]})


@bp.delete("/<link_id>")
def revoke(name: str, link_id: str) -> Response:
    """Revoke one of the tenant's links."""
    session = database.get_session(writing=True)
    tenant = tenants.get_by_name(session, name)
    link = setup_links.revoke(session, link_id, tenant)
    database.commit()
    return jsonify(links.to_dict(link, tenant.name))


def _label(text: str | None) -> str | None:
    label = (text or "").strip() or None
    if label and len(label) > links.LABEL_MAX:
        raise InvalidValue(f"A label has at most {links.LABEL_MAX} characters.")
    return label
