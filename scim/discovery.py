"""Discovery bodies (RFC 7644 §4; RFC 7643 §5, §6, §7): generated from `scim.schemas` and the configured capabilities.

Schema representations list only the attributes the schema defines: the common attributes `id`, `externalId` and
`meta` are part of every resource and belong to no schema (RFC 7643 §3.1), and the RFC's own User and Group
representations (§8.7.1) leave them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from scim.errors import NotFound
from scim.schemas import SERVICE_PROVIDER_CONFIG_URN, Registry
from scim.search import list_response

OAUTH_BEARER_TOKEN: dict[str, Any] = {
    "type": "oauthbearertoken",
    "name": "OAuth Bearer Token",
    "description": "Authentication with a bearer token in the Authorization header.",
    "specUri": "https://www.rfc-editor.org/info/rfc6750",
    "primary": True,
}


@dataclass(frozen=True)
class Pagination:
    """The `pagination` object of RFC 9865 §4; optional values left None are not advertised."""

    cursor: bool
    index: bool
    default_method: Literal["index", "cursor"] | None = None
    default_page_size: int | None = None
    max_page_size: int | None = None
    cursor_timeout: int | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"cursor": self.cursor, "index": self.index}
        optional = {
            "defaultPaginationMethod": self.default_method,
            "defaultPageSize": self.default_page_size,
            "maxPageSize": self.max_page_size,
            "cursorTimeout": self.cursor_timeout,
        }
        body.update((name, value) for name, value in optional.items() if value is not None)
        return body


@dataclass(frozen=True)
class Capabilities:
    """What the server supports, as configured by the app (RFC 7643 §5).

    `bulk` is (supported, maxOperations, maxPayloadSize); `filter` is (supported, maxResults).
    """

    patch: bool
    bulk: tuple[bool, int, int]
    filter: tuple[bool, int]
    change_password: bool
    sort: bool
    etag: bool
    pagination: Pagination | None = None
    documentation_uri: str | None = None


def service_provider_config(capabilities: Capabilities, base_url: str) -> dict[str, Any]:
    """Build the `/ServiceProviderConfig` body (RFC 7643 §5; `pagination` per RFC 9865 §4)."""
    bulk_supported, max_operations, max_payload_size = capabilities.bulk
    filter_supported, max_results = capabilities.filter
    body: dict[str, Any] = {"schemas": [SERVICE_PROVIDER_CONFIG_URN]}
    if capabilities.documentation_uri:
        body["documentationUri"] = capabilities.documentation_uri
    body |= {
        "patch": {"supported": capabilities.patch},
        "bulk": {"supported": bulk_supported, "maxOperations": max_operations, "maxPayloadSize": max_payload_size},
        "filter": {"supported": filter_supported, "maxResults": max_results},
        "changePassword": {"supported": capabilities.change_password},
        "sort": {"supported": capabilities.sort},
        "etag": {"supported": capabilities.etag},
    }
    if capabilities.pagination is not None:
        body["pagination"] = capabilities.pagination.to_dict()
    body["authenticationSchemes"] = [dict(OAUTH_BEARER_TOKEN)]
    body["meta"] = {"resourceType": "ServiceProviderConfig", "location": f"{_base(base_url)}/ServiceProviderConfig"}
    return body


def resource_types_list(registry: Registry, base_url: str) -> dict[str, Any]:
    """Build the `/ResourceTypes` ListResponse (RFC 7644 §4, RFC 7643 §6)."""
    resources = [rt.to_dict(_resource_type_location(base_url, rt.name)) for rt in registry.resource_types]
    return list_response(resources, len(resources), 1)


def resource_type(registry: Registry, name: str, base_url: str) -> dict[str, Any]:
    """Build `/ResourceTypes/{name}` (name matched case-insensitively); NotFound when there is no such type."""
    found = registry.by_name(name)
    if found is None:
        raise NotFound(f"There is no resource type {name!r}.")
    return found.to_dict(_resource_type_location(base_url, found.name))


def schemas_list(registry: Registry, base_url: str) -> dict[str, Any]:
    """Build the `/Schemas` ListResponse of full schema representations (RFC 7644 §4, RFC 7643 §7)."""
    resources = [schema.to_dict(_schema_location(base_url, schema.id)) for schema in registry.schemas()]
    return list_response(resources, len(resources), 1)


def schema(registry: Registry, urn: str, base_url: str) -> dict[str, Any]:
    """Build `/Schemas/{urn}` (URN matched case-insensitively); NotFound when the registry has no such schema."""
    found = registry.schema(urn)
    if found is None:
        raise NotFound(f"There is no schema {urn!r}.")
    return found.to_dict(_schema_location(base_url, found.id))


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def _resource_type_location(base_url: str, name: str) -> str:
    return f"{_base(base_url)}/ResourceTypes/{quote(name, safe='')}"


def _schema_location(base_url: str, urn: str) -> str:
    # URNs are valid path segments (":" is allowed in a segment, RFC 3986 §3.3), so they are not escaped.
    return f"{_base(base_url)}/Schemas/{quote(urn, safe=':')}"
