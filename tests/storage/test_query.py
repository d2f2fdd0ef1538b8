"""Filters, sorting and paging in SQL (storage.search) on SQLite and PostgreSQL, on a small fixed population.

The population is written through the SCIM API (tests/storage/seeding.py), so what the writes store is what the
queries read; the queries run through `storage.search.search` itself.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from scim.errors import InvalidCursor, InvalidFilter, InvalidValue
from scim.filters import parse_filter
from scim.schemas import ENTERPRISE_USER_URN, GROUP, USER, ResourceType
from storage.pages import Page
from storage.resource_maps import GROUPS, USERS, ResourceMap
from storage.search import search
from tests.storage.seeding import GROUP_URN, USER_URN, Tenant

ENTERPRISE = ENTERPRISE_USER_URN
ANN, BOB, CAT, DAN, EVE = "Ann", "bob", "Cat%_/", "dan.o'neil", "Ève"
EVERYONE = {ANN, BOB, CAT, DAN, EVE}


# -- the population ------------------------------------------------------------------------------


@dataclass
class Directory:
    """What the population's writes gave back: tenant ids, resource ids, and the values the server set."""

    api: Tenant  # tenant 1, to write more
    tenant: int  # users Ann, bob, Cat, dan, Ève; groups Admins (Ann, bob) and Empty
    other: int  # another tenant: a `bob` of its own, a `zed`, a group Admins (its bob)
    ids: dict[str, str]  # user name (tenant 1), "bob-2", "zed-2", "admins", "empty", "other-admins" → id
    users: dict[str, dict[str, Any]]  # tenant 1's users as GET shows them, by userName

    def by_id(self, *user_names: str) -> list[str]:
        """The names in the order of their ids: how ties in any sort order are broken."""
        return sorted(user_names, key=self.ids.__getitem__)

    def fill(self, text: str) -> str:
        """`text` with each `<name>` replaced by what the writes gave back (ids, versions, timestamps)."""
        return re.sub(r"<([a-z0-9+-]+)>", lambda match: self._values()[match[1]], text)

    def _values(self) -> dict[str, str]:
        meta = {name: user["meta"] for name, user in self.users.items()}
        bob_created = _instant(meta[BOB]["created"])
        return {
            **{name.lower()[:3] if name in EVERYONE else name: value for name, value in self.ids.items()},
            "ann-version": json.dumps(meta[ANN]["version"])[1:-1],
            "ann-created": meta[ANN]["created"],
            "bob-created+02": bob_created.astimezone(timezone(timedelta(hours=2))).isoformat(),
            "bob-created": meta[BOB]["created"],
            "bob-created+1us": (bob_created + timedelta(microseconds=1)).isoformat(),
            "cat-created": meta[CAT]["created"],
            "cat-modified": meta[CAT]["lastModified"],
            "dan-modified": meta[DAN]["lastModified"],
        }


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _tenant_one(api: Tenant) -> dict[str, str]:
    """Five users covering promoted columns, child rows, JSON attributes and missing values; their ids by name."""
    created = {
        ANN: api.create_user(
            userName=ANN, displayName="Ann Lee", active=True, externalId="ext-1", title="Intern",
            name={"givenName": "Ann", "familyName": "Lee"},
            emails=[{"value": "Ann@Example.com", "type": "work", "primary": True},
                    {"value": "ann@home.org", "type": "home"}],
            phoneNumbers=[{"value": "+1 555 0100", "type": "work"}],
            schemas=[USER_URN, ENTERPRISE], **{ENTERPRISE: {"employeeNumber": "100", "department": "R&D"}},
        ),
        BOB: api.create_user(
            userName=BOB, displayName="Bob", active=False, externalId="EXT-2",
            emails=[{"value": "bob@example.com", "type": "work"}],
            roles=[{"value": "admin", "primary": True}, {"value": "user"}],
        ),
        CAT: api.create_user(
            userName=CAT, title="", addresses=[{"locality": "Paris", "country": "FR", "type": "work"}],
            schemas=[USER_URN, ENTERPRISE], **{ENTERPRISE: {"department": "Sales"}},
        ),
        DAN: api.create_user(userName="dan", displayName="Dan", emails=[{"value": "dan@example.net"}]),
        EVE: api.create_user(
            userName=EVE, displayName="ÉVE", active=True, externalId="ext-0", nickName="evie",
            name={"familyName": "Ève"}, entitlements=[{"value": "ent1"}],
        ),
    }
    ids = {name: resource["id"] for name, resource in created.items()}
    # Values the filters look for written by a PUT and a PATCH: the columns and rows they refresh are searched.
    api.replace_user(
        ids[DAN], userName=DAN, displayName="Dän", active=True,
        emails=[{"value": "dan@example.org", "type": "Work", "display": "Dan at work"}],
        ims=[{"value": "dan_im", "type": "xmpp"}],
    )
    api.patch_user(ids[EVE], {"op": "replace", "path": "externalId", "value": "ext-1"})
    return ids


