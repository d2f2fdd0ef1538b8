"""The User resource over HTTP, as Okta and Entra drive it (RFC 7644 §3; docs/idp-behaviour.md §1, §3)."""

from __future__ import annotations

import hashlib

import flask
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from storage import connections, users
from storage.db import make_sessionmaker
from storage.models import User
from tests.api.test_foundation import assert_scim_error
from tests.conftest import make_token

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

OKTA_CREATE = {
    "schemas": [USER_URN],
    "userName": "test.user@okta.local",
    "name": {"givenName": "Test", "familyName": "User"},
    "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
    "displayName": "Test User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": True,
}


def create(client: FlaskClient, auth: dict, body: dict | None = None, **changes) -> dict:
    response = client.post("/scim/v2/Users", headers=auth, json={**(body or OKTA_CREATE), **changes})
    assert response.status_code == 201, response.get_json()
    return response.get_json(force=True)


def patch(client: FlaskClient, auth: dict, user_id: str, *operations: dict, **kwargs):
    return client.patch(f"/scim/v2/Users/{user_id}", headers=auth,
                        json={"schemas": [PATCH_URN], "Operations": list(operations)}, **kwargs)


def test_okta_create_answers_201_with_location_etag_and_the_user_as_sent(client: FlaskClient, auth: dict) -> None:
    response = client.post("/scim/v2/Users", headers=auth, json=OKTA_CREATE)
    assert response.status_code == 201
    assert response.mimetype == "application/scim+json"
    body = response.get_json(force=True)
    assert response.headers["Location"] == body["meta"]["location"] == f"http://localhost/scim/v2/Users/{body['id']}"
    assert response.headers["ETag"] == body["meta"]["version"]
    assert body["schemas"] == [USER_URN]
    for key in ("userName", "name", "emails", "displayName", "locale", "externalId", "active"):
        assert body[key] == OKTA_CREATE[key]
    assert "password" not in body
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["created"].endswith("Z") and body["meta"]["created"] == body["meta"]["lastModified"]


def test_the_password_is_stored_only_as_a_hash_and_never_returned(app: Flask, client: FlaskClient, auth: dict) -> None:
    user = create(client, auth)
    assert "password" not in client.get(f"/scim/v2/Users/{user['id']}", headers=auth).get_json()
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        row = session.scalars(select(User)).one()
    assert row.password_hash.startswith("scrypt$") and "1mz050nq" not in row.password_hash
    assert "1mz050nq" not in str(row.doc)


