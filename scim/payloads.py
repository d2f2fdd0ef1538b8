"""Inbound resource bodies (POST, PUT) → the stored document, with marshmallow fields built from schemas.py.

The fields are generated from the attribute definitions, once per schema and per resource type (a tenant's
Registry brings its own ResourceType objects, so per-tenant extensions get their own fields): one field per RFC 7643
data type, and `_Attributes` for a schema or complex value, which matches names case-insensitively (RFC 7643 §2.1),
drops unknown keys and readOnly attributes (they have no field) and checks each value with its attribute's field.
"""

from __future__ import annotations

import binascii
import math
import weakref
from base64 import b64decode
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any, ClassVar, TypeVar

from marshmallow import ValidationError, fields

from scim.datetimes import RANGE, parse_instant, wire_text
from scim.errors import InvalidSyntax, InvalidValue
from scim.schemas import COMMON_ATTRIBUTES, Attribute, AttrRef, ResourceType
from scim.schemas import Schema as ScimSchema


def is_empty(value: Any) -> bool:
    """Per RFC 7643 §2.5, null, an empty string, an empty list and an empty object are all "unassigned"."""
    return value is None or (isinstance(value, (str, list, dict)) and not value)


def is_storable(text: str) -> bool:
    """Whether a string can be stored: PostgreSQL refuses NUL, and no database stores lone surrogates."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- fields: one per RFC 7643 §2.3 data type -------------------------------------------------------


class _String(fields.Field):
    """string, reference (RFC 7643 §2.3.1, §2.3.7): a JSON string, kept as given."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "Not a valid string.",
        "unstorable": "Not a valid string: NUL characters and unpaired surrogates are not allowed.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if not is_storable(value):
            raise self.make_error("unstorable")
        return value


