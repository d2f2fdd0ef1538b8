"""A tenant's webhook endpoints: added (URL checked, signing secret issued), listed, removed, replayed from an event,
and their recent deliveries. What goes out to them, and when, is storage.outbox's."""

from __future__ import annotations

import base64
import fnmatch
import ipaddress
import secrets
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from scim.changes import GUARD_KINDS, KINDS, REQUEST_REJECTED, TENANT_HELD
from scim.errors import InvalidValue, NotFound
from storage.models import Event, Tenant, WebhookDelivery, WebhookEndpoint

HELD = TENANT_HELD  # the message of a mass-deprovisioning hold (storage.guard), sent to every endpoint
# What a webhook carries: the feed's changes; a rejected request changes nothing and is not sent, and the guard's
# own events are not changes (a hold is its one `tenant.held` message).
DELIVERED_KINDS = tuple(kind for kind in KINDS if kind != REQUEST_REJECTED and kind not in GUARD_KINDS)
_SECRET_BYTES = 24


def check_url(url: str) -> None:
    """An endpoint is HTTPS; plain HTTP only to this machine (a receiver under test or beside the server)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidValue(f"The webhook URL {url!r} is not an absolute http(s) URL.")
    if parts.username or parts.password:
        raise InvalidValue("A webhook URL carries no credentials: the signature authenticates each message.")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise InvalidValue(f"The webhook URL {url!r} must use https (plain http is allowed only to loopback).")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_kinds(kinds: str | None) -> str | None:
    """A comma-separated list of kind patterns (`user.*`, `group.members_*`), each matching some kind; None: all."""
    if kinds is None or not kinds.strip():
        return None
    patterns = [pattern.strip() for pattern in kinds.split(",") if pattern.strip()]
    for pattern in patterns:
        if not fnmatch.filter(DELIVERED_KINDS, pattern):
            raise InvalidValue(f"The kind pattern {pattern!r} matches no event kind ({', '.join(DELIVERED_KINDS)}).")
    return ",".join(patterns)


def wants(endpoint_kinds: str | None, kind: str) -> bool:
    """Whether an endpoint with this kinds filter is sent events of `kind` (a hold goes to every endpoint)."""
    if endpoint_kinds is None or kind == HELD:
        return True
    return any(fnmatch.fnmatchcase(kind, pattern) for pattern in endpoint_kinds.split(","))


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and the base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def add(session: Session, tenant: Tenant, url: str, kinds: str | None = None) -> WebhookEndpoint:
    """A new endpoint of `tenant`, sent the events committed from now on."""
    check_url(url)
    newest = session.scalar(select(func.coalesce(func.max(Event.id), 0)).where(Event.tenant_id == tenant.id))
    endpoint = WebhookEndpoint(tenant_id=tenant.id, url=url, secret=new_secret(), kinds=parse_kinds(kinds),
                               cursor=newest or 0)
    session.add(endpoint)
    session.flush()
    return endpoint


def get(session: Session, endpoint_id: int, tenant: Tenant | None = None) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or (tenant is not None and endpoint.tenant_id != tenant.id):
        raise NotFound(f"No webhook {endpoint_id}.")
    return endpoint


def list_endpoints(session: Session, tenant: Tenant | None = None) -> list[tuple[WebhookEndpoint, str]]:
    """Endpoints with their tenant's name, oldest first."""
    query = select(WebhookEndpoint, Tenant.name).join(Tenant, Tenant.id == WebhookEndpoint.tenant_id)
    if tenant is not None:
        query = query.where(WebhookEndpoint.tenant_id == tenant.id)
    return [(row[0], row[1]) for row in session.execute(query.order_by(WebhookEndpoint.id))]


def remove(session: Session, endpoint_id: int, tenant: Tenant | None = None) -> None:
    """Delete the endpoint and its deliveries."""
    endpoint = get(session, endpoint_id, tenant)
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    session.delete(endpoint)


def replay(session: Session, endpoint_id: int, from_event: int, tenant: Tenant | None = None) -> WebhookEndpoint:
    """Send again every event of the endpoint's tenant from `from_event` on (the same messages, the same
    webhook-ids), and enable the endpoint if it was disabled."""
    endpoint = get(session, endpoint_id, tenant)
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id,
                                                  WebhookDelivery.event_id >= from_event))
    session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id)
                    .values(cursor=from_event - 1, disabled_at=None, disabled_reason=None))
    session.refresh(endpoint)
    return endpoint


def deliveries(session: Session, endpoint_id: int, limit: int) -> list[tuple[WebhookDelivery, str]]:
    """The endpoint's newest deliveries with their event's kind, newest first."""
    query = (select(WebhookDelivery, Event.kind).join(Event, Event.id == WebhookDelivery.event_id)
             .where(WebhookDelivery.endpoint_id == endpoint_id).order_by(WebhookDelivery.event_id.desc()).limit(limit))
    return [(row[0], row[1]) for row in session.execute(query)]


def status(endpoint: WebhookEndpoint) -> str:
    """"active", or "disabled" with its time and reason."""
    if endpoint.disabled_at is None:
        return "active"
    return f"disabled {_minutes(endpoint.disabled_at)}: {endpoint.disabled_reason}"


def _minutes(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M}"
