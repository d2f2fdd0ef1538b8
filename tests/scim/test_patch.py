"""PATCH (RFC 7644 §3.5.2): compile (validation, IdP normalisation, membership steps) and apply (pure)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scim.errors import InvalidFilter, InvalidPath, InvalidSyntax, InvalidValue, Mutability, NoTarget, ScimError
from scim.patch import MemberStep, Patch, apply, compile_patch
from scim.schemas import DEFAULT_REGISTRY, ENTERPRISE_USER_URN, GROUP, PATCH_OP_URN, USER, ResourceType, Schema

EXT = ENTERPRISE_USER_URN
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"

ANN = {
    "userName": "ann@x",
    "name": {"givenName": "Ann", "familyName": "Lee"},
    "emails": [
        {"value": "ann@work.x", "type": "work", "primary": True},
        {"value": "ann@home.x", "type": "home"},
    ],
    "active": True,
    EXT: {"department": "R&D", "manager": {"value": "m1"}},
}


def body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP_URN], "Operations": list(operations)}


def compiled(*operations: dict[str, Any], resource_type: ResourceType = USER, resource_id: str | None = None) -> Patch:
    return compile_patch(body(*operations), resource_type, resource_id)


def patched(document: dict[str, Any], *operations: dict[str, Any], resource_type: ResourceType = USER) -> dict:
    return apply(compiled(*operations, resource_type=resource_type), document)


def changed(**changes: Any) -> dict[str, Any]:
    """ANN with top-level keys replaced (None: removed)."""
    document = {**copy.deepcopy(ANN), **changes}
    return {key: value for key, value in document.items() if value is not None}


def ext(**changes: Any) -> dict[str, Any]:
    """ANN's enterprise object with keys replaced (None: removed)."""
    merged = {**ANN[EXT], **changes}
    return {key: value for key, value in merged.items() if value is not None}


WORK = ANN["emails"][0]
HOME = ANN["emails"][1]

# -- each op, each path kind, single- and multi-valued ---------------------------------------------------------

