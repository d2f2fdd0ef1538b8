"""POST /Bulk (RFC 7644 §3.7): bulkId references, per-operation atomicity, failOnErrors and the limits."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import create_app
from storage.db import make_sessionmaker
from storage.models import Group, GroupMember, User
from tests.api.test_foundation import ERROR_URN, assert_scim_error

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MAX_OPERATIONS = 5
MAX_PAYLOAD = 8192


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    """The app with small bulk limits, so that exceeding them is cheap."""
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "BULK_MAX_OPERATIONS": MAX_OPERATIONS,
                      "MAX_CONTENT_LENGTH": MAX_PAYLOAD})
    yield app
    app.extensions["scim.engine"].dispose()


def post_user(bulk_id: str, user_name: str, **extra) -> dict:
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id,
            "data": {"schemas": [USER_URN], "userName": user_name, **extra}}


def post_group(bulk_id: str, name: str, *member_refs: str) -> dict:
    return {"method": "POST", "path": "/Groups", "bulkId": bulk_id,
            "data": {"schemas": [GROUP_URN], "displayName": name,
                     "members": [{"type": "User", "value": ref} for ref in member_refs]}}


def patch_op(path: str, *operations: dict, **extra) -> dict:
    return {"method": "PATCH", "path": path, "data": {"schemas": [PATCH_URN], "Operations": list(operations)}, **extra}


def send(client: FlaskClient, auth: dict, *operations: dict, **extra):
    return client.post("/scim/v2/Bulk", headers=auth,
                       json={"schemas": [BULK_REQUEST], "Operations": list(operations), **extra})


def run(client: FlaskClient, auth: dict, *operations: dict, **extra) -> list[dict]:
    response = send(client, auth, *operations, **extra)
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["schemas"] == [BULK_RESPONSE]
    return body["Operations"]


def count(app: Flask, model: type) -> int:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        return session.scalar(select(func.count()).select_from(model))


def resource_id(result: dict) -> str:
    return result["location"].rsplit("/", 1)[1]


def test_a_group_can_name_as_member_a_user_created_earlier_in_the_request(client: FlaskClient, auth: dict) -> None:
    """RFC 7644 §3.7.2: "bulkId:qwerty" is replaced by the id of the user that POST created."""
    user, group = run(client, auth, post_user("qwerty", "alice"), post_group("ytrewq", "Tour Guides", "bulkId:qwerty"))
    assert user["method"] == "POST" and user["bulkId"] == "qwerty" and user["status"] == "201"
    assert user["location"].startswith("http://localhost/scim/v2/Users/") and user["version"].startswith('W/"')
    assert group["bulkId"] == "ytrewq" and group["status"] == "201"
    assert "response" not in user and "response" not in group
    body = client.get(group["location"], headers=auth).get_json()
    assert [member["value"] for member in body["members"]] == [resource_id(user)]


def test_a_reference_to_a_later_post_waits_for_it_and_results_stay_in_request_order(
    client: FlaskClient, auth: dict
) -> None:
    """RFC 7644 §3.7.2: references are resolved whatever the order of the operations."""
    group, manager, user = run(
        client, auth,
        post_group("g", "Later", "bulkId:u", "bulkId:m"),
        post_user("m", "boss"),
        post_user("u", "ann", **{"schemas": [USER_URN, ENTERPRISE], ENTERPRISE: {"manager": {"value": "bulkId:m"}}}),
    )
    assert [group["bulkId"], manager["bulkId"], user["bulkId"]] == ["g", "m", "u"]
    assert {group["status"], manager["status"], user["status"]} == {"201"}
    stored = client.get(user["location"], headers=auth).get_json()
    assert stored[ENTERPRISE]["manager"]["value"] == resource_id(manager)
    members = client.get(group["location"], headers=auth).get_json()["members"]
    assert sorted(member["value"] for member in members) == sorted([resource_id(user), resource_id(manager)])


def test_a_bulk_id_in_the_path_names_the_created_resource(client: FlaskClient, auth: dict) -> None:
    created, patched, replaced = run(
        client, auth,
        post_user("q", "bob"),
        patch_op("/Users/bulkId:q", {"op": "add", "value": {"nickName": "Babs"}}),
        {"method": "PUT", "path": "/Users/bulkId:q", "data": {"userName": "bob", "title": "CEO", "active": True}},
    )
    assert patched["status"] == replaced["status"] == "200"
    assert patched["location"] == replaced["location"] == created["location"]
    assert patched["version"] != created["version"]
    body = client.get(created["location"], headers=auth).get_json()
    assert body["title"] == "CEO" and "nickName" not in body and body["meta"]["version"] == replaced["version"]


def test_a_failed_operation_leaves_no_trace_and_earlier_successes_stay(
    app: Flask, client: FlaskClient, auth: dict
) -> None:
    """RFC 7644 §3.7.3: each operation on its own. The PATCH adds a member, then its rename collides: the
    member it added must go with it."""
    user, first, second = run(client, auth, post_user("u", "ann"), post_group("a", "Alpha"), post_group("b", "Beta"))
    results = run(
        client, auth,
        patch_op(f"/Groups/{resource_id(second)}",
                 {"op": "add", "path": "members", "value": [{"value": resource_id(user)}]},
                 {"op": "replace", "path": "displayName", "value": "ALPHA"}),
        post_user("dup", "ANN"),
        patch_op(f"/Groups/{resource_id(first)}",
                 {"op": "add", "path": "members", "value": [{"value": resource_id(user)}]}),
    )
    assert [result["status"] for result in results] == ["409", "409", "200"]
    conflict = results[0]
    assert conflict["location"] == second["location"] and "version" not in conflict
    assert conflict["response"]["schemas"] == [ERROR_URN] and conflict["response"]["status"] == "409"
    assert conflict["response"]["scimType"] == "uniqueness"
    assert "location" not in results[1]  # a failed POST has no location (RFC 7644 §3.7)
    assert client.get(f"{second['location']}", headers=auth).get_json().get("members") is None
    assert client.get(f"{first['location']}", headers=auth).get_json()["members"][0]["value"] == resource_id(user)
    assert (count(app, User), count(app, Group), count(app, GroupMember)) == (1, 2, 1)


def test_fail_on_errors_stops_after_that_many_errors(app: Flask, client: FlaskClient, auth: dict) -> None:
    """RFC 7644 §3.7: the operations after the failOnErrors-th error are neither run nor reported."""
    results = run(client, auth, post_user("a", "ann"), post_user("b", "ann"), post_user("c", 42), post_user("d", "dan"),
                  failOnErrors=2)
    assert [(result["bulkId"], result["status"]) for result in results] == [("a", "201"), ("b", "409"), ("c", "400")]
    assert results[2]["response"]["scimType"] == "invalidValue"
    assert count(app, User) == 1


def test_without_fail_on_errors_every_operation_runs(app: Flask, client: FlaskClient, auth: dict) -> None:
    results = run(client, auth, post_user("a", "ann"), post_user("b", "ann"), post_user("c", "cid"))
    assert [result["status"] for result in results] == ["201", "409", "201"]
    assert count(app, User) == 2


def test_references_that_cannot_be_resolved_fail_with_409(app: Flask, client: FlaskClient, auth: dict) -> None:
    """RFC 7644 §3.7.1, §3.7.2: an unknown bulkId, one whose POST failed, and a cycle."""
    def managed_by(bulk_id: str, user_name: str, manager: str) -> dict:
        return post_user(bulk_id, user_name, **{ENTERPRISE: {"manager": {"value": f"bulkId:{manager}"}}})

    results = run(
        client, auth,
        post_user("bad", 42),
        post_group("g1", "Nobody", "bulkId:missing"),
        post_group("g2", "Failed", "bulkId:bad"),
        managed_by("x", "xavier", "y"),
        managed_by("y", "yvonne", "x"),
    )
    assert [result["status"] for result in results] == ["400", "409", "409", "409", "409"]
    assert all("cannot be resolved" in result["response"]["detail"] for result in results[1:])
    assert count(app, User) == count(app, Group) == 0


def test_delete_and_version_checks(client: FlaskClient, auth: dict) -> None:
    """RFC 7644 §3.7: `version` is the operation's If-Match (§3.14)."""
    created = run(client, auth, post_user("u", "ann"))[0]
    path = f"/Users/{resource_id(created)}"
    stale, deleted, again = run(
        client, auth,
        {"method": "DELETE", "path": path, "version": 'W/"999"'},
        {"method": "delete", "path": path, "version": created["version"]},
        {"method": "DELETE", "path": path},
    )
    assert stale["status"] == "412" and stale["location"] == created["location"]
    assert deleted == {"method": "DELETE", "location": created["location"], "status": "204"}
    assert again["status"] == "404" and again["response"]["status"] == "404"
    assert_scim_error(client.get(created["location"], headers=auth), 404)


