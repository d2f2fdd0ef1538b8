"""The OpenAPI 3.1 document of /scim/v2 and /admin/v1, served at /openapi.json without authentication.

`app/openapi.json` holds the paths and the protocol messages; the User and Group schemas are built here from the
attribute definitions of `scim/data` (scim.schemas), so the document never disagrees with `/Schemas`.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from flask import Blueprint, Response, current_app

from scim.schemas import COMMON_ATTRIBUTES, GROUP, USER, Attribute, ResourceType

bp = Blueprint("openapi", __name__)

_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "reference": {"type": "string"},
    "binary": {"type": "string", "contentEncoding": "base64"},
    "dateTime": {"type": "string", "format": "date-time"},
    "boolean": {"type": "boolean"},
    "integer": {"type": "integer"},
    "decimal": {"type": "number"},
    "complex": {"type": "object"},
}


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return current_app.response_class(_encoded(), mimetype="application/json")


@functools.cache
def _encoded() -> bytes:
    return json.dumps(document(), ensure_ascii=False).encode()


@functools.cache
def document() -> dict[str, Any]:
    """The whole document, built once per process."""
    doc = json.loads(resources.files("app").joinpath("openapi.json").read_text(encoding="utf-8"))
    schemas = doc["components"]["schemas"]
    for resource_type in (USER, GROUP):
        name = resource_type.name
        schemas[f"{name}Attributes"] = resource_schema(resource_type)
        attributes = {"$ref": f"#/components/schemas/{name}Attributes"}
        required = [attribute.name for attribute in resource_type.schema.attributes if attribute.required]
        schemas[f"{name}Input"] = {"allOf": [attributes], "required": required}
        # As returned: `schemas` and `id` always (RFC 7643 §3.1); the rest as `attributes` and `returned` decide.
        schemas[name] = {"allOf": [attributes], "required": ["schemas", "id"]}
    return doc


def resource_schema(resource_type: ResourceType) -> dict[str, Any]:
    """A resource type's JSON Schema: common, core and extension attributes; other extensions are allowed."""
    properties: dict[str, Any] = {"schemas": {"type": "array", "items": {"type": "string"}}}
    for attribute in (*COMMON_ATTRIBUTES, *resource_type.schema.attributes):
        properties[attribute.name] = attribute_schema(attribute)
    for extension, _required in resource_type.extensions:
        properties[extension.id] = {
            "type": "object",
            "description": extension.description,
            "properties": {attribute.name: attribute_schema(attribute) for attribute in extension.attributes},
        }
    return {"type": "object", "description": resource_type.description, "properties": properties}


def attribute_schema(attribute: Attribute) -> dict[str, Any]:
    """One attribute (RFC 7643 §2.3, §7) as JSON Schema."""
    schema = dict(_TYPES[attribute.type])
    if attribute.sub_attributes:
        schema["properties"] = {sub.name: attribute_schema(sub) for sub in attribute.sub_attributes}
    if attribute.multi_valued:
        schema = {"type": "array", "items": schema}
    if attribute.description:
        schema["description"] = attribute.description
    if attribute.read_only:
        schema["readOnly"] = True
    if attribute.mutability == "writeOnly" or attribute.returned == "never":
        schema["writeOnly"] = True
    return schema
