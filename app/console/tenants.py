"""Tenants and each tenant's connection page: the settings to paste into the IdP, and its bearer tokens."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from app import database
from app.console.activity import recent_failures
from app.console.blueprint import bp
from app.console.pages import FormError
from app.http import base_url
from scim.errors import Conflict, InvalidValue, NotFound
from storage import admins, guard, tenants, tokens
from storage.models import Tenant, Token, utcnow

TOKEN_LABEL_MAX = 200
# The session key holding a new token's secret from the form's post to the page that shows it once. The session is
# a signed cookie: the secret travels to the same browser that is shown it, and the page's answer drops it.
NEW_TOKEN = "new_token"
TOKEN_DAYS_MAX = 3650


@bp.get("/")
def tenants_page() -> str:
    """Every tenant with its counts, the last call from its IdP, and whether its deliveries are held."""
    return _tenants_page()


@bp.post("/tenants")
def create_tenant() -> Response | tuple[str, int]:
    """Create a tenant and go to its connection page."""
    name = request.form.get("name", "").strip()
    try:
        tenant = tenants.create(database.get_session(), name)
    except (InvalidValue, Conflict) as error:
        return _tenants_page(error=error.detail, name=name), 400
    database.commit()
    flash(f"Tenant {tenant.name} created. Create a token for its IdP below.")
    return redirect(url_for("console.connection", tenant_id=tenant.id))


@bp.get("/tenants/<int:tenant_id>")
def connection(tenant_id: int) -> str:
    """The IdP settings, the tokens and the last failed requests of a tenant; after a token was created, its secret,
    once (the session gives it up as the page is built, so a reload no longer shows it)."""
    tenant = admins.get_tenant(database.get_session(), tenant_id)
    new = session.pop(NEW_TOKEN, None)
    if new and new["tenant_id"] == tenant.id:
        return _connection_page(tenant, new_token=_token_of(tenant, new["id"]), new_secret=new["secret"])
    return _connection_page(tenant)


@bp.post("/tenants/<int:tenant_id>/tokens")
def create_token(tenant_id: int) -> Response | tuple[str, int]:
    """Issue a token and redirect to the connection page, which shows its secret once: reloading that page
    issues nothing."""
    db_session = database.get_session()
    tenant = admins.get_tenant(db_session, tenant_id)
    try:
        label, days = _token_form()
    except FormError as error:
        return _connection_page(tenant, token_error=str(error)), 400
    token, secret = tokens.issue(db_session, tenant, label=label, expires_days=days)
    database.commit()
    session[NEW_TOKEN] = {"tenant_id": tenant.id, "id": token.id, "secret": secret}
    return redirect(url_for("console.connection", tenant_id=tenant.id), code=303)


@bp.get("/tenants/<int:tenant_id>/tokens/<token_id>/revoke")
def confirm_revoke(tenant_id: int, token_id: str) -> str:
    """Ask before revoking: a page with one button, so no JavaScript is needed."""
    tenant = admins.get_tenant(database.get_session(), tenant_id)
    return render_template("console/revoke.html", tenant=tenant, token=_token_of(tenant, token_id))


@bp.post("/tenants/<int:tenant_id>/tokens/<token_id>/revoke")
def revoke_token(tenant_id: int, token_id: str) -> Response:
    """Revoke the token: its next request is refused."""
    db_session = database.get_session()
    tenant = admins.get_tenant(db_session, tenant_id)
    token = tokens.revoke(db_session, _token_of(tenant, token_id).id)
    database.commit()
    flash(f"Token {token.prefix}… revoked.")
    return redirect(url_for("console.connection", tenant_id=tenant.id))


@bp.app_template_filter("token_status")
def token_status(token: Token) -> str:
    if token.revoked_at:
        return "revoked"
    if token.expires_at and token.expires_at <= utcnow():
        return "expired"
    return "active"


def _tenants_page(**extra: Any) -> str:
    session = database.get_session()
    return render_template("console/tenants.html", summaries=admins.tenant_summaries(session),
                           held=guard.held_tenants(session), **extra)


def _connection_page(tenant: Tenant, **extra: Any) -> str:
    rows = tokens.list_tokens(database.get_session(), tenant)
    return render_template("console/connection.html", tenant=tenant, scim_url=base_url(),
                           tokens=[token for token, _name in rows], failures=recent_failures(tenant),
                           guard=guard.status(database.get_session(), tenant.id), **extra)


def _token_of(tenant: Tenant, token_id: str) -> Token:
    """The tenant's token `token_id`; another tenant's token is not found here."""
    for token, _name in tokens.list_tokens(database.get_session(), tenant):
        if token.id == token_id:
            return token
    raise NotFound(f"Tenant {tenant.name} has no token {token_id}.")


def _token_form() -> tuple[str | None, int | None]:
    label = request.form.get("label", "").strip() or None
    if label and len(label) > TOKEN_LABEL_MAX:
        raise FormError(f"A label has at most {TOKEN_LABEL_MAX} characters.")
    days = request.form.get("expires_days", "").strip()
    if not days:
        return label, None
    if not days.isdigit() or not 1 <= int(days) <= TOKEN_DAYS_MAX:
        raise FormError(f"Expiry is a number of days from 1 to {TOKEN_DAYS_MAX}, or empty for never.")
    return label, int(days)
