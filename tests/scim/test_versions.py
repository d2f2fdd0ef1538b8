"""Weak ETags and preconditions (RFC 7644 §3.14, RFC 7232 §3)."""

from __future__ import annotations

import pytest

from scim.versions import etag, if_match_ok, if_none_match_hit

CURRENT = etag(3)


@pytest.mark.parametrize(("version", "tag"), [(1, 'W/"1"'), (3, 'W/"3"'), (1234567890, 'W/"1234567890"')])
def test_a_version_is_a_weak_etag(version: int, tag: str) -> None:
    assert etag(version) == tag


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (None, True),
        ("", True),
        ("  ", True),
        ("*", True),
        (" * ", True),
        ('W/"3"', True),
        ('"3"', True),
        ("3", True),
        ('W/"2"', False),
        ('"2"', False),
        ('"33"', False),
        ('W/"2", W/"3"', True),
        ('"1","2" , "3"', True),
        ('W/"1", "2"', False),
        ('""', False),
        ('W/"abc"', False),
    ],
)
def test_if_match_compares_entity_tags_weakly(header: str | None, ok: bool) -> None:
    """No If-Match or `*` lets the write proceed; otherwise one listed tag must match, W/ ignored."""
    assert if_match_ok(header, CURRENT) is ok


def test_if_match_accepts_a_strong_current_tag_too() -> None:
    assert if_match_ok('W/"3"', '"3"')


@pytest.mark.parametrize(
    ("header", "hit"),
    [
        (None, False),
        ("", False),
        ("*", True),
        ('W/"3"', True),
        ('"3"', True),
        ('W/"2"', False),
        ('W/"1", W/"3"', True),
        ('W/"1", W/"2"', False),
    ],
)
def test_if_none_match_hits_when_a_tag_matches_so_get_answers_304(header: str | None, hit: bool) -> None:
    """RFC 7232 §3.2: If-None-Match uses the weak comparison."""
    assert if_none_match_hit(header, CURRENT) is hit