CASES = [
    # no path
    pytest.param({"op": "add", "value": {"nickName": "Babs"}}, changed(nickName="Babs"), id="add-nopath-single"),
    pytest.param(
        {"op": "add", "value": {"emails": [{"value": "b@x", "type": "other"}]}},
        changed(emails=[WORK, HOME, {"value": "b@x", "type": "other"}]),
        id="add-nopath-multi-appends",
    ),
    pytest.param(
        {"op": "add", "value": {"name": {"middleName": "Q"}}},
        changed(name={"givenName": "Ann", "familyName": "Lee", "middleName": "Q"}),
        id="add-nopath-complex-merges",
    ),
    pytest.param({"op": "replace", "value": {"active": False}}, changed(active=False), id="replace-nopath-single"),
    pytest.param(
        {"op": "replace", "value": {"emails": [{"value": "b@x"}]}},
        changed(emails=[{"value": "b@x"}]),
        id="replace-nopath-multi-replaces-list",
    ),
    pytest.param(
        {"op": "replace", "value": {"name": {"givenName": "Bo"}}},
        changed(name={"givenName": "Bo", "familyName": "Lee"}),
        id="replace-nopath-complex-merges",
    ),
    # attr
    pytest.param({"op": "add", "path": "nickName", "value": "Babs"}, changed(nickName="Babs"), id="add-attr-single"),
    pytest.param({"op": "add", "path": "userName", "value": "bo@x"}, changed(userName="bo@x"), id="add-attr-sets"),
    pytest.param(
        {"op": "add", "path": "emails", "value": [HOME, {"value": "b@x"}]},
        changed(emails=[WORK, HOME, {"value": "b@x"}]),
        id="add-attr-multi-skips-duplicates",
    ),
    pytest.param(
        {"op": "add", "path": "emails", "value": {"value": "b@x"}},
        changed(emails=[WORK, HOME, {"value": "b@x"}]),
        id="add-attr-multi-single-object",
    ),
    pytest.param(
        {"op": "add", "path": "name", "value": {"formatted": "Ann Lee"}},
        changed(name={"givenName": "Ann", "familyName": "Lee", "formatted": "Ann Lee"}),
        id="add-attr-complex-merges",
    ),
    pytest.param({"op": "replace", "path": "title", "value": "CEO"}, changed(title="CEO"), id="replace-attr-single"),
    pytest.param(
        {"op": "replace", "path": "emails", "value": [{"value": "b@x", "type": "work"}]},
        changed(emails=[{"value": "b@x", "type": "work"}]),
        id="replace-attr-multi",
    ),
    pytest.param(
        {"op": "replace", "path": "name", "value": {"familyName": "Ng"}},
        changed(name={"givenName": "Ann", "familyName": "Ng"}),
        id="replace-attr-complex-merges",
    ),
    pytest.param({"op": "remove", "path": "active"}, changed(active=None), id="remove-attr-single"),
    pytest.param({"op": "remove", "path": "emails"}, changed(emails=None), id="remove-attr-multi"),
    pytest.param({"op": "remove", "path": "name"}, changed(name=None), id="remove-attr-complex"),
    pytest.param({"op": "remove", "path": "nickName"}, changed(), id="remove-absent-is-noop"),
    pytest.param(
        {"op": "remove", "path": "emails", "value": [{"value": "ann@home.x"}]},
        changed(emails=[WORK]),
        id="remove-attr-multi-listed-values",
    ),
    pytest.param({"op": "replace", "path": "nickName", "value": ""}, changed(), id="replace-empty-unassigns"),
    pytest.param({"op": "add", "path": "emails", "value": []}, changed(), id="add-empty-list-noop"),
    pytest.param({"op": "replace", "path": "emails", "value": []}, changed(emails=None), id="replace-empty-list"),
    pytest.param({"op": "add", "path": "emails", "value": None}, changed(), id="add-null-list-noop"),
    pytest.param({"op": "remove", "path": "emails", "value": []}, changed(), id="remove-empty-value-list-noop"),
    pytest.param({"op": "remove", "path": "emails", "value": None}, changed(emails=None), id="remove-null-value-all"),
    # attr.sub
    pytest.param(
        {"op": "add", "path": "name.middleName", "value": "Q"},
        changed(name={"givenName": "Ann", "familyName": "Lee", "middleName": "Q"}),
        id="add-sub",
    ),
    pytest.param(
        {"op": "replace", "path": "name.familyName", "value": "Ng"},
        changed(name={"givenName": "Ann", "familyName": "Ng"}),
        id="replace-sub",
    ),
    pytest.param({"op": "remove", "path": "name.familyName"}, changed(name={"givenName": "Ann"}), id="remove-sub"),
    pytest.param(
        {"op": "replace", "path": "emails.type", "value": "other"},
        changed(emails=[{**WORK, "type": "other"}, {**HOME, "type": "other"}]),
        id="replace-multi-sub-without-filter-sets-every-value",
    ),
    # value filter
    pytest.param(
        {"op": "replace", "path": 'emails[type eq "work"]', "value": {"value": "new@x", "type": "work"}},
        changed(emails=[{"value": "new@x", "type": "work"}, HOME]),
        id="replace-filter-replaces-element",
    ),
    pytest.param(
        {"op": "add", "path": 'emails[type eq "work"]', "value": {"display": "Work"}},
        changed(emails=[{**WORK, "display": "Work"}, HOME]),
        id="add-filter-merges-element",
    ),
    pytest.param(
        {"op": "remove", "path": 'emails[type eq "work"]'}, changed(emails=[HOME]), id="remove-filter-element"
    ),
    pytest.param({"op": "remove", "path": 'emails[type eq "other"]'}, changed(), id="remove-filter-no-match-noop"),
    pytest.param(
        {"op": "add", "path": 'phoneNumbers[type eq "work"]', "value": {"value": "555"}},
        changed(phoneNumbers=[{"type": "work", "value": "555"}]),
        id="add-filter-creates-element",
    ),
    # value filter + sub
    pytest.param(
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "new@x"},
        changed(emails=[{**WORK, "value": "new@x"}, HOME]),
        id="replace-filter-sub",
    ),
    pytest.param(
        {"op": "add", "path": 'emails[type eq "other"].value', "value": "o@x"},
        changed(emails=[WORK, HOME, {"type": "other", "value": "o@x"}]),
        id="add-filter-sub-creates-element",
    ),
    pytest.param(
        {"op": "remove", "path": 'emails[type eq "home"].value'},
        changed(emails=[WORK]),
        id="remove-filter-value-drops-element",
    ),
    pytest.param(
        {"op": "remove", "path": 'emails[type eq "work"].type'},
        changed(emails=[{"value": "ann@work.x", "primary": True}, HOME]),
        id="remove-filter-sub-keeps-element",
    ),
    pytest.param(
        {"op": "remove", "path": 'emails[type eq "work"].value', "value": "old@x"},
        changed(),
        id="remove-filter-sub-with-other-value-noop",
    ),
    pytest.param(
        {"op": "replace", "path": 'emails[value eq "ANN@HOME.X"].primary', "value": True},
        changed(emails=[{**WORK, "primary": False}, {**HOME, "primary": True}]),
        id="primary-true-clears-the-others",
    ),
    pytest.param(
        {"op": "add", "path": "emails", "value": [{"value": "b@x", "primary": True}]},
        changed(emails=[{**WORK, "primary": False}, HOME, {"value": "b@x", "primary": True}]),
        id="added-primary-wins",
    ),
    # URN-qualified
    pytest.param(
        {"op": "add", "path": f"{EXT}:employeeNumber", "value": "42"},
        changed(**{EXT: ext(employeeNumber="42")}),
        id="add-urn-attr",
    ),
    pytest.param(
        {"op": "replace", "path": f"{EXT}:department", "value": "Ops"},
        changed(**{EXT: ext(department="Ops")}),
        id="replace-urn-attr",
    ),
    pytest.param(
        {"op": "remove", "path": f"{EXT}:department"}, changed(**{EXT: ext(department=None)}), id="remove-urn-attr"
    ),
    pytest.param(
        {"op": "replace", "path": f"{EXT}:manager.value", "value": "m2"},
        changed(**{EXT: ext(manager={"value": "m2"})}),
        id="replace-urn-sub",
    ),
    pytest.param(
        {"op": "remove", "path": f"{EXT}:manager"}, changed(**{EXT: ext(manager=None)}), id="remove-urn-complex"
    ),
    pytest.param(
        {"op": "replace", "path": f"{CORE}:name.familyName", "value": "Ng"},
        changed(name={"givenName": "Ann", "familyName": "Ng"}),
        id="replace-core-urn-sub",
    ),
    pytest.param(
        {"op": "replace", "value": {EXT: {"department": "Ops", "costCenter": "7"}}},
        changed(**{EXT: ext(department="Ops", costCenter="7")}),
        id="replace-nopath-nested-extension",
    ),
    # a schema URN as the path: that schema's attributes (scim2-tester)
    pytest.param(
        {"op": "add", "path": EXT, "value": {"schemas": [EXT], "costCenter": "7", "manager": {"value": "m2"}}},
        changed(**{EXT: ext(costCenter="7", manager={"value": "m2"})}),
        id="add-extension-urn",
    ),
    pytest.param(
        {"op": "replace", "path": EXT.upper(), "value": {"department": "Ops"}},
        changed(**{EXT: ext(department="Ops")}),
        id="replace-extension-urn",
    ),
    pytest.param({"op": "remove", "path": EXT}, changed(**{EXT: None}), id="remove-extension-urn"),
    pytest.param(
        {"op": "replace", "path": CORE, "value": {"nickName": "Babs"}}, changed(nickName="Babs"), id="replace-core-urn"
    ),
]


