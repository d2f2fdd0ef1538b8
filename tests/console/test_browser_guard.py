"""The guard in headless Chromium against a live gunicorn: a hold shows on the connection page with its counts and
sample, and both release buttons release it (screenshots at 1280 px and 390 px go to tests/artifacts/)."""

from __future__ import annotations

from typing import Any

from storage import tenants, tokens
from storage.db import make_engine, make_sessionmaker
from tests.console.test_browser import NARROW, WIDE, _fits, _new_page, _sign_in, browser, server  # noqa: F401
from tests.live import call

PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _active(port: int, secret: str, user_id: str, active: bool) -> None:
    body = {"schemas": [PATCH_URN], "Operations": [{"op": "replace", "value": {"active": active}}]}
    assert call(port, "PATCH", f"/scim/v2/Users/{user_id}", secret, body)[0] == 200


def test_an_admin_sees_a_hold_and_releases_it(browser: Any, server: str, db_url: str) -> None:  # noqa: F811
    engine = make_engine(db_url)
    with make_sessionmaker(engine).begin() as session:
        tenant = tenants.create(session, "acme")
        _token, secret = tokens.issue(session, tenant, label="Okta")
        tenant_id = tenant.id
    engine.dispose()
    port = int(server.rsplit(":", 1)[1])
    ids = []
    for index in range(25):
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"user{index}@acme.test"}
        status, _headers, user = call(port, "POST", "/scim/v2/Users", secret, body)
        assert status == 201, user
        ids.append(user["id"])
    for user_id in ids[:11]:
        _active(port, secret, user_id, False)
    _active(port, secret, ids[10], True)  # the IdP admin reverts the one that tripped it

    page = _new_page(browser, viewport=WIDE)
    _sign_in(page, server)
    page.goto(f"{server}/admin/tenants/{tenant_id}")
    page.wait_for_selector("#guard-held")
    assert "2 events waiting" in page.inner_text("#guard-held")
    assert "11" in page.inner_text("#guard-counts") and "user.deactivated" in page.inner_text("#guard-counts")
    assert "user10@acme.test" in page.inner_text("#guard-sample")
    narrow = _new_page(browser, viewport=NARROW, storage_state=page.context.storage_state())
    narrow.goto(f"{server}/admin/tenants/{tenant_id}#guard")
    for view in (page, narrow):
        _fits(view, "guard-held")
    page.click("button:has-text('Release net effect')")
    page.wait_for_selector("text=Hold released. Events delivered: 0; dropped as cancelling out: 2.")
    assert "in the window now" in page.inner_text("#guard-state")

    for user_id in ids[11:22]:
        _active(port, secret, user_id, False)
    page.reload()
    page.wait_for_selector("#guard-held")
    page.click("button:has-text('Release all')")
    page.wait_for_selector("text=Hold released. Events delivered: 1.")
    _fits(page, "guard-released")