def test_a_new_password_is_hashed_before_the_write_lock_is_taken(
    app: Flask, client: FlaskClient, auth: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scrypt takes ~80 ms: under the write lock every other writer (on SQLite, of every tenant) would wait for it.
    POST, PUT and PATCH hash a new password before the request becomes a writer, and store that hash."""
    writing_while_hashing = []

    def hash_password(password: str | None) -> str | None:
        if password is not None:
            writing_while_hashing.append(not connections.is_reading(flask.g.db_connection))
        return real_hash(password)

    real_hash = users.hash_password
    monkeypatch.setattr(users, "hash_password", hash_password)
    user = create(client, auth)
    put = client.put(f"/scim/v2/Users/{user['id']}", headers=auth, json={**OKTA_CREATE, "password": "second-pw"})
    assert put.status_code == 200
    patched = patch(client, auth, user["id"], {"op": "replace", "path": "password", "value": "third-pw"})
    assert patched.status_code == 200
    assert writing_while_hashing == [False, False, False]
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        stored = session.scalars(select(User.password_hash)).one()
    _scheme, n, r, p, salt, digest = stored.split("$")
    assert hashlib.scrypt(b"third-pw", salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p)).hex() == digest


def test_groups_in_a_user_body_never_change_memberships(client: FlaskClient, auth: dict) -> None:
    user = create(client, auth, groups=[{"value": "whatever"}])
    assert "groups" not in user


@pytest.mark.parametrize("user_name", ["test.user@okta.local", "TEST.USER@OKTA.LOCAL", "Test.User@Okta.Local"])
def test_a_duplicate_user_name_in_any_case_is_a_409_uniqueness(client: FlaskClient, auth: dict, user_name: str) -> None:
    create(client, auth)
    response = client.post("/scim/v2/Users", headers=auth, json={**OKTA_CREATE, "userName": user_name})
    assert_scim_error(response, 409, "uniqueness")


def test_the_same_user_name_in_two_tenants_is_fine(app: Flask, client: FlaskClient, auth: dict) -> None:
    create(client, auth)
    other = {**auth, "Authorization": f"Bearer {make_token(app, 'globex')}"}
    create(client, other)
    listing = client.get("/scim/v2/Users", headers=other).get_json()
    assert listing["totalResults"] == 1


def test_tenants_never_see_each_others_users(app: Flask, client: FlaskClient, auth: dict) -> None:
    user = create(client, auth)
    other = {**auth, "Authorization": f"Bearer {make_token(app, 'globex')}"}
    assert_scim_error(client.get(f"/scim/v2/Users/{user['id']}", headers=other), 404)
    assert_scim_error(patch(client, other, user["id"], {"op": "replace", "value": {"active": False}}), 404)
    assert_scim_error(client.delete(f"/scim/v2/Users/{user['id']}", headers=other), 404)
    assert client.get(f"/scim/v2/Users?filter=userName eq \"{user['userName']}\"", headers=other).get_json()[
        "totalResults"] == 0


def test_get_by_id_and_unknown_id(client: FlaskClient, auth: dict) -> None:
    user = create(client, auth)
    response = client.get(f"/scim/v2/Users/{user['id']}", headers=auth)
    assert response.status_code == 200 and response.get_json() == user
    assert_scim_error(client.get("/scim/v2/Users/010101001010101011001010101011", headers=auth), 404)


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        ({"schemas": [USER_URN], "name": {"givenName": "x"}}, "invalidValue"),
        ({"schemas": [USER_URN], "userName": 42}, "invalidValue"),
        ({"schemas": [USER_URN], "userName": "a", "active": "maybe"}, "invalidValue"),
        ({"schemas": [USER_URN], "userName": "a", "emails": "a@b"}, "invalidValue"),
        ({"schemas": [USER_URN], "userName": "a", "name": "Ann"}, "invalidValue"),
        ({"schemas": "nope", "userName": "a"}, None),
        ([1, 2], None),
    ],
)
def test_invalid_bodies_are_400_and_store_nothing(client: FlaskClient, auth: dict, body, scim_type) -> None:
    assert_scim_error(client.post("/scim/v2/Users", headers=auth, json=body), 400, scim_type)
    assert client.get("/scim/v2/Users", headers=auth).get_json()["totalResults"] == 0


def test_broken_json_is_400_invalid_syntax(client: FlaskClient, auth: dict) -> None:
    assert_scim_error(client.post("/scim/v2/Users", headers=auth, data='{"userName": '), 400, "invalidSyntax")


def test_a_body_that_is_not_json_is_415(client: FlaskClient, auth: dict) -> None:
    headers = {**auth, "Content-Type": "text/plain"}
    assert_scim_error(client.post("/scim/v2/Users", headers=headers, data="userName=a"), 415)


@pytest.mark.parametrize("content_type", ["application/json", "application/scim+json; charset=utf-8"])
def test_json_and_scim_json_bodies_are_both_accepted(client: FlaskClient, auth: dict, content_type: str) -> None:
    response = client.post("/scim/v2/Users", headers={**auth, "Content-Type": content_type}, json=OKTA_CREATE)
    assert response.status_code == 201


def test_attribute_names_are_case_insensitive_and_stored_in_the_schemas_spelling(client: FlaskClient, auth: dict):
    user = create(client, auth, {"schemas": [USER_URN], "UserName": "Ann", "NAME": {"GivenName": "Ann"},
                                 "emails": [{"Value": "ann@x", "Primary": "True"}], "Active": "False"})
    assert user["userName"] == "Ann" and user["name"] == {"givenName": "Ann"}
    assert user["emails"] == [{"value": "ann@x", "primary": True}] and user["active"] is False


def test_unknown_attributes_and_schema_urns_are_tolerated(client: FlaskClient, auth: dict) -> None:
    user = create(client, auth, {"schemas": [USER_URN, "urn:example:unknown"], "userName": "ann", "shoeSize": 44,
                                 "meta": {"resourceType": "User"}, "roles": [], "manager": None})
    assert "shoeSize" not in user and user["userName"] == "ann"


def test_enterprise_extension_round_trips(client: FlaskClient, auth: dict) -> None:
    enterprise = {"employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
                  "division": "Theme Park", "department": "Tour Operations",
                  "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}}
    user = create(client, auth, {"schemas": [USER_URN, ENTERPRISE], "userName": "bjensen", ENTERPRISE: enterprise})
    assert user["schemas"] == [USER_URN, ENTERPRISE]
    stored = user[ENTERPRISE]
    assert stored["department"] == "Tour Operations" and stored["manager"]["value"].startswith("26118915")
    assert client.get(f"/scim/v2/Users/{user['id']}", headers=auth).get_json()[ENTERPRISE] == stored


def test_okta_put_is_a_full_replace_that_ignores_read_only_and_keeps_active(client: FlaskClient, auth: dict) -> None:
    user = create(client, auth)
    body = {"schemas": [USER_URN], "id": "some-other-id", "userName": "test.user@okta.local",
            "name": {"givenName": "Another", "middleName": "Excited", "familyName": "User"},
            "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
            "groups": [], "meta": {"resourceType": "User"}, "password": "newpass1"}
    response = client.put(f"/scim/v2/Users/{user['id']}", headers=auth, json=body)
    assert response.status_code == 200
    updated = response.get_json()
    assert updated["id"] == user["id"]
    assert updated["name"] == body["name"]
    assert updated["active"] is True
    assert "displayName" not in updated and "locale" not in updated  # replaced, not merged
    assert updated["meta"]["version"] != user["meta"]["version"]
    assert updated["meta"]["created"] == user["meta"]["created"]


def test_deactivate_and_reactivate_with_oktas_no_path_patch(client: FlaskClient, auth: dict) -> None:
    user = create(client, auth)
    response = patch(client, auth, user["id"], {"op": "replace", "value": {"active": False}})
    assert response.status_code == 200 and response.get_json()["active"] is False
    kept = client.get(f"/scim/v2/Users/{user['id']}", headers=auth).get_json()
    assert kept["active"] is False and kept["emails"] == user["emails"] and kept["name"] == user["name"]
    found = client.get('/scim/v2/Users?filter=userName eq "test.user@okta.local"', headers=auth).get_json()
    assert found["totalResults"] == 1 and found["Resources"][0]["active"] is False
    response = patch(client, auth, user["id"], {"op": "replace", "value": {"active": True}})
    assert response.get_json()["active"] is True


def test_entra_patches_with_string_booleans_filters_and_urn_keys(client: FlaskClient, auth: dict) -> None:
    user = create(client, auth)
    response = patch(
        client, auth, user["id"],
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updated@example.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
        {"op": "replace", "value": {"displayName": "Bjfe", "name.givenName": "Kkom",
                                    f"{ENTERPRISE}:employeeNumber": "Aklq"}},
        {"op": "Replace", "path": "active", "value": "False"},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["emails"][0]["value"] == "updated@example.com"
    assert body["name"] == {"givenName": "Kkom", "familyName": "updatedFamilyName"}
    assert body["phoneNumbers"] == [{"type": "mobile", "value": "+1 555 0100"}]
    assert body[ENTERPRISE] == {"employeeNumber": "Aklq"} and body["displayName"] == "Bjfe"
    assert body["active"] is False


def test_entra_manager_set_and_cleared(client: FlaskClient, auth: dict) -> None:
    user = create(client, auth)
    manager = create(client, auth, userName="boss@x")
    path = f"{ENTERPRISE}:manager"
    body = patch(client, auth, user["id"], {"op": "add", "path": path, "value": manager["id"]}).get_json()
    assert body[ENTERPRISE]["manager"]["value"] == manager["id"]
    body = patch(client, auth, user["id"], {"op": "replace", "path": path, "value": ""}).get_json()
    assert ENTERPRISE not in body or "manager" not in body[ENTERPRISE]


def test_a_patch_with_a_bad_operation_changes_nothing(client: FlaskClient, auth: dict) -> None:
    user = create(client, auth)
    response = patch(client, auth, user["id"], {"op": "replace", "path": "displayName", "value": "New"},
                     {"op": "frobnicate", "path": "title", "value": "x"})
    assert_scim_error(response, 400)
    assert client.get(f"/scim/v2/Users/{user['id']}", headers=auth).get_json() == user


def test_a_patch_on_a_read_only_attribute_is_a_mutability_error(client: FlaskClient, auth: dict) -> None:
    user = create(client, auth)
    assert_scim_error(patch(client, auth, user["id"], {"op": "replace", "path": "id", "value": "x"}), 400,
                      "mutability")


def test_a_rename_to_a_taken_user_name_is_409_and_changes_nothing(client: FlaskClient, auth: dict) -> None:
    user = create(client, auth)
    create(client, auth, userName="other@x")
    response = patch(client, auth, user["id"], {"op": "replace", "path": "userName", "value": "OTHER@x"})
    assert_scim_error(response, 409, "uniqueness")
    assert client.get(f"/scim/v2/Users/{user['id']}", headers=auth).get_json()["userName"] == user["userName"]


def test_patch_honours_attributes_in_the_response(client: FlaskClient, auth: dict) -> None:
    user = create(client, auth)
    response = patch(client, auth, user["id"], {"op": "replace", "value": {"active": False}},
                     query_string={"attributes": "active"})
    assert set(response.get_json()) == {"schemas", "id", "active"}


def test_etags_if_match_and_if_none_match(client: FlaskClient, auth: dict) -> None:
    user = create(client, auth)
    url, version = f"/scim/v2/Users/{user['id']}", user["meta"]["version"]
    assert client.get(url, headers={**auth, "If-None-Match": version}).status_code == 304
    assert client.get(url, headers={**auth, "If-None-Match": 'W/"999"'}).status_code == 200
    stale = {**auth, "If-Match": 'W/"999"'}
    assert_scim_error(patch(client, stale, user["id"], {"op": "replace", "value": {"active": False}}), 412)
    assert_scim_error(client.put(url, headers=stale, json=OKTA_CREATE), 412)
    assert_scim_error(client.delete(url, headers=stale), 412)
    fresh = {**auth, "If-Match": version}
    assert patch(client, fresh, user["id"], {"op": "replace", "value": {"active": False}}).status_code == 200
    assert client.get(url, headers=auth).get_json()["active"] is False


def test_delete_is_204_then_404(client: FlaskClient, auth: dict) -> None:
    user = create(client, auth)
    assert client.delete(f"/scim/v2/Users/{user['id']}", headers=auth).status_code == 204
    assert_scim_error(client.get(f"/scim/v2/Users/{user['id']}", headers=auth), 404)
    assert_scim_error(client.delete(f"/scim/v2/Users/{user['id']}", headers=auth), 404)


def test_okta_test_api_credentials_on_an_empty_tenant(client: FlaskClient, auth: dict) -> None:
    body = client.get("/scim/v2/Users?startIndex=1&count=2", headers=auth).get_json()
    assert body == {"schemas": [LIST_URN], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []}
    assert client.get("/scim/v2/Groups?startIndex=1&count=100", headers=auth).status_code == 200


def test_okta_lookups_by_user_name_any_case_and_external_id(client: FlaskClient, auth: dict) -> None:
    user = create(client, auth)
    for query in ('userName eq "TEST.USER@OKTA.LOCAL"', 'externalId eq "00ujl29u0le5T6Aj10h7"'):
        body = client.get("/scim/v2/Users", headers=auth, query_string={"filter": query, "startIndex": 1,
                                                                         "count": 100}).get_json()
        assert body["totalResults"] == 1 and body["Resources"][0]["id"] == user["id"]
    none = client.get('/scim/v2/Users?filter=externalId eq "00UJL29U0LE5T6AJ10H7"', headers=auth).get_json()
    assert none["totalResults"] == 0  # externalId is caseExact


def test_okta_import_pages_through_every_user_once(client: FlaskClient, auth: dict) -> None:
    ids = {create(client, auth, userName=f"user{i}@x", externalId=f"e{i}")["id"] for i in range(7)}
    seen: list[str] = []
    start = 1
    while True:
        page = client.get(f"/scim/v2/Users?startIndex={start}&count=3", headers=auth).get_json()
        assert page["totalResults"] == 7 and page["startIndex"] == start
        seen += [user["id"] for user in page["Resources"]]
        start += page["itemsPerPage"]
        if start > page["totalResults"]:
            break
    assert sorted(seen) == sorted(ids)


def test_list_projection(client: FlaskClient, auth: dict) -> None:
    create(client, auth)
    body = client.get("/scim/v2/Users?attributes=userName", headers=auth).get_json()
    assert set(body["Resources"][0]) == {"schemas", "id", "userName"}
    body = client.get("/scim/v2/Users?excludedAttributes=emails,name", headers=auth).get_json()
    assert "emails" not in body["Resources"][0] and "userName" in body["Resources"][0]


def test_cursor_pagination_walks_every_user_once(client: FlaskClient, auth: dict) -> None:
    """RFC 9865: an empty cursor asks for the first page; nextCursor leads on until it is absent."""
    ids = {create(client, auth, userName=f"cursor{i}@x")["id"] for i in range(7)}
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        page = client.get("/scim/v2/Users", headers=auth, query_string={"cursor": cursor, "count": 3}).get_json()
        assert page["totalResults"] == 7 and "startIndex" not in page
        seen += [user["id"] for user in page["Resources"]]
        if "nextCursor" not in page:
            break
        cursor = page["nextCursor"]
    assert sorted(seen) == sorted(ids)


def test_sorting_by_user_name_descending(client: FlaskClient, auth: dict) -> None:
    for name in ("b@x", "C@x", "a@x"):
        create(client, auth, userName=name)
    page = client.get("/scim/v2/Users?sortBy=userName&sortOrder=descending", headers=auth).get_json()
    assert [user["userName"] for user in page["Resources"]] == ["C@x", "b@x", "a@x"]


def test_post_search_uses_the_same_engine(client: FlaskClient, auth: dict) -> None:
    create(client, auth)
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'emails[type eq "work" and value co "@okta.local"]', "attributes": ["userName"]}
    page = client.post("/scim/v2/Users/.search", headers=auth, json=body).get_json()
    assert page["totalResults"] == 1 and set(page["Resources"][0]) == {"schemas", "id", "userName"}


def test_a_bad_filter_is_400_invalid_filter(client: FlaskClient, auth: dict) -> None:
    for query in ('userName zz "x"', 'nosuch eq "x"', 'active gt "x"', "userName eq"):
        assert_scim_error(client.get("/scim/v2/Users", headers=auth, query_string={"filter": query}), 400,
                          "invalidFilter")


def test_the_root_search_spans_users_and_groups(client: FlaskClient, auth: dict) -> None:
    """RFC 7644 §3.4.3: a filter an attribute of which a type lacks simply matches none of that type."""
    create(client, auth)
    client.post("/scim/v2/Groups", headers=auth, json={"displayName": "Engineering"})
    search = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}
    everything = client.post("/scim/v2/.search", headers=auth, json=search).get_json()
    assert everything["totalResults"] == 2
    assert {r["meta"]["resourceType"] for r in everything["Resources"]} == {"User", "Group"}
    second = client.post("/scim/v2/.search", headers=auth, json={**search, "startIndex": 2, "count": 1}).get_json()
    assert second["totalResults"] == 2 and second["Resources"][0]["meta"]["resourceType"] == "Group"
    users = client.post("/scim/v2/.search", headers=auth, json={**search, "filter": 'userName sw "test"'}).get_json()
    assert users["totalResults"] == 1 and users["Resources"][0]["meta"]["resourceType"] == "User"


def write_in_between(app: Flask, monkeypatch: pytest.MonkeyPatch, user_id: str, operation: dict) -> None:
    """Once, right after the request's first read of the user (its snapshot, before its UPDATE), commit `operation`
    on the user from a real second writer."""
    from scim.patch import compile_patch
    from scim.schemas import USER
    from storage import events, users

    engine = app.extensions["scim.engine"]
    with engine.connect() as connection:
        tenant_id = connection.execute(select(User.tenant_id)).scalar_one()
    original, done = users.get, []

    def hooked(*args, **kwargs):
        found = original(*args, **kwargs)
        if not done:
            done.append(True)
            with engine.connect() as other:
                operations = compile_patch({"schemas": [PATCH_URN], "Operations": [operation]}, USER)
                users.patch(other, tenant_id, USER, user_id, operations, None,
                            events.Origin("PATCH", "/elsewhere", tenant_id))
                other.commit()
        return found

    monkeypatch.setattr(users, "get", hooked)


def test_a_patch_read_before_a_concurrent_write_is_done_again_on_the_new_version(
    app: Flask, client: FlaskClient, auth: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user PATCH reads and patches outside the write lock; a write committed in between (here by a real second
    writer, between the read and the UPDATE) is not lost: the PATCH is done again on the new version, once."""
    from storage import events

    user = create(client, auth)
    write_in_between(app, monkeypatch, user["id"],
                     {"op": "replace", "path": "displayName", "value": "Renamed meanwhile"})
    response = patch(client, auth, user["id"], {"op": "replace", "value": {"active": False}})
    assert response.status_code == 200, response.get_json()
    body = client.get(f"/scim/v2/Users/{user['id']}", headers=auth).get_json()
    assert (body["displayName"], body["active"], body["meta"]["version"]) == ("Renamed meanwhile", False, 'W/"3"')
    assert response.get_json()["meta"]["version"] == 'W/"3"'
    with make_sessionmaker(app.extensions["scim.engine"])() as session:
        kinds = [event.kind for event, _tenant in events.read(session, limit=10)]
    assert kinds == ["user.created", "user.updated", "user.deactivated"]  # the write in between, then the PATCH


def test_a_put_read_before_a_concurrent_write_keeps_what_that_write_did_to_active(
    app: Flask, client: FlaskClient, auth: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Okta's PUT without `active` keeps the user's current value: the value committed between the PUT's read and
    its UPDATE, not the one it read."""
    user = create(client, auth)
    write_in_between(app, monkeypatch, user["id"], {"op": "replace", "value": {"active": False}})
    body = {key: value for key, value in OKTA_CREATE.items() if key not in ("active", "password")}
    response = client.put(f"/scim/v2/Users/{user['id']}", headers=auth, json={**body, "displayName": "Put"})
    assert response.status_code == 200, response.get_json()
    stored = client.get(f"/scim/v2/Users/{user['id']}", headers=auth).get_json()
    assert (stored["displayName"], stored["active"], stored["meta"]["version"]) == ("Put", False, 'W/"3"')
