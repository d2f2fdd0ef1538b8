"""Search in SQL: filters, sorting and paging (RFC 7644 §3.4.2, cursors per RFC 9865) over any resource table.

`SqlFilter` turns the resolved tree of `scim.filters` into a SQLAlchemy Core condition, with the conventions of
scim2-sqlalchemy:

- no condition is ever NULL, so `not` is exact: a missing attribute is false, `ne` is `not eq` (true when the
  attribute is missing; for a multi-valued attribute, true when no value is equal), `eq null` is `not pr`;
- a multi-valued attribute is "some value matches": `id IN (…)` over the rows of a child table, or an EXISTS over
  the elements of a JSON array;
- strings compare lower-cased on both sides unless the attribute is caseExact; a `*_key` column holds the value
  lower-cased already, and the filter value is then lower-cased in Python so that the (unique) index is used;
- `co`/`sw`/`ew` are LIKE with `%`, `_` and the escape character escaped; values are always bound parameters;
- gt/ge/lt/le on strings compare code points (COLLATE "C" on PostgreSQL, BINARY on SQLite);
- only values of the attribute's type match: a JSON string never equals a number.

Where an attribute is stored is data (`ResourceMap`): promoted columns, child tables, and otherwise the JSON `doc`
column, read with `json_extract`/`json_each` on SQLite and `#>`/`jsonb_array_elements` on PostgreSQL.

Sorting (RFC 7644 §3.4.2.3) puts missing values last ascending and first descending, with the id as tiebreak, in
the database's collation (create PostgreSQL databases with a C or C.UTF-8 collation for code-point order); a cursor
is a keyset position in that order. SQLite connections need `register_sqlite_functions`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import operator
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Integer,
    Row,
    Select,
    Table,
    Text,
    UniqueConstraint,
    and_,
    case,
    cast,
    column,
    false,
    func,
    literal,
    not_,
    null,
    nulls_first,
    nulls_last,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from scim.errors import InvalidCursor, InvalidFilter, InvalidValue
from scim.filters import And, Compare, Expr, FilterVisitor, Not, Or, Present, ValuePath, replace_values
from scim.schemas import Attribute, AttrRef, ResourceType
from scim.search import SearchParams
from storage import db
from storage.models import Group, GroupMember, User, UserEmail
from storage.prepared import Prepared

_DIALECTS = ("sqlite", "postgresql")
_TEXT = frozenset({"string", "reference", "binary"})
_ORDERING: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {"eq": operator.eq, **_ORDERING}
_IN_PYTHON: dict[str, Callable[[str, str], bool]] = {
    **_COMPARE,
    "co": lambda stored, wanted: wanted in stored,
    "sw": str.startswith,
    "ew": str.endswith,
}
_LIKE = {"co": "%{}%", "sw": "{}%", "ew": "%{}"}
_ESCAPE = "/"
_ETAG = re.compile(r'(?:W/)?"?([0-9]{1,18})"?')


# -- where attributes are stored ----------------------------------------------------------------


@dataclass(frozen=True)
class Promoted:
    """A column holding an attribute's value; `lowered` when it holds it lower-cased by Python (a `*_key` column)."""

    column: str
    lowered: bool = False


@dataclass(frozen=True)
class Child:
    """A multi-valued complex attribute kept as rows of another table, one row per value."""

    table: Table
    owner: str  # the column holding the resource's id
    columns: Mapping[str, Promoted]  # sub-attribute name → column
    # Sub-attributes derived alike for every value (None: not comparable in SQL, e.g. a `$ref` built from the URL).
    constants: Mapping[str, str | None] = field(default_factory=dict)
    position: str | None = None  # the values' order, for "the first value" (RFC 7644 §3.4.2.3)


@dataclass(frozen=True, eq=False)  # one per resource type (_MAPS): compared and hashed as itself
class ResourceMap:
    """Where one resource type's attributes are stored; anything not named here is in the JSON `doc` column.

    `promoted` and `children` are keyed by the dotted name of a core or common attribute (`userName`, `meta.created`,
    `emails`); extension attributes always live in the document, under their schema URN.
    """

    name: str
    table: Table
    promoted: Mapping[str, Promoted]
    children: Mapping[str, Child] = field(default_factory=dict)
    hidden: tuple[str, ...] = ()  # columns a search never returns

    def columns(self) -> list[Column[Any]]:
        """The columns a search returns by default: all but the hidden ones."""
        return [col for col in self.table.c if col.name not in self.hidden]


