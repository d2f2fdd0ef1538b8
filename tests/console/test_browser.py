"""End to end in headless Chromium (Debian's, driven by Playwright) against a live gunicorn with two workers.

An admin created with the CLI signs in, creates a tenant and a token, the token provisions a user through the SCIM
API, and the user and its event appear in the console; screenshots at 1280 px and 390 px go to tests/artifacts/.
Without Chromium or Playwright the tests skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage import tenants, tokens
from storage.db import make_engine, make_sessionmaker
from tests.conftest import IN_CI
from tests.live import REPO, call, live_server

CHROMIUM = os.environ.get("SCIM_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = REPO / "tests" / "artifacts"
WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
EMAIL, PASSWORD = "ops@example.com", "browser test password"
TIMEOUT_MS = 15_000


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (browser tests must run in CI: `make test` installs Chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright; Playwright never downloads a browser of its own here."""
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (make test does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed: `pip install -e .[dev]`")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[str]:
    """The production app (gunicorn, two workers) on the test database, with an admin made by the CLI."""
    env = {**os.environ, "SCIM_DATABASE_URL": db_url}
    created = subprocess.run([str(Path(sys.executable).with_name("scim-server")), "admin", "create", EMAIL,
                              "--password-stdin"], input=f"{PASSWORD}\n", env=env, cwd=REPO, capture_output=True,
                             text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    with live_server(db_url, tmp_path / "gunicorn.log", workers=2) as port:
        yield f"http://127.0.0.1:{port}"


def _shoot(page: Any, name: str) -> None:
    """A full-page screenshot, and the page never scrolls sideways (tables scroll inside their frame)."""
    ARTIFACTS.mkdir(exist_ok=True)
    width = page.viewport_size["width"]
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} overflows at {width} px"


def _new_page(browser: Any, **options: Any) -> Any:
    page = browser.new_context(**options).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


def _sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/admin/")
    assert "/admin/sign-in" in page.url
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/admin/")


def test_an_admin_connects_a_tenant_and_sees_its_first_user(browser: Any, server: str, db_url: str) -> None:
    page = _new_page(browser, viewport=WIDE)
    page.goto(f"{server}/admin/tenants/1/users")
    _shoot(page, "sign-in")
    page.fill("#email", EMAIL)
    page.fill("#password", "not the password")
    page.click("button:has-text('Sign in')")
    assert "The email or password is not right." in page.inner_text(".error")
    _sign_in(page, server)

    page.fill("#name", "acme")
    page.click("button:has-text('Create tenant')")
    page.wait_for_url(f"{server}/admin/tenants/*")
    assert f"{server}/scim/v2" in page.inner_text("#scim-url")
    page.fill("#label", "Okta production")
    page.click("button:has-text('Create token')")
    secret = page.input_value("#new-secret")
    assert secret.startswith("scim_")
    page.click("button[data-copy]")  # shown by the script; copies the secret
    # the label changes once the clipboard's promise settles, not synchronously with the click
    page.wait_for_selector("button[data-copy]:text-is('Copied')", timeout=10_000)
    _shoot(page, "connection-new-token")

    port = int(server.rsplit(":", 1)[1])
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann@acme.test",
            "displayName": "Ann Archer", "emails": [{"value": "ann@acme.test", "primary": True}], "active": True}
    status, _headers, created = call(port, "POST", "/scim/v2/Users", secret, body)
    assert status == 201, created
    assert call(port, "POST", "/scim/v2/Users", secret, body)[0] == 409  # a failure the console should show

    page.click("nav.tabs >> text=Users")
    page.wait_for_selector("text=ann@acme.test")
    assert "Ann Archer" in page.inner_text("tbody") and "active" in page.inner_text("tbody")
    page.fill("#q", 'userName sw "ann"')
    page.click("button:has-text('Search')")
    page.wait_for_selector("tbody >> text=ann@acme.test")
    _shoot(page, "users")
    page.click("tbody >> text=ann@acme.test")
    page.wait_for_selector("text=Recent events")
    assert "user.created" in page.inner_text("table.events")
    _shoot(page, "user")

    page.click("nav.tabs >> text=Activity")
    page.wait_for_selector("tr.failed")
    assert "already exists" in page.inner_text("tr.failed")
    _shoot(page, "activity")

    narrow = _new_page(browser, viewport=NARROW, storage_state=page.context.storage_state())
    narrow.goto(f"{server}/admin/")
    assert "acme" in narrow.inner_text("tbody")
    _shoot(narrow, "tenants")
    narrow.click("tbody >> text=acme")
    narrow.wait_for_selector("text=Connect your identity provider")
    _shoot(narrow, "connection")
    narrow.click("nav.tabs >> text=Activity")
    narrow.wait_for_selector("tr.failed")
    _shoot(narrow, "activity")
    narrow.click("nav.tabs >> text=Users")
    narrow.wait_for_selector("tbody >> text=ann@acme.test")
    _shoot(narrow, "users")
    narrow.click("tbody >> text=ann@acme.test")
    narrow.wait_for_selector("text=Recent events")
    _shoot(narrow, "user")

    page.click("nav.tabs >> text=Connection")
    page.click("text=Revoke…")
    _shoot(page, "revoke")
    page.click("button:has-text('Revoke token')")
    page.wait_for_selector("text=revoked.")
    assert call(port, "GET", "/scim/v2/ServiceProviderConfig", secret)[0] == 401
    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{server}/admin/sign-in")
    page.goto(f"{server}/admin/")
    assert "/admin/sign-in" in page.url