@pytest.fixture
def engine(app: Flask) -> Engine:
    """The app's own engine: the database the API wrote to."""
    return app.extensions["scim.engine"]


@pytest.fixture
def directory(app: Flask, client: FlaskClient) -> Directory:
    acme, globex = Tenant(app, client, "acme"), Tenant(app, client, "globex")
    ids = _tenant_one(acme)
    ids["admins"] = acme.create_group("Admins", [ids[ANN], ids[BOB]])["id"]
    ids["empty"] = acme.create_group("Empty", externalId="gx")["id"]
    # Two writes after everyone else's: Ann's version is the highest and her lastModified the latest.
    acme.patch_user(ids[ANN], {"op": "replace", "path": f"{ENTERPRISE}:manager", "value": {"value": ids[BOB]}})
    acme.patch_user(ids[ANN], {"op": "replace", "path": "title", "value": "Engineer"})
    ids["bob-2"] = globex.create_user(userName="bob", active=True)["id"]
    ids["zed-2"] = globex.create_user(userName="zed", emails=[{"value": "ann@example.com"}])["id"]
    ids["other-admins"] = globex.create_group("Admins", [ids["bob-2"]])["id"]
    users = {resource["userName"]: resource for resource in acme.get("/Users", count=100)["Resources"]}
    return Directory(acme, acme.id, globex.id, ids, users)


@pytest.fixture
def session(engine: Engine, directory: Directory) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def names(page: Page) -> list[str]:
    return [row.doc.get("userName") or row.doc["displayName"] for row in page.rows]


def matching(
    session: Session, directory: Directory, text: str, resource_type: ResourceType = USER, other: bool = False
) -> set[str]:
    """The names of the resources `text` (with `<name>`s filled) matches in tenant 1, or in the `other` one."""
    resources = USERS if resource_type is USER else GROUPS
    expr = parse_filter(directory.fill(text), resource_type)
    return set(names(search(session, resources, directory.other if other else directory.tenant, expr, count=100)))


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
    ('id eq "<ann>"', {"Ann"}),
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
    (f'{ENTERPRISE}:manager.value eq "<bob>"', {"Ann"}),
    (f"{ENTERPRISE}:manager pr", {"Ann"}),
    (f'{ENTERPRISE}:employeeNumber gt "099"', {"Ann"}),
    ('meta.created gt "<ann-created>"', EVERYONE - {"Ann"}),
    ('meta.created ge "<bob-created+02>"', EVERYONE - {"Ann"}),
    ('meta.created lt "<bob-created+1us>"', {"Ann", "bob"}),
    ('meta.lastModified eq "<cat-modified>"', {"Cat%_/"}),
    ('meta.lastModified gt "<dan-modified>"', {"Ann", "Ève"}),
    ('meta.resourceType eq "User"', EVERYONE),
    ('meta.resourceType eq "user"', set()),
    ('meta.version eq "<ann-version>"', {"Ann"}),
    ('meta.version ne "<ann-version>"', EVERYONE - {"Ann"}),
    ("meta pr", EVERYONE),
    ('groups.value eq "<admins>"', {"Ann", "bob"}),
    ('groups[value eq "<admins>" and type eq "direct"]', {"Ann", "bob"}),
    ('groups.value eq "<other-admins>"', set()),
    ("groups pr", {"Ann", "bob"}),
    ("not (groups pr)", {"Cat%_/", "dan.o'neil", "Ève"}),
    ('(userName eq "bob" or userName eq "ann") and active eq true', {"Ann"}),
    ('userName eq "bob" or userName eq "ann" and active eq true', {"Ann", "bob"}),
    ('not (userName eq "bob" or emails pr)', {"Cat%_/", "Ève"}),
]