_COMMON = {
    "id": Promoted("id"),
    "externalId": Promoted("external_id"),
    "meta.created": Promoted("created"),
    "meta.lastModified": Promoted("last_modified"),
}

USERS = ResourceMap(
    "User",
    User.__table__,
    promoted={
        **_COMMON,
        "userName": Promoted("user_name_key", lowered=True),
        "displayName": Promoted("display_name"),
        "active": Promoted("active"),
    },
    children={
        "emails": Child(
            UserEmail.__table__,
            "user_id",
            {
                "value": Promoted("value_key", lowered=True),
                "type": Promoted("type"),
                "primary": Promoted("primary"),
                "display": Promoted("display"),
            },
            position="position",
        ),
        "groups": Child(
            GroupMember.__table__, "member_id", {"value": Promoted("group_id")}, {"type": "direct", "$ref": None}
        ),
    },
    hidden=("password_hash",),
)

GROUPS = ResourceMap(
    "Group",
    Group.__table__,
    promoted={**_COMMON, "displayName": Promoted("display_name_key", lowered=True)},
    children={
        "members": Child(
            GroupMember.__table__, "group_id", {"value": Promoted("member_id")}, {"type": "User", "$ref": None}
        )
    },
)

_MAPS = {resources.name: resources for resources in (USERS, GROUPS)}


def resource_map(resource_type: ResourceType) -> ResourceMap:
    """The storage map of a resource type."""
    try:
        return _MAPS[resource_type.name]
    except KeyError:
        raise ValueError(f"No table stores {resource_type.name} resources.") from None


