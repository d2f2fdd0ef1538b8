"""`scim-server events`, `prune-events` and `admin-key`, through click's runner on the real database."""

from __future__ import annotations

import json
from datetime import timedelta

import click
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, update

from app import cli_events
from app.cli import cli
from scim import changes
from storage import events, tenants
from storage.db import make_sessionmaker
from storage.events import Origin
from storage.models import Event, utcnow


def invoke(runner: FlaskCliRunner, *args: str):
    return runner.invoke(cli, list(args))


def add_event(app: Flask, tenant_name: str | None, kind: str, resource_id: str = "u1", **fields) -> None:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        tenant = tenant_name and (tenants.find_by_name(session, tenant_name) or tenants.create(session, tenant_name))
        origin = Origin("PATCH", f"/scim/v2/Users/{resource_id}", tenant.id if tenant else None, "tok1", "10.0.0.7",
                        "Okta SCIM Client 1.0.0")
        events.stage(session, events.entry(origin, kind, fields.pop("status", 200), "User", resource_id, **fields))


def age_events(app: Flask, days: int, kind: str) -> None:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        session.execute(update(Event).where(Event.kind == kind).values(occurred_at=utcnow() - timedelta(days=days)))


@pytest.fixture
def log(app: Flask) -> None:
    add_event(app, "acme", changes.USER_CREATED, "ann", diff={"userName": {"new": "ann"}}, status=201)
    add_event(app, "globex", changes.USER_DEACTIVATED, "bob", diff={"active": {"old": True, "new": False}})
    add_event(app, None, changes.REQUEST_REJECTED, "", status=401, detail="Authorization failure.")
    add_event(app, "acme", changes.REQUEST_REJECTED, "zed", status=409, scim_type="uniqueness",
              detail="userName taken")


def test_the_table_shows_each_event_on_one_line_oldest_first(runner: FlaskCliRunner, log: None) -> None:
    result = invoke(runner, "events")
    assert result.exit_code == 0, result.output
    header, *lines = result.output.splitlines()
    assert header.split()[:3] == ["time", "(UTC)", "tenant"]
    assert [line.split()[2:4] for line in lines] == [
        ["acme", "user.created"], ["globex", "user.deactivated"], ["-", "request.rejected"],
        ["acme", "request.rejected"]]
    assert "User ann" in lines[0] and "userName" in lines[0]
    assert "active" in lines[1]
    assert "uniqueness: userName taken" in lines[3] and "409" in lines[3]


def test_filters_by_tenant_kind_and_limit(runner: FlaskCliRunner, log: None) -> None:
    acme = invoke(runner, "events", "--tenant", "acme").output.splitlines()[1:]
    assert len(acme) == 2 and all(" acme " in line for line in acme)
    rejected = invoke(runner, "events", "--kind", "request.rejected").output.splitlines()[1:]
    assert len(rejected) == 2
    newest = invoke(runner, "events", "--limit", "1").output.splitlines()[1:]
    assert len(newest) == 1 and "zed" in newest[0]
    unknown = invoke(runner, "events", "--tenant", "nobody")
    assert unknown.exit_code != 0 and "nobody" in unknown.output


def test_since_takes_an_age_or_an_iso_8601_moment(app: Flask, runner: FlaskCliRunner, log: None) -> None:
    age_events(app, 3, changes.USER_CREATED)
    assert len(invoke(runner, "events", "--since", "2d").output.splitlines()) == 1 + 3
    assert len(invoke(runner, "events", "--since", "4d").output.splitlines()) == 1 + 4
    moment = (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert len(invoke(runner, "events", "--since", moment).output.splitlines()) == 1 + 3
    bad = invoke(runner, "events", "--since", "yesterday")
    assert bad.exit_code == 2 and "ISO 8601" in bad.output


def test_json_lines_carry_the_feeds_fields(app: Flask, runner: FlaskCliRunner, client: FlaskClient,
                                           log: None) -> None:
    result = invoke(runner, "events", "--json")
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["kind"] for line in lines] == ["user.created", "user.deactivated", "request.rejected",
                                                "request.rejected"]
    assert lines[3]["scim_type"] == "uniqueness" and lines[1]["diff"] == {"active": {"old": True, "new": False}}
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        rows = events.read(session, limit=10)
    assert lines == [events.to_dict(*row) for row in rows]


def test_follow_prints_new_events_until_interrupted(
    app: Flask, runner: FlaskCliRunner, log: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    polls = []

    def sleep(_seconds: float) -> None:
        polls.append(_seconds)
        if len(polls) == 1:
            add_event(app, "acme", changes.USER_DELETED, "ann", status=204)
            add_event(app, "globex", changes.USER_DELETED, "bob", status=204)
        if len(polls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_events.time, "sleep", sleep)
    result = invoke(runner, "events", "--follow", "--json", "--tenant", "acme", "--limit", "1")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["kind"] for line in result.output.splitlines()] == ["request.rejected", "user.deleted"]
    assert polls == [cli_events.POLL_SECONDS] * 3


def test_prune_deletes_only_events_older_than_the_retention(app: Flask, runner: FlaskCliRunner, log: None) -> None:
    age_events(app, 91, changes.USER_CREATED)
    age_events(app, 89, changes.USER_DEACTIVATED)
    result = invoke(runner, "prune-events")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 events older than 90 days")
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        kinds = session.scalars(select(Event.kind).order_by(Event.id)).all()
    assert kinds == ["user.deactivated", "request.rejected", "request.rejected"]
    app.config["EVENT_RETENTION_DAYS"] = 30
    assert invoke(runner, "prune-events").output.startswith("1 events older than 30 days")


def test_admin_key_lifecycle(app: Flask, runner: FlaskCliRunner, client: FlaskClient) -> None:
    created = invoke(runner, "admin-key", "create", "--label", "sync")
    assert created.exit_code == 0, created.output
    lines = created.stdout.strip().splitlines()
    key_id, secret = lines[0].removeprefix("id: "), lines[-1]
    assert secret.startswith("scimadm_") and len(secret) > 40
    listing = invoke(runner, "admin-key", "list").output
    assert key_id in listing and "sync" in listing and "active" in listing and secret not in listing
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/admin/v1/events", headers=headers).status_code == 200
    assert invoke(runner, "admin-key", "revoke", key_id).exit_code == 0
    assert client.get("/admin/v1/events", headers=headers).status_code == 401
    assert "revoked" in invoke(runner, "admin-key", "list").output
    missing = invoke(runner, "admin-key", "revoke", "deadbeef")
    assert missing.exit_code != 0 and "deadbeef" in missing.output


def test_since_converts_ages_and_offsets() -> None:
    since = cli_events.Since()
    assert abs(since.convert("90m", None, None) - (utcnow() - timedelta(minutes=90))) < timedelta(seconds=5)
    assert since.convert("2026-01-02T03:04:05+02:00", None, None).utcoffset() == timedelta(hours=2)
    assert since.convert("2026-01-02T03:04:05", None, None).utcoffset() == timedelta(0)
    with pytest.raises(click.BadParameter):
        since.convert("1y", None, None)
