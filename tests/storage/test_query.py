"""Filters, sorting and paging in SQL (storage/query.py) on SQLite and PostgreSQL, on a small fixed population."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event, insert, text
from sqlalchemy.orm import Session

from scim.errors import InvalidCursor, InvalidFilter, InvalidValue
from scim.filters import parse_filter
from scim.schemas import ENTERPRISE_USER_URN, GROUP, USER, ResourceType
from storage.db import make_engine
from storage.models import Group, GroupMember, Tenant, User, UserEmail
from storage.pages import Page
from storage.resource_maps import GROUPS, USERS, ResourceMap
from storage.search import search
from storage.sqlite_functions import register_sqlite_functions

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
ENTERPRISE = ENTERPRISE_USER_URN


# -- population helpers (also used by test_filter_differential.py) -----------------------------


@dataclass
class Person:
    """A user row as storage writes it: the document, plus the columns and email rows derived from it."""

    id: str
    doc: dict[str, Any]
    created: datetime
    last_modified: datetime
    version: int = 1
    groups: list[str] = field(default_factory=list)

    def row(self, tenant_id: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": tenant_id,
            "user_name": self.doc["userName"],
            "user_name_key": self.doc["userName"].lower(),
            "external_id": self.doc.get("externalId"),
            "display_name": self.doc.get("displayName"),
            "active": self.doc.get("active"),
            "doc": self.doc,
            "created": self.created,
            "last_modified": self.last_modified,
            "version": self.version,
        }

    def email_rows(self, tenant_id: int) -> list[dict[str, Any]]:
        return [
            {
                "user_id": self.id,
                "position": position,
                "tenant_id": tenant_id,
                "value": email.get("value"),
                "value_key": email["value"].lower() if isinstance(email.get("value"), str) else None,
                "type": email.get("type"),
                "primary": email.get("primary"),
                "display": email.get("display"),
            }
            for position, email in enumerate(self.doc.get("emails") or ())
        ]

    def wire(self) -> dict[str, Any]:
        """The resource as GET shows it, as far as filters can see."""
        body: dict[str, Any] = {
            "id": self.id,
            **self.doc,
            "meta": {"created": self.created.isoformat(), "lastModified": self.last_modified.isoformat()},
        }
        if self.groups:
            body["groups"] = [{"value": group_id, "type": "direct"} for group_id in self.groups]
        return body


def sqlite_functions(engine: Engine) -> Engine:
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", lambda connection, _record: register_sqlite_functions(connection))
    return engine


def add_tenants(connection: Any, *tenant_ids: int) -> None:
    rows = [{"id": tenant_id, "name": f"tenant-{tenant_id}", "created_at": EPOCH} for tenant_id in tenant_ids]
    connection.execute(insert(Tenant), rows)


def add_people(connection: Any, tenant_id: int, people: Sequence[Person]) -> None:
    """Bulk Core inserts, the way storage fills users, user_emails and group_members."""
    if not people:
        return
    connection.execute(insert(User), [person.row(tenant_id) for person in people])
    emails = [row for person in people for row in person.email_rows(tenant_id)]
    if emails:
        connection.execute(insert(UserEmail), emails)
    members = [
        {"group_id": group_id, "member_id": person.id, "tenant_id": tenant_id}
        for person in people
        for group_id in person.groups
    ]
    if members:
        connection.execute(insert(GroupMember), members)


def add_groups(connection: Any, tenant_id: int, groups: Mapping[str, Mapping[str, Any]]) -> None:
    connection.execute(
        insert(Group),
        [
            {
                "id": group_id,
                "tenant_id": tenant_id,
                "display_name": doc["displayName"],
                "display_name_key": doc["displayName"].lower(),
                "external_id": doc.get("externalId"),
                "doc": dict(doc),
                "created": EPOCH,
                "last_modified": EPOCH,
                "version": 1,
            }
            for group_id, doc in groups.items()
        ],
    )


# -- the population ------------------------------------------------------------------------------

ADMINS, EMPTY, OTHER_ADMINS = "g-admins", "g-empty", "g-other-admins"


def _at(day: int, hour: int = 0) -> datetime:
    return EPOCH + timedelta(days=day, hours=hour)


def people() -> list[Person]:
    """Tenant 1: five users covering promoted columns, child rows, JSON attributes and missing values."""
    return [
        Person("id-ann", {
            "userName": "Ann", "displayName": "Ann Lee", "active": True, "externalId": "ext-1", "title": "Engineer",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"value": "Ann@Example.com", "type": "work", "primary": True},
                       {"value": "ann@home.org", "type": "home"}],
            "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
            ENTERPRISE: {"employeeNumber": "100", "department": "R&D", "manager": {"value": "id-bob"}},
        }, _at(0), _at(5), version=3, groups=[ADMINS]),
        Person("id-bob", {
            "userName": "bob", "displayName": "Bob", "active": False, "externalId": "EXT-2",
            "emails": [{"value": "bob@example.com", "type": "work"}],
            "roles": [{"value": "admin", "primary": True}, {"value": "user"}],
        }, _at(1), _at(1), groups=[ADMINS]),
        Person("id-cat", {
            "userName": "Cat%_/", "title": "",
            "addresses": [{"locality": "Paris", "country": "FR", "type": "work"}],
            ENTERPRISE: {"department": "Sales"},
        }, _at(2), _at(2, 12)),
        Person("id-dan", {
            "userName": "dan.o'neil", "displayName": "Dän", "active": True,
            "emails": [{"value": "dan@example.org", "type": "Work", "display": "Dan at work"}],
            "ims": [{"value": "dan_im", "type": "xmpp"}],
        }, _at(3), _at(3)),
        Person("id-eve", {
            "userName": "Ève", "displayName": "ÉVE", "active": True, "externalId": "ext-1", "nickName": "evie",
            "name": {"familyName": "Ève"}, "entitlements": [{"value": "ent1"}],
        }, _at(4), _at(4)),
    ]


def strangers() -> list[Person]:
    """Tenant 2: a `bob` of its own, and a `zed` tenant 1 does not have."""
    return [
        Person("id-bob-2", {"userName": "bob", "active": True}, _at(0), _at(0), groups=[OTHER_ADMINS]),
        Person("id-zed-2", {"userName": "zed", "emails": [{"value": "ann@example.com"}]}, _at(0), _at(0)),
    ]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = sqlite_functions(make_engine(db_url))
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with engine.begin() as connection:
        add_tenants(connection, 1, 2)
        add_groups(connection, 1, {
            ADMINS: {"displayName": "Admins"}, EMPTY: {"displayName": "Empty", "externalId": "gx"},
        })
        add_groups(connection, 2, {OTHER_ADMINS: {"displayName": "Admins"}})
        add_people(connection, 1, people())
        add_people(connection, 2, strangers())
    with Session(engine) as session:
        yield session


def names(page: Page) -> list[str]:
    return [row.doc.get("userName") or row.doc["displayName"] for row in page.rows]


def matching(session: Session, text: str, resource_type: ResourceType = USER, tenant_id: int = 1) -> set[str]:
    resources = USERS if resource_type is USER else GROUPS
    return set(names(search(session, resources, tenant_id, parse_filter(text, resource_type), count=100)))


# -- filters -------------------------------------------------------------------------------------

EVERYONE = {"Ann", "bob", "Cat%_/", "dan.o'neil", "Ève"}

USER_FILTERS = [
    ('userName eq "ANN"', {"Ann"}),
    ('userName eq "bob" or userName eq "zed"', {"bob"}),
    ('userName sw "a"', {"Ann"}),
    ('userName co "%_/"', {"Cat%_/"}),
    ('userName co "_"', {"Cat%_/"}),
    ('userName co "/"', {"Cat%_/"}),
    ('userName ew "NEIL"', {"dan.o'neil"}),
    ('userName gt "cat"', {"Cat%_/", "dan.o'neil", "Ève"}),
    ('userName lt "b"', {"Ann"}),
    ('userName le "bob"', {"Ann", "bob"}),
    ('userName co ""', EVERYONE),
    ('displayName eq "ann lee"', {"Ann"}),
    ('displayName eq "éve"', {"Ève"}),
    ('displayName co "ä"', {"dan.o'neil"}),
    ('displayName ne "Bob"', EVERYONE - {"bob"}),
    ('not (displayName eq "Bob")', EVERYONE - {"bob"}),
    ("displayName pr", EVERYONE - {"Cat%_/"}),
    ("not (displayName pr)", {"Cat%_/"}),
    ("displayName eq null", {"Cat%_/"}),
    ("displayName ne null", EVERYONE - {"Cat%_/"}),
    ('externalId eq "ext-1"', {"Ann", "Ève"}),
    ('externalId eq "EXT-1"', set()),
    ('externalId sw "EXT"', {"bob"}),
    ('externalId co "xt"', {"Ann", "Ève"}),
    ('externalId ne "ext-1"', {"bob", "Cat%_/", "dan.o'neil"}),
    ('id eq "id-ann"', {"Ann"}),
    ('id eq "ID-ANN"', set()),
    ("active eq true", {"Ann", "dan.o'neil", "Ève"}),
    ("active eq false", {"bob"}),
    ("not (active eq true)", {"bob", "Cat%_/"}),
    ("active pr", EVERYONE - {"Cat%_/"}),
    ('emails.value eq "ann@example.com"', {"Ann"}),
    ('emails eq "BOB@example.com"', {"bob"}),
    ('emails co "example"', {"Ann", "bob", "dan.o'neil"}),
    ('emails[type eq "work" and value ew ".org"]', {"dan.o'neil"}),
    ('emails.type eq "home" and emails.value ew ".com"', {"Ann"}),
    ('emails[type eq "home"]', {"Ann"}),
    ('emails[type eq "work"].value sw "DAN"', {"dan.o'neil"}),
    ("emails[primary eq true]", {"Ann"}),
    ("emails.primary eq false", set()),
    ("emails pr", {"Ann", "bob", "dan.o'neil"}),
    ("not (emails pr)", {"Cat%_/", "Ève"}),
    ('emails.value ne "bob@example.com"', EVERYONE - {"bob"}),
    ('not (emails[type eq "work"])', {"Cat%_/", "Ève"}),
    ('emails.display co "WORK"', {"dan.o'neil"}),
    ('phoneNumbers.type eq "WORK"', {"Ann"}),
    ('phoneNumbers[value co "555"]', {"Ann"}),
    ('addresses[locality eq "paris" and country eq "FR"]', {"Cat%_/"}),
    ('addresses[locality eq "paris" and type eq "home"]', set()),
    ("roles[primary eq true]", {"bob"}),
    ('roles[value eq "user" and primary eq true]', set()),
    ('ims.value eq "dan_im"', {"dan.o'neil"}),
    ("entitlements pr", {"Ève"}),
    ('name.givenName eq "ann"', {"Ann"}),
    ('name.familyName eq "ève"', {"Ève"}),
    ("name pr", {"Ann", "Ève"}),
    ('nickName sw "EV"', {"Ève"}),
    ("title pr", {"Ann"}),
    ("not (title pr)", EVERYONE - {"Ann"}),
    (f'{ENTERPRISE}:department eq "r&d"', {"Ann"}),
    (f'{ENTERPRISE}:department ne "r&d"', EVERYONE - {"Ann"}),
    (f'{ENTERPRISE}:manager.value eq "id-bob"', {"Ann"}),
    (f"{ENTERPRISE}:manager pr", {"Ann"}),
    (f'{ENTERPRISE}:employeeNumber gt "099"', {"Ann"}),
    ('meta.created gt "2024-01-01T00:00:00Z"', EVERYONE - {"Ann"}),
    ('meta.created ge "2024-01-02T02:00:00+02:00"', EVERYONE - {"Ann"}),
    ('meta.created lt "2024-01-02T00:00:00.000001Z"', {"Ann", "bob"}),
    ('meta.lastModified eq "2024-01-03T12:00:00Z"', {"Cat%_/"}),
    ('meta.lastModified gt "2024-01-04T00:00:00Z"', {"Ann", "Ève"}),
    ('meta.resourceType eq "User"', EVERYONE),
    ('meta.resourceType eq "user"', set()),
    ('meta.version eq "W/\\"3\\""', {"Ann"}),
    ('meta.version ne "W/\\"3\\""', EVERYONE - {"Ann"}),
    ("meta pr", EVERYONE),
    (f'groups.value eq "{ADMINS}"', {"Ann", "bob"}),
    (f'groups[value eq "{ADMINS}" and type eq "direct"]', {"Ann", "bob"}),
    (f'groups.value eq "{OTHER_ADMINS}"', set()),
    ("groups pr", {"Ann", "bob"}),
    ("not (groups pr)", {"Cat%_/", "dan.o'neil", "Ève"}),
    ('(userName eq "bob" or userName eq "ann") and active eq true', {"Ann"}),
    ('userName eq "bob" or userName eq "ann" and active eq true', {"Ann", "bob"}),
    ('not (userName eq "bob" or emails pr)', {"Cat%_/", "Ève"}),
]


def mismatches(
    session: Session, cases: Sequence[tuple[str, set[str]]], resource_type: ResourceType
) -> dict[str, tuple[set[str], set[str]]]:
    """The cases whose result differs from the expected set, as {filter: (got, expected)}; one database for all."""
    results = {text: (matching(session, text, resource_type), expected) for text, expected in cases}
    return {text: result for text, result in results.items() if result[0] != result[1]}


def test_user_filters_match_exactly_the_expected_users(session: Session) -> None:
    """Per RFC 7644 §3.4.2.2; tenant 2's users (another bob, a zed, ann@example.com) never show up."""
    assert mismatches(session, USER_FILTERS, USER) == {}


