"""Microsoft Entra ID, replayed: Test Connection, both PATCH dialects (default job and `?aadOptscim062020` on the
tenant URL), the Microsoft SCIM Validator's tests incl. the preview ones, and the Postman collection's oddities
(idp-behaviour §3)."""

from __future__ import annotations

import uuid

import pytest
from flask.testing import FlaskClient

from tests.interop.replay import ENTERPRISE, GROUP_URN, LIST_URN, USER_URN, Idp, assert_error, member_ids

MS_GROUP_URN = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


@pytest.fixture(params=["default", "aadOptscim062020"])
def entra(request: pytest.FixtureRequest, client: FlaskClient, token: str) -> Idp:
    """Both dialects: the admin may append `?aadOptscim062020` to the tenant URL (§3.1)."""
    base_query = "" if request.param == "default" else "aadOptscim062020"
    return Idp(client, token, base_query=base_query, **{"Content-Type": "application/scim+json"})


def entra_user(user_name: str, **changes) -> dict:
    """Entra's POST /Users (§3.3): client-sent `meta`, `roles: []`, a null manager."""
    return {
        "schemas": [USER_URN, ENTERPRISE],
        "externalId": str(uuid.uuid4()),
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": f"{user_name}@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        "manager": None,
        **changes,
    }


def validator_user(user_name: str, manager_id: str) -> dict:
    """The validator's full user (§3.6): roles with "primary": "True", a time zone, a work address, three phones
    and every enterprise attribute."""
    return {
        "schemas": [USER_URN, ENTERPRISE],
        "userName": user_name,
        "externalId": "dale.mohr",
        "active": True,
        "displayName": "Dale Mohr",
        "title": "Engineer",
        "preferredLanguage": "hu",
        "nickName": "Dale",
        "userType": "Member",
        "locale": "hu-HU",
        "timezone": "Asia/Hovd",
        "profileUrl": "https://example.com/dale",
        "name": {"givenName": "Dale", "familyName": "Mohr", "formatted": "Dale Mohr", "middleName": "Q",
                 "honorificPrefix": "Mr", "honorificSuffix": "Jr"},
        "emails": [{"type": "work", "value": f"{user_name}", "primary": True}],
        "addresses": [{"type": "work", "formatted": "1 Main St", "streetAddress": "1 Main St", "locality": "Town",
                       "region": "WA", "postalCode": "98000", "country": "US", "primary": False}],
        "phoneNumbers": [{"type": "work", "value": "+1 555 0100", "primary": True},
                         {"type": "mobile", "value": "+1 555 0101"}, {"type": "fax", "value": "+1 555 0102"}],
        "roles": [{"primary": "True", "display": "Admin", "value": "admin", "type": "WindowsAzureActiveDirectoryRole"}],
        ENTERPRISE: {"employeeNumber": "1", "costCenter": "CC", "organization": "Org", "division": "Div",
                     "department": "Dept", "manager": {"value": manager_id}},
    }


def test_test_connection_probes_answer_empty_lists(entra: Idp) -> None:
    """§3.2: a random GUID on the matching attribute, a group probe without members, and /Schemas."""
    probe = str(uuid.uuid4())
    empty = entra.get(f'/Users?filter=userName eq "{probe}"')
    assert empty["totalResults"] == 0 and empty["Resources"] == [] and empty["schemas"] == [LIST_URN]
    assert entra.find(f'/Groups?excludedAttributes=members&filter=displayName eq "{probe}"') == []
    assert entra.get("/Schemas")["schemas"] == [LIST_URN]


def test_user_lookups_on_every_matching_attribute_and_encoding(entra: Idp) -> None:
    """§3.3: userName (any case, '+' for spaces and raw quotes), externalId, emails[type eq "work"].value."""
    created = entra.post("/Users", entra_user("Dale.Mohr@romaguera.uk", externalId="jyoung"))
    assert created["userName"] == "Dale.Mohr@romaguera.uk" and ENTERPRISE not in created  # null manager dropped
    for query in ('userName eq "dale.mohr@romaguera.uk"', 'userName+eq+"dale.mohr%40romaguera.uk"',
                  'externalId eq "jyoung"', 'emails[type eq "work"].value eq "Dale.Mohr@romaguera.uk@testuser.com"'):
        assert [user["id"] for user in entra.find(f"/Users?filter={query}")] == [created["id"]], query
    assert entra.find('/Users?filter=externalId eq "JYOUNG"') == []  # externalId is caseExact
    assert_error(entra.post("/Users", entra_user("DALE.MOHR@romaguera.uk"), status=409), 409, "uniqueness")


