"""Over-long request fields never fail a request: its event keeps them cut to their column's length.

A client controls its User-Agent, its URL and (behind a trusted proxy) X-Forwarded-For; the activity log stores them
in bounded columns (storage/models.py, the events table). Each kind of write, and a refused request, answers as it
would with short ones, and the admin API's feed (or `scim-server events --json`) shows their first characters. On
PostgreSQL an uncut value would fail the insert, on SQLite it would be stored whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from app import create_app
from app.cli import cli
from storage import admin_keys
from storage.db import make_sessionmaker
from storage.models import AuthFailure, Event

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"

LENGTH = {column.name: column.type.length for column in Event.__table__.columns
          if getattr(column.type, "length", None)}
AGENT = "Okta SCIM Client 1.0.0 " + "a" * 5000
FORWARDED_FOR = "f" * 500  # one address, as a client in front of the proxy may forge it
PADDING = "pad=" + "q" * 5000


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    """The app behind one trusted proxy, so that X-Forwarded-For is the client's address."""
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "TRUST_PROXY": 1})
    yield app
    app.extensions["scim.engine"].dispose()


@pytest.fixture
def admin(app: Flask) -> dict[str, str]:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        return {"Authorization": f"Bearer {admin_keys.issue(session, 'tests')[1]}"}


def feed(client: FlaskClient, admin: dict[str, str], after: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """The admin API's events after the cursor `after`, and the cursor after them."""
    body = client.get("/admin/v1/events", headers=admin, query_string={"limit": 1000, **({"after": after} if after
                                                                                         else {})}).get_json()
    assert not body["has_more"]
    return body["events"], body["next_cursor"]


def long_headers(auth: dict[str, str]) -> dict[str, str]:
    return {**auth, "User-Agent": AGENT, "X-Forwarded-For": FORWARDED_FOR}


def created(response: Any) -> str:
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def new_user(client: FlaskClient, auth: dict[str, str], user_name: str = "ann@example.com") -> str:
    return created(client.post("/scim/v2/Users", headers=auth, json={
        "schemas": [USER_URN], "userName": user_name, "active": True,
        "emails": [{"value": user_name, "type": "work", "primary": True}]}))


def new_group(client: FlaskClient, auth: dict[str, str], *member_ids: str) -> str:
    return created(client.post("/scim/v2/Groups", headers=auth, json={
        "schemas": [GROUP_URN], "displayName": "Engineering", "members": [{"value": m} for m in member_ids]}))


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_URN], "Operations": list(operations)}


# A write: given the client, the normal and the long headers, and the ids of a user (ann, in the group), a second
# user (bob) and the group, it sends one request and returns its response and the path that request named.
Write = Callable[[FlaskClient, dict[str, str], dict[str, str], dict[str, str]], tuple[Any, str]]


def _request(method: str, path: str, body: Callable[[dict[str, str]], Any] | None = None) -> Write:
    """`method` on `path` (formatted with the ids) with a padded query string, `body` from the ids."""
    def write(client: FlaskClient, _auth: dict[str, str], headers: dict[str, str], ids: dict[str, str]):
        url = path.format(**ids)
        payload = body(ids) if body else None
        return client.open(f"{url}?aadOptscim062020&{PADDING}", method=method, headers=headers, json=payload), url
    return write


WRITES = [
    pytest.param(_request("POST", "/scim/v2/Users", lambda _ids: {"schemas": [USER_URN], "userName": "cid"}),
                 201, [("user.created", 201)], id="post-user"),
    pytest.param(_request("PUT", "/scim/v2/Users/{ann}", lambda _ids: {"schemas": [USER_URN], "userName": "ann2"}),
                 200, [("user.updated", 200)], id="put-user"),
    pytest.param(_request("PATCH", "/scim/v2/Users/{ann}", lambda _ids: patch_body(
        {"op": "replace", "value": {"active": False}})), 200, [("user.deactivated", 200)], id="patch-user"),
    pytest.param(_request("PATCH", "/scim/v2/Users/{ann}", lambda _ids: patch_body(
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "new@example.com"})),
                 200, [("user.updated", 200)], id="patch-user-emails"),
    pytest.param(_request("PATCH", "/scim/v2/Users/{ann}", lambda _ids: patch_body(
        {"op": "replace", "value": {"active": True}})), 200, [("user.updated", 200)], id="patch-user-changing-nothing"),
    pytest.param(_request("DELETE", "/scim/v2/Users/{ann}"), 204, [("user.deleted", 204)], id="delete-user"),
    pytest.param(_request("POST", "/scim/v2/Groups", lambda ids: {"schemas": [GROUP_URN], "displayName": "Ops",
                                                                  "members": [{"value": ids["bob"]}]}),
                 201, [("group.created", 201)], id="post-group"),
    pytest.param(_request("PATCH", "/scim/v2/Groups/{group}", lambda ids: patch_body(
        {"op": "add", "path": "members", "value": [{"value": ids["bob"]}]})),
                 204, [("group.members_added", 200)], id="patch-group-members"),
    pytest.param(_request("PATCH", "/scim/v2/Groups/{group}", lambda ids: patch_body(
        {"op": "replace", "path": "displayName", "value": "Platform"},
        {"op": "remove", "path": f'members[value eq "{ids["ann"]}"]'})),
                 204, [("group.renamed", 200), ("group.members_removed", 200)], id="patch-group-rename-and-members"),
    pytest.param(_request("PATCH", "/scim/v2/Groups/{group}", lambda ids: patch_body(
        {"op": "replace", "path": "members", "value": [{"value": ids["bob"]}]})),
                 204, [("group.members_added", 200), ("group.members_removed", 200)], id="patch-group-replace-members"),
    pytest.param(_request("PUT", "/scim/v2/Groups/{group}", lambda ids: {
        "schemas": [GROUP_URN], "displayName": "Platform", "members": [{"value": ids["bob"]}]}),
                 200, [("group.renamed", 200), ("group.members_added", 200), ("group.members_removed", 200)],
                 id="put-group"),
    pytest.param(_request("DELETE", "/scim/v2/Groups/{group}"), 204, [("group.deleted", 204)], id="delete-group"),
    pytest.param(_request("POST", "/scim/v2/Bulk", lambda ids: {"schemas": [BULK_URN], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "c", "data": {"schemas": [USER_URN], "userName": "cid"}},
        {"method": "PATCH", "path": f"/Users/{ids['ann']}", "data": patch_body(
            {"op": "replace", "value": {"active": False}})}]}),
                 200, [("user.created", 201), ("user.deactivated", 200)], id="bulk"),
]


