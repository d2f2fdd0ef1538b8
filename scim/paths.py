"""PATCH attribute paths (RFC 7644 §3.5.2): `[urn:]attr[.sub]` or `[urn:]attr[filter][.sub]`, resolved on a schema.

    PATH      = attrPath / valuePath [subAttr]
    attrPath  = [URI ":"] ATTRNAME *1subAttr
    valuePath = attrPath "[" valFilter "]"

Names match case-insensitively (RFC 7643 §2.1). The filter inside the brackets is parsed by `scim.filters`, with
names resolved as sub-attributes of the bracketed attribute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from scim.errors import InvalidPath
from scim.filters import Expr, parse_value_filter
from scim.schemas import AttrRef, ResourceType
from scim.schemas import Schema as ScimSchema

# ATTRNAME (RFC 7643 §2.1: ALPHA *(nameChar)), plus the "$ref" sub-attribute.
_NAME = re.compile(r"\$?[A-Za-z][\w-]*")


@dataclass(frozen=True)
class PatchPath:
    """A resolved PATCH path: the attribute (with the sub-attribute after a `.`) and the value filter, if any."""

    ref: AttrRef
    value_filter: Expr | None = None
    text: str = field(default="", compare=False)

    @property
    def parent(self) -> AttrRef:
        """The attribute without its sub-attribute: what a value filter selects values of."""
        return AttrRef(self.ref.schema, self.ref.attribute)

    def __str__(self) -> str:
        return self.text or str(self.ref)


def parse_path(text: str, resource_type: ResourceType) -> PatchPath:
    """Parse and resolve a PATCH `path` (RFC 7644 §3.5.2); an unknown attribute or bad syntax is InvalidPath."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidPath("The 'path' must be a non-empty string.")
    text = text.strip()
    schema, rest = resource_type.split_urn(text)
    attr_text, filter_text, after_filter = _split_filter(rest, text)
    name, dot, sub = attr_text.partition(".")
    if filter_text is None:
        sub_name = sub if dot else None
    elif dot:
        raise InvalidPath(f"Invalid path '{text}': a value filter follows the attribute name, not a sub-attribute.")
    else:
        sub_name = after_filter
    ref = _resolve(resource_type, schema, name, sub_name, text)
    if filter_text is None:
        return PatchPath(ref, text=text)
    parent = AttrRef(ref.schema, ref.attribute)
    if not parent.attribute.is_complex:
        raise InvalidPath(f"Invalid path '{text}': '{parent}' is not complex, so it takes no value filter.")
    return PatchPath(ref, parse_value_filter(filter_text, resource_type, parent), text)


def _split_filter(rest: str, text: str) -> tuple[str, str | None, str | None]:
    """`emails[type eq "work"].value` → ("emails", 'type eq "work"', "value"); no brackets → (rest, None, None)."""
    start = rest.find("[")
    if start < 0:
        return rest, None, None
    end = _closing_bracket(rest, start, text)
    tail = rest[end + 1 :]
    if tail and not tail.startswith("."):
        raise InvalidPath(f"Invalid path '{text}': only '.subAttribute' may follow ']'.")
    return rest[:start], rest[start + 1 : end], tail[1:] if tail else None


def _closing_bracket(rest: str, start: int, text: str) -> int:
    """The index of the `]` closing the bracket at `start`, skipping JSON strings (which may contain `]`)."""
    in_string = escaped = False
    for index in range(start + 1, len(rest)):
        char = rest[index]
        if escaped:
            escaped = False
        elif in_string:
            escaped = char == "\\"
            in_string = char != '"'
        elif char == '"':
            in_string = True
        elif char == "]":
            return index
    raise InvalidPath(f"Invalid path '{text}': the value filter has no closing ']'.")


def _resolve(resource_type: ResourceType, schema: ScimSchema | None, name: str, sub: str | None, text: str) -> AttrRef:
    if not _NAME.fullmatch(name) or (sub is not None and not _NAME.fullmatch(sub)):
        raise InvalidPath(f"Invalid path '{text}'.")
    urn = schema.id if schema else _extension_urn(resource_type, name, text)
    ref = resource_type.resolve(name, None, urn)
    if ref is None:
        raise InvalidPath(f"Unknown attribute '{text}' for {resource_type.name} resources.")
    if sub is None:
        return ref
    sub_attribute = ref.attribute.sub(sub)
    if sub_attribute is None:
        raise InvalidPath(f"Unknown attribute '{text}': '{ref}' has no sub-attribute '{sub}'.")
    return AttrRef(ref.schema, ref.attribute, sub_attribute)


def _extension_urn(resource_type: ResourceType, name: str, text: str) -> str | None:
    """The one extension defining an unqualified `name` the core schema lacks (Entra's path `manager`)."""
    if resource_type.resolve(name) is not None:
        return None
    urns = [schema.id for schema, _required in resource_type.extensions if schema.attribute(name) is not None]
    if len(urns) > 1:
        raise InvalidPath(f"Ambiguous path '{text}': qualify it with one of {urns}.")
    return urns[0] if urns else None