GROUP_FILTERS = [
    ('displayName eq "admins"', {"Admins"}),
    ('displayName sw "E"', {"Empty"}),
    ('members.value eq "id-bob"', {"Admins"}),
    ('members[value eq "id-ann"] and displayName sw "A"', {"Admins"}),
    ('members eq "id-bob-2"', set()),
    ("members pr", {"Admins"}),
    ("not (members pr)", {"Empty"}),
    ('members.type eq "user"', {"Admins"}),
    ('externalId eq "gx"', {"Empty"}),
    ('meta.resourceType eq "Group"', {"Admins", "Empty"}),
]


def test_group_filters_match_exactly_the_expected_groups(session: Session) -> None:
    assert mismatches(session, GROUP_FILTERS, GROUP) == {}


def test_every_query_is_scoped_to_its_tenant(session: Session) -> None:
    """The django-scim2 failure mode: `A or B` must not become `A or (B and tenant)`."""
    assert matching(session, 'userName eq "bob" or userName eq "zed"', tenant_id=2) == {"bob", "zed"}
    assert [row.id for row in search(session, USERS, 2, None, count=10).rows] == ["id-bob-2", "id-zed-2"]
    assert matching(session, 'emails.value eq "ann@example.com"', tenant_id=2) == {"zed"}
    assert matching(session, f'groups.value eq "{ADMINS}"', tenant_id=2) == set()
    assert matching(session, 'displayName eq "Admins"', GROUP, tenant_id=2) == {"Admins"}


