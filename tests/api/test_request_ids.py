"""Request ids: taken from X-Request-Id when sane or made, echoed, in the access log, the error log, and the events
of the request (the activity log and the change feed)."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app, logs
from scim import changes
from storage import admin_keys
from storage.db import make_sessionmaker
from tests.api.test_activity import OKTA, USER_URN, stored_events
from tests.api.test_foundation import assert_scim_error

GENERATED = re.compile(r"[0-9a-f]{32}")


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "app.access"]


def test_a_sane_request_id_is_kept_echoed_and_in_the_access_log(
    client: FlaskClient, auth: dict, caplog: pytest.LogCaptureFixture
) -> None:
    given = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8"
    with caplog.at_level(logging.INFO, logger="app.access"):
        response = client.get("/scim/v2/Users", headers={**auth, "X-Request-Id": given, "User-Agent": OKTA})
    assert response.status_code == 200 and response.headers["X-Request-Id"] == given
    [line] = access_lines(caplog)
    assert line.request_id == given
    assert (line.method, line.path, line.status, line.user_agent) == ("GET", "/scim/v2/Users", 200, OKTA)
    assert line.duration_ms >= 0


@pytest.mark.parametrize("given", [None, "", "x" * 129, "has space", "tab\there", "caf\u00e9", "bell\x07"])
def test_a_missing_or_insane_request_id_is_replaced_by_a_new_one(client: FlaskClient, given: str | None) -> None:
    headers = {} if given is None else {"X-Request-Id": given}
    first, second = (client.get("/healthz", headers=headers).headers["X-Request-Id"] for _ in range(2))
    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second) and first != second


def test_the_longest_sane_request_id_is_kept(client: FlaskClient) -> None:
    given = "a" * 128
    assert client.get("/healthz", headers={"X-Request-Id": given}).headers["X-Request-Id"] == given


def test_a_failed_scim_request_is_logged_with_its_request_id(app: Flask, client: FlaskClient, auth: dict) -> None:
    response = client.get("/scim/v2/Users/missing", headers={**auth, "X-Request-Id": "req-404"})
    assert response.status_code == 404 and response.headers["X-Request-Id"] == "req-404"
    rejected = stored_events(app)
    assert [(event.kind, event.status, event.request_id) for event in rejected] == [
        (changes.REQUEST_REJECTED, 404, "req-404")]


def test_the_change_feed_carries_each_write_s_request_id(app: Flask, client: FlaskClient, auth: dict) -> None:
    created = client.post("/scim/v2/Users", headers={**auth, "X-Request-Id": "req-create"},
                          json={"schemas": [USER_URN], "userName": "ann@example.com"})
    assert created.status_code == 201
    deactivate = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                  "Operations": [{"op": "replace", "value": {"active": False}}]}
    assert client.patch(f"/scim/v2/Users/{created.get_json()['id']}", headers={**auth, "X-Request-Id": "req-patch"},
                        json=deactivate).status_code == 200
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        key = admin_keys.issue(session, "tests")[1]
    feed = client.get("/admin/v1/events", headers={"Authorization": f"Bearer {key}"}).get_json()["events"]
    assert [(event["kind"], event["request_id"]) for event in feed] == [
        (changes.USER_CREATED, "req-create"), (changes.USER_DEACTIVATED, "req-patch")]


def test_a_500_names_the_request_id_of_the_response_and_the_log(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("broken")

    with caplog.at_level(logging.ERROR, logger="app.errors"):
        response = client.get("/boom", headers={"X-Request-Id": "req-500"})
    body = assert_scim_error(response, 500)
    assert response.headers["X-Request-Id"] == "req-500" and "(request id req-500)" in body["detail"]
    [logged] = [record for record in caplog.records if record.name == "app.errors"]
    assert "req-500" in logged.getMessage() and logged.exc_info is not None


def test_json_log_lines_carry_the_request_id(app: Flask, client: FlaskClient) -> None:
    """Through the handler `logs.init_app` installs when nothing else set up logging (as under gunicorn), each line
    written during a request is one JSON object with that request's id: the error with its traceback, and the
    access line."""

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("broken")

    stream = io.StringIO()
    handler = logs.handler("json")
    handler.setStream(stream)
    logging.getLogger().addHandler(handler)
    try:
        response = client.get("/boom", headers={"X-Request-Id": "req-json"})
    finally:
        logging.getLogger().removeHandler(handler)
    error, access = (json.loads(line) for line in stream.getvalue().splitlines())
    assert error["request_id"] == access["request_id"] == response.headers["X-Request-Id"] == "req-json"
    assert (error["level"], error["logger"]) == ("ERROR", "app.errors") and "RuntimeError: broken" in error["exc_info"]
    assert (access["level"], access["logger"], access["status"], access["path"]) == ("INFO", "app.access", 500,
                                                                                     "/boom")
    assert access["message"].startswith("GET /boom 500 ") and access["time"].endswith("+00:00")


def test_an_unknown_log_format_is_refused(db_url: str) -> None:
    with pytest.raises(ValueError, match="SCIM_LOG_FORMAT"):
        create_app({"DATABASE_URL": db_url, "LOG_FORMAT": "xml"})
