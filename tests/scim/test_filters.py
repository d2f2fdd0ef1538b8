"""SCIM filters (RFC 7644 §3.4.2.2): parsing, path resolution, coercion, in-memory matching, reference evaluator."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scim import filters
from scim.errors import InvalidFilter
from scim.filter_syntax import MAX_FILTER_LENGTH, MAX_NESTING, parse_text
from scim.filters import (
    And,
    Compare,
    FilterVisitor,
    Not,
    Or,
    Present,
    ValuePath,
    matches,
    parse_filter,
    parse_value_filter,
)
from scim.schemas import (
    DEFAULT_REGISTRY,
    ENTERPRISE_USER_URN,
    GROUP,
    GROUP_URN,
    USER,
    USER_URN,
    AttrRef,
    Schema,
)
from tests.reference import Schemas, evaluate

TEST_URN = "urn:example:params:scim:schemas:extension:test:2.0:User"
TEST_DEFINITION: dict[str, Any] = {
    "id": TEST_URN,
    "name": "Test",
    "description": "Attributes of every type, and names that start with filter keywords.",
    "attributes": [
        {"name": "count", "type": "integer"},
        {"name": "score", "type": "decimal"},
        {"name": "flag", "type": "boolean"},
        {"name": "blob", "type": "binary"},
        {"name": "homepage", "type": "reference", "referenceTypes": ["external"]},
        {"name": "since", "type": "dateTime"},
        {"name": "code", "type": "string", "caseExact": True},
        {"name": "badge", "type": "complex", "subAttributes": [{"name": "label", "type": "string"}]},
        {
            "name": "devices",
            "type": "complex",
            "multiValued": True,
            "subAttributes": [
                {"name": "value", "type": "string"},
                {"name": "seen", "type": "dateTime"},
                {"name": "cores", "type": "integer"},
            ],
        },
        {"name": "trueValue", "type": "string"},
        {"name": "falseStart", "type": "string"},
        {"name": "nullable", "type": "string"},
        {"name": "notes", "type": "string"},
        {"name": "orders", "type": "string"},
        {"name": "andromeda", "type": "string"},
        {"name": "eqName", "type": "string"},
    ],
}
TEST_SCHEMA = Schema.from_dict(TEST_DEFINITION)
TEST_USER = DEFAULT_REGISTRY.with_extensions([("User", TEST_SCHEMA)]).by_name("User")
REFERENCE_SCHEMAS = Schemas.user(TEST_DEFINITION)
assert TEST_USER is not None

EMAILS = USER.resolve("emails")
MEMBERS = GROUP.resolve("members")
ROLES = USER.resolve("roles")
MANAGER = USER.resolve("manager", urn=ENTERPRISE_USER_URN)
DEVICES = TEST_USER.resolve("devices", urn=TEST_URN)


def parse(text: str) -> Any:
    return parse_filter(text, TEST_USER)


# -- precedence and structure ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'userName eq "a" or title eq "b" and nickName eq "c"',
            '(userName eq "a" or (title eq "b" and nickName eq "c"))',
        ),
        (
            'userName eq "a" and title eq "b" or nickName eq "c"',
            '((userName eq "a" and title eq "b") or nickName eq "c")',
        ),
        (
            '(userName eq "a" or title eq "b") and nickName eq "c"',
            '((userName eq "a" or title eq "b") and nickName eq "c")',
        ),
        ('userName eq "a" or title pr or nickName pr', '((userName eq "a" or title pr) or nickName pr)'),
        ('userName eq "a" and title pr and nickName pr', '((userName eq "a" and title pr) and nickName pr)'),
        ('not (userName eq "a") and title pr', '(not (userName eq "a") and title pr)'),
        ('not (userName eq "a" or title pr)', 'not ((userName eq "a" or title pr))'),
        ('title pr or not (userName eq "a") and nickName pr', '(title pr or (not (userName eq "a") and nickName pr))'),
        ('((userName eq "a"))', 'userName eq "a"'),
        (
            'userName eq "a" or emails[type eq "work"] and active eq true',
            '(userName eq "a" or (emails[type eq "work"] and active eq true))',
        ),
    ],
)
def test_and_binds_tighter_than_or_and_not_tighter_than_and(text: str, expected: str) -> None:
    """Per RFC 7644 §3.4.2.2, `not` takes precedence over `and`, which takes precedence over `or`."""
    assert str(parse(text)) == expected


def test_a_filter_parses_into_the_dataclass_tree() -> None:
    """The tree is made of frozen dataclasses holding resolved attribute references."""
    expr = parse('userName eq "a" or title eq "b" and not (active eq true)')
    user_name, title, active = USER.resolve("userName"), USER.resolve("title"), USER.resolve("active")
    assert expr == Or(
        Compare(user_name, "eq", "a"),
        And(Compare(title, "eq", "b"), Not(Compare(active, "eq", True))),
    )


def test_a_long_chain_of_or_becomes_a_shallow_tree() -> None:
    """Hundreds of `or` terms are rebuilt balanced, so visitors never recurse hundreds of levels deep."""
    text = " or ".join(f"count eq {n}" for n in range(250))

    def depth(node: Any) -> int:
        if isinstance(node, And | Or):
            return 1 + max(depth(node.left), depth(node.right))
        return 1

    expr = parse(text)
    assert depth(expr) <= 10
    assert evaluate(text, {TEST_URN: {"count": 249}}, REFERENCE_SCHEMAS)
    assert not evaluate(text, {TEST_URN: {"count": 250}}, REFERENCE_SCHEMAS)


# -- lexing: strings, numbers, keyword prefixes, case ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r'userName eq "a\"b"', 'a"b'),
        (r'userName eq "x\\y"', "x\\y"),
        (r'userName eq "\u00e9t\u00e9"', "été"),
        ('userName eq "été"', "été"),
        (r'userName eq "tab\there"', "tab\there"),
        (r'userName eq "a\/b"', "a/b"),
        ('userName eq ""', ""),
        ('userName eq "50%_off"', "50%_off"),
        ('userName eq "x) or (title pr"', "x) or (title pr"),
        ('userName eq "emails[type eq \\"work\\"]"', 'emails[type eq "work"]'),
        ('userName eq "and or not eq pr true null"', "and or not eq pr true null"),
    ],
)
def test_string_values_are_json_strings_with_their_escapes_decoded(text: str, value: str) -> None:
    """Per RFC 7644 §3.4.2.2, compValue follows JSON (RFC 7159) string rules."""
    assert parse(text).value == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("count eq 5", 5),
        ("count eq 0", 0),
        ("count eq -1", -1),
        ("count eq 1e3", 1000),
        ("count eq 2.0", 2),
        ("score eq 1.5", 1.5),
        ("score eq -0.25", -0.25),
        ("score eq 1e3", 1000.0),
        ("score eq 1E-2", 0.01),
        ("score eq 2", 2.0),
    ],
)
def test_numbers_follow_the_json_number_grammar(text: str, value: float) -> None:
    """Per RFC 7644 §3.4.2.2, numbers are JSON numbers: signs, fractions and exponents."""
    compare = parse(text)
    assert compare.value == value
    assert type(compare.value) is type(value)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ('trueValue eq "x"', "trueValue"),
        ('falseStart eq "x"', "falseStart"),
        ("nullable pr", "nullable"),
        ('notes co "x"', "notes"),
        ('orders eq "x"', "orders"),
        ('andromeda eq "x"', "andromeda"),
        ('eqName eq "x"', "eqName"),
        ('trueValue eq "x" and nullable pr', "trueValue"),
    ],
)
def test_attribute_names_may_start_with_a_keyword(text: str, name: str) -> None:
    """`true`, `null`, `not`, `or`, `and` and operators are whole words, not prefixes of names."""
    expr = parse(text)
    leaf = expr.left if isinstance(expr, And) else expr
    assert leaf.ref.attribute.name == name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('USERNAME eq "x"', 'userName eq "x"'),
        ('username EQ "x"', 'userName eq "x"'),
        ('userName Eq "x"', 'userName eq "x"'),
        ('userName eQ "x" AND title Pr', '(userName eq "x" and title pr)'),
        ('userName eq "x" Or title PR', '(userName eq "x" or title pr)'),
        ('NOT (userName eq "x")', 'not (userName eq "x")'),
        ('nOt (userName eq "x")', 'not (userName eq "x")'),
        ('EMAILS[TYPE eq "work"]', 'emails[type eq "work"]'),
        ('name.GIVENNAME sw "b"', 'name.givenName sw "b"'),
        ('Meta.LastModified GT "2020-01-01T00:00:00Z"', 'meta.lastModified gt "2020-01-01T00:00:00+00:00"'),
        ('URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:USERNAME eq "x"', 'userName eq "x"'),
        ("active eq TRUE", "active eq true"),
        ("active eq False", "active eq false"),
        ("title eq NULL", "title eq null"),
        ('userName Co "x"', 'userName co "x"'),
        ('userName SW "x"', 'userName sw "x"'),
        ('userName eW "x"', 'userName ew "x"'),
        ('userName Ne "x"', 'userName ne "x"'),
        ('userName gE "x"', 'userName ge "x"'),
        ('userName Lt "x"', 'userName lt "x"'),
        ('userName LE "x"', 'userName le "x"'),
        ('userName GT "x"', 'userName gt "x"'),
    ],
)
def test_operators_keywords_and_attribute_names_are_case_insensitive(text: str, expected: str) -> None:
    """Per RFC 7644 §3.4.2.2 and RFC 7643 §2.1, operators and attribute names are case-insensitive."""
    assert str(parse(text)) == expected


# -- attribute paths ------------------------------------------------------------------------------

ENTERPRISE = ENTERPRISE_USER_URN


@pytest.mark.parametrize(
    ("text", "urn", "attribute", "sub"),
    [
        (f'{USER_URN}:userName eq "x"', USER_URN, "userName", None),
        (f'{USER_URN}:name.givenName eq "x"', USER_URN, "name", "givenName"),
        (f'{USER_URN}:meta.created gt "2020-01-01T00:00:00Z"', None, "meta", "created"),
        (f'{USER_URN}:id eq "x"', None, "id", None),
        (f'{ENTERPRISE}:department eq "x"', ENTERPRISE, "department", None),
        (f'{ENTERPRISE}:manager.value eq "x"', ENTERPRISE, "manager", "value"),
        (f"{ENTERPRISE}:manager.displayName pr", ENTERPRISE, "manager", "displayName"),
        (f'{ENTERPRISE}:manager eq "x"', ENTERPRISE, "manager", "value"),
        (f'{ENTERPRISE.upper()}:DEPARTMENT eq "x"', ENTERPRISE, "department", None),
        (f"{TEST_URN}:count gt 1", TEST_URN, "count", None),
        ('department eq "x"', ENTERPRISE, "department", None),
        ('manager eq "x"', ENTERPRISE, "manager", "value"),
        ("count gt 1", TEST_URN, "count", None),
        ('externalId eq "x"', None, "externalId", None),
        ('meta.resourceType eq "User"', None, "meta", "resourceType"),
    ],
)
def test_paths_resolve_with_or_without_their_schema_urn(
    text: str, urn: str | None, attribute: str, sub: str | None
) -> None:
    """Per RFC 7644 §3.10, a path may carry its schema URN; a unique extension attribute also resolves without."""
    ref = parse(text).ref
    assert (ref.urn, ref.attribute.name, ref.sub_attribute.name if ref.sub_attribute else None) == (urn, attribute, sub)


def test_group_paths_resolve_against_the_group_schema() -> None:
    """A filter is resolved against the resource type it searches."""
    assert str(parse_filter(f'{GROUP_URN}:displayName eq "x"', GROUP)) == 'displayName eq "x"'
    member_value = AttrRef(MEMBERS.schema, MEMBERS.attribute, MEMBERS.attribute.sub("value"))
    assert parse_filter('members eq "u1"', GROUP) == Compare(member_value, "eq", "u1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('emails eq "a@x"', 'emails.value eq "a@x"'),
        ('emails co "@x"', 'emails.value co "@x"'),
        ("emails pr", "emails pr"),
        ("name pr", "name pr"),
        ("emails eq null", "emails.value eq null"),
        ('x509Certificates eq "AAE="', 'x509Certificates.value eq "AAE="'),
    ],
)
def test_a_complex_attribute_without_sub_attribute_compares_its_value(text: str, expected: str) -> None:
    """Per RFC 7644 §3.4.2.2, `emails co "x"` filters on the `value` sub-attribute; `pr` applies to the whole."""
    assert str(parse(text)) == expected


def test_group_members_compare_on_their_value() -> None:
    """Entra's `members eq "id"` is `members.value eq "id"`."""
    expr = parse_filter('id eq "g1" and members eq "u1"', GROUP)
    assert str(expr) == '(id eq "g1" and members.value eq "u1")'


