"""Searches after every kind of write: a filter finds a resource by the values it has now, never by those it had.

Beside its document, a stored resource keeps indexed copies that filters read (columns such as `external_id`, the
rows of its emails and of a group's members), and each write path must update both. Every write here runs over HTTP
as the IdPs send it, on both databases, in enough variants to take each of the server's write paths: on PostgreSQL a
user POST is one statement, as is a PUT or PATCH that keeps the user's emails, a group PATCH that clears no membership
is one round trip, and Bulk writes in a transaction; on SQLite every write is in a transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
WORK_EMAIL = 'emails[type eq "work"].value'

# What a write does to a resource at `path` (`/Users/{id}`), given the ids of the users made for the test by name.
Write = Callable[[FlaskClient, dict[str, str], str, dict[str, str]], None]
# PATCH operations, or a function giving them from the ids of the users by name and of the resource, "self".
Operations = list[dict[str, Any]] | Callable[[dict[str, str]], list[dict[str, Any]]]


def found(client: FlaskClient, auth: dict[str, str], endpoint: str, query: str) -> list[str]:
    """The ids a GET /{endpoint}?filter=query finds."""
    response = client.get(f"/scim/v2/{endpoint}", headers=auth, query_string={"filter": query, "count": 100})
    assert response.status_code == 200, (query, response.get_json())
    return [resource["id"] for resource in response.get_json()["Resources"]]


def _send(client: FlaskClient, method: str, path: str, auth: dict[str, str], body: Any,
          query: str = "", **headers: str) -> None:
    response = client.open(f"/scim/v2{path}" + (f"?{query}" if query else ""), method=method,
                           headers={**auth, **headers}, json=body)
    assert response.status_code in (200, 204), (method, path, response.get_json())


def put(body: dict[str, Any]) -> Write:
    def write(client: FlaskClient, auth: dict[str, str], path: str, _people: dict[str, str]) -> None:
        _send(client, "PUT", path, auth, body)
    return write


def patch(operations: Operations, *, query: str = "", if_match: bool = False) -> Write:
    """A PatchOp; `query` as an IdP appends it to the tenant URL (Entra's `aadOptscim062020`); with `if_match`, sent
    with the current ETag."""
    def write(client: FlaskClient, auth: dict[str, str], path: str, people: dict[str, str]) -> None:
        headers = {"If-Match": etag(client, auth, path)} if if_match else {}
        body = {"schemas": [PATCH_URN], "Operations": _operations(operations, people, path)}
        _send(client, "PATCH", path, auth, body, query, **headers)
    return write


def bulk(method: str, data: dict[str, Any] | Operations) -> Write:
    """One operation of a Bulk request: a PUT of `data`, or a PATCH of `data`'s operations."""
    def write(client: FlaskClient, auth: dict[str, str], path: str, people: dict[str, str]) -> None:
        body = data if method == "PUT" else {"schemas": [PATCH_URN], "Operations": _operations(data, people, path)}
        [result] = run_bulk(client, auth, {"method": method, "path": path, "data": body})
        assert result["status"] == "200", result
    return write


def _operations(operations: Any, people: dict[str, str], path: str) -> list[dict[str, Any]]:
    return operations({**people, "self": path.rsplit("/", 1)[1]}) if callable(operations) else operations


def etag(client: FlaskClient, auth: dict[str, str], path: str) -> str:
    return client.get(f"/scim/v2{path}", headers=auth).headers["ETag"]


def delete(client: FlaskClient, auth: dict[str, str], path: str, how: str) -> None:
    """DELETE `path`: plainly, with the current ETag as If-Match, or in a Bulk request."""
    if how == "bulk-delete":
        assert [result["status"] for result in run_bulk(client, auth, {"method": "DELETE", "path": path})] == ["204"]
        return
    headers = {"If-Match": etag(client, auth, path)} if how == "delete-with-if-match" else {}
    assert client.delete(f"/scim/v2{path}", headers={**auth, **headers}).status_code == 204


def run_bulk(client: FlaskClient, auth: dict[str, str], *operations: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/scim/v2/Bulk", headers=auth, json={"schemas": [BULK_URN], "Operations": list(operations)})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["Operations"]


# -- users ----------------------------------------------------------------------------------------------------------

# The values filters look users up by (`email`: the work email's value); None: the user has none.
OLD = {"userName": "old.name@example.com", "externalId": "ext-old", "displayName": "Old Name", "active": True,
       "email": "old@work.example.com"}
NEW = {"userName": "new.name@example.com", "externalId": "ext-new", "displayName": "New Name", "active": False,
       "email": "new@work.example.com"}
NEW_BUT_EMAIL = {**NEW, "email": OLD["email"]}
SCALARS = {key: NEW[key] for key in ("userName", "externalId", "displayName", "active")}


def user_body(values: dict[str, Any]) -> dict[str, Any]:
    """A user with `values` (OLD's shape), as Okta creates one."""
    body = {"schemas": [USER_URN], "name": {"givenName": "Pat", "familyName": "Lee"},
            **{key: value for key, value in values.items() if key != "email" and value is not None}}
    if values["email"] is not None:
        body["emails"] = [{"primary": True, "value": values["email"], "type": "work"}]
    return body


def user_filters(attribute: str, value: Any) -> list[str]:
    if attribute == "email":
        return [f'emails.value eq "{value}"', f'{WORK_EMAIL} eq "{value}"']
    if attribute == "active":
        return [f"active eq {str(value).lower()}"]
    return [f'{attribute} eq "{value}"']


def assert_user_found_by(client: FlaskClient, auth: dict[str, str], user_id: str, now: dict[str, Any],
                         was: dict[str, Any] = OLD) -> None:
    """Each filter on a value the user has finds it, and none on a value it had finds anything."""
    for attribute, value in now.items():
        if value is not None:
            for query in user_filters(attribute, value):
                assert found(client, auth, "Users", query) == [user_id], query
        if was[attribute] is not None and was[attribute] != value:
            for query in user_filters(attribute, was[attribute]):
                assert found(client, auth, "Users", query) == [], query
    stored = client.get(f"/scim/v2/Users/{user_id}", headers=auth).get_json()
    work = [email["value"] for email in stored.get("emails", ()) if email.get("type") == "work"]
    assert {**{key: stored.get(key) for key in now}, "email": work[0] if work else None} == now  # the document too


def new_user(client: FlaskClient, auth: dict[str, str], values: dict[str, Any] = OLD) -> str:
    response = client.post("/scim/v2/Users", headers=auth, json=user_body(values))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


USER_WRITES = [
    pytest.param(put(user_body(NEW)), NEW, id="put"),
    pytest.param(put(user_body(NEW_BUT_EMAIL)), NEW_BUT_EMAIL, id="put-same-emails"),
    # Entra's default job: one op per path, capitalised ops, "False" for active, the filtered email path.
    pytest.param(patch([{"op": "Replace", "path": "userName", "value": NEW["userName"]},
                        {"op": "Replace", "path": "externalId", "value": NEW["externalId"]},
                        {"op": "Replace", "path": "displayName", "value": NEW["displayName"]},
                        {"op": "Replace", "path": "active", "value": "False"}]),
                 NEW_BUT_EMAIL, id="patch-path-replace"),
    pytest.param(patch([{"op": "Replace", "path": WORK_EMAIL, "value": NEW["email"]}]),
                 {**OLD, "email": NEW["email"]}, id="patch-path-replace-work-email"),
    pytest.param(patch([{"op": "Replace", "path": "externalId", "value": NEW["externalId"]},
                        {"op": "Replace", "path": WORK_EMAIL, "value": NEW["email"]}]),
                 {**OLD, "externalId": NEW["externalId"], "email": NEW["email"]}, id="patch-path-replace-with-email"),
    # Okta: one no-path replace.
    pytest.param(patch([{"op": "replace", "value": SCALARS}]), NEW_BUT_EMAIL, id="patch-no-path-replace"),
    pytest.param(patch([{"op": "replace", "value": {**SCALARS, "emails": user_body(NEW)["emails"]}}]), NEW,
                 id="patch-no-path-replace-with-emails"),
    # Entra's aadOptscim062020 job: the filtered path apart, the rest one no-path op.
    pytest.param(patch([{"op": "replace", "path": WORK_EMAIL, "value": NEW["email"]},
                        {"op": "replace", "value": {**SCALARS, "name.givenName": "Sam"}}], query="aadOptscim062020"),
                 NEW, id="patch-entra-compliant"),
    pytest.param(patch([{"op": "add", "path": key, "value": value} for key, value in SCALARS.items()]
                       + [{"op": "Add", "path": WORK_EMAIL, "value": NEW["email"]}]),
                 NEW, id="patch-path-add"),
    pytest.param(patch([{"op": "add", "value": SCALARS}]), NEW_BUT_EMAIL, id="patch-no-path-add"),
    pytest.param(patch([{"op": "remove", "path": "externalId"}, {"op": "remove", "path": "displayName"}]),
                 {**OLD, "externalId": None, "displayName": None}, id="patch-remove"),
    pytest.param(patch([{"op": "remove", "path": 'emails[type eq "work"]'}]), {**OLD, "email": None},
                 id="patch-remove-work-email"),
    # Entra's remove: a value on the filtered path names what goes.
    pytest.param(patch([{"op": "Remove", "path": WORK_EMAIL, "value": OLD["email"]},
                        {"op": "Remove", "path": "externalId", "value": OLD["externalId"]}]),
                 {**OLD, "externalId": None, "email": None}, id="patch-remove-entra"),
    pytest.param(patch([{"op": "replace", "value": {**SCALARS, "password": "n3w-Secret"}}]), NEW_BUT_EMAIL,
                 id="patch-with-password"),
    pytest.param(patch([{"op": "replace", "value": SCALARS}], if_match=True), NEW_BUT_EMAIL,
                 id="patch-with-if-match"),
    pytest.param(bulk("PUT", user_body(NEW)), NEW, id="bulk-put"),
    pytest.param(bulk("PUT", user_body(NEW_BUT_EMAIL)), NEW_BUT_EMAIL, id="bulk-put-same-emails"),
    pytest.param(bulk("PATCH", [{"op": "replace", "value": SCALARS}]), NEW_BUT_EMAIL, id="bulk-patch-no-path"),
    pytest.param(bulk("PATCH", [{"op": "replace", "path": WORK_EMAIL, "value": NEW["email"]},
                                {"op": "replace", "path": "externalId", "value": NEW["externalId"]}]),
                 {**OLD, "externalId": NEW["externalId"], "email": NEW["email"]}, id="bulk-patch-path"),
]


@pytest.mark.parametrize(("write", "now"), USER_WRITES)
def test_a_user_is_found_by_its_new_values_and_not_its_old_ones(client: FlaskClient, auth: dict[str, str],
                                                                write: Write, now: dict[str, Any]) -> None:
    user_id = new_user(client, auth)
    assert_user_found_by(client, auth, user_id, OLD)
    write(client, auth, f"/Users/{user_id}", {})
    assert_user_found_by(client, auth, user_id, now)


def test_a_created_user_is_found_by_every_value(client: FlaskClient, auth: dict[str, str]) -> None:
    assert_user_found_by(client, auth, new_user(client, auth, NEW), NEW)


def test_a_user_created_in_bulk_is_found_by_every_value(client: FlaskClient, auth: dict[str, str]) -> None:
    [result] = run_bulk(client, auth, {"method": "POST", "path": "/Users", "bulkId": "u", "data": user_body(NEW)})
    assert result["status"] == "201", result
    assert_user_found_by(client, auth, result["location"].rsplit("/", 1)[1], NEW)


def test_oktas_deactivation_and_reactivation_move_the_user_between_active_filters(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    user_id = new_user(client, auth)
    for active in (False, True, False):
        patch([{"op": "replace", "value": {"active": active}}])(client, auth, f"/Users/{user_id}", {})
        assert found(client, auth, "Users", f"active eq {str(active).lower()}") == [user_id]
        assert found(client, auth, "Users", f"active eq {str(not active).lower()}") == []


@pytest.mark.parametrize("how", ["delete", "delete-with-if-match", "bulk-delete"])
def test_a_deleted_user_is_found_by_nothing(client: FlaskClient, auth: dict[str, str], how: str) -> None:
    delete(client, auth, f"/Users/{new_user(client, auth)}", how)
    for attribute, value in OLD.items():
        for query in user_filters(attribute, value):
            assert found(client, auth, "Users", query) == [], query


# -- groups ---------------------------------------------------------------------------------------------------------

# A group's lookup values and members (by the name of the users made for each test).
G_OLD = {"displayName": "Old Group", "externalId": "gext-old", "members": ("ann",)}
G_NEW = {"displayName": "New Group", "externalId": "gext-new", "members": ("bob",)}
PEOPLE = ("ann", "bob", "cid")


def group_body(values: dict[str, Any], people: dict[str, str]) -> dict[str, Any]:
    return {"schemas": [GROUP_URN], "displayName": values["displayName"],
            **({"externalId": values["externalId"]} if values["externalId"] is not None else {}),
            "members": [{"value": people[name]} for name in values["members"]]}


def assert_group_found_by(client: FlaskClient, auth: dict[str, str], group_id: str, people: dict[str, str],
                          now: dict[str, Any], was: dict[str, Any] = G_OLD) -> None:
    """Each filter on a value the group has finds it, none on a value it had; `members.value eq` finds it by each
    member and by no one else."""
    for attribute in ("displayName", "externalId"):
        if now[attribute] is not None:
            assert found(client, auth, "Groups", f'{attribute} eq "{now[attribute]}"') == [group_id], attribute
        if was[attribute] not in (None, now[attribute]):
            assert found(client, auth, "Groups", f'{attribute} eq "{was[attribute]}"') == [], attribute
    for name, user_id in people.items():
        expected = [group_id] if name in now["members"] else []
        for query in (f'members.value eq "{user_id}"', f'members[value eq "{user_id}"]'):
            assert found(client, auth, "Groups", query) == expected, (name, query)


def new_group(client: FlaskClient, auth: dict[str, str], people: dict[str, str], values: dict[str, Any] = G_OLD) -> str:
    response = client.post("/scim/v2/Groups", headers=auth, json=group_body(values, people))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


@pytest.fixture
def people(client: FlaskClient, auth: dict[str, str]) -> dict[str, str]:
    """Three users, by name, for group memberships."""
    return {name: new_user(client, auth, {"userName": f"{name}@example.com", "externalId": None, "displayName": None,
                                          "active": True, "email": None}) for name in PEOPLE}


def _rename(people: dict[str, str]) -> list[dict[str, Any]]:
    """Okta's Group Push: a no-path rename (with the id), then the membership as deltas."""
    return [{"op": "replace", "value": {"id": people["self"], "displayName": G_NEW["displayName"]}},
            {"op": "remove", "path": f'members[value eq "{people["ann"]}"]'},
            {"op": "add", "path": "members", "value": [{"value": people["bob"], "display": "bob@example.com"}]}]


def _everything(people: dict[str, str]) -> list[dict[str, Any]]:
    return [{"op": "Replace", "path": "displayName", "value": G_NEW["displayName"]},
            {"op": "Replace", "path": "externalId", "value": G_NEW["externalId"]},
            {"op": "Add", "path": "members", "value": [{"value": people["bob"]}]},
            {"op": "Remove", "path": "members", "value": [{"value": people["ann"]}]}]


G_DOCUMENT = {**G_OLD, "displayName": G_NEW["displayName"], "externalId": G_NEW["externalId"]}
GROUP_WRITES = [
    pytest.param(lambda people: put(group_body(G_NEW, people)), G_NEW, id="put"),
    pytest.param(lambda people: put(group_body({**G_NEW, "members": ("ann", "bob")}, people)),
                 {**G_NEW, "members": ("ann", "bob")}, id="put-keeping-a-member"),
    pytest.param(lambda _people: patch(_rename), {**G_NEW, "externalId": G_OLD["externalId"]}, id="patch-okta-push"),
    pytest.param(lambda _people: patch([{"op": "Replace", "path": "displayName", "value": G_NEW["displayName"]},
                                        {"op": "Replace", "path": "externalId", "value": G_NEW["externalId"]}]),
                 G_DOCUMENT, id="patch-path-replace"),
    pytest.param(lambda _people: patch([{"op": "replace", "value": {"externalId": G_NEW["externalId"],
                                                                    "displayName": G_NEW["displayName"]}}]),
                 G_DOCUMENT, id="patch-no-path-replace"),
    pytest.param(lambda _people: patch([{"op": "remove", "path": "externalId"}]), {**G_OLD, "externalId": None},
                 id="patch-remove-external-id"),
    pytest.param(lambda _people: patch(lambda people: [{"op": "add", "path": "members",
                                                         "value": [{"value": people["bob"]}]}]),
                 {**G_OLD, "members": ("ann", "bob")}, id="patch-add-member"),
    pytest.param(lambda _people: patch(lambda people: [{"op": "remove",
                                                         "path": f'members[value eq "{people["ann"]}"]'}]),
                 {**G_OLD, "members": ()}, id="patch-remove-member-by-filter"),
    pytest.param(lambda _people: patch(lambda people: [{"op": "Remove", "path": "members",
                                                         "value": [{"value": people["ann"]}]}]),
                 {**G_OLD, "members": ()}, id="patch-remove-member-entra"),
    pytest.param(lambda _people: patch(lambda people: [{"op": "replace", "path": "members",
                                                         "value": [{"value": people["bob"]},
                                                                   {"value": people["cid"]}]}]),
                 {**G_OLD, "members": ("bob", "cid")}, id="patch-replace-members"),
    pytest.param(lambda _people: patch([{"op": "remove", "path": "members"}]), {**G_OLD, "members": ()},
                 id="patch-remove-all-members"),
    pytest.param(lambda _people: patch(_everything), G_NEW, id="patch-document-and-members"),
    pytest.param(lambda _people: patch(_everything, if_match=True), G_NEW, id="patch-with-if-match"),
    pytest.param(lambda _people: patch(lambda people: [
        {"op": "replace", "value": {"displayName": G_NEW["displayName"]}},
        {"op": "replace", "path": "members", "value": [{"value": people["bob"]}]}]),
        {**G_NEW, "externalId": G_OLD["externalId"]}, id="patch-rename-and-replace-members"),
    pytest.param(lambda people: bulk("PUT", group_body(G_NEW, people)), G_NEW, id="bulk-put"),
    pytest.param(lambda _people: bulk("PATCH", _everything), G_NEW, id="bulk-patch"),
    pytest.param(lambda _people: bulk("PATCH", _rename), {**G_NEW, "externalId": G_OLD["externalId"]},
                 id="bulk-patch-okta-push"),
]


@pytest.mark.parametrize(("make_write", "now"), GROUP_WRITES)
def test_a_group_is_found_by_its_new_values_and_members_and_not_its_old_ones(
    client: FlaskClient, auth: dict[str, str], people: dict[str, str], make_write: Callable[[dict[str, str]], Write],
    now: dict[str, Any]
) -> None:
    group_id = new_group(client, auth, people)
    assert_group_found_by(client, auth, group_id, people, G_OLD)
    make_write(people)(client, auth, f"/Groups/{group_id}", people)
    assert_group_found_by(client, auth, group_id, people, now)


def test_a_created_group_is_found_by_every_value(client: FlaskClient, auth: dict[str, str],
                                                 people: dict[str, str]) -> None:
    assert_group_found_by(client, auth, new_group(client, auth, people, G_NEW), people, G_NEW)


def test_a_group_created_in_bulk_with_a_user_of_the_same_request_is_found_by_it(
    client: FlaskClient, auth: dict[str, str], people: dict[str, str]
) -> None:
    user = {"method": "POST", "path": "/Users", "bulkId": "dan", "data": user_body({**NEW, "email": None})}
    group = {"method": "POST", "path": "/Groups", "bulkId": "g",
             "data": {**group_body(G_NEW, people), "members": [{"value": people["bob"]}, {"value": "bulkId:dan"}]}}
    user_result, group_result = run_bulk(client, auth, user, group)
    assert (user_result["status"], group_result["status"]) == ("201", "201")
    dan, group_id = (result["location"].rsplit("/", 1)[1] for result in (user_result, group_result))
    assert_group_found_by(client, auth, group_id, {**people, "dan": dan}, {**G_NEW, "members": ("bob", "dan")})


@pytest.mark.parametrize("how", ["delete", "delete-with-if-match", "bulk-delete"])
def test_a_deleted_group_is_found_by_nothing(client: FlaskClient, auth: dict[str, str], people: dict[str, str],
                                             how: str) -> None:
    delete(client, auth, f"/Groups/{new_group(client, auth, people)}", how)
    for query in (f'displayName eq "{G_OLD["displayName"]}"', f'externalId eq "{G_OLD["externalId"]}"',
                  f'members.value eq "{people["ann"]}"'):
        assert found(client, auth, "Groups", query) == [], query


@pytest.mark.parametrize("how", ["delete", "delete-with-if-match", "bulk-delete"])
def test_a_deleted_user_is_no_groups_member_any_more(client: FlaskClient, auth: dict[str, str],
                                                    people: dict[str, str], how: str) -> None:
    group_id = new_group(client, auth, people, {**G_OLD, "members": ("ann", "bob")})
    delete(client, auth, f"/Users/{people['ann']}", how)
    assert found(client, auth, "Groups", f'members.value eq "{people["ann"]}"') == []
    assert found(client, auth, "Groups", f'members.value eq "{people["bob"]}"') == [group_id]
