"""The activity log: every SCIM write and every failed SCIM request is an event, in the transaction of its change."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from scim import changes
from storage import events
from storage.db import make_sessionmaker
from storage.models import AuthFailure, Event, Token, User
from tests.api.test_foundation import assert_scim_error
from tests.conftest import make_token

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
OKTA = "Okta SCIM Client 1.0.0"


def stored_events(app: Flask) -> list[Event]:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        return list(session.scalars(select(Event).order_by(Event.id)))


def kinds(app: Flask) -> list[str]:
    return [event.kind for event in stored_events(app)]


def operations(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_URN], "Operations": list(ops)}


def new_user(client: FlaskClient, auth: dict, user_name: str = "ann@example.com", **extra: Any) -> dict:
    body = {"schemas": [USER_URN], "userName": user_name, "active": True, **extra}
    response = client.post("/scim/v2/Users", headers={**auth, "User-Agent": OKTA}, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def new_group(client: FlaskClient, auth: dict, display_name: str = "Engineering", **extra: Any) -> dict:
    response = client.post("/scim/v2/Groups", headers=auth, json={"schemas": [GROUP_URN], "displayName": display_name,
                                                                  **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# -- each kind from its real request -------------------------------------------------------------------------------


def test_user_lifecycle_events_come_from_the_requests(app: Flask, client: FlaskClient, auth: dict) -> None:
    user = new_user(client, auth, name={"givenName": "Ann"})
    user_url = f"/scim/v2/Users/{user['id']}"
    assert client.patch(user_url, headers=auth, json=operations(
        {"op": "replace", "path": "name.givenName", "value": "Anne"})).status_code == 200
    assert client.patch(user_url, headers=auth, json=operations(
        {"op": "replace", "value": {"active": False}})).status_code == 200
    put = {"schemas": [USER_URN], "userName": "ann@example.com", "active": True, "name": {"givenName": "Anne"}}
    assert client.put(user_url, headers=auth, json=put).status_code == 200
    assert client.delete(user_url, headers=auth).status_code == 204

    log = stored_events(app)
    assert [event.kind for event in log] == ["user.created", "user.updated", "user.deactivated", "user.reactivated",
                                             "user.deleted"]
    assert [event.status for event in log] == [201, 200, 200, 200, 204]
    assert [event.method for event in log] == ["POST", "PATCH", "PATCH", "PUT", "DELETE"]
    assert {(event.resource_type, event.resource_id) for event in log} == {("User", user["id"])}
    assert log[1].diff == {"name.givenName": {"old": "Ann", "new": "Anne"}}
    assert log[2].diff == {"active": {"old": True, "new": False}}
    created = log[0]
    assert created.user_agent == OKTA and created.client_ip == "127.0.0.1" and created.path == "/scim/v2/Users"
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        token = session.scalars(select(Token)).one()
    assert {(event.tenant_id, event.token_id) for event in log} == {(token.tenant_id, token.id)}


def test_group_events_come_from_the_requests(app: Flask, client: FlaskClient, auth: dict) -> None:
    ann, bob, eve = (new_user(client, auth, f"{name}@example.com")["id"] for name in ("ann", "bob", "eve"))
    group = new_group(client, auth, members=[{"value": ann}, {"value": "ghost"}])
    group_url = f"/scim/v2/Groups/{group['id']}"
    response = client.patch(group_url, headers=auth, json=operations(
        {"op": "replace", "value": {"id": group["id"], "displayName": "Platform"}},
        {"op": "add", "path": "members", "value": [{"value": bob}, {"value": ann}]}))
    assert response.status_code == 204
    response = client.patch(group_url, headers=auth, json=operations(
        {"op": "remove", "path": f'members[value eq "{ann}"]'}, {"op": "remove", "path": f'members[value eq "{eve}"]'}))
    assert response.status_code == 204
    put = {"schemas": [GROUP_URN], "displayName": "Platform", "members": [{"value": eve}]}
    assert client.put(group_url, headers=auth, json=put).status_code == 200
    assert client.delete(group_url, headers=auth).status_code == 204

    log = [event for event in stored_events(app) if event.resource_type == "Group"]
    # the status of the write (RFC 7644 §3.5.2: 200), although the group PATCHes were answered 204 No Content
    assert [(event.kind, event.status) for event in log] == [
        ("group.created", 201), ("group.renamed", 200), ("group.members_added", 200),
        ("group.members_removed", 200), ("group.members_added", 200), ("group.members_removed", 200),
        ("group.deleted", 204)]
    assert log[0].diff == {"displayName": {"new": "Engineering"},
                           "members": {"added": {"ids": [ann], "count": 1}, "skipped": {"ids": ["ghost"], "count": 1}}}
    assert log[1].diff == {"displayName": {"old": "Engineering", "new": "Platform"}}
    assert log[2].diff == {"members": {"added": {"ids": [bob], "count": 1}}}  # ann was a member already
    assert log[3].diff == {"members": {"removed": {"ids": [ann], "count": 1}}}  # eve was no member
    assert log[4].diff == {"members": {"added": {"ids": [eve], "count": 1}}}
    assert log[5].diff == {"members": {"removed": {"ids": [bob], "count": 1}}}


# -- failed requests ---------------------------------------------------------------------------------------------


def test_a_failed_write_is_logged_as_rejected_and_changes_nothing(app: Flask, client: FlaskClient, auth: dict) -> None:
    new_user(client, auth)
    before = stored_events(app)
    response = client.post("/scim/v2/Users", headers={**auth, "User-Agent": OKTA},
                           json={"schemas": [USER_URN], "userName": "ANN@example.com", "password": "Secret-123"})
    assert_scim_error(response, 409, "uniqueness")
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1
    [rejected] = stored_events(app)[len(before):]
    assert rejected.kind == changes.REQUEST_REJECTED and rejected.status == 409
    assert rejected.scim_type == "uniqueness" and "already exists" in rejected.detail
    assert (rejected.method, rejected.path, rejected.resource_type) == ("POST", "/scim/v2/Users", "User")
    assert rejected.tenant_id is not None and rejected.token_id is not None and rejected.user_agent == OKTA
    assert rejected.diff is None


def test_a_failed_patch_leaves_the_user_and_logs_no_change(app: Flask, client: FlaskClient, auth: dict) -> None:
    user = new_user(client, auth, title="Dev")
    response = client.patch(f"/scim/v2/Users/{user['id']}", headers=auth, json=operations(
        {"op": "replace", "path": "title", "value": "Lead"}, {"op": "replace", "path": "id", "value": "x"}))
    assert_scim_error(response, 400, "mutability")
    assert client.get(f"/scim/v2/Users/{user['id']}", headers=auth).get_json()["title"] == "Dev"
    rejected = stored_events(app)[-1]
    assert kinds(app) == ["user.created", "request.rejected"]
    assert (rejected.resource_type, rejected.resource_id, rejected.scim_type) == ("User", user["id"], "mutability")


@pytest.mark.parametrize("header", [None, "Bearer scim_not-a-real-token-abcdef", "Basic dXNlcjpwYXNz"])
def test_a_401_is_counted_for_its_address_not_logged_as_an_event(
    app: Flask, client: FlaskClient, header: str | None
) -> None:
    """Failed authentications are counted per address and minute (tests/api/test_auth_failures.py): a flood of them
    writes no event per request, and nothing of the secret is kept anywhere."""
    headers = {"Authorization": header} if header else {}
    assert_scim_error(client.post("/scim/v2/Users", headers=headers, json={"userName": "x"}), 401)
    assert stored_events(app) == []
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        counted = [(row.client_ip, row.failures) for row in session.scalars(select(AuthFailure))]
    assert counted == [("127.0.0.1", 1)]


def test_a_valid_token_for_another_path_is_still_one_tenants_rejection(app: Flask, client: FlaskClient,
                                                                      auth: dict) -> None:
    assert_scim_error(client.get("/scim/v2/Users/missing", headers=auth), 404)
    assert_scim_error(client.post("/scim/v2/ServiceProviderConfig", headers=auth, json={}), 405)
    log = stored_events(app)
    assert [(event.status, event.resource_id) for event in log] == [(404, "missing"), (405, None)]
    assert all(event.tenant_id is not None for event in log)


def test_requests_outside_the_scim_api_are_not_logged(app: Flask, client: FlaskClient) -> None:
    client.get("/nope")
    client.post("/healthz")
    client.get("/admin/v1/events")
    assert stored_events(app) == []


def test_a_rejection_that_cannot_be_logged_still_answers_its_own_error(
    app: Flask, client: FlaskClient, auth: dict, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the log is down")

    monkeypatch.setattr(events, "record", broken)
    assert_scim_error(client.get("/scim/v2/Users/missing", headers=auth), 404)
    assert "could not log the rejected request" in caplog.text
    assert stored_events(app) == []


def test_each_tenant_sees_its_own_events(app: Flask, client: FlaskClient, auth: dict) -> None:
    other = {**auth, "Authorization": f"Bearer {make_token(app, 'globex')}"}
    new_user(client, auth)
    new_user(client, other)
    assert len({event.tenant_id for event in stored_events(app)}) == 2


# -- passwords -----------------------------------------------------------------------------------------------------


def test_no_password_ever_reaches_a_stored_event(app: Flask, client: FlaskClient, auth: dict) -> None:
    user = new_user(client, auth, password="Created-Pass-1")
    user_url = f"/scim/v2/Users/{user['id']}"
    assert client.patch(user_url, headers=auth, json=operations(
        {"op": "replace", "value": {"password": "Patched-Pass-2"}})).status_code == 200
    assert client.patch(user_url, headers=auth, json=operations(
        {"op": "replace", "path": "password", "value": "Pathed-Pass-3"})).status_code == 200
    put = {"schemas": [USER_URN], "userName": "ann@example.com", "password": "Replaced-Pass-4"}
    assert client.put(user_url, headers=auth, json=put).status_code == 200
    rejected = {"schemas": [USER_URN], "userName": "ann@example.com", "password": "Rejected-Pass-5"}
    assert client.post("/scim/v2/Users", headers=auth, json=rejected).status_code == 409

    log = stored_events(app)
    assert [event.kind for event in log] == ["user.created", "user.updated", "user.updated", "user.updated",
                                             "request.rejected"]
    assert all(event.diff["password"] == {"new": changes.REDACTED} for event in log[:4])
    for event in log:
        row = str([getattr(event, column.name) for column in Event.__table__.columns])
        assert "-Pass-" not in row


def test_bulk_operations_log_their_changes_and_a_failed_operation_leaves_none(
    app: Flask, client: FlaskClient, auth: dict
) -> None:
    user = new_user(client, auth)
    bulk = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "b1", "data": {"schemas": [USER_URN], "userName": "bob"}},
        {"method": "PATCH", "path": f"/Users/{user['id']}", "data": operations(
            {"op": "replace", "value": {"active": False}})},
        {"method": "POST", "path": "/Users", "data": {"schemas": [USER_URN], "userName": "ANN@example.com"}},
        {"method": "DELETE", "path": "/Users/bulkId:b1"},
    ]}
    response = client.post("/scim/v2/Bulk", headers=auth, json=bulk)
    assert response.status_code == 200
    assert [result["status"] for result in response.get_json()["Operations"]] == ["201", "200", "409", "204"]
    log = stored_events(app)[1:]
    assert [(event.kind, event.status) for event in log] == [("user.created", 201), ("user.deactivated", 200),
                                                             ("user.deleted", 204)]
    assert {(event.method, event.path) for event in log} == {("POST", "/scim/v2/Bulk")}