# -- value paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('emails[type eq "work" and value co "@x"]', 'emails[(type eq "work" and value co "@x")]'),
        ('emails[not (type eq "work")]', 'emails[not (type eq "work")]'),
        ("emails[primary eq true]", "emails[primary eq true]"),
        ('roles[primary eq "True"]', "roles[primary eq true]"),
        ('roles[primary eq "false"]', "roles[primary eq false]"),
        ('addresses[type eq "work" and postalCode sw "9"]', 'addresses[(type eq "work" and postalCode sw "9")]'),
        ('emails[type eq "work"] and userName eq "x"', '(emails[type eq "work"] and userName eq "x")'),
        ('EMAILS[TYPE EQ "work"]', 'emails[type eq "work"]'),
        (f'{USER_URN}:emails[type eq "work"]', 'emails[type eq "work"]'),
        (
            'emails[(type eq "work" or type eq "home") and primary eq true]',
            'emails[((type eq "work" or type eq "home") and primary eq true)]',
        ),
        (f"{TEST_URN}:devices[cores ge 4]", f"{TEST_URN}:devices[cores ge 4]"),
        ('manager[value eq "m1"]', f'{ENTERPRISE}:manager.value eq "m1"'),
    ],
)
def test_value_paths_keep_their_filter_on_one_value(text: str, expected: str) -> None:
    """Per RFC 7644 §3.4.2.2, `attr[filter]` applies the whole filter to the same value of a multi-valued attribute;
    on a single-valued complex attribute it is the plain filter."""
    assert str(parse(text)) == expected


