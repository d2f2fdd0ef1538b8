"""Search over a resource table (RFC 7644 §3.4.2): a filter, a sort order, and an index or cursor (RFC 9865) page.

SQLite connections need `storage.sqlite_functions.register_sqlite_functions` (`storage.db` engines have them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row
from sqlalchemy.orm import Session

from scim.errors import InvalidValue
from scim.filters import Expr
from scim.schemas import AttrRef, ResourceType
from scim.search import SearchParams
from storage import connections
from storage.cursors import fingerprint
from storage.pages import Page, Shape, count_matches, cursor_page, holds_all, index_page, page_total, select_matches
from storage.resource_maps import ResourceMap, resource_map
from storage.statement_cache import cached_page


def search(
    session: Session | Connection,
    resources: ResourceMap,
    tenant_id: int,
    expr: Expr | None = None,
    *,
    count: int,
    start_index: int = 1,
    cursor: str | None = None,
    sort_by: AttrRef | None = None,
    descending: bool = False,
    columns: Sequence[ColumnElement[Any]] | None = None,
    count_total: bool = True,
) -> Page:
    """The tenant's resources matching `expr`, one page, in a stable order (sort key, then id).

    Index pagination (RFC 7644 §3.4.2.4) from the 1-based `start_index` when `cursor` is None; cursor pagination
    (RFC 9865) otherwise, "" asking for the first page. `count` 0 gives only the total. The rows hold `columns`
    (by default every column but hidden ones) plus the sort key and id the cursors are made of.

    :raises InvalidFilter: a filter node that cannot be translated.
    :raises InvalidValue: `sort_by` names nothing sortable.
    :raises InvalidCursor: a cursor this query did not issue.
    """
    if count < 0 or start_index < 1:
        raise ValueError("count must be >= 0 and start_index >= 1")
    dialect = connections.dialect(session)
    shape = Shape(dialect, resources, count, start_index, sort_by, descending, tuple(columns or ()), count_total)
    if cursor is None:
        cached = cached_page(session, shape, tenant_id, expr)
        if cached is not None:
            return cached
    query, order, where = select_matches(shape, tenant_id, expr)

    def total(rows: list[Row[Any]], complete: bool) -> int | None:
        return page_total(shape, rows, complete, lambda: session.execute(count_matches(resources, where)).scalar_one())

    if cursor is None:
        rows = list(session.execute(index_page(query, order, shape))) if count else []
        return Page(rows, total(rows, holds_all(shape, rows)))
    return cursor_page(session, query, order, fingerprint(sort_by, descending), cursor, count, total)


def search_resources(
    session: Session | Connection,
    resource_type: ResourceType,
    tenant_id: int,
    expr: Expr | None,
    params: SearchParams,
    columns: Sequence[ColumnElement[Any]],
) -> Page:
    """`search` driven by a request's SearchParams (RFC 7644 §3.4.2): the adapter users and groups share.

    :raises InvalidValue: `sortBy` names no attribute of the resource type (RFC 7644 §3.4.2.3).
    """
    sort_by = None
    if params.sort_by is not None:
        sort_by = resource_type.resolve_path(params.sort_by)
        if sort_by is None:
            raise InvalidValue(f"sortBy '{params.sort_by}' is not an attribute of {resource_type.name} resources.")
    return search(
        session, resource_map(resource_type), tenant_id, expr,
        count=params.count, start_index=params.start_index or 1, cursor=params.cursor,
        sort_by=sort_by, descending=params.sort_order == "descending", columns=columns,
    )
