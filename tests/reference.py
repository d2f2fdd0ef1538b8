"""A reference evaluator of SCIM filters over whole resources in wire form, written from RFC 7644 §3.4.2.2.

It shares no code with the server: it tokenises and parses the filter text itself, reads attribute definitions from
the schema documents (scim/data/*.json, extension definitions as given, the common attributes of RFC 7643 §3.1), and
looks values up in the JSON resource. Differential tests hold the server's search to it, so a parser, resolution or
SQL bug shows as a disagreement. A resource looks like what GET returns: core attributes at the top level, extension
attributes under their schema URN, `id`, and `meta` with `created`/`lastModified` as RFC 3339 strings.

Rules:
- attribute names and keywords are case-insensitive (RFC 7643 §2.1, RFC 7644 §3.4.2.2);
- a multi-valued attribute matches when any of its values matches; a complex attribute compared with a value
  compares its `value` sub-attribute;
- strings compare case-insensitively (lower-cased) unless the attribute is caseExact; gt/ge/lt/le on strings are
  lexicographic by code point; dateTimes compare as instants; only values of the attribute's type match;
- null, "", [] and {} are unassigned (RFC 7643 §2.5): `pr` is false for them, `eq null` true;
- `ne` is the negation of `eq`, so it is true when the attribute is absent and, for a multi-valued attribute,
  true only when no value is equal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA_FILES = Path(__file__).resolve().parent.parent / "scim" / "data"

# RFC 7643 §3.1: attributes of every resource, which no schema document lists.
COMMON_ATTRIBUTES: list[dict[str, Any]] = [
    {"name": "id", "type": "string", "caseExact": True},
    {"name": "externalId", "type": "string", "caseExact": True},
    {"name": "meta", "type": "complex", "subAttributes": [
        {"name": "resourceType", "type": "string", "caseExact": True},
        {"name": "created", "type": "dateTime"},
        {"name": "lastModified", "type": "dateTime"},
        {"name": "location", "type": "reference", "caseExact": True},
        {"name": "version", "type": "string", "caseExact": True},
    ]},
]


# -- attribute definitions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Definition:
    """One attribute or sub-attribute as its schema document defines it."""

    name: str
    type: str
    case_exact: bool = False
    multi_valued: bool = False
    subs: dict[str, Definition] = field(default_factory=dict)  # by lower-cased name

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Definition:
        subs = {sub["name"].lower(): cls.from_json(sub) for sub in data.get("subAttributes") or ()}
        return cls(data["name"], data["type"], bool(data.get("caseExact")), bool(data.get("multiValued")), subs)


@dataclass(frozen=True)
class Ref:
    """What a path names: an attribute (under an extension's URN, or at the top level), maybe one sub-attribute."""

    urn: str | None
    attribute: Definition
    sub: Definition | None

    def value(self, resource: Mapping[str, Any]) -> Any:
        """The attribute's value in `resource` (not yet the sub-attribute's)."""
        container = _get(resource, self.urn) if self.urn else resource
        return _get(container, self.attribute.name) if isinstance(container, Mapping) else None


class Schemas:
    """The attribute definitions of one resource type: its core schema, the common attributes, its extensions."""

    def __init__(self, core: Mapping[str, Any], extensions: Sequence[Mapping[str, Any]] = ()) -> None:
        self.core = _definitions([*COMMON_ATTRIBUTES, *core["attributes"]])
        self.extensions = {schema["id"].lower(): _definitions(schema["attributes"]) for schema in extensions}
        self.urns = {schema["id"].lower(): schema["id"] for schema in extensions}

    @classmethod
    def user(cls, *extensions: Mapping[str, Any]) -> Schemas:
        """User: core-user.json, enterprise-user.json and `extensions`."""
        return cls(_schema_file("core-user"), [_schema_file("enterprise-user"), *extensions])

    @classmethod
    def group(cls) -> Schemas:
        return cls(_schema_file("core-group"))

    def resolve(self, path: str) -> Ref:
        """`name`, `name.sub`, `urn:…:name` or `urn:…:name.sub`; KeyError when the schemas define no such thing."""
        urn = None
        if path.lower().startswith("urn:"):
            urn, path = path[: path.rindex(":")], path[path.rindex(":") + 1 :]
        name, _, sub_name = path.partition(".")
        if urn is None and name.lower() not in self.core:  # RFC 7644 §3.10: an extension's URN may be left out
            urn = next(self.urns[key] for key, definitions in self.extensions.items() if name.lower() in definitions)
        definitions = self.core if urn is None else self.extensions[urn.lower()]
        attribute = definitions[name.lower()]
        sub = attribute.subs[sub_name.lower()] if sub_name else None
        return Ref(self.urns[urn.lower()] if urn else None, attribute, sub)


def _definitions(attributes: Sequence[Mapping[str, Any]]) -> dict[str, Definition]:
    return {attribute["name"].lower(): Definition.from_json(attribute) for attribute in attributes}


def _schema_file(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_FILES / f"{name}.json").read_text(encoding="utf-8"))


# -- the filter text ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<punct>[()\[\]])|(?P<dot>\.)|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<word>[A-Za-z_$][\w$:.\-]*)|(?P<string>\"))"
)
_OPERATORS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})
_LITERALS = {"true": True, "false": False, "null": None}


def _tokens(text: str) -> list[tuple[str, Any]]:
    """(kind, value) pairs: punct, dot, word, and value (a JSON string, number, true, false or null)."""
    tokens: list[tuple[str, Any]] = []
    position = 0
    while text[position:].strip():
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"unexpected text at {position}: {text[position:]!r}")
        if match["string"]:
            value, position = json.JSONDecoder().raw_decode(text, match.start("string"))
            tokens.append(("value", value))
            continue
        position = match.end()
        if match["number"]:
            tokens.append(("value", json.loads(match["number"])))
        elif match["word"] and match["word"].lower() in _LITERALS and tokens and tokens[-1][0] == "word":
            tokens.append(("value", _LITERALS[match["word"].lower()]))
        else:
            kind = next(kind for kind in ("punct", "dot", "word") if match[kind])
            tokens.append((kind, match[kind]))
    return tokens