def test_refs_inside_a_value_path_are_sub_attribute_refs_of_the_parent() -> None:
    """Inside `emails[...]` every ref is (schema, emails, sub)."""
    expr = parse('emails[type eq "work" and value co "@x"]')
    assert isinstance(expr, ValuePath)
    assert expr.ref == EMAILS
    assert expr.filter == And(
        Compare(AttrRef(EMAILS.schema, EMAILS.attribute, EMAILS.attribute.sub("type")), "eq", "work"),
        Compare(AttrRef(EMAILS.schema, EMAILS.attribute, EMAILS.attribute.sub("value")), "co", "@x"),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('emails[type eq "work"].value eq "x@y"', 'emails[(type eq "work" and value eq "x@y")]'),
        ('emails[type eq "work"].value ne "x@y"', 'emails[(type eq "work" and value ne "x@y")]'),
        ('phoneNumbers[type eq "mobile"].value pr', 'phoneNumbers[(type eq "mobile" and value pr)]'),
        ('addresses[type eq "work"].postalCode sw "9"', 'addresses[(type eq "work" and postalCode sw "9")]'),
        (
            'emails[type eq "work" or type eq "home"].value ew "@x"',
            'emails[((type eq "work" or type eq "home") and value ew "@x")]',
        ),
        (f'{USER_URN}:emails[type eq "work"].VALUE eq "x"', 'emails[(type eq "work" and value eq "x")]'),
        (
            'emails[type eq "work"].value eq "x" and userName pr',
            '(emails[(type eq "work" and value eq "x")] and userName pr)',
        ),
        ('roles[primary eq "True"].display eq "Admin"', 'roles[(primary eq true and display eq "Admin")]'),
    ],
)
def test_entra_value_path_with_sub_attribute_becomes_one_value_path(text: str, expected: str) -> None:
    """Entra's `emails[type eq "work"].value eq "x"` means: one email is work-typed and has that value."""
    assert str(parse(text)) == expected


