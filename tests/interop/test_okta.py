"""Okta, replayed: Test API Credentials, the Runscope SPEC test, import, assignment, AIW PUTs, Group Push
(idp-behaviour §1, §2)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.interop.replay import GROUP_URN, LIST_URN, USER_URN, Idp, assert_error, member_ids

OKTA_HEADERS = {"User-Agent": "Okta SCIM Client 1.0.0", "Accept-Charset": "utf-8", "Accept-Encoding": "gzip,deflate"}


@pytest.fixture
def okta(client: FlaskClient, token: str) -> Idp:
    return Idp(client, token, **OKTA_HEADERS)


def okta_user(user_name: str, external_id: str = "00ujl29u0le5T6Aj10h7", **changes) -> dict:
    """The body of Okta's POST /Users (§1.5): password placeholder, `groups: []`, the Okta id as externalId."""
    return {
        "schemas": [USER_URN],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "1mz050nq",
        "active": True,
        **changes,
    }


def test_test_api_credentials_and_saving_the_settings_on_an_empty_tenant(okta: Idp) -> None:
    """§1.3: constant parameters; an empty store is 200 with totalResults 0, the counters JSON integers."""
    empty = {"schemas": [LIST_URN], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []}
    assert okta.get("/Users?startIndex=1&count=2") == empty
    assert okta.get("/Groups?startIndex=1&count=100") == empty


def test_the_runscope_spec_test(okta: Idp) -> None:
    """§2.1, steps 1-12, with a user created beforehand as the test asks."""
    okta.post("/Users", okta_user("existing@atko.com"))
    first = okta.find("/Users?count=1&startIndex=1")[0]  # 1
    for key in ("id", "userName", "active"):
        assert first[key] not in (None, "")
    assert first["name"]["familyName"] and first["name"]["givenName"] and first["emails"][0]["value"]
    assert okta.get(f"/Users/{first['id']}")["id"] == first["id"]  # 2
    assert okta.find('/Users?filter=userName eq "abcdefgh@atko.com"') == []  # 3
    assert_error(okta.get("/Users/010101001010101011001010101011", status=404), 404)  # 4
    user_name = "Runscope123Xxxxxxxx123@atko.com"
    assert okta.find(f'/Users?filter=userName eq "{user_name}"') == []  # 5
    body = {"schemas": [USER_URN], "userName": user_name, "name": {"givenName": "Run", "familyName": "Scope"},
            "emails": [{"primary": True, "value": user_name, "type": "work"}], "displayName": "Run Scope",
            "active": True}
    created = okta.call("POST", "/Users", body, status=201, **{"Content-Type": "application/json"})  # 6
    assert created["active"] is True and created["id"] and created["userName"] == user_name
    assert USER_URN in created["schemas"] and created["name"] == body["name"]
    fetched = okta.get(f"/Users/{created['id']}")  # 7
    assert (fetched["userName"], fetched["name"]) == (user_name, body["name"])
    assert_error(okta.post("/Users", body, status=409), 409, "uniqueness")  # 8
    found = okta.find(f'/Users?filter=userName eq "{user_name.upper()}"')  # 9
    assert [user["id"] for user in found] == [created["id"]]
    assert isinstance(okta.get("/Groups")["Resources"], list)  # 10
    unauthorized = okta.get(f'/Users?filter=userName eq "{user_name.upper()}"', status=401,
                            Authorization="non-token")  # 11
    assert_error(unauthorized, 401)
    assert_error(okta.get("/Users/00919288221112222", status=404), 404)  # 12