@pytest.mark.parametrize(("operation", "expected"), CASES)
def test_each_operation_on_each_kind_of_path(operation: dict[str, Any], expected: dict[str, Any]):
    """RFC 7644 §3.5.2.1 (add), §3.5.2.2 (remove), §3.5.2.3 (replace), on ANN."""
    assert patched(ANN, operation) == expected


def test_apply_never_changes_its_input():
    before = copy.deepcopy(ANN)
    patch = compiled({"op": "replace", "path": 'emails[type eq "work"].value', "value": "x@x"})
    assert apply(patch, ANN) != ANN
    assert before == ANN
    assert apply(patch, ANN) == apply(patch, ANN)


def test_removing_the_last_sub_attribute_or_extension_attribute_drops_the_container():
    """RFC 7643 §2.5: an empty object is unassigned, so the document never keeps it."""
    doc = {"userName": "a", "name": {"givenName": "A"}, EXT: {"department": "D"}}
    assert patched(doc, {"op": "remove", "path": "name.givenName"}, {"op": "remove", "path": f"{EXT}:department"}) == {
        "userName": "a"
    }


def test_no_changes_means_an_equal_document():
    """Storage tells a no-op PATCH by comparing documents."""
    assert patched(ANN, {"op": "replace", "path": "active", "value": True}) == ANN
    assert apply(compile_patch(body(), USER), ANN) == ANN


# -- RFC 7644 §3.5.2 examples ------------------------------------------------------------------------------


def test_rfc_7644_examples_on_a_user():
    """The user examples of RFC 7644 §3.5.2.1 to §3.5.2.3 (group member examples are with the member steps)."""
    doc = {
        "userName": "bjensen",
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
        "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood"}],
    }
    after = patched(
        doc,
        {"op": "add", "value": {"emails": [{"value": "babs@jensen.org", "type": "home"}], "nickname": "Babs"}},
        {"op": "add", "path": "emails", "value": [{"value": "babs2@jensen.org", "type": "other"}]},
        {"op": "remove", "path": 'emails[type eq "other" and value ew "jensen.org"]'},
        {"op": "replace", "path": 'addresses[type eq "work"].streetAddress', "value": "1010 Broadway Ave"},
        {
            "op": "replace",
            "path": 'addresses[type eq "work"]',
            "value": {"type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood"},
        },
        {"op": "replace", "value": {"nickName": "Barbara"}},
    )
    assert after == {
        "userName": "bjensen",
        "nickName": "Barbara",
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": True},
            {"value": "babs@jensen.org", "type": "home"},
        ],
        "addresses": [{"type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood"}],
    }


# -- Okta ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("active", [False, True])
def test_okta_deactivates_and_reactivates_with_a_no_path_replace(active: bool):
    """idp-behaviour §1.8: `{"op":"replace","value":{"active":false}}`."""
    assert patched(ANN, {"op": "replace", "value": {"active": active}}) == changed(active=active)


