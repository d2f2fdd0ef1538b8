"""`scim-server guard set|status|release` through click's runner, against a tenant provisioned over HTTP."""

from __future__ import annotations

from flask.testing import FlaskClient, FlaskCliRunner

from app.cli import cli
from scim import changes
from tests.api.test_guard import _deactivate, _users


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
