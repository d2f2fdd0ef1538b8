"""Discovery bodies (RFC 7644 §4; RFC 7643 §5-§7; RFC 9865 §4), derived from the schema data."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from scim.discovery import (
    Capabilities,
    Pagination,
    resource_type,
    resource_types_list,
    schema,
    schemas_list,
    service_provider_config,
)
from scim.errors import NotFound
from scim.schemas import (
    DEFAULT_REGISTRY,
    ENTERPRISE_USER_URN,
    GROUP_URN,
    LIST_RESPONSE_URN,
    RESOURCE_TYPE_URN,
    SCHEMA_URN,
    SERVICE_PROVIDER_CONFIG_URN,
    USER_URN,
    Schema,
)

BASE = "https://scim.example.com/scim/v2"
CAPABILITIES = Capabilities(
    patch=True,
    bulk=(False, 0, 0),
    filter=(True, 200),
    change_password=False,
    sort=True,
    etag=True,
)
CUSTOM = Schema.from_dict(
    {
        "id": "urn:example:params:scim:schemas:extension:acme:2.0:User",
        "name": "AcmeUser",
        "attributes": [{"name": "badge", "type": "string"}],
    }
)


def test_the_service_provider_config_reports_the_capabilities() -> None:
    """RFC 7643 §5: every feature object is present, with the configured values."""
    body = service_provider_config(CAPABILITIES, BASE)

    assert body["schemas"] == [SERVICE_PROVIDER_CONFIG_URN]
    assert body["patch"] == {"supported": True}
    assert body["bulk"] == {"supported": False, "maxOperations": 0, "maxPayloadSize": 0}
    assert body["filter"] == {"supported": True, "maxResults": 200}
    assert body["changePassword"] == {"supported": False}
    assert body["sort"] == {"supported": True}
    assert body["etag"] == {"supported": True}
    assert body["meta"] == {"resourceType": "ServiceProviderConfig", "location": f"{BASE}/ServiceProviderConfig"}
    assert "pagination" not in body
    assert "documentationUri" not in body


def test_the_only_authentication_scheme_is_the_oauth_bearer_token() -> None:
    [scheme] = service_provider_config(CAPABILITIES, BASE)["authenticationSchemes"]

    assert scheme["type"] == "oauthbearertoken"
    assert scheme["name"] == "OAuth Bearer Token"
    assert scheme["description"]
    assert scheme["specUri"] == "https://www.rfc-editor.org/info/rfc6750"
    assert scheme["primary"] is True


def test_the_documentation_uri_is_sent_when_configured() -> None:
    capabilities = replace(CAPABILITIES, documentation_uri="https://docs.example.com/scim")

    assert service_provider_config(capabilities, BASE)["documentationUri"] == "https://docs.example.com/scim"


@pytest.mark.parametrize(
    ("pagination", "expected"),
    [
        (Pagination(cursor=False, index=True), {"cursor": False, "index": True}),
        (
            Pagination(True, True, "index", default_page_size=100, max_page_size=1000, cursor_timeout=600),
            {
                "cursor": True,
                "index": True,
                "defaultPaginationMethod": "index",
                "defaultPageSize": 100,
                "maxPageSize": 1000,
                "cursorTimeout": 600,
            },
        ),
    ],
)
def test_the_pagination_object_follows_rfc_9865(pagination: Pagination, expected: dict) -> None:
    """RFC 9865 §4: cursor and index are required, the rest only when known."""
    capabilities = replace(CAPABILITIES, pagination=pagination)

    assert service_provider_config(capabilities, BASE)["pagination"] == expected


def test_a_trailing_slash_on_the_base_url_is_not_doubled() -> None:
    body = service_provider_config(CAPABILITIES, BASE + "/")

    assert body["meta"]["location"] == f"{BASE}/ServiceProviderConfig"


def test_resource_types_are_a_list_response_of_user_and_group() -> None:
    body = resource_types_list(DEFAULT_REGISTRY, BASE)

    assert body["schemas"] == [LIST_RESPONSE_URN]
    assert (body["totalResults"], body["itemsPerPage"], body["startIndex"]) == (2, 2, 1)
    user, group = body["Resources"]
    assert user["schemas"] == [RESOURCE_TYPE_URN]
    assert (user["id"], user["endpoint"], user["schema"]) == ("User", "/Users", USER_URN)
    assert user["schemaExtensions"] == [{"schema": ENTERPRISE_USER_URN, "required": False}]
    assert user["meta"] == {"resourceType": "ResourceType", "location": f"{BASE}/ResourceTypes/User"}
    assert (group["id"], group["endpoint"], group["schema"]) == ("Group", "/Groups", GROUP_URN)


@pytest.mark.parametrize("name", ["User", "user", "USER"])
def test_one_resource_type_is_found_by_name_in_any_case(name: str) -> None:
    body = resource_type(DEFAULT_REGISTRY, name, BASE)

    assert body["id"] == "User"
    assert body["meta"]["location"] == f"{BASE}/ResourceTypes/User"


def test_an_unknown_resource_type_is_not_found() -> None:
    with pytest.raises(NotFound):
        resource_type(DEFAULT_REGISTRY, "Device", BASE)


def test_schemas_are_a_list_response_of_every_schema_once() -> None:
    body = schemas_list(DEFAULT_REGISTRY, BASE)

    ids = [resource["id"] for resource in body["Resources"]]
    assert ids == [USER_URN, ENTERPRISE_USER_URN, GROUP_URN]
    assert (body["totalResults"], body["itemsPerPage"]) == (3, 3)
    assert all(resource["schemas"] == [SCHEMA_URN] for resource in body["Resources"])


def test_a_schema_representation_is_complete_and_located() -> None:
    """RFC 7643 §7: attributes with every characteristic; meta.location under /Schemas."""
    body = schema(DEFAULT_REGISTRY, USER_URN, BASE)

    user_name = next(attribute for attribute in body["attributes"] if attribute["name"] == "userName")
    assert user_name["uniqueness"] == "server"
    assert {"type", "multiValued", "required", "caseExact", "mutability", "returned"} <= user_name.keys()
    emails = next(attribute for attribute in body["attributes"] if attribute["name"] == "emails")
    assert [sub["name"] for sub in emails["subAttributes"]] == ["value", "display", "type", "primary"]
    assert body["meta"] == {"resourceType": "Schema", "location": f"{BASE}/Schemas/{USER_URN}"}


@pytest.mark.parametrize("common", ["id", "externalId", "meta"])
def test_schema_representations_do_not_list_the_common_attributes(common: str) -> None:
    """RFC 7643 §3.1: the common attributes belong to no schema (and §8.7.1 leaves them out)."""
    for resource in schemas_list(DEFAULT_REGISTRY, BASE)["Resources"]:
        assert common not in {attribute["name"] for attribute in resource["attributes"]}


def test_a_schema_is_found_by_urn_in_any_case() -> None:
    assert schema(DEFAULT_REGISTRY, ENTERPRISE_USER_URN.lower(), BASE)["id"] == ENTERPRISE_USER_URN


def test_an_unknown_schema_is_not_found() -> None:
    with pytest.raises(NotFound):
        schema(DEFAULT_REGISTRY, "urn:example:nothing", BASE)


def test_a_tenant_extension_appears_in_resource_types_and_schemas() -> None:
    registry = DEFAULT_REGISTRY.with_extensions([("User", CUSTOM)])

    user = resource_type(registry, "User", BASE)
    assert {"schema": CUSTOM.id, "required": False} in user["schemaExtensions"]
    assert CUSTOM.id in [resource["id"] for resource in schemas_list(registry, BASE)["Resources"]]
    assert schema(registry, CUSTOM.id, BASE)["attributes"][0]["name"] == "badge"


def test_discovery_bodies_are_plain_json() -> None:
    for body in (
        service_provider_config(CAPABILITIES, BASE),
        resource_types_list(DEFAULT_REGISTRY, BASE),
        schemas_list(DEFAULT_REGISTRY, BASE),
    ):
        assert json.loads(json.dumps(body)) == body


def test_the_authentication_scheme_of_one_response_cannot_leak_into_the_next() -> None:
    service_provider_config(CAPABILITIES, BASE)["authenticationSchemes"][0]["primary"] = False

    assert service_provider_config(CAPABILITIES, BASE)["authenticationSchemes"][0]["primary"] is True
