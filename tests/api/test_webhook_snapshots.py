"""A message's `data` carries the resource as of its event (events.snapshot): its SCIM representation, with
`meta.location` from SCIM_PUBLIC_BASE_URL, its version, and a membership event's member ids; a delete has no
resource. A consumer applies them idempotently and drops a stale one by version."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskCliRunner

from app.deliverer import Settings
from scim.changes import USER_DELETED
from tests.api.test_webhooks import OKTA_KINDS, add_webhook, deliverer, okta, okta_sequence, receiver  # noqa: F401
from tests.interop.replay import Idp
from tests.webhook_receiver import Receiver

BASE = "https://scim.example.com/scim/v2"
LOCATED = Settings(retry_delays=(0.2,), timeout=2, threads=4, batch=50, scim_base_url=BASE)


def test_each_message_carries_the_resource_and_version_as_of_its_event(
    app: Flask, runner: FlaskCliRunner, okta: Idp, receiver: Receiver  # noqa: F811
) -> None:
    _id, receiver.secret = add_webhook(runner, receiver.url)
    user_id, group_id = okta_sequence(okta)
    okta.delete(f"/Users/{user_id}")
    work = deliverer(app, LOCATED)
    receiver.wait_for(lambda r: len(r.events()) >= len(OKTA_KINDS) + 1, work.step)
    work.close()
    by_kind = {message.body["type"]: message.body["data"] for message in receiver.events()}

    created = by_kind["user.created"]
    assert created["resource"]["userName"] == "ann@atko.com" and created["resource"]["active"] is True
    assert created["resource"]["meta"]["location"] == f"{BASE}/Users/{user_id}"
    assert created["version"] == 'W/"1"'
    assert by_kind["user.updated"]["resource"]["displayName"] == "Ann A."
    assert by_kind["user.deactivated"]["resource"]["active"] is False
    assert by_kind["user.reactivated"]["resource"]["active"] is True
    versions = [by_kind[kind]["version"] for kind in OKTA_KINDS[:4]]
    assert versions == ['W/"1"', 'W/"2"', 'W/"3"', 'W/"4"']
    assert by_kind["group.members_added"]["members"]["added"] == [user_id]
    assert by_kind["group.members_removed"]["members"]["removed"] == [user_id]
    assert by_kind["group.created"]["resource"]["meta"]["location"] == f"{BASE}/Groups/{group_id}"
    assert by_kind[USER_DELETED]["resource"] is None
