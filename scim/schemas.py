"""SCIM schemas (RFC 7643 §2, §7) as data: attribute definitions loaded once from `scim/data/*.json`, plus each
tenant's own extension schemas (storage/tenant_schemas.py), checked by `Schema.from_dict` and added to its `Registry`.

Every protocol module (payload validation, PATCH, filters, projection, discovery) asks this module what an
attribute is; nothing else hard-codes attribute names, types, mutability or case-exactness.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from typing import Any

from scim.errors import InvalidValue

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_RESPONSE_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_REQUEST_URN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BULK_REQUEST_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE_URN = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
SERVICE_PROVIDER_CONFIG_URN = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_URN = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_URN = "urn:ietf:params:scim:schemas:core:2.0:Schema"

_DEFAULTS: dict[str, Any] = {
    "multiValued": False,
    "required": False,
    "caseExact": False,
    "mutability": "readWrite",
    "returned": "default",
    "uniqueness": "none",
}

# What a schema definition may say (RFC 7643 §7), checked by `Schema.from_dict`.
_TYPES = ("string", "boolean", "decimal", "integer", "dateTime", "reference", "binary", "complex")  # RFC 7643 §2.3
_CHOICES: dict[str, tuple[str, ...]] = {
    "mutability": ("readOnly", "readWrite", "immutable", "writeOnly"),
    "returned": ("always", "never", "default", "request"),
    "uniqueness": ("none", "server", "global"),
}
_FLAGS = ("multiValued", "required", "caseExact")
_ATTRIBUTE_KEYS = frozenset({"name", "type", "subAttributes", "description", "canonicalValues", "referenceTypes",
                             *_FLAGS, *_CHOICES})
_SCHEMA_KEYS = frozenset({"id", "name", "description", "attributes", "schemas", "meta"})
_ATTRNAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")  # RFC 7643 §2.1 ATTRNAME
# RFC 8141 URN, its namespace-specific part limited to what filters and paths can spell (scim2-filter-parser's URI
# token): letters, digits, ".", "-", "_" and ":"-separated segments.
_URN = re.compile(r"urn:[A-Za-z0-9][A-Za-z0-9-]{0,30}[A-Za-z0-9](:[A-Za-z0-9._-]+)+", re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class Attribute:
    """One attribute definition (RFC 7643 §7). Compared and hashed by identity: definitions are loaded once."""

    name: str
    type: str
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    uniqueness: str = "none"
    description: str = ""
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub_attributes: tuple[Attribute, ...] = ()

    @cached_property
    def _subs(self) -> dict[str, Attribute]:
        return {sub.name.lower(): sub for sub in self.sub_attributes}

    def sub(self, name: str) -> Attribute | None:
        """The sub-attribute called `name`, matched case-insensitively (RFC 7643 §2.1)."""
        return self._subs.get(name.lower())

    @property
    def is_complex(self) -> bool:
        return self.type == "complex"

    @property
    def read_only(self) -> bool:
        return self.mutability == "readOnly"

    def to_dict(self) -> dict[str, Any]:
        """The attribute as `/Schemas` shows it, every characteristic spelled out."""
        body: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
        }
        if self.type in ("string", "reference", "binary"):
            body["caseExact"] = self.case_exact
        if self.canonical_values:
            body["canonicalValues"] = list(self.canonical_values)
        if self.reference_types:
            body["referenceTypes"] = list(self.reference_types)
        body["mutability"] = self.mutability
        body["returned"] = self.returned
        body["uniqueness"] = self.uniqueness
        if self.sub_attributes:
            body["subAttributes"] = [sub.to_dict() for sub in self.sub_attributes]
        return body

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attribute:
        merged = {**_DEFAULTS, **data}
        return cls(
            name=merged["name"],
            type=merged["type"],
            multi_valued=bool(merged["multiValued"]),
            required=bool(merged["required"]),
            case_exact=bool(merged["caseExact"]),
            mutability=merged["mutability"],
            returned=merged["returned"],
            uniqueness=merged["uniqueness"],
            description=merged.get("description", ""),
            canonical_values=tuple(merged.get("canonicalValues", ())),
            reference_types=tuple(merged.get("referenceTypes", ())),
            sub_attributes=tuple(cls.from_dict(sub) for sub in merged.get("subAttributes", ())),
        )


@dataclass(frozen=True, eq=False)
class Schema:
    """A schema: core resource schema or extension (RFC 7643 §7)."""

    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...]

    @cached_property
    def _by_name(self) -> dict[str, Attribute]:
        return {attribute.name.lower(): attribute for attribute in self.attributes}

    def attribute(self, name: str) -> Attribute | None:
        """The top-level attribute called `name`, matched case-insensitively."""
        return self._by_name.get(name.lower())

    def to_dict(self, location: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "schemas": [SCHEMA_URN],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [attribute.to_dict() for attribute in self.attributes],
            "meta": {"resourceType": "Schema"},
        }
        if location:
            body["meta"]["location"] = location
        return body

    @classmethod
    def from_dict(cls, data: Any) -> Schema:
        """Build a schema from its RFC 7643 §7 representation; InvalidValue saying what is wrong when it is not one."""
        _check_schema(data)
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            description=data.get("description", ""),
            attributes=tuple(Attribute.from_dict(attribute) for attribute in data["attributes"]),
        )


def _check_schema(data: Any) -> None:
    if not isinstance(data, Mapping):
        raise InvalidValue("A schema definition is a JSON object (RFC 7643 §7).")
    _check_keys(data, _SCHEMA_KEYS, "The schema")
    urn = data.get("id")
    if not isinstance(urn, str) or not _URN.fullmatch(urn):
        raise InvalidValue(
            f"The schema id {urn!r} is not a URN such as 'urn:example:scim:schemas:acme:2.0:User' (RFC 7643 §7, "
            "RFC 8141): 'urn:', a namespace, then ':'-separated parts of letters, digits, '.', '-' and '_'."
        )
    for key in ("name", "description"):
        if not isinstance(data.get(key, ""), str):
            raise InvalidValue(f"The schema's {key!r} must be a string.")
    attributes = data.get("attributes")
    if not isinstance(attributes, list) or not attributes:
        raise InvalidValue("The schema's 'attributes' must be a non-empty list of attribute definitions.")
    _check_attributes(attributes, "attributes", None)


def _check_attributes(attributes: list[Any], where: str, parent: str | None) -> None:
    """Check a list of attribute definitions; names are unique, compared case-insensitively (RFC 7643 §2.1)."""
    seen: set[str] = set()
    for index, attribute in enumerate(attributes):
        name = _check_attribute(attribute, f"{where}[{index}]", parent)
        if name.lower() in seen:
            raise InvalidValue(f"Attribute {_dotted(parent, name)!r} is defined twice (names are case-insensitive).")
        seen.add(name.lower())


def _check_attribute(data: Any, where: str, parent: str | None) -> str:
    """Check one attribute definition (RFC 7643 §7) and return its name; `parent` names the complex attribute."""
    if not isinstance(data, Mapping):
        raise InvalidValue(f"{where} must be a JSON object (an attribute definition, RFC 7643 §7).")
    name = data.get("name")
    if not isinstance(name, str) or not (_ATTRNAME.fullmatch(name) or (parent and name == "$ref")):
        raise InvalidValue(
            f"{where}: {name!r} is not an attribute name (RFC 7643 §2.1: a letter, then letters, digits, '-' or '_')."
        )
    label = f"Attribute {_dotted(parent, name)!r}"
    _check_keys(data, _ATTRIBUTE_KEYS, label)
    if data.get("type") not in _TYPES:
        raise InvalidValue(f"{label}: type {data.get('type')!r} is not one of {', '.join(_TYPES)} (RFC 7643 §2.3).")
    for key in _FLAGS:
        if not isinstance(data.get(key, False), bool):
            raise InvalidValue(f"{label}: {key!r} must be true or false.")
    for key, choices in _CHOICES.items():
        if data.get(key, _DEFAULTS[key]) not in choices:
            raise InvalidValue(f"{label}: {key} {data[key]!r} is not one of {', '.join(choices)} (RFC 7643 §7).")
    if not isinstance(data.get("description", ""), str):
        raise InvalidValue(f"{label}: 'description' must be a string.")
    for key in ("canonicalValues", "referenceTypes"):
        if not _is_string_list(data.get(key, [])):
            raise InvalidValue(f"{label}: {key!r} must be a list of strings.")
    if "referenceTypes" in data and data["type"] != "reference":
        raise InvalidValue(f"{label}: only a reference attribute has 'referenceTypes' (RFC 7643 §7).")
    _check_sub_attributes(data, label, parent, name)
    return name


def _check_sub_attributes(data: Mapping[str, Any], label: str, parent: str | None, name: str) -> None:
    """Per RFC 7643 §2.3.8, a complex attribute has sub-attributes, and none of them is complex."""
    if data["type"] != "complex":
        if "subAttributes" in data:
            raise InvalidValue(f"{label}: only a complex attribute has 'subAttributes' (RFC 7643 §2.3.8).")
        return
    if parent is not None:
        raise InvalidValue(f"{label}: a sub-attribute cannot be complex (RFC 7643 §2.3.8).")
    subs = data.get("subAttributes")
    if not isinstance(subs, list) or not subs:
        raise InvalidValue(f"{label}: a complex attribute needs a non-empty 'subAttributes' list (RFC 7643 §2.3.8).")
    _check_attributes(subs, f"{label} subAttributes", name)


def _check_keys(data: Mapping[str, Any], known: frozenset[str], label: str) -> None:
    """Refuse unknown keys: a misspelt characteristic (`mutabilty`) would otherwise be silently ignored."""
    unknown = sorted(str(key) for key in data if key not in known)
    if unknown:
        raise InvalidValue(f"{label} has unknown keys {unknown}; RFC 7643 §7 defines {sorted(known)}.")


def _is_string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _dotted(parent: str | None, name: str) -> str:
    return f"{parent}.{name}" if parent else name


# Common attributes every resource has (RFC 7643 §3.1); they belong to no schema's attribute list.
COMMON_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("id", "string", case_exact=True, mutability="readOnly", returned="always", uniqueness="server"),
    Attribute("externalId", "string", case_exact=True),
    Attribute(
        "meta",
        "complex",
        mutability="readOnly",
        sub_attributes=(
            Attribute("resourceType", "string", case_exact=True, mutability="readOnly"),
            Attribute("created", "dateTime", mutability="readOnly"),
            Attribute("lastModified", "dateTime", mutability="readOnly"),
            Attribute("location", "reference", case_exact=True, mutability="readOnly", reference_types=("uri",)),
            Attribute("version", "string", case_exact=True, mutability="readOnly"),
        ),
    ),
)
_COMMON_BY_NAME = {attribute.name.lower(): attribute for attribute in COMMON_ATTRIBUTES}


@dataclass(frozen=True)
class AttrRef:
    """An attribute resolved against a resource type: which schema, which attribute, which sub-attribute.

    `schema` is None for the common attributes (id, externalId, meta).
    """

    schema: Schema | None
    attribute: Attribute
    sub_attribute: Attribute | None = None

    @property
    def urn(self) -> str | None:
        return self.schema.id if self.schema else None

    @property
    def target(self) -> Attribute:
        """The attribute the reference ends at (the sub-attribute when there is one)."""
        return self.sub_attribute or self.attribute

    @property
    def is_extension(self) -> bool:
        return self.schema is not None and self.schema.id not in (USER_URN, GROUP_URN)

    @property
    def dotted(self) -> str:
        """`name` or `name.sub` with the schema's spelling."""
        if self.sub_attribute:
            return f"{self.attribute.name}.{self.sub_attribute.name}"
        return self.attribute.name

    def __str__(self) -> str:
        return f"{self.urn}:{self.dotted}" if self.is_extension else self.dotted


