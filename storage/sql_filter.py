"""A parsed filter (RFC 7644 §3.4.2.2) as a SQLAlchemy Core condition on a resource table, with the conventions of
scim2-sqlalchemy:

- no condition is ever NULL, so `not` is exact: a missing attribute is false, `ne` is `not eq` (true when the
  attribute is missing; for a multi-valued attribute, true when no value is equal), `eq null` is `not pr`;
- a multi-valued attribute is "some value matches": `id IN (…)` over the rows of a child table, or an EXISTS over
  the elements of a JSON array;
- strings compare as `storage.sql_compare` says; only values of the attribute's type match.

Where an attribute is stored is data (`storage.resource_maps`): promoted columns, child tables, and otherwise the JSON
`doc` column, read with `json_extract`/`json_each` on SQLite and `#>`/`jsonb_array_elements` on PostgreSQL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    and_,
    case,
    column,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from scim.errors import InvalidFilter
from scim.filters import And, Compare, Expr, FilterVisitor, Not, Or, Present, ValuePath
from scim.schemas import Attribute, AttrRef
from storage.json_values import JsonValue, PostgresJson, SqliteJson, json_at, sqlite_path
from storage.operands import ColumnOperand, ConstantOperand, JsonOperand, Operand, SortKey, VersionOperand
from storage.resource_maps import Child, ResourceMap

_DIALECTS = ("sqlite", "postgresql")


# -- multi-valued attributes --------------------------------------------------------------------


class Elements(ABC):
    """The values of a multi-valued attribute of the current row, as rows an EXISTS ranges over."""

    attribute: Attribute

    @abstractmethod
    def operand(self, sub: Attribute | None) -> Operand:
        """A sub-attribute of one value, or (sub None) the value itself."""

    @abstractmethod
    def values(self) -> list[Operand]:
        """What makes one value assigned (RFC 7643 §2.5): any of these present."""

    @abstractmethod
    def exists(self, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        """Some value satisfies `condition`."""

    @abstractmethod
    def first(self, key: SortKey) -> SortKey:
        """Per RFC 7644 §3.4.2.3, `key` of the primary value, else of the first one."""

    def _primary_first(self) -> list[ColumnElement[Any]]:
        primary = self.attribute.sub("primary")
        if primary is None:
            return []
        return [case((self.operand(primary).compare("eq", True), 0), else_=1)]


class _ChildElements(Elements):
    def __init__(
        self, child: Child, attribute: Attribute, owner: ColumnElement[Any], tenant_id: int, dialect: str
    ) -> None:
        self.child = child
        self.attribute = attribute
        self.rows = child.table.alias()
        self.owner = owner
        self.in_tenant = self.rows.c.tenant_id == tenant_id
        self.dialect = dialect

    def operand(self, sub: Attribute | None) -> Operand:
        if sub is not None and sub.name in self.child.columns:
            promoted = self.child.columns[sub.name]
            stored = self.rows.c[promoted.column]
            return ColumnOperand(sub, stored, self.dialect, promoted.lowered, stored.nullable)
        if sub is not None and sub.name in self.child.constants:
            return ConstantOperand(sub, self.child.constants[sub.name])
        named = f"{self.attribute.name}.{sub.name}" if sub else self.attribute.name
        raise InvalidFilter(f"'{named}' is not stored where a filter can reach it.")

    def values(self) -> list[Operand]:
        return [self.operand(sub) for sub in self.attribute.sub_attributes if sub.name in self.child.columns]

    def exists(self, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        """`id IN (owners of matching rows)`, not a correlated EXISTS: SQLite would probe the child table once per
        resource row, where this reads the child table's index once. The owner column is NOT NULL, so the IN is
        never NULL."""
        return self.owner.in_(select(self.rows.c[self.child.owner]).where(self.in_tenant, condition))

    def first(self, key: SortKey) -> SortKey:
        scope = (self.rows.c[self.child.owner] == self.owner, self.in_tenant)
        if self.child.position is None:  # no order among the values: the least one
            query = select(func.min(key.expr)).where(*scope)
        else:
            order = [*self._primary_first(), self.rows.c[self.child.position]]
            query = select(key.expr).where(*scope).order_by(*order).limit(1)
        return SortKey(query.scalar_subquery(), key.types, bind=key.bind)


class _JsonElements(Elements):
    def __init__(self, document: ColumnElement[Any], keys: Sequence[str], attribute: Attribute, dialect: str) -> None:
        self.attribute = attribute
        self.dialect = dialect
        if dialect == "sqlite":
            each = func.json_each(document, sqlite_path(keys))
            self.rows = each.table_valued("value", "type", column("key", Integer)).alias()
            self.position = self.rows.c.key
        else:
            array = document.op("#>", return_type=JSONB)(literal(list(keys), ARRAY(Text)))
            arrays_only = case((func.jsonb_typeof(array) == "array", array))
            self.rows = (
                func.jsonb_array_elements(arrays_only)
                .table_valued(column("value", JSONB), with_ordinality="position")
                .render_derived()
                .alias()
            )
            self.position = self.rows.c.position

    def operand(self, sub: Attribute | None) -> Operand:
        return JsonOperand(sub or self.attribute, self._json(sub), self.dialect)

    def _json(self, sub: Attribute | None) -> JsonValue:
        if self.dialect != "sqlite":
            return PostgresJson(self.rows.c.value, (sub.name,) if sub else ())
        if sub is None:
            return SqliteJson(self.rows.c.value, self.rows.c.type)
        # json_extract fails on text that is not JSON: only objects are read for sub-attributes.
        return SqliteJson.at(case((self.rows.c.type == "object", self.rows.c.value)), (sub.name,))

    def values(self) -> list[Operand]:
        if self.attribute.is_complex:
            return [self.operand(sub) for sub in self.attribute.sub_attributes]
        return [self.operand(None)]

    def exists(self, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        return select(self.position).select_from(self.rows).where(condition).exists()

    def first(self, key: SortKey) -> SortKey:
        order = [*self._primary_first(), self.position]
        query = select(key.expr).select_from(self.rows).order_by(*order).limit(1)
        return SortKey(query.scalar_subquery(), key.types, bind=key.bind)


# -- the current row ----------------------------------------------------------------------------


class CurrentRow:
    """Where each attribute of the current row of a resource table is stored."""

    def __init__(self, resources: ResourceMap, tenant_id: int, dialect: str) -> None:
        if dialect not in _DIALECTS:
            raise ValueError(f"Searching is implemented for {', '.join(_DIALECTS)}, not {dialect}.")
        self.resources = resources
        self.table = resources.table
        self.tenant_id = tenant_id
        self.dialect = dialect

    def operand(self, ref: AttrRef) -> Operand:
        """The value of a singular attribute (or sub-attribute of a singular complex one)."""
        if not ref.is_extension:
            derived = self._derived(ref)
            if derived is not None:
                return derived
            promoted = self.resources.promoted.get(ref.dotted)
            if promoted is not None:
                stored = self.table.c[promoted.column]
                distinct = not stored.nullable and _unique_in_tenant(self.table, stored)
                return ColumnOperand(ref.target, stored, self.dialect, promoted.lowered, stored.nullable, distinct)
        return JsonOperand(ref.target, json_at(self.table.c.doc, _keys(ref), self.dialect), self.dialect)

    def elements(self, ref: AttrRef) -> Elements:
        """The values of a multi-valued attribute."""
        child = None if ref.is_extension else self.resources.children.get(ref.attribute.name)
        if child is not None:
            return _ChildElements(child, ref.attribute, self.table.c.id, self.tenant_id, self.dialect)
        return _JsonElements(self.table.c.doc, _keys(AttrRef(ref.schema, ref.attribute)), ref.attribute, self.dialect)

    def _derived(self, ref: AttrRef) -> Operand | None:
        if ref.dotted == "meta.resourceType":
            return ConstantOperand(ref.target, self.resources.name)
        if ref.dotted == "meta.location":
            return ConstantOperand(ref.target, None)
        if ref.dotted == "meta.version":
            return VersionOperand(ref.target, self.table.c.version)
        return None


def _keys(ref: AttrRef) -> tuple[str, ...]:
    """The path of an attribute in the document: extension attributes sit under their schema URN."""
    keys = (ref.urn, ref.attribute.name) if ref.is_extension else (ref.attribute.name,)
    return (*keys, ref.sub_attribute.name) if ref.sub_attribute else keys


def _unique_in_tenant(table: Table, stored: Column[Any]) -> bool:
    if stored.primary_key and len(table.primary_key.columns) == 1:
        return True
    return any(
        isinstance(constraint, UniqueConstraint) and set(constraint.columns.keys()) == {"tenant_id", stored.name}
        for constraint in table.constraints
    )


# -- filters ------------------------------------------------------------------------------------


def _any(test: Callable[[Operand], ColumnElement[bool]], operands: list[Operand]) -> ColumnElement[bool]:
    return or_(*(test(operand) for operand in operands))


class SqlFilter(FilterVisitor[ColumnElement[bool]]):
    """A parsed filter (RFC 7644 §3.4.2.2) as a condition on the current row of a resource table; never NULL.

    Nodes it cannot translate raise `InvalidFilter` (the visitor's default), never a server error.
    """

    def __init__(self, resources: ResourceMap, tenant_id: int, dialect: str) -> None:
        self.row = CurrentRow(resources, tenant_id, dialect)

    def visit_compare(self, node: Compare) -> ColumnElement[bool]:
        if node.value is None:  # `eq null` is "has no value", `ne null` "has a value"
            present = self.visit_present(Present(node.ref))
            return present if node.op == "ne" else not_(present)
        if node.op == "ne":
            return not_(self.visit_compare(Compare(node.ref, "eq", node.value)))
        return self._test(node.ref, lambda operand: operand.compare(node.op, node.value))

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        return self._test(node.ref, lambda operand: operand.present())

    def visit_and(self, node: And) -> ColumnElement[bool]:
        return and_(self.visit(node.left), self.visit(node.right))

    def visit_or(self, node: Or) -> ColumnElement[bool]:
        return or_(self.visit(node.left), self.visit(node.right))

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        return not_(self.visit(node.expr))

    def visit_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        """`attr[filter]`: one value satisfies the whole filter."""
        elements = self.row.elements(node.ref)
        return elements.exists(_ValueFilter(elements).visit(node.filter))

    def _test(self, ref: AttrRef, test: Callable[[Operand], ColumnElement[bool]]) -> ColumnElement[bool]:
        """`test` on what `ref` reaches: any value of a multi-valued attribute, any sub-attribute of a complex one."""
        if ref.attribute.multi_valued:
            elements = self.row.elements(ref)
            operands = [elements.operand(ref.sub_attribute)] if ref.sub_attribute else elements.values()
            return elements.exists(_any(test, operands))
        if ref.sub_attribute is None and ref.attribute.is_complex:
            subs = ref.attribute.sub_attributes
            return _any(test, [self.row.operand(AttrRef(ref.schema, ref.attribute, sub)) for sub in subs])
        return test(self.row.operand(ref))


class _ValueFilter(SqlFilter):
    """The filter inside `attr[...]`: every reference names a sub-attribute of one and the same value."""

    def __init__(self, elements: Elements) -> None:
        self.elements = elements

    def _test(self, ref: AttrRef, test: Callable[[Operand], ColumnElement[bool]]) -> ColumnElement[bool]:
        return test(self.elements.operand(ref.sub_attribute))

    visit_value_path = FilterVisitor.visit_value_path  # value filters do not nest (RFC 7644 §3.4.2.2)


def condition(resources: ResourceMap, tenant_id: int, expr: Expr | None, dialect: str) -> ColumnElement[bool]:
    """The tenant's rows of `resources.table` that match `expr` (all of them when it is None)."""
    scoped = resources.table.c.tenant_id == tenant_id
    return scoped if expr is None else and_(scoped, SqlFilter(resources, tenant_id, dialect).visit(expr))
