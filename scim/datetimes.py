"""dateTime values (RFC 7643 §2.3.5): RFC 3339 text read as an instant, and the one UTC form it is stored in.

An instant is accepted only when its UTC time falls in years 1..9999: Python's datetime holds no other, and a value
outside (`0001-01-01T00:00:00+14:00` is year 0 in UTC) would break every later comparison, sort or cursor on it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_WITH_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")
_OFFSET_OPTIONAL = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})?")

RANGE = "an RFC 3339 date-time whose UTC time is in years 1 to 9999"


def parse_instant(text: str, *, offset_required: bool = True) -> datetime | None:
    """`text` as an aware datetime in UTC (without an offset, when allowed, it is UTC); None when it is not an RFC
    3339 date-time or its instant is out of range.

    In UTC because databases accept fewer offsets than RFC 3339 writes (PostgreSQL none beyond ±15:59).
    """
    pattern = _WITH_OFFSET if offset_required else _OFFSET_OPTIONAL
    if not pattern.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: the UTC instant is in year 0 or 10000
        return None


def wire_text(moment: datetime) -> str:
    """An aware datetime as stored and returned: UTC with `Z`, microseconds only when there are some."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
