"""What a filter's attribute reference reaches in SQL: one value of the current row, compared, tested or sorted on.

No condition an operand builds is ever NULL, so `not` is exact: a missing attribute is false.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, and_, false, literal, true

from scim.errors import InvalidFilter
from scim.schemas import Attribute
from storage.json_values import JsonValue
from storage.sql_compare import COMPARE, TEXT_TYPES, lower, text_condition

_IN_PYTHON: dict[str, Callable[[str, str], bool]] = {
    **COMPARE,
    "co": lambda stored, wanted: wanted in stored,
    "sw": str.startswith,
    "ew": str.endswith,
}
_ETAG = re.compile(r'(?:W/)?"?([0-9]{1,18})"?')


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class SortKey:
    """What rows are ordered by: an expression, the Python types of its values (to check cursors), how to bind one."""

    expr: ColumnElement[Any]
    types: tuple[type, ...]
    nullable: bool = True
    distinct: bool = False  # unique within a tenant and never NULL: no id tiebreak needed
    bind: Callable[[Any], Any] = _same


class Operand(ABC):
    """One value an attribute reference reaches in the current row, or in one value of a multi-valued attribute."""

    attribute: Attribute

    @abstractmethod
    def compare(self, op: str, value: Any) -> ColumnElement[bool]:
        """`attribute op value` for eq, co, sw, ew, gt, ge, lt, le and a non-null value; never NULL."""

    @abstractmethod
    def present(self) -> ColumnElement[bool]:
        """Per RFC 7644 §3.4.2.2, the attribute has a value: not null and, for strings, not empty; never NULL."""

    @abstractmethod
    def sort_key(self) -> SortKey | None:
        """The key to sort on, None when every row has the same value."""


@dataclass(frozen=True)
class ColumnOperand(Operand):
    """A value held in a column of its own."""

    attribute: Attribute
    column: ColumnElement[Any]
    dialect: str
    lowered: bool = False
    nullable: bool = True
    distinct: bool = False

    def compare(self, op: str, value: Any) -> ColumnElement[bool]:
        if self.attribute.type in TEXT_TYPES:
            condition = text_condition(
                self.column, op, value, self.dialect, case_exact=self.attribute.case_exact, lowered=self.lowered
            )
        else:
            condition = COMPARE[op](self.column, value)
        return self._guard(condition)

    def present(self) -> ColumnElement[bool]:
        if self.attribute.type in TEXT_TYPES:
            return self._guard(self.column != "")
        return self.column.is_not(None) if self.nullable else true()

    def sort_key(self) -> SortKey:
        expr = self.column
        if self.attribute.type in TEXT_TYPES and not (self.lowered or self.attribute.case_exact):
            expr = lower(expr, self.dialect)
        # A bound literal of the key's type: SQLAlchemy refuses `column < True`, and UtcDateTime must process the value.
        bind = partial(literal, type_=expr.type)
        return SortKey(expr, (_python_type(self.column),), self.nullable, self.distinct, bind)

    def _guard(self, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        return and_(self.column.is_not(None), condition) if self.nullable else condition


def _python_type(stored: ColumnElement[Any]) -> type:
    """The Python type of a column's values; a TypeDecorator (UtcDateTime) has the type of what it wraps."""
    return getattr(stored.type, "impl_instance", stored.type).python_type


@dataclass(frozen=True)
class ConstantOperand(Operand):
    """A value the server derives alike for every row (meta.resourceType); None when it is not comparable in SQL."""

    attribute: Attribute
    value: str | None

    def compare(self, op: str, value: Any) -> ColumnElement[bool]:
        if self.value is None:
            raise InvalidFilter(f"'{self.attribute.name}' is built from the request URL; filter on 'id' instead.")
        stored, wanted = (self.value, value) if self.attribute.case_exact else (self.value.lower(), value.lower())
        return true() if _IN_PYTHON[op](stored, wanted) else false()

    def present(self) -> ColumnElement[bool]:
        return true()

    def sort_key(self) -> None:
        return None


@dataclass(frozen=True)
class VersionOperand(Operand):
    """meta.version, the weak ETag `W/"<n>"` of the version column (RFC 7644 §3.14): only equality means anything."""

    attribute: Attribute
    column: ColumnElement[int]

    def compare(self, op: str, value: Any) -> ColumnElement[bool]:
        if op != "eq":
            raise InvalidFilter("'meta.version' can only be compared with 'eq' or 'ne'.")
        match = _ETAG.fullmatch(value)
        return self.column == int(match[1]) if match else false()

    def present(self) -> ColumnElement[bool]:
        return true()

    def sort_key(self) -> SortKey:
        return SortKey(self.column, (int,), nullable=False)


@dataclass(frozen=True)
class JsonOperand(Operand):
    """A value in the JSON document, of the attribute's type only."""

    attribute: Attribute
    json: JsonValue
    dialect: str

    def compare(self, op: str, value: Any) -> ColumnElement[bool]:
        kind = self.attribute.type
        if kind in TEXT_TYPES:
            condition = text_condition(self.json.text(), op, value, self.dialect, case_exact=self.attribute.case_exact)
        else:
            condition = COMPARE[op](self.json.typed(kind), self.json.filter_value(kind, value))
        return and_(self.json.has_type(kind), condition)

    def present(self) -> ColumnElement[bool]:
        kind = self.attribute.type
        if kind in TEXT_TYPES:
            return and_(self.json.has_type(kind), self.json.text() != "")
        return self.json.has_type(kind)

    def sort_key(self) -> SortKey:
        kind = self.attribute.type
        expr = self.json.typed(kind)
        if kind in TEXT_TYPES and not self.attribute.case_exact:
            expr = lower(expr, self.dialect)
        return SortKey(expr, self.json.key_types(kind), bind=partial(self.json.key_value, kind))