def test_default_job_patches_with_string_booleans_and_one_op_per_path(entra: Idp) -> None:
    """§3.1 default column: `Replace`/`Add` in any case, "False" for active, filtered paths that create the
    element, a URN-qualified path, and a remove with a value on a scalar path."""
    user = entra.post("/Users", entra_user("ryan", emails=[]))
    path = f"/Users/{user['id']}"
    body = entra.patch(
        path,
        {"op": "Replace", "path": "displayName", "value": "Bjfe"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "ryan@work.x"},
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 (555) 0100"},
        {"op": "Add", "path": 'addresses[type eq "work"].formatted', "value": "1 Main St\nTown"},
        {"op": "Replace", "path": "name.givenName", "value": "Kkom"},
        {"op": "Replace", "path": "externalId", "value": "ryan-ext"},
        {"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "Aklq"},
        {"op": "Add", "path": "nickName", "value": "Babs"},
        {"op": "Replace", "path": "active", "value": "False"},
    )
    assert body["displayName"] == "Bjfe" and body["nickName"] == "Babs" and body["externalId"] == "ryan-ext"
    assert body["emails"] == [{"type": "work", "value": "ryan@work.x"}]
    assert body["phoneNumbers"] == [{"type": "mobile", "value": "+1 (555) 0100"}]  # stored exactly as sent
    assert body["addresses"] == [{"type": "work", "formatted": "1 Main St\nTown"}]
    assert body["name"]["givenName"] == "Kkom" and body[ENTERPRISE] == {"employeeNumber": "Aklq"}
    assert body["active"] is False
    body = entra.patch(path, {"op": "Remove", "path": 'emails[type eq "work"].value', "value": "ryan@work.x"})
    assert "emails" not in body
    assert entra.get(path) == body


def test_compliant_job_sends_one_no_path_op_with_dotted_and_urn_keys(entra: Idp) -> None:
    """§3.1 `aadOptscim062020` column: filtered paths stay separate, the rest is one no-path op."""
    user = entra.post("/Users", entra_user("kim"))
    body = entra.patch(
        f"/Users/{user['id']}",
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "kim@new.x"},
        {"op": "replace", "value": {"displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
                                    f"{ENTERPRISE}:employeeNumber": "Aklq", "active": False}},
        {"op": "add", "value": {"name.formatted": "Kkom Unua", "nickName": "K"}},
    )
    assert body["name"] == {"givenName": "Kkom", "familyName": "Unua", "formatted": "Kkom Unua"}
    assert body["emails"] == [{"primary": True, "type": "work", "value": "kim@new.x"}]
    assert body[ENTERPRISE] == {"employeeNumber": "Aklq"} and body["active"] is False and body["nickName"] == "K"


FILTERED_REPLACEMENTS = {
    'emails[type eq "work"].value': "new.work@x.com",
    'emails[type eq "work"].primary': True,
    'addresses[type eq "work"].formatted': "2 High St",
    'addresses[type eq "work"].streetAddress': "2 High St",
    'addresses[type eq "work"].locality': "City",
    'addresses[type eq "work"].region': "OR",
    'addresses[type eq "work"].postalCode': "97000",
    'addresses[type eq "work"].country': "CA",
    'addresses[type eq "work"].primary': True,
    'phoneNumbers[type eq "work"].value': "+1 555 0200",
    'phoneNumbers[type eq "mobile"].value': "+1 555 0201",
    'phoneNumbers[type eq "fax"].value': "+1 555 0202",
    'roles[primary eq "True"].display': "Owner",
    'roles[primary eq "True"].value': "owner",
    'roles[primary eq "True"].type': "AppRole",
}
PLAIN_REPLACEMENTS = {
    "active": False,
    "displayName": "Dale M",
    "title": "Lead",
    "preferredLanguage": "en",
    "name.givenName": "Dalia",
    "name.familyName": "Mohrs",
    "name.formatted": "Dalia Mohrs",
    "name.middleName": "R",
    "name.honorificPrefix": "Ms",
    "name.honorificSuffix": "Sr",
    f"{ENTERPRISE}:employeeNumber": "2",
    f"{ENTERPRISE}:costCenter": "CC2",
    f"{ENTERPRISE}:organization": "Org2",
    f"{ENTERPRISE}:division": "Div2",
    f"{ENTERPRISE}:department": "Dept2",
    "userType": "Guest",
    "nickName": "Dee",
    "locale": "en-US",
    "timezone": "Europe/Oslo",
    "profileUrl": "https://example.com/dalia",
}