def test_the_console_works_without_javascript(browser: Any, server: str) -> None:
    page = _new_page(browser, viewport=NARROW, java_script_enabled=False)
    _sign_in(page, server)
    page.fill("#name", "globex")
    page.click("button:has-text('Create tenant')")
    page.click("button:has-text('Create token')")
    assert page.input_value("#new-secret").startswith("scim_")
    assert not page.is_visible("button[data-copy]")  # the copy button needs the script; the field is selectable
    _shoot(page, "connection-no-js")
    page.click("text=Revoke…")
    page.click("button:has-text('Revoke token')")
    page.wait_for_selector("text=revoked.")


def _fits(page: Any, name: str) -> None:
    """Every table, its last column and each opened diff stay inside their frame: nothing is clipped."""
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    clipped = page.evaluate("""() => [...document.querySelectorAll('.table-wrap')].flatMap(frame => {
        const edge = frame.getBoundingClientRect().right + 1;
        const cut = [...frame.querySelectorAll('td:last-child, pre')]
            .filter(e => e.getBoundingClientRect().right > edge);
        return frame.scrollWidth > frame.clientWidth || cut.length ? [frame.innerText.slice(0, 80)] : [];
    })""")
    assert clipped == [], f"{name} clips at {page.viewport_size['width']} px: {clipped}"
    _shoot(page, name)


def test_the_activity_log_holds_long_values_at_both_widths(browser: Any, server: str, db_url: str) -> None:
    tenant = "t" * 63
    engine = make_engine(db_url)
    with make_sessionmaker(engine).begin() as session:
        _token, secret = tokens.issue(session, tenants.create(session, tenant), label="long values")
    engine.dispose()
    port = int(server.rsplit(":", 1)[1])
    name = "a" * 120 + "@example.com"
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "displayName": "D" * 150,
            "title": "T" * 150, "active": True}
    status, _headers, user = call(port, "POST", "/scim/v2/Users", secret, body)
    assert status == 201, user
    assert call(port, "POST", "/scim/v2/Users", secret, body)[0] == 409  # a detail naming the long userName
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations": [{"op": "replace", "value": {"displayName": "E" * 150, "title": "U" * 150}}]}
    assert call(port, "PATCH", f"/scim/v2/Users/{user['id']}", secret, patch)[0] == 200
    assert call(port, "PATCH", f"/scim/v2/Users/{'0' * 200}", secret, patch)[0] == 404  # a long path

    page = _new_page(browser, viewport=WIDE)
    _sign_in(page, server)
    narrow = _new_page(browser, viewport=NARROW, storage_state=page.context.storage_state())
    for view in (page, narrow):
        view.goto(f"{server}/admin/activity")
        view.wait_for_selector("tr.failed")
        _fits(view, "activity-long-values")
        view.goto(f"{server}/admin/")
        _fits(view, "tenants-long-values")
        view.click(f"tbody >> text={tenant}")
        view.wait_for_selector("text=Connect your identity provider")
        _fits(view, "connection-long-values")
