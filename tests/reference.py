"""A reference evaluator for parsed SCIM filters over whole resources in wire form, written from RFC 7644 §3.4.2.2.

It deliberately shares no evaluation code with `scim.filters.matches`: differential tests hold the SQL engine (and
`matches`) to it. A resource looks like what GET returns: core attributes at the top level, extension attributes
under their schema URN, `id`, and `meta` with `created`/`lastModified` as RFC 3339 strings.

Rules:
- a multi-valued attribute matches when any of its values matches;
- strings compare case-insensitively (lower-cased) unless the attribute is caseExact; gt/ge/lt/le on strings are
  lexicographic by code point; dateTimes compare as instants;
- null, "", [] and {} are unassigned (RFC 7643 §2.5): `pr` is false for them, `eq null` true;
- `ne` is the negation of `eq`, so it is true when the attribute is absent and, for a multi-valued attribute,
  true only when no value is equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from scim.filters import And, Compare, Expr, FilterVisitor, Not, Or, Present, ValuePath
from scim.schemas import Attribute, AttrRef


def evaluate(expr: Expr, resource: Mapping[str, Any]) -> bool:
    """Whether `resource` (wire form) satisfies the parsed filter `expr`."""
    return _Evaluator(resource, element=None).visit(expr)


class _Evaluator(FilterVisitor[bool]):
    """Evaluate against a resource, or, inside a value path, against one value (`element`) of the parent."""

    def __init__(self, resource: Mapping[str, Any], element: Mapping[str, Any] | None) -> None:
        self.resource = resource
        self.element = element

    def visit_compare(self, node: Compare) -> bool:
        values = self._values(node.ref)
        if node.value is None:
            return any(_assigned(value) for value in values) == (node.op == "ne")
        if node.op == "ne":
            return not any(_compare(node.ref.target, "eq", value, node.value) for value in values)
        return any(_compare(node.ref.target, node.op, value, node.value) for value in values)

    def visit_present(self, node: Present) -> bool:
        return any(_assigned(value) for value in self._values(node.ref))

    def visit_and(self, node: And) -> bool:
        return self.visit(node.left) and self.visit(node.right)

    def visit_or(self, node: Or) -> bool:
        return self.visit(node.left) or self.visit(node.right)

    def visit_not(self, node: Not) -> bool:
        return not self.visit(node.expr)

    def visit_value_path(self, node: ValuePath) -> bool:
        elements = [item for item in _as_list(self._attribute_value(node.ref)) if isinstance(item, Mapping)]
        return any(_Evaluator(self.resource, element).visit(node.filter) for element in elements)

    def _attribute_value(self, ref: AttrRef) -> Any:
        container = _get(self.resource, ref.urn) if ref.is_extension else self.resource
        return _get(container, ref.attribute.name) if isinstance(container, Mapping) else None

    def _values(self, ref: AttrRef) -> list[Any]:
        """Every value the reference reaches: one per element of a multi-valued attribute."""
        if self.element is not None:
            return [_get(self.element, ref.target.name)]
        top = _as_list(self._attribute_value(ref))
        if ref.sub_attribute is None:
            return top
        return [_get(item, ref.sub_attribute.name) for item in top if isinstance(item, Mapping)]


def _get(mapping: Mapping[str, Any], name: str | None) -> Any:
    """Attribute names are case-insensitive (RFC 7643 §2.1)."""
    if name is None:
        return None
    if name in mapping:
        return mapping[name]
    return next((value for key, value in mapping.items() if key.lower() == name.lower()), None)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _assigned(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(_assigned(item) for item in value.values())
    if isinstance(value, list):
        return any(_assigned(item) for item in value)
    return value is not None and value != ""


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _typed(attribute: Attribute, value: Any) -> Any:
    """The stored value as a Python value of the attribute's type, or None when it is not one."""
    kind = attribute.type
    if kind in ("string", "reference", "binary"):
        return value if isinstance(value, str) else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind in ("integer", "decimal"):
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if kind == "dateTime":
        return _instant(value)
    return None


def _compare(attribute: Attribute, op: str, stored: Any, wanted: Any) -> bool:
    actual = _typed(attribute, stored)
    if actual is None:
        return False
    if isinstance(actual, str) and not attribute.case_exact:
        actual, wanted = actual.lower(), wanted.lower()
    if op == "eq":
        return actual == wanted
    if op == "co":
        return wanted in actual
    if op == "sw":
        return actual.startswith(wanted)
    if op == "ew":
        return actual.endswith(wanted)
    if op == "gt":
        return actual > wanted
    if op == "ge":
        return actual >= wanted
    if op == "lt":
        return actual < wanted
    if op == "le":
        return actual <= wanted
    raise ValueError(f"unknown operator {op!r}")
