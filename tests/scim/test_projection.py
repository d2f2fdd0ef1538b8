"""attributes / excludedAttributes (RFC 7644 §3.4.2.5, §3.9) by `returned` (RFC 7643 §7)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scim.errors import InvalidValue
from scim.projection import Projection, split_names
from scim.schemas import DEFAULT_REGISTRY, ENTERPRISE_USER_URN, GROUP, GROUP_URN, USER, USER_URN, Schema

ENTERPRISE = ENTERPRISE_USER_URN

USER_RESOURCE: dict[str, Any] = {
    "schemas": [USER_URN, ENTERPRISE],
    "id": "2819c223",
    "externalId": "00u1",
    "userName": "ann@example.com",
    "password": "t1meMa$heen",
    "name": {"givenName": "Ann", "familyName": "Lee"},
    "displayName": "Ann Lee",
    "active": True,
    "emails": [
        {"value": "ann@example.com", "type": "work", "primary": True},
        {"value": "ann@home.example", "type": "home"},
    ],
    "groups": [{"value": "e9e30dba", "display": "Admins", "$ref": "https://x/Groups/e9e30dba"}],
    ENTERPRISE: {"department": "R&D", "manager": {"value": "26118915", "displayName": "Bo"}},
    "meta": {"resourceType": "User", "version": 'W/"3"'},
}

GROUP_RESOURCE: dict[str, Any] = {
    "schemas": [GROUP_URN],
    "id": "e9e30dba",
    "displayName": "Admins",
    "members": [{"value": "2819c223", "display": "Ann Lee", "type": "User"}],
    "meta": {"resourceType": "Group"},
}


def project_user(attributes: str | list[str] | None = None, excluded: str | list[str] | None = None) -> dict:
    return Projection.parse(USER, attributes, excluded).apply(USER_RESOURCE)


def test_without_parameters_the_default_set_is_returned_without_the_password() -> None:
    """Every `default` attribute is returned; `never` (password) is not (RFC 7643 §7)."""
    expected = {key: value for key, value in USER_RESOURCE.items() if key != "password"}

    assert project_user() == expected


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ("displayName", {"schemas": [USER_URN], "id": "2819c223", "displayName": "Ann Lee"}),
        ("DISPLAYNAME", {"schemas": [USER_URN], "id": "2819c223", "displayName": "Ann Lee"}),
        (f"{USER_URN}:userName", {"schemas": [USER_URN], "id": "2819c223", "userName": "ann@example.com"}),
        ("name.givenName", {"schemas": [USER_URN], "id": "2819c223", "name": {"givenName": "Ann"}}),
        (
            "userName, active",
            {"schemas": [USER_URN], "id": "2819c223", "userName": "ann@example.com", "active": True},
        ),
        ("meta.version", {"schemas": [USER_URN], "id": "2819c223", "meta": {"version": 'W/"3"'}}),
        ("externalId", {"schemas": [USER_URN], "id": "2819c223", "externalId": "00u1"}),
    ],
)
def test_attributes_returns_only_what_is_named_plus_id_and_schemas(attributes: str, expected: dict) -> None:
    """With `attributes`, only the named attributes and the `always` ones (id, schemas) come back (RFC 7644 §3.9)."""
    assert project_user(attributes) == expected


def test_attributes_leaves_out_meta_because_meta_is_returned_by_default() -> None:
    """`meta` has `returned: default` (RFC 7643 §3.1), so it is dropped when not named."""
    assert "meta" not in project_user("displayName")


@pytest.mark.parametrize("attributes", ["password", "PassWord", f"{USER_URN}:password", "password,userName"])
def test_the_password_is_never_returned_even_when_asked_for(attributes: str) -> None:
    """`returned: never` wins over `attributes` (RFC 7643 §7)."""
    assert "password" not in project_user(attributes)


def test_sub_attributes_of_a_multi_valued_attribute_are_projected_per_element() -> None:
    """`emails.value` keeps only `value` in each email (RFC 7644 §3.10 sub-attribute notation)."""
    projected = project_user("emails.value")

    assert projected["emails"] == [{"value": "ann@example.com"}, {"value": "ann@home.example"}]


def test_elements_left_empty_by_a_sub_attribute_projection_are_dropped() -> None:
    """An attribute with no values is unassigned (RFC 7643 §2.5) and is left out rather than sent as `[{}]`."""
    assert "emails" not in project_user("emails.display")


def test_naming_the_parent_and_a_sub_attribute_returns_the_whole_parent() -> None:
    """`name,name.givenName` asks for all of `name`."""
    assert project_user("name,name.givenName")["name"] == USER_RESOURCE["name"]


def test_a_bare_extension_urn_selects_the_whole_extension_object() -> None:
    """A schema URN names all of the extension's attributes."""
    projected = project_user(ENTERPRISE)

    assert projected[ENTERPRISE] == USER_RESOURCE[ENTERPRISE]
    assert projected["schemas"] == [USER_URN, ENTERPRISE]


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (f"{ENTERPRISE}:department", {"department": "R&D"}),
        (f"{ENTERPRISE.lower()}:DEPARTMENT", {"department": "R&D"}),
        (f"{ENTERPRISE}:manager.value", {"manager": {"value": "26118915"}}),
    ],
)
def test_a_qualified_extension_attribute_is_projected_under_its_urn(attributes: str, expected: dict) -> None:
    """Extension attributes are named with their schema URN (RFC 7644 §3.10)."""
    assert project_user(attributes)[ENTERPRISE] == expected


