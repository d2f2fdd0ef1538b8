"""Answers in HTTP's own terms: 405 with Allow for a method a known endpoint does not serve, no Content-Type without
a body, and change-feed cursors past the id range refused as 400."""

from __future__ import annotations

import base64

import pytest
from flask import Flask
from flask.testing import FlaskClient

from scim.schemas import GROUP_URN, PATCH_OP_URN, USER_URN
from storage import admin_keys
from storage.db import make_sessionmaker
from tests.api.test_foundation import assert_scim_error


def _user(client: FlaskClient, auth: dict) -> dict:
    response = client.post("/scim/v2/Users", headers=auth, json={"schemas": [USER_URN], "userName": "ann@example.com"})
    assert response.status_code == 201
    return response.get_json()


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("DELETE", "/scim/v2/Users", "GET, POST"),
    ("PUT", "/scim/v2/Groups", "GET, POST"),
    ("PATCH", "/scim/v2/Users", "GET, POST"),
    ("PUT", "/scim/v2/.search", "POST"),
])
def test_a_method_a_known_endpoint_does_not_serve_is_a_405_with_allow(
    client: FlaskClient, auth: dict, method: str, path: str, allow: str
) -> None:
    response = client.open(path, method=method, headers=auth)
    assert_scim_error(response, 405)
    assert response.headers["Allow"] == allow


def test_a_post_to_a_resource_is_a_405_naming_its_methods(client: FlaskClient, auth: dict) -> None:
    user = _user(client, auth)
    response = client.post(f"/scim/v2/Users/{user['id']}", headers=auth, json={})
    assert_scim_error(response, 405)
    assert response.headers["Allow"] == "GET, PUT, PATCH, DELETE"


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", "/scim/v2/Widgets"),  # no such resource type for the tenant
    ("POST", "/scim/v2/Widgets/1"),
    ("GET", "/scim/v2/Users/1/2"),
    ("DELETE", "/scim/v2/"),
])
def test_unknown_endpoints_stay_404s(client: FlaskClient, auth: dict, method: str, path: str) -> None:
    assert_scim_error(client.open(path, method=method, headers=auth), 404)


def test_a_wrong_method_without_a_token_is_a_401_first(client: FlaskClient) -> None:
    assert_scim_error(client.delete("/scim/v2/Users"), 401)


def test_answers_without_a_body_have_no_content_type(client: FlaskClient, auth: dict) -> None:
    user = _user(client, auth)
    path = f"/scim/v2/Users/{user['id']}"
    unchanged = client.get(path, headers={**auth, "If-None-Match": client.get(path, headers=auth).headers["ETag"]})
    assert unchanged.status_code == 304
    assert "Content-Type" not in unchanged.headers and unchanged.data == b""
    group = client.post("/scim/v2/Groups", headers=auth, json={"schemas": [GROUP_URN], "displayName": "Staff"})
    patched = client.patch(f"/scim/v2/Groups/{group.get_json()['id']}", headers=auth, json={
        "schemas": [PATCH_OP_URN], "Operations": [{"op": "add", "path": "members", "value": [{"value": user["id"]}]}]})
    assert patched.status_code == 204
    assert "Content-Type" not in patched.headers and patched.data == b""
    deleted = client.delete(path, headers=auth)
    assert deleted.status_code == 204
    assert "Content-Type" not in deleted.headers and deleted.data == b""


def _cursor(event_id: int) -> str:
    return base64.urlsafe_b64encode(event_id.to_bytes(8, "big")).decode("ascii").rstrip("=")


def test_a_feed_cursor_past_the_id_range_is_a_400(app: Flask, client: FlaskClient) -> None:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        admin = {"Authorization": f"Bearer {admin_keys.issue(session, 'tests')[1]}"}
    for event_id in (2**63, 2**64 - 1):
        response = client.get("/admin/v1/events", headers=admin, query_string={"after": _cursor(event_id)})
        assert_scim_error(response, 400, "invalidValue")
    last = client.get("/admin/v1/events", headers=admin, query_string={"after": _cursor(2**63 - 1)})
    assert last.status_code == 200 and last.get_json()["events"] == []
