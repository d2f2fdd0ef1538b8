"""The Group resource over HTTP, as Okta group push and Entra drive it (RFC 7643 §4.2, RFC 7644 §3;
docs/idp-behaviour.md §1.9, §3.4, §5)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from storage import tenants
from storage.db import make_sessionmaker
from tests.api.test_foundation import assert_scim_error
from tests.conftest import make_token
from tests.storage.test_groups import insert_users, recorded_sql, touching_members

GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTRA_GROUP_URN = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def new_user(client: FlaskClient, auth: dict, user_name: str, **extra: Any) -> str:
    response = client.post("/scim/v2/Users", headers=auth, json={"schemas": [USER_URN], "userName": user_name, **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def new_users(client: FlaskClient, auth: dict, count: int) -> list[str]:
    return [new_user(client, auth, f"user{index}@okta.local") for index in range(count)]


def new_group(client: FlaskClient, auth: dict, display_name: str = "Test SCIMv2", **extra: Any) -> dict:
    body = {"schemas": [GROUP_URN], "displayName": display_name, **extra}
    response = client.post("/scim/v2/Groups", headers=auth, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def patch(client: FlaskClient, auth: dict, group_id: str, *operations: dict, **kwargs: Any):
    return client.patch(f"/scim/v2/Groups/{group_id}", headers=auth,
                        json={"schemas": [PATCH_URN], "Operations": list(operations)}, **kwargs)


def fetch(client: FlaskClient, auth: dict, group_id: str) -> dict:
    response = client.get(f"/scim/v2/Groups/{group_id}", headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def members(client: FlaskClient, auth: dict, group_id: str) -> list[str]:
    return [member["value"] for member in fetch(client, auth, group_id).get("members", [])]


def refs(ids: list[str]) -> list[dict]:
    """Member values as Okta sends them (value and display, no type)."""
    return [{"value": user_id, "display": f"{user_id}@okta.local"} for user_id in ids]


def assert_patched(response, expected_version: int) -> None:
    """Group PATCH answers 204 with the new ETag (Entra recommends it; Okta accepts it)."""
    assert response.status_code == 204, response.get_json()
    assert response.headers["ETag"] == f'W/"{expected_version}"'


# -- create, read, uniqueness -------------------------------------------------------------------------


def test_okta_push_creates_an_empty_group(client: FlaskClient, auth: dict) -> None:
    response = client.post("/scim/v2/Groups", headers=auth,
                           json={"schemas": [GROUP_URN], "displayName": "Test SCIMv2", "members": []})
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == body["meta"]["location"] == f"http://localhost/scim/v2/Groups/{body['id']}"
    assert response.headers["ETag"] == body["meta"]["version"] == 'W/"1"'
    assert body["schemas"] == [GROUP_URN]
    assert body["displayName"] == "Test SCIMv2"
    assert body["meta"]["resourceType"] == "Group"
    assert "members" not in body  # an empty multi-valued attribute is unassigned (RFC 7643 §2.5)


def test_entra_creates_a_group_with_an_extra_schema_urn_and_external_id(client: FlaskClient, auth: dict) -> None:
    body = new_group(client, auth, "displayName", schemas=[GROUP_URN, ENTRA_GROUP_URN],
                     externalId="8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", meta={"resourceType": "Group"})
    assert body["externalId"] == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    assert body["schemas"] == [GROUP_URN]


def test_okta_creates_a_group_with_members(client: FlaskClient, auth: dict) -> None:
    ann = new_user(client, auth, "ann@okta.local", displayName="Ann Smith")
    bob = new_user(client, auth, "bob@okta.local")
    body = new_group(client, auth, members=[{"value": ann, "display": "ann@okta.local"}, {"value": bob}])
    expected = {
        ann: {"value": ann, "$ref": f"http://localhost/scim/v2/Users/{ann}", "display": "Ann Smith", "type": "User"},
        bob: {"value": bob, "$ref": f"http://localhost/scim/v2/Users/{bob}", "display": "bob@okta.local",
              "type": "User"},
    }
    assert body["members"] == [expected[user_id] for user_id in sorted(expected)]
    assert fetch(client, auth, body["id"])["members"] == body["members"]


def test_unknown_nested_and_foreign_members_are_skipped_and_logged(
    app: Flask, client: FlaskClient, auth: dict, caplog: pytest.LogCaptureFixture
) -> None:
    other = {**auth, "Authorization": f"Bearer {make_token(app, 'globex')}"}
    foreign = new_user(client, other, "ann@okta.local")
    ann = new_user(client, auth, "ann@okta.local")
    nested = new_group(client, auth, "Nested")["id"]
    with caplog.at_level(logging.WARNING, logger="storage.groups"):
        body = new_group(client, auth, members=[{"value": ann}, {"value": "no-such-user"}, {"value": foreign},
                                                {"value": nested, "type": "Group"}])
    assert [member["value"] for member in body["members"]] == [ann]
    message = caplog.records[-1].getMessage()
    assert body["id"] in message and "no-such-user" in message and foreign in message and nested in message


@pytest.mark.parametrize("display_name", ["Test SCIMv2", "test scimv2", "TEST SCIMV2"])
def test_a_taken_display_name_in_any_case_is_409_uniqueness(client: FlaskClient, auth: dict, display_name) -> None:
    new_group(client, auth)
    response = client.post("/scim/v2/Groups", headers=auth, json={"schemas": [GROUP_URN], "displayName": display_name})
    assert_scim_error(response, 409, "uniqueness")


def test_the_same_display_name_in_two_tenants_is_fine(app: Flask, client: FlaskClient, auth: dict) -> None:
    group = new_group(client, auth)
    other = {**auth, "Authorization": f"Bearer {make_token(app, 'globex')}"}
    new_group(client, other)
    assert_scim_error(client.get(f"/scim/v2/Groups/{group['id']}", headers=other), 404)


def test_a_group_without_display_name_is_400(client: FlaskClient, auth: dict) -> None:
    response = client.post("/scim/v2/Groups", headers=auth, json={"schemas": [GROUP_URN], "members": []})
    assert_scim_error(response, 400, "invalidValue")


@pytest.mark.parametrize("query", [{"excludedAttributes": "members"}, {"attributes": "displayName"}])
def test_get_without_members_never_reads_the_membership_table(
    app: Flask, client: FlaskClient, auth: dict, query: dict
) -> None:
    group = new_group(client, auth, members=[{"value": new_user(client, auth, "ann@okta.local")}])
    with recorded_sql(app.extensions["scim.engine"]) as statements:
        response = client.get(f"/scim/v2/Groups/{group['id']}", headers=auth, query_string=query)
    assert response.status_code == 200
    body = response.get_json()
    assert "members" not in body and body["displayName"] == "Test SCIMv2"
    assert not touching_members(statements)
    if "attributes" in query:
        assert set(body) == {"schemas", "id", "displayName"}


# -- PATCH: every shape Okta (§1.9) and Entra (§3.4) send ------------------------------------------------


def test_okta_rename_repeating_the_group_id_is_accepted(client: FlaskClient, auth: dict) -> None:
    group = new_group(client, auth)
    rename = {"op": "replace", "value": {"id": group["id"], "displayName": "Renamed"}}
    response = patch(client, auth, group["id"], rename)
    assert_patched(response, 2)
    assert fetch(client, auth, group["id"])["displayName"] == "Renamed"


def test_a_rename_naming_another_id_is_refused(client: FlaskClient, auth: dict) -> None:
    group = new_group(client, auth)
    response = patch(client, auth, group["id"], {"op": "replace", "value": {"id": "other", "displayName": "Renamed"}})
    assert_scim_error(response, 400, "mutability")
    assert fetch(client, auth, group["id"])["displayName"] == "Test SCIMv2"


def test_entra_rename_with_a_path(client: FlaskClient, auth: dict) -> None:
    group = new_group(client, auth)
    assert_patched(patch(client, auth, group["id"], {"op": "Replace", "path": "displayName", "value": "Renamed"}), 2)
    body = fetch(client, auth, group["id"])
    assert body["displayName"] == "Renamed"
    assert body["meta"]["lastModified"] > group["meta"]["lastModified"]


def test_a_rename_to_a_taken_name_is_409_and_changes_nothing(client: FlaskClient, auth: dict) -> None:
    new_group(client, auth, "Taken")
    group = new_group(client, auth)
    response = patch(client, auth, group["id"], {"op": "replace", "path": "displayName", "value": "TAKEN"})
    assert_scim_error(response, 409, "uniqueness")
    assert fetch(client, auth, group["id"])["meta"]["version"] == 'W/"1"'


def test_okta_adds_a_list_of_members(client: FlaskClient, auth: dict) -> None:
    ids = new_users(client, auth, 3)
    group = new_group(client, auth)
    assert_patched(patch(client, auth, group["id"], {"op": "add", "path": "members", "value": refs(ids[:2])}), 2)
    assert_patched(patch(client, auth, group["id"], {"op": "add", "path": "members", "value": refs(ids[1:])}), 3)
    assert members(client, auth, group["id"]) == sorted(ids)


def test_a_group_push_is_one_round_trip_after_the_token(app: Flask, client: FlaskClient, auth: dict) -> None:
    """Okta's and Entra's group push (membership steps alone): on PostgreSQL the token's lookup, then one pipeline
    (storage.group_patch), not a transaction of eight statements."""
    ids = new_users(client, auth, 2)
    group = new_group(client, auth, members=refs(ids[:1]))
    with recorded_sql(app.extensions["scim.engine"]) as statements:
        response = patch(client, auth, group["id"], {"op": "add", "path": "members", "value": refs(ids[1:])},
                         {"op": "remove", "path": f'members[value eq "{ids[0]}"]'})
    assert_patched(response, 2)
    assert members(client, auth, group["id"]) == ids[1:]
    if app.extensions["scim.engine"].dialect.name == "postgresql":
        assert len(statements) == 4, statements  # the token; the plan mode, the row lock and the write, pipelined
        assert "FOR UPDATE" in statements[2] and "INSERT INTO events" in statements[3]


def test_okta_mixes_a_filtered_remove_and_an_add_in_one_request(client: FlaskClient, auth: dict) -> None:
    ids = new_users(client, auth, 3)
    group = new_group(client, auth, members=refs(ids[:2]))
    response = patch(client, auth, group["id"],
                     {"op": "remove", "path": f'members[value eq "{ids[0]}"]'},
                     {"op": "add", "path": "members", "value": refs(ids[2:])})
    assert_patched(response, 2)
    assert members(client, auth, group["id"]) == sorted(ids[1:])


def test_entra_adds_and_removes_members_with_null_refs(client: FlaskClient, auth: dict) -> None:
    ids = new_users(client, auth, 3)
    group = new_group(client, auth)
    added = [{"$ref": None, "value": user_id} for user_id in ids]
    assert_patched(patch(client, auth, group["id"], {"op": "Add", "path": "members", "value": added}), 2)
    assert members(client, auth, group["id"]) == sorted(ids)
    removed = [{"$ref": None, "value": ids[0]}, {"$ref": None, "value": ids[2]}]
    assert_patched(patch(client, auth, group["id"], {"op": "Remove", "path": "members", "value": removed}), 3)
    assert members(client, auth, group["id"]) == [ids[1]]


def test_remove_members_without_a_value_removes_them_all(client: FlaskClient, auth: dict) -> None:
    ids = new_users(client, auth, 3)
    group = new_group(client, auth, members=refs(ids))
    assert_patched(patch(client, auth, group["id"], {"op": "remove", "path": "members"}), 2)
    assert members(client, auth, group["id"]) == []
    assert new_user(client, auth, "still.here@okta.local")  # the users are untouched
    assert client.get(f"/scim/v2/Users/{ids[0]}", headers=auth).status_code == 200


def test_okta_push_now_replaces_the_members_and_an_empty_list_clears_them(client: FlaskClient, auth: dict) -> None:
    ids = new_users(client, auth, 4)
    group = new_group(client, auth, members=refs(ids[:3]))
    assert_patched(patch(client, auth, group["id"], {"op": "replace", "path": "members", "value": refs(ids[2:])}), 2)
    assert members(client, auth, group["id"]) == sorted(ids[2:])
    assert_patched(patch(client, auth, group["id"], {"op": "replace", "path": "members", "value": []}), 3)
    assert members(client, auth, group["id"]) == []


def test_an_unknown_member_is_skipped_while_the_others_are_added(
    client: FlaskClient, auth: dict, caplog: pytest.LogCaptureFixture
) -> None:
    ids = new_users(client, auth, 2)
    group = new_group(client, auth)
    nested = new_group(client, auth, "Nested")["id"]
    value = [*refs(ids[:1]), {"value": "00u-not-assigned"}, {"value": nested, "type": "Group"}, *refs(ids[1:])]
    with caplog.at_level(logging.WARNING, logger="storage.groups"):
        assert_patched(patch(client, auth, group["id"], {"op": "add", "path": "members", "value": value}), 2)
    assert members(client, auth, group["id"]) == sorted(ids)
    [message] = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert "00u-not-assigned" in message and nested in message


def test_adding_a_present_member_or_removing_an_absent_one_keeps_the_version(client: FlaskClient, auth: dict) -> None:
    ids = new_users(client, auth, 2)
    group = new_group(client, auth, members=refs(ids[:1]))
    response = patch(client, auth, group["id"], {"op": "add", "path": "members", "value": refs(ids[:1])},
                     {"op": "remove", "path": f'members[value eq "{ids[1]}"]'})
    assert_patched(response, 1)


BAD_OPERATIONS = [
    pytest.param({"op": "merge", "path": "displayName", "value": "x"}, "invalidSyntax", id="unknown-op"),
    pytest.param({"op": "add", "path": "members[value eq", "value": []}, "invalidPath", id="bad-path"),
    pytest.param({"op": "add", "path": "nosuch", "value": "x"}, "invalidPath", id="unknown-attribute"),
    pytest.param({"op": "replace", "path": "displayName", "value": 5}, "invalidValue", id="wrong-type"),
    pytest.param({"op": "add", "path": "members", "value": [{"display": "no value"}]}, "invalidValue",
                 id="member-without-value"),
    pytest.param({"op": "remove", "path": "displayName"}, "mutability", id="remove-required"),
]


@pytest.mark.parametrize(("bad", "scim_type"), BAD_OPERATIONS)
def test_one_bad_operation_fails_the_request_and_changes_nothing(
    client: FlaskClient, auth: dict, bad: dict, scim_type: str
) -> None:
    ids = new_users(client, auth, 3)
    group = new_group(client, auth, members=refs(ids[:2]))
    response = patch(client, auth, group["id"],
                     {"op": "remove", "path": f'members[value eq "{ids[0]}"]'},
                     {"op": "add", "path": "members", "value": refs(ids[2:])},
                     {"op": "replace", "path": "displayName", "value": "Renamed"},
                     bad)
    assert_scim_error(response, 400, scim_type)
    after = fetch(client, auth, group["id"])
    assert (after["displayName"], after["meta"]["version"]) == ("Test SCIMv2", 'W/"1"')
    assert [member["value"] for member in after["members"]] == sorted(ids[:2])


def test_several_operations_apply_together(client: FlaskClient, auth: dict) -> None:
    ids = new_users(client, auth, 3)
    group = new_group(client, auth, members=refs(ids[:1]))
    response = patch(client, auth, group["id"],
                     {"op": "replace", "value": {"id": group["id"], "displayName": "Renamed"}},
                     {"op": "add", "path": "members", "value": refs(ids[1:])},
                     {"op": "remove", "path": f'members[value eq "{ids[1]}"]'},
                     {"op": "add", "path": "externalId", "value": "okta-1"})
    assert_patched(response, 2)  # one request, one version
    body = fetch(client, auth, group["id"])
    assert (body["displayName"], body["externalId"]) == ("Renamed", "okta-1")
    assert [member["value"] for member in body["members"]] == sorted([ids[0], ids[2]])


def test_patch_with_attributes_answers_200_with_the_group(client: FlaskClient, auth: dict) -> None:
    ids = new_users(client, auth, 1)
    group = new_group(client, auth)
    response = patch(client, auth, group["id"], {"op": "add", "path": "members", "value": refs(ids)},
                     query_string={"attributes": "members"})
    assert response.status_code == 200
    assert [member["value"] for member in response.get_json()["members"]] == ids


def test_if_match_guards_patch_put_and_delete(client: FlaskClient, auth: dict) -> None:
    group = new_group(client, auth)
    stale = {**auth, "If-Match": 'W/"7"'}
    rename = {"op": "replace", "path": "displayName", "value": "Renamed"}
    assert_scim_error(patch(client, stale, group["id"], rename), 412)
    assert_scim_error(client.put(f"/scim/v2/Groups/{group['id']}", headers=stale, json={"displayName": "x"}), 412)
    assert_scim_error(client.delete(f"/scim/v2/Groups/{group['id']}", headers=stale), 412)
    assert_patched(patch(client, {**auth, "If-Match": 'W/"1"'}, group["id"], rename), 2)
    response = client.get(f"/scim/v2/Groups/{group['id']}", headers={**auth, "If-None-Match": 'W/"2"'})
    assert response.status_code == 304


# -- PUT, DELETE ----------------------------------------------------------------------------------------


def test_okta_aiw_put_is_a_full_replace_of_document_and_members(client: FlaskClient, auth: dict) -> None:
    ids = new_users(client, auth, 4)
    group = new_group(client, auth, externalId="okta-1", members=refs(ids[:3]))
    body = {"schemas": [GROUP_URN], "id": group["id"], "displayName": "Renamed", "members": refs([ids[1], ids[3]])}
    response = client.put(f"/scim/v2/Groups/{group['id']}", headers=auth, json=body)
    assert response.status_code == 200
    replaced = response.get_json()
    assert replaced["displayName"] == "Renamed" and "externalId" not in replaced
    assert [member["value"] for member in replaced["members"]] == sorted([ids[1], ids[3]])
    assert response.headers["ETag"] == replaced["meta"]["version"] == 'W/"2"'


def test_put_without_members_keeps_them_and_with_an_empty_list_clears_them(client: FlaskClient, auth: dict) -> None:
    ids = new_users(client, auth, 2)
    group = new_group(client, auth, members=refs(ids))
    url = f"/scim/v2/Groups/{group['id']}"
    kept = client.put(url, headers=auth, json={"schemas": [GROUP_URN], "displayName": "Renamed"}).get_json()
    assert [member["value"] for member in kept["members"]] == sorted(ids)
    cleared = client.put(url, headers=auth, json={"displayName": "Renamed", "members": []}).get_json()
    assert "members" not in cleared and cleared["meta"]["version"] == 'W/"3"'


def test_delete_is_204_then_404_and_keeps_the_users(client: FlaskClient, auth: dict) -> None:
    ids = new_users(client, auth, 2)
    group = new_group(client, auth, members=refs(ids))
    response = client.delete(f"/scim/v2/Groups/{group['id']}", headers=auth)
    assert response.status_code == 204
    assert_scim_error(client.get(f"/scim/v2/Groups/{group['id']}", headers=auth), 404)
    assert_scim_error(client.delete(f"/scim/v2/Groups/{group['id']}", headers=auth), 404)
    for user_id in ids:
        user = client.get(f"/scim/v2/Users/{user_id}", headers=auth).get_json()
        assert user["id"] == user_id and "groups" not in user


def test_deleting_a_user_removes_its_memberships(client: FlaskClient, auth: dict) -> None:
    ids = new_users(client, auth, 2)
    group = new_group(client, auth, members=refs(ids))
    assert client.delete(f"/scim/v2/Users/{ids[0]}", headers=auth).status_code == 204
    assert members(client, auth, group["id"]) == [ids[1]]


def test_user_groups_agree_with_group_members(client: FlaskClient, auth: dict) -> None:
    ids = new_users(client, auth, 4)
    engineering = new_group(client, auth, "Engineering", members=refs(ids[:3]))["id"]
    sales = new_group(client, auth, "Sales", members=refs(ids[2:]))["id"]
    patch(client, auth, engineering, {"op": "remove", "path": f'members[value eq "{ids[0]}"]'})
    patch(client, auth, sales, {"op": "add", "path": "members", "value": refs(ids[:1])})
    client.put(f"/scim/v2/Groups/{sales}", headers=auth, json={"displayName": "Sales EMEA", "members": refs(ids[:3])})
    names = {engineering: "Engineering", sales: "Sales EMEA"}
    expected: dict[str, list[dict]] = {user_id: [] for user_id in ids}
    for group_id in (engineering, sales):
        for user_id in members(client, auth, group_id):
            expected[user_id].append({"value": group_id, "$ref": f"http://localhost/scim/v2/Groups/{group_id}",
                                      "display": names[group_id], "type": "direct"})
    for user_id in ids:
        user = client.get(f"/scim/v2/Users/{user_id}", headers=auth).get_json()
        assert sorted(user.get("groups", []), key=lambda group: group["display"]) == expected[user_id]


# -- filters (RFC 7644 §3.4.2.2) ------------------------------------------------------------------------


def search(client: FlaskClient, auth: dict, filter_text: str, **params: Any) -> list[dict]:
    response = client.get("/scim/v2/Groups", headers=auth, query_string={"filter": filter_text, **params})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["Resources"]


def test_okta_looks_a_group_up_by_display_name_in_any_case(client: FlaskClient, auth: dict) -> None:
    group = new_group(client, auth, members=refs(new_users(client, auth, 1)))
    new_group(client, auth, "Other")
    for name in ("Test SCIMv2", "test scimv2"):
        found = search(client, auth, f'displayName eq "{name}"', startIndex=1, count=100)
        assert [resource["id"] for resource in found] == [group["id"]]
        assert found[0]["members"] == group["members"]
    assert search(client, auth, 'displayName eq "nope"') == []


def test_entra_filters_with_excluded_members_never_read_the_membership_table(
    app: Flask, client: FlaskClient, auth: dict
) -> None:
    group = new_group(client, auth, "displayName", externalId="8aa1a0c0", members=refs(new_users(client, auth, 2)))
    for filter_text in ('displayName eq "displayName"', 'externalId eq "8aa1a0c0"'):
        with recorded_sql(app.extensions["scim.engine"]) as statements:
            found = search(client, auth, filter_text, excludedAttributes="members")
        assert [resource["id"] for resource in found] == [group["id"]]
        assert "members" not in found[0] and not touching_members(statements)
    with recorded_sql(app.extensions["scim.engine"]) as statements:
        listed = search(client, auth, 'displayName eq "DISPLAYNAME"', attributes="displayName")
    assert listed == [{"schemas": [GROUP_URN], "id": group["id"], "displayName": "displayName"}]
    assert not touching_members(statements)
    assert search(client, auth, 'externalId eq "8AA1A0C0"') == []  # externalId is caseExact


def test_filter_on_members_value(client: FlaskClient, auth: dict) -> None:
    ids = new_users(client, auth, 2)
    with_first = new_group(client, auth, "A", members=refs(ids))["id"]
    new_group(client, auth, "B", members=refs(ids[1:]))
    assert [resource["id"] for resource in search(client, auth, f'members.value eq "{ids[0]}"')] == [with_first]
    assert len(search(client, auth, f'members[value eq "{ids[1]}"]')) == 2


# -- scale ----------------------------------------------------------------------------------------------


def test_a_10000_member_group_built_in_batches_of_100(app: Flask, client: FlaskClient, auth: dict) -> None:
    sessionmaker = make_sessionmaker(app.extensions["scim.engine"])
    with sessionmaker.begin() as session:
        ids = insert_users(session, tenants.get_by_name(session, "acme").id, 10_000)
    group = new_group(client, auth, "Everyone")
    for batch, start in enumerate(range(0, 10_000, 100), start=2):
        response = patch(client, auth, group["id"],
                         {"op": "add", "path": "members", "value": refs(ids[start:start + 100])})
        assert_patched(response, batch)
    assert members(client, auth, group["id"]) == sorted(ids)
    assert_patched(patch(client, auth, group["id"], {"op": "remove", "path": f'members[value eq "{ids[0]}"]'}), 102)
    slim = client.get(f"/scim/v2/Groups/{group['id']}?excludedAttributes=members", headers=auth).get_json()
    assert "members" not in slim and slim["meta"]["version"] == 'W/"102"'
    assert len(members(client, auth, group["id"])) == 9_999