@pytest.mark.parametrize(
    ("operation", "status"),
    [
        ({"method": "POST", "path": "/Users/123", "data": {"userName": "x"}}, "400"),
        ({"method": "PUT", "path": "/Users", "data": {"userName": "x"}}, "400"),
        ({"method": "PATCH", "path": "/Users/a/b", "data": {"Operations": []}}, "400"),
        ({"method": "POST", "path": "/Widgets", "data": {"name": "x"}}, "404"),
        ({"method": "PATCH", "path": "/Users/00000000-0000-0000-0000-000000000000", "data": {"Operations": []}}, "404"),
        ({"method": "POST", "path": "/Users", "data": "not an object"}, "400"),
    ],
)
def test_an_operation_on_a_wrong_path_or_with_bad_data_fails_alone(
    client: FlaskClient, auth: dict, operation: dict, status: str
) -> None:
    failed, created = run(client, auth, operation, post_user("ok", "ok"))
    assert failed["status"] == status and failed["response"]["status"] == status
    assert created["status"] == "201"


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        ([], "invalidSyntax"),
        ({"schemas": [PATCH_URN], "Operations": []}, "invalidSyntax"),
        ({"schemas": [BULK_REQUEST]}, "invalidSyntax"),
        ({"Operations": [{"method": "GET", "path": "/Users"}]}, "invalidSyntax"),
        ({"Operations": [{"method": "POST", "data": {}}]}, "invalidSyntax"),
        ({"Operations": ["POST /Users"]}, "invalidSyntax"),
        ({"Operations": [{"method": "POST", "path": "/Users", "bulkId": 7, "data": {}}]}, "invalidSyntax"),
        ({"Operations": [post_user("a", "ann"), post_user("a", "bob")]}, "invalidValue"),
        ({"Operations": [], "failOnErrors": 0}, "invalidValue"),
        ({"Operations": [], "failOnErrors": "1"}, "invalidValue"),
    ],
)
def test_a_request_that_is_not_a_bulk_request_is_a_400_and_runs_nothing(
    app: Flask, client: FlaskClient, auth: dict, body, scim_type: str
) -> None:
    assert_scim_error(client.post("/scim/v2/Bulk", headers=auth, json=body), 400, scim_type)
    assert count(app, User) == 0


