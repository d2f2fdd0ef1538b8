"""`scim-server guard set|status|release`, and `prune-events` on the guard's holds, through click's runner, against a
tenant provisioned over HTTP."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.cli import cli
from scim import changes
from storage.db import make_sessionmaker
from storage.models import Event, GuardDropped, GuardHold, utcnow
from tests.api.test_admin_api import admin, admin_key  # noqa: F401 (fixtures)
from tests.api.test_guard import _deactivate, _feed, _kinds, _users


def invoke(runner: FlaskCliRunner, *args: str):
    return runner.invoke(cli, list(args))


def test_set_status_and_release_from_the_shell(runner: FlaskCliRunner, client: FlaskClient, auth: dict) -> None:
    ids = _users(client, auth, 5)
    status = invoke(runner, "guard", "status", "--tenant", "acme")
    assert status.exit_code == 0, status.output
    assert "acme: guard on, holds past 10 (default) deprovisions in 15m (default); 0 in the window now" in status.output

    result = invoke(runner, "guard", "set", "--tenant", "acme", "--max-deprovisions", "2", "--window", "1h")
    assert result.exit_code == 0, result.output
    assert "holds past 2 deprovisions in 60m;" in result.output
    for user_id in ids[:3]:
        _deactivate(client, auth, user_id)
    _deactivate(client, auth, ids[2], active=True)

    held = invoke(runner, "guard", "status")
    assert "HELD since" in held.output and f"{changes.USER_DEACTIVATED} 3; 2 events waiting" in held.output
    assert f"user {ids[2]} user2@acme.test" in held.output

    released = invoke(runner, "guard", "release", "--tenant", "acme", "--net")
    assert released.exit_code == 0, released.output
    assert "acme: released 0 events for delivery, dropped 2 that cancel out" in released.output
    again = invoke(runner, "guard", "release", "--tenant", "acme")
    assert again.exit_code == 1 and "holds nothing to release" in again.output

    reset = invoke(runner, "guard", "set", "--tenant", "acme", "--max-deprovisions", "default", "--off")
    assert "acme: guard off, holds past 10 (default) deprovisions in 60m;" in reset.output


def test_bad_values_are_refused_with_the_accepted_forms(runner: FlaskCliRunner, client: FlaskClient,
                                                        auth: dict) -> None:
    _users(client, auth, 1)
    result = invoke(runner, "guard", "set", "--tenant", "acme", "--window", "soon")
    assert result.exit_code == 2 and "like 15m, 1h or 900s" in result.output
    result = invoke(runner, "guard", "set", "--tenant", "acme", "--max-deprovisions", "0")
    assert result.exit_code == 2 and "positive number" in result.output
    assert "No tenant named 'nobody'" in invoke(runner, "guard", "release", "--tenant", "nobody").output


def test_prune_events_deletes_released_holds_with_their_dropped_events_and_keeps_an_open_one(
        app: Flask, runner: FlaskCliRunner, client: FlaskClient, auth: dict) -> None:
    ids = _users(client, auth, 6)
    invoke(runner, "guard", "set", "--tenant", "acme", "--max-deprovisions", "2")
    for user_id in ids[:3]:
        _deactivate(client, auth, user_id)
    _deactivate(client, auth, ids[2], active=True)
    assert "HELD since" in invoke(runner, "guard", "status").output  # the read that makes the hold
    assert "dropped 2" in invoke(runner, "guard", "release", "--tenant", "acme", "--net").output
    for user_id in ids[3:]:
        _deactivate(client, auth, user_id)
    assert "HELD since" in invoke(runner, "guard", "status").output  # a second hold, open
    with _session(app) as session:
        released = session.scalars(select(GuardHold).where(GuardHold.released_at.is_not(None))).one()
        long_ago = utcnow() - timedelta(days=91)
        session.execute(update(GuardHold).values(tripped_at=long_ago))
        session.execute(update(GuardHold).where(GuardHold.id == released.id).values(released_at=long_ago))

    kept = invoke(runner, "prune-events")  # the dropped events are kept yet: so are their record and its hold
    assert kept.exit_code == 0, kept.output
    assert "0 events older" in kept.output and "0 guard holds released before then deleted" in kept.output
    with _session(app) as session:
        assert session.scalar(select(func.count()).select_from(GuardDropped)) == 2
        session.execute(update(Event).where(Event.id <= released.released_through).values(occurred_at=long_ago))

    result = invoke(runner, "prune-events")
    assert result.exit_code == 0, result.output
    assert "1 guard holds released before then deleted" in result.output
    with _session(app) as session:
        assert session.scalar(select(func.count()).select_from(GuardDropped)) == 0
        assert session.scalars(select(GuardHold.released_at)).all() == [None]
    assert "HELD since" in invoke(runner, "guard", "status").output
    released_now = invoke(runner, "guard", "release", "--tenant", "acme")
    assert "acme: released 1 events for delivery" in released_now.output, released_now.output


def test_prune_events_keeps_the_events_an_open_hold_holds_past_the_retention_and_a_release_delivers_them(
        app: Flask, runner: FlaskCliRunner, client: FlaskClient, auth: dict, admin: dict) -> None:  # noqa: F811
    ids = _users(client, auth, 4)
    invoke(runner, "guard", "set", "--tenant", "acme", "--max-deprovisions", "2")
    for user_id in ids[:3]:
        _deactivate(client, auth, user_id)
    assert "HELD since" in invoke(runner, "guard", "status").output
    with _session(app) as session:
        session.execute(update(Event).values(occurred_at=utcnow() - timedelta(days=91)))  # a hold left open that long

    result = invoke(runner, "prune-events")
    assert result.exit_code == 0, result.output
    with _session(app) as session:
        first = session.scalars(select(GuardHold.first_event_id)).one()
        kept = session.scalars(select(Event.id).order_by(Event.id)).all()
    assert kept and kept[0] == first  # the events before the hold went; the held ones stay
    released = invoke(runner, "guard", "release", "--tenant", "acme")
    assert "acme: released 1 events for delivery" in released.output, released.output
    assert _kinds(_feed(client, admin)) == [(changes.USER_DEACTIVATED, ids[2])]


def _session(app: Flask) -> AbstractContextManager[Session]:
    return make_sessionmaker(app.extensions["scim.engine"]).begin()
