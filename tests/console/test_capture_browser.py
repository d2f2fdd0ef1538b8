"""The Capture tab in headless Chromium against a live gunicorn (tests/console/test_browser.py's browser and server):
an admin starts a capture, the IdP's request shows up with its body redacted, the page holds long bodies at 1280 px
and 390 px, and the admin stops it."""

from __future__ import annotations

from typing import Any

from storage import tenants, tokens
from storage.db import make_engine, make_sessionmaker
from tests.console.test_browser import NARROW, WIDE, _fits, _new_page, _sign_in, browser, server  # noqa: F401
from tests.live import call

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"


def test_an_admin_captures_a_tenants_traffic(browser: Any, server: str, db_url: str) -> None:  # noqa: F811
    engine = make_engine(db_url)
    with make_sessionmaker(engine).begin() as session:
        tenant = tenants.create(session, "acme")
        session.flush()
        tenant_id, (_token, secret) = tenant.id, tokens.issue(session, tenant, label="Okta")
    engine.dispose()
    page = _new_page(browser, viewport=WIDE)
    _sign_in(page, server)
    page.goto(f"{server}/admin/tenants/{tenant_id}")
    page.click("nav.tabs >> text=Capture")
    assert "off" in page.inner_text("#capture-state")
    page.select_option("#minutes", "60")
    page.click("button:has-text('Start capture')")
    page.wait_for_selector("text=Capturing the traffic of acme")

    port = int(server.rsplit(":", 1)[1])
    body = {"schemas": [USER_URN], "userName": "ann@acme.test", "password": "Secret-1", "displayName": "D" * 300}
    assert call(port, "POST", "/scim/v2/Users", secret, body)[0] == 201
    page.reload()
    page.click("details.captured summary")
    shown = page.inner_text("details.captured")
    assert "[redacted]" in shown and "Secret-1" not in shown and secret not in shown
    assert "Authorization: Bearer [redacted]" in shown
    _fits(page, "capture")
    narrow = _new_page(browser, viewport=NARROW, storage_state=page.context.storage_state())
    narrow.goto(page.url)
    _fits(narrow, "capture")

    page.click("button:has-text('Stop capture')")
    page.wait_for_selector("text=Capture of acme stopped.")
    assert "off" in page.inner_text("#capture-state")
