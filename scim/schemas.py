"""SCIM schemas (RFC 7643 §2, §7) as data: attribute definitions loaded once from `scim/data/*.json`.

Every protocol module (payload validation, PATCH, filters, projection, discovery) asks this module what an
attribute is; nothing else hard-codes attribute names, types, mutability or case-exactness.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from typing import Any

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
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            description=data.get("description", ""),
            attributes=tuple(Attribute.from_dict(attribute) for attribute in data["attributes"]),
        )


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

    @property
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
        schema, rest = self.split_urn(path)
        name, _, sub = rest.partition(".")
        return self.resolve(name, sub or None, schema.id if schema else None)

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
        """A registry where each (resource type name, schema) pair is added as an optional extension."""
        added: dict[str, list[Schema]] = {}
        for resource_type_name, schema in extensions:
            added.setdefault(resource_type_name.lower(), []).append(schema)
        if not added:
            return self
        return Registry(
            tuple(
                ResourceType(
                    rt.name,
                    rt.endpoint,
                    rt.description,
                    rt.schema,
                    rt.extensions + tuple((schema, False) for schema in added.get(rt.name.lower(), ())),
                )
                for rt in self.resource_types
            )
        )


DEFAULT_REGISTRY = Registry((USER, GROUP))