# -- coercion ------------------------------------------------------------------------------------

UTC_2020 = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('userName eq "x"', "x"),
        ("active eq true", True),
        ("active eq false", False),
        ('active eq "True"', True),
        ('active eq "false"', False),
        ('active ne "FALSE"', False),
        ("flag eq true", True),
        ("count eq 42", 42),
        ("score ge 0.5", 0.5),
        ('meta.created gt "2020-01-01T00:00:00Z"', UTC_2020),
        ('meta.created gt "2020-01-01t00:00:00z"', UTC_2020),
        ('meta.created gt "2020-01-01T02:00:00+02:00"', UTC_2020),
        ('meta.created gt "2020-01-01T00:00:00"', UTC_2020),
        ('meta.created gt "2020-01-01T00:00:00.250Z"', UTC_2020 + timedelta(milliseconds=250)),
        ('since lt "2019-12-31T19:00:00-05:00"', UTC_2020),
        ('profileUrl eq "https://example.com/bjensen"', "https://example.com/bjensen"),
        ('homepage sw "https://"', "https://"),
        ('blob eq "AAE="', "AAE="),
        ('x509Certificates.value co "AAE"', "AAE"),
        ("title eq null", None),
        ("title ne null", None),
        ("active eq null", None),
        ("meta.created eq null", None),
        ("count ne null", None),
    ],
)
def test_values_are_coerced_to_the_attribute_type(text: str, value: object) -> None:
    """Per RFC 7643 §2.3, values take the attribute's type; dateTimes become aware instants."""
    compare = parse(text)
    assert compare.value == value
    assert type(compare.value) is type(value)
    if isinstance(value, datetime):
        assert compare.value.tzinfo is not None


def test_datetime_values_are_read_as_their_utc_instant() -> None:
    """A dateTime with an offset denotes the same instant as its UTC form, which every database accepts (PostgreSQL
    refuses offsets beyond ±15:59)."""
    value = parse('meta.created gt "2020-01-01T02:00:00+02:00"').value
    assert value.utcoffset() == timedelta(0)
    assert value == datetime(2020, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert parse('meta.created gt "2020-01-01T00:00:00+20:00"').value == datetime(2019, 12, 31, 4, tzinfo=UTC)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                  "0001-01-01T00:00:00+00:01"])
def test_a_datetime_whose_utc_instant_is_outside_years_1_to_9999_is_invalid(text: str) -> None:
    with pytest.raises(InvalidFilter, match="years 1 to 9999"):
        parse(f'meta.created gt "{text}"')


@pytest.mark.parametrize(
    "text",
    [
        'userName gt "a"',
        'userName le "z"',
        'meta.lastModified ge "2020-01-01T00:00:00Z"',
        "count lt 5",
        "score gt -1.5",
        'profileUrl co "example"',
        'blob sw "AA"',
        'homepage ew ".com"',
        'emails.value ew "@x"',
        'code eq "ABC"',
    ],
)
def test_operators_that_suit_the_attribute_type_are_accepted(text: str) -> None:
    """Ordering works on strings, numbers and dateTimes; substrings on string-like types."""
    assert isinstance(parse(text), Compare)