def test_schemas_drops_the_urn_of_an_extension_the_projection_removed() -> None:
    """`schemas` lists the schemas of the attributes present (RFC 7643 §3)."""
    assert project_user("userName")["schemas"] == [USER_URN]
    assert project_user(excluded=ENTERPRISE)["schemas"] == [USER_URN]


def test_the_core_urn_alone_selects_every_core_attribute() -> None:
    projected = project_user(USER_URN)

    assert projected["userName"] == "ann@example.com"
    assert ENTERPRISE not in projected
    assert "meta" not in projected


@pytest.mark.parametrize(
    ("excluded", "missing"),
    [
        ("emails", "emails"),
        ("displayName,groups", "groups"),
        (ENTERPRISE, ENTERPRISE),
        ("meta", "meta"),
    ],
)
def test_excluded_attributes_are_removed_from_the_default_set(excluded: str, missing: str) -> None:
    """excludedAttributes removes attributes from the default set (RFC 7644 §3.4.2.5)."""
    projected = project_user(excluded=excluded)

    assert missing not in projected
    assert projected["userName"] == "ann@example.com"


@pytest.mark.parametrize("excluded", ["id", "schemas", "id,schemas"])
def test_excluded_attributes_cannot_remove_what_is_always_returned(excluded: str) -> None:
    """excludedAttributes has no effect on `returned: always` (RFC 7644 §3.4.2.5)."""
    projected = project_user(excluded=excluded)

    assert projected["id"] == "2819c223"
    assert projected["schemas"] == [USER_URN, ENTERPRISE]


def test_excluded_sub_attributes_are_removed_from_each_element() -> None:
    projected = project_user(excluded=f"emails.type,{ENTERPRISE}:manager.displayName")

    assert projected["emails"] == [{"value": "ann@example.com", "primary": True}, {"value": "ann@home.example"}]
    assert projected[ENTERPRISE] == {"department": "R&D", "manager": {"value": "26118915"}}


def test_excluding_members_keeps_the_rest_of_the_group() -> None:
    """Entra's group probe sends excludedAttributes=members (idp-behaviour §3.2)."""
    projected = Projection.parse(GROUP, None, "members").apply(GROUP_RESOURCE)

    assert projected == {key: value for key, value in GROUP_RESOURCE.items() if key != "members"}


@pytest.mark.parametrize(
    ("attributes", "excluded"),
    [
        ("nickName", None),
        ("doesNotExist", None),
        ('name.nope,emails[type eq "work"].value', None),
        (None, "doesNotExist"),
        (None, "urn:example:unknown:1.0:Thing:attr"),
    ],
)
def test_unknown_attribute_names_are_ignored(attributes: str | None, excluded: str | None) -> None:
    """Names the schema does not define are not an error; they just match nothing."""
    projected = project_user(attributes, excluded)

    assert projected["id"] == "2819c223"
    if excluded:
        assert projected == project_user()


def test_attributes_and_excluded_attributes_together_are_rejected() -> None:
    """RFC 7644 §3.9 calls the two parameters mutually exclusive: 400 invalidValue."""
    with pytest.raises(InvalidValue):
        Projection.parse(USER, "userName", "emails")


@pytest.mark.parametrize("empty", ["", " ", ",", []])
def test_an_empty_attribute_list_counts_as_absent(empty: str | list[str]) -> None:
    assert project_user(empty) == project_user()
    Projection.parse(USER, empty, "emails")


@pytest.mark.parametrize(
    ("value", "names"),
    [
        (None, ()),
        ("userName", ("userName",)),
        (" userName , name.givenName,,", ("userName", "name.givenName")),
        (["userName", "emails.value,active"], ("userName", "emails.value", "active")),
    ],
)
def test_attribute_lists_are_split_on_commas(value: str | list[str] | None, names: tuple[str, ...]) -> None:
    assert split_names(value) == names


@pytest.mark.parametrize("value", [[1], ["userName", None], b"userName", {"userName": True}, 5])
def test_attribute_lists_that_are_not_strings_are_invalid(value: Any) -> None:
    with pytest.raises(InvalidValue):
        split_names(value)


