"""The OpenAPI 3.1 document at /openapi.json: valid, covering every route, and true of real responses."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, ValidationError
from openapi_spec_validator import validate
from werkzeug.test import TestResponse

from storage import admin_keys
from storage.db import make_sessionmaker

USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann@example.com",
        "name": {"givenName": "Ann", "familyName": "Lee"}, "emails": [{"value": "ann@example.com", "primary": True}],
        "active": True, "externalId": "00u1", "password": "s3cret-Passw0rd",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}}
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def check(document: dict[str, Any], method: str, path: str, response: TestResponse) -> None:
    """The response's status is documented for the operation, with its media type, and the body fits its schema."""
    operation = document["paths"][path][method.lower()]
    documented = operation["responses"].get(str(response.status_code)) or operation["responses"]["default"]
    if "$ref" in documented:
        documented = document["components"]["responses"][documented["$ref"].rsplit("/", 1)[1]]
    if "content" not in documented:
        assert not response.data, f"{method} {path} {response.status_code} has a body the document does not describe"
        return
    assert response.mimetype in documented["content"], (method, path, response.status_code, response.mimetype)
    schema = documented["content"][response.mimetype]["schema"]
    Draft202012Validator({**schema, "components": document["components"]}).validate(response.get_json())


def test_the_document_is_valid_openapi_3_1_and_needs_no_token(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_every_scim_and_admin_route_is_documented(app: Flask, document: dict[str, Any]) -> None:
    documented = {(method.upper(), re.sub(r"\{[^}]+\}", "x", path))
                  for path, item in document["paths"].items() for method in item if method != "parameters"}
    catch_all = {"scim.unknown", "admin_api.unknown", "scim.read_only"}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/scim/v2", "/admin/v1")) or rule.endpoint in catch_all:
            continue
        pattern = re.compile(re.sub(r"<[^>]+>", "[^/]+", rule.rule) + "$")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert any(m == method and pattern.match(p) for m, p in documented), f"{method} {rule.rule} undocumented"


def test_the_user_schema_comes_from_the_attribute_definitions(document: dict[str, Any]) -> None:
    assert document["components"]["schemas"]["UserInput"]["required"] == ["userName"]
    user = document["components"]["schemas"]["UserAttributes"]["properties"]
    assert user["emails"]["items"]["properties"]["primary"] == {"type": "boolean", "description": user["emails"][
        "items"]["properties"]["primary"]["description"]}
    assert user["password"]["writeOnly"] is True and user["id"]["readOnly"] is True
    assert "manager" in user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["properties"]


def test_the_schemas_reject_what_breaks_them(document: dict[str, Any]) -> None:
    """The checks below are not vacuous: a wrong type in a body fails its schema."""
    error = {"$ref": "#/components/schemas/Error", "components": document["components"]}
    with pytest.raises(ValidationError):
        Draft202012Validator(error).validate({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                                              "status": 404})
    user = {"$ref": "#/components/schemas/User", "components": document["components"]}
    with pytest.raises(ValidationError):
        Draft202012Validator(user).validate({"schemas": [], "id": "1", "active": "yes"})
    with pytest.raises(ValidationError):
        Draft202012Validator(user).validate({"schemas": [], "userName": "no id"})


def test_real_scim_responses_match_the_document(client: FlaskClient, auth: dict[str, str],
                                                document: dict[str, Any]) -> None:
    def run(method: str, path: str, url: str, **kwargs: Any) -> TestResponse:
        response = client.open(url, method=method, headers={**auth, **kwargs.pop("headers", {})}, **kwargs)
        check(document, method, path, response)
        return response

    created = run("POST", "/scim/v2/Users", "/scim/v2/Users", json=USER)
    assert created.status_code == 201
    user_id = created.get_json()["id"]
    user_path, user_url = "/scim/v2/Users/{id}", f"/scim/v2/Users/{user_id}"
    run("GET", user_path, user_url)
    run("GET", user_path, user_url, headers={"If-None-Match": created.headers["ETag"]})
    run("PUT", user_path, user_url, json={**USER, "displayName": "Ann Lee"})
    run("PATCH", user_path, user_url, json={"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {
        "active": False}}]})
    run("GET", "/scim/v2/Users", "/scim/v2/Users?filter=userName%20eq%20%22ann@example.com%22&attributes=userName")
    run("GET", "/scim/v2/Users", "/scim/v2/Users?cursor=&count=1")
    run("POST", "/scim/v2/Users/.search", "/scim/v2/Users/.search", json={"filter": "active eq false"})

    group = run("POST", "/scim/v2/Groups", "/scim/v2/Groups",
                json={"displayName": "Staff", "members": [{"value": user_id}]}).get_json()
    group_path, group_url = "/scim/v2/Groups/{id}", f"/scim/v2/Groups/{group['id']}"
    run("GET", group_path, group_url)
    patched = run("PATCH", group_path, group_url, json={"schemas": [PATCH_OP], "Operations": [
        {"op": "remove", "path": f'members[value eq "{user_id}"]'}]})
    assert patched.status_code == 204
    run("PATCH", group_path, f"{group_url}?attributes=displayName", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "displayName", "value": "Everyone"}]})
    run("GET", "/scim/v2/Groups", "/scim/v2/Groups")
    run("POST", "/scim/v2/.search", "/scim/v2/.search", json={"count": 5})
    bulk = run("POST", "/scim/v2/Bulk", "/scim/v2/Bulk", json={"Operations": [
        {"method": "POST", "bulkId": "b1", "path": "/Users", "data": {"userName": "bob@example.com"}},
        {"method": "DELETE", "path": "/Users/nope"}]}).get_json()
    assert [operation["status"] for operation in bulk["Operations"]] == ["201", "404"]

    for path in ("/scim/v2/ServiceProviderConfig", "/scim/v2/ResourceTypes", "/scim/v2/Schemas"):
        run("GET", path, path)
    run("GET", "/scim/v2/ResourceTypes/{name}", "/scim/v2/ResourceTypes/User")
    run("GET", "/scim/v2/Schemas/{urn}", "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group")

    assert run("GET", user_path, "/scim/v2/Users/nope").status_code == 404
    assert run("GET", "/scim/v2/Users", "/scim/v2/Users?filter=userName%20zz%201").status_code == 400
    assert run("POST", "/scim/v2/Users", "/scim/v2/Users", json={"userName": "ann@example.com"}).status_code == 409
    assert run("GET", "/scim/v2/Users", "/scim/v2/Users", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert run("DELETE", group_path, group_url).status_code == 204
    assert run("DELETE", user_path, user_url, headers={"If-Match": 'W/"0"'}).status_code == 412


def test_the_admin_feed_and_health_match_the_document(app: Flask, client: FlaskClient, auth: dict[str, str],
                                                      document: dict[str, Any]) -> None:
    client.post("/scim/v2/Users", json=USER, headers=auth)
    client.get("/scim/v2/Users/missing", headers=auth)  # a rejected request: an event too
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        key = admin_keys.issue(session, "tests")[1]
    admin = {"Authorization": f"Bearer {key}"}
    feed = client.get("/admin/v1/events?limit=5", headers=admin)
    assert len(feed.get_json()["events"]) == 2
    check(document, "GET", "/admin/v1/events", feed)
    check(document, "GET", "/admin/v1/tenants/{name}/events", client.get("/admin/v1/tenants/acme/events",
                                                                          headers=admin))
    check(document, "GET", "/admin/v1/tenants/{name}/events", client.get("/admin/v1/tenants/nope/events",
                                                                          headers=admin))
    check(document, "GET", "/admin/v1/events", client.get("/admin/v1/events?limit=0", headers=admin))
    check(document, "GET", "/admin/v1/events", client.get("/admin/v1/events", headers=auth))
    check(document, "GET", "/healthz", client.get("/healthz"))
    check(document, "GET", "/readyz", client.get("/readyz"))
