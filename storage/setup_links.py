"""Setup links: an expiring, revocable secret that opens one tenant's setup page. Stored as SHA-256 like tokens.

While a tenant has a live link, its `watch_until` is the latest expiry among them, so that its requests are recorded
for the page's live status; revoking recomputes it (NULL when none is live).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scim import spans
from scim.errors import InvalidValue, NotFound
from storage.models import SetupLink, Tenant, utcnow
from storage.tokens import hash_secret

DEFAULT_EXPIRY = timedelta(days=7)
MAX_EXPIRY = timedelta(days=30)
PREFIX_LENGTH = 8

State = Literal["live", "expired", "revoked"]


def parse_expiry(text: str | None) -> timedelta:
    """"7d", "12h" or "90m" as a duration (default 7 days, at most 30)."""
    if text is None or not text.strip():
        return DEFAULT_EXPIRY
    expiry = spans.parse(text, units="dhm")
    if not expiry:
        raise InvalidValue(f"{text!r} is not an expiry: write a number and d, h or m, e.g. 7d.")
    if expiry > MAX_EXPIRY:
        raise InvalidValue(f"A setup link expires within {MAX_EXPIRY.days} days: {text!r} is longer.")
    return expiry


def create(
    session: Session, tenant: Tenant, expires: timedelta = DEFAULT_EXPIRY, label: str | None = None
) -> tuple[SetupLink, str]:
    """Create a link for `tenant`; returns the row and the secret, which is never stored."""
    secret = secrets.token_urlsafe(32)  # 256 bits: the URL is the only credential
    link = SetupLink(id=secrets.token_hex(8), tenant_id=tenant.id, prefix=secret[:PREFIX_LENGTH],
                     secret_hash=hash_secret(secret), label=label, created_at=utcnow(),
                     expires_at=utcnow() + expires)
    session.add(link)
    session.flush()
    _watch(session, tenant.id)
    return link, secret


def state(link: SetupLink) -> State:
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= utcnow():
        return "expired"
    return "live"


def find(session: Session, secret: str) -> SetupLink | None:
    """The link of this secret, whatever its state; None for a secret no link has."""
    if not secret:
        return None
    return session.scalar(select(SetupLink).where(SetupLink.secret_hash == hash_secret(secret)))


def list_links(session: Session, tenant: Tenant | None = None) -> list[tuple[SetupLink, str]]:
    """Links with their tenant's name, newest first."""
    query = (select(SetupLink, Tenant.name).join(Tenant, Tenant.id == SetupLink.tenant_id)
             .order_by(SetupLink.created_at.desc(), SetupLink.id))
    if tenant is not None:
        query = query.where(SetupLink.tenant_id == tenant.id)
    return [(link, name) for link, name in session.execute(query)]


def get(session: Session, link_id: str, tenant: Tenant | None = None) -> SetupLink:
    """The link `link_id` (of `tenant`, when given: another tenant's link is not found)."""
    link = session.get(SetupLink, link_id)
    if link is None or (tenant is not None and link.tenant_id != tenant.id):
        raise NotFound(f"No setup link with id {link_id!r}" + (f" for tenant {tenant.name}." if tenant else "."))
    return link


def revoke(session: Session, link_id: str, tenant: Tenant | None = None) -> SetupLink:
    """Revoke a link: its page is refused from the next request."""
    link = get(session, link_id, tenant)
    if link.revoked_at is None:
        link.revoked_at = utcnow()
    session.flush()
    _watch(session, link.tenant_id)
    return link


def _watch(session: Session, tenant_id: int) -> None:
    """Set the tenant's watch_until to the latest expiry of its live links."""
    latest = session.scalar(select(func.max(SetupLink.expires_at)).where(
        SetupLink.tenant_id == tenant_id, SetupLink.revoked_at.is_(None), SetupLink.expires_at > utcnow()))
    tenant = session.get(Tenant, tenant_id)
    assert tenant is not None  # the link's foreign key
    tenant.watch_until = latest
    session.flush()