def _value_at(user: dict, path: str):
    """The value a validator path points at, read from a returned user."""
    if path.startswith(ENTERPRISE):
        return user[ENTERPRISE][path[len(ENTERPRISE) + 1:]]
    if "[" in path:
        attribute, rest = path.split("[", 1)
        condition, sub = rest.split("].")
        key, _eq, wanted = condition.split(" ")
        wanted = wanted.strip('"')
        element = next(item for item in user[attribute] if str(item.get(key)).lower() == wanted.lower())
        return element[sub]
    value = user
    for part in path.split("."):
        value = value[part]
    return value


@pytest.mark.parametrize("verbose", [True, False], ids=["one-op-per-attribute", "one-no-path-op"])
def test_validator_patch_user_replace_attributes_verbose(entra: Idp, verbose: bool) -> None:
    """§3.6 "Patch User - Replace Attributes Verbose": ~36 replace ops, then GET shows every value."""
    manager = entra.post("/Users", entra_user("manager"))
    user = entra.post("/Users", validator_user("dale@romaguera.uk", manager["id"]))
    assert user["roles"][0]["primary"] is True  # "True" on input, a boolean on output
    operations = [{"op": "replace", "path": path, "value": value} for path, value in FILTERED_REPLACEMENTS.items()]
    if verbose:
        operations += [{"op": "replace", "path": path, "value": value} for path, value in PLAIN_REPLACEMENTS.items()]
    else:
        operations.append({"op": "replace", "value": PLAIN_REPLACEMENTS})
    assert len(operations) == (35 if verbose else 16)
    returned = entra.patch(f"/Users/{user['id']}", *operations)
    fetched = entra.get(f"/Users/{user['id']}")
    assert returned == fetched
    for path, value in {**FILTERED_REPLACEMENTS, **PLAIN_REPLACEMENTS}.items():
        assert _value_at(fetched, path) == value, path
    assert fetched[ENTERPRISE]["manager"]["value"] == manager["id"]
    assert [phone["primary"] for phone in fetched["phoneNumbers"] if "primary" in phone] == [True]
    assert len(fetched["emails"]) == len(fetched["addresses"]) == len(fetched["roles"]) == 1