@dataclass(frozen=True, eq=False)
class ResourceType:
    """A resource type (RFC 7643 §6): endpoint, core schema and extensions."""

    name: str
    endpoint: str
    description: str
    schema: Schema
    extensions: tuple[tuple[Schema, bool], ...] = field(default=())

    @cached_property
    def schemas(self) -> tuple[Schema, ...]:
        return (self.schema, *(schema for schema, _required in self.extensions))

    @cached_property
    def _by_urn(self) -> dict[str, Schema]:
        return {schema.id.lower(): schema for schema in self.schemas}

    def schema_by_urn(self, urn: str) -> Schema | None:
        return self._by_urn.get(urn.lower())

    def extension_urns(self) -> tuple[str, ...]:
        return tuple(schema.id for schema, _required in self.extensions)

    def split_urn(self, path: str) -> tuple[Schema | None, str]:
        """Split a fully qualified `urn:…:Schema:attr.sub` into (schema, "attr.sub").

        A path without a known schema URN prefix comes back as (None, path).
        """
        lowered = path.lower()
        for schema in self.schemas:
            prefix = schema.id.lower() + ":"
            if lowered.startswith(prefix):
                return schema, path[len(prefix):]
        return None, path

    def resolve(self, attr_name: str, sub_attr: str | None = None, urn: str | None = None) -> AttrRef | None:
        """Resolve an attribute name (case-insensitive) to an AttrRef, or None when the schema has no such thing.

        Without `urn` the core schema and the common attributes are searched; an extension attribute must be
        qualified with its URN (RFC 7644 §3.10).
        """
        if urn:
            schema = self.schema_by_urn(urn)
            if schema is None:
                return None
            if schema is self.schema and attr_name.lower() in _COMMON_BY_NAME:
                return self._with_sub(None, _COMMON_BY_NAME[attr_name.lower()], sub_attr)
            attribute = schema.attribute(attr_name)
            return self._with_sub(schema, attribute, sub_attr) if attribute else None
        common = _COMMON_BY_NAME.get(attr_name.lower())
        if common is not None:
            return self._with_sub(None, common, sub_attr)
        attribute = self.schema.attribute(attr_name)
        return self._with_sub(self.schema, attribute, sub_attr) if attribute else None

    def resolve_path(self, path: str) -> AttrRef | None:
        """Resolve `attr`, `attr.sub`, or `urn:…:attr.sub` (no value filter) to an AttrRef."""
        key = path.lower()  # names are case-insensitive (RFC 7643 §2.1), so is the answer
        ref = self._resolved.get(key)
        if ref is None:
            schema, rest = self.split_urn(path)
            name, _, sub = rest.partition(".")
            ref = self.resolve(name, sub or None, schema.id if schema else None)
            if ref is not None:  # only paths the schemas define are kept: a client's typos do not grow the cache
                self._resolved[key] = ref
        return ref

    @cached_property
    def _resolved(self) -> dict[str, AttrRef]:
        """resolve_path's answers: every request diffs, filters or projects by a handful of the same paths."""
        return {}

    @staticmethod
    def _with_sub(schema: Schema | None, attribute: Attribute, sub_attr: str | None) -> AttrRef | None:
        if not sub_attr:
            return AttrRef(schema, attribute)
        sub = attribute.sub(sub_attr)
        return AttrRef(schema, attribute, sub) if sub else None

    def to_dict(self, location: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "schemas": [RESOURCE_TYPE_URN],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.schema.id,
            "schemaExtensions": [
                {"schema": schema.id, "required": required} for schema, required in self.extensions
            ],
            "meta": {"resourceType": "ResourceType"},
        }
        if location:
            body["meta"]["location"] = location
        return body


