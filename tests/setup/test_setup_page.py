"""The setup page without JavaScript, through the Flask test client: the IdP's steps with the tenant's values, a
token shown once, the status as of loading, and links refused once expired, revoked or unknown."""

from __future__ import annotations

import logging
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from app.setup_page.idps import IDPS
from storage import tokens
from storage.db import make_sessionmaker
from tests.api.test_auth_failures import counted, early_in_a_minute
from tests.conftest import make_token
from tests.console.conftest import csrf_of
from tests.setup.conftest import end as end_link
from tests.setup.conftest import make_link

_SECRET = re.compile(r'id="new-secret" class="mono" value="(scim_[^"]+)"')


def generate_token(client: FlaskClient, secret: str, idp: str = "okta") -> TestResponse:
    """Press "Generate token" as a browser does: the form's post, then the page it redirects to."""
    page = client.get(f"/setup/{secret}?idp={idp}")
    posted = client.post(f"/setup/{secret}/token", data={"csrf_token": csrf_of(page), "idp": idp})
    assert posted.status_code == 303
    assert posted.headers["Location"] == f"/setup/{secret}?idp={idp}#token"
    return client.get(posted.headers["Location"])


def shown_token(response: TestResponse) -> str | None:
    match = _SECRET.search(response.get_data(as_text=True))
    return match.group(1) if match else None


def test_each_idp_shows_its_steps_with_the_tenants_base_url(app: Flask, client: FlaskClient) -> None:
    _link_id, secret = make_link(app, "acme")
    start = client.get(f"/setup/{secret}")
    assert start.status_code == 200 and "Choose your identity provider" in start.get_data(as_text=True)
    for idp in IDPS:
        html = client.get(f"/setup/{secret}?idp={idp.key}").get_data(as_text=True)
        assert f'aria-current="page">{idp.name}</a>' in html.replace("\n", "")
        assert f"<code class=\"mono\">{idp.base_url('http://localhost/scim/v2')}</code>" in html
    okta = client.get(f"/setup/{secret}?idp=okta").get_data(as_text=True)
    for text in ("SCIM connector base URL", "Unique identifier field for users", "HTTP Header", "Push Groups",
                 "Test Connector Configuration"):
        assert text in okta
    entra = client.get(f"/setup/{secret}?idp=entra").get_data(as_text=True)
    assert "http://localhost/scim/v2?aadOptscim062020" in entra and "Secret Token" in entra
    assert "userPrincipalName" in entra


def test_the_base_url_is_the_public_one_when_configured(db_url: str) -> None:
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "PUBLIC_BASE_URL": "https://scim.example.com"})
    _link_id, secret = make_link(app, "acme")
    html = app.test_client().get(f"/setup/{secret}?idp=entra").get_data(as_text=True)
    assert "https://scim.example.com/scim/v2?aadOptscim062020" in html
    app.extensions["scim.engine"].dispose()


def test_a_token_is_shown_once_labelled_with_the_link_and_works(app: Flask, client: FlaskClient) -> None:
    link_id, secret = make_link(app, "acme")
    page = generate_token(client, secret)
    token = shown_token(page)
    assert token is not None
    assert f"<code class=\"mono\">{token}</code>" in page.get_data(as_text=True)  # filled into the Okta field
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"

    assert shown_token(client.get(f"/setup/{secret}?idp=okta")) is None  # a reload shows it no more
    users = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"})
    assert users.status_code == 200
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        labelled = [(row.label, name) for row, name in tokens.list_tokens(session) if row.prefix == token[:11]]
    assert labelled == [(f"setup link {link_id} (Okta)", "acme")]


def test_the_token_form_needs_the_pages_csrf_token(app: Flask, client: FlaskClient) -> None:
    _link_id, secret = make_link(app, "acme")
    client.get(f"/setup/{secret}")
    refused = client.post(f"/setup/{secret}/token", data={"csrf_token": "forged"})
    assert refused.status_code == 400 and refused.mimetype == "text/html"
    assert shown_token(client.get(f"/setup/{secret}")) is None
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        assert tokens.list_tokens(session) == []


