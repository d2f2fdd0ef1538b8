"""The scim-server command end to end, through click's runner on the real database."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.cli import cli


def invoke(runner: FlaskCliRunner, *args: str):
    result = runner.invoke(cli, list(args))
    return result


def test_tenant_and_token_lifecycle(app: Flask, runner: FlaskCliRunner, client: FlaskClient) -> None:
    assert invoke(runner, "init-db").exit_code == 0
    created = invoke(runner, "tenant", "create", "acme")
    assert created.exit_code == 0, created.output
    assert "acme" in invoke(runner, "tenant", "list").output

    result = invoke(runner, "token", "create", "--tenant", "acme", "--label", "okta", "--expires-days", "30")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    token_id = lines[0].removeprefix("id: ")
    secret = lines[-1]
    assert lines[0].startswith("id: ") and secret.startswith("scim_") and len(secret) > 40

    listing = invoke(runner, "token", "list", "--tenant", "acme").output
    assert token_id in listing and "okta" in listing and secret not in listing

    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/scim/v2/ServiceProviderConfig", headers=headers).status_code == 200
    assert invoke(runner, "token", "revoke", token_id).exit_code == 0
    assert client.get("/scim/v2/ServiceProviderConfig", headers=headers).status_code == 401
    assert "revoked" in invoke(runner, "token", "list").output


def test_unknown_tenant_and_token_are_clear_errors(app: Flask, runner: FlaskCliRunner) -> None:
    result = invoke(runner, "token", "create", "--tenant", "nobody")
    assert result.exit_code != 0 and "nobody" in result.output
    result = invoke(runner, "token", "revoke", "deadbeef")
    assert result.exit_code != 0 and "deadbeef" in result.output
    assert invoke(runner, "tenant", "create", "acme").exit_code == 0
    duplicate = invoke(runner, "tenant", "create", "acme")
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output


def test_quickstart_prints_a_token_once_and_the_okta_settings(app: Flask, runner: FlaskCliRunner) -> None:
    first = invoke(runner, "quickstart")
    assert first.exit_code == 0, first.output
    assert "http://127.0.0.1:8000/scim/v2" in first.output and "userName" in first.output
    assert "scim_" in first.output
    second = invoke(runner, "quickstart")
    assert second.exit_code == 0 and "scim_" not in second.output and "token create" in second.output