def test_okta_password_sync_sets_the_password_apart_from_the_document():
    patch = compiled({"op": "replace", "value": {"password": "s3cret!"}})
    assert patch.password == "s3cret!"
    assert apply(patch, ANN) == ANN


def test_okta_group_rename_may_repeat_the_groups_own_id():
    """idp-behaviour §1.9: the rename value repeats the read-only `id`; it is accepted when it is the target's."""
    patch = compiled(
        {"op": "replace", "value": {"id": "abf4dd94", "displayName": "Test SCIMv2"}},
        resource_type=GROUP,
        resource_id="abf4dd94",
    )
    assert apply(patch, {"displayName": "Old"}) == {"displayName": "Test SCIMv2"}
    assert patch.member_steps == ()


@pytest.mark.parametrize("resource_id", ["someone-else", None])
def test_a_different_id_in_a_rename_is_a_mutability_error(resource_id: str | None):
    with pytest.raises(Mutability, match="id"):
        compiled(
            {"op": "replace", "value": {"id": "abf4dd94", "displayName": "x"}},
            resource_type=GROUP,
            resource_id=resource_id,
        )


# -- Entra ------------------------------------------------------------------------------------------------


def test_entra_updates_a_filtered_email_and_a_sub_attribute():
    """idp-behaviour §3.3: `Replace` (capitalised) on `emails[type eq "work"].value` and `name.familyName`."""
    after = patched(
        ANN,
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "updatedEmail@microsoft.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        {"op": "Replace", "path": "userName", "value": "5b50642d@testuser.com"},
    )
    assert after["emails"][0] == {**WORK, "value": "updatedEmail@microsoft.com"}
    assert after["name"]["familyName"] == "updatedFamilyName"
    assert after["userName"] == "5b50642d@testuser.com"


@pytest.mark.parametrize("active", [False, "False", "false"])
def test_entra_disables_with_a_boolean_or_a_string(active: Any):
    """idp-behaviour §3.1, §3.3: the default job sends "False"; `?aadOptscim062020` sends false."""
    assert patched(ANN, {"op": "Replace", "path": "active", "value": active})["active"] is False


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "Add", "path": "manager", "value": [{"$ref": "http://x/Users/m2", "value": "m2"}]},
        {"op": "add", "path": f"{EXT}:manager", "value": "m2"},
        {"op": "replace", "path": f"{EXT}:manager", "value": {"value": "m2"}},
        {"op": "replace", "value": {f"{EXT}:manager": "m2"}},
    ],
)
def test_entra_sets_the_manager_in_each_of_its_shapes(operation: dict[str, Any]):
    """idp-behaviour §3.3: a list with a `$ref` (doc example), a bare id (validator), an object."""
    manager = patched({"userName": "a"}, operation)[EXT]["manager"]
    assert manager["value"] == "m2"


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": f"{EXT}:manager", "value": ""},
        {"op": "replace", "path": f"{EXT}:manager", "value": {"value": ""}},
        {"op": "replace", "path": f"{EXT}:manager", "value": None},
        {"op": "remove", "path": 'manager[value eq "m1"]'},
        {"op": "remove", "path": f'{EXT}:manager[value eq "m1"]'},
        {"op": "Remove", "path": "manager"},
    ],
)
def test_entra_removes_the_manager_in_each_of_its_shapes(operation: dict[str, Any]):
    """idp-behaviour §3.3: "" and {"value": ""} mean removal; a filter on the single-valued manager is allowed."""
    assert patched(ANN, operation) == changed(**{EXT: ext(manager=None)})


def test_a_manager_filter_that_does_not_match_removes_nothing():
    assert patched(ANN, {"op": "remove", "path": 'manager[value eq "someone-else"]'}) == ANN


def test_entra_no_path_value_with_dotted_and_urn_qualified_keys_is_split_into_paths():
    """idp-behaviour §3.1 (`aadOptscim062020`): `name.givenName` and `urn:…:employeeNumber` keys inside `value`."""
    after = patched(
        ANN,
        {
            "op": "replace",
            "value": {
                "displayName": "Bjfe",
                "name.givenName": "Kkom",
                "name.familyName": "Unua",
                f"{EXT}:employeeNumber": "Aklq",
                f"{CORE}:nickName": "Bj",
                "unknownAttribute": "ignored",
            },
        },
    )
    assert after == changed(
        displayName="Bjfe",
        nickName="Bj",
        name={"givenName": "Kkom", "familyName": "Unua"},
        **{EXT: ext(employeeNumber="Aklq")},
    )


def test_entra_default_job_sends_one_replace_per_path():
    after = patched(
        ANN,
        {"op": "Replace", "path": "displayName", "value": "Bjfe"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "b@x"},
        {"op": "Replace", "path": "name.givenName", "value": "Kkom"},
        {"op": "Replace", "path": "externalId", "value": "bjfe"},
        {"op": "Replace", "path": f"{EXT}:employeeNumber", "value": "Aklq"},
        {"op": "Add", "path": "nickName", "value": "Babs"},
    )
    assert after["displayName"] == "Bjfe"
    assert after["emails"][0]["value"] == "b@x"
    assert after["name"]["givenName"] == "Kkom"
    assert after["externalId"] == "bjfe"
    assert after[EXT]["employeeNumber"] == "Aklq"
    assert after["nickName"] == "Babs"