# -- SQLite functions ---------------------------------------------------------------------------


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Add the functions the queries use to a SQLite connection; call it from the engine's "connect" event.

    `scim_lower` is Python's `str.lower` (SQLite's lower() folds ASCII only); `scim_instant` normalises an RFC 3339
    dateTime to UTC text that sorts as the instant does.
    """
    dbapi_connection.create_function("scim_lower", 1, _python_lower, deterministic=True)
    dbapi_connection.create_function("scim_instant", 1, _instant_text, deterministic=True)


def _python_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _instant_text(value: Any) -> str | None:
    """A dateTime string as fixed-width UTC text (an offset-less one is UTC), or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return _utc_text(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


# -- comparisons --------------------------------------------------------------------------------


def _lower(expr: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    return func.scim_lower(expr) if dialect == "sqlite" else func.lower(expr)


def _escape_like(value: str) -> str:
    return value.replace(_ESCAPE, _ESCAPE * 2).replace("%", _ESCAPE + "%").replace("_", _ESCAPE + "_")


def _text_condition(
    stored: ColumnElement[Any], op: str, value: str, dialect: str, *, case_exact: bool, lowered: bool = False
) -> ColumnElement[bool]:
    """`stored op value` on strings (RFC 7644 §3.4.2.2): case-insensitive unless caseExact; NULL when `stored` is."""
    if lowered:
        return _fold_compare(stored, op, value.lower(), dialect, fold=False)
    if case_exact:
        return _fold_compare(stored, op, value, dialect, fold=False, exact=True)
    return _fold_compare(_lower(stored, dialect), op, value, dialect, fold=True)


def _fold_compare(
    stored: ColumnElement[Any], op: str, value: str, dialect: str, *, fold: bool, exact: bool = False
) -> ColumnElement[bool]:
    """Compare; `fold` lower-cases the value in SQL, as `stored` already is."""

    def bound(text: str) -> ColumnElement[Any]:
        return _lower(literal(text), dialect) if fold else literal(text)

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


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class _SortKey:
    """What rows are ordered by: an expression, the Python types of its values (to check cursors), how to bind one."""

    expr: ColumnElement[Any]
    types: tuple[type, ...]
    nullable: bool = True
    distinct: bool = False  # unique within a tenant and never NULL: no id tiebreak needed
    bind: Callable[[Any], Any] = _same


class _Operand(ABC):
    """One value an attribute reference reaches in the current row, or in one value of a multi-valued attribute."""

    attribute: Attribute

    @abstractmethod
    def compare(self, op: str, value: Any) -> ColumnElement[bool]:
        """`attribute op value` for eq, co, sw, ew, gt, ge, lt, le and a non-null value; never NULL."""

    @abstractmethod
    def present(self) -> ColumnElement[bool]:
        """Per RFC 7644 §3.4.2.2, the attribute has a value: not null and, for strings, not empty; never NULL."""

    @abstractmethod
    def sort_key(self) -> _SortKey | None:
        """The key to sort on, None when every row has the same value."""


@dataclass(frozen=True)
class _ColumnOperand(_Operand):
    attribute: Attribute
    column: ColumnElement[Any]
    dialect: str
    lowered: bool = False
    nullable: bool = True
    distinct: bool = False

    def compare(self, op: str, value: Any) -> ColumnElement[bool]:
        if self.attribute.type in _TEXT:
            condition = _text_condition(
                self.column, op, value, self.dialect, case_exact=self.attribute.case_exact, lowered=self.lowered
            )
        else:
            condition = _COMPARE[op](self.column, value)
        return self._guard(condition)

    def present(self) -> ColumnElement[bool]:
        if self.attribute.type in _TEXT:
            return self._guard(self.column != "")
        return self.column.is_not(None) if self.nullable else true()

    def sort_key(self) -> _SortKey:
        expr = self.column
        if self.attribute.type in _TEXT and not (self.lowered or self.attribute.case_exact):
            expr = _lower(expr, self.dialect)
        # A bound literal of the key's type: SQLAlchemy refuses `column < True`, and UtcDateTime must process the value.
        bind = partial(literal, type_=expr.type)
        return _SortKey(expr, (_python_type(self.column),), self.nullable, self.distinct, bind)

    def _guard(self, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        return and_(self.column.is_not(None), condition) if self.nullable else condition


def _python_type(stored: ColumnElement[Any]) -> type:
    """The Python type of a column's values; a TypeDecorator (UtcDateTime) has the type of what it wraps."""
    return getattr(stored.type, "impl_instance", stored.type).python_type


@dataclass(frozen=True)
class _ConstantOperand(_Operand):
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
class _VersionOperand(_Operand):
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

    def sort_key(self) -> _SortKey:
        return _SortKey(self.column, (int,), nullable=False)


# -- JSON values --------------------------------------------------------------------------------


class _SqliteJson:
    """A value in a JSON document on SQLite: `json_extract` gives strings as text, numbers, and true/false as 1/0."""

    _TYPES: Mapping[str, tuple[str, ...]] = {
        **dict.fromkeys((*_TEXT, "dateTime"), ("text",)),
        "boolean": ("true", "false"),
        "integer": ("integer", "real"),
        "decimal": ("integer", "real"),
    }
    _KEY_TYPES: Mapping[str, tuple[type, ...]] = {
        **dict.fromkeys((*_TEXT, "dateTime"), (str,)),
        "boolean": (int,),
        "integer": (int, float),
        "decimal": (int, float),
    }

    def __init__(self, value: ColumnElement[Any], json_type: ColumnElement[Any]) -> None:
        self.value = value
        self.json_type = json_type

    @classmethod
    def at(cls, document: ColumnElement[Any], keys: Sequence[str]) -> _SqliteJson:
        path = _sqlite_path(keys)
        return cls(func.json_extract(document, path), func.json_type(document, path))

    def has_type(self, kind: str) -> ColumnElement[bool]:
        return func.coalesce(self.json_type, "").in_(self._TYPES[kind])

    def text(self) -> ColumnElement[Any]:
        return self.value

    def typed(self, kind: str) -> ColumnElement[Any]:
        return func.scim_instant(self.value) if kind == "dateTime" else self.value

    def filter_value(self, kind: str, value: Any) -> Any:
        if kind == "dateTime":
            return _utc_text(value)
        return int(value) if kind == "boolean" else value

    def key_types(self, kind: str) -> tuple[type, ...]:
        return self._KEY_TYPES[kind]

    def key_value(self, kind: str, value: Any) -> Any:
        return value


class _PostgresJson:
    """A value in a JSONB document: numbers and booleans compare as jsonb, so no cast can fail on a stray value."""

    _TYPES: Mapping[str, str] = {
        **dict.fromkeys((*_TEXT, "dateTime"), "string"),
        "boolean": "boolean",
        "integer": "number",
        "decimal": "number",
    }
    _KEY_TYPES: Mapping[str, tuple[type, ...]] = {
        **dict.fromkeys(_TEXT, (str,)),
        "dateTime": (datetime,),
        "boolean": (bool,),
        "integer": (int, float),
        "decimal": (int, float),
    }

    def __init__(self, document: ColumnElement[Any], keys: Sequence[str]) -> None:
        path = literal(list(keys), ARRAY(Text))
        self.jsonb = document.op("#>", return_type=JSONB)(path) if keys else document
        self.text_value = document.op("#>>", return_type=Text)(path)

    def has_type(self, kind: str) -> ColumnElement[bool]:
        return func.coalesce(func.jsonb_typeof(self.jsonb), "") == self._TYPES[kind]

    def text(self) -> ColumnElement[Any]:
        return self.text_value

    def typed(self, kind: str) -> ColumnElement[Any]:
        if kind in _TEXT:
            return self.text_value
        if kind == "dateTime":
            # CASE, not AND: PostgreSQL may evaluate a cast before the type test beside it.
            return case((func.jsonb_typeof(self.jsonb) == "string", cast(self.text_value, TIMESTAMP(timezone=True))))
        return self.jsonb

    def filter_value(self, kind: str, value: Any) -> Any:
        return value if kind == "dateTime" else literal(value, JSONB)

    def key_types(self, kind: str) -> tuple[type, ...]:
        return self._KEY_TYPES[kind]

    def key_value(self, kind: str, value: Any) -> Any:
        return value if kind in _TEXT or kind == "dateTime" else literal(value, JSONB)


_Json = _SqliteJson | _PostgresJson


def _sqlite_path(keys: Sequence[str]) -> str:
    """A JSON path with every key quoted: extension URNs hold dots and colons."""
    return "$" + "".join(f'."{key}"' for key in keys)


def _json_at(document: ColumnElement[Any], keys: Sequence[str], dialect: str) -> _Json:
    return _SqliteJson.at(document, keys) if dialect == "sqlite" else _PostgresJson(document, keys)


@dataclass(frozen=True)
class _JsonOperand(_Operand):
    attribute: Attribute
    json: _Json
    dialect: str

    def compare(self, op: str, value: Any) -> ColumnElement[bool]:
        kind = self.attribute.type
        if kind in _TEXT:
            condition = _text_condition(self.json.text(), op, value, self.dialect, case_exact=self.attribute.case_exact)
        else:
            condition = _COMPARE[op](self.json.typed(kind), self.json.filter_value(kind, value))
        return and_(self.json.has_type(kind), condition)

    def present(self) -> ColumnElement[bool]:
        kind = self.attribute.type
        if kind in _TEXT:
            return and_(self.json.has_type(kind), self.json.text() != "")
        return self.json.has_type(kind)

    def sort_key(self) -> _SortKey:
        kind = self.attribute.type
        expr = self.json.typed(kind)
        if kind in _TEXT and not self.attribute.case_exact:
            expr = _lower(expr, self.dialect)
        return _SortKey(expr, self.json.key_types(kind), bind=partial(self.json.key_value, kind))


# -- multi-valued attributes --------------------------------------------------------------------


class _Elements(ABC):
    """The values of a multi-valued attribute of the current row, as rows an EXISTS ranges over."""

    attribute: Attribute

    @abstractmethod
    def operand(self, sub: Attribute | None) -> _Operand:
        """A sub-attribute of one value, or (sub None) the value itself."""

    @abstractmethod
    def values(self) -> list[_Operand]:
        """What makes one value assigned (RFC 7643 §2.5): any of these present."""

    @abstractmethod
    def exists(self, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        """Some value satisfies `condition`."""

    @abstractmethod
    def first(self, key: _SortKey) -> _SortKey:
        """Per RFC 7644 §3.4.2.3, `key` of the primary value, else of the first one."""

    def _primary_first(self) -> list[ColumnElement[Any]]:
        primary = self.attribute.sub("primary")
        if primary is None:
            return []
        return [case((self.operand(primary).compare("eq", True), 0), else_=1)]


class _ChildElements(_Elements):
    def __init__(
        self, child: Child, attribute: Attribute, owner: ColumnElement[Any], tenant_id: int, dialect: str
    ) -> None:
        self.child = child
        self.attribute = attribute
        self.rows = child.table.alias()
        self.owner = owner
        self.in_tenant = self.rows.c.tenant_id == tenant_id
        self.dialect = dialect

    def operand(self, sub: Attribute | None) -> _Operand:
        if sub is not None and sub.name in self.child.columns:
            promoted = self.child.columns[sub.name]
            stored = self.rows.c[promoted.column]
            return _ColumnOperand(sub, stored, self.dialect, promoted.lowered, stored.nullable)
        if sub is not None and sub.name in self.child.constants:
            return _ConstantOperand(sub, self.child.constants[sub.name])
        named = f"{self.attribute.name}.{sub.name}" if sub else self.attribute.name
        raise InvalidFilter(f"'{named}' is not stored where a filter can reach it.")

    def values(self) -> list[_Operand]:
        return [self.operand(sub) for sub in self.attribute.sub_attributes if sub.name in self.child.columns]

    def exists(self, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        """`id IN (owners of matching rows)`, not a correlated EXISTS: SQLite would probe the child table once per
        resource row, where this reads the child table's index once. The owner column is NOT NULL, so the IN is
        never NULL."""
        return self.owner.in_(select(self.rows.c[self.child.owner]).where(self.in_tenant, condition))

    def first(self, key: _SortKey) -> _SortKey:
        scope = (self.rows.c[self.child.owner] == self.owner, self.in_tenant)
        if self.child.position is None:  # no order among the values: the least one
            query = select(func.min(key.expr)).where(*scope)
        else:
            order = [*self._primary_first(), self.rows.c[self.child.position]]
            query = select(key.expr).where(*scope).order_by(*order).limit(1)
        return _SortKey(query.scalar_subquery(), key.types, bind=key.bind)


class _JsonElements(_Elements):
    def __init__(self, document: ColumnElement[Any], keys: Sequence[str], attribute: Attribute, dialect: str) -> None:
        self.attribute = attribute
        self.dialect = dialect
        if dialect == "sqlite":
            each = func.json_each(document, _sqlite_path(keys))
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

    def operand(self, sub: Attribute | None) -> _Operand:
        return _JsonOperand(sub or self.attribute, self._json(sub), self.dialect)

    def _json(self, sub: Attribute | None) -> _Json:
        if self.dialect != "sqlite":
            return _PostgresJson(self.rows.c.value, (sub.name,) if sub else ())
        if sub is None:
            return _SqliteJson(self.rows.c.value, self.rows.c.type)
        # json_extract fails on text that is not JSON: only objects are read for sub-attributes.
        return _SqliteJson.at(case((self.rows.c.type == "object", self.rows.c.value)), (sub.name,))

    def values(self) -> list[_Operand]:
        if self.attribute.is_complex:
            return [self.operand(sub) for sub in self.attribute.sub_attributes]
        return [self.operand(None)]

    def exists(self, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        return select(self.position).select_from(self.rows).where(condition).exists()

    def first(self, key: _SortKey) -> _SortKey:
        order = [*self._primary_first(), self.position]
        query = select(key.expr).select_from(self.rows).order_by(*order).limit(1)
        return _SortKey(query.scalar_subquery(), key.types, bind=key.bind)


# -- the current row ----------------------------------------------------------------------------


class _Row:
    """Where each attribute of the current row of a resource table is stored."""

    def __init__(self, resources: ResourceMap, tenant_id: int, dialect: str) -> None:
        if dialect not in _DIALECTS:
            raise ValueError(f"Searching is implemented for {', '.join(_DIALECTS)}, not {dialect}.")
        self.resources = resources
        self.table = resources.table
        self.tenant_id = tenant_id
        self.dialect = dialect

    def operand(self, ref: AttrRef) -> _Operand:
        """The value of a singular attribute (or sub-attribute of a singular complex one)."""
        if not ref.is_extension:
            derived = self._derived(ref)
            if derived is not None:
                return derived
            promoted = self.resources.promoted.get(ref.dotted)
            if promoted is not None:
                stored = self.table.c[promoted.column]
                distinct = not stored.nullable and _unique_in_tenant(self.table, stored)
                return _ColumnOperand(ref.target, stored, self.dialect, promoted.lowered, stored.nullable, distinct)
        return _JsonOperand(ref.target, _json_at(self.table.c.doc, _keys(ref), self.dialect), self.dialect)

    def elements(self, ref: AttrRef) -> _Elements:
        """The values of a multi-valued attribute."""
        child = None if ref.is_extension else self.resources.children.get(ref.attribute.name)
        if child is not None:
            return _ChildElements(child, ref.attribute, self.table.c.id, self.tenant_id, self.dialect)
        return _JsonElements(self.table.c.doc, _keys(AttrRef(ref.schema, ref.attribute)), ref.attribute, self.dialect)

    def _derived(self, ref: AttrRef) -> _Operand | None:
        if ref.dotted == "meta.resourceType":
            return _ConstantOperand(ref.target, self.resources.name)
        if ref.dotted == "meta.location":
            return _ConstantOperand(ref.target, None)
        if ref.dotted == "meta.version":
            return _VersionOperand(ref.target, self.table.c.version)
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


def _any(test: Callable[[_Operand], ColumnElement[bool]], operands: list[_Operand]) -> ColumnElement[bool]:
    return or_(*(test(operand) for operand in operands))


class SqlFilter(FilterVisitor[ColumnElement[bool]]):
    """A parsed filter (RFC 7644 §3.4.2.2) as a condition on the current row of a resource table; never NULL.

    Nodes it cannot translate raise `InvalidFilter` (the visitor's default), never a server error.
    """

    def __init__(self, resources: ResourceMap, tenant_id: int, dialect: str) -> None:
        self.row = _Row(resources, tenant_id, dialect)

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

    def _test(self, ref: AttrRef, test: Callable[[_Operand], ColumnElement[bool]]) -> ColumnElement[bool]:
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

    def __init__(self, elements: _Elements) -> None:
        self.elements = elements

    def _test(self, ref: AttrRef, test: Callable[[_Operand], ColumnElement[bool]]) -> ColumnElement[bool]:
        return test(self.elements.operand(ref.sub_attribute))

    visit_value_path = FilterVisitor.visit_value_path  # value filters do not nest (RFC 7644 §3.4.2.2)


def condition(resources: ResourceMap, tenant_id: int, expr: Expr | None, dialect: str) -> ColumnElement[bool]:
    """The tenant's rows of `resources.table` that match `expr` (all of them when it is None)."""
    scoped = resources.table.c.tenant_id == tenant_id
    return scoped if expr is None else and_(scoped, SqlFilter(resources, tenant_id, dialect).visit(expr))


# -- sorting ------------------------------------------------------------------------------------


def _sort_key(resources: ResourceMap, tenant_id: int, ref: AttrRef | None, dialect: str) -> _SortKey | None:
    """Per RFC 7644 §3.4.2.3: a complex attribute sorts by its `value`, a multi-valued one by its primary value."""
    if ref is None:
        return None
    if ref.sub_attribute is None and ref.attribute.is_complex:
        value = ref.attribute.sub("value")
        if value is None:
            raise InvalidValue(f"sortBy '{ref}' is complex: name one of its sub-attributes, e.g. '{ref}.<name>'.")
        ref = AttrRef(ref.schema, ref.attribute, value)
    row = _Row(resources, tenant_id, dialect)
    try:
        if not ref.attribute.multi_valued:
            return row.operand(ref).sort_key()
        elements = row.elements(ref)
        key = elements.operand(ref.sub_attribute).sort_key()
    except InvalidFilter as error:
        raise InvalidValue(f"sortBy: {error.detail}") from None
    return elements.first(key) if key is not None else None


@dataclass(frozen=True)
class _Position:
    """A row's place in the order: its sort key value and id; `backward` in a cursor asks for the rows before it."""

    key: Any
    id: str
    backward: bool = False


@dataclass(frozen=True)
class _Order:
    """A total order: the sort key (NULLs last ascending, first descending; RFC 7644 §3.4.2.3), then the id."""

    id: ColumnElement[str]
    key: _SortKey | None
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

    def after(self, position: _Position, reverse: bool) -> ColumnElement[bool]:
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


# -- cursors ------------------------------------------------------------------------------------

_MAX_CURSOR = 16_384  # characters; a cursor holds one sort key value, which a long string can make long
_INT64 = 2**63


def _encode_cursor(fingerprint: str, position: _Position) -> str:
    """base64url (unpadded: only RFC 3986 unreserved characters, as RFC 9865 §2 asks) of a small JSON array."""
    key = {"t": position.key.isoformat()} if isinstance(position.key, datetime) else position.key
    text = json.dumps([fingerprint, key, position.id, position.backward], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")


def _decode_cursor(cursor: str, fingerprint: str, key: _SortKey | None) -> _Position:
    """The position a cursor names, checked so that a forged one is a 400 `invalidCursor`, never a server error.

    Cursors are not signed: a position in an order the client may query anyway reveals nothing and grants nothing.
    """
    try:
        if len(cursor) > _MAX_CURSOR:
            raise ValueError("too long")
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        if not (isinstance(data, list) and len(data) == 4 and data[0] == fingerprint):
            raise ValueError("not a cursor of this query")
        _, value, row_id, backward = data
        if not (_clean_text(row_id) and isinstance(backward, bool)):
            raise ValueError("bad position")
        return _Position(_key_value(value, key), row_id, backward)
    except (ValueError, binascii.Error) as error:
        raise InvalidCursor(f"The cursor is invalid ({error}); send an empty cursor for the first page.") from None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} in cursor")


def _clean_text(value: Any) -> bool:
    """A string a database accepts: no NUL, no lone surrogate, a sane length."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= _MAX_CURSOR
        and "\x00" not in value
        and not any("\ud800" <= char <= "\udfff" for char in value)
    )


def _key_value(value: Any, key: _SortKey | None) -> Any:
    if value is None:
        if key is not None and not key.nullable:
            raise ValueError("missing sort key")
        return None
    if key is None:
        raise ValueError("unexpected sort key")
    if isinstance(value, dict) and datetime in key.types and list(value) == ["t"] and isinstance(value["t"], str):
        moment = datetime.fromisoformat(value["t"])
        if moment.tzinfo is None:
            raise ValueError("naive dateTime")
        return moment
    if isinstance(value, bool) != (bool in key.types) or not isinstance(value, key.types):
        raise ValueError("sort key of the wrong type")
    if isinstance(value, str) and not (value == "" or _clean_text(value)):
        raise ValueError("bad sort key")
    if (isinstance(value, int) and not -_INT64 <= value < _INT64) or (
        isinstance(value, float) and not math.isfinite(value)
    ):
        raise ValueError("sort key out of range")
    return value


def _fingerprint(sort_by: AttrRef | None, descending: bool) -> str:
    """What a cursor is bound to: the order it is a position in."""
    return f"{str(sort_by).lower() if sort_by else ''}{'-' if descending else '+'}"


# -- search -------------------------------------------------------------------------------------

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
class _Shape:
    """What a search's statements are built from, but for the tenant and the filter."""

    dialect: str
    resources: ResourceMap
    count: int
    start_index: int
    sort_by: AttrRef | None
    descending: bool
    columns: tuple[ColumnElement[Any], ...]  # () for the map's default columns
    count_total: bool


def _select(shape: _Shape, tenant_id: int, expr: Expr | None) -> tuple[Select[Any], _Order, ColumnElement[bool]]:
    """The tenant's matching rows with their sort key and id, unordered; the order; the WHERE clause."""
    resources, table = shape.resources, shape.resources.table
    where = condition(resources, tenant_id, expr, shape.dialect)
    order = _Order(table.c.id, _sort_key(resources, tenant_id, shape.sort_by, shape.dialect), shape.descending)
    key_column = order.key.expr if order.key is not None else null()
    columns = shape.columns or resources.columns()
    return select(*columns, key_column.label(_KEY), table.c.id.label(_ID)).where(where), order, where


def _index_page(query: Select[Any], order: _Order, shape: _Shape) -> Select[Any]:
    return query.order_by(*order.by(reverse=False)).offset(shape.start_index - 1).limit(shape.count)


def _count(resources: ResourceMap, where: ColumnElement[bool]) -> Select[Any]:
    return select(func.count()).select_from(resources.table).where(where)


def _holds_all(shape: _Shape, rows: Sequence[Any]) -> bool:
    """Whether an index page holds every match, so that its length is the total."""
    return shape.start_index == 1 and len(rows) < shape.count


def _total(shape: _Shape, rows: Sequence[Any], complete: bool, count: Callable[[], int]) -> int | None:
    """The number of matches, if asked for: the rows themselves when the page holds them all (no second query)."""
    if not shape.count_total:
        return None
    return len(rows) if complete else count()


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
    dialect = db.dialect(session)
    shape = _Shape(dialect, resources, count, start_index, sort_by, descending, tuple(columns or ()), count_total)
    if cursor is None:
        cached = _cached_page(session, shape, tenant_id, expr)
        if cached is not None:
            return cached
    query, order, where = _select(shape, tenant_id, expr)

    def total(rows: list[Row[Any]], complete: bool) -> int | None:
        return _total(shape, rows, complete, lambda: session.execute(_count(resources, where)).scalar_one())

    if cursor is None:
        rows = list(session.execute(_index_page(query, order, shape))) if count else []
        return Page(rows, total(rows, _holds_all(shape, rows)))
    return _cursor_page(session, query, order, _fingerprint(sort_by, descending), cursor, count, total)


# -- index pages from cached statements ----------------------------------------------------------
#
# Okta and Entra look users and groups up one by one (`userName eq "…"`, `externalId eq "…"`): the same filter shape
# with another value each time, whose statement took half the request to build and compile. So an index page's
# statements are built once per shape, with stand-ins for the tenant and each string value, and kept as Prepared
# statements (storage/prepared.py) that a request binds its own values to. A shape is kept only when every stand-in
# reaches the SQL as a bound value, as it is or lower-cased; a translation that looks into a value (substring
# patterns and lengths, a comparison decided in Python) is built per request as before, and so is any shape with
# an operator other than eq and ne.

_TENANT_STAND_IN = -735_192_401
_MARK = "\ue000"  # a private-use character: a stand-in is recognisable wherever it ends up
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


_TEMPLATES: dict[tuple[_Shape, Expr | None], _Template | None] = {}


def _stand_in(index: int) -> str:
    return f"{_MARK}Value{index}{_MARK}"


def _abstract(expr: Expr, values: list[str]) -> Expr | None:
    """`expr` with its string values replaced by stand-ins (collected into `values`); None: not cacheable."""
    operators: set[str] = set()

    def stand_in(node: Compare) -> Any:
        operators.add(node.op)
        if not isinstance(node.value, str):
            return node.value
        values.append(node.value)
        return _stand_in(len(values) - 1)

    abstract = replace_values(expr, stand_in)
    return abstract if operators <= _CACHED_OPS else None


def _bindings(bound: Mapping[str, Any], slots: int) -> dict[str, _Binding] | None:
    """Which bound values stand for the tenant or a string value; None if a stand-in was looked into."""
    bindings: dict[str, _Binding] = {}
    for name, value in bound.items():
        if value == _TENANT_STAND_IN and isinstance(value, int):
            bindings[name] = (None, False)
        elif isinstance(value, str) and _MARK in value:
            found = next(((index, value != _stand_in(index)) for index in range(slots)
                          if value in (_stand_in(index), _stand_in(index).lower())), None)
            if found is None:
                return None
            bindings[name] = found
    used = {index for index, _lowered in bindings.values()}
    return bindings if used == {None, *range(slots)} else None


def _template(shape: _Shape, dialect: Dialect, expr: Expr | None, slots: int) -> _Template | None:
    try:
        query, order, where = _select(shape, _TENANT_STAND_IN, expr)
    except (InvalidFilter, InvalidValue):
        return None  # built again from the request's own values, it raises the error with them
    page, total = Prepared(_index_page(query, order, shape)), Prepared(_count(shape.resources, where))
    try:
        page_bindings, count_bindings = (_bindings(p.bound_values(dialect), slots) for p in (page, total))
    except ValueError:  # a statement Prepared cannot run
        return None
    if page_bindings is None or count_bindings is None:
        return None
    return _Template(page, page_bindings, total, count_bindings)


def _cached_page(session: Session | Connection, shape: _Shape, tenant_id: int, expr: Expr | None) -> Page | None:
    """The page from the shape's cached statements; None when the filter's shape is not cacheable."""
    values: list[str] = []
    abstract = None if expr is None else _abstract(expr, values)
    if abstract is None and expr is not None:
        return None
    key = (shape, abstract)
    if key not in _TEMPLATES:
        if len(_TEMPLATES) >= _MAX_TEMPLATES:
            _TEMPLATES.clear()
        _TEMPLATES[key] = _template(shape, db.connection_of(session).dialect, abstract, len(values))
    template = _TEMPLATES[key]
    if template is None:
        return None

    def bind(bindings: dict[str, _Binding]) -> dict[str, Any]:
        return {name: tenant_id if index is None else values[index].lower() if lowered else values[index]
                for name, (index, lowered) in bindings.items()}

    rows = template.page.all(session, bind(template.page_bindings)) if shape.count else []
    return Page(rows, _total(shape, rows, _holds_all(shape, rows),
                             lambda: template.count.first(session, bind(template.count_bindings))[0]))


def _cursor_page(
    session: Session | Connection,
    query: Select[Any],
    order: _Order,
    fingerprint: str,
    cursor: str,
    count: int,
    total: Callable[[list[Row[Any]], bool], int | None],
) -> Page:
    """RFC 9865: the page after the cursor's position (before it, for a previousCursor) and the cursors around it.

    A previousCursor is given on every page reached through a cursor; past deletions it may lead to an empty page.
    """
    anchor = _decode_cursor(cursor, fingerprint, order.key) if cursor else None
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
        next_cursor = _encode_cursor(fingerprint, _Position(last.key, last.id))
    if count and has_previous and first is not None:
        previous_cursor = _encode_cursor(fingerprint, _Position(first.key, first.id, backward=True))
    return Page(rows, total(rows, anchor is None and count > 0 and not more), next_cursor, previous_cursor)


def _position_of(row: Row[Any]) -> _Position:
    return _Position(row._mapping[_KEY], row._mapping[_ID])


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