def test_validator_user_tests(entra: Idp) -> None:
    """§3.6: create then find, duplicate, filters (existing, missing, other case), update userName, disable then
    a filtered GET shows active false, delete then 404."""
    user = entra.post("/Users", entra_user("Test_User_00aa00aa"))
    assert [found["id"] for found in entra.find('/Users?filter=userName eq "Test_User_00aa00aa"')] == [user["id"]]
    assert_error(entra.post("/Users", entra_user("Test_User_00aa00aa"), status=409), 409, "uniqueness")
    assert entra.find('/Users?filter=userName eq "Test_User_missing"') == []
    assert len(entra.find('/Users?filter=userName eq "TEST_USER_00AA00AA"')) == 1
    renamed = entra.patch(f"/Users/{user['id']}", {"op": "replace", "path": "userName", "value": "5b50642d@x.com"})
    assert renamed["userName"] == "5b50642d@x.com"
    disabled = entra.patch(f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": False})
    assert disabled["active"] is False
    assert [found["active"] for found in entra.find('/Users?filter=userName eq "5b50642d@x.com"')] == [False]
    entra.delete(f"/Users/{user['id']}")
    assert_error(entra.get(f"/Users/{user['id']}", status=404), 404)


@pytest.mark.parametrize(
    "set_manager",
    [
        lambda manager_id: {"op": "add", "path": f"{ENTERPRISE}:manager", "value": manager_id},
        lambda manager_id: {"op": "Add", "path": "manager",
                            "value": [{"$ref": f"http://x/Users/{manager_id}", "value": manager_id}]},
        lambda manager_id: {"op": "replace", "path": f"{ENTERPRISE}:manager", "value": {"value": manager_id}},
    ],
    ids=["validator-raw-id", "doc-example-list", "object"],
)
@pytest.mark.parametrize(
    "clear_manager",
    [
        lambda manager_id: {"op": "replace", "path": f"{ENTERPRISE}:manager", "value": ""},
        lambda manager_id: {"op": "replace", "path": f"{ENTERPRISE}:manager", "value": {"value": ""}},
        lambda manager_id: {"op": "remove", "path": f'manager[value eq "{manager_id}"]'},
        lambda manager_id: {"op": "Remove", "path": f"{ENTERPRISE}:manager"},
    ],
    ids=["empty-string", "empty-value", "filter-on-single-valued", "remove"],
)
def test_manager_is_set_and_cleared_the_ways_entra_does_it(entra: Idp, set_manager, clear_manager) -> None:
    """§3.3: the value shapes Entra sends; stored and returned as an object with `value` (the RFC form)."""
    manager = entra.post("/Users", entra_user("boss"))
    user = entra.post("/Users", entra_user("report", **{ENTERPRISE: {"department": "R&D"}}))
    path = f"/Users/{user['id']}"
    body = entra.patch(path, set_manager(manager["id"]))
    assert body[ENTERPRISE]["manager"]["value"] == manager["id"]
    body = entra.patch(path, clear_manager(manager["id"]))
    assert body[ENTERPRISE] == {"department": "R&D"}
    assert entra.get(path) == body


def test_the_older_reference_check_filters_on_id_and_manager(entra: Idp) -> None:
    """§3.3 (older docs): `id eq "…" and manager eq "…"` with `attributes=id`; `manager` compares its value."""
    manager = entra.post("/Users", entra_user("boss"))
    user = entra.post("/Users", entra_user("report", **{ENTERPRISE: {"manager": manager["id"]}}))
    query = f'id eq "{user["id"]}" and manager eq "{manager["id"]}"'
    assert entra.find(f"/Users?filter={query}&attributes=id") == [{"schemas": [USER_URN], "id": user["id"]}]
    assert entra.find(f'/Users?filter=id eq "{user["id"]}" and manager eq "{user["id"]}"&attributes=id') == []


def test_validator_group_tests(entra: Idp) -> None:
    """§3.4, §3.6: create with Microsoft's schema URN, duplicate, lookups without members, rename, attribute
    replace, add and remove members in both dialects, then delete and 404."""
    ann, bob = (entra.post("/Users", entra_user(name))["id"] for name in ("ann", "bob"))
    group = entra.post("/Groups", {"schemas": [GROUP_URN, MS_GROUP_URN], "externalId": "8aa1a0c0",
                                   "displayName": "displayName", "meta": {"resourceType": "Group"}})
    assert group["id"] and group["externalId"] == "8aa1a0c0" and group["schemas"] == [GROUP_URN]
    path = f"/Groups/{group['id']}"
    assert_error(entra.post("/Groups", {"schemas": [GROUP_URN], "displayName": "DISPLAYNAME"}, status=409), 409,
                 "uniqueness")
    entra.patch(path, {"op": "Add", "path": "members", "value": [{"$ref": None, "value": ann},
                                                                 {"$ref": None, "value": bob}]})
    assert "members" not in entra.get(f"{path}?excludedAttributes=members")
    for query in ('displayName eq "displayName"', 'displayName eq "DISPLAYNAME"'):
        found = entra.find(f"/Groups?excludedAttributes=members&filter={query}")
        assert [(item["id"], "members" in item) for item in found] == [(group["id"], False)]
    assert entra.find('/Groups?filter=displayName eq "nothing"') == []

    entra.patch(path, {"op": "replace", "value": {"externalId": "new-external"}})
    entra.patch(path, {"op": "replace", "value": {"displayName": "renamed"}})
    entra.patch(path, {"op": "Replace", "path": "displayName", "value": "renamed again"})
    current = entra.get(path)
    assert (current["externalId"], current["displayName"]) == ("new-external", "renamed again")
    entra.patch(path, {"op": "Remove", "path": "members", "value": [{"value": ann}]})
    assert member_ids(entra.get(path)) == [bob]
    entra.patch(path, {"op": "remove", "path": f'members[value eq "{bob}"]'})
    assert "members" not in entra.get(path)
    entra.patch(path, {"op": "replace", "path": "members", "value": [{"value": ann}]})
    assert member_ids(entra.get(path)) == [ann]
    entra.delete(path)
    assert_error(entra.get(path, status=404), 404)


def test_validator_preview_tests(entra: Idp) -> None:
    """§3.6 preview: several ops on different attributes and on the same one, add and remove of the same member
    in one request, deleting what does not exist, deleting twice."""
    user = entra.post("/Users", entra_user("preview"))
    body = entra.patch(f"/Users/{user['id']}", {"op": "replace", "path": "displayName", "value": "One"},
                       {"op": "replace", "path": "title", "value": "Two"})
    assert (body["displayName"], body["title"]) == ("One", "Two")
    body = entra.patch(f"/Users/{user['id']}", {"op": "replace", "path": "displayName", "value": "First"},
                       {"op": "replace", "path": "displayName", "value": "Last"})
    assert body["displayName"] == "Last"
    group = entra.post("/Groups", {"schemas": [GROUP_URN], "displayName": "preview"})
    entra.patch(f"/Groups/{group['id']}", {"op": "add", "path": "members", "value": [{"value": user["id"]}]},
                {"op": "remove", "path": "members", "value": [{"value": user["id"]}]})
    assert "members" not in entra.get(f"/Groups/{group['id']}")
    missing = str(uuid.uuid4())
    assert_error(entra.delete(f"/Users/{missing}", status=404), 404)
    assert_error(entra.delete(f"/Groups/{missing}", status=404), 404)
    for path in (f"/Users/{user['id']}", f"/Groups/{group['id']}"):
        entra.delete(path)
        assert_error(entra.delete(path, status=404), 404)


def test_removing_members_without_a_value_empties_the_group(entra: Idp) -> None:
    """§3.4, RFC 7644 §3.5.2.2: `remove members` without value or filter removes all (Postman "remove all")."""
    ids = [entra.post("/Users", entra_user(f"user{index}"))["id"] for index in range(3)]
    group = entra.post("/Groups", {"schemas": [GROUP_URN], "displayName": "all",
                                   "members": [{"value": member} for member in ids]})
    assert member_ids(group) == sorted(ids)
    entra.patch(f"/Groups/{group['id']}", {"op": "remove", "path": "members"})
    assert "members" not in entra.get(f"/Groups/{group['id']}")
    assert len(entra.find("/Users")) == 3


def test_an_empty_operations_list_and_an_add_on_a_missing_email(entra: Idp) -> None:
    """§3.6 known variants: `"Operations": []` is a no-op 200; "Patch User - Add Attributes" on a user without
    emails creates the work email (SCIM-SDK #416)."""
    user = entra.post("/Users", entra_user("bare", emails=[]))
    assert entra.patch(f"/Users/{user['id']}") == user
    body = entra.patch(f"/Users/{user['id']}", {"op": "add", "path": 'emails[type eq "work"].value', "value": "a@x"})
    assert body["emails"] == [{"type": "work", "value": "a@x"}]


def test_the_postman_collections_oddities(entra: Idp, client: FlaskClient, auth: dict) -> None:
    """§3.6 (AzureAD/SCIMReferenceCode): odd-case names, "True" for active, missing userName, broken JSON,
    unknown attributes in a PUT."""
    user = entra.post("/Users", {"schemas": [USER_URN], "UserName": "emp1", "Active": "True",
                                 "Emails": [{"Primary": "true", "Value": "emp1@x", "Type": "work"}]})
    assert user["userName"] == "emp1" and user["active"] is True and user["emails"][0]["primary"] is True
    group = entra.post("/Groups", {"schemas": [GROUP_URN], "DisplayName": "Odd"})
    assert [found["id"] for found in entra.find('/Groups?filter=DisplayName eq "odd"')] == [group["id"]]
    assert_error(entra.post("/Users", {"schemas": [USER_URN], "active": True}, status=400), 400, "invalidValue")
    broken = client.post(entra.url("/Users"), headers=auth, data='{"schemas": [')
    assert broken.status_code == 400 and broken.get_json()["scimType"] == "invalidSyntax"
    replaced = entra.put(f"/Users/{user['id']}", {"schemas": [USER_URN], "userName": "emp1", "shoeSize": 44})
    assert "shoeSize" not in replaced and replaced["active"] is True