def test_entra_remove_with_a_value_on_a_filtered_email_removes_that_email():
    """idp-behaviour §3.1: `{"op":"Remove","path":"emails[type eq \\"work\\"].value","value":"old@x"}`."""
    operation = {"op": "Remove", "path": 'emails[type eq "work"].value', "value": "ann@work.x"}
    assert patched(ANN, operation) == changed(emails=[HOME])


@pytest.mark.parametrize("op", ["Add", "Replace"])
def test_entra_add_or_replace_on_a_filtered_value_creates_the_missing_entry(op: str):
    """idp-behaviour §3.1, §3.6 (SCIM-SDK #416): a user created without emails or phone numbers."""
    after = patched(
        {"userName": "a"},
        {"op": op, "path": 'emails[type eq "work"].value', "value": "a@work.x"},
        {"op": op, "path": 'phoneNumbers[type eq "work"].value', "value": "555"},
    )
    assert after == {
        "userName": "a",
        "emails": [{"type": "work", "value": "a@work.x"}],
        "phoneNumbers": [{"type": "work", "value": "555"}],
    }


@pytest.mark.parametrize("op", ["replace", "add"])
def test_microsoft_validator_verbose_patch_on_a_user_without_those_entries(op: str):
    """idp-behaviour §3.6 "Patch User - Replace Attributes Verbose" (and its "Add" twin): every value shows."""
    paths = {
        'emails[type eq "work"].value': "roberta@hayes.com",
        'emails[type eq "work"].primary': True,
        'addresses[type eq "work"].formatted': "QQHYDJGFDRFX",
        'addresses[type eq "work"].streetAddress': "7841 Goodwin Loaf",
        'addresses[type eq "work"].locality': "UGWEYHVKKITS",
        'addresses[type eq "work"].region': "JQQETQNHZCDZ",
        'addresses[type eq "work"].postalCode': "ru86 0et",
        'addresses[type eq "work"].primary': True,
        'addresses[type eq "work"].country': "Uzbekistan",
        'phoneNumbers[type eq "work"].value': "22-377-3428",
        'phoneNumbers[type eq "work"].primary': True,
        'phoneNumbers[type eq "mobile"].value': "22-377-3428",
        'phoneNumbers[type eq "fax"].value': "22-377-3428",
        'roles[primary eq "True"].display': "MSSEWRRJREQY",
        'roles[primary eq "True"].value': "CYDBGQIIERUP",
        'roles[primary eq "True"].type': "QRPQKXXKNVRS",
    }
    no_path = {
        "active": True,
        "displayName": "CDHQYEYIKBGB",
        "title": "LOATBSFQQPBF",
        "preferredLanguage": "nb-SJ",
        "name.givenName": "Adell",
        "name.familyName": "Lesley",
        "name.formatted": "Henderson",
        "name.middleName": "Guadalupe",
        "name.honorificPrefix": "Reinhold",
        "name.honorificSuffix": "Mathilde",
        f"{EXT}:employeeNumber": "DVJTEKOQVLLR",
        f"{EXT}:department": "TEUFEQIRBMVQ",
        f"{EXT}:costCenter": "XAOYALZZMQDE",
        f"{EXT}:organization": "LARDLXQMBEZT",
        f"{EXT}:division": "USYTEGEBXVTJ",
        f"{EXT}:manager": "MKAEVFLOJROE",
        "userType": "XXEMRJMTGJYS",
        "nickName": "EZUFFGHXIFHD",
        "locale": "ECRNKKFCCWRQ",
        "timezone": "Africa/Djibouti",
        "profileUrl": "UTISNQJTBOMN",
    }
    operations = [{"op": op, "path": path, "value": value} for path, value in paths.items()]
    after = patched({"userName": "rickey_torp@rohan.co.uk"}, *operations, {"op": op, "value": no_path})
    assert after == {
        "userName": "rickey_torp@rohan.co.uk",
        "emails": [{"type": "work", "value": "roberta@hayes.com", "primary": True}],
        "addresses": [
            {
                "type": "work",
                "formatted": "QQHYDJGFDRFX",
                "streetAddress": "7841 Goodwin Loaf",
                "locality": "UGWEYHVKKITS",
                "region": "JQQETQNHZCDZ",
                "postalCode": "ru86 0et",
                "primary": True,
                "country": "Uzbekistan",
            }
        ],
        "phoneNumbers": [
            {"type": "work", "value": "22-377-3428", "primary": True},
            {"type": "mobile", "value": "22-377-3428"},
            {"type": "fax", "value": "22-377-3428"},
        ],
        "roles": [{"primary": True, "display": "MSSEWRRJREQY", "value": "CYDBGQIIERUP", "type": "QRPQKXXKNVRS"}],
        "active": True,
        "displayName": "CDHQYEYIKBGB",
        "title": "LOATBSFQQPBF",
        "preferredLanguage": "nb-SJ",
        "name": {
            "givenName": "Adell",
            "familyName": "Lesley",
            "formatted": "Henderson",
            "middleName": "Guadalupe",
            "honorificPrefix": "Reinhold",
            "honorificSuffix": "Mathilde",
        },
        EXT: {
            "employeeNumber": "DVJTEKOQVLLR",
            "department": "TEUFEQIRBMVQ",
            "costCenter": "XAOYALZZMQDE",
            "organization": "LARDLXQMBEZT",
            "division": "USYTEGEBXVTJ",
            "manager": {"value": "MKAEVFLOJROE"},
        },
        "userType": "XXEMRJMTGJYS",
        "nickName": "EZUFFGHXIFHD",
        "locale": "ECRNKKFCCWRQ",
        "timezone": "Africa/Djibouti",
        "profileUrl": "UTISNQJTBOMN",
    }
    # Run again on its own result: the filters now match, nothing is duplicated.
    assert patched(after, *operations, {"op": op, "value": no_path}) == after