def _load(filename: str) -> Schema:
    text = resources.files("scim.data").joinpath(filename).read_text(encoding="utf-8")
    return Schema.from_dict(json.loads(text))


USER_SCHEMA = _load("core-user.json")
GROUP_SCHEMA = _load("core-group.json")
ENTERPRISE_USER_SCHEMA = _load("enterprise-user.json")

USER = ResourceType("User", "/Users", "User Account", USER_SCHEMA, ((ENTERPRISE_USER_SCHEMA, False),))
GROUP = ResourceType("Group", "/Groups", "Group", GROUP_SCHEMA)


@dataclass(frozen=True)
class Registry:
    """The resource types and schemas one tenant sees: the built-in ones plus its own extensions."""

    resource_types: tuple[ResourceType, ...]

    def by_endpoint(self, endpoint: str) -> ResourceType | None:
        """`Users` or `/Users` → the User resource type (case-insensitive)."""
        wanted = "/" + endpoint.strip("/").lower()
        return next((rt for rt in self.resource_types if rt.endpoint.lower() == wanted), None)

    def by_name(self, name: str) -> ResourceType | None:
        return next((rt for rt in self.resource_types if rt.name.lower() == name.lower()), None)

    def schemas(self) -> Iterator[Schema]:
        seen: set[str] = set()
        for resource_type in self.resource_types:
            for schema in resource_type.schemas:
                if schema.id not in seen:
                    seen.add(schema.id)
                    yield schema

    def schema(self, urn: str) -> Schema | None:
        return next((schema for schema in self.schemas() if schema.id.lower() == urn.lower()), None)

    def with_extensions(self, extensions: Iterable[tuple[str, Schema]]) -> Registry:
        """A registry where each (resource type name, schema) pair is added as an optional extension (RFC 7643 §6).

        Resource types without additions are shared with this registry. InvalidValue for an unknown resource type,
        or a URN that is taken or nests in another one (`urn:…:User:site` would read as attribute `site` of
        `urn:…:User`, RFC 7644 §3.10).
        """
        added: dict[str, list[Schema]] = {}
        taken = [schema.id for schema in self.schemas()]
        for resource_type_name, schema in extensions:
            resource_type = self.by_name(resource_type_name)
            if resource_type is None:
                names = ", ".join(rt.name for rt in self.resource_types)
                raise InvalidValue(f"There is no resource type {resource_type_name!r}; use one of {names}.")
            _check_free(schema.id, taken)
            taken.append(schema.id)
            added.setdefault(resource_type.name, []).append(schema)
        if not added:
            return self
        return Registry(tuple(_extended(rt, added.get(rt.name, ())) for rt in self.resource_types))


def _extended(resource_type: ResourceType, schemas: Iterable[Schema]) -> ResourceType:
    extensions = tuple((schema, False) for schema in schemas)
    if not extensions:
        return resource_type
    return ResourceType(resource_type.name, resource_type.endpoint, resource_type.description, resource_type.schema,
                        resource_type.extensions + extensions)


def _check_free(urn: str, taken: Iterable[str]) -> None:
    """URNs are compared case-insensitively, as `ResourceType.schema_by_urn` matches them."""
    for other in taken:
        if urn.lower() == other.lower():
            raise InvalidValue(f"The schema id {urn!r} is already defined.")
        if urn.lower().startswith(other.lower() + ":") or other.lower().startswith(urn.lower() + ":"):
            raise InvalidValue(f"The schema id {urn!r} overlaps {other!r}: attribute paths could not tell them apart.")


DEFAULT_REGISTRY = Registry((USER, GROUP))
