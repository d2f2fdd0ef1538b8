"""PATCH paths (RFC 7644 §3.5.2): `attr`, `attr.sub`, `urn:…:attr.sub`, `attr[filter]`, `attr[filter].sub`."""

from __future__ import annotations

import pytest

from scim.errors import InvalidFilter, InvalidPath
from scim.filters import Compare, Or
from scim.paths import parse_path
from scim.schemas import ENTERPRISE_USER_URN, GROUP, USER, ResourceType

EXT = ENTERPRISE_USER_URN


@pytest.mark.parametrize(
    ("text", "resource_type", "ref", "has_filter"),
    [
        ("userName", USER, "userName", False),
        ("USERNAME", USER, "userName", False),
        ("name.givenName", USER, "name.givenName", False),
        ("Name.GIVENNAME", USER, "name.givenName", False),
        ("externalId", USER, "externalId", False),
        ("emails", USER, "emails", False),
        ("emails.value", USER, "emails.value", False),
        ('emails[type eq "work"]', USER, "emails", True),
        ('emails[type eq "work"].value', USER, "emails.value", True),
        ('EMAILS[TYPE EQ "work"].VALUE', USER, "emails.value", True),
        ('roles[primary eq "True"].display', USER, "roles.display", True),
        ('addresses[type eq "work"].streetAddress', USER, "addresses.streetAddress", True),
        ('members[value eq "2819c223"]', GROUP, "members", True),
        ("members", GROUP, "members", False),
        (f"{EXT}:department", USER, f"{EXT}:department", False),
        (f"{EXT.upper()}:Department", USER, f"{EXT}:department", False),
        (f"{EXT}:manager", USER, f"{EXT}:manager", False),
        (f"{EXT}:manager.value", USER, f"{EXT}:manager.value", False),
        (f'{EXT}:manager[value eq "x"]', USER, f"{EXT}:manager", True),
        ("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName", USER, "name.familyName", False),
        ("urn:ietf:params:scim:schemas:core:2.0:User:userName", USER, "userName", False),
        ("manager", USER, f"{EXT}:manager", False),
        ('manager[value eq "x"]', USER, f"{EXT}:manager", True),
        ("department", USER, f"{EXT}:department", False),
        ("  userName  ", USER, "userName", False),
    ],
)
def test_a_path_resolves_to_the_attribute_in_the_schemas_spelling(
    text: str, resource_type: ResourceType, ref: str, has_filter: bool
):
    """Names are case-insensitive (RFC 7643 §2.1); an unqualified extension attribute resolves when one extension
    defines it and the core schema does not (Entra sends `manager`)."""
    path = parse_path(text, resource_type)
    assert str(path.ref) == ref
    assert (path.value_filter is not None) is has_filter
    assert str(path) == text.strip()


def test_the_value_filter_names_sub_attributes_of_the_bracketed_attribute():
    path = parse_path('emails[type eq "work"].value', USER)
    assert isinstance(path.value_filter, Compare)
    assert path.value_filter.ref.sub_attribute.name == "type"
    assert path.value_filter.value == "work"
    assert str(path.parent) == "emails"


def test_a_boolean_in_a_value_filter_may_be_a_string():
    """The Microsoft validator sends `roles[primary eq "True"]`."""
    assert parse_path('roles[primary eq "True"].value', USER).value_filter.value is True


def test_a_bracket_inside_a_filter_string_does_not_close_the_filter():
    path = parse_path(r'emails[value eq "a]\"]b"].type', USER)
    assert path.value_filter.value == 'a]"]b'
    assert str(path.ref) == "emails.type"


def test_an_or_filter_on_members_is_kept_whole():
    path = parse_path('members[value eq "a" or value eq "b"]', GROUP)
    assert isinstance(path.value_filter, Or)


@pytest.mark.parametrize(
    ("text", "resource_type"),
    [
        ("bogus", USER),
        ("name.bogus", USER),
        ("userName.value", USER),
        ("members", USER),
        ("displayName.x", GROUP),
        ("urn:example:unknown:2.0:User:department", USER),
        (f"{EXT}:bogus", USER),
        ("", USER),
        ("   ", USER),
        ("name.", USER),
        (".name", USER),
        ("name..givenName", USER),
        ("1name", USER),
        ('emails[type eq "work"', USER),
        ('emails[type eq "work"]value', USER),
        ('emails[type eq "work"].', USER),
        ('emails[type eq "work"].bogus', USER),
        ('name.givenName[type eq "x"]', USER),
        ('userName[value eq "x"]', USER),
        ("emails[[x]]", USER),
    ],
)
def test_an_unknown_attribute_or_malformed_path_is_invalid_path(text: str, resource_type: ResourceType):
    """RFC 7644 §3.5.2: "invalidPath" for a path that is invalid or names no attribute."""
    with pytest.raises(InvalidPath):
        parse_path(text, resource_type)


@pytest.mark.parametrize("text", [123, None, ["userName"]])
def test_a_path_that_is_not_a_string_is_invalid_path(text: object):
    with pytest.raises(InvalidPath):
        parse_path(text, USER)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ['emails[bogus eq "x"]', "emails[type eq]", 'emails[type eq "a" and]', "emails[]"])
def test_a_bad_value_filter_is_invalid_filter(text: str):
    """RFC 7644 §3.12 lists invalidFilter for PATCH path filters."""
    with pytest.raises(InvalidFilter):
        parse_path(text, USER)