def test_entra_add_no_path_with_dotted_name_keys():
    """pond/scimitar #123: `{"op":"add","value":{"name.givenName":"Foo","name.formatted":"Foo Bar"}}`."""
    after = patched({"userName": "a"}, {"op": "add", "value": {"name.givenName": "Foo", "name.formatted": "Foo Bar"}})
    assert after == {"userName": "a", "name": {"givenName": "Foo", "formatted": "Foo Bar"}}


def test_an_empty_operations_list_is_a_successful_no_op():
    """idp-behaviour §3.6 (scimmyjs/scimmy #59)."""
    patch = compile_patch({"schemas": [PATCH_OP_URN], "Operations": []}, USER)
    assert apply(patch, ANN) == ANN
    assert (patch.member_steps, patch.password) == ((), None)


def test_schemas_may_be_missing_and_names_are_case_insensitive():
    patch = compile_patch({"operations": [{"OP": "replace", "PATH": "active", "VALUE": False}]}, USER)
    assert apply(patch, ANN)["active"] is False


# -- group membership ---------------------------------------------------------------------------------------

U1, U2, U3 = "89bb1940", "23a35c27", "f648f8d5"

MEMBER_CASES = [
    pytest.param(
        [
            {"op": "remove", "path": f'members[value eq "{U1}"]'},
            {"op": "add", "path": "members", "value": [{"value": U2, "display": "test.user@okta.local"}]},
        ],
        [MemberStep("remove", (U1,)), MemberStep("add", (U2,))],
        id="okta-remove-and-add",
    ),
    pytest.param(
        [{"op": "replace", "path": "members", "value": [{"value": U1, "display": "a"}, {"value": U2}]}],
        [MemberStep("clear"), MemberStep("add", (U1, U2))],
        id="okta-push-replace",
    ),
    pytest.param(
        [{"op": "replace", "path": "members", "value": []}], [MemberStep("clear")], id="okta-push-empty-group"
    ),
    pytest.param(
        [{"op": "Add", "path": "members", "value": [{"$ref": None, "value": U1}, {"$ref": None, "value": U2}]}],
        [MemberStep("add", (U1, U2))],
        id="entra-add",
    ),
    pytest.param(
        [{"op": "Remove", "path": "members", "value": [{"$ref": None, "value": U1}]}],
        [MemberStep("remove", (U1,))],
        id="entra-remove-listed",
    ),
    pytest.param(
        [{"op": "remove", "path": f'members[value eq "{U3}"]'}],
        [MemberStep("remove", (U3,))],
        id="entra-remove-filter",
    ),
    pytest.param([{"op": "remove", "path": "members"}], [MemberStep("clear")], id="remove-all"),
    pytest.param([{"op": "remove", "path": "members", "value": None}], [MemberStep("clear")], id="remove-null"),
    pytest.param(
        [{"op": "remove", "path": f'members[value eq "{U1}" or value eq "{U2}"]'}],
        [MemberStep("remove", (U1, U2))],
        id="remove-or-filter",
    ),
    pytest.param(
        [{"op": "replace", "value": {"displayName": "x", "members": [{"value": U1}]}}],
        [MemberStep("clear"), MemberStep("add", (U1,))],
        id="no-path-replace-members",
    ),
    pytest.param(
        [{"op": "add", "value": {"members": [{"value": U1}]}}], [MemberStep("add", (U1,))], id="no-path-add-members"
    ),
    pytest.param(
        [{"op": "replace", "path": "members", "value": [{"value": U1}]}],
        [MemberStep("clear"), MemberStep("add", (U1,))],
        id="validator-add-member",
    ),
    pytest.param(
        [
            {"op": "add", "path": "members", "value": [{"value": U1}]},
            {"op": "remove", "path": f'members[value eq "{U1}"]'},
        ],
        [MemberStep("add", (U1,)), MemberStep("remove", (U1,))],
        id="add-and-remove-same-member",
    ),
    pytest.param(
        [{"op": "add", "path": "members", "value": {"value": U1}}], [MemberStep("add", (U1,))], id="single-object"
    ),
    pytest.param(
        [{"op": "add", "path": "members", "value": [{"value": U1}, {"value": U1}]}],
        [MemberStep("add", (U1,))],
        id="duplicate-ids",
    ),
    pytest.param([{"op": "add", "path": "members", "value": []}], [], id="add-nothing"),
    pytest.param([{"op": "remove", "path": "members", "value": []}], [], id="remove-nothing"),
]