def mismatches(
    session: Session, directory: Directory, cases: Sequence[tuple[str, set[str]]], resource_type: ResourceType
) -> dict[str, tuple[set[str], set[str]]]:
    """The cases whose result differs from the expected set, as {filter: (got, expected)}; one database for all."""
    results = {text: (matching(session, directory, text, resource_type), expected) for text, expected in cases}
    return {text: result for text, result in results.items() if result[0] != result[1]}


def test_user_filters_match_exactly_the_expected_users(session: Session, directory: Directory) -> None:
    """Per RFC 7644 §3.4.2.2; tenant 2's users (another bob, a zed, ann@example.com) never show up."""
    assert mismatches(session, directory, USER_FILTERS, USER) == {}


GROUP_FILTERS = [
    ('displayName eq "admins"', {"Admins"}),
    ('displayName sw "E"', {"Empty"}),
    ('members.value eq "<bob>"', {"Admins"}),
    ('members[value eq "<ann>"] and displayName sw "A"', {"Admins"}),
    ('members eq "<bob-2>"', set()),
    ("members pr", {"Admins"}),
    ("not (members pr)", {"Empty"}),
    ('members.type eq "user"', {"Admins"}),
    ('externalId eq "gx"', {"Empty"}),
    ('meta.resourceType eq "Group"', {"Admins", "Empty"}),
]


def test_group_filters_match_exactly_the_expected_groups(session: Session, directory: Directory) -> None:
    assert mismatches(session, directory, GROUP_FILTERS, GROUP) == {}


def test_every_query_is_scoped_to_its_tenant(session: Session, directory: Directory) -> None:
    """The django-scim2 failure mode: `A or B` must not become `A or (B and tenant)`."""
    assert matching(session, directory, 'userName eq "bob" or userName eq "zed"', other=True) == {"bob", "zed"}
    everyone = search(session, USERS, directory.other, None, count=10).rows
    assert [row.id for row in everyone] == sorted([directory.ids["bob-2"], directory.ids["zed-2"]])
    assert matching(session, directory, 'emails.value eq "ann@example.com"', other=True) == {"zed"}
    assert matching(session, directory, 'groups.value eq "<admins>"', other=True) == set()
    assert matching(session, directory, 'displayName eq "Admins"', GROUP, other=True) == {"Admins"}


def test_a_filter_on_what_is_not_stored_is_an_invalid_filter(session: Session, directory: Directory) -> None:
    cases = [
        ('meta.location eq "https://x/Users/1"', USER),
        ('groups.display eq "Admins"', USER),
        ('members[display eq "Ann"]', GROUP),
        ('meta.version gt "W/\\"1\\""', USER),
    ]
    for filter_text, resource_type in cases:
        with pytest.raises(InvalidFilter):
            matching(session, directory, filter_text, resource_type)


def test_values_are_bound_parameters(session: Session, directory: Directory, engine: Engine) -> None:
    """A quote or a wildcard in a value is data, never SQL."""
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    hostile = "x' OR '1'='1"
    assert matching(session, directory, f'displayName eq "{hostile}" or emails co "{hostile}" or title sw "%"') == set()
    assert statements and not any(hostile in statement or "'%'" in statement for statement in statements)


# -- sorting -------------------------------------------------------------------------------------


def sorted_names(session: Session, directory: Directory, sort_by: str | None, descending: bool = False) -> list[str]:
    ref = USER.resolve_path(sort_by) if sort_by else None
    return names(search(session, USERS, directory.tenant, None, count=100, sort_by=ref, descending=descending))


