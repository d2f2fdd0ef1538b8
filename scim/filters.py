"""SCIM filters (RFC 7644 §3.4.2.2): parse, resolve against a resource type, evaluate in memory.

The text is tokenised and parsed with scim2-filter-parser's sly lexer and grammar, fixed here (JSON strings and
numbers, `and` binding tighter than `or`, keyword prefixes), then turned into the frozen dataclasses below with
every attribute path resolved against a `ResourceType` and every value coerced to the attribute's type. Backends
translate that tree with a `FilterVisitor`; PATCH uses `parse_value_filter` and `matches` on one element.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from scim2_filter_parser import ast

from scim.datetimes import RANGE, parse_instant
from scim.errors import InvalidFilter
from scim.filter_syntax import MAX_FILTER_LENGTH, parse_text
from scim.schemas import AttrRef, ResourceType
from scim.stand_ins import MARK, stand_in, stand_in_index

_ORDERING = frozenset({"gt", "ge", "lt", "le"})
_SUBSTRING = frozenset({"co", "sw", "ew"})
_STRING_TYPES = frozenset({"string", "reference", "binary"})
_INT64 = 2**63


# -- the tree ---------------------------------------------------------------------------------


class _Node:
    """Filter nodes print as canonical filter text (attribute names in the schema's spelling)."""

    def __str__(self) -> str:
        return _render(self, inside=False)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"


@dataclass(frozen=True, repr=False)
class Compare(_Node):
    """`ref op value`; `value` is None only for `eq null` (not present) and `ne null` (present)."""

    ref: AttrRef
    op: str
    value: str | bool | int | float | datetime | None


@dataclass(frozen=True, repr=False)
class Present(_Node):
    """`ref pr`: the attribute has a non-null, non-empty value (RFC 7644 §3.4.2.2)."""

    ref: AttrRef


@dataclass(frozen=True, repr=False)
class And(_Node):
    left: Expr
    right: Expr


@dataclass(frozen=True, repr=False)
class Or(_Node):
    left: Expr
    right: Expr


@dataclass(frozen=True, repr=False)
class Not(_Node):
    expr: Expr


@dataclass(frozen=True, repr=False)
class ValuePath(_Node):
    """`ref[filter]`: one value of the multi-valued `ref` satisfies the whole `filter` (RFC 7644 §3.4.2.2).

    The refs inside `filter` are sub-attribute refs of `ref`.
    """

    ref: AttrRef
    filter: Expr


Expr = Compare | Present | And | Or | Not | ValuePath

T = TypeVar("T")


def _render(node: object, inside: bool) -> str:
    """Filter text for `node`; `inside` a value path, attributes are named by their sub-attribute only."""
    if isinstance(node, Compare | Present):
        name = node.ref.target.name if inside and node.ref.sub_attribute else str(node.ref)
        if isinstance(node, Present):
            return f"{name} pr"
        value = node.value.isoformat() if isinstance(node.value, datetime) else node.value
        return f"{name} {node.op} {json.dumps(value, ensure_ascii=False)}"
    if isinstance(node, And | Or):
        word = "and" if isinstance(node, And) else "or"
        return f"({_render(node.left, inside)} {word} {_render(node.right, inside)})"
    if isinstance(node, Not):
        return f"not ({_render(node.expr, inside)})"
    if isinstance(node, ValuePath):
        return f"{node.ref}[{_render(node.filter, inside=True)}]"
    raise TypeError(f"not a filter node: {node!r}")


class FilterVisitor(Generic[T]):
    """Dispatch on the node type; a node a subclass does not handle is an `InvalidFilter` (never a 500)."""

    _METHODS: ClassVar[dict[type, str]] = {
        Compare: "visit_compare",
        Present: "visit_present",
        And: "visit_and",
        Or: "visit_or",
        Not: "visit_not",
        ValuePath: "visit_value_path",
    }

    def visit(self, expr: Expr) -> T:
        method = self._METHODS.get(type(expr))
        if method is None:
            raise InvalidFilter(f"Unsupported filter node {type(expr).__name__}.")
        return getattr(self, method)(expr)

    def visit_compare(self, node: Compare) -> T:
        raise InvalidFilter(f"The comparison '{node.op}' on '{node.ref}' is not supported here.")

    def visit_present(self, node: Present) -> T:
        raise InvalidFilter(f"'{node.ref} pr' is not supported here.")

    def visit_and(self, node: And) -> T:
        raise InvalidFilter("'and' is not supported here.")

    def visit_or(self, node: Or) -> T:
        raise InvalidFilter("'or' is not supported here.")

    def visit_not(self, node: Not) -> T:
        raise InvalidFilter("'not' is not supported here.")

    def visit_value_path(self, node: ValuePath) -> T:
        raise InvalidFilter(f"The value filter on '{node.ref}' is not supported here.")


# -- from the library's AST to ours -----------------------------------------------------------


def _boolean(raw: object) -> bool | None:
    """A JSON boolean, or Entra's "True"/"False" strings (case-insensitive)."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    return None


def _integer(raw: object) -> int | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    if isinstance(raw, float) and not raw.is_integer():
        return None
    value = int(raw)
    return value if -_INT64 <= value < _INT64 else None


def _decimal(raw: object) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        value = float(raw)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _string(raw: object) -> str | None:
    return raw if isinstance(raw, str) else None


def _datetime_value(raw: object) -> datetime | None:
    if isinstance(raw, datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
    return parse_instant(raw, offset_required=False) if isinstance(raw, str) else None


_COERCE: dict[str, Callable[[object], Any]] = {
    "string": _string,
    "reference": _string,
    "binary": _string,
    "boolean": _boolean,
    "integer": _integer,
    "decimal": _decimal,
    "dateTime": _datetime_value,
}


def _check_string(value: str) -> str:
    # PostgreSQL text cannot hold NUL and UTF-8 cannot encode lone surrogates: refuse them here, not with a 500.
    if "\x00" in value or any("\ud800" <= char <= "\udfff" for char in value):
        raise InvalidFilter("The filter value contains a NUL character or an unpaired surrogate.")
    return value


class _Converter:
    """Turn the library's tree into ours; `parent` is set inside `attr[...]`, where names are sub-attributes."""

    def __init__(self, resource_type: ResourceType, parent: AttrRef | None = None) -> None:
        self.resource_type = resource_type
        self.parent = parent

    def convert(self, node: Any) -> Expr:
        node = _unwrap(node)
        if isinstance(node, ast.Filter):
            if node.namespace is not None:
                return self._value_path(node)
            return Not(self.convert(node.expr))
        if isinstance(node, ast.LogExpr):
            return self._logical(node)
        if isinstance(node, ast.AttrExpr):
            return self._attr_expr(node)
        raise InvalidFilter("The filter could not be parsed.")

    def _logical(self, node: ast.LogExpr) -> Expr:
        """Collect a chain of one operator without recursion and rebuild it balanced, so depth stays small."""
        op = node.op.lower()
        operands: list[Expr] = []
        stack: list[Any] = [node]
        while stack:
            item = _unwrap(stack.pop())
            if isinstance(item, ast.LogExpr) and item.op.lower() == op:
                stack += [item.expr2, item.expr1]
            else:
                operands.append(self.convert(item))
        return _balanced(And if op == "and" else Or, operands)

    def _value_path(self, node: ast.Filter) -> Expr:
        """`attr[filter]`; on a single-valued complex attribute it is just the inner filter."""
        parent = self._value_path_parent(node.namespace)
        inner = _Converter(self.resource_type, parent).convert(node.expr)
        return ValuePath(parent, inner) if parent.attribute.multi_valued else inner

    def _value_path_parent(self, path: ast.AttrPath) -> AttrRef:
        if self.parent is not None or isinstance(path.attr_name, ast.Filter):
            raise InvalidFilter("Value filters ('attr[...]') cannot be nested.")
        if path.sub_attr is not None:
            raise InvalidFilter(
                f"A value filter applies to a complex attribute, not to '{path.attr_name}.{path.sub_attr.value}'."
            )
        ref = self._resolve(path)
        if not ref.attribute.is_complex:
            raise InvalidFilter(f"'{ref}' is not a complex attribute, so it takes no value filter.")
        return ref

    def _attr_expr(self, node: ast.AttrExpr) -> Expr:
        op = node.value.lower()
        path = node.attr_path
        if not isinstance(path.attr_name, ast.Filter):
            return self._leaf(self._resolve(path), op, node.comp_value)
        # Entra's `emails[type eq "work"].value eq "x"`: the library moves `.value` onto the bracket's namespace.
        value_path = path.attr_name
        sub_name = value_path.namespace.sub_attr.value if value_path.namespace.sub_attr else None
        if sub_name is None:
            raise InvalidFilter("A value filter 'attr[...]' cannot be compared; name a sub-attribute after ']'.")
        namespace = value_path.namespace
        parent = self._value_path_parent(ast.AttrPath(namespace.attr_name, None, namespace.uri))
        inner = _Converter(self.resource_type, parent)
        sub = inner._resolve(ast.AttrPath(sub_name, None, None))
        combined = And(inner.convert(value_path.expr), inner._leaf(sub, op, node.comp_value))
        return ValuePath(parent, combined) if parent.attribute.multi_valued else combined

    def _leaf(self, ref: AttrRef, op: str, comp_value: ast.CompValue | None) -> Expr:
        """The grammar gives `pr` no value and every other operator one."""
        if op == "pr":
            return Present(ref)
        return _compare(ref, op, comp_value.value)

    def _resolve(self, path: ast.AttrPath) -> AttrRef:
        name, uri = path.attr_name, path.uri
        sub = path.sub_attr.value if path.sub_attr else None
        if self.parent is not None:
            if uri or sub:
                spelled = ":".join(filter(None, (uri, name))) + (f".{sub}" if sub else "")
                raise InvalidFilter(
                    f"Inside '{self.parent}[...]' name a sub-attribute of '{self.parent}', not '{spelled}'."
                )
            sub_attribute = self.parent.attribute.sub(name)
            if sub_attribute is None:
                raise InvalidFilter(f"'{self.parent}' has no sub-attribute '{name}'.")
            return _filterable(AttrRef(self.parent.schema, self.parent.attribute, sub_attribute))
        if uri and self.resource_type.schema_by_urn(uri) is None:
            raise InvalidFilter(f"Unknown schema URN '{uri}' for {self.resource_type.name} resources.")
        uri = uri or _extension_of(self.resource_type, name)
        ref = self.resource_type.resolve(name, None, uri)
        if ref is None:
            raise InvalidFilter(
                f"Unknown attribute '{':'.join(filter(None, (uri, name)))}' for {self.resource_type.name} resources."
            )
        if sub:
            sub_ref = self.resource_type.resolve(name, sub, uri)
            if sub_ref is None:
                raise InvalidFilter(f"'{ref}' has no sub-attribute '{sub}'.")
            ref = sub_ref
        return _filterable(ref)


def _unwrap(node: Any) -> Any:
    """Skip plain parentheses (a Filter that neither negates nor opens a value path)."""
    while isinstance(node, ast.Filter) and not node.negated and node.namespace is None:
        node = node.expr
    return node


def _balanced(kind: type[And] | type[Or], operands: list[Expr]) -> Expr:
    if len(operands) == 1:
        return operands[0]
    middle = (len(operands) + 1) // 2
    return kind(_balanced(kind, operands[:middle]), _balanced(kind, operands[middle:]))


def _extension_of(resource_type: ResourceType, name: str) -> str | None:
    """The URN of the one extension defining `name` when the core schema does not (RFC 7644 §3.10 lets clients
    omit the URN; they only SHOULD qualify extension attributes)."""
    if resource_type.resolve(name) is not None:
        return None
    urns = [schema.id for schema, _required in resource_type.extensions if schema.attribute(name) is not None]
    if len(urns) > 1:
        raise InvalidFilter(f"'{name}' is defined by several schema extensions; qualify it with one of {urns}.")
    return urns[0] if urns else None


def _filterable(ref: AttrRef) -> AttrRef:
    """Per RFC 7643 §7, a `returned: never` attribute (password) is never exposed, so it cannot be filtered on."""
    if ref.attribute.returned == "never" or ref.target.returned == "never":
        raise InvalidFilter(f"'{ref}' cannot be used in a filter.")
    return ref


def _compare(ref: AttrRef, op: str, raw: object) -> Compare:
    """Check the operator against the attribute type and coerce the value (RFC 7644 §3.4.2.2)."""
    if ref.target.is_complex:
        # Per RFC 7644 §3.4.2.2, `emails co "x"` compares the `value` sub-attribute; ordering a complex value is
        # meaningless, so `emails gt "x"` is refused rather than read as `emails.value gt "x"`.
        value_sub = ref.target.sub("value")
        if value_sub is None or op in _ORDERING:
            example = (value_sub or ref.target.sub_attributes[0]).name
            raise InvalidFilter(f"'{ref}' is complex: compare one of its sub-attributes, such as '{ref}.{example}'.")
        ref = _filterable(AttrRef(ref.schema, ref.attribute, value_sub))
    kind = ref.target.type
    if raw is None:
        if op not in ("eq", "ne"):
            raise InvalidFilter(f"'{ref} {op} null' is invalid: null only goes with 'eq' and 'ne'.")
        return Compare(ref, op, None)
    if op in _ORDERING and kind in ("boolean", "binary"):
        raise InvalidFilter(f"'{op}' cannot be used on the {kind} attribute '{ref}' (RFC 7644 §3.4.2.2).")
    if op in _SUBSTRING and kind not in _STRING_TYPES:
        raise InvalidFilter(f"'{op}' needs a string attribute; '{ref}' is {kind}.")
    value = _COERCE[kind](raw)
    if value is None:
        expected = f" (it takes {RANGE})" if kind == "dateTime" else ""
        raise InvalidFilter(
            f"'{ref}' is {_article(kind)} {kind} attribute: it cannot be compared with {json.dumps(raw)}{expected}."
        )
    return Compare(ref, op, _check_string(value) if isinstance(value, str) else value)


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


# -- public API -------------------------------------------------------------------------------


def parse_filter(text: str, resource_type: ResourceType) -> Expr:
    """Parse a `filter` parameter (RFC 7644 §3.4.2.2) with its paths resolved against `resource_type`."""
    shape = _shape(text)
    if shape is not None:
        template = _parse_shape(shape[0], resource_type)
        if template is not None:
            values = shape[1]

            def fill(node: Compare) -> Any:
                index = stand_in_index(node.value)
                return node.value if index is None else values[index]

            return replace_values(template, fill)
    return _Converter(resource_type).convert(parse_text(text))


def replace_values(expr: Expr, replace: Callable[[Compare], Any]) -> Expr:
    """`expr` with each comparison's value replaced by `replace(comparison)`, the tree otherwise as it was."""
    if isinstance(expr, Compare):
        return Compare(expr.ref, expr.op, replace(expr))
    if isinstance(expr, And | Or):
        return type(expr)(replace_values(expr.left, replace), replace_values(expr.right, replace))
    if isinstance(expr, Not):
        return Not(replace_values(expr.expr, replace))
    if isinstance(expr, ValuePath):
        return ValuePath(expr.ref, replace_values(expr.filter, replace))
    return expr


# -- parsing a filter's shape once ------------------------------------------------------------
#
# A filter whose string values are plain (no escape, no control character) is parsed once per shape, with a
# stand-in (`scim.stand_ins`) for each value, and the request's values are put in the parsed tree. A shape is kept
# only when each stand-in came out of parsing as a string value untouched, as it does for string attributes; one
# that a dateTime or boolean attribute converts or refuses is parsed from the request's own text every time, as is
# anything else.

_PLAIN_STRING = re.compile(r'"([^"\\]*)"')


def _shape(text: object) -> tuple[str, tuple[str, ...]] | None:
    """(the filter with each string value replaced by a stand-in, the values), or None if it is not plain."""
    if not isinstance(text, str) or "\\" in text or len(text) > MAX_FILTER_LENGTH:
        return None
    values: list[str] = []

    def replace(match: re.Match[str]) -> str:
        values.append(match.group(1))
        return f'"{stand_in(len(values) - 1)}"'

    shaped = _PLAIN_STRING.sub(replace, text)
    for value in values:
        if any(char < " " for char in value):
            return None  # not a JSON string: the full parse says why
        try:
            _check_string(value)
        except InvalidFilter:
            return None
    return shaped, tuple(values)


@functools.lru_cache(maxsize=512)
def _parse_shape(shaped: str, resource_type: ResourceType) -> Expr | None:
    try:
        template = _Converter(resource_type).convert(parse_text(shaped))
    except InvalidFilter:
        return None  # the request's own text raises it, with its own values in the message
    found: list[int | None] = []  # each stand-in must come out of the parse once, untouched
    replace_values(template, lambda node: found.append(stand_in_index(node.value)))
    return template if sorted(i for i in found if i is not None) == list(range(shaped.count(MARK) // 2)) else None


def parse_value_filter(text: str, resource_type: ResourceType, parent: AttrRef) -> Expr:
    """Parse the filter inside `parent[...]` (RFC 7644 §3.5.2 PATCH paths); names are sub-attributes of `parent`."""
    if not parent.attribute.is_complex or parent.sub_attribute is not None:
        raise InvalidFilter(f"'{parent}' is not a complex attribute, so it takes no value filter.")
    return _Converter(resource_type, parent).convert(parse_text(text))


def matches(expr: Expr, element: Mapping[str, Any]) -> bool:
    """Whether one value of a complex attribute (a dict of sub-attributes) satisfies a value filter.

    Per RFC 7644 §3.4.2.2: strings compare case-insensitively unless caseExact; a missing sub-attribute matches
    nothing except `ne` (which is `not eq`) and `eq null`.
    """
    return _ElementMatcher(element).visit(expr)


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "co": operator.contains,
    "sw": lambda stored, wanted: stored.startswith(wanted),
    "ew": lambda stored, wanted: stored.endswith(wanted),
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


class _ElementMatcher(FilterVisitor[bool]):
    def __init__(self, element: Mapping[str, Any]) -> None:
        self.element = {str(key).lower(): value for key, value in element.items()}

    def visit_compare(self, node: Compare) -> bool:
        attribute = node.ref.target
        stored = self.element.get(attribute.name.lower())
        if node.value is None:
            return _has_value(stored) == (node.op == "ne")
        if node.op == "ne":
            return not self.visit_compare(Compare(node.ref, "eq", node.value))
        value = _COERCE[attribute.type](stored)
        wanted = node.value
        if value is None:
            return False
        if isinstance(value, str) and not attribute.case_exact:
            value, wanted = value.lower(), wanted.lower()
        return _OPERATORS[node.op](value, wanted)

    def visit_present(self, node: Present) -> bool:
        return _has_value(self.element.get(node.ref.target.name.lower()))

    def visit_and(self, node: And) -> bool:
        return self.visit(node.left) and self.visit(node.right)

    def visit_or(self, node: Or) -> bool:
        return self.visit(node.left) or self.visit(node.right)

    def visit_not(self, node: Not) -> bool:
        return not self.visit(node.expr)


def _has_value(value: object) -> bool:
    """Per RFC 7643 §2.5, null, an empty string and an empty list or object are unassigned."""
    return value is not None and value != "" and value != [] and value != {}