# -- invalid filters -----------------------------------------------------------------------------

INVALID = [
    "",
    "   ",
    "userName",
    "userName eq",
    "userName Eq",
    'userName zz "x"',
    'userName regex "x"',
    'eq "x"',
    '"x" eq userName',
    'userName eq "x" and',
    'and userName eq "x"',
    'userName eq "x" or or title pr',
    'userName eq "x" userName eq "y"',
    'userName eq "a" "b"',
    'userName pr "x"',
    'not userName eq "x"',
    '(userName eq "x"',
    'userName eq "x")',
    '((userName eq "x")',
    'userName eq "x" and (title pr or)',
    "()",
    'emails[type eq "work"',
    'emails type eq "work"]',
    "emails[]",
    "emails[type[eq]]",
    'emails[type[value eq "x"]]',
    'emails[value eq "x" and emails[type eq "w"]]',
    'emails[type eq "work"][value eq "x"]',
    'emails[type eq "work"].value.display eq "x"',
    'emails[type eq "work"] eq "x"',
    'emails[type eq "work"] pr',
    'emails.value[type eq "work"]',
    'userName[value eq "x"]',
    'emails[type.value eq "x"]',
    f'emails[{USER_URN}:emails.type eq "work"]',
    'userName eq "abc',
    "userName eq 'x'",
    "userName eq x",
    r'userName eq "\q"',
    "userName eq @",
    "userName eq -",
    "userName eq 1.2.3",
    "count eq 01",
    "count eq +1",
    "count eq .5",
    "count eq 1.",
    "count eq 0x10",
    'userName eq "x"\n',
    r'userName eq "\u0000"',
    r'userName eq "\ud800"',
    'nosuch eq "x"',
    'name.nosuch eq "x"',
    'userName.sub eq "x"',
    'emails[nosuch eq "x"]',
    'members eq "x"',
    'urn:ietf:params:scim:schemas:extension:nosuch:2.0:User:department eq "x"',
    f'{ENTERPRISE}:userName eq "x"',
    f"{ENTERPRISE} pr",
    'password eq "x"',
    "password pr",
    f'{USER_URN}:password eq "x"',
    "active gt true",
    "active lt false",
    'active co "t"',
    'active eq "yes"',
    "active eq 1",
    "flag ge true",
    "userName gt true",
    "userName eq 5",
    "userName gt null",
    "userName co null",
    "meta.created gt 5",
    'meta.created gt "yesterday"',
    'meta.created gt "2020-01-01"',
    'meta.created gt "2020-13-01T00:00:00Z"',
    'meta.created co "2020"',
    'name eq "x"',
    'badge eq "x"',
    'emails gt "x"',
    'x509Certificates.value gt "A"',
    'blob lt "A"',
    "count eq 1.5",
    'count eq "5"',
    "count co 5",
    "count eq 9223372036854775808",
    "score eq true",
    "score eq 1e400",
    'score sw "1"',
    "groups.value gt true",
    'userName eq "' + "a" * MAX_FILTER_LENGTH + '"',
    "(" * (MAX_NESTING + 1) + 'userName eq "x"' + ")" * (MAX_NESTING + 1),
    "not (" * (MAX_NESTING + 1) + 'userName eq "x"' + ")" * (MAX_NESTING + 1),
]


@pytest.mark.parametrize("text", INVALID)
def test_malformed_or_unsupported_filters_are_invalid_filter_errors(text: str) -> None:
    """Per RFC 7644 §3.4.2.2 and §3.12, a filter the server cannot honour is a 400 invalidFilter."""
    with pytest.raises(InvalidFilter) as caught:
        parse(text)
    assert caught.value.status == 400
    assert caught.value.scim_type == "invalidFilter"
    assert caught.value.detail


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('nosuch eq "x"', "nosuch"),
        ('name.nosuch eq "x"', "nosuch"),
        ('emails[nosuch eq "x"]', "nosuch"),
        ('urn:x:y:Z:department eq "x"', "urn:x:y:Z"),
        ('password eq "x"', "password"),
        ("active gt true", "active"),
        ('userName zz "x"', "zz"),
        ("userName eq", "ends"),
    ],
)
def test_invalid_filter_details_name_the_culprit(text: str, fragment: str) -> None:
    """The error detail tells the client which attribute or token is wrong."""
    with pytest.raises(InvalidFilter, match=fragment):
        parse(text)


def test_an_extension_attribute_defined_twice_needs_its_urn() -> None:
    """An unqualified name found in two extensions is ambiguous."""
    twin = Schema.from_dict(
        {
            "id": "urn:example:twin",
            "name": "Twin",
            "description": "",
            "attributes": [{"name": "department", "type": "string"}],
        }
    )
    users = DEFAULT_REGISTRY.with_extensions([("User", twin)]).by_name("User")
    with pytest.raises(InvalidFilter, match="several"):
        parse_filter('department eq "x"', users)
    assert parse_filter('urn:example:twin:department eq "x"', users).ref.urn == "urn:example:twin"


