"""Inbound resource bodies (RFC 7643, RFC 7644 §3.3/§3.5.1) → the stored document."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

from scim.errors import InvalidSyntax, InvalidValue
from scim.payloads import coerce_value, parse_resource
from scim.schemas import (
    DEFAULT_REGISTRY,
    ENTERPRISE_USER_URN,
    GROUP,
    GROUP_URN,
    USER,
    USER_URN,
    ResourceType,
    Schema,
)
from tests.strategies import documents

EXT = ENTERPRISE_USER_URN
TEST_URN = "urn:example:params:scim:schemas:extension:test:2.0:User"
TEST_SCHEMA = Schema.from_dict(
    {
        "id": TEST_URN,
        "name": "Test",
        "attributes": [
            {"name": "count", "type": "integer"},
            {"name": "score", "type": "decimal"},
            {"name": "flag", "type": "boolean"},
            {"name": "blob", "type": "binary"},
            {"name": "since", "type": "dateTime"},
            {"name": "tags", "type": "string", "multiValued": True},
            {"name": "badge", "type": "complex", "subAttributes": [{"name": "label", "type": "string"}]},
        ],
    }
)
TENANT_USER = DEFAULT_REGISTRY.with_extensions([("User", TEST_SCHEMA)]).by_name("User")


def document(body: dict[str, Any], resource_type: ResourceType = USER) -> dict[str, Any]:
    return parse_resource(body, resource_type).document


# -- names, unknown and read-only attributes ---------------------------------------------------------


def test_attribute_names_match_case_insensitively_and_are_stored_in_the_schemas_spelling():
    """RFC 7643 §2.1: attribute names are case-insensitive (Microsoft's Postman collection sends `Primary`)."""
    body = {
        "UserName": "ann",
        "NAME": {"givenname": "Ann", "FamilyName": "Lee"},
        "emails": [{"Value": "ann@x", "TYPE": "work", "Primary": True}],
        EXT.upper(): {"Department": "R&D"},
    }
    assert document(body) == {
        "userName": "ann",
        "name": {"givenName": "Ann", "familyName": "Lee"},
        "emails": [{"value": "ann@x", "type": "work", "primary": True}],
        EXT: {"department": "R&D"},
    }


def test_unknown_attributes_and_unknown_schema_urns_are_ignored():
    """An unknown attribute is never an error (Azure Postman: dropped, 200); Entra adds its own schema URN."""
    body = {
        "schemas": [GROUP_URN, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "displayName": "g",
        "colour": "blue",
        "urn:example:unknown:2.0:Group": {"x": 1},
        "urn:example:unknown:2.0:Group:y": 2,
    }
    assert document(body, GROUP) == {"displayName": "g"}


def test_read_only_attributes_are_ignored():
    """Okta copies back what GET returned: `id`, `meta`, `groups`; readOnly sub-attributes are dropped too."""
    body = {
        "id": "client-id",
        "meta": {"resourceType": "User", "created": "2020-01-01T00:00:00Z"},
        "userName": "ann",
        "groups": [{"value": "g1", "display": "G"}],
        EXT: {"manager": {"value": "m1", "displayName": "Boss"}},
    }
    assert document(body) == {"userName": "ann", EXT: {"manager": {"value": "m1"}}}


def test_schemas_is_not_stored():
    body = {"schemas": [USER_URN, EXT], "userName": "ann"}
    assert document(body) == {"userName": "ann"}


# -- unassigned values --------------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [None, "", [], {}])
def test_null_empty_string_list_and_object_are_unassigned_and_dropped(empty: Any):
    """RFC 7643 §2.5: null and empty values are "unassigned" (Entra sends `roles: []`, `manager: null`)."""
    body = {"userName": "ann", "nickName": empty, "roles": empty, "name": empty, "manager": empty, EXT: empty}
    assert document(body) == {"userName": "ann"}


def test_objects_and_elements_left_empty_are_dropped():
    body = {"userName": "ann", "name": {"givenName": ""}, "emails": [{"value": None}, {"value": "a@x"}]}
    assert document(body) == {"userName": "ann", "emails": [{"value": "a@x"}]}


# -- types ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "stored"), [(True, True), ("True", True), ("FALSE", False), ("false", False)])
def test_booleans_accept_json_booleans_and_true_false_strings_in_any_case(given: Any, stored: bool):
    """Entra's default job sends "True"/"False"; Azure Postman "Post emp1 with string True"."""
    assert document({"userName": "ann", "active": given})["active"] is stored


@pytest.mark.parametrize(
    ("body", "attribute"),
    [
        ({"userName": 5}, "userName"),
        ({"userName": "ann", "active": "yes"}, "active"),
        ({"userName": "ann", "active": 1}, "active"),
        ({"userName": "ann", "name": "Ann"}, "name"),
        ({"userName": "ann", "name": {"givenName": 3}}, "name.givenName"),
        ({"userName": "ann", "emails": [{"value": "a@x"}, {"value": ["b@x"]}]}, "emails[1].value"),
        ({"userName": "ann", "emails": ["a@x"]}, "emails[0]"),
        ({"userName": "ann", "emails": [{"primary": "yes", "value": "a"}]}, "emails[0].primary"),
        ({"userName": "ann", EXT: "R&D"}, EXT),
        ({"userName": "ann", EXT: {"manager": {"value": 7}}}, f"{EXT}:manager.value"),
        ({"userName": "ann", f"{EXT}:department": ["R&D"]}, f"{EXT}:department"),
    ],
)
def test_a_value_of_the_wrong_type_is_invalid_value_naming_the_attribute(body: dict[str, Any], attribute: str):
    with pytest.raises(InvalidValue) as raised:
        document(body)
    assert f"'{attribute}'" in raised.value.detail


@pytest.mark.parametrize(
    ("attribute", "good", "bad"),
    [
        ("count", 3, [True, 1.5, "3"]),
        ("score", 1.5, [False, "1.5", float("nan"), float("inf"), float("-inf")]),
        ("score", 2, []),
        ("flag", False, ["no", 0]),
        ("blob", "AAEC", [b"x", 1, "AAE", "AAEC=", "A A=", "not base64", "ÀÀÀÀ"]),
        ("blob", "AA==", []),
        ("since", "2024-02-29T12:00:00.500000Z", ["2023-02-29T12:00:00Z", "yesterday", "2024-01-01", 1,
                                                  "2024-01-01T00:00:00", "0001-01-01T00:00:00+14:00",
                                                  "9999-12-31T23:59:59-14:00"]),
        ("since", "0001-01-01T00:00:00Z", []),
    ],
)
def test_each_rfc_7643_data_type_is_checked(attribute: str, good: Any, bad: list[Any]):
    """RFC 7643 §2.3: integer, decimal (finite), boolean, binary (base64), dateTime (RFC 3339 in years 1 to 9999
    UTC)."""
    assert document({"userName": "ann", TEST_URN: {attribute: good}}, TENANT_USER) == {
        "userName": "ann",
        TEST_URN: {attribute: good},
    }
    for value in bad:
        with pytest.raises(InvalidValue, match=attribute):
            document({"userName": "ann", TEST_URN: {attribute: value}}, TENANT_USER)


@pytest.mark.parametrize(("given", "stored"), [
    ("2024-02-29T12:00:00.5+01:00", "2024-02-29T11:00:00.500000Z"),
    ("2024-01-01t00:00:00z", "2024-01-01T00:00:00Z"),
    ("0001-01-01T00:00:00-14:00", "0001-01-01T14:00:00Z"),
    ("9999-12-31T23:59:59+23:59", "9999-12-31T00:00:59Z"),
])
def test_a_datetime_is_stored_as_its_utc_instant(given: str, stored: str):
    """One form for every stored dateTime, whatever offset it came with: it compares and sorts alike everywhere."""
    assert document({"userName": "ann", TEST_URN: {"since": given}}, TENANT_USER)[TEST_URN] == {"since": stored}


def test_a_single_object_for_a_multi_valued_attribute_is_a_one_element_list():
    assert document({"userName": "ann", "emails": {"value": "a@x"}})["emails"] == [{"value": "a@x"}]


@pytest.mark.parametrize("manager", ["m1", {"value": "m1"}, [{"value": "m1"}]])
def test_the_enterprise_manager_may_be_an_id_string_an_object_or_a_one_element_list(manager: Any):
    """Entra sends the manager as a bare id; Microsoft's PATCH example wraps it in a list."""
    assert document({"userName": "ann", EXT: {"manager": manager}})[EXT] == {"manager": {"value": "m1"}}


def test_of_several_primary_values_the_first_stays_primary():
    """RFC 7643 §2.4: at most one value is primary; the server may clear the others. Order is kept."""
    emails = [{"value": "a", "primary": True}, {"value": "b"}, {"value": "c", "primary": "True"}]
    assert document({"userName": "ann", "emails": emails})["emails"] == [
        {"value": "a", "primary": True},
        {"value": "b"},
        {"value": "c", "primary": False},
    ]


# -- required, extensions, password, members ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "resource_type"),
    [({"name": {"givenName": "A"}}, USER), ({"userName": ""}, USER), ({"userName": None}, USER), ({}, GROUP)],
)
def test_a_missing_required_attribute_is_invalid_value(body: dict[str, Any], resource_type: ResourceType):
    """userName (RFC 7643 §4.1.1) and a group's displayName (§4.2) are required; Azure Postman expects 400."""
    with pytest.raises(InvalidValue, match="required"):
        document(body, resource_type)


REQUIRED_URN = "urn:example:params:scim:schemas:extension:required:2.0:User"
REQUIRED_USER = DEFAULT_REGISTRY.with_extensions([("User", Schema.from_dict({
    "id": REQUIRED_URN,
    "name": "Required",
    "attributes": [
        {"name": "costCenter", "type": "string", "required": True},
        {"name": "badges", "type": "complex", "multiValued": True, "subAttributes": [
            {"name": "label", "type": "string", "required": True}, {"name": "level", "type": "integer"}]},
    ],
}))]).by_name("User")


@pytest.mark.parametrize(
    ("extension", "attribute"),
    [
        ({"badges": [{"label": "a"}]}, f"{REQUIRED_URN}:costCenter"),
        ({"costCenter": "", "badges": [{"label": "a"}]}, f"{REQUIRED_URN}:costCenter"),
        ({"costCenter": "c", "badges": [{"label": "a"}, {"level": 2}]}, f"{REQUIRED_URN}:badges[1].label"),
    ],
)
def test_required_attributes_of_an_extension_and_its_complex_values_are_checked(
    extension: dict[str, Any], attribute: str
):
    """A tenant's schema may make attributes and sub-attributes required (RFC 7643 §7): each level is checked."""
    with pytest.raises(InvalidValue) as raised:
        document({"userName": "ann", REQUIRED_URN: extension}, REQUIRED_USER)
    assert raised.value.detail == f"Attribute '{attribute}' is required."
    given = {"costCenter": "c", "badges": [{"LABEL": "a", "level": 2}]}
    assert document({"userName": "ann", REQUIRED_URN: given}, REQUIRED_USER)[REQUIRED_URN] == {
        "costCenter": "c", "badges": [{"label": "a", "level": 2}]}


def test_extension_attributes_may_be_nested_under_the_urn_or_urn_qualified_at_the_top_level():
    """RFC 7644 §3.10: `urn:…:enterprise:2.0:User:department` names the extension attribute; both forms merge."""
    body = {
        "urn:ietf:params:scim:schemas:core:2.0:User:userName": "ann",
        EXT: {"department": "R&D"},
        f"{EXT.lower()}:EmployeeNumber": "42",
        f"{EXT}:manager": "m1",
    }
    assert document(body) == {
        "userName": "ann",
        EXT: {"department": "R&D", "employeeNumber": "42", "manager": {"value": "m1"}},
    }


def test_the_password_is_returned_apart_and_never_stored_in_the_document():
    """`password` is writeOnly (RFC 7643 §4.1.1): Okta sends a placeholder even without password sync."""
    parsed = parse_resource({"userName": "ann", "password": "1mz050nq"}, USER)
    assert parsed.password == "1mz050nq"
    assert parsed.document == {"userName": "ann"}
    assert parse_resource({"userName": "ann"}, USER).password is None
    with pytest.raises(InvalidValue, match="password"):
        parse_resource({"userName": "ann", "password": 12345678}, USER)


def test_active_given_tells_whether_the_body_set_active():
    """Okta's PUT may omit `active`; then it stays unchanged."""
    assert parse_resource({"userName": "ann", "active": False}, USER).active_given
    assert not parse_resource({"userName": "ann"}, USER).active_given


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ([], []),
        (None, []),
        ([{"value": "u1", "display": "ann@x"}], [{"value": "u1"}]),
        (
            [{"value": "u1", "$ref": None, "type": "User"}, {"VALUE": "u2"}],
            [{"value": "u1", "type": "User"}, {"value": "u2"}],
        ),
        ({"value": "u1"}, [{"value": "u1"}]),
    ],
)
def test_group_members_are_returned_apart_normalised_to_value_and_type(members: Any, expected: list[dict[str, str]]):
    """Members live in their own table: the document never holds them (Okta sends `display`, no `type`)."""
    parsed = parse_resource({"displayName": "g", "members": members}, GROUP)
    assert parsed.members == expected
    assert parsed.document == {"displayName": "g"}