def test_schemas_may_be_left_out_and_an_empty_request_is_fine(client: FlaskClient, auth: dict) -> None:
    response = client.post("/scim/v2/Bulk", headers=auth, json={"Operations": []})
    assert response.status_code == 200 and response.get_json() == {"schemas": [BULK_RESPONSE], "Operations": []}


def test_more_than_max_operations_is_a_413_naming_the_limit(app: Flask, client: FlaskClient, auth: dict) -> None:
    """RFC 7644 §3.7.4: 413, and the error says which limit was exceeded."""
    operations = [post_user(f"u{index}", f"user{index}") for index in range(MAX_OPERATIONS + 1)]
    body = assert_scim_error(send(client, auth, *operations), 413)
    assert "maxOperations" in body["detail"] and str(MAX_OPERATIONS) in body["detail"]
    assert count(app, User) == 0


def test_a_body_larger_than_max_payload_size_is_a_413_naming_the_limit(
    app: Flask, client: FlaskClient, auth: dict
) -> None:
    operation = post_user("big", "big", title="x" * MAX_PAYLOAD)
    body = assert_scim_error(send(client, auth, operation), 413)
    assert str(MAX_PAYLOAD) in body["detail"]
    assert len(json.dumps({"Operations": [operation]})) > MAX_PAYLOAD and count(app, User) == 0


def test_the_service_provider_config_advertises_the_enforced_limits(client: FlaskClient, auth: dict) -> None:
    bulk = client.get("/scim/v2/ServiceProviderConfig", headers=auth).get_json()["bulk"]
    assert bulk == {"supported": True, "maxOperations": MAX_OPERATIONS, "maxPayloadSize": MAX_PAYLOAD}


def test_bulk_needs_a_token(client: FlaskClient) -> None:
    response = client.post("/scim/v2/Bulk", json={"schemas": [BULK_REQUEST], "Operations": [post_user("a", "ann")]})
    assert_scim_error(response, 401)
