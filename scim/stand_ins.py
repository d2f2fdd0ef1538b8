"""Stand-ins for a filter's string values, so that filters of one shape share the work done for the shape.

IdPs send the same filter with another value each time (`userName eq "…"`): the parse (`scim.filters`) and the SQL
statements (`storage.statement_cache`) are made once for the filter with `stand_in(i)` in place of its i-th string
value, and the request's values are put where the stand-ins came out. A stand-in starts and ends with a private-use
character, so it is recognisable wherever it ends up; its letters have a case, so a stand-in that was lower-cased on
the way is told from one that was not.
"""

from __future__ import annotations

MARK = "\ue000"
_PREFIX = f"{MARK}Value"
_DIGITS_FROM = len(_PREFIX)


def stand_in(index: int) -> str:
    """The stand-in for the `index`-th string value of a filter."""
    return f"{_PREFIX}{index}{MARK}"


def stand_in_index(value: object) -> int | None:
    """The index `value` stands in for, exactly as `stand_in` made it; None for any other value."""
    if isinstance(value, str) and value.startswith(_PREFIX):
        return int(value[_DIGITS_FROM:-1])
    return None
