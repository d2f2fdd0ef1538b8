"""The console's webhooks in headless Chromium against a live gunicorn running its deliverer: an admin adds a
webhook (the secret shown once), the tenant's IdP creates a user, the receiver gets the signed message, the console
shows the delivery, and a replay sends it again. Screenshots go to tests/artifacts/ (as test_browser.py's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage import admins, tenants, tokens
from storage.db import make_engine, make_sessionmaker
from tests.api.test_webhooks import receiver  # noqa: F401 (a fixture)
from tests.console.conftest import _hash
from tests.console.test_browser import EMAIL, NARROW, PASSWORD, WIDE, _new_page, _shoot, _sign_in, browser  # noqa: F401
from tests.interop.test_okta import okta_user
from tests.live import call, live_server
from tests.webhook_receiver import Receiver


@pytest.fixture
def seeded(db_url: str) -> str:
    """An admin, and tenant acme with a SCIM token (returned)."""
    engine = make_engine(db_url)
    with make_sessionmaker(engine).begin() as session:
        admins.create(session, EMAIL, _hash(PASSWORD))
        _token, secret = tokens.issue(session, tenants.create(session, "acme"), label="browser")
    engine.dispose()
    return secret


@pytest.fixture
def server(db_url: str, seeded: str, tmp_path: Path) -> Iterator[str]:
    with live_server(db_url, tmp_path / "gunicorn.log", workers=2, environment={"SCIM_DELIVER": "1"}) as port:
        yield f"http://127.0.0.1:{port}"


def test_an_admin_adds_a_webhook_sees_its_deliveries_and_replays(
    browser: Any, server: str, seeded: str, receiver: Receiver  # noqa: F811
) -> None:
    page = _new_page(browser, viewport=WIDE)
    _sign_in(page, server)
    page.click("tbody >> text=acme")
    page.click("nav.tabs >> text=Webhooks")
    page.fill("#url", "http://example.com/hooks")
    page.click("button:has-text('Add webhook')")
    assert "must use https" in page.inner_text(".error")
    page.fill("#url", receiver.url)
    page.click("button:has-text('Add webhook')")
    receiver.secret = page.input_value("#new-secret")
    assert receiver.secret.startswith("whsec_")
    _shoot(page, "webhooks-new")

    port = int(server.rsplit(":", 1)[1])
    status, _headers, created = call(port, "POST", "/scim/v2/Users", seeded, okta_user("ann@atko.com"))
    assert status == 201, created
    receiver.wait_for(lambda r: len(r.events()) == 1)
    assert receiver.events()[0].body["type"] == "user.created"

    page.click(f"tbody >> text={receiver.url}")
    page.wait_for_selector("table.deliveries >> text=delivered")
    assert "200" in page.inner_text("table.deliveries")
    _shoot(page, "webhook")
    page.click("button:has-text('Replay from here')")
    page.wait_for_selector("text=Replaying from event")
    receiver.wait_for(lambda r: len(r.events()) == 2)
    assert receiver.events()[1].id == receiver.events()[0].id

    narrow = _new_page(browser, viewport=NARROW, storage_state=page.context.storage_state())
    narrow.goto(page.url)
    narrow.wait_for_selector("table.deliveries")
    _shoot(narrow, "webhook")
    narrow.click("nav.tabs >> text=Webhooks")
    narrow.wait_for_selector("table.webhooks")
    _shoot(narrow, "webhooks")
