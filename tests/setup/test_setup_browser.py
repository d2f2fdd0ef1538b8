"""The setup page end to end in headless Chromium against a live gunicorn (two workers): a link made by the CLI is
opened, Okta picked, a token taken, and while the page is watched an IdP's requests appear without a reload.

The `browser` and `server` fixtures are the console's (tests/console/test_browser.py, through conftest.py): Debian's
Chromium under Playwright; without them the tests skip, except under CI=true.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.console.test_browser import _new_page, _shoot
from tests.interop.test_okta import OKTA_HEADERS
from tests.live import REPO, call

WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann@acme.test",
        "name": {"givenName": "Ann", "familyName": "Archer"}, "emails": [{"value": "ann@acme.test", "primary": True}],
        "active": True}
# Okta's "Test API Credentials" (docs/idp-behaviour.md §1.3)
OKTA_TEST = "/scim/v2/Users?startIndex=1&count=1"


def _cli(db_url: str, *args: str) -> str:
    done = subprocess.run([str(Path(sys.executable).with_name("scim-server")), *args], cwd=REPO, text=True,
                          env={**os.environ, "SCIM_DATABASE_URL": db_url}, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _open_with_token(browser: Any, server: str, db_url: str) -> tuple[Any, str]:
    """The IT admin's side: the link from the CLI opened, Okta picked, a token generated; returns (page, token)."""
    _cli(db_url, "tenant", "create", "acme")
    url = _cli(db_url, "setup-link", "create", "--tenant", "acme", "--base-url", server).strip().splitlines()[-1]
    page = _new_page(browser, viewport=WIDE)
    page.goto(url)
    page.click("nav.idp-choice >> text=Okta")
    page.wait_for_selector("text=SCIM connector base URL")
    assert f"{server}/scim/v2" in page.inner_text("dl.settings")
    page.click("button:has-text('Generate token')")
    token = page.input_value("#new-secret")
    assert token.startswith("scim_") and token in page.inner_text("dl.settings")
    assert "Waiting for the first request" in page.inner_text("#status-state")
    page.evaluate("window.notReloaded = true")  # gone if the page loads again
    return page, token


def _row(page: Any, status: int) -> Any:
    page.wait_for_selector(f"#status-requests tr[data-status='{status}']")
    return page.locator(f"#status-requests tr[data-status='{status}']").first


def test_the_page_shows_each_request_as_it_arrives(browser: Any, server: str, db_url: str) -> None:
    page, token = _open_with_token(browser, server, db_url)
    port = int(server.rsplit(":", 1)[1])
    status, _headers, _body = call(port, "POST", "/scim/v2/Users", token, {"schemas": USER["schemas"]}, OKTA_HEADERS)
    assert status == 400
    failed = _row(page, 400)
    assert "POST /scim/v2/Users" in failed.inner_text() and "failed" in failed.get_attribute("class")

    assert call(port, "POST", "/scim/v2/Users", token, USER, OKTA_HEADERS)[0] == 201
    created = _row(page, 201)
    assert "POST /scim/v2/Users" in created.inner_text() and "OK" in created.inner_text()
    assert page.locator("#status-requests tr").first.get_attribute("data-status") == "201"  # newest first
    assert "Waiting" not in page.inner_text("#status-state")
    assert page.evaluate("window.notReloaded") is True
    _shoot(page, "setup-live")

    narrow = _new_page(browser, viewport=NARROW)
    narrow.goto(page.url)
    _row(narrow, 400)
    _shoot(narrow, "setup-live")


def test_okta_test_credentials_then_a_missing_bearer_are_diagnosed_live(browser: Any, server: str,
                                                                        db_url: str) -> None:
    """The issue's "done when": Okta's connection test succeeds, then a request without "Bearer " fails, and the page
    shows both, the failure with its diagnosis, without a reload."""
    page, token = _open_with_token(browser, server, db_url)
    port = int(server.rsplit(":", 1)[1])
    assert call(port, "GET", OKTA_TEST, token, headers=OKTA_HEADERS)[0] == 200
    success = _row(page, 200)
    assert "GET /scim/v2/Users" in success.inner_text()
    page.wait_for_selector("#status-idp:not([hidden]) >> text=Okta")
    assert "Connected" in page.inner_text("#status-state")

    assert call(port, "GET", OKTA_TEST, token, headers={**OKTA_HEADERS, "Authorization": token})[0] == 401
    failure = _row(page, 401)
    diagnosis = failure.locator(".diagnosis")
    assert "bearer" in diagnosis.inner_text().lower()
    assert page.evaluate("window.notReloaded") is True
    _shoot(page, "setup-diagnosis")


def test_the_page_works_without_javascript(browser: Any, server: str, db_url: str) -> None:
    _cli(db_url, "tenant", "create", "globex")
    url = _cli(db_url, "setup-link", "create", "--tenant", "globex", "--base-url", server).strip().splitlines()[-1]
    page = _new_page(browser, viewport=NARROW, java_script_enabled=False)
    page.goto(url)
    page.click("nav.idp-choice >> text=Microsoft Entra ID")
    assert f"{server}/scim/v2?aadOptscim062020" in page.inner_text("dl.settings")
    page.click("button:has-text('Generate token')")
    token = page.input_value("#new-secret")
    assert token.startswith("scim_") and token in page.inner_text("dl.settings")
    port = int(server.rsplit(":", 1)[1])
    assert call(port, "POST", "/scim/v2/Users", token, {"schemas": USER["schemas"]})[0] == 400
    page.click("button:has-text('Refresh')")
    assert "POST /scim/v2/Users" in _row(page, 400).inner_text()
    assert page.locator("#new-secret").count() == 0  # shown once
    _shoot(page, "setup-no-js")
