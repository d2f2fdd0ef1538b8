"""JSON out (scim/encoding.py): what the standard library writes, faster, and never a value it cannot write."""

from __future__ import annotations

import json

import pytest

from scim.encoding import dumps

DOC = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "zoë@example.com",
       "name": {"givenName": "Zoë", "familyName": "日本"}, "active": True, "emails": [], "x": None, "n": 1.5}


def test_a_document_reads_back_as_the_standard_library_wrote_it() -> None:
    assert dumps(DOC) == json.dumps(DOC, ensure_ascii=False, separators=(",", ":"))
    assert "zoë" in dumps(DOC)  # not \u00eb


@pytest.mark.parametrize("value", [{"big": 2**70}, {"lone": "\ud800"}, {1: "an int key"}])
def test_what_orjson_refuses_is_still_written(value: object) -> None:
    assert json.loads(dumps(value)) == json.loads(json.dumps(value))
