"""A tenant's own extension schemas over HTTP (RFC 7643 §3.3, §7): stored, filtered, patched, projected, discovered,
for that tenant only, and picked up by every worker on the next request (docs/extensions.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from storage import tenant_schemas, tenants
from storage.db import make_sessionmaker
from storage.models import User
from tests.api.test_foundation import assert_scim_error
from tests.conftest import make_token

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ACME = "urn:example:scim:schemas:acme:2.0:User"
ACME_GROUP = "urn:example:scim:schemas:acme:2.0:Group"

ACME_SCHEMA: dict[str, Any] = {
    "id": ACME,
    "name": "AcmeUser",
    "description": "Acme's own user attributes",
    "attributes": [
        {"name": "site", "type": "string", "description": "Office site code"},
        {"name": "teamCodes", "type": "string", "multiValued": True},
        {"name": "badge", "type": "complex", "subAttributes": [
            {"name": "number", "type": "integer"},
            {"name": "issued", "type": "dateTime"},
        ]},
    ],
}
ACME_GROUP_SCHEMA: dict[str, Any] = {
    "id": ACME_GROUP,
    "name": "AcmeGroup",
    "attributes": [{"name": "teamCode", "type": "string", "caseExact": True}],
}
ANN = {
    "schemas": [USER_URN, ACME],
    "userName": "ann@acme.example",
    ACME: {"site": "PAR", "teamCodes": ["red", "blue"], "badge": {"number": 42, "issued": "2024-05-01T08:00:00Z"}},
}


def add_schema(app: Flask, tenant_name: str, resource_type: str, definition: dict[str, Any]) -> None:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        tenant_schemas.add(session, tenants.get_by_name(session, tenant_name).id, resource_type, definition)


def remove_schema(app: Flask, tenant_name: str, urn: str, *, purge: bool = False) -> None:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        tenant_schemas.remove(session, tenants.get_by_name(session, tenant_name).id, urn, purge=purge)


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}


@pytest.fixture
def acme(app: Flask) -> dict[str, str]:
    """Headers for tenant "acme", which has the ACME extension on User and ACME_GROUP on Group."""
    token = make_token(app, "acme")
    add_schema(app, "acme", "User", ACME_SCHEMA)
    add_schema(app, "acme", "Group", ACME_GROUP_SCHEMA)
    return headers(token)


@pytest.fixture
def globex(app: Flask) -> dict[str, str]:
    """Headers for tenant "globex", which has no extension schema of its own."""
    return headers(make_token(app, "globex"))


def create_ann(client: FlaskClient, auth: dict[str, str]) -> dict[str, Any]:
    response = client.post("/scim/v2/Users", headers=auth, json=ANN)
    assert response.status_code == 201, response.get_json()
    return response.get_json(force=True)


def stored_doc(app: Flask, user_id: str) -> dict[str, Any]:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        return session.scalar(select(User.doc).where(User.id == user_id))


def patch(client: FlaskClient, auth: dict[str, str], path: str, *operations: dict[str, Any], **kwargs: Any):
    return client.patch(path, headers=auth, json={"schemas": [PATCH_URN], "Operations": list(operations)}, **kwargs)


def test_a_tenant_with_an_extension_stores_it_under_its_urn_and_reads_it_back_exactly(
    app: Flask, client: FlaskClient, acme: dict[str, str]
) -> None:
    """Per RFC 7643 §3.3, extension attributes sit under the schema URN, like the enterprise extension."""
    created = create_ann(client, acme)
    assert created[ACME] == ANN[ACME]
    assert stored_doc(app, created["id"])[ACME] == ANN[ACME]
    assert client.get(f"/scim/v2/Users/{created['id']}", headers=acme).get_json(force=True)[ACME] == ANN[ACME]


def test_schemas_lists_the_tenants_extension_urn(client: FlaskClient, acme: dict[str, str]) -> None:
    """Per RFC 7643 §3, `schemas` names every schema whose attributes the resource carries."""
    assert create_ann(client, acme)["schemas"] == [USER_URN, ACME]


def test_urn_qualified_keys_are_accepted_too(client: FlaskClient, acme: dict[str, str]) -> None:
    """RFC 7644 §3.10: `urn:…:User:site` in a body names the extension's `site`."""
    response = client.post("/scim/v2/Users", headers=acme, json={"userName": "bo", f"{ACME}:site": "LON"})
    assert response.status_code == 201
    assert response.get_json(force=True)[ACME] == {"site": "LON"}


def test_extension_values_are_validated_against_the_definition(client: FlaskClient, acme: dict[str, str]) -> None:
    response = client.post("/scim/v2/Users", headers=acme, json={**ANN, ACME: {"badge": {"number": "seven"}}})
    body = assert_scim_error(response, 400, "invalidValue")
    assert f"{ACME}:badge.number" in body["detail"]


