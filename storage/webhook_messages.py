"""A webhook message's body (Standard Webhooks): `{"type": kind, "timestamp": …, "data": {…}}`, where `data` holds the
event as the change feed shows it plus the resource as of that event (`resource`, `version`) and, for a membership
event, the complete member ids (`members`). The body depends on the event alone, so every attempt sends the same
bytes under the same webhook-id (the event's id)."""

from __future__ import annotations

from typing import Any

from scim.encoding import dumps
from scim.schemas import DEFAULT_REGISTRY
from storage import events, webhooks
from storage.documents import timestamp
from storage.outbox import Claimed


def body(claimed: Claimed, scim_base_url: str | None) -> bytes:
    """The message of a claimed delivery; `scim_base_url` (…/scim/v2) adds the resource's `meta.location`."""
    event = claimed.event
    if claimed.data is not None:  # a hold: its summary, as storage.guard made it
        return dumps({"type": webhooks.HELD, "timestamp": timestamp(event.occurred_at),
                      "data": claimed.data}).encode()
    data = events.to_dict(event, claimed.tenant)
    snapshot = event.snapshot or {}
    if "version" in snapshot:
        data["version"] = snapshot["version"]
    if "resource" in snapshot:
        data["resource"] = _located(snapshot["resource"], event.resource_type, scim_base_url)
    if "members" in snapshot:
        data["members"] = snapshot["members"]
    return dumps({"type": event.kind, "timestamp": data["time"], "data": data}).encode()


def _located(resource: dict[str, Any] | None, resource_type: str | None, base: str | None) -> dict[str, Any] | None:
    kind = DEFAULT_REGISTRY.by_name(resource_type or "")
    if resource is None or base is None or kind is None or "id" not in resource:
        return resource
    meta = {**resource.get("meta", {}), "location": f"{base.rstrip('/')}{kind.endpoint}/{resource['id']}"}
    return {**resource, "meta": meta}
