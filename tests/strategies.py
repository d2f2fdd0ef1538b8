"""Hypothesis strategies built from the schema data, shared by the pure and the HTTP round-trip tests."""

from __future__ import annotations

import base64
from datetime import UTC
from typing import Any

from hypothesis import strategies as st

from scim.datetimes import wire_text
from scim.schemas import Attribute, ResourceType

_CHARACTERS = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00")
_TEXT = st.text(_CHARACTERS, min_size=1, max_size=12)
_SCALARS = {
    "string": _TEXT,
    "reference": _TEXT,
    "binary": st.binary(min_size=1, max_size=9).map(lambda data: base64.b64encode(data).decode()),
    "boolean": st.booleans(),
    "integer": st.integers(-(2**63), 2**63 - 1),
    "decimal": st.integers() | st.floats(allow_nan=False, allow_infinity=False),
    "dateTime": st.datetimes(timezones=st.just(UTC)).map(wire_text),
}


def _one_primary(elements: list[Any]) -> list[Any]:
    seen = False
    for element in elements:
        if isinstance(element, dict) and element.get("primary") is True:
            element["primary"] = not seen
            seen = True
    return elements


def _object(
    attributes: tuple[Attribute, ...], required: dict[str, st.SearchStrategy] | None = None
) -> st.SearchStrategy:
    """Objects of the writable attributes; a group's `members` never is in a document."""
    optional = {
        attribute.name: _value(attribute)
        for attribute in attributes
        if attribute.mutability in ("readWrite", "immutable") and attribute.name != "members"
    }
    for name in required or {}:
        optional.pop(name)
    return st.fixed_dictionaries(required or {}, optional=optional).filter(bool)


def _value(attribute: Attribute) -> st.SearchStrategy:
    single = _object(attribute.sub_attributes) if attribute.is_complex else _SCALARS[attribute.type]
    if attribute.multi_valued:
        return st.lists(single, min_size=1, max_size=3).map(_one_primary)
    return single


def documents(resource_type: ResourceType) -> st.SearchStrategy:
    """Valid stored documents for `resource_type`, built from the schema data: readWrite attributes only."""
    required = {
        attribute.name: _value(attribute) for attribute in resource_type.schema.attributes if attribute.required
    }
    core = _object((*resource_type.schema.attributes, Attribute("externalId", "string")), required)
    extensions = {schema.id: _object(schema.attributes) for schema in resource_type.schemas[1:]}
    return st.tuples(core, st.fixed_dictionaries({}, optional=extensions)).map(lambda parts: {**parts[0], **parts[1]})