def test_import_pages_through_users_and_groups_in_a_stable_order(okta: Idp) -> None:
    """§1.4: startIndex=1, 101, … with count=100 (here 3) until totalResults; inactive users are listed too."""
    ids = {okta.post("/Users", okta_user(f"user{index}@x", f"00u{index}", active=index % 2 == 0))["id"]
           for index in range(7)}
    for index in range(4):
        okta.post("/Groups", {"schemas": [GROUP_URN], "displayName": f"Group {index}", "members": []})
    for endpoint, total in (("/Users", 7), ("/Groups", 4)):
        seen, start = [], 1
        while start <= total:
            page = okta.get(f"{endpoint}?startIndex={start}&count=3")
            assert page["totalResults"] == total and page["startIndex"] == start
            seen += [resource["id"] for resource in page["Resources"]]
            start += 3
        assert len(seen) == len(set(seen)) == total
    assert {user["id"] for user in okta.find("/Users?startIndex=1&count=100")} == ids


@pytest.mark.parametrize("encoded", ['userName%20eq%20%22{}%22', 'userName+eq+%22{}%22'])
def test_assign_lookup_create_update_deactivate_reactivate(okta: Idp, encoded: str) -> None:
    """§1.5-§1.8 and the CRUD test (§2.2): the lookup misses, the POST creates, GET + PUT push the profile, a
    no-path PATCH deactivates; re-assignment finds the inactive user by userName and reactivates it."""
    lookup = "/Users?filter=" + encoded.format("test.user%40okta.local") + "&startIndex=1&count=100"
    assert okta.find(lookup) == []
    created = okta.post("/Users", okta_user("test.user@okta.local"))
    assert created["id"] and created["externalId"] == "00ujl29u0le5T6Aj10h7" and "password" not in created
    assert "groups" not in created

    current = okta.get(f"/Users/{created['id']}")
    current["name"] = {"givenName": "Another", "middleName": "Excited", "familyName": "User"}
    current["emails"][0]["display"] = "test.user@okta.local"
    updated = okta.put(f"/Users/{created['id']}", {**current, "groups": [], "password": "1mz050nq"})
    assert updated["name"]["givenName"] == "Another" and updated["id"] == created["id"]

    deactivated = okta.patch(f"/Users/{created['id']}", {"op": "replace", "value": {"active": False}})
    assert deactivated["active"] is False
    assert okta.get(f"/Users/{created['id']}")["active"] is False  # soft delete: still readable
    again = okta.find(lookup)
    assert [(user["id"], user["active"]) for user in again] == [(created["id"], False)]
    reactivated = okta.patch(f"/Users/{created['id']}", {"op": "replace", "value": {"active": True}})
    assert reactivated["active"] is True and reactivated["name"] == updated["name"]
    password = okta.patch(f"/Users/{created['id']}", {"op": "replace", "value": {"password": "n3wSecret"}})
    assert "password" not in password


def test_a_failed_lookup_then_a_post_of_the_same_user_name_in_another_case_is_a_409(okta: Idp) -> None:
    """§1.5 trap: the lookup is case-insensitive, so Okta finds the user instead of hitting the unique index."""
    created = okta.post("/Users", okta_user("Jane.Doe@Example.com"))
    assert [user["id"] for user in okta.find('/Users?filter=userName eq "jane.doe@example.com"')] == [created["id"]]
    assert created["userName"] == "Jane.Doe@Example.com"
    assert_error(okta.post("/Users", okta_user("JANE.DOE@EXAMPLE.COM"), status=409), 409, "uniqueness")


def test_aiw_apps_deactivate_and_reactivate_with_get_then_put(okta: Idp) -> None:
    """§1.1, §1.8: AIW custom apps send the whole resource back with `active` changed; a PUT without `active`
    keeps it (§1.7)."""
    user = okta.post("/Users", okta_user("aiw@okta.local"))
    current = okta.get(f"/Users/{user['id']}")
    assert okta.put(f"/Users/{user['id']}", {**current, "active": False})["active"] is False
    current = okta.get(f"/Users/{user['id']}")
    without_active = {key: value for key, value in current.items() if key != "active"}
    assert okta.put(f"/Users/{user['id']}", {**without_active, "title": "Engineer"})["active"] is False
    assert okta.put(f"/Users/{user['id']}", {**current, "active": True})["active"] is True


