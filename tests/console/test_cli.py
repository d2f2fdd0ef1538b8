"""`scim-server admin …` and the persisted SECRET_KEY."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from app import create_app
from app.cli import cli
from app.config import persistent_secret_key
from storage.db import make_sessionmaker
from storage.models import Admin, AdminSession
from tests.console.conftest import create_admin, sign_in

PASSWORD = "a long enough password"


def test_admin_create_prompts_for_the_password_twice(runner: FlaskCliRunner, client: FlaskClient) -> None:
    result = runner.invoke(cli, ["admin", "create", "Ops@Example.com"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "admin ops@example.com created" in result.output and PASSWORD not in result.output
    assert sign_in(client, "ops@example.com", PASSWORD).status_code == 302


def test_admin_create_reads_the_password_from_stdin(runner: FlaskCliRunner, client: FlaskClient) -> None:
    result = runner.invoke(cli, ["admin", "create", "ops@example.com", "--password-stdin"], input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert sign_in(client, "ops@example.com", PASSWORD).status_code == 302
    assert "ops@example.com" in runner.invoke(cli, ["admin", "list"]).output


def test_admin_create_refuses_short_passwords_bad_emails_and_duplicates(runner: FlaskCliRunner) -> None:
    short = runner.invoke(cli, ["admin", "create", "ops@example.com", "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "at least 12 characters" in short.output
    not_email = runner.invoke(cli, ["admin", "create", "ops", "--password-stdin"], input=f"{PASSWORD}\n")
    assert not_email.exit_code != 0 and "not an email address" in not_email.output
    args = ["admin", "create", "ops@example.com", "--password-stdin"]
    assert runner.invoke(cli, args, input=f"{PASSWORD}\n").exit_code == 0
    duplicate = runner.invoke(cli, ["admin", "create", "OPS@example.com", "--password-stdin"], input=f"{PASSWORD}\n")
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output


def test_admin_set_password_replaces_it_and_ends_open_sessions(app: Flask, runner: FlaskCliRunner,
                                                                client: FlaskClient) -> None:
    runner.invoke(cli, ["admin", "create", "ops@example.com", "--password-stdin"], input=f"{PASSWORD}\n")
    sign_in(client, "ops@example.com", PASSWORD)
    assert client.get("/admin/").status_code == 200
    result = runner.invoke(cli, ["admin", "set-password", "ops@example.com", "--password-stdin"],
                           input="another long password\n")
    assert result.exit_code == 0, result.output
    assert client.get("/admin/").status_code == 302
    with make_sessionmaker(app.extensions["scim.engine"])() as session:
        assert session.scalar(select(func.count()).select_from(AdminSession)) == 0
    assert sign_in(client, "ops@example.com", PASSWORD).status_code == 400
    assert sign_in(client, "ops@example.com", "another long password").status_code == 302
    missing = runner.invoke(cli, ["admin", "set-password", "nobody@example.com", "--password-stdin"],
                            input=f"{PASSWORD}\n")
    assert missing.exit_code != 0 and "nobody@example.com" in missing.output


def test_the_password_is_stored_as_a_scrypt_hash(app: Flask, runner: FlaskCliRunner) -> None:
    runner.invoke(cli, ["admin", "create", "ops@example.com", "--password-stdin"], input=f"{PASSWORD}\n")
    with make_sessionmaker(app.extensions["scim.engine"])() as session:
        stored = session.scalar(select(Admin.password_hash))
    assert stored.startswith("scrypt:") and PASSWORD not in stored


def test_the_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    key = persistent_secret_key(str(instance))
    assert len(key) == 64 and persistent_secret_key(str(instance)) == key
    assert stat.S_IMODE(os.stat(instance / "secret_key").st_mode) == 0o600
    assert os.listdir(instance) == ["secret_key"]


def test_a_session_survives_a_restart(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a configured key, every start reads the one generated in the instance folder: a cookie issued before
    a restart still opens the console after it."""
    monkeypatch.delenv("SCIM_SECRET_KEY", raising=False)
    before, after = (create_app({"DATABASE_URL": db_url, "TESTING": True}) for _ in range(2))
    assert before.config["SECRET_KEY"] == after.config["SECRET_KEY"]
    create_admin(before)
    first = before.test_client()
    sign_in(first)
    cookie = first.get_cookie("scim_console")
    second = after.test_client()
    second.set_cookie(cookie.key, cookie.value)
    assert second.get("/admin/").status_code == 200
    for app in (before, after):
        app.extensions["scim.engine"].dispose()