@pytest.mark.parametrize("expression", [f'{ACME}:site eq "PAR"', f'{ACME}:site eq "par"', 'site eq "PAR"',
                                        f'{ACME}:teamCodes eq "blue"', f"{ACME}:badge.number gt 40",
                                        f'{ACME}:site pr and userName sw "ann"'])
def test_users_are_filtered_on_extension_attributes(
    client: FlaskClient, acme: dict[str, str], expression: str
) -> None:
    """RFC 7644 §3.4.2.2 filters reach extension attributes, URN-qualified or not (RFC 7644 §3.10)."""
    ann = create_ann(client, acme)
    client.post("/scim/v2/Users", headers=acme, json={"userName": "bo", ACME: {"site": "LON"}})
    response = client.get("/scim/v2/Users", headers=acme, query_string={"filter": expression})
    assert response.status_code == 200, response.get_json()
    assert [user["id"] for user in response.get_json(force=True)["Resources"]] == [ann["id"]]


def test_groups_are_filtered_on_extension_attributes(client: FlaskClient, acme: dict[str, str]) -> None:
    team = client.post("/scim/v2/Groups", headers=acme, json={"displayName": "Red", ACME_GROUP: {"teamCode": "T-1"}})
    client.post("/scim/v2/Groups", headers=acme, json={"displayName": "Blue", ACME_GROUP: {"teamCode": "t-1"}})
    response = client.get("/scim/v2/Groups", headers=acme, query_string={"filter": f'{ACME_GROUP}:teamCode eq "T-1"'})
    assert [group["id"] for group in response.get_json(force=True)["Resources"]] == [team.get_json()["id"]]