def test_a_filter_on_what_is_not_stored_is_an_invalid_filter(session: Session) -> None:
    cases = [
        ('meta.location eq "https://x/Users/1"', USER),
        ('groups.display eq "Admins"', USER),
        ('members[display eq "Ann"]', GROUP),
        ('meta.version gt "W/\\"1\\""', USER),
    ]
    for filter_text, resource_type in cases:
        with pytest.raises(InvalidFilter):
            matching(session, filter_text, resource_type)


def test_values_are_bound_parameters(session: Session, engine: Engine) -> None:
    """A quote or a wildcard in a value is data, never SQL."""
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    hostile = "x' OR '1'='1"
    assert matching(session, f'displayName eq "{hostile}" or emails co "{hostile}" or title sw "%"') == set()
    assert statements and not any(hostile in statement or "'%'" in statement for statement in statements)


# -- sorting -------------------------------------------------------------------------------------


def sorted_names(session: Session, sort_by: str | None, descending: bool = False) -> list[str]:
    ref = USER.resolve_path(sort_by) if sort_by else None
    return names(search(session, USERS, 1, None, count=100, sort_by=ref, descending=descending))


SORTED = [
    (None, ["Ann", "bob", "Cat%_/", "dan.o'neil", "Ève"]),  # by id
    ("userName", ["Ann", "bob", "Cat%_/", "dan.o'neil", "Ève"]),
    ("displayName", ["Ann", "bob", "dan.o'neil", "Ève", "Cat%_/"]),  # a missing value sorts last
    ("externalId", ["bob", "Ann", "Ève", "Cat%_/", "dan.o'neil"]),  # caseExact: "EXT-2" < "ext-1"
    ("active", ["bob", "Ann", "dan.o'neil", "Ève", "Cat%_/"]),
    ("meta.lastModified", ["bob", "Cat%_/", "dan.o'neil", "Ève", "Ann"]),
    ("name.familyName", ["Ann", "Ève", "bob", "Cat%_/", "dan.o'neil"]),
    ("emails", ["Ann", "bob", "dan.o'neil", "Cat%_/", "Ève"]),  # the primary email, else the first
    ("emails.type", ["Ann", "bob", "dan.o'neil", "Cat%_/", "Ève"]),  # "Work" is "work": a tie, broken by id
    ("roles.value", ["bob", "Ann", "Cat%_/", "dan.o'neil", "Ève"]),
    ("groups.value", ["Ann", "bob", "Cat%_/", "dan.o'neil", "Ève"]),
    (f"{ENTERPRISE}:department", ["Ann", "Cat%_/", "bob", "dan.o'neil", "Ève"]),
    ("meta.version", ["bob", "Cat%_/", "dan.o'neil", "Ève", "Ann"]),
]


