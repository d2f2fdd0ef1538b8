"""Rows ⇄ SCIM resources: `schemas`, `id` and `meta` are derived here, in one place, for every resource type."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from scim.errors import PreconditionFailed
from scim.projection import Projection
from scim.schemas import ResourceType
from scim.versions import etag, if_match_ok


def new_id() -> str:
    """Server-assigned ids are random UUIDs: unguessable and stable (RFC 7643 §3.1)."""
    return str(uuid.uuid4())


# A server-assigned id as str(uuid.uuid4()) writes it: lower-case hex, hyphenated. One precompiled pattern checks
# it on every GET, PUT and PATCH without building a uuid.UUID.
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_id(value: str) -> bool:
    """Whether `value` can be a server-assigned id; anything else names no resource (and needs no query)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, to the microsecond stored, so `meta.lastModified gt` filters agree with it."""
    if value.utcoffset():
        value = value.astimezone(UTC)
    # isoformat, not strftime: the cheaper of the two, and every resource rendered runs it
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


class Stored(Protocol):
    """What storage keeps of any resource."""

    id: str
    doc: dict[str, Any]
    created: datetime
    last_modified: datetime
    version: int


def resource(
    resource_type: ResourceType, stored: Stored, base_url: str | None, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The wire form of a stored resource; `extra` adds server-computed attributes (a user's groups, members), and
    `meta.location` is left out without a `base_url`."""
    doc = stored.doc
    schemas = [resource_type.schema.id, *(urn for urn in resource_type.extension_urns() if urn in doc)]
    body: dict[str, Any] = {"schemas": schemas, "id": stored.id, **doc}
    if extra:
        body.update(extra)
    meta = {
        "resourceType": resource_type.name,
        "created": timestamp(stored.created),
        "lastModified": timestamp(stored.last_modified),
    }
    if base_url is not None:
        meta["location"] = f"{base_url}{resource_type.endpoint}/{stored.id}"
    meta["version"] = etag(stored.version)
    body["meta"] = meta
    return body


def snapshot_resource(resource_type: ResourceType, stored: Stored) -> dict[str, Any]:
    """The resource as an event's snapshot holds it (scim.changes.snapshot): as a GET without `attributes` returns
    it, but without `meta.location` and the server-computed `groups` or `members`."""
    body = resource(resource_type, stored, None)
    projection = Projection.parse(resource_type, None, None)
    return body if projection.keeps_all else projection.apply(body)


def render(
    projection: Projection, stored: Sequence[Stored], base_url: str, computed: str, values: Mapping[str, list[Any]]
) -> list[dict[str, Any]]:
    """Project each stored resource, adding the server-computed attribute `computed` where it has values."""
    return [
        projection.apply(resource(projection.resource_type, item, base_url,
                                  {computed: values[item.id]} if values.get(item.id) else None))
        for item in stored
    ]


def check_version(resource_type_name: str, current: Stored, if_match: str | None) -> None:
    """RFC 7644 §3.14: a stale If-Match is a 412 and nothing is written."""
    current_etag = etag(current.version)
    if not if_match_ok(if_match, current_etag):
        raise PreconditionFailed(f"{resource_type_name} {current.id} is at version {current_etag}, not {if_match}.")