def test_patch_replaces_adds_and_removes_extension_attributes(client: FlaskClient, acme: dict[str, str]) -> None:
    """RFC 7644 §3.5.2 paths `urn:…:attr` and `urn:…:attr.sub`, and value objects keyed by the URN or by
    `urn:…:attr` (Entra's no-path form)."""
    url = f"/scim/v2/Users/{create_ann(client, acme)['id']}"
    response = patch(
        client, acme, url,
        {"op": "replace", "path": f"{ACME}:site", "value": "LON"},
        {"op": "add", "path": f"{ACME}:teamCodes", "value": ["green"]},
        {"op": "remove", "path": f"{ACME}:badge.issued"},
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json(force=True)[ACME] == {"site": "LON", "teamCodes": ["red", "blue", "green"],
                                                   "badge": {"number": 42}}
    response = patch(client, acme, url, {"op": "replace", "value": {f"{ACME}:site": "NYC"}},
                     {"op": "add", "value": {ACME: {"badge": {"number": 7}}}})
    assert response.get_json(force=True)[ACME] == {"site": "NYC", "teamCodes": ["red", "blue", "green"],
                                                   "badge": {"number": 7}}
    response = patch(client, acme, url,
                     *({"op": "remove", "path": f"{ACME}:{name}"} for name in ("site", "teamCodes", "badge")))
    assert response.status_code == 200, response.get_json()
    assert ACME not in response.get_json(force=True)


def test_patch_of_a_group_extension_attribute(client: FlaskClient, acme: dict[str, str]) -> None:
    group = client.post("/scim/v2/Groups", headers=acme, json={"displayName": "Red"}).get_json(force=True)
    response = patch(client, acme, f"/scim/v2/Groups/{group['id']}",
                     {"op": "add", "path": f"{ACME_GROUP}:teamCode", "value": "T-9"})
    assert response.status_code == 204
    fetched = client.get(f"/scim/v2/Groups/{group['id']}", headers=acme).get_json(force=True)
    assert fetched[ACME_GROUP] == {"teamCode": "T-9"}


def test_extension_attributes_are_projectable(client: FlaskClient, acme: dict[str, str]) -> None:
    """RFC 7644 §3.9: `attributes` and `excludedAttributes` name extension attributes by their full path."""
    ann = create_ann(client, acme)
    url = f"/scim/v2/Users/{ann['id']}"
    only_site = client.get(url, headers=acme, query_string={"attributes": f"{ACME}:site"}).get_json(force=True)
    assert only_site[ACME] == {"site": "PAR"} and "userName" not in only_site
    no_badge = client.get(url, headers=acme, query_string={"excludedAttributes": f"{ACME}:badge"}).get_json(force=True)
    assert no_badge[ACME] == {"site": "PAR", "teamCodes": ["red", "blue"]}
    without = client.get(url, headers=acme, query_string={"excludedAttributes": ACME}).get_json(force=True)
    assert ACME not in without and without["userName"] == ANN["userName"]


def test_discovery_shows_a_tenants_extensions_to_that_tenant_only(
    client: FlaskClient, acme: dict[str, str], globex: dict[str, str]
) -> None:
    """RFC 7644 §4: /Schemas and /ResourceTypes describe what this client's tenant can use."""
    def urns(auth: dict[str, str]) -> list[str]:
        return [schema["id"] for schema in client.get("/scim/v2/Schemas", headers=auth).get_json()["Resources"]]

    def extensions(auth: dict[str, str], name: str) -> list[str]:
        body = client.get(f"/scim/v2/ResourceTypes/{name}", headers=auth).get_json()
        return [extension["schema"] for extension in body["schemaExtensions"]]

    assert ACME in urns(acme) and ACME_GROUP in urns(acme)
    assert ACME not in urns(globex) and ACME_GROUP not in urns(globex)
    assert extensions(acme, "User")[-1] == ACME and extensions(acme, "Group") == [ACME_GROUP]
    assert ACME not in extensions(globex, "User") and extensions(globex, "Group") == []
    schema = client.get(f"/scim/v2/Schemas/{ACME}", headers=acme).get_json(force=True)
    assert [attribute["name"] for attribute in schema["attributes"]] == ["site", "teamCodes", "badge"]
    assert schema["attributes"][0]["mutability"] == "readWrite" and schema["attributes"][0]["caseExact"] is False
    assert_scim_error(client.get(f"/scim/v2/Schemas/{ACME}", headers=globex), 404)


def test_another_tenant_can_neither_store_filter_nor_patch_the_extension(
    app: Flask, client: FlaskClient, acme: dict[str, str], globex: dict[str, str]
) -> None:
    """For another tenant the URN is unknown: its values are ignored (RFC 7644 §3.3), paths to it are errors."""
    response = client.post("/scim/v2/Users", headers=globex, json=ANN)
    assert response.status_code == 201
    created = response.get_json(force=True)
    assert ACME not in created and ACME not in stored_doc(app, created["id"])
    response = client.get("/scim/v2/Users", headers=globex, query_string={"filter": f'{ACME}:site eq "PAR"'})
    assert_scim_error(response, 400, "invalidFilter")
    response = patch(client, globex, f"/scim/v2/Users/{created['id']}",
                     {"op": "replace", "path": f"{ACME}:site", "value": "LON"})
    assert_scim_error(response, 400, "invalidPath")


def test_a_purged_schema_takes_its_values_and_bumps_the_version(
    app: Flask, client: FlaskClient, acme: dict[str, str]
) -> None:
    """Removing a schema with --purge deletes the values, and the resource's ETag changes (RFC 7644 §3.14)."""
    ann = create_ann(client, acme)
    remove_schema(app, "acme", ACME, purge=True)
    response = client.get(f"/scim/v2/Users/{ann['id']}", headers=acme)
    assert ACME not in response.get_json(force=True) and ACME not in stored_doc(app, ann["id"])
    assert response.headers["ETag"] != ann["meta"]["version"]
    assert response.get_json(force=True)["meta"]["lastModified"] > ann["meta"]["lastModified"]


@pytest.fixture
def second_worker(app: Flask) -> Iterator[Flask]:
    """Another app on the same database, as another gunicorn worker: its own process-level caches."""
    other = create_app({"DATABASE_URL": app.config["DATABASE_URL"], "TESTING": True})
    yield other
    other.extensions["scim.engine"].dispose()


def test_schema_changes_take_effect_on_the_next_request_in_every_worker(
    app: Flask, second_worker: Flask, acme: dict[str, str]
) -> None:
    """Both workers have the tenant's registry cached; a change made through one is seen by the other at once."""
    workers = [app.test_client(), second_worker.test_client()]
    for worker in workers:
        assert worker.get(f"/scim/v2/Schemas/{ACME}", headers=acme).status_code == 200
    site = {"id": "urn:example:scim:schemas:acme:2.0:Site", "attributes": [{"name": "floor", "type": "integer"}]}
    add_schema(second_worker, "acme", "User", site)
    body = {"userName": "cy", site["id"]: {"floor": 3}}
    created = workers[0].post("/scim/v2/Users", headers=acme, json=body).get_json(force=True)
    assert created[site["id"]] == {"floor": 3}
    remove_schema(second_worker, "acme", site["id"], purge=True)
    fetched = workers[0].get(f"/scim/v2/Users/{created['id']}", headers=acme).get_json(force=True)
    assert site["id"] not in fetched
    assert_scim_error(workers[0].get(f"/scim/v2/Schemas/{site['id']}", headers=acme), 404)