def test_sort_by_puts_missing_values_last_and_breaks_ties_by_id(session: Session) -> None:
    """Per RFC 7644 §3.4.2.3; descending is the exact reverse (missing values first)."""
    for sort_by, expected in SORTED:
        assert sorted_names(session, sort_by) == expected, sort_by
        assert sorted_names(session, sort_by, descending=True) == expected[::-1], sort_by


def test_sort_by_a_complex_attribute_without_value_is_an_invalid_value(session: Session) -> None:
    with pytest.raises(InvalidValue):
        sorted_names(session, "name")
    with pytest.raises(InvalidValue):
        names(search(session, GROUPS, 1, None, count=5, sort_by=GROUP.resolve_path("members.display")))


# -- paging --------------------------------------------------------------------------------------

SORTS = [(None, False), ("userName", True), ("displayName", False), ("displayName", True), ("emails", False),
         ("meta.created", True), (f"{ENTERPRISE}:department", False)]


def test_start_index_and_cursor_walks_return_every_row_once_in_order(session: Session) -> None:
    """Both walks give the whole ordered result once; previousCursor walks the same pages back."""
    for sort_by, descending in SORTS:
        walk(session, sort_by, descending)


def walk(session: Session, sort_by: str | None, descending: bool) -> None:
    ref = USER.resolve_path(sort_by) if sort_by else None
    whole = names(search(session, USERS, 1, None, count=100, sort_by=ref, descending=descending))
    by_index: list[str] = []
    for start in range(1, 7, 2):
        page = search(session, USERS, 1, None, count=2, start_index=start, sort_by=ref, descending=descending)
        assert page.total == 5 and page.next_cursor is None
        by_index += names(page)
    pages: list[list[str]] = []
    cursors: list[str | None] = []
    cursor: str | None = ""
    while cursor is not None:
        assert len(pages) < 10, "the walk does not end"
        page = search(session, USERS, 1, None, count=2, cursor=cursor, sort_by=ref, descending=descending)
        assert page.total == 5
        pages.append(names(page))
        cursors.append(page.previous_cursor)
        cursor = page.next_cursor
    assert by_index == whole == [name for page_names in pages for name in page_names]
    assert cursors[0] is None and all(cursors[1:])
    back: list[list[str]] = []
    previous = cursors[-1]
    while previous is not None:
        assert len(back) < 10, "the walk back does not end"
        page = search(session, USERS, 1, None, count=2, cursor=previous, sort_by=ref, descending=descending)
        back.append(names(page))
        previous = page.previous_cursor
    assert back == pages[-2::-1]


