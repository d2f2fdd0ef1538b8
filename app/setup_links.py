"""What the CLI, the admin API and the console share about setup links: the link's URL and its listing."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from storage import setup_links
from storage.models import SetupLink

SETUP_PATH = "/setup/"
LABEL_MAX = 200  # the column's length


def url(base: str, secret: str) -> str:
    """The link: `<public base>/setup/<secret>`."""
    return base.rstrip("/") + SETUP_PATH + secret


def request_base() -> str:
    """The public base URL as a request sees it: SCIM_PUBLIC_BASE_URL, else the host the request came to."""
    return current_app.config.get("PUBLIC_BASE_URL") or request.host_url


def to_dict(link: SetupLink, tenant_name: str) -> dict[str, Any]:
    """A link as the admin API lists it (never its secret, which only the answer creating it holds)."""
    return {"id": link.id, "tenant": tenant_name, "prefix": link.prefix, "label": link.label,
            "created_at": link.created_at.isoformat(), "expires_at": link.expires_at.isoformat(),
            "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None,
            "state": setup_links.state(link)}
