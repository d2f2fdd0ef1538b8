"""The order of a search (RFC 7644 §3.4.2.3): the sort key of an attribute, then the id; keyset positions in it.

Missing values sort last ascending and first descending, in the database's collation (create PostgreSQL databases
with a C or C.UTF-8 collation for code-point order).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, nulls_first, nulls_last, or_

from scim.errors import InvalidFilter, InvalidValue
from scim.schemas import AttrRef
from storage.operands import SortKey
from storage.resource_maps import ResourceMap
from storage.sql_filter import CurrentRow


def sort_key(resources: ResourceMap, tenant_id: int, ref: AttrRef | None, dialect: str) -> SortKey | None:
    """Per RFC 7644 §3.4.2.3: a complex attribute sorts by its `value`, a multi-valued one by its primary value."""
    if ref is None:
        return None
    if ref.sub_attribute is None and ref.attribute.is_complex:
        value = ref.attribute.sub("value")
        if value is None:
            raise InvalidValue(f"sortBy '{ref}' is complex: name one of its sub-attributes, e.g. '{ref}.<name>'.")
        ref = AttrRef(ref.schema, ref.attribute, value)
    row = CurrentRow(resources, tenant_id, dialect)
    try:
        if not ref.attribute.multi_valued:
            return row.operand(ref).sort_key()
        elements = row.elements(ref)
        key = elements.operand(ref.sub_attribute).sort_key()
    except InvalidFilter as error:
        raise InvalidValue(f"sortBy: {error.detail}") from None
    return elements.first(key) if key is not None else None


@dataclass(frozen=True)
class Position:
    """A row's place in the order: its sort key value and id; `backward` in a cursor asks for the rows before it."""

    key: Any
    id: str
    backward: bool = False


@dataclass(frozen=True)
class Order:
    """A total order: the sort key (NULLs last ascending, first descending; RFC 7644 §3.4.2.3), then the id."""

    id: ColumnElement[str]
    key: SortKey | None
    descending: bool

    def by(self, reverse: bool) -> list[ColumnElement[Any]]:
        down = self.descending != reverse
        clauses: list[ColumnElement[Any]] = []
        if self.key is not None:
            expr = self.key.expr.desc() if down else self.key.expr.asc()
            if self.key.nullable:
                expr = nulls_first(expr) if down else nulls_last(expr)
            clauses.append(expr)
            if self.key.distinct:
                return clauses
        clauses.append(self.id.desc() if down else self.id.asc())
        return clauses

    def after(self, position: Position, reverse: bool) -> ColumnElement[bool]:
        """The rows after `position` in this order (before it when `reverse`): a keyset condition.

        A non-null key gets a redundant `key >= k0` so that an index on the key serves the range.
        """
        down = self.descending != reverse
        beyond, reached = (operator.lt, operator.le) if down else (operator.gt, operator.ge)
        id_beyond = beyond(self.id, position.id)
        if self.key is None:
            return id_beyond
        key = self.key.expr
        if position.key is None:  # among the NULLs, which come last ascending
            return or_(key.is_not(None), and_(key.is_(None), id_beyond)) if down else and_(key.is_(None), id_beyond)
        anchor = self.key.bind(position.key)
        if self.key.distinct:
            return beyond(key, anchor)
        later = or_(beyond(key, anchor), and_(key == anchor, id_beyond))
        if not self.key.nullable:
            return and_(reached(key, anchor), later)
        return later if down else or_(later, key.is_(None))
