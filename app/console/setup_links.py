"""A tenant's setup links in the console: create one (its URL shown once), list them, revoke one."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from app import database
from app import setup_links as links
from app.console.blueprint import bp
from scim.errors import InvalidValue
from storage import admins, setup_links
from storage.models import Tenant

# The session key holding a new link's URL from the form's post to the page that shows it once (as tokens).
NEW_LINK = "new_setup_link"
EXPIRY_CHOICES = (("1d", "1 day"), ("7d", "7 days"), ("30d", "30 days"))


@bp.get("/tenants/<int:tenant_id>/setup-links")
def setup_links_page(tenant_id: int) -> str:
    """The tenant's links; after one was created, its URL, once."""
    tenant = admins.get_tenant(database.get_session(), tenant_id)
    new = session.pop(NEW_LINK, None)
    return _page(tenant, new=new if new and new["tenant_id"] == tenant.id else None)


@bp.post("/tenants/<int:tenant_id>/setup-links")
def create_setup_link(tenant_id: int) -> Response | tuple[str, int]:
    """Create a link and redirect to the links page, which shows its URL once."""
    db_session = database.get_session()
    tenant = admins.get_tenant(db_session, tenant_id)
    label = request.form.get("label", "").strip() or None
    try:
        if label and len(label) > links.LABEL_MAX:
            raise InvalidValue(f"A label has at most {links.LABEL_MAX} characters.")
        expiry = setup_links.parse_expiry(request.form.get("expires"))
    except InvalidValue as error:
        return _page(tenant, error=error.detail), 400
    link, secret = setup_links.create(db_session, tenant, expiry, label)
    database.commit()
    session[NEW_LINK] = {"tenant_id": tenant.id, "id": link.id, "url": links.url(links.request_base(), secret)}
    return redirect(url_for("console.setup_links_page", tenant_id=tenant.id), code=303)


@bp.post("/tenants/<int:tenant_id>/setup-links/<link_id>/revoke")
def revoke_setup_link(tenant_id: int, link_id: str) -> Response:
    """Revoke the link: its page is refused from the next request."""
    db_session = database.get_session()
    tenant = admins.get_tenant(db_session, tenant_id)
    link = setup_links.revoke(db_session, link_id, tenant)
    database.commit()
    flash(f"Setup link {link.prefix}… revoked.")
    return redirect(url_for("console.setup_links_page", tenant_id=tenant.id), code=303)


def _page(tenant: Tenant, **extra: Any) -> str:
    rows = setup_links.list_links(database.get_session(), tenant)
    return render_template("console/setup_links.html", tenant=tenant, links=[link for link, _name in rows],
                           state=setup_links.state, expiry_choices=EXPIRY_CHOICES, **extra)