class _Binary(_String):
    """binary (RFC 7643 §2.3.6): base64 text (RFC 4648 §4, padded), kept as given."""

    default_error_messages: ClassVar[dict[str, str]] = {"base64": "Not valid base64 (RFC 4648 §4)."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        # Whole groups of four: b64decode lets a stray "=" after a complete group pass.
        if len(text) % 4 or not _decodes(text):
            raise self.make_error("base64")
        return text


def _decodes(text: str) -> bool:
    try:
        b64decode(text, validate=True)
    except (binascii.Error, ValueError):  # ValueError: not ASCII
        return False
    return True


class _Boolean(fields.Field):
    """boolean (RFC 7643 §2.3.2); Entra sends "True"/"False", so those strings are accepted in any case."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": "Not a valid boolean."}
    _STRINGS: ClassVar[dict[str, bool]] = {"true": True, "false": False}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in self._STRINGS:
            return self._STRINGS[value.lower()]
        raise self.make_error("invalid")


class _Integer(fields.Field):
    """integer (RFC 7643 §2.3.4): a JSON number without fraction; booleans are not integers."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": "Not a valid integer."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class _Decimal(fields.Field):
    """decimal (RFC 7643 §2.3.3): a finite JSON number, kept as given; Python's JSON reads `NaN`, `Infinity` and
    `1e400` as floats that JSON cannot write back."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": "Not a valid decimal (a finite number)."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.make_error("invalid")
        return value


class _DateTime(fields.Field):
    """dateTime (RFC 7643 §2.3.5): an RFC 3339 string with an offset, stored in UTC (`scim.datetimes.wire_text`), so
    that every stored value compares, sorts and converts alike on both databases."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": f"Not {RANGE}."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        moment = parse_instant(value) if isinstance(value, str) else None
        if moment is None:
            raise self.make_error("invalid")
        return wire_text(moment)


_SCALARS: dict[str, type[fields.Field]] = {
    "string": _String,
    "reference": _String,
    "binary": _Binary,
    "boolean": _Boolean,
    "integer": _Integer,
    "decimal": _Decimal,
    "dateTime": _DateTime,
}


class _Attributes(fields.Field):
    """The attributes of one schema or complex value (RFC 7643 §2.3.8), each checked by its own field: names match
    case-insensitively and are stored in the schema's spelling (§2.1), unassigned values are dropped (§2.5), unknown
    and readOnly names (which have no field) are dropped, a required one missing is an error.

    A marshmallow Field holding fields, not a nested Schema: a Schema's load runs its hooks and error store and visits
    every declared field, present or not (a User declares ~30 with their sub-attributes, a body sets a handful), so
    that machinery would cost more than checking the values themselves. Errors keep marshmallow's shape
    ({name: messages}), so a failure still names its attribute path.
    """

    default_error_messages: ClassVar[dict[str, str]] = {
        "type": "Invalid input type.",
        "required": "Missing data for required field.",
    }

    def __init__(self, declared: dict[str, fields.Field], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fields = declared
        self.names = {name.lower(): name for name in declared}
        self.required_names = tuple(name for name, field in declared.items() if field.required)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.make_error("type")
        given: dict[str, Any] = {}
        for key, item in self._regroup(value).items():
            name = self.names.get(key.lower()) if isinstance(key, str) else None
            if name is not None and not is_empty(item):
                given[name] = item
        errors: dict[str, Any] = {name: [self.error_messages["required"]]
                                  for name in self.required_names if name not in given}
        loaded: dict[str, Any] = {}
        for name, item in given.items():
            try:
                result = self.fields[name].deserialize(item, name, given)
            except ValidationError as error:
                errors[name] = error.messages
            else:
                if not is_empty(result):
                    loaded[name] = result
        if errors:
            raise ValidationError(errors)
        return loaded

    def _regroup(self, value: Mapping[str, Any]) -> Mapping[str, Any]:
        return value


class _Complex(_Attributes):
    """A complex value. For a single-valued one, Entra sends a bare string meaning its `value` (manager as an id) or a
    one-element list (manager in Microsoft's PATCH example); both are accepted."""

    def __init__(self, declared: dict[str, fields.Field], *, single: bool, **kwargs: Any) -> None:
        super().__init__(declared, **kwargs)
        self.single = single

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        if self.single and isinstance(value, list) and len(value) == 1:
            value = value[0]
        if self.single and isinstance(value, str) and "value" in self.fields:
            value = {"value": value}
        return super()._deserialize(value, attr, data, **kwargs)


class _Resource(_Attributes):
    """A whole resource: core and common attributes at the top level, each extension's under its URN."""

    def __init__(self, declared: dict[str, fields.Field], resource_type: ResourceType) -> None:
        super().__init__(declared)
        # A proxy: a strong reference from the cached field would keep its resource type, the cache's key, alive.
        self.resource_type = weakref.proxy(resource_type)

    def _regroup(self, value: Mapping[str, Any]) -> Mapping[str, Any]:
        """Move URN-qualified keys (`urn:…:enterprise:2.0:User:department`) to where they belong (RFC 7644 §3.10)."""
        regrouped: dict[str, Any] = {}
        qualified: dict[str, dict[str, Any]] = {}
        for key, item in value.items():
            schema, rest = self.resource_type.split_urn(key) if isinstance(key, str) else (None, key)
            if schema is None:
                regrouped[key] = item
            elif schema is self.resource_type.schema:
                regrouped[rest] = item
            else:
                qualified.setdefault(schema.id, {})[rest] = item
        for urn, values in qualified.items():
            key = next((key for key in regrouped if isinstance(key, str) and key.lower() == urn.lower()), urn)
            given = regrouped.get(key)
            regrouped[key] = {**given, **values} if isinstance(given, Mapping) else values
        return regrouped


class _MultiValued(fields.List):
    """A multi-valued attribute (RFC 7643 §2.4): a single value is taken as a one-element list, unassigned
    elements are dropped, and of several `primary: true` elements the first one stays primary."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list):
            value = [value]
        elements = [element for element in super()._deserialize(value, attr, data, **kwargs) if not is_empty(element)]
        return keep_one_primary(elements)


def keep_one_primary(elements: list[Any], preferred: Any = None) -> list[Any]:
    """Per RFC 7643 §2.4, at most one element is `primary`: keep `preferred` (or the first) and clear the others."""
    primaries = [element for element in elements if isinstance(element, dict) and element.get("primary") is True]
    if len(primaries) > 1:
        winner = preferred if any(element is preferred for element in primaries) else primaries[0]
        for element in primaries:
            if element is not winner:
                element["primary"] = False
    return elements


# -- the fields of schemas and resource types, built once per definition -----------------------------


def _field_for(attribute: Attribute) -> fields.Field:
    if attribute.multi_valued:
        return _MultiValued(_value_field(attribute), required=attribute.required)
    return _value_field(attribute, required=attribute.required)


def _value_field(attribute: Attribute, **kwargs: Any) -> fields.Field:
    if attribute.is_complex:
        return _Complex(_declared_fields(attribute.sub_attributes), single=not attribute.multi_valued, **kwargs)
    return _SCALARS[attribute.type](**kwargs)


def _declared_fields(attributes: Iterable[Attribute]) -> dict[str, fields.Field]:
    return {attribute.name: _field_for(attribute) for attribute in attributes if not attribute.read_only}


_Definition = TypeVar("_Definition", ScimSchema, ResourceType)
_Built = TypeVar("_Built", bound=_Attributes)


def _while_alive(build: Callable[[_Definition], _Built]) -> Callable[[_Definition], _Built]:
    """Keep the fields of a schema or resource type for as long as that definition lives.

    Definitions hash by identity, and a tenant's registry brings its own (rebuilt when its extension schemas change,
    see storage/tenant_schemas.py): the fields of a dropped registry go with it, and no live one is evicted.
    """
    built: weakref.WeakKeyDictionary[_Definition, _Built] = weakref.WeakKeyDictionary()

    @wraps(build)
    def cached(definition: _Definition) -> _Built:
        attributes = built.get(definition)
        if attributes is None:
            attributes = built[definition] = build(definition)
        return attributes

    return cached


@_while_alive
def _schema_attributes(schema: ScimSchema) -> _Attributes:
    return _Attributes(_declared_fields(schema.attributes))


_COMMON_ATTRIBUTES = _Attributes(_declared_fields(COMMON_ATTRIBUTES))


@_while_alive
def _resource_attributes(resource_type: ResourceType) -> _Resource:
    """A whole resource's fields; a group's `members` is left to `parse_members` (never in the document)."""
    attributes = (*COMMON_ATTRIBUTES, *resource_type.schema.attributes)
    declared: dict[str, fields.Field] = _declared_fields(
        attribute for attribute in attributes if attribute.name != "members")
    for schema in resource_type.schemas[1:]:
        declared[schema.id] = _schema_attributes(schema)
    return _Resource(declared, resource_type)


# -- errors -----------------------------------------------------------------------------------------


def _first_error(messages: Any, path: tuple[str | int, ...] = ()) -> tuple[tuple[str | int, ...], str]:
    if isinstance(messages, Mapping):
        key, inner = next(iter(messages.items()))
        return _first_error(inner, path if key == "_schema" else (*path, key))
    if isinstance(messages, list) and messages:
        return _first_error(messages[0], path)
    return path, str(messages)


def _spell(path: tuple[str | int, ...], prefix: str = "") -> str:
    """("urn:…:User", "manager", "value") → "urn:…:User:manager.value"; ("emails", 0, "value") → "emails[0].value"."""
    text = prefix
    for index, part in enumerate(path):
        if isinstance(part, int):
            text += f"[{part}]"
        elif not text:
            text = part
        else:
            text += (":" if index == 1 and not prefix and str(path[0]).startswith("urn:") else ".") + part
    return text


def _invalid(error: ValidationError, prefix: str = "") -> InvalidValue:
    path, message = _first_error(error.messages)
    where = _spell(path, prefix)
    if message == "Missing data for required field.":
        return InvalidValue(f"Attribute '{where}' is required.")
    return InvalidValue(f"Attribute '{where}' has an invalid value: {message}")


# -- public API -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedResource:
    """A validated resource body: the document to store plus what never goes into it."""

    document: dict[str, Any]
    password: str | None = None
    members: list[dict[str, str]] | None = None

    @property
    def active_given(self) -> bool:
        """Whether the body set `active`; Okta's PUT may omit it, and then it stays unchanged."""
        return "active" in self.document


_ABSENT: Any = object()


def lookup(body: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """The value of `name` in a JSON object, the key matched case-insensitively (RFC 7643 §2.1)."""
    return next((value for key, value in body.items() if isinstance(key, str) and key.lower() == name.lower()), default)


def parse_resource(body: Any, resource_type: ResourceType) -> ParsedResource:
    """Validate a POST/PUT body (RFC 7644 §3.3, §3.5.1) and split it into document, password and members."""
    if not isinstance(body, Mapping):
        raise InvalidSyntax("The request body must be a JSON object.")
    _check_schemas(lookup(body, "schemas"), resource_type)
    try:
        document = _resource_attributes(resource_type).deserialize(body)
    except ValidationError as error:
        raise _invalid(error) from error
    password = document.pop("password", None)
    members = None
    if resource_type.resolve("members") is not None and lookup(body, "members", _ABSENT) is not _ABSENT:
        members = parse_members(lookup(body, "members"))
    return ParsedResource(document, password, members)


def _check_schemas(schemas: Any, resource_type: ResourceType) -> None:
    """`schemas` (RFC 7643 §3), when given, is a list of URIs that names the resource type's core schema (in any
    case); URNs we do not know are tolerated (Entra sends Microsoft's own)."""
    if schemas is None:
        return
    if not isinstance(schemas, list) or not all(isinstance(urn, str) for urn in schemas):
        raise InvalidSyntax("'schemas' must be a list of schema URIs.")
    core = resource_type.schema.id
    if not any(urn.lower() == core.lower() for urn in schemas):
        raise InvalidSyntax(f"'schemas' must contain '{core}' for a {resource_type.name} (RFC 7643 §3).")


def parse_members(value: Any) -> list[dict[str, str]]:
    """A `members` value → [{"value": id, "type"?: …}] (RFC 7643 §4.2): each member is an object whose `value` is
    the id, a non-empty string; `display` (readOnly) and `$ref` are dropped. A single object is a list of one.

    Checked by hand rather than by the attribute fields: Okta pushes ~1,000 members at a time, and only two
    sub-attributes are kept.
    """
    given = [] if value is None else value if isinstance(value, list) else [value]
    members = []
    for index, element in enumerate(given):
        sub_values = {str(key).lower(): item for key, item in element.items()} if isinstance(element, Mapping) else {}
        member_id, member_type = sub_values.get("value"), sub_values.get("type")
        if not isinstance(member_id, str) or not member_id:
            raise InvalidValue(f"Attribute 'members[{index}].value' is required: a member is an object with an id.")
        if member_type is not None and not isinstance(member_type, str):
            raise InvalidValue(f"Attribute 'members[{index}].type' has an invalid value: Not a valid string.")
        members.append({"value": member_id, **({"type": member_type} if member_type else {})})
    return members


def coerce_value(ref: AttrRef, value: Any) -> Any:
    """Validate and normalise one value for `ref` as the payload would; None when it is unassigned (RFC 7643 §2.5).

    For a multi-valued attribute the result is a list (a single element is wrapped), for a sub-attribute of a
    multi-valued attribute it is the sub-attribute's value.
    """
    if is_empty(value):
        return None
    field = _bound_field(ref)
    try:
        coerced = field.deserialize(value)
    except ValidationError as error:
        raise _invalid(error, str(ref)) from error
    return None if is_empty(coerced) else coerced


def _bound_field(ref: AttrRef) -> fields.Field:
    attributes = _schema_attributes(ref.schema) if ref.schema else _COMMON_ATTRIBUTES
    field = attributes.fields[ref.attribute.name]
    if ref.sub_attribute is None:
        return field
    nested = field.inner if isinstance(field, fields.List) else field
    return nested.fields[ref.sub_attribute.name]
