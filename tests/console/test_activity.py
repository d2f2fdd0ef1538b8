"""The activity pages and the failures on the connection page, over events written through storage.events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from scim import changes
from storage import events, tenants
from storage.db import make_sessionmaker
from storage.models import Event, utcnow
from tests.api.test_auth_failures import early_in_a_minute
from tests.conftest import make_token


def _event(app: Flask, tenant: str | None, kind: str, status: int, **fields: object) -> None:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        tenant_id = tenants.get_by_name(session, tenant).id if tenant else None
        origin = events.Origin(method=str(fields.pop("method", "POST")), path=str(fields.pop("path", "/scim/v2/Users")),
                               tenant_id=tenant_id, token_id=None, client_ip="127.0.0.1", user_agent="Okta SCIM")
        events.stage(session, events.entry(origin, kind, status, **fields))  # type: ignore[arg-type]


@pytest.fixture
def log(app: Flask) -> dict[str, int]:
    """acme: a user created, one rejected request; globex: one group created; no tenant: a 401."""
    make_token(app, "acme")
    make_token(app, "globex")
    _event(app, "acme", changes.USER_CREATED, 201, resource_type="User", resource_id="u-ann",
           diff={"userName": {"new": "ann"}})
    _event(app, "acme", changes.REQUEST_REJECTED, 409, resource_type="User", scim_type="uniqueness",
           detail="A user with userName 'ann' already exists.")
    _event(app, "globex", changes.GROUP_CREATED, 201, resource_type="Group", resource_id="g-staff")
    _event(app, None, changes.REQUEST_REJECTED, 401, method="GET", path="/scim/v2/Users",
           detail="Authorization failure: a valid bearer token is required.")
    with make_sessionmaker(app.extensions["scim.engine"])() as session:
        return {name: tenants.get_by_name(session, name).id for name in ("acme", "globex")}


def test_the_activity_of_all_tenants_includes_unattributed_failures(console: FlaskClient, log: dict) -> None:
    page = console.get("/admin/activity").get_data(as_text=True)
    for text in ("user.created", "group.created", "request.rejected", "globex", "Authorization failure",
                 "A user with userName &#39;ann&#39; already exists.", "<code>uniqueness</code>"):
        assert text in page, text
    table = page[page.index("<tbody>"):]
    assert table.index("Authorization failure") < table.index("group.created") < table.index("user.created")


def test_failed_requests_are_highlighted_with_their_detail(console: FlaskClient, log: dict) -> None:
    page = console.get(f"/admin/tenants/{log['acme']}/activity").get_data(as_text=True)
    failed_row = page[page.index('<tr class="failed">'):]
    assert "409" in failed_row[:failed_row.index("</tr>")] and "already exists" in failed_row
    assert "globex" not in page and "Authorization failure" not in page


@pytest.mark.parametrize(("query", "shown", "hidden"), [
    ("kind=user.created", ["u-ann"], ["already exists"]),
    ("status=failed", ["already exists"], ["u-ann"]),
    ("status=succeeded", ["u-ann"], ["already exists"]),
    ("resource=u-ann", ["u-ann"], ["already exists"]),
])
def test_the_activity_filters(console: FlaskClient, log: dict, query: str, shown: list[str],
                              hidden: list[str]) -> None:
    response = console.get(f"/admin/tenants/{log['acme']}/activity?{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert all(text in page for text in shown) and not any(text in page for text in hidden)


def test_the_time_filter_reads_utc(app: Flask, console: FlaskClient, log: dict) -> None:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        session.execute(update(Event).where(Event.kind == changes.USER_CREATED)
                        .values(occurred_at=utcnow() - timedelta(days=2)))
    since = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page = console.get(f"/admin/tenants/{log['acme']}/activity?since={since}").get_data(as_text=True)
    assert "already exists" in page and "u-ann" not in page
    page = console.get(f"/admin/tenants/{log['acme']}/activity?until={since}").get_data(as_text=True)
    assert "already exists" not in page and "u-ann" in page


@pytest.mark.parametrize("query", ["since=yesterday", "until=2026-13-01T00:00", "kind=nothing", "status=maybe"])
def test_a_bad_filter_is_explained(console: FlaskClient, log: dict, query: str) -> None:
    response = console.get(f"/admin/activity?{query}")
    assert response.status_code == 400
    assert 'class="error"' in response.get_data(as_text=True)


def test_the_activity_pages_older_events(app: Flask, console: FlaskClient) -> None:
    make_token(app, "acme")
    app.config["CONSOLE_PAGE_SIZE"] = 3
    for number in range(7):
        _event(app, "acme", changes.USER_UPDATED, 200, resource_type="User", resource_id=f"user-{number}")
    seen = []
    url = "/admin/activity"
    while url:
        page = console.get(url).get_data(as_text=True)
        seen += sorted((number for number in range(7) if f"user-{number}" in page),
                       key=lambda number: page.index(f"user-{number}"))
        older = page.split('rel="next"')[0].rsplit('href="', 1)[-1].split('"')[0] if 'rel="next"' in page else None
        url = older.replace("&amp;", "&") if older else None
    assert seen == [6, 5, 4, 3, 2, 1, 0]


def test_the_connection_page_shows_the_last_failed_requests(console: FlaskClient, log: dict) -> None:
    page = console.get(f"/admin/tenants/{log['acme']}").get_data(as_text=True)
    section = page[page.index("Last failed requests"):]
    assert "already exists" in section and "u-ann" not in section
    assert "Authorization failure" not in section


def test_the_activity_of_all_tenants_shows_failed_authentications_per_address_and_minute(
    app: Flask, console: FlaskClient, log: dict
) -> None:
    early_in_a_minute()
    for _attempt in range(3):
        response = app.test_client().get("/scim/v2/Users", headers={"Authorization": "Bearer scim_wrong"},
                                         environ_base={"REMOTE_ADDR": "203.0.113.7"})
        assert response.status_code == 401
    page = console.get("/admin/activity").get_data(as_text=True)
    counts = page[page.index('<table class="auth-failures">'):]
    counts = counts[:counts.index("</table>")]
    assert "<code>203.0.113.7</code></td><td>3</td>" in counts
    tenant_page = console.get(f"/admin/tenants/{log['acme']}/activity").get_data(as_text=True)
    assert "203.0.113.7" not in tenant_page
