"""What traffic capture keeps: credentials and secrets redacted, bodies capped, durations bounded."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from scim import capture
from scim.changes import REDACTED
from scim.errors import InvalidValue


def test_headers_keep_the_authorization_scheme_only() -> None:
    kept = capture.headers([("Authorization", "Bearer scim_abc"), ("Cookie", "session=x"), ("Accept", "*/*")])
    assert kept == {"Authorization": f"Bearer {REDACTED}", "Cookie": REDACTED, "Accept": "*/*"}
    assert capture.headers([("Authorization", "scim_abc")]) == {"Authorization": REDACTED}


def test_json_bodies_lose_passwords_and_secrets_wherever_they_are() -> None:
    body = {"userName": "ann", "password": "p1", "urn:example:ext": {"clientSecret": "s1", "site": "x"},
            "Operations": [{"op": "replace", "path": "password", "value": "p2"},
                           {"op": "replace", "value": {"password": "p3", "displayName": "Ann"}}]}
    kept = capture.body(json.dumps(body).encode())
    text = kept["text"]
    assert not any(secret in text for secret in ("p1", "s1", "p2", "p3"))
    assert json.loads(text)["urn:example:ext"] == {"clientSecret": REDACTED, "site": "x"}
    assert kept == {"text": text, "truncated": False, "size": len(json.dumps(body).encode())}


def test_a_body_that_is_not_json_is_redacted_by_pattern_and_capped() -> None:
    assert capture.body(b'{"password": "p\\"1", "userName": ')["text"] == f'{{"password": "{REDACTED}", "userName": '
    long = capture.body(b"\xc3\xa9" * capture.BODY_LIMIT)  # two bytes a character: cut on a character
    assert long["truncated"] and len(long["text"].encode()) == capture.BODY_LIMIT


@pytest.mark.parametrize(("text", "minutes"), [(None, 60), ("", 60), ("90", 90), ("90m", 90), ("2h", 120),
                                               ("1h30m", 90), ("24h", 1440)])
def test_durations(text: str | None, minutes: int) -> None:
    assert capture.duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["0", "24h1m", "1d", "soon", "h"])
def test_durations_refused(text: str) -> None:
    with pytest.raises(InvalidValue):
        capture.duration(text)
