"""A tenant's webhooks in the console: the endpoints (add, with the secret shown once; remove; test) and each one's
recent deliveries (status, attempts, HTTP status, latency, the answer's start), with replay from any of them."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from app import database
from app.console.blueprint import bp
from app.deliverer import Settings, send_test
from scim.errors import InvalidValue
from storage import admins, events, webhooks
from storage.models import Tenant

RECENT_DELIVERIES = 50
# The session key holding a new endpoint's secret from the form's post to the page that shows it once (as tokens).
NEW_WEBHOOK = "new_webhook"


@bp.get("/tenants/<int:tenant_id>/webhooks")
def webhooks_page(tenant_id: int) -> str:
    """The tenant's endpoints; after one was added, its signing secret, once."""
    tenant = admins.get_tenant(database.get_session(), tenant_id)
    new = session.pop(NEW_WEBHOOK, None)
    if new and new["tenant_id"] == tenant.id:
        return _list_page(tenant, new_id=new["id"], new_secret=new["secret"])
    return _list_page(tenant)


@bp.post("/tenants/<int:tenant_id>/webhooks")
def add_webhook(tenant_id: int) -> Response | tuple[str, int]:
    db_session = database.get_session()
    tenant = admins.get_tenant(db_session, tenant_id)
    url, kinds = request.form.get("url", "").strip(), request.form.get("kinds", "").strip() or None
    try:
        endpoint = webhooks.add(db_session, tenant, url, kinds)
    except InvalidValue as error:
        return _list_page(tenant, error=error.detail, url=url, kinds_value=kinds or ""), 400
    database.commit()
    session[NEW_WEBHOOK] = {"tenant_id": tenant.id, "id": endpoint.id, "secret": endpoint.secret}
    return redirect(url_for("console.webhooks_page", tenant_id=tenant.id), code=303)


@bp.get("/tenants/<int:tenant_id>/webhooks/<int:endpoint_id>")
def webhook_page(tenant_id: int, endpoint_id: int) -> str:
    db_session = database.get_session()
    tenant = admins.get_tenant(db_session, tenant_id)
    endpoint = webhooks.get(db_session, endpoint_id, tenant)
    return render_template("console/webhook.html", tenant=tenant, endpoint=endpoint,
                           status=webhooks.status(endpoint), cursor=events.encode_cursor,
                           deliveries=webhooks.deliveries(db_session, endpoint.id, RECENT_DELIVERIES))


@bp.post("/tenants/<int:tenant_id>/webhooks/<int:endpoint_id>/test")
def test_webhook(tenant_id: int, endpoint_id: int) -> Response:
    db_session = database.get_session()
    endpoint = webhooks.get(db_session, endpoint_id, admins.get_tenant(db_session, tenant_id))
    url, secret = endpoint.url, endpoint.secret
    database.commit()  # the console's writer transaction is not held while the endpoint answers
    answer = send_test(url, secret, endpoint_id, Settings.from_config(current_app.config).timeout)
    flash(f"Test message: {answer.status or 'no answer'} in {answer.latency_ms} ms"
          + (f" — {answer.excerpt[:200]}" if answer.excerpt else ""))
    return redirect(url_for("console.webhook_page", tenant_id=tenant_id, endpoint_id=endpoint_id), code=303)


@bp.post("/tenants/<int:tenant_id>/webhooks/<int:endpoint_id>/replay")
def replay_webhook(tenant_id: int, endpoint_id: int) -> Response:
    db_session = database.get_session()
    cursor = request.form.get("from", "")
    webhooks.replay(db_session, endpoint_id, events.decode_cursor(cursor), admins.get_tenant(db_session, tenant_id))
    database.commit()
    flash(f"Replaying from event {cursor}: the messages go out again in order.")
    return redirect(url_for("console.webhook_page", tenant_id=tenant_id, endpoint_id=endpoint_id), code=303)


@bp.post("/tenants/<int:tenant_id>/webhooks/<int:endpoint_id>/remove")
def remove_webhook(tenant_id: int, endpoint_id: int) -> Response:
    db_session = database.get_session()
    webhooks.remove(db_session, endpoint_id, admins.get_tenant(db_session, tenant_id))
    database.commit()
    flash(f"Webhook {endpoint_id} removed.")
    return redirect(url_for("console.webhooks_page", tenant_id=tenant_id), code=303)


def _list_page(tenant: Tenant, **extra: Any) -> str:
    rows = webhooks.list_endpoints(database.get_session(), tenant)
    return render_template("console/webhooks.html", tenant=tenant, endpoints=[endpoint for endpoint, _ in rows],
                           status=webhooks.status, kinds=", ".join(webhooks.DELIVERED_KINDS), **extra)