@pytest.mark.parametrize(("write", "status", "logged"), WRITES)
def test_a_write_with_overlong_fields_succeeds_and_its_events_keep_them_cut(
    client: FlaskClient, auth: dict[str, str], admin: dict[str, str], write: Write, status: int,
    logged: list[tuple[str, int]]
) -> None:
    ann, bob = new_user(client, auth), new_user(client, auth, "bob@example.com")
    ids = {"ann": ann, "bob": bob, "group": new_group(client, auth, ann)}
    _before, cursor = feed(client, admin)

    response, path = write(client, auth, long_headers(auth), ids)

    assert response.status_code == status, response.get_json()
    events, _cursor = feed(client, admin, cursor)
    assert [(event["kind"], event["status"]) for event in events] == logged  # the status of each write it made
    for event in events:
        assert event["user_agent"] == AGENT[:LENGTH["user_agent"]]
        assert event["client_ip"] == FORWARDED_FOR[:LENGTH["client_ip"]]
        assert event["path"] == path  # the path alone: the query string is not logged


def test_a_refused_request_with_overlong_fields_answers_its_error_and_is_logged_cut(
    client: FlaskClient, auth: dict[str, str], admin: dict[str, str]
) -> None:
    missing = "b" * 5000
    path = f"/scim/v2/Users/{missing}"
    response = client.get(f"{path}?{PADDING}", headers=long_headers(auth))
    assert response.status_code == 404
    detail = response.get_json()["detail"]
    assert missing in detail  # the answer itself is not cut

    [event], _cursor = feed(client, admin)
    assert (event["kind"], event["status"], event["method"]) == ("request.rejected", 404, "GET")
    assert event["path"] == path[:LENGTH["path"]]
    assert event["resource_type"] == "User" and event["resource_id"] == missing[:LENGTH["resource_id"]]
    assert event["detail"] == detail[:LENGTH["detail"]]
    assert event["user_agent"] == AGENT[:LENGTH["user_agent"]]
    assert event["client_ip"] == FORWARDED_FOR[:LENGTH["client_ip"]]


def test_a_refused_write_and_an_unknown_method_are_logged_cut(
    client: FlaskClient, auth: dict[str, str], runner: FlaskCliRunner
) -> None:
    new_user(client, auth)
    taken = client.post(f"/scim/v2/Users?{PADDING}", headers=long_headers(auth),
                        json={"schemas": [USER_URN], "userName": "ANN@example.com"})
    assert taken.status_code == 409
    method = "PROPPATCH-" + "M" * 100
    assert client.open("/scim/v2/Users", method=method, headers=long_headers(auth)).status_code == 405

    result = runner.invoke(cli, ["events", "--json"])
    assert result.exit_code == 0, result.output
    logged = [json.loads(line) for line in result.output.splitlines()]
    assert [(event["kind"], event["status"]) for event in logged] == [
        ("user.created", 201), ("request.rejected", 409), ("request.rejected", 405)]
    conflict, unknown = logged[1:]
    assert conflict["path"] == "/scim/v2/Users" and conflict["scim_type"] == "uniqueness"
    assert unknown["method"] == method[:LENGTH["method"]]
    for event in logged[1:]:
        assert event["user_agent"] == AGENT[:LENGTH["user_agent"]]
        assert event["client_ip"] == FORWARDED_FOR[:LENGTH["client_ip"]]


def test_a_failed_authentication_from_a_long_forged_address_is_counted_under_it_cut(
    app: Flask, client: FlaskClient
) -> None:
    unauthenticated = {"User-Agent": AGENT, "X-Forwarded-For": FORWARDED_FOR}
    assert client.get(f"/scim/v2/{'c' * 5000}", headers=unauthenticated).status_code == 401
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        counted = [(row.client_ip, row.failures) for row in session.scalars(select(AuthFailure))]
    assert counted == [(FORWARDED_FOR[:AuthFailure.__table__.c.client_ip.type.length], 1)]
