"""Setup-link helpers: a link made as the CLI and the admin API make it, and one moved past its expiry; the console's
browser and live server for the browser tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import update

from storage import setup_links, tenants
from storage.db import make_sessionmaker
from storage.models import SetupLink, Tenant, utcnow
from tests.console.test_browser import browser, server  # noqa: F401 (the browser tests' fixtures)


def make_link(app: Flask, tenant_name: str, expires: timedelta = setup_links.DEFAULT_EXPIRY) -> tuple[str, str]:
    """Create `tenant_name` if needed and a setup link for it; returns (link id, secret)."""
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        tenant = tenants.find_by_name(session, tenant_name) or tenants.create(session, tenant_name)
        link, secret = setup_links.create(session, tenant, expires)
        return link.id, secret


def expire(app: Flask, link_id: str) -> None:
    """Move the link's expiry into the past, as time passing would."""
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        session.execute(update(SetupLink).where(SetupLink.id == link_id)
                        .values(expires_at=utcnow() - timedelta(seconds=1)))


def end(app: Flask, link_id: str, how: str) -> None:
    """End a link: "expired" (its expiry passes) or "revoked"."""
    if how == "expired":
        expire(app, link_id)
    else:
        with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
            setup_links.revoke(session, link_id)


def watch_until(app: Flask, tenant_name: str) -> datetime | None:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        tenant = tenants.get_by_name(session, tenant_name)
        return session.get(Tenant, tenant.id).watch_until