# (sortBy, the names in order in groups of equal sort keys): a tie is broken by id, so a group comes in id order.
SORTED = [
    (None, [[ANN, BOB, CAT, DAN, EVE]]),
    ("userName", [[ANN], [BOB], [CAT], [DAN], [EVE]]),
    ("displayName", [[ANN], [BOB], [DAN], [EVE], [CAT]]),  # a missing value sorts last
    ("externalId", [[BOB], [ANN, EVE], [CAT, DAN]]),  # caseExact: "EXT-2" < "ext-1"
    ("active", [[BOB], [ANN, DAN, EVE], [CAT]]),
    ("meta.lastModified", [[BOB], [CAT], [DAN], [EVE], [ANN]]),
    ("name.familyName", [[ANN], [EVE], [BOB, CAT, DAN]]),
    ("emails", [[ANN], [BOB], [DAN], [CAT, EVE]]),  # the primary email, else the first
    ("emails.type", [[ANN, BOB, DAN], [CAT, EVE]]),  # "Work" is "work"
    ("roles.value", [[BOB], [ANN, CAT, DAN, EVE]]),
    ("groups.value", [[ANN, BOB], [CAT, DAN, EVE]]),
    (f"{ENTERPRISE}:department", [[ANN], [CAT], [BOB, DAN, EVE]]),
    ("meta.version", [[BOB, CAT], [DAN, EVE], [ANN]]),
]


def test_sort_by_puts_missing_values_last_and_breaks_ties_by_id(session: Session, directory: Directory) -> None:
    """Per RFC 7644 §3.4.2.3; descending is the exact reverse (missing values first)."""
    for sort_by, groups in SORTED:
        expected = [name for group in groups for name in directory.by_id(*group)]
        assert sorted_names(session, directory, sort_by) == expected, sort_by
        assert sorted_names(session, directory, sort_by, descending=True) == expected[::-1], sort_by


def test_sort_by_a_complex_attribute_without_value_is_an_invalid_value(session: Session, directory: Directory) -> None:
    with pytest.raises(InvalidValue):
        sorted_names(session, directory, "name")
    with pytest.raises(InvalidValue):
        names(search(session, GROUPS, directory.tenant, None, count=5, sort_by=GROUP.resolve_path("members.display")))


# -- paging --------------------------------------------------------------------------------------

SORTS = [(None, False), ("userName", True), ("displayName", False), ("displayName", True), ("emails", False),
         ("meta.created", True), (f"{ENTERPRISE}:department", False)]


def test_start_index_and_cursor_walks_return_every_row_once_in_order(session: Session, directory: Directory) -> None:
    """Both walks give the whole ordered result once; previousCursor walks the same pages back."""
    for sort_by, descending in SORTS:
        walk(session, directory.tenant, sort_by, descending)


def walk(session: Session, tenant_id: int, sort_by: str | None, descending: bool) -> None:
    ref = USER.resolve_path(sort_by) if sort_by else None
    whole = names(search(session, USERS, tenant_id, None, count=100, sort_by=ref, descending=descending))
    by_index: list[str] = []
    for start in range(1, 7, 2):
        page = search(session, USERS, tenant_id, None, count=2, start_index=start, sort_by=ref, descending=descending)
        assert page.total == 5 and page.next_cursor is None
        by_index += names(page)
    pages: list[list[str]] = []
    cursors: list[str | None] = []
    cursor: str | None = ""
    while cursor is not None:
        assert len(pages) < 10, "the walk does not end"
        page = search(session, USERS, tenant_id, None, count=2, cursor=cursor, sort_by=ref, descending=descending)
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
        page = search(session, USERS, tenant_id, None, count=2, cursor=previous, sort_by=ref, descending=descending)
        back.append(names(page))
        previous = page.previous_cursor
    assert back == pages[-2::-1]


def test_a_cursor_walk_stays_exact_while_rows_are_inserted(session: Session, directory: Directory) -> None:
    """Keyset pages: rows inserted behind the position never shift the walk; each original row comes exactly once."""
    ref = USER.resolve_path("userName")
    seen: list[str] = []
    cursor: str | None = ""
    inserted = 0
    while cursor is not None:
        assert inserted < 20, "the walk does not end"
        page = search(session, USERS, directory.tenant, None, count=2, cursor=cursor, sort_by=ref)
        seen += names(page)
        cursor = page.next_cursor
        session.rollback()
        # One name sorting before everything, one after everything.
        directory.api.create_user(userName=f"aa{inserted}")
        directory.api.create_user(userName=f"zz{inserted}")
        inserted += 1
    assert len(seen) == len(set(seen))
    assert set(seen) >= EVERYONE
    assert not any(name.startswith("aa") for name in seen)
    assert seen == sorted(seen, key=str.lower)


