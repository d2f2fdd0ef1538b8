"""A tenant's webhooks in the admin API (admin keys, as app/admin_api.py):

    GET    /admin/v1/tenants/<name>/webhooks                      the endpoints (never their secrets)
    POST   /admin/v1/tenants/<name>/webhooks                      {"url": …, "kinds": "user.*,…"} → 201, the secret once
    DELETE /admin/v1/tenants/<name>/webhooks/<id>                 204
    GET    /admin/v1/tenants/<name>/webhooks/<id>/deliveries      the newest deliveries (?limit=N)
    POST   /admin/v1/tenants/<name>/webhooks/<id>/replay          {"from": EVENT_CURSOR}: send again from that event
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from app import database
from app.admin_api import key_auth
from app.http import no_content, read_json
from scim.errors import InvalidSyntax, InvalidValue
from storage import events, tenants, webhooks
from storage.documents import timestamp
from storage.models import DELIVERY_PENDING, Tenant, WebhookDelivery, WebhookEndpoint

DEFAULT_DELIVERIES = 50
MAX_DELIVERIES = 1000

bp = Blueprint("admin_webhooks", __name__, url_prefix="/admin/v1/tenants/<name>/webhooks")


@bp.before_request
@key_auth.login_required
def _authenticate() -> None:
    """Every route needs an admin key."""


@bp.get("")
def list_webhooks(name: str) -> Response:
    session = database.get_session()
    rows = webhooks.list_endpoints(session, tenants.get_by_name(session, name))
    return _no_store(jsonify({"webhooks": [to_dict(endpoint, tenant) for endpoint, tenant in rows]}))


@bp.post("")
def add_webhook(name: str) -> Response:
    body = read_json()
    if not isinstance(body, dict):
        raise InvalidSyntax('The body must be a JSON object: {"url": …, "kinds": …}.')
    url, kinds = body.get("url"), body.get("kinds")
    if isinstance(kinds, list) and all(isinstance(kind, str) for kind in kinds):
        kinds = ",".join(kinds)
    if not isinstance(url, str) or not (kinds is None or isinstance(kinds, str)):
        raise InvalidValue('"url" must be a string, "kinds" a string or a list of strings.')
    session = database.get_session(writing=True)
    endpoint = webhooks.add(session, _tenant(name), url, kinds)
    shown = {**to_dict(endpoint, name), "secret": endpoint.secret}
    database.commit()
    response = _no_store(jsonify(shown))
    response.status_code = 201
    return response


@bp.delete("/<int:endpoint_id>")
def remove_webhook(name: str, endpoint_id: int) -> Response:
    session = database.get_session(writing=True)
    webhooks.remove(session, endpoint_id, _tenant(name))
    database.commit()
    return no_content(204)


@bp.get("/<int:endpoint_id>/deliveries")
def list_deliveries(name: str, endpoint_id: int) -> Response:
    session = database.get_session()
    endpoint = webhooks.get(session, endpoint_id, _tenant(name))
    limit = request.args.get("limit", str(DEFAULT_DELIVERIES))
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_DELIVERIES:
        raise InvalidValue(f"limit must be an integer from 1 to {MAX_DELIVERIES}.")
    rows = webhooks.deliveries(session, endpoint.id, int(limit))
    return _no_store(jsonify({"webhook": to_dict(endpoint, name),
                              "deliveries": [delivery_dict(delivery, kind) for delivery, kind in rows]}))


@bp.post("/<int:endpoint_id>/replay")
def replay(name: str, endpoint_id: int) -> Response:
    body = read_json()
    cursor = body.get("from") if isinstance(body, dict) else None
    if not isinstance(cursor, str):
        raise InvalidValue('The body must be {"from": EVENT_CURSOR}: the event to send again from.')
    session = database.get_session(writing=True)
    endpoint = webhooks.replay(session, endpoint_id, events.decode_cursor(cursor), _tenant(name))
    shown = to_dict(endpoint, name)
    database.commit()
    return _no_store(jsonify(shown))


def _tenant(name: str) -> Tenant:
    return tenants.get_by_name(database.get_session(), name)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def to_dict(endpoint: WebhookEndpoint, tenant: str) -> dict[str, Any]:
    """An endpoint as the admin API shows it (never its secret)."""
    return {
        "id": endpoint.id, "tenant": tenant, "url": endpoint.url,
        "kinds": endpoint.kinds.split(",") if endpoint.kinds else None,
        "created": timestamp(endpoint.created_at), "status": "disabled" if endpoint.disabled_at else "active",
        "disabled_at": timestamp(endpoint.disabled_at) if endpoint.disabled_at else None,
        "disabled_reason": endpoint.disabled_reason, "cursor": events.encode_cursor(endpoint.cursor),
    }


def delivery_dict(delivery: WebhookDelivery, kind: str) -> dict[str, Any]:
    return {
        "event": events.encode_cursor(delivery.event_id), "kind": kind, "status": delivery.status,
        "attempts": delivery.attempts, "http_status": delivery.last_status, "latency_ms": delivery.latency_ms,
        "response_excerpt": delivery.response_excerpt,
        "last_attempt_at": timestamp(delivery.last_attempt_at) if delivery.last_attempt_at else None,
        "next_attempt_at": timestamp(delivery.next_attempt_at) if delivery.status == DELIVERY_PENDING else None,
    }