def test_a_cursor_walk_stays_exact_while_rows_are_inserted(session: Session, engine: Engine) -> None:
    """Keyset pages: rows inserted behind the position never shift the walk; each original row comes exactly once."""
    ref = USER.resolve_path("userName")
    seen: list[str] = []
    cursor: str | None = ""
    inserted = 0
    while cursor is not None:
        assert inserted < 20, "the walk does not end"
        page = search(session, USERS, 1, None, count=2, cursor=cursor, sort_by=ref)
        seen += names(page)
        cursor = page.next_cursor
        session.rollback()
        with engine.begin() as connection:  # one name sorting before everything, one after everything
            add_people(connection, 1, [
                Person(f"id-a{inserted}", {"userName": f"aa{inserted}"}, EPOCH, EPOCH),
                Person(f"id-z{inserted}", {"userName": f"zz{inserted}"}, EPOCH, EPOCH),
            ])
        inserted += 1
    assert len(seen) == len(set(seen))
    assert set(seen) >= EVERYONE
    assert not any(name.startswith("aa") for name in seen)
    assert seen == sorted(seen, key=str.lower)


def test_count_zero_gives_the_total_only(session: Session, engine: Engine) -> None:
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    for cursor in (None, ""):
        page = search(session, USERS, 1, parse_filter("emails pr", USER), count=0, cursor=cursor)
        assert (page.rows, page.total, page.next_cursor, page.previous_cursor) == ([], 3, None, None)
    selects = [statement for statement in statements if statement.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2 and all("count(" in statement.lower() for statement in selects)


def test_a_start_index_beyond_the_total_is_an_empty_page(session: Session) -> None:
    page = search(session, USERS, 1, None, count=10, start_index=6)
    assert (page.rows, page.total) == ([], 5)


def test_a_page_holding_every_match_needs_no_count_query(session: Session, engine: Engine) -> None:
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    page = search(session, USERS, 1, parse_filter('userName eq "bob"', USER), count=10)
    selects = [statement for statement in statements if statement.lstrip().upper().startswith("SELECT")]
    assert (names(page), page.total, len(selects)) == (["bob"], 1, 1)
    page = search(session, USERS, 1, None, count=2, count_total=False, cursor="")
    assert page.total is None and page.next_cursor


def _forge(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


FORGED = [
    "!!not-base64!!",
    "bm90IGpzb24",  # "not json"
    _forge({"a": 1}),
    _forge(["displayname+", 5, "id-ann", False]),  # a number where the key is a string
    _forge(["displayname+", "ann lee", 7, False]),
    _forge(["displayname+", "ann lee", "id-ann", "yes"]),
    _forge(["username+", "ann", "id-ann", False]),  # a cursor of another order
    _forge(["displayname+", "a\u0000", "id-ann", False]),
    base64.urlsafe_b64encode(b'["displayname+",NaN,"id-ann",false]').decode(),
    "A" * 20_000,
]


def test_a_cursor_the_query_did_not_issue_is_an_invalid_cursor(session: Session) -> None:
    """RFC 9865 §2.1: 400 with scimType invalidCursor, never a server error."""
    for cursor in FORGED:
        with pytest.raises(InvalidCursor):
            search(session, USERS, 1, None, count=2, cursor=cursor, sort_by=USER.resolve_path("displayName"))


def test_a_cursor_carries_typed_sort_keys(session: Session) -> None:
    """dateTime, boolean and null keys survive the round trip through the opaque cursor."""
    for sort_by in ("meta.created", "active", "displayName"):
        ref = USER.resolve_path(sort_by)
        page = search(session, USERS, 1, None, count=4, cursor="", sort_by=ref, descending=True)
        assert page.next_cursor is not None
        following = search(session, USERS, 1, None, count=4, cursor=page.next_cursor, sort_by=ref, descending=True)
        assert len(page.rows) + len(following.rows) == 5


# -- indexes -------------------------------------------------------------------------------------


def _big_population(engine: Engine, users: int = 2000) -> None:
    """`users` users in tenant 1 (a quarter as many in tenant 2), a group per 4 users, each user in one group."""
    with engine.begin() as connection:
        add_tenants(connection, 1, 2)
        for tenant_id, size in ((1, users), (2, users // 4)):
            add_groups(connection, tenant_id, {f"{tenant_id}-g{number}": {"displayName": f"Group {number}"}
                                               for number in range(size // 4)})
            add_people(connection, tenant_id, [
                Person(str(uuid.UUID(int=tenant_id << 64 | number)), {
                    "userName": f"user{number:05d}", "externalId": f"ext{number:05d}", "displayName": f"User {number}",
                    "active": number % 100 != 0, "emails": [{"value": f"u{number:05d}@x.com", "type": "work"}],
                }, EPOCH, EPOCH + timedelta(minutes=number), groups=[f"{tenant_id}-g{number // 4}"])
                for number in range(size)
            ])
        connection.execute(text("ANALYZE"))


def _plan(engine: Engine, resources: ResourceMap, resource_type: ResourceType, filter_text: str) -> str:
    """The plan of the row query `search` runs for `filter_text`."""
    captured: list[tuple[str, Any]] = []
    listener = lambda *args: captured.append((args[2], args[3]))  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    with Session(engine) as session:
        search(session, resources, 1, parse_filter(filter_text, resource_type), count=100, count_total=False)
    event.remove(engine, "before_cursor_execute", listener)
    statement, parameters = captured[-1]
    explain = "EXPLAIN " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql" and not isinstance(parameters, Mapping):  # storage.prepared's `$1`
            cursor = psycopg.RawCursor(connection.connection.driver_connection)
            rows = cursor.execute(explain + statement, parameters).fetchall()
        else:
            rows = connection.exec_driver_sql(explain + statement, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


# (filter, resources, resource type, what the plan shows on PostgreSQL, on SQLite). SQLite's planner keeps the
# (tenant_id, id) index for `ORDER BY id LIMIT` when it cannot see that a boolean or a range is selective.
INDEXED = [
    ('userName eq "USER01234"', USERS, USER, "uq_users_tenant_id_user_name_key", "(tenant_id=? AND user_name_key=?)"),
    ('externalId eq "ext01234"', USERS, USER, "ix_users_tenant_id_external_id", "ix_users_tenant_id_external_id"),
    ('emails.value eq "U01234@x.com"', USERS, USER, "ix_user_emails_tenant_id_value_key",
     "(tenant_id=? AND value_key=?)"),
    ('emails[value eq "u01234@x.com" and type eq "work"]', USERS, USER, "ix_user_emails_tenant_id_value_key",
     "(tenant_id=? AND value_key=?)"),
    ('groups.value eq "1-g5"', USERS, USER, "pk_group_members", "(group_id=?)"),
    ("active eq false", USERS, USER, "ix_users_tenant_id_active", None),
    ('meta.lastModified gt "2024-01-02T09:15:00Z"', USERS, USER, "ix_users_tenant_id_last_modified", None),
    ('displayName eq "group 42"', GROUPS, GROUP, "uq_groups_tenant_id_display_name_key",
     "(tenant_id=? AND display_name_key=?)"),
    ('members.value eq "x"', GROUPS, GROUP, "ix_group_members_member_id", "ix_group_members_member_id"),
]


def test_common_filters_use_their_index(engine: Engine) -> None:
    """With 2,000 users and fresh statistics the plan goes through the index, not a scan of the tenant's rows."""
    _big_population(engine)
    for filter_text, resources, resource_type, on_postgresql, on_sqlite in INDEXED:
        expected = on_postgresql if engine.dialect.name == "postgresql" else on_sqlite
        if expected is not None:
            plan = _plan(engine, resources, resource_type, filter_text)
            assert expected in plan, f"{filter_text}:\n{plan}"


# -- statements cached by filter shape -----------------------------------------------------------


def test_one_shape_answers_each_value_tenant_and_case_from_its_cached_sql(session: Session, engine: Engine) -> None:
    """The lookups IdPs repeat: the second and later searches of a shape build no statement, yet each gets its
    own value, its own tenant and case-insensitive matching."""
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert matching(session, 'userName eq "ann"') == {"Ann"}
    assert matching(session, 'userName eq "BOB"') == {"bob"}
    assert matching(session, 'userName eq "bob"', tenant_id=2) == {"bob"}
    assert matching(session, 'userName eq "zed"') == set()
    assert matching(session, 'userName eq "zed"', tenant_id=2) == {"zed"}
    assert matching(session, 'externalId eq "ext-1" and emails[type eq "work"]') == {"Ann"}
    assert matching(session, 'externalId eq "EXT-2" and emails[type eq "WORK"]') == {"bob"}
    assert matching(session, 'emails.value eq "ANN@example.com"', tenant_id=2) == {"zed"}
    assert matching(session, 'emails.value eq "ANN@example.com"') == {"Ann"}
    assert len(set(statements)) == 3  # one SQL text per shape, whatever the values


def test_shapes_whose_sql_depends_on_the_value_are_built_for_each_request(session: Session) -> None:
    """Substring patterns, dateTime values, comparisons decided in Python: right for every value."""
    assert matching(session, 'userName sw "a"') == {"Ann"}
    assert matching(session, 'userName sw "b"') == {"bob"}
    assert matching(session, 'userName co ""') == EVERYONE
    assert matching(session, 'externalId sw "ext"') == {"Ann", "Ève"}  # caseExact: on SQLite, a length in the SQL
    assert matching(session, 'externalId sw "EXT-"') == {"bob"}
    assert matching(session, 'meta.created lt "2024-01-02T00:00:00Z"') == {"Ann"}
    assert matching(session, 'meta.created lt "2024-01-03T00:00:00Z"') == {"Ann", "bob"}
    assert matching(session, 'meta.resourceType eq "User"') == EVERYONE
    assert matching(session, 'meta.resourceType eq "Group"') == set()


def test_a_cached_page_counts_what_it_does_not_hold(session: Session) -> None:
    for tenant_id, total in ((1, 5), (2, 2), (1, 5)):
        page = search(session, USERS, tenant_id, parse_filter('userName ne "nobody"', USER), count=1, start_index=2)
        assert (len(page.rows), page.total) == (1, total)