def test_group_push_create_lookup_rename_membership_and_delete(okta: Idp) -> None:
    """§1.9 for OIN apps: every PATCH answers 204; membership changes are deltas, one request may mix them."""
    ann, bob, cid = (okta.post("/Users", okta_user(f"{name}@x", f"00u{name}"))["id"] for name in ("ann", "bob", "cid"))
    group = okta.post("/Groups", {"schemas": [GROUP_URN], "displayName": "Test SCIMv2",
                                  "members": [{"value": ann, "display": "ann@x"}]})
    assert group["displayName"] == "Test SCIMv2" and member_ids(group) == [ann]
    path = f"/Groups/{group['id']}"
    found = okta.find('/Groups?filter=displayName%20eq%20%22Test%20SCIMv2%22&startIndex=1&count=100')
    assert [found_group["id"] for found_group in found] == [group["id"]]

    okta.patch(path, {"op": "replace", "value": {"id": group["id"], "displayName": "Test SCIMv2 renamed"}})
    okta.patch(path, {"op": "remove", "path": f'members[value eq "{ann}"]'},
               {"op": "add", "path": "members", "value": [{"value": bob, "display": "bob@x"}]})
    assert okta.get(path)["displayName"] == "Test SCIMv2 renamed"
    assert member_ids(okta.get(path)) == [bob]
    okta.patch(path, {"op": "replace", "path": "members", "value": [{"value": ann}, {"value": cid}]})
    assert member_ids(okta.get(path)) == sorted([ann, cid])
    okta.patch(path, {"op": "add", "path": "members", "value": [{"value": "00000000-0000-0000-0000-00000000dead"},
                                                                {"value": bob}]})
    assert member_ids(okta.get(path)) == sorted([ann, bob, cid])  # an unknown member does not lose the others
    okta.patch(path, {"op": "replace", "path": "members", "value": []})
    assert "members" not in okta.get(path)

    assert okta.get(f"/Users/{ann}")["active"] is True  # users stay when they leave a group
    okta.delete(path)
    assert_error(okta.get(path, status=404), 404)


def test_unassigning_a_user_leaves_its_pushed_group_memberships(okta: Idp) -> None:
    """§1.8: Okta sends no group request on unassignment; the deactivated user stays a member."""
    user = okta.post("/Users", okta_user("member@x"))
    group = okta.post("/Groups", {"schemas": [GROUP_URN], "displayName": "Pushed", "members": [{"value": user["id"]}]})
    okta.patch(f"/Users/{user['id']}", {"op": "replace", "value": {"active": False}})
    assert member_ids(okta.get(f"/Groups/{group['id']}")) == [user["id"]]
    assert [entry["value"] for entry in okta.get(f"/Users/{user['id']}")["groups"]] == [group["id"]]


def test_aiw_group_push_puts_the_whole_member_list(okta: Idp) -> None:
    """§1.9 AIW: GET then PUT with every member; each change re-sends the full list."""
    ann, bob = (okta.post("/Users", okta_user(f"{name}@x", f"00u{name}"))["id"] for name in ("ann", "bob"))
    group = okta.post("/Groups", {"schemas": [GROUP_URN], "displayName": "AIW", "members": []})
    path = f"/Groups/{group['id']}"
    current = okta.get(path)
    both = okta.put(path, {"schemas": [GROUP_URN], "displayName": current["displayName"],
                           "members": [{"value": ann, "display": "ann@x"}, {"value": bob, "display": "bob@x"}]})
    assert member_ids(both) == sorted([ann, bob])
    only_bob = okta.put(path, {"schemas": [GROUP_URN], "displayName": "AIW", "members": [{"value": bob}]})
    assert member_ids(only_bob) == [bob]
    assert member_ids(okta.get(path)) == [bob]