@pytest.mark.parametrize(("operations", "steps"), MEMBER_CASES)
def test_membership_operations_compile_to_ordered_steps(operations: list[dict[str, Any]], steps: list[MemberStep]):
    """Membership is applied by storage as deltas (idp-behaviour §1.9, §3.4, §5); the document never holds it."""
    patch = compiled(*operations, resource_type=GROUP)
    assert list(patch.member_steps) == steps
    assert "members" not in apply(patch, {"displayName": "g"})


def test_membership_and_rename_in_one_request():
    patch = compiled(
        {"op": "replace", "path": "displayName", "value": "New"},
        {"op": "add", "path": "members", "value": [{"value": U1}]},
        resource_type=GROUP,
    )
    assert apply(patch, {"displayName": "Old"}) == {"displayName": "New"}
    assert patch.member_steps == (MemberStep("add", (U1,)),)


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        ({"op": "remove", "path": 'members[type eq "User"]'}, InvalidFilter),
        ({"op": "remove", "path": 'members[value co "89"]'}, InvalidFilter),
        ({"op": "remove", "path": 'members[value eq "a" and type eq "User"]'}, InvalidFilter),
        ({"op": "remove", "path": 'members[not (value eq "a")]'}, InvalidFilter),
        ({"op": "add", "path": 'members[value eq "a"]', "value": [{"value": "b"}]}, InvalidPath),
        ({"op": "replace", "path": 'members[value eq "a"]', "value": {"value": "b"}}, InvalidPath),
        ({"op": "add", "path": "members", "value": ["a"]}, InvalidValue),
        ({"op": "add", "path": "members", "value": [{"display": "a"}]}, InvalidValue),
        ({"op": "add", "path": "members", "value": [{"value": 5}]}, InvalidValue),
        ({"op": "add", "path": "members", "value": "a"}, InvalidValue),
        ({"op": "replace", "path": 'members[value eq "a"].display', "value": "x"}, Mutability),
        ({"op": "remove", "path": "members.value"}, Mutability),
    ],
)
def test_membership_errors(operation: dict[str, Any], error: type[ScimError]):
    """Only `value eq "id"` (or several joined by `or`) selects members: anything else is an invalidFilter."""
    with pytest.raises(error):
        compiled(operation, resource_type=GROUP)


def test_group_attributes_by_no_path_replace():
    """idp-behaviour §3.6 "Patch Group - Replace Attributes" and "Update Group displayName"."""
    after = patched({"displayName": "g"}, {"op": "replace", "value": {"externalId": "8aa1a0c0"}}, resource_type=GROUP)
    assert after == {"displayName": "g", "externalId": "8aa1a0c0"}


# -- errors -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_body", "error"),
    [
        ([], InvalidSyntax),
        ("x", InvalidSyntax),
        ({"schemas": [PATCH_OP_URN]}, InvalidSyntax),
        ({"schemas": [PATCH_OP_URN], "Operations": {"op": "add"}}, InvalidSyntax),
        ({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "Operations": []}, InvalidSyntax),
        ({"schemas": PATCH_OP_URN, "Operations": []}, InvalidSyntax),
        (body("add"), InvalidSyntax),
        (body({"path": "nickName", "value": "x"}), InvalidSyntax),
        (body({"op": "copy", "path": "nickName", "value": "x"}), InvalidSyntax),
        (body({"op": 1, "path": "nickName", "value": "x"}), InvalidSyntax),
        (body({"op": "remove"}), NoTarget),
        (body({"op": "remove", "path": ""}), NoTarget),
        (body({"op": "add", "path": "bogus", "value": "x"}), InvalidPath),
        (body({"op": "add", "path": "name.bogus", "value": "x"}), InvalidPath),
        (body({"op": "add", "path": 5, "value": "x"}), InvalidPath),
        (body({"op": "add", "path": 'emails[bogus eq "x"].value', "value": "x"}), InvalidFilter),
        (body({"op": "add", "path": "nickName"}), InvalidValue),
        (body({"op": "add", "value": "x"}), InvalidValue),
        (body({"op": "add", "value": [{"nickName": "x"}]}), InvalidValue),
        (body({"op": "add", "path": "userName", "value": 5}), InvalidValue),
        (body({"op": "add", "path": "active", "value": "yes"}), InvalidValue),
        (body({"op": "add", "path": "emails", "value": [{"value": 1}]}), InvalidValue),
        (
            body({"op": "add", "path": 'emails[type eq "work"]', "value": [{"value": "a"}, {"value": "b"}]}),
            InvalidValue,
        ),
        (body({"op": "add", "value": {EXT: "x"}}), InvalidValue),
        (body({"op": "replace", "path": "id", "value": "x"}), Mutability),
        (body({"op": "remove", "path": "id"}), Mutability),
        (body({"op": "replace", "path": "meta", "value": {"version": "1"}}), Mutability),
        (body({"op": "add", "path": "groups", "value": [{"value": "g"}]}), Mutability),
        (body({"op": "replace", "value": {"groups": [{"value": "g"}]}}), Mutability),
        (body({"op": "replace", "path": f"{EXT}:manager.displayName", "value": "Boss"}), Mutability),
        (body({"op": "remove", "path": "password"}), Mutability),
        (body({"op": "replace", "path": "password", "value": ""}), InvalidValue),
    ],
)
def test_invalid_requests_are_refused_before_anything_is_applied(request_body: Any, error: type[ScimError]):
    with pytest.raises(error):
        compile_patch(request_body, USER, "user-id")