@pytest.mark.parametrize(("end", "status", "words"), [("expired", 410, "has expired"),
                                                      ("revoked", 410, "has been revoked")])
def test_an_expired_or_revoked_link_is_refused_saying_which(app: Flask, client: FlaskClient, end: str, status: int,
                                                            words: str) -> None:
    link_id, secret = make_link(app, "acme")
    page = client.get(f"/setup/{secret}")
    end_link(app, link_id, end)
    for response in (client.get(f"/setup/{secret}?idp=okta"), client.get(f"/setup/{secret}/status"),
                     client.post(f"/setup/{secret}/token", data={"csrf_token": csrf_of(page)})):
        html = response.get_data(as_text=True)
        assert response.status_code == status and response.mimetype == "text/html"
        assert words in html and "acme" not in html
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        assert tokens.list_tokens(session) == []


def test_an_unknown_link_is_simply_not_valid(app: Flask, client: FlaskClient) -> None:
    make_link(app, "acme")
    for path in ("/setup/not-a-link", "/setup/not-a-link/status"):
        response = client.get(path)
        assert response.status_code == 404 and "is not valid" in response.get_data(as_text=True)


def test_guessing_links_is_limited_per_address(app: Flask, client: FlaskClient) -> None:
    app.config["AUTH_FAILURES_PER_MINUTE"] = 3
    _link_id, secret = make_link(app, "acme")
    early_in_a_minute()
    answers = [client.get(f"/setup/guess-{attempt}").status_code for attempt in range(5)]
    assert answers[:3] == [404, 404, 404] and set(answers[3:]) == {429}
    limited = client.get("/setup/guess-6")
    assert "Too many attempts" in limited.get_data(as_text=True) and int(limited.headers["Retry-After"]) <= 60
    assert client.get(f"/setup/{secret}").status_code == 200  # a real link still opens


def test_the_status_shows_the_tenants_own_requests_only(app: Flask, client: FlaskClient) -> None:
    _acme_link, acme_secret = make_link(app, "acme")
    _globex_link, globex_secret = make_link(app, "globex")
    assert client.get(f"/setup/{acme_secret}/status").get_json() == {"state": "waiting", "idp": None, "requests": []}
    assert "Waiting for the first request" in client.get(f"/setup/{acme_secret}").get_data(as_text=True)

    globex = {"Authorization": f"Bearer {make_token(app, 'globex')}"}
    assert client.post("/scim/v2/Users", json={"schemas": []}, headers=globex).status_code == 400

    assert client.get(f"/setup/{acme_secret}/status").get_json()["requests"] == []
    status = client.get(f"/setup/{globex_secret}/status").get_json()
    assert [(row["method"], row["path"], row["status"]) for row in status["requests"]] == [
        ("POST", "/scim/v2/Users", 400)]
    page = client.get(f"/setup/{globex_secret}").get_data(as_text=True)  # the same, without JavaScript
    assert '<tr class="failed" data-status="400">' in page and "<code>POST /scim/v2/Users</code>" in page


def test_the_access_log_names_the_link_by_its_prefix(app: Flask, client: FlaskClient,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    _link_id, secret = make_link(app, "acme")
    with caplog.at_level(logging.INFO, logger="app.access"):
        client.get(f"/setup/{secret}/status")
    lines = [record.getMessage() for record in caplog.records if record.name == "app.access"]
    assert lines and f"/setup/{secret[:8]}…/status" in lines[-1]
    assert secret not in caplog.text


def test_a_token_form_posted_to_an_unknown_link_is_counted_as_a_failure(app: Flask, client: FlaskClient) -> None:
    """The form's post holds the writer's lock; the failure is counted on the request's Connection all the same."""
    _link_id, secret = make_link(app, "acme")
    early_in_a_minute()
    page = client.get(f"/setup/{secret}")
    assert client.post("/setup/not-a-link/token", data={"csrf_token": csrf_of(page)}).status_code == 404
    assert counted(app) == {"127.0.0.1": 1}