class _Parser:
    """filter = and ("or" and)*; and = atom ("and" atom)*; atom = "not" "(" filter ")" | "(" filter ")" |
    path "pr" | path op value | path "[" filter "]" ["." name op value]."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    def parse(self) -> tuple[Any, ...]:
        tree = self._or()
        if self.position != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.position]}")
        return tree

    def _peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, kind: str, value: str | None = None) -> Any:
        token = self._peek()
        if token is None or token[0] != kind or (value is not None and str(token[1]).lower() != value):
            raise ValueError(f"expected {value or kind}, found {token}")
        self.position += 1
        return token[1]

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token[0] == "word" and token[1].lower() == word:
            self.position += 1
            return True
        return False

    def _or(self) -> tuple[Any, ...]:
        tree = self._and()
        while self._keyword("or"):
            tree = ("or", tree, self._and())
        return tree

    def _and(self) -> tuple[Any, ...]:
        tree = self._atom()
        while self._keyword("and"):
            tree = ("and", tree, self._atom())
        return tree

    def _atom(self) -> tuple[Any, ...]:
        if self._keyword("not"):
            self._take("punct", "(")
            inner = self._or()
            self._take("punct", ")")
            return ("not", inner)
        if self._peek() == ("punct", "("):
            self.position += 1
            inner = self._or()
            self._take("punct", ")")
            return inner
        path = self._take("word")
        if self._peek() == ("punct", "["):
            self.position += 1
            inner = self._or()
            self._take("punct", "]")
            if self._peek() == ("dot", "."):  # Entra's `emails[type eq "work"].value eq "x"`
                self.position += 1
                inner = ("and", inner, self._leaf(self._take("word")))
            return ("value path", path, inner)
        return self._leaf(path)

    def _leaf(self, path: str) -> tuple[Any, ...]:
        op = self._take("word").lower()
        if op == "pr":
            return ("pr", path)
        if op not in _OPERATORS:
            raise ValueError(f"unknown operator {op!r}")
        return ("compare", path, op, self._take("value"))


# -- evaluation -----------------------------------------------------------------------------------


def evaluate(text: str, resource: Mapping[str, Any], schemas: Schemas) -> bool:
    """Whether `resource` (wire form) satisfies the filter `text`."""
    return _Evaluator(schemas, resource).visit(_Parser(text).parse())


class _Evaluator:
    """Evaluate against a resource, or, inside a value path, against one value (`element`) of `parent`."""

    def __init__(
        self, schemas: Schemas, resource: Mapping[str, Any], parent: Definition | None = None,
        element: Mapping[str, Any] | None = None,
    ) -> None:
        self.schemas = schemas
        self.resource = resource
        self.parent = parent
        self.element = element

    def visit(self, node: tuple[Any, ...]) -> bool:
        kind = node[0]
        if kind == "and":
            return self.visit(node[1]) and self.visit(node[2])
        if kind == "or":
            return self.visit(node[1]) or self.visit(node[2])
        if kind == "not":
            return not self.visit(node[1])
        if kind == "pr":
            return any(_assigned(value) for value in self._values(node[1])[1])
        if kind == "value path":
            return self._value_path(node[1], node[2])
        return self._compare(node[1], node[2], node[3])

    def _compare(self, path: str, op: str, wanted: Any) -> bool:
        definition, values = self._values(path)
        if definition.type == "complex":  # `emails eq "x"` compares `emails.value`
            definition = definition.subs["value"]
            values = [_get(value, "value") for value in values if isinstance(value, Mapping)]
        if wanted is None:
            return any(_assigned(value) for value in values) == (op == "ne")
        if op == "ne":
            return not any(_matches(definition, "eq", value, wanted) for value in values)
        return any(_matches(definition, op, value, wanted) for value in values)

    def _value_path(self, path: str, inner: tuple[Any, ...]) -> bool:
        ref = self.schemas.resolve(path)
        elements = [item for item in _as_list(ref.value(self.resource)) if isinstance(item, Mapping)]
        return any(_Evaluator(self.schemas, self.resource, ref.attribute, element).visit(inner) for element in elements)

    def _values(self, path: str) -> tuple[Definition, list[Any]]:
        """The definition of what `path` names and every value it reaches: one per element of a multi-valued one."""
        if self.parent is not None and self.element is not None:
            return self.parent.subs[path.lower()], [_get(self.element, path)]
        ref = self.schemas.resolve(path)
        top = _as_list(ref.value(self.resource))
        if ref.sub is None:
            return ref.attribute, top
        return ref.sub, [_get(item, ref.sub.name) for item in top if isinstance(item, Mapping)]


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


def instant(text: Any) -> datetime | None:
    """An RFC 3339 dateTime as an aware datetime (an offset-less one is UTC); None when `text` is not one."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _typed(kind: str, value: Any) -> Any:
    """A value as a Python value of the SCIM type `kind`, or None when it is not one."""
    if kind in ("string", "reference", "binary"):
        return value if isinstance(value, str) else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind in ("integer", "decimal"):
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if kind == "dateTime":
        return instant(value)
    return None


def _matches(definition: Definition, op: str, stored: Any, wanted: Any) -> bool:
    actual, wanted = _typed(definition.type, stored), _typed(definition.type, wanted)
    if actual is None or wanted is None:
        return False
    if isinstance(actual, str) and not definition.case_exact:
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
