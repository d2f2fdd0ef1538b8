"""How values compare in SQL (RFC 7644 §3.4.2.2): strings by case rules and LIKE patterns, others by operator.

- strings compare lower-cased on both sides unless the attribute is caseExact; a `*_key` column holds the value
  lower-cased already, and the filter value is then lower-cased in Python so that the (unique) index is used;
- `co`/`sw`/`ew` are LIKE with `%`, `_` and the escape character escaped; values are always bound parameters;
- gt/ge/lt/le on strings compare code points (COLLATE "C" on PostgreSQL, BINARY on SQLite).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, func, literal, true

TEXT_TYPES = frozenset({"string", "reference", "binary"})  # SCIM types held as text
_ORDERING: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
COMPARE: dict[str, Callable[[Any, Any], Any]] = {"eq": operator.eq, **_ORDERING}
_LIKE = {"co": "%{}%", "sw": "{}%", "ew": "%{}"}
_ESCAPE = "/"


def lower(expr: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """`expr` lower-cased as Python does (SQLite's own lower() folds ASCII only)."""
    return func.scim_lower(expr) if dialect == "sqlite" else func.lower(expr)


def text_condition(
    stored: ColumnElement[Any], op: str, value: str, dialect: str, *, case_exact: bool, lowered: bool = False
) -> ColumnElement[bool]:
    """`stored op value` on strings (RFC 7644 §3.4.2.2): case-insensitive unless caseExact; NULL when `stored` is."""
    if lowered:
        return _fold_compare(stored, op, value.lower(), dialect, fold=False)
    if case_exact:
        return _fold_compare(stored, op, value, dialect, fold=False, exact=True)
    return _fold_compare(lower(stored, dialect), op, value, dialect, fold=True)


def _escape_like(value: str) -> str:
    return value.replace(_ESCAPE, _ESCAPE * 2).replace("%", _ESCAPE + "%").replace("_", _ESCAPE + "_")


def _fold_compare(
    stored: ColumnElement[Any], op: str, value: str, dialect: str, *, fold: bool, exact: bool = False
) -> ColumnElement[bool]:
    """Compare; `fold` lower-cases the value in SQL, as `stored` already is."""

    def bound(text: str) -> ColumnElement[Any]:
        return lower(literal(text), dialect) if fold else literal(text)

    if op == "eq":
        return stored == bound(value)
    if op in _ORDERING:
        return _ORDERING[op](stored.collate("C") if dialect == "postgresql" else stored, bound(value))
    if not value:
        return true()  # every string contains, starts and ends with ""
    if exact and dialect == "sqlite":
        return _sqlite_substring(stored, op, value)
    return stored.like(bound(_LIKE[op].format(_escape_like(value))), escape=_ESCAPE)


def _sqlite_substring(stored: ColumnElement[Any], op: str, value: str) -> ColumnElement[bool]:
    """co/sw/ew by characters: SQLite's LIKE ignores ASCII case, which a caseExact attribute must not."""
    if op == "co":
        return func.instr(stored, value) > 0
    if op == "sw":
        return func.substr(stored, 1, len(value)) == value
    return func.substr(stored, -len(value)) == value
