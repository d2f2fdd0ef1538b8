"""Who may open the console: sign-in, sessions, lock-out, CSRF, cookies and headers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from app import create_app
from storage.db import make_sessionmaker
from storage.models import AdminSession, SignInFailure, Tenant, Token, utcnow
from tests.conftest import make_token
from tests.console.conftest import EMAIL, PASSWORD, create_admin, csrf_of, post_form, sign_in

# Every page of the console, by a path that exists once `world` has run.
PAGES = [
    "/admin/",
    "/admin/tenants/{tenant}",
    "/admin/tenants/{tenant}/tokens/{token}/revoke",
    "/admin/tenants/{tenant}/users",
    "/admin/tenants/{tenant}/users/nobody",
    "/admin/tenants/{tenant}/groups",
    "/admin/tenants/{tenant}/groups/nothing",
]
# Every form of the console, with valid data.
FORMS = [
    ("/admin/tenants", {"name": "globex"}),
    ("/admin/tenants/{tenant}/tokens", {"label": "okta"}),
    ("/admin/tenants/{tenant}/tokens/{token}/revoke", {}),
    ("/admin/sign-out", {}),
]


@pytest.fixture
def world(app: Flask) -> dict[str, str]:
    """A tenant with a token; the ids that fill the paths above."""
    secret = make_token(app, "acme")
    with make_sessionmaker(app.extensions["scim.engine"])() as session:
        tenant_id = session.scalar(select(Tenant.id))
        token_id = session.scalar(select(Token.id))
    return {"tenant": str(tenant_id), "token": str(token_id), "secret": secret}


def _count(app: Flask, model: type) -> int:
    with make_sessionmaker(app.extensions["scim.engine"])() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.parametrize("page", PAGES)
def test_no_page_opens_without_sign_in(client: FlaskClient, world: dict[str, str], page: str) -> None:
    """Every page redirects to the sign-in form, which brings the admin back afterwards."""
    path = page.format(**world)
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/sign-in?next=")
    assert path in response.headers["Location"].replace("%2F", "/")


@pytest.mark.parametrize(("form", "data"), FORMS)
def test_no_form_acts_without_sign_in(app: Flask, client: FlaskClient, world: dict[str, str], form: str,
                                      data: dict[str, str]) -> None:
    """A form posted with a valid CSRF token but no session changes nothing and leads to the sign-in form."""
    tokens_before = _count(app, Token)
    response = post_form(client, form.format(**world), data)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/sign-in"
    assert _count(app, Token) == tokens_before and _count(app, Tenant) == 1
    assert client.get("/scim/v2/ServiceProviderConfig",
                      headers={"Authorization": f"Bearer {world['secret']}"}).status_code == 200


@pytest.mark.parametrize("page", PAGES)
def test_a_scim_bearer_token_does_not_open_the_console(client: FlaskClient, world: dict[str, str], page: str) -> None:
    response = client.get(page.format(**world), headers={"Authorization": f"Bearer {world['secret']}"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/sign-in")


@pytest.mark.parametrize(("form", "data"), [*FORMS, ("/admin/sign-in", {"email": EMAIL, "password": PASSWORD})])
@pytest.mark.parametrize("token", [None, "", "forged"])
def test_every_form_refuses_a_missing_or_wrong_csrf_token(app: Flask, console: FlaskClient, world: dict[str, str],
                                                          form: str, data: dict[str, str], token: str | None) -> None:
    tokens_before, sessions_before = _count(app, Token), _count(app, AdminSession)
    fields = data if token is None else {**data, "csrf_token": token}
    response = console.post(form.format(**world), data=fields)
    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert (_count(app, Token), _count(app, Tenant), _count(app, AdminSession)) == (tokens_before, 1, sessions_before)
    assert console.get("/admin/").status_code == 200  # still signed in


def test_a_csrf_token_of_another_session_is_refused(app: Flask, console: FlaskClient, admin: str) -> None:
    other = app.test_client()
    sign_in(other)
    foreign = csrf_of(other.get("/admin/"))
    response = console.post("/admin/tenants", data={"csrf_token": foreign, "name": "globex"})
    assert response.status_code == 400
    assert _count(app, Tenant) == 0


def test_sign_in_goes_where_the_admin_was_going(client: FlaskClient, admin: str, world: dict[str, str]) -> None:
    page = f"/admin/tenants/{world['tenant']}/users?q=ann"
    form = client.get(client.get(page).headers["Location"])
    assert 'name="next" value="/admin/tenants/' in form.get_data(as_text=True)
    response = client.post("/admin/sign-in", data={"csrf_token": csrf_of(form), "email": EMAIL,
                                                    "password": PASSWORD, "next": page})
    assert response.status_code == 302 and response.headers["Location"] == page


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/admin/", "/admin//evil.example",
                                    "/scim/v2/Users", "/admin\\@evil.example", "javascript:alert(1)"])
def test_sign_in_never_redirects_off_the_console(client: FlaskClient, admin: str, target: str) -> None:
    response = post_form(client, "/admin/sign-in", {"email": EMAIL, "password": PASSWORD, "next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"


@pytest.mark.parametrize(("email", "password"), [(EMAIL, "wrong password"), ("nobody@example.com", PASSWORD),
                                                 (EMAIL, ""), ("", ""), ("x" * 5000 + "@example.com", "x" * 5000)])
def test_wrong_credentials_say_so_without_telling_which(client: FlaskClient, admin: str, email: str,
                                                       password: str) -> None:
    response = sign_in(client, email, password)
    assert response.status_code == 400
    assert "The email or password is not right." in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_the_email_is_case_insensitive(client: FlaskClient, admin: str) -> None:
    assert sign_in(client, "  Admin@Example.COM ").status_code == 302
    assert client.get("/admin/").status_code == 200


def test_an_account_locks_after_five_failures_across_workers(app: Flask, client: FlaskClient, admin: str,
                                                             db_url: str) -> None:
    """The count lives in the database: a second app on the same database (another worker) sees the lock-out."""
    for _ in range(5):
        assert sign_in(client, password="guess").status_code == 400
    other_worker = create_app({"DATABASE_URL": db_url, "TESTING": True}).test_client()
    for attempt in (client, other_worker):
        response = sign_in(attempt)
        assert response.status_code == 429
        assert "Too many failed sign-ins. Try again in 15 minutes." in response.get_data(as_text=True)
    other_worker.application.extensions["scim.engine"].dispose()
    # The lock-out ends with its window.
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        session.execute(update(SignInFailure).values(window_start=utcnow() - timedelta(minutes=15)))
    assert sign_in(client).status_code == 302


def test_a_success_resets_the_count(app: Flask, client: FlaskClient, admin: str) -> None:
    app.config["CONSOLE_MAX_FAILURES"] = 3
    for _ in range(2):
        sign_in(client, password="guess")
    assert sign_in(client).status_code == 302
    post_form(client, "/admin/sign-out")
    for _ in range(2):
        sign_in(client, password="guess")
    assert sign_in(client).status_code == 302


def test_an_address_locks_after_its_limit_of_failures_on_any_accounts(app: Flask, admin: str) -> None:
    assert app.config["CONSOLE_MAX_FAILURES_PER_IP"] == 20
    app.config["CONSOLE_MAX_FAILURES_PER_IP"] = 4  # each failure costs a scrypt check: keep the test short
    attacker, colleague = app.test_client(), app.test_client()
    attacker.environ_base["REMOTE_ADDR"], colleague.environ_base["REMOTE_ADDR"] = "203.0.113.7", "198.51.100.2"
    for number in range(4):
        assert sign_in(attacker, f"user{number}@example.com", "guess").status_code == 400
    assert sign_in(attacker).status_code == 429
    assert sign_in(colleague).status_code == 302


def test_sign_out_ends_the_session_on_the_server(app: Flask, console: FlaskClient) -> None:
    """A copy of the cookie taken before signing out opens nothing afterwards."""
    cookie = console.get_cookie("scim_console")
    assert cookie is not None
    response = post_form(console, "/admin/sign-out")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/sign-in"
    assert _count(app, AdminSession) == 0
    replay = app.test_client()
    replay.set_cookie(cookie.key, cookie.value)
    assert replay.get("/admin/").status_code == 302


def test_an_expired_session_opens_nothing(app: Flask, console: FlaskClient) -> None:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        session.execute(update(AdminSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert console.get("/admin/").status_code == 302


def test_signing_in_starts_a_new_cookie_and_csrf_token(client: FlaskClient, admin: str) -> None:
    before = csrf_of(client.get("/admin/sign-in"))
    sign_in(client)
    assert csrf_of(client.get("/admin/")) != before


def test_the_session_cookie_is_httponly_and_samesite_lax(client: FlaskClient, admin: str) -> None:
    header = sign_in(client).headers["Set-Cookie"]
    assert header.startswith("scim_console=")
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header


def test_the_session_cookie_is_secure_over_tls(app: Flask, admin: str) -> None:
    client = app.test_client()
    response = post_form(client, "https://localhost/admin/sign-in", {"email": EMAIL, "password": PASSWORD})
    assert "Secure" in response.headers["Set-Cookie"]


def test_the_session_cookie_is_secure_when_configured(db_url: str) -> None:
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "SESSION_COOKIE_SECURE": True})
    create_admin(app)
    assert "Secure" in sign_in(app.test_client()).headers["Set-Cookie"]
    app.extensions["scim.engine"].dispose()


def test_pages_are_not_cached_framed_or_sniffed(console: FlaskClient) -> None:
    response = console.get("/admin/")
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_stylesheet_is_served_without_sign_in(client: FlaskClient) -> None:
    response = client.get("/admin/static/console.css")
    assert response.status_code == 200 and response.mimetype == "text/css"
    response.close()


def test_every_page_links_the_favicon_it_serves(client: FlaskClient) -> None:
    page = client.get("/admin/sign-in").get_data(as_text=True)
    href = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)">', page)[1]
    response = client.get(href)
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.get_data(as_text=True).startswith("<svg")
    response.close()


def test_the_bare_host_names_the_scim_base_url_and_the_console(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200 and response.is_json
    assert response.json == {"service": "scim-server", "scim_base_url": "http://localhost/scim/v2",
                             "console": "http://localhost/admin/"}
    assert "If you entered the URL manually" not in response.get_data(as_text=True)