def test_nesting_up_to_the_limit_is_accepted() -> None:
    """Nesting is limited, but not below what real filters need."""
    text = "(" * MAX_NESTING + 'userName eq "x"' + ")" * MAX_NESTING
    assert str(parse(text)) == 'userName eq "x"'


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_raises_only_invalid_filter(text: str) -> None:
    """Whatever the client sends, parsing either succeeds or raises InvalidFilter."""
    with contextlib.suppress(InvalidFilter):
        parse(text)


TOKENS = [
    "userName",
    "emails",
    "type",
    "value",
    "name.givenName",
    "meta.created",
    f"{ENTERPRISE}:manager",
    "eq",
    "ne",
    "co",
    "gt",
    "pr",
    "and",
    "or",
    "not",
    "(",
    ")",
    "[",
    "]",
    ".value",
    '"x"',
    '"work"',
    "1",
    "-1.5",
    "true",
    "null",
    '"2020-01-01T00:00:00Z"',
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12))
def test_token_soup_raises_only_invalid_filter(tokens: list[str]) -> None:
    """Near-miss filters built from real tokens never escape as anything but InvalidFilter."""
    try:
        expr = parse(" ".join(tokens))
    except InvalidFilter:
        return
    assert parse(str(expr)) == expr


ROUND_TRIP = [
    'userName eq "a" or title eq "b" and nickName eq "c"',
    'emails[type eq "work"].value eq "x@y"',
    f'{ENTERPRISE}:manager eq "m" and not (active eq false)',
    'meta.created gt "2020-01-01T02:00:00+02:00"',
    'count ge 5 and score lt 1.5 and since le "2020-01-01T00:00:00Z"',
    r'userName eq "a\"b\\c été"',
    'emails[type eq "work" and not (primary eq true)] or phoneNumbers pr',
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_a_parsed_filter_prints_as_filter_text_that_parses_back_to_it(text: str) -> None:
    """`str(expr)` is canonical filter text."""
    expr = parse(text)
    assert parse(str(expr)) == expr


# -- parse_value_filter and matches ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parent", "expected"),
    [
        ('value eq "u1"', MEMBERS, 'members[value eq "u1"]'),
        ('type eq "work"', EMAILS, 'emails[type eq "work"]'),
        ('primary eq "True"', ROLES, "roles[primary eq true]"),
        ('TYPE Eq "work" AND value co "@x"', EMAILS, 'emails[(type eq "work" and value co "@x")]'),
        ('value eq "m1"', MANAGER, f'{ENTERPRISE}:manager.value eq "m1"'),
    ],
)
def test_value_filters_resolve_names_as_sub_attributes_of_the_parent(text: str, parent: AttrRef, expected: str) -> None:
    """Per RFC 7644 §3.5.2, the filter in a PATCH path `attr[filter]` names sub-attributes of `attr`."""
    resource_type = GROUP if parent is MEMBERS else USER
    expr = parse_value_filter(text, resource_type, parent)
    shown = str(ValuePath(parent, expr)) if parent.attribute.multi_valued else str(expr)
    assert shown == expected


@pytest.mark.parametrize(
    ("text", "parent"),
    [
        ('nosuch eq "x"', EMAILS),
        ('emails.type eq "work"', EMAILS),
        ('type[value eq "x"] pr', EMAILS),
        ('value gt "x" and', MEMBERS),
        ('primary eq "yes"', ROLES),
        ("primary gt true", ROLES),
        ('value eq "x"', USER.resolve("userName")),
        ('value eq "x"', USER.resolve("emails", "value")),
        ("", MEMBERS),
    ],
)
def test_bad_value_filters_are_invalid_filter_errors(text: str, parent: AttrRef) -> None:
    """A value filter is checked like any filter, against the parent's sub-attributes."""
    with pytest.raises(InvalidFilter):
        parse_value_filter(text, GROUP if parent is MEMBERS else USER, parent)


