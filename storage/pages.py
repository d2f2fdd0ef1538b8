"""One page of a search's matches: its statements (rows, count) and its RFC 9865 cursors (RFC 7644 §3.4.2.4)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, func, null, select
from sqlalchemy.orm import Session

from scim.filters import Expr
from scim.schemas import AttrRef
from storage.cursors import decode_cursor, encode_cursor
from storage.ordering import Order, Position, sort_key
from storage.resource_maps import ResourceMap
from storage.sql_filter import condition

_KEY = "scim_sort_key"
_ID = "scim_row_id"


@dataclass(frozen=True)
class Page:
    """One page of a search: the rows (the requested columns), the total, and RFC 9865 cursors when paging by cursor.

    `total` is None when it was not asked for (`count_total=False`).
    """

    rows: list[Row[Any]]
    total: int | None
    next_cursor: str | None = None
    previous_cursor: str | None = None


@dataclass(frozen=True)
class Shape:
    """What a search's statements are built from, but for the tenant and the filter."""

    dialect: str
    resources: ResourceMap
    count: int
    start_index: int
    sort_by: AttrRef | None
    descending: bool
    columns: tuple[ColumnElement[Any], ...]  # () for the map's default columns
    count_total: bool


def select_matches(shape: Shape, tenant_id: int, expr: Expr | None) -> tuple[Select[Any], Order, ColumnElement[bool]]:
    """The tenant's matching rows with their sort key and id, unordered; the order; the WHERE clause."""
    resources, table = shape.resources, shape.resources.table
    where = condition(resources, tenant_id, expr, shape.dialect)
    order = Order(table.c.id, sort_key(resources, tenant_id, shape.sort_by, shape.dialect), shape.descending)
    key_column = order.key.expr if order.key is not None else null()
    columns = shape.columns or resources.columns()
    return select(*columns, key_column.label(_KEY), table.c.id.label(_ID)).where(where), order, where


def index_page(query: Select[Any], order: Order, shape: Shape) -> Select[Any]:
    """The page of `query` from the 1-based `shape.start_index`."""
    return query.order_by(*order.by(reverse=False)).offset(shape.start_index - 1).limit(shape.count)


def count_matches(resources: ResourceMap, where: ColumnElement[bool]) -> Select[Any]:
    """The number of rows `where` matches."""
    return select(func.count()).select_from(resources.table).where(where)


def holds_all(shape: Shape, rows: Sequence[Any]) -> bool:
    """Whether an index page holds every match, so that its length is the total."""
    return shape.start_index == 1 and len(rows) < shape.count


def page_total(shape: Shape, rows: Sequence[Any], complete: bool, counted: Callable[[], int]) -> int | None:
    """The number of matches, if asked for: the rows themselves when the page holds them all (no second query)."""
    if not shape.count_total:
        return None
    return len(rows) if complete else counted()


def cursor_page(
    session: Session | Connection,
    query: Select[Any],
    order: Order,
    fingerprint: str,
    cursor: str,
    count: int,
    total: Callable[[list[Row[Any]], bool], int | None],
) -> Page:
    """RFC 9865: the page after the cursor's position (before it, for a previousCursor) and the cursors around it.

    A previousCursor is given on every page reached through a cursor; past deletions it may lead to an empty page.
    """
    anchor = decode_cursor(cursor, fingerprint, order.key) if cursor else None
    backward = anchor is not None and anchor.backward
    if anchor is not None:
        query = query.where(order.after(anchor, reverse=backward))
    rows = list(session.execute(query.order_by(*order.by(reverse=backward)).limit(count + 1))) if count else []
    more = len(rows) > count
    del rows[count:]
    if backward:
        rows.reverse()
    has_next, has_previous = (anchor is not None, more) if backward else (more, anchor is not None)
    first = _position_of(rows[0]) if rows else anchor
    last = _position_of(rows[-1]) if rows else anchor
    next_cursor = previous_cursor = None
    if count and has_next and last is not None:
        next_cursor = encode_cursor(fingerprint, Position(last.key, last.id))
    if count and has_previous and first is not None:
        previous_cursor = encode_cursor(fingerprint, Position(first.key, first.id, backward=True))
    return Page(rows, total(rows, anchor is None and count > 0 and not more), next_cursor, previous_cursor)


def _position_of(row: Row[Any]) -> Position:
    return Position(row._mapping[_KEY], row._mapping[_ID])
