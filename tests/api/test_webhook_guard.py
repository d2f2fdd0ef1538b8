"""The guard stops webhooks as it stops the feed: a real receiver gets the events before the one that tripped it,
one `tenant.held` message, nothing more while held, and after a (net) release the rest in commit order."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from scim import changes
from storage import outbox
from tests.api.test_admin_api import admin, admin_key  # noqa: F401 (fixtures)
from tests.api.test_guard import GUARD, _deactivate, _users
from tests.api.test_webhooks import add_webhook, deliverer, receiver  # noqa: F401 (fixture)
from tests.webhook_receiver import Receiver


def _types(messages: Receiver) -> list[tuple[str, str | None]]:
    """The messages received, in the order they arrived."""
    return [(m.body["type"], m.body["data"].get("resource_id")) for m in messages.events()]


def test_a_hold_sends_one_tenant_held_and_a_release_sends_the_rest_in_order(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner, auth: dict, admin: dict,  # noqa: F811
        receiver: Receiver) -> None:  # noqa: F811
    ids = _users(client, auth, 20)
    _id, receiver.secret = add_webhook(runner, receiver.url, "--kinds", "user.deactivated")
    for user_id in ids[:12]:
        _deactivate(client, auth, user_id)
    work = deliverer(app)
    receiver.wait_for(lambda r: len(r.events()) >= 11, work.step)
    for _ in range(5):  # more rounds deliver nothing more while the tenant is held
        work.step()
    assert outbox.fan_out(app.extensions["scim.engine"], 100) == 0  # a held tenant's endpoint waits, no write
    got = _types(receiver)
    assert sorted(got) == sorted([*((changes.USER_DEACTIVATED, user_id) for user_id in ids[:10]),
                                  (changes.TENANT_HELD, None)])
    [held] = [m for m in receiver.events() if m.body["type"] == changes.TENANT_HELD]
    assert held.body["data"]["counts"] == {changes.USER_DEACTIVATED: 11}
    assert receiver.rejected == 0  # every message verified with standardwebhooks

    _deactivate(client, auth, ids[10], active=True)  # the IdP admin reverts one deactivation
    assert client.post(f"{GUARD}/release", headers=admin, json={"net": True}).status_code == 200
    receiver.wait_for(lambda r: len(r.events()) >= 12, work.step)
    for _ in range(5):
        work.step()
    work.close()
    # the reverted deactivation (and its reactivation, which the kinds filter leaves out anyway) is not sent
    assert _types(receiver)[11:] == [(changes.USER_DEACTIVATED, ids[11])]



def test_a_hold_another_reader_tripped_still_sends_tenant_held(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner, auth: dict, admin: dict,  # noqa: F811
        receiver: Receiver) -> None:  # noqa: F811
    ids = _users(client, auth, 20)
    _id, receiver.secret = add_webhook(runner, receiver.url, "--kinds", "user.deactivated")
    for user_id in ids[:10]:
        _deactivate(client, auth, user_id)
    work = deliverer(app)
    receiver.wait_for(lambda r: len(r.events()) == 10, work.step)  # the endpoint's cursor is past the 10th
    _deactivate(client, auth, ids[10])
    status = client.get(GUARD, headers=admin)  # the admin API's read scans first, and trips the guard
    assert status.status_code == 200 and status.get_json()["held"] is not None
    receiver.wait_for(lambda r: len(r.events()) == 11, work.step)
    work.close()
    assert _types(receiver)[10] == (changes.TENANT_HELD, None)