@pytest.mark.parametrize(
    ("text", "parent", "element", "expected"),
    [
        ('value eq "u1"', MEMBERS, {"value": "u1"}, True),
        ('value eq "U1"', MEMBERS, {"value": "u1"}, False),
        ('value eq "u1"', MEMBERS, {"value": "u2", "display": "u1"}, False),
        ('display eq "ANN"', MEMBERS, {"value": "u1", "display": "Ann"}, True),
        ('type eq "work"', EMAILS, {"type": "Work", "value": "a@x"}, True),
        ('type eq "work"', EMAILS, {"value": "a@x"}, False),
        ('type eq "work"', EMAILS, {"Type": "work"}, True),
        ('type ne "work"', EMAILS, {"value": "a@x"}, True),
        ('type ne "work"', EMAILS, {"type": "home"}, True),
        ('type ne "work"', EMAILS, {"type": "WORK"}, False),
        ('value co "@X"', EMAILS, {"value": "a@x.com"}, True),
        ('value sw "A@"', EMAILS, {"value": "a@x.com"}, True),
        ('value ew ".COM"', EMAILS, {"value": "a@x.com"}, True),
        ('value ew ".org"', EMAILS, {"value": "a@x.com"}, False),
        ('value gt "a"', EMAILS, {"value": "B@x"}, True),
        ('value lt "a"', EMAILS, {"value": "B@x"}, False),
        ("primary eq true", EMAILS, {"primary": True}, True),
        ("primary eq true", EMAILS, {"primary": "True"}, True),
        ("primary eq true", EMAILS, {"primary": False}, False),
        ("primary eq true", EMAILS, {}, False),
        ('primary eq "True"', ROLES, {"primary": True, "value": "admin"}, True),
        ('primary eq "False"', ROLES, {"primary": True}, False),
        ("type pr", EMAILS, {"type": "work"}, True),
        ("type pr", EMAILS, {"type": ""}, False),
        ("type pr", EMAILS, {"type": None}, False),
        ("type pr", EMAILS, {}, False),
        ("type eq null", EMAILS, {}, True),
        ("type eq null", EMAILS, {"type": "work"}, False),
        ("type ne null", EMAILS, {"type": "work"}, True),
        ('type eq "work" and value ew "@x"', EMAILS, {"type": "work", "value": "a@x"}, True),
        ('type eq "work" and value ew "@x"', EMAILS, {"type": "home", "value": "a@x"}, False),
        ('type eq "work" or type eq "home"', EMAILS, {"type": "home"}, True),
        ('not (type eq "work")', EMAILS, {"type": "home"}, True),
        ('not (type eq "work")', EMAILS, {"type": "work"}, False),
        ('value eq "5"', EMAILS, {"value": 5}, False),
        ('value eq "m1"', MANAGER, {"value": "M1"}, True),
        ('seen gt "2020-01-01T00:00:00Z"', DEVICES, {"seen": "2020-01-01T00:30:00+01:00"}, False),
        ('seen gt "2020-01-01T00:00:00Z"', DEVICES, {"seen": "2020-01-01T01:30:00+01:00"}, True),
        ("cores ge 4", DEVICES, {"cores": 4}, True),
        ("cores ge 4", DEVICES, {"cores": "4"}, False),
    ],
)
def test_matches_picks_elements_of_a_multi_valued_attribute(
    text: str, parent: AttrRef, element: dict[str, Any], expected: bool
) -> None:
    """Per RFC 7644 §3.4.2.2: case-insensitive unless caseExact, missing matches nothing but `ne` and `eq null`."""
    resource_type = {MEMBERS: GROUP, DEVICES: TEST_USER}.get(parent, USER)
    assert matches(parse_value_filter(text, resource_type, parent), element) is expected


def test_matches_refuses_a_value_path() -> None:
    """`matches` works on one element, so a nested value path is an invalid filter."""
    with pytest.raises(InvalidFilter):
        matches(parse('emails[type eq "work"]'), {"type": "work"})


ELEMENT = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["work", "WORK", "home", "", None]),
        "value": st.sampled_from(["a@x", "A@X", "b@y", "", None, 5]),
        "primary": st.sampled_from([True, False, None]),
    },
)
VALUE_FILTERS = [
    'type eq "work"',
    'type ne "work"',
    "type pr",
    "type eq null",
    "type ne null",
    'value co "@X"',
    'value sw "a"',
    'value gt "a@x"',
    "primary eq true",
    'type eq "work" and not (primary eq true)',
    'value ew "y" or type pr',
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALUE_FILTERS), ELEMENT)
def test_matches_agrees_with_the_reference_evaluator(text: str, element: dict[str, Any]) -> None:
    """`matches` on one element is the reference evaluator on a resource holding only that element."""
    expr = parse_value_filter(text, USER, EMAILS)
    assert matches(expr, element) is evaluate(f"emails[{text}]", {"emails": [element]}, REFERENCE_SCHEMAS)


# -- the visitor ---------------------------------------------------------------------------------


def test_a_visitor_without_a_handler_raises_invalid_filter() -> None:
    """Per the split design, a backend that cannot translate a node answers invalidFilter, never a 500."""

    class OnlyCompare(FilterVisitor[str]):
        def visit_compare(self, node: Compare) -> str:
            return node.op

    assert OnlyCompare().visit(parse('userName eq "x"')) == "eq"
    for text in ("title pr", 'emails[type eq "w"]', "title pr and title pr", "title pr or title pr", "not (title pr)"):
        with pytest.raises(InvalidFilter):
            OnlyCompare().visit(parse(text))
    with pytest.raises(InvalidFilter):
        OnlyCompare().visit("userName eq 1")  # type: ignore[arg-type]


