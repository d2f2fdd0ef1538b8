"""Users and groups pages: paged tables, plain-text and SCIM-filter search, detail pages."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from scim.payloads import parse_resource
from scim.schemas import GROUP, USER
from storage import groups, tenants, users
from storage.db import make_sessionmaker
from storage.events import Origin

PEOPLE = [
    {"userName": "ann@acme.test", "displayName": "Ann Archer", "emails": [{"value": "ann@mail.test", "primary": True}],
     "title": "Site reliability lead", "locale": "fr-CA"},
    {"userName": "bob@acme.test", "name": {"givenName": "Bob", "familyName": "Baker"}, "active": False},
    {"userName": "cy@acme.test", "displayName": "Cy Cooper", "emails": [{"value": "cyrus@other.test"}]},
]

SEEDED = Origin("POST", "/seed")


@pytest.fixture
def directory(app: Flask) -> dict[str, Any]:
    """Tenant acme with three users and a group holding ann and bob; globex with a user of its own."""
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        acme, globex = tenants.create(session, "acme"), tenants.create(session, "globex")
        connection = session.connection()
        ids = [users.create(connection, acme.id, USER, parse_resource(person, USER), SEEDED).id for person in PEOPLE]
        stranger = users.create(connection, globex.id, USER, parse_resource({"userName": "zed@globex.test"}, USER),
                                SEEDED)
        body = {"displayName": "Staff", "externalId": "okta-staff",
                "members": [{"value": ids[0]}, {"value": ids[1]}]}
        staff = groups.create(session.connection(), acme.id, GROUP, parse_resource(body, GROUP), SEEDED)
        groups.create(session.connection(), acme.id, GROUP, parse_resource({"displayName": "Nobody"}, GROUP), SEEDED)
        return {"tenant": acme.id, "users": ids, "stranger": stranger.id, "staff": staff.id}


def _users(console: FlaskClient, tenant: int, query: str = "") -> tuple[int, str]:
    response = console.get(f"/admin/tenants/{tenant}/users", query_string={"q": query} if query else None)
    return response.status_code, response.get_data(as_text=True)


def test_the_users_page_lists_the_tenants_users_with_badges(console: FlaskClient, directory: dict) -> None:
    status, page = _users(console, directory["tenant"])
    assert status == 200
    assert all(person["userName"] in page for person in PEOPLE) and "zed@globex.test" not in page
    assert '<span class="count">3</span>' in page
    assert "Ann Archer" in page and "Bob Baker" in page and "ann@mail.test" in page
    assert page.count(">deactivated</span>") == 1 and page.count(">active</span>") == 2


@pytest.mark.parametrize(("query", "found"), [
    ("ann", ["ann@acme.test"]),  # userName
    ("Cooper", ["cy@acme.test"]),  # displayName
    ("cyrus@", ["cy@acme.test"]),  # emails.value
    ('say "hi"', []),  # quotes in plain text are searched as text
    ("active eq false", ["bob@acme.test"]),  # a SCIM filter
    ('userName sw "c" or displayName co "archer"', ["ann@acme.test", "cy@acme.test"]),
])
def test_the_search_box_takes_plain_text_or_a_scim_filter(console: FlaskClient, directory: dict, query: str,
                                                          found: list[str]) -> None:
    status, page = _users(console, directory["tenant"], query)
    assert status == 200
    table = page[page.index("<tbody>"):]
    assert sorted(name for name in (person["userName"] for person in PEOPLE) if name in table) == found


@pytest.mark.parametrize("query", ['userName eq', 'emails[type eq "work"', 'noSuchAttribute eq "x"', "userName pr and"])
def test_an_invalid_filter_shows_its_error_not_a_500(console: FlaskClient, directory: dict, query: str) -> None:
    status, page = _users(console, directory["tenant"], query)
    assert status == 400
    assert 'class="error" role="alert">Invalid filter:' in page


def test_the_users_page_is_paged(app: Flask, console: FlaskClient, directory: dict) -> None:
    app.config["CONSOLE_PAGE_SIZE"] = 2
    _status, first = _users(console, directory["tenant"])
    assert "ann@acme.test" in first and "bob@acme.test" in first and "cy@acme.test" not in first
    assert "Page 1 of 2" in first and "page=2" in first
    second = console.get(f"/admin/tenants/{directory['tenant']}/users?page=2").get_data(as_text=True)
    assert "cy@acme.test" in second and "ann@acme.test" not in second and "Page 2 of 2" in second


def test_the_user_page_shows_attributes_and_groups(console: FlaskClient, directory: dict) -> None:
    response = console.get(f"/admin/tenants/{directory['tenant']}/users/{directory['users'][0]}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for text in ("ann@acme.test", "Ann Archer", "ann@mail.test", ">primary</span>", ">Staff</a>", "Recent events",
                 "<dt>title</dt><dd>Site reliability lead</dd>", "<dt>locale</dt><dd>fr-CA</dd>"):
        assert text in page, text


@pytest.mark.parametrize("listing", ["users", "groups"])
def test_the_search_help_gives_a_filter_that_works_there(console: FlaskClient, directory: dict, listing: str) -> None:
    url = f"/admin/tenants/{directory['tenant']}/{listing}"
    page = console.get(url).get_data(as_text=True)
    example = html.unescape(re.search(r'<code class="example">(.+?)</code>', page)[1])
    response = console.get(url, query_string={"q": example})
    assert response.status_code == 200 and "Invalid filter" not in response.get_data(as_text=True), example


def test_the_groups_page_and_its_search(console: FlaskClient, directory: dict) -> None:
    page = console.get(f"/admin/tenants/{directory['tenant']}/groups").get_data(as_text=True)
    assert "Staff" in page and "Nobody" in page and "okta-staff" in page
    page = console.get(f"/admin/tenants/{directory['tenant']}/groups?q=staff").get_data(as_text=True)
    assert "Staff" in page and "Nobody" not in page[page.index("<tbody>"):]
    response = console.get(f"/admin/tenants/{directory['tenant']}/groups?q=displayName%20eq")
    assert response.status_code == 400 and "Invalid filter" in response.get_data(as_text=True)


def test_the_group_page_pages_its_members(app: Flask, console: FlaskClient, directory: dict) -> None:
    app.config["CONSOLE_PAGE_SIZE"] = 1
    url = f"/admin/tenants/{directory['tenant']}/groups/{directory['staff']}"
    first = console.get(url).get_data(as_text=True)
    assert '<span class="count">2</span>' in first and "ann@acme.test" in first and "bob@acme.test" not in first
    second = console.get(f"{url}?page=2").get_data(as_text=True)
    assert "bob@acme.test" in second and ">deactivated</span>" in second and "ann@acme.test" not in second


def test_another_tenants_user_or_group_is_not_found(console: FlaskClient, directory: dict) -> None:
    tenant = directory["tenant"]
    for path in (f"/admin/tenants/{tenant}/users/{directory['stranger']}", f"/admin/tenants/{tenant}/groups/nothing"):
        response = console.get(path)
        assert response.status_code == 404 and response.mimetype == "text/html"