def test_errors_name_the_operation_index():
    with pytest.raises(InvalidSyntax, match=r"Operations\[1\]"):
        compiled({"op": "add", "path": "nickName", "value": "x"}, {"op": "move", "path": "nickName"})
    with pytest.raises(InvalidPath, match=r"Operations\[0\]"):
        compiled({"op": "add", "path": "bogus", "value": "x"})


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "remove", "path": "userName"},
        {"op": "replace", "path": "userName", "value": ""},
        {"op": "replace", "path": "userName", "value": None},
        {"op": "replace", "value": {"userName": None}},
    ],
)
def test_unassigning_a_required_attribute_is_a_mutability_error(operation: dict[str, Any]):
    """RFC 7644 §3.5.2.2: "If an attribute is removed or becomes unassigned and is defined as a required
    attribute or a read-only attribute, the server SHALL return … "mutability"."""
    with pytest.raises(Mutability, match="userName"):
        patched(ANN, operation)


def test_removing_a_groups_display_name_is_a_mutability_error():
    with pytest.raises(Mutability):
        patched({"displayName": "g"}, {"op": "remove", "path": "displayName"}, resource_type=GROUP)


def test_a_value_filter_that_selects_nothing_and_describes_no_value_is_no_target():
    """RFC 7644 §3.5.2.3: replace with a filter that matches nothing → noTarget, unless the filter is made of `eq`
    terms only, which describe the value to create (Entra)."""
    with pytest.raises(NoTarget):
        patched(ANN, {"op": "replace", "path": 'emails[value co "nobody"].type', "value": "work"})
    with pytest.raises(NoTarget):
        patched(ANN, {"op": "add", "path": 'emails[type eq "x" or type eq "y"].value', "value": "a@x"})


# -- immutable attributes (RFC 7643 §7) -------------------------------------------------------------------

BADGE_URN = "urn:example:params:scim:schemas:extension:badge:2.0:User"
BADGE_SCHEMA = Schema.from_dict(
    {
        "id": BADGE_URN,
        "name": "Badge",
        "attributes": [
            {"name": "serial", "type": "string", "mutability": "immutable"},
            {"name": "issued", "type": "boolean"},
        ],
    }
)
BADGE_USER = DEFAULT_REGISTRY.with_extensions([("User", BADGE_SCHEMA)]).by_name("User")


def test_an_immutable_attribute_may_be_added_while_unassigned():
    patch = compiled({"op": "add", "path": f"{BADGE_URN}:serial", "value": "S1"}, resource_type=BADGE_USER)
    assert apply(patch, {"userName": "a"}) == {"userName": "a", BADGE_URN: {"serial": "S1"}}
    assert apply(patch, {"userName": "a", BADGE_URN: {"serial": "S1"}}) == {
        "userName": "a",
        BADGE_URN: {"serial": "S1"},
    }


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": f"{BADGE_URN}:serial", "value": "S2"},
        {"op": "add", "value": {f"{BADGE_URN}:serial": "S2"}},
        {"op": "remove", "path": f"{BADGE_URN}:serial"},
    ],
)
def test_an_assigned_immutable_attribute_cannot_change(operation: dict[str, Any]):
    patch = compiled(operation, resource_type=BADGE_USER)
    with pytest.raises(Mutability, match="immutable"):
        apply(patch, {"userName": "a", BADGE_URN: {"serial": "S1"}})


def test_string_booleans_are_coerced_for_boolean_attributes_of_tenant_extensions():
    patch = compiled({"op": "replace", "value": {BADGE_URN: {"issued": "TRUE"}}}, resource_type=BADGE_USER)
    assert apply(patch, {"userName": "a"})[BADGE_URN] == {"issued": True}