def test_apply_does_not_modify_the_resource() -> None:
    before = copy.deepcopy(USER_RESOURCE)

    project_user("emails.value", None)
    project_user(None, f"emails.type,{ENTERPRISE}")

    assert before == USER_RESOURCE


def test_keys_are_matched_case_insensitively_and_keep_their_spelling() -> None:
    """Attribute names are case-insensitive (RFC 7643 §2.1); the resource's own spelling is returned."""
    resource = {"schemas": [USER_URN], "ID": "1", "UserName": "ann", "Password": "x", "Emails": [{"Value": "a@x"}]}

    projected = Projection.parse(USER, "emails.value,username", None).apply(resource)

    assert projected == {"schemas": [USER_URN], "ID": "1", "UserName": "ann", "Emails": [{"Value": "a@x"}]}


def test_keys_no_schema_defines_are_not_returned() -> None:
    resource = {**GROUP_RESOURCE, "internalNote": "x"}

    assert "internalNote" not in Projection.parse(GROUP, None, None).apply(resource)


@pytest.mark.parametrize(
    ("resource_type", "attributes", "excluded", "name", "needed"),
    [
        (GROUP, None, None, "members", True),
        (GROUP, None, "members", "members", False),
        (GROUP, None, "MEMBERS", "members", False),
        (GROUP, "displayName", None, "members", False),
        (GROUP, "members.value", None, "members", True),
        (GROUP, None, "members.display", "members", True),
        (GROUP, None, "members.display", "members.display", False),
        (GROUP, None, None, "groups", False),
        (USER, None, None, "groups", True),
        (USER, "userName", None, "groups", False),
        (USER, "groups.value", None, "groups", True),
        (USER, "groups.value", None, "groups.display", False),
        (USER, None, None, "password", False),
        (USER, None, None, "id", True),
        (USER, "userName", None, f"{ENTERPRISE}:manager", False),
        (USER, f"{ENTERPRISE}:manager.value", None, f"{ENTERPRISE}:manager", True),
        (USER, ENTERPRISE, None, f"{ENTERPRISE}:manager.displayName", True),
        (USER, None, None, ENTERPRISE, True),
        (USER, None, None, "noSuchThing", False),
    ],
)
def test_needs_tells_storage_whether_an_attribute_will_be_returned(
    resource_type: Any, attributes: str | None, excluded: str | None, name: str, needed: bool
) -> None:
    """Storage skips loading members / groups that the response will not carry."""
    assert Projection.parse(resource_type, attributes, excluded).needs(name) is needed


ACME_URN = "urn:example:params:scim:schemas:extension:acme:2.0:User"
ACME_USER = DEFAULT_REGISTRY.with_extensions(
    [
        (
            "User",
            Schema.from_dict(
                {
                    "id": ACME_URN,
                    "attributes": [
                        {"name": "badge", "type": "string"},
                        {"name": "recoveryHint", "type": "string", "returned": "request"},
                        {"name": "pin", "type": "string", "returned": "never"},
                        {
                            "name": "tags",
                            "type": "complex",
                            "multiValued": True,
                            "subAttributes": [
                                {"name": "value", "type": "string"},
                                {"name": "source", "type": "string", "returned": "request"},
                            ],
                        },
                    ],
                }
            ),
        )
    ]
).by_name("User")
ACME_RESOURCE = {
    "schemas": [USER_URN, ACME_URN],
    "id": "1",
    "userName": "ann",
    ACME_URN: {"badge": "B1", "recoveryHint": "cat", "pin": "1234", "tags": [{"value": "x", "source": "hr"}]},
}


@pytest.mark.parametrize(
    ("attributes", "excluded", "expected"),
    [
        (None, None, {"badge": "B1", "tags": [{"value": "x"}]}),
        (None, f"{ACME_URN}:badge", {"tags": [{"value": "x"}]}),
        (ACME_URN, None, {"badge": "B1", "tags": [{"value": "x"}]}),
        (f"{ACME_URN}:recoveryHint", None, {"recoveryHint": "cat"}),
        (f"{ACME_URN}:tags", None, {"tags": [{"value": "x"}]}),
        (f"{ACME_URN}:tags.source", None, {"tags": [{"source": "hr"}]}),
        (f"{ACME_URN}:tags,{ACME_URN}:tags.source", None, {"tags": [{"value": "x", "source": "hr"}]}),
        (f"{ACME_URN}:pin,{ACME_URN}:badge", None, {"badge": "B1"}),
    ],
)
def test_request_attributes_come_back_only_when_named(
    attributes: str | None, excluded: str | None, expected: dict
) -> None:
    """`returned: request` is returned in a query only when named in `attributes` (RFC 7643 §7)."""
    assert ACME_USER is not None
    assert Projection.parse(ACME_USER, attributes, excluded).apply(ACME_RESOURCE)[ACME_URN] == expected