def test_members_is_none_when_the_body_has_no_members_key():
    """Entra creates groups without members and adds them by PATCH; a PUT without members leaves them alone."""
    assert parse_resource({"displayName": "g"}, GROUP).members is None


@pytest.mark.parametrize("members", [["u1"], [{"display": "ann"}], [{"value": 5}]])
def test_every_member_needs_a_string_value(members: Any):
    with pytest.raises(InvalidValue, match="members"):
        parse_resource({"displayName": "g", "members": members}, GROUP)


@pytest.mark.parametrize("body", [[], "x", None, 3])
def test_a_body_that_is_not_an_object_is_invalid_syntax(body: Any):
    with pytest.raises(InvalidSyntax):
        parse_resource(body, USER)


@pytest.mark.parametrize("schemas", ["urn:ietf:params:scim:schemas:core:2.0:User", [USER_URN, 3], {"a": 1}])
def test_schemas_must_be_a_list_of_strings(schemas: Any):
    with pytest.raises(InvalidSyntax, match="schemas"):
        parse_resource({"schemas": schemas, "userName": "ann"}, USER)


def test_okta_create_user_body():
    """idp-behaviour §1.5: Okta's POST /Users, with `groups: []` and a placeholder password."""
    body = {
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
    parsed = parse_resource(body, USER)
    expected = {key: value for key, value in body.items() if key not in ("schemas", "groups", "password")}
    assert parsed.document == expected
    assert parsed.password == "1mz050nq"


def test_entra_create_user_body():
    """idp-behaviour §3.3: Entra's POST /Users with client `meta`, `roles: []` and both schema URNs."""
    body = {
        "schemas": [USER_URN, EXT],
        "externalId": "0a21f0f2",
        "userName": "Test_User_1",
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": "Test_User_1@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
    }
    assert document(body) == {key: body[key] for key in ("externalId", "userName", "active", "emails", "name")}


# -- coerce_value -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("active", "False", False),
        ("userName", "", None),
        ("emails", {"value": "a@x"}, [{"value": "a@x"}]),
        ("emails", [], None),
        ("emails.primary", "TRUE", True),
        ("name", {"GivenName": "A", "familyName": ""}, {"givenName": "A"}),
        (f"{EXT}:manager", "m1", {"value": "m1"}),
        (f"{EXT}:manager", {"value": ""}, None),
        ("externalId", "00u1", "00u1"),
    ],
)
def test_coerce_value_validates_one_value_as_the_payload_would(path: str, value: Any, expected: Any):
    assert coerce_value(USER.resolve_path(path), value) == expected