def test_present_and_compare_nodes_are_frozen() -> None:
    """Trees are immutable values, safe to cache and share."""
    node = parse("title pr")
    assert isinstance(node, Present)
    with pytest.raises(AttributeError):
        node.ref = EMAILS  # type: ignore[misc]


# -- the reference evaluator ---------------------------------------------------------------------

BJENSEN = {
    "id": "2819c223",
    "externalId": "ext-1",
    "userName": "Bjensen@Example.com",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "active": True,
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "meta": {
        "resourceType": "User",
        "created": "2011-08-01T18:29:49.793Z",
        "lastModified": "2011-08-01T20:00:00+02:00",
    },
    ENTERPRISE: {"department": "R&D", "manager": {"value": "m-1"}},
    TEST_URN: {"count": 3, "score": 2.5, "code": "AbC", "devices": [{"value": "d1", "cores": 8}]},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('userName eq "bjensen@example.com"', True),
        ('id eq "2819C223"', False),
        ('id eq "2819c223"', True),
        ("externalId pr", True),
        ('name.givenName sw "bar"', True),
        ('name.familyName eq "x"', False),
        ('emails.value co "jensen.org"', True),
        ('emails co "JENSEN.ORG"', True),
        ('emails[type eq "work" and value co "jensen.org"]', False),
        ('emails[type eq "home" and value co "jensen.org"]', True),
        ('emails.type eq "work" and emails.value co "jensen.org"', True),
        ('emails[type eq "work"].primary eq true', True),
        ('emails[type eq "home"].primary eq true', False),
        ('emails.type ne "work"', False),
        ('emails.type ne "other"', True),
        ("emails pr", True),
        ("phoneNumbers pr", False),
        ('phoneNumbers.value ne "1"', True),
        ("name pr", True),
        ("title pr", False),
        ("title eq null", True),
        ("userName eq null", False),
        ('nickName ne "x"', True),
        ('nickName eq "x"', False),
        ('nickName gt "a"', False),
        ('userName gt "a"', True),
        ('userName lt "b"', False),
        ('userName le "bjensen@example.com"', True),
        ('meta.created gt "2011-08-01T18:00:00Z"', True),
        ('meta.lastModified lt "2011-08-01T18:30:00Z"', True),
        ('meta.lastModified eq "2011-08-01T18:00:00Z"', True),
        ('manager eq "M-1"', True),
        (f'{ENTERPRISE}:department eq "r&d"', True),
        ("active eq true", True),
        ("not (active eq true)", False),
        ("active ne false", True),
        ("count gt 2 and score le 2.5", True),
        ('code eq "abc"', False),
        ('code eq "AbC"', True),
        ('devices[cores ge 8 and value eq "D1"]', True),
        ('userName eq "x" or emails[type eq "work"]', True),
        ('userName eq "x" or title pr and active eq true', False),
    ],
)
def test_the_reference_evaluator_follows_the_rfc(text: str, expected: bool) -> None:
    """The reference implements RFC 7644 §3.4.2.2 over a resource in wire form."""
    assert evaluate(text, BJENSEN, REFERENCE_SCHEMAS) is expected


def test_a_filter_shape_parsed_once_gives_each_request_its_own_values() -> None:
    """IdPs repeat one filter with another value: the parse of the shape is reused, the result is the full parse's."""
    for text in ('userName eq "ann"', 'userName eq "bob"', 'userName eq ""', 'userName eq "a \ue0000\ue000"',
                 'userName eq "\ue000Value0\ue000"',
                 'emails[type eq "work" and value co "@x"] or externalId eq "e"',
                 'emails[type eq "home" and value co "@y"] or externalId eq "f"',
                 'meta.lastModified gt "2024-01-01T00:00:00Z"', 'meta.lastModified gt "2025-06-01T12:00:00Z"'):
        full = filters._Converter(USER).convert(parse_text(text))  # the parse without the shape cache
        assert filters.parse_filter(text, USER) == full, text
    assert filters.parse_filter('meta.lastModified gt "2025-06-01T12:00:00Z"', USER).value == datetime(
        2025, 6, 1, 12, tzinfo=UTC)


def test_a_shape_seen_before_still_refuses_a_bad_value_with_its_own_message() -> None:
    filters.parse_filter('meta.created gt "2024-01-01T00:00:00Z"', USER)
    with pytest.raises(InvalidFilter, match="not-a-date"):
        filters.parse_filter('meta.created gt "not-a-date"', USER)
    filters.parse_filter('active eq true', USER)
    with pytest.raises(InvalidFilter, match="yes"):
        filters.parse_filter('active eq "yes"', USER)
    with pytest.raises(InvalidFilter):
        filters.parse_filter('userName eq "a\u0001"', USER)
