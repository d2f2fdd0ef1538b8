"""Index pages from statements built once per filter shape and kept as `Prepared` statements (storage/prepared.py).

Okta and Entra look users and groups up one by one (`userName eq "…"`, `externalId eq "…"`): the same filter shape
with another value each time, whose statement costs more to build and compile than the rest of the lookup. So an
index page's statements are built once per shape, with a stand-in for the tenant and one (`scim.stand_ins`) for each
string value, and a request binds its own values to them. A shape is kept only when every stand-in reaches the SQL
as a bound value, as it is or lower-cased; a translation that looks into a value (substring patterns and lengths, a
comparison decided in Python) is built per request, and so is any shape with an operator other than eq and ne.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from scim.errors import InvalidFilter, InvalidValue
from scim.filters import Compare, Expr, replace_values
from scim.stand_ins import MARK, stand_in
from storage import connections
from storage.pages import Page, Shape, count_matches, holds_all, index_page, page_total, select_matches
from storage.prepared import Prepared

_TENANT_STAND_IN = -735_192_401  # a tenant id no tenant has
_CACHED_OPS = frozenset({"eq", "ne"})
_MAX_TEMPLATES = 1024
# How a bound value comes from the request: (None, False) the tenant id, (i, lowered) the i-th string value.
_Binding = tuple[int | None, bool]


@dataclass(frozen=True)
class _Template:
    page: Prepared
    page_bindings: dict[str, _Binding]
    count: Prepared
    count_bindings: dict[str, _Binding]


_TEMPLATES: dict[tuple[Shape, Expr | None], _Template | None] = {}


def cached_page(session: Session | Connection, shape: Shape, tenant_id: int, expr: Expr | None) -> Page | None:
    """The index page from the shape's cached statements; None when the filter's shape is not cacheable."""
    values: list[str] = []
    abstract = None if expr is None else _abstract(expr, values)
    if abstract is None and expr is not None:
        return None
    key = (shape, abstract)
    if key not in _TEMPLATES:
        if len(_TEMPLATES) >= _MAX_TEMPLATES:
            _TEMPLATES.clear()
        _TEMPLATES[key] = _template(shape, connections.connection_of(session).dialect, abstract, len(values))
    template = _TEMPLATES[key]
    if template is None:
        return None

    def bind(bindings: dict[str, _Binding]) -> dict[str, Any]:
        return {name: tenant_id if index is None else values[index].lower() if lowered else values[index]
                for name, (index, lowered) in bindings.items()}

    rows = template.page.all(session, bind(template.page_bindings)) if shape.count else []
    return Page(rows, page_total(shape, rows, holds_all(shape, rows),
                                 lambda: template.count.first(session, bind(template.count_bindings))[0]))


def _abstract(expr: Expr, values: list[str]) -> Expr | None:
    """`expr` with its string values replaced by stand-ins (collected into `values`); None: not cacheable."""
    operators: set[str] = set()

    def replace(node: Compare) -> Any:
        operators.add(node.op)
        if not isinstance(node.value, str):
            return node.value
        values.append(node.value)
        return stand_in(len(values) - 1)

    abstract = replace_values(expr, replace)
    return abstract if operators <= _CACHED_OPS else None


def _bindings(bound: Mapping[str, Any], slots: int) -> dict[str, _Binding] | None:
    """Which bound values stand for the tenant or a string value; None if a stand-in was looked into."""
    bindings: dict[str, _Binding] = {}
    for name, value in bound.items():
        if value == _TENANT_STAND_IN and isinstance(value, int):
            bindings[name] = (None, False)
        elif isinstance(value, str) and MARK in value:
            found = next(((index, value != stand_in(index)) for index in range(slots)
                          if value in (stand_in(index), stand_in(index).lower())), None)
            if found is None:
                return None
            bindings[name] = found
    used = {index for index, _lowered in bindings.values()}
    return bindings if used == {None, *range(slots)} else None


def _template(shape: Shape, dialect: Dialect, expr: Expr | None, slots: int) -> _Template | None:
    try:
        query, order, where = select_matches(shape, _TENANT_STAND_IN, expr)
    except (InvalidFilter, InvalidValue):
        return None  # built again from the request's own values, it raises the error with them
    page, total = Prepared(index_page(query, order, shape)), Prepared(count_matches(shape.resources, where))
    try:
        page_bindings, count_bindings = (_bindings(p.bound_values(dialect), slots) for p in (page, total))
    except ValueError:  # a statement Prepared cannot run
        return None
    if page_bindings is None or count_bindings is None:
        return None
    return _Template(page, page_bindings, total, count_bindings)
