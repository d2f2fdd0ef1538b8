"""Spans of time as people type them: a number and a unit (s, m, h, d, w), or several ("1h30m")."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d{1,9})([a-z])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse(text: str, units: str = "smhdw") -> timedelta | None:
    """"30s", "15m", "1h30m", "7d" or "1w" as a timedelta, in the `units` the caller takes; None for text of another
    shape."""
    text = text.strip().lower()
    parts = _PART.findall(text)
    if (not parts or "".join(number + unit for number, unit in parts) != text
            or any(unit not in units or unit not in _UNITS for _number, unit in parts)):
        return None
    return sum((timedelta(**{_UNITS[unit]: int(number)}) for number, unit in parts), timedelta())