def test_coerce_value_names_the_attribute_when_the_value_is_wrong():
    with pytest.raises(InvalidValue) as raised:
        coerce_value(USER.resolve_path("emails"), [{"value": 1}])
    assert "'emails[0].value'" in raised.value.detail


def test_payload_classes_are_built_per_resource_type_so_tenant_extensions_are_honoured():
    body = {"userName": "ann", TEST_URN: {"count": 1}}
    assert document(body, TENANT_USER) == body
    assert document(body) == {"userName": "ann"}


# -- round trip -----------------------------------------------------------------------------------------

def _upper_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key.upper(): _upper_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_upper_keys(item) for item in value]
    return value


@settings(max_examples=150, deadline=None)
@given(documents(TENANT_USER))
def test_any_valid_user_document_comes_back_unchanged(doc: dict[str, Any]):
    """parse_resource is the identity on documents that already follow the stored-document contract."""
    assert parse_resource(doc, TENANT_USER).document == doc


@settings(max_examples=50, deadline=None)
@given(documents(USER))
def test_any_valid_user_document_with_upper_cased_names_comes_back_in_the_schemas_spelling(doc: dict[str, Any]):
    assert parse_resource(_upper_keys(doc), USER).document == doc


@settings(max_examples=50, deadline=None)
@given(documents(GROUP))
def test_any_valid_group_document_comes_back_unchanged(doc: dict[str, Any]):
    parsed = parse_resource(doc, GROUP)
    assert (parsed.document, parsed.members) == (doc, None)


@pytest.mark.parametrize("text", ["a\x00b", "\ud800"])
def test_strings_a_database_cannot_store_are_invalid_value(text: str):
    with pytest.raises(InvalidValue):
        parse_resource({"userName": text}, USER)
