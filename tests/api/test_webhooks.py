"""Webhooks over HTTP: endpoints added with the CLI, an Okta sequence delivered signed and in order to a real
receiver that verifies each message with `standardwebhooks`, retries, disabling, replay, URL checks, redirects."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from app.cli import cli
from app.deliverer import Deliverer, Settings
from scim.changes import (
    GROUP_CREATED,
    GROUP_MEMBERS_ADDED,
    GROUP_MEMBERS_REMOVED,
    USER_CREATED,
    USER_DEACTIVATED,
    USER_REACTIVATED,
    USER_UPDATED,
)
from storage import events
from storage.db import make_sessionmaker
from storage.models import Event, WebhookDelivery, WebhookEndpoint
from tests.interop.replay import Idp
from tests.interop.test_okta import OKTA_HEADERS, okta_user
from tests.webhook_receiver import Receiver, receiving

FAST = Settings(retry_delays=(0.2, 0.2, 0.2), timeout=2, threads=4, batch=50, scim_base_url=None)


@pytest.fixture
def okta(client, token: str) -> Idp:
    return Idp(client, token, **OKTA_HEADERS)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


def add_webhook(runner: FlaskCliRunner, url: str, *args: str, tenant: str = "acme") -> tuple[int, str]:
    """`webhook add`: the id line, then the secret alone on the last line."""
    result = runner.invoke(cli, ["webhook", "add", "--tenant", tenant, "--url", url, *args])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("id: ") and lines[-1].startswith("whsec_") and len(lines) == 2
    return int(lines[0].removeprefix("id: ")), lines[-1]


def deliverer(app: Flask, settings: Settings = FAST) -> Deliverer:
    return Deliverer(app.extensions["scim.engine"], settings)


def okta_sequence(okta: Idp) -> tuple[str, str]:
    """Create, update, deactivate, reactivate a user; create a group; push the user into it and out again."""
    user = okta.post("/Users", okta_user("ann@atko.com"))
    okta.put(f"/Users/{user['id']}", {**okta_user("ann@atko.com"), "displayName": "Ann A."})
    okta.patch(f"/Users/{user['id']}", {"op": "replace", "value": {"active": False}})
    okta.patch(f"/Users/{user['id']}", {"op": "replace", "value": {"active": True}})
    group = okta.post("/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Eng",
                                  "members": []})
    okta.patch(f"/Groups/{group['id']}", {"op": "add", "path": "members", "value": [{"value": user["id"]}]})
    okta.patch(f"/Groups/{group['id']}", {"op": "remove", "path": f'members[value eq "{user["id"]}"]'})
    return user["id"], group["id"]


OKTA_KINDS = [USER_CREATED, USER_UPDATED, USER_DEACTIVATED, USER_REACTIVATED, GROUP_CREATED, GROUP_MEMBERS_ADDED,
              GROUP_MEMBERS_REMOVED]


def committed_events(app: Flask) -> list[Event]:
    session = make_sessionmaker(app.extensions["scim.engine"])()
    rows = list(session.scalars(select(Event).where(Event.kind != "request.rejected").order_by(Event.id)))
    session.close()
    return rows


def test_an_okta_sequence_reaches_the_receiver_signed_and_in_commit_order(
    app: Flask, runner: FlaskCliRunner, okta: Idp, receiver: Receiver
) -> None:
    _id, receiver.secret = add_webhook(runner, receiver.url)
    user_id, group_id = okta_sequence(okta)
    work = deliverer(app)
    receiver.wait_for(lambda r: len(r.events()) >= len(OKTA_KINDS), work.step)
    work.close()
    committed = committed_events(app)
    got = receiver.events()
    assert receiver.rejected == 0
    assert sorted(message.id for message in got) == [str(event.id) for event in committed]
    user_messages = [m.body["type"] for m in got if m.body["data"]["resource_id"] == user_id]
    group_messages = [m.body["type"] for m in got if m.body["data"]["resource_id"] == group_id]
    assert user_messages == OKTA_KINDS[:4] and group_messages == OKTA_KINDS[4:]
    first = next(m for m in got if m.id == str(committed[0].id))
    assert first.body["timestamp"] == first.body["data"]["time"]
    assert first.body["data"]["id"] == events.encode_cursor(committed[0].id)
    assert first.body["data"]["tenant"] == "acme" and first.body["data"]["resource_type"] == "User"
    assert first.headers["webhook-signature"].startswith("v1,")


def test_a_kinds_filter_sends_only_those_kinds(
    app: Flask, runner: FlaskCliRunner, okta: Idp, receiver: Receiver
) -> None:
    _id, receiver.secret = add_webhook(runner, receiver.url, "--kinds", "group.members_*,user.deactivated")
    okta_sequence(okta)
    work = deliverer(app)
    receiver.wait_for(lambda r: len(r.events()) >= 3, work.step)
    work.step()
    work.close()
    assert sorted(m.body["type"] for m in receiver.events()) == sorted(
        [USER_DEACTIVATED, GROUP_MEMBERS_ADDED, GROUP_MEMBERS_REMOVED])


def test_an_outage_delays_but_loses_nothing_and_keeps_each_resources_order(
    app: Flask, runner: FlaskCliRunner, okta: Idp, receiver: Receiver
) -> None:
    _id, receiver.secret = add_webhook(runner, receiver.url)
    receiver.answer = 503
    user_id, group_id = okta_sequence(okta)
    work = deliverer(app, Settings((0.3,) * 20, 2, 4, 50, None))
    receiver.wait_for(lambda r: r.attempts >= 6, work.step)  # several refused attempts
    receiver.answer = 200
    receiver.wait_for(lambda r: len(r.events()) >= len(OKTA_KINDS), work.step)
    work.close()
    got = receiver.events()
    assert sorted(int(m.id) for m in got) == [event.id for event in committed_events(app)]
    for resource in (user_id, group_id):
        ids = [int(m.id) for m in got if m.body["data"]["resource_id"] == resource]
        assert ids == sorted(ids)


def test_an_endpoint_failing_past_its_last_delay_is_disabled_and_a_replay_sends_again(
    app: Flask, runner: FlaskCliRunner, okta: Idp, receiver: Receiver
) -> None:
    endpoint_id, receiver.secret = add_webhook(runner, receiver.url)
    receiver.answer = 500
    okta.post("/Users", okta_user("bob@atko.com"))
    work = deliverer(app)

    def disabled(_receiver: Receiver) -> bool:
        listing = runner.invoke(cli, ["webhook", "list", "--tenant", "acme"]).stdout
        return "disabled" in listing

    receiver.wait_for(disabled, work.step)
    assert receiver.attempts == len(FAST.retry_delays) + 1
    shown = runner.invoke(cli, ["webhook", "deliveries", str(endpoint_id)]).stdout
    assert "failed" in shown and "500" in shown and "disabled" in shown
    receiver.answer = 200
    event = committed_events(app)[0]
    replayed = runner.invoke(cli, ["webhook", "replay", str(endpoint_id), "--from", events.encode_cursor(event.id)])
    assert replayed.exit_code == 0, replayed.output
    receiver.wait_for(lambda r: len(r.events()) == 1, work.step)
    work.close()
    assert receiver.events()[0].id == str(event.id)
    assert "active" in runner.invoke(cli, ["webhook", "list"]).stdout


def test_a_replay_from_an_event_sends_the_same_messages_again(
    app: Flask, runner: FlaskCliRunner, okta: Idp, receiver: Receiver
) -> None:
    endpoint_id, receiver.secret = add_webhook(runner, receiver.url)
    okta_sequence(okta)
    work = deliverer(app)
    receiver.wait_for(lambda r: len(r.events()) >= len(OKTA_KINDS), work.step)
    first = {m.id: m.body for m in receiver.events()}
    from_event = committed_events(app)[4].id  # the group's creation on
    runner.invoke(cli, ["webhook", "replay", str(endpoint_id), "--from", events.encode_cursor(from_event)])
    receiver.wait_for(lambda r: len(r.events()) >= len(OKTA_KINDS) + 3, work.step)
    work.close()
    again = receiver.events()[len(OKTA_KINDS):]
    assert [int(m.id) for m in again] == [event.id for event in committed_events(app)[4:]]
    assert all(m.body == first[m.id] for m in again)


def test_a_redirect_is_not_followed_but_retried(
    app: Flask, runner: FlaskCliRunner, okta: Idp, receiver: Receiver
) -> None:
    endpoint_id, receiver.secret = add_webhook(runner, receiver.url)
    receiver.answer = 307
    okta.post("/Users", okta_user("cy@atko.com"))
    work = deliverer(app)
    receiver.wait_for(lambda r: r.attempts >= 2, work.step)
    work.close()
    assert receiver.attempts == 2 and receiver.events() == []  # each attempt one request, none to the Location
    assert "307" in runner.invoke(cli, ["webhook", "deliveries", str(endpoint_id)]).stdout


def test_an_answer_slower_than_the_timeout_is_a_failed_attempt_that_is_retried(
    app: Flask, runner: FlaskCliRunner, okta: Idp, receiver: Receiver
) -> None:
    endpoint_id, receiver.secret = add_webhook(runner, receiver.url)
    receiver.delay = 1.0
    okta.post("/Users", okta_user("dee@atko.com"))
    work = deliverer(app, Settings((0.2,) * 5, 0.3, 4, 50, None))
    work.step()
    shown = runner.invoke(cli, ["webhook", "deliveries", str(endpoint_id)]).stdout
    assert "timed out" in shown and "pending" in shown, shown
    receiver.delay = 0
    receiver.wait_for(lambda r: len(r.events()) == 2, work.step)  # the late answer's message, then the retry's
    work.close()
    assert {m.id for m in receiver.events()} == {str(committed_events(app)[0].id)}
    assert "delivered" in runner.invoke(cli, ["webhook", "deliveries", str(endpoint_id)]).stdout


def test_a_receiver_closing_idle_connections_gets_each_message_in_one_attempt(
    app: Flask, runner: FlaskCliRunner, okta: Idp, receiver: Receiver
) -> None:
    _id, receiver.secret = add_webhook(runner, receiver.url)
    receiver.idle_timeout = 0.1
    work = deliverer(app)
    for number in range(3):
        okta.post("/Users", okta_user(f"idle{number}@atko.com"))
        receiver.wait_for(lambda r, sent=number + 1: len(r.events()) == sent, work.step)
        time.sleep(0.3)  # the receiver closes the connection the deliverer keeps
    work.close()
    assert receiver.attempts == 3 and len(receiver.events()) == 3
    with make_sessionmaker(app.extensions["scim.engine"])() as session:
        assert session.scalars(select(WebhookDelivery.attempts)).all() == [1, 1, 1]  # none failed on a closed one


@pytest.mark.parametrize("url", ["http://example.com/hooks", "ftp://127.0.0.1/x", "https://user:pw@example.com/",
                                 "not a url"])
def test_a_url_that_is_not_https_or_loopback_is_refused(runner: FlaskCliRunner, token: str, url: str) -> None:
    result = runner.invoke(cli, ["webhook", "add", "--tenant", "acme", "--url", url])
    assert result.exit_code != 0 and "webhook URL" in result.output


def test_an_unknown_kind_pattern_is_refused(runner: FlaskCliRunner, token: str) -> None:
    result = runner.invoke(cli, ["webhook", "add", "--tenant", "acme", "--url", "https://example.com/h",
                                 "--kinds", "users.*"])
    assert result.exit_code != 0 and "matches no event kind" in result.output


def test_webhook_test_sends_a_signed_message_and_remove_removes(
    app: Flask, runner: FlaskCliRunner, token: str, receiver: Receiver
) -> None:
    endpoint_id, receiver.secret = add_webhook(runner, receiver.url)
    result = runner.invoke(cli, ["webhook", "test", str(endpoint_id)])
    assert result.exit_code == 0 and "status: 200" in result.stdout
    assert [m.body["type"] for m in receiver.messages] == ["webhook.test"]
    assert runner.invoke(cli, ["webhook", "remove", str(endpoint_id)]).exit_code == 0
    session = make_sessionmaker(app.extensions["scim.engine"])()
    assert session.scalars(select(WebhookEndpoint)).all() == []
    session.close()


def test_events_before_the_webhook_was_added_are_not_sent(
    app: Flask, runner: FlaskCliRunner, okta: Idp, receiver: Receiver
) -> None:
    okta.post("/Users", okta_user("early@atko.com"))
    _id, receiver.secret = add_webhook(runner, receiver.url)
    okta.post("/Users", okta_user("late@atko.com"))
    work = deliverer(app)
    receiver.wait_for(lambda r: len(r.events()) >= 1, work.step)
    work.step()
    work.close()
    assert [m.body["data"]["path"] for m in receiver.events()] == ["/scim/v2/Users"]
    assert len(receiver.events()) == 1



def test_pruning_events_removes_their_deliveries(
    app: Flask, runner: FlaskCliRunner, okta: Idp, receiver: Receiver
) -> None:
    endpoint_id, receiver.secret = add_webhook(runner, receiver.url)
    okta.post("/Users", okta_user("old@atko.com"))
    work = deliverer(app)
    receiver.wait_for(lambda r: len(r.events()) == 1, work.step)
    work.close()
    assert "delivered" in runner.invoke(cli, ["webhook", "deliveries", str(endpoint_id)]).stdout
    app.config["EVENT_RETENTION_DAYS"] = -1  # every event is older than that
    assert runner.invoke(cli, ["prune-events"]).exit_code == 0
    assert "delivered" not in runner.invoke(cli, ["webhook", "deliveries", str(endpoint_id)]).stdout


def test_pruning_keeps_the_events_an_enabled_endpoint_has_yet_to_get(
    app: Flask, runner: FlaskCliRunner, okta: Idp, receiver: Receiver
) -> None:
    _id, receiver.secret = add_webhook(runner, receiver.url)
    okta.post("/Users", okta_user("sent@atko.com"))
    work = deliverer(app)
    receiver.wait_for(lambda r: len(r.events()) == 1, work.step)
    okta.post("/Users", okta_user("waiting@atko.com"))  # after the endpoint's cursor: not fanned out yet
    app.config["EVENT_RETENTION_DAYS"] = -1  # every event is older than that
    result = runner.invoke(cli, ["prune-events"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 events older")
    assert [event.snapshot["resource"]["userName"] for event in committed_events(app)] == ["waiting@atko.com"]

    receiver.wait_for(lambda r: len(r.events()) == 2, work.step)
    work.close()
    assert receiver.events()[1].body["data"]["resource"]["userName"] == "waiting@atko.com"
    assert runner.invoke(cli, ["prune-events"]).output.startswith("1 events older")  # fanned out and sent: it goes
    assert committed_events(app) == []


def test_pruning_keeps_the_events_whose_delivery_is_being_retried(
    app: Flask, runner: FlaskCliRunner, okta: Idp, receiver: Receiver
) -> None:
    endpoint_id, receiver.secret = add_webhook(runner, receiver.url)
    receiver.answer = 503
    okta.post("/Users", okta_user("retried@atko.com"))
    work = deliverer(app, Settings((0.3,) * 20, 2, 4, 50, None))
    receiver.wait_for(lambda r: r.attempts >= 1, work.step)  # fanned out (past the cursor), its delivery pending
    app.config["EVENT_RETENTION_DAYS"] = -1  # every event is older than that
    result = runner.invoke(cli, ["prune-events"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("0 events older")
    assert [event.snapshot["resource"]["userName"] for event in committed_events(app)] == ["retried@atko.com"]
    assert "pending" in runner.invoke(cli, ["webhook", "deliveries", str(endpoint_id)]).stdout

    receiver.answer = 200
    receiver.wait_for(lambda r: len(r.events()) == 1, work.step)
    work.close()
    assert receiver.events()[0].body["data"]["resource"]["userName"] == "retried@atko.com"
    assert runner.invoke(cli, ["prune-events"]).output.startswith("1 events older")  # delivered: it goes
    assert committed_events(app) == []