def test_count_zero_gives_the_total_only(session: Session, directory: Directory, engine: Engine) -> None:
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    for cursor in (None, ""):
        page = search(session, USERS, directory.tenant, parse_filter("emails pr", USER), count=0, cursor=cursor)
        assert (page.rows, page.total, page.next_cursor, page.previous_cursor) == ([], 3, None, None)
    selects = [statement for statement in statements if statement.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2 and all("count(" in statement.lower() for statement in selects)


def test_a_start_index_beyond_the_total_is_an_empty_page(session: Session, directory: Directory) -> None:
    page = search(session, USERS, directory.tenant, None, count=10, start_index=6)
    assert (page.rows, page.total) == ([], 5)


def test_a_page_holding_every_match_needs_no_count_query(
    session: Session, directory: Directory, engine: Engine
) -> None:
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    page = search(session, USERS, directory.tenant, parse_filter('userName eq "bob"', USER), count=10)
    selects = [statement for statement in statements if statement.lstrip().upper().startswith("SELECT")]
    assert (names(page), page.total, len(selects)) == (["bob"], 1, 1)
    page = search(session, USERS, directory.tenant, None, count=2, count_total=False, cursor="")
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


def test_a_cursor_the_query_did_not_issue_is_an_invalid_cursor(session: Session, directory: Directory) -> None:
    """RFC 9865 §2.1: 400 with scimType invalidCursor, never a server error."""
    for cursor in FORGED:
        with pytest.raises(InvalidCursor):
            search(
                session, USERS, directory.tenant, None, count=2, cursor=cursor,
                sort_by=USER.resolve_path("displayName")
            )


def test_a_cursor_carries_typed_sort_keys(session: Session, directory: Directory) -> None:
    """dateTime, boolean and null keys survive the round trip through the opaque cursor."""
    for sort_by in ("meta.created", "active", "displayName"):
        ref = USER.resolve_path(sort_by)
        page = search(session, USERS, directory.tenant, None, count=4, cursor="", sort_by=ref, descending=True)
        assert page.next_cursor is not None
        following = search(
            session, USERS, directory.tenant, None, count=4, cursor=page.next_cursor, sort_by=ref, descending=True
        )
        assert len(page.rows) + len(following.rows) == 5


# -- indexes -------------------------------------------------------------------------------------


def _big_population(app: Flask, client: FlaskClient, users: int = 2000) -> tuple[int, dict[str, str]]:
    """`users` users in one tenant (a quarter as many in another), a group per 4 users, each user in one group; the
    first tenant's id and the values its filters name (`<g5>`: a group's id, `<cut>`: a late lastModified)."""
    acme, globex = Tenant(app, client, "acme"), Tenant(app, client, "globex")
    values: dict[str, str] = {}
    # The other tenant first: the cut selects a few of acme's users, not the other tenant's besides.
    for api, size in ((globex, users // 4), (acme, users)):
        user_ids = api.bulk_create("/Users", [
            {"schemas": [USER_URN], "userName": f"user{number:05d}", "externalId": f"ext{number:05d}",
             "displayName": f"User {number}", "active": number % 100 != 0,
             "emails": [{"value": f"u{number:05d}@x.com", "type": "work"}]}
            for number in range(size)
        ])
        group_ids = api.bulk_create("/Groups", [
            {"schemas": [GROUP_URN], "displayName": f"Group {number}",
             "members": [{"value": user_id} for user_id in user_ids[4 * number:4 * number + 4]]}
            for number in range(size // 4)
        ])
        values["g5"] = group_ids[5]
    late = acme.get("/Users", filter=f'userName eq "user{users - 5:05d}"')["Resources"][0]
    values["cut"] = late["meta"]["lastModified"]
    with app.extensions["scim.engine"].begin() as connection:
        connection.execute(text("ANALYZE"))
    return acme.id, values


def _plan(engine: Engine, tenant_id: int, resources: ResourceMap, resource_type: ResourceType, filter_text: str) -> str:
    """The plan of the row query `search` runs for `filter_text`."""
    captured: list[tuple[str, Any]] = []
    listener = lambda *args: captured.append((args[2], args[3]))  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    with Session(engine) as session:
        search(session, resources, tenant_id, parse_filter(filter_text, resource_type), count=100, count_total=False)
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
    ('groups.value eq "<g5>"', USERS, USER, "pk_group_members", "(group_id=?)"),
    ("active eq false", USERS, USER, "ix_users_tenant_id_active", None),
    ('meta.lastModified gt "<cut>"', USERS, USER, "ix_users_tenant_id_last_modified", None),
    ('displayName eq "group 42"', GROUPS, GROUP, "uq_groups_tenant_id_display_name_key",
     "(tenant_id=? AND display_name_key=?)"),
    ('members.value eq "x"', GROUPS, GROUP, "ix_group_members_member_id", "ix_group_members_member_id"),
]


def test_common_filters_use_their_index(app: Flask, client: FlaskClient, engine: Engine) -> None:
    """With 2,000 users and fresh statistics the plan goes through the index, not a scan of the tenant's rows."""
    tenant_id, values = _big_population(app, client)
    for filter_text, resources, resource_type, on_postgresql, on_sqlite in INDEXED:
        expected = on_postgresql if engine.dialect.name == "postgresql" else on_sqlite
        if expected is not None:
            filled = re.sub(r"<([a-z0-9]+)>", lambda match: values[match[1]], filter_text)
            plan = _plan(engine, tenant_id, resources, resource_type, filled)
            assert expected in plan, f"{filter_text}:\n{plan}"


# -- statements cached by filter shape -----------------------------------------------------------


def test_one_shape_answers_each_value_tenant_and_case_from_its_cached_sql(
    session: Session, directory: Directory, engine: Engine
) -> None:
    """The lookups IdPs repeat: the second and later searches of a shape build no statement, yet each gets its
    own value, its own tenant and case-insensitive matching."""
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert matching(session, directory, 'userName eq "ann"') == {"Ann"}
    assert matching(session, directory, 'userName eq "BOB"') == {"bob"}
    assert matching(session, directory, 'userName eq "bob"', other=True) == {"bob"}
    assert matching(session, directory, 'userName eq "zed"') == set()
    assert matching(session, directory, 'userName eq "zed"', other=True) == {"zed"}
    assert matching(session, directory, 'externalId eq "ext-1" and emails[type eq "work"]') == {"Ann"}
    assert matching(session, directory, 'externalId eq "EXT-2" and emails[type eq "WORK"]') == {"bob"}
    assert matching(session, directory, 'emails.value eq "ANN@example.com"', other=True) == {"zed"}
    assert matching(session, directory, 'emails.value eq "ANN@example.com"') == {"Ann"}
    assert len(set(statements)) == 3  # one SQL text per shape, whatever the values


def test_shapes_whose_sql_depends_on_the_value_are_built_for_each_request(
    session: Session, directory: Directory
) -> None:
    """Substring patterns, dateTime values, comparisons decided in Python: right for every value."""
    assert matching(session, directory, 'userName sw "a"') == {"Ann"}
    assert matching(session, directory, 'userName sw "b"') == {"bob"}
    assert matching(session, directory, 'userName co ""') == EVERYONE
    # caseExact: on SQLite, a length in the SQL
    assert matching(session, directory, 'externalId sw "ext"') == {"Ann", "Ève"}
    assert matching(session, directory, 'externalId sw "EXT-"') == {"bob"}
    assert matching(session, directory, 'meta.created lt "<bob-created>"') == {"Ann"}
    assert matching(session, directory, 'meta.created lt "<cat-created>"') == {"Ann", "bob"}
    assert matching(session, directory, 'meta.resourceType eq "User"') == EVERYONE
    assert matching(session, directory, 'meta.resourceType eq "Group"') == set()


def test_a_cached_page_counts_what_it_does_not_hold(session: Session, directory: Directory) -> None:
    for tenant_id, total in ((directory.tenant, 5), (directory.other, 2), (directory.tenant, 5)):
        page = search(session, USERS, tenant_id, parse_filter('userName ne "nobody"', USER), count=1, start_index=2)
        assert (len(page.rows), page.total) == (1, total)
