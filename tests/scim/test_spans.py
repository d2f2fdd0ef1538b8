"""Spans of time as the CLI, the admin API and the setup links take them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scim import spans


@pytest.mark.parametrize(("text", "span"), [
    ("30s", timedelta(seconds=30)), ("15m", timedelta(minutes=15)), (" 2H ", timedelta(hours=2)),
    ("1h30m", timedelta(minutes=90)), ("7d", timedelta(days=7)), ("1w", timedelta(weeks=1)), ("0m", timedelta()),
])
def test_a_span_is_numbers_with_units(text: str, span: timedelta) -> None:
    assert spans.parse(text) == span


@pytest.mark.parametrize("text", ["", "7", "7 days", "-1h", "1y", "soon", "1h 30m", "h", "1h30"])
def test_anything_else_is_none(text: str) -> None:
    assert spans.parse(text) is None


def test_a_caller_names_the_units_it_takes() -> None:
    assert spans.parse("1h30m", units="hm") == timedelta(minutes=90)
    assert spans.parse("1d", units="hm") is None
