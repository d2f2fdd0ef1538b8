"""Partial representations: `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) and `returned` (RFC 7643 §7).

`Projection.parse` turns the two parameters into a plan once per request; `apply` then walks each resource in wire
form along that plan, so the per-resource cost is a dict lookup per key. Decisions:

- Names are matched case-insensitively (RFC 7643 §2.1) and may be `attr`, `attr.sub`, `urn:…:attr.sub`, or a bare
  schema URN (the whole extension object; for the core URN, every core attribute).
- Names the resource type does not define are ignored, not rejected: an absent attribute is simply not returned
  (RFC 7643 §2.5), and RFC 7644 §3.4.2 asks servers to ignore what they do not recognize rather than fail the query.
- Giving both parameters is a 400 `invalidValue`: RFC 7644 §3.9 calls them "mutually exclusive".
- `returned`: `always` (and `schemas`) is kept whatever the parameters say; `never` is dropped even when asked for;
  `request` only when named in `attributes`; `default` unless excluded, or only when named once `attributes` is given.
  The common attribute `meta` is `default` (RFC 7643 §3.1), so `attributes=displayName` leaves it out.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scim.errors import InvalidValue
from scim.schemas import COMMON_ATTRIBUTES, Attribute, ResourceType

# What to keep below a name: None keeps the value whole, a dict keeps only its keys. Names are stored lower-cased and
# in the schema's spelling, so the usual exact-case key is found without lower-casing it.
Plan = dict[str, "Plan | None"]
Path = tuple[str, ...]
_ABSENT: Any = object()


def split_names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Split a comma-separated attribute list (or a list of them) into names; empty entries are dropped."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise InvalidValue("An attribute list must be a comma-separated string or a list of strings (RFC 7644 §3.9).")
    return tuple(name.strip() for item in items for name in item.split(",") if name.strip())


@dataclass(frozen=True, eq=False)
class Projection:
    """Which attributes of one resource type a response carries."""

    resource_type: ResourceType
    _plan: Plan = field(repr=False)
    _droppable_urns: frozenset[str] = field(repr=False)
    keeps_all: bool = False  # every attribute of the resource type is kept whole: `apply` returns what it is given

    @classmethod
    def parse(
        cls,
        resource_type: ResourceType,
        attributes: str | Sequence[str] | None,
        excluded: str | Sequence[str] | None,
    ) -> Projection:
        """Build the projection for `attributes` / `excludedAttributes` (RFC 7644 §3.9)."""
        wanted, unwanted = split_names(attributes), split_names(excluded)
        if wanted and unwanted:
            raise InvalidValue('"attributes" and "excludedAttributes" are mutually exclusive (RFC 7644 §3.9).')
        return _build(resource_type, wanted, unwanted)

    def apply(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Return the projected resource; values kept whole are shared with `resource`, not copied.

        Per RFC 7643 §3, `schemas` lists the schemas of the attributes present, so the URN of an extension the
        projection removed is dropped from it.
        """
        projected = _project_object(resource, self._plan)
        schemas = projected.get("schemas")
        if self._droppable_urns and isinstance(schemas, list):
            projected["schemas"] = [
                urn
                for urn in schemas
                if not isinstance(urn, str) or urn.lower() not in self._droppable_urns or _has_key(projected, urn)
            ]
        return projected

    def needs(self, attr_name: str) -> bool:
        """Whether any part of `attr_name` (`members`, `groups`, `name.givenName`, `urn:…:manager`) is returned.

        Storage asks this to skip loading what the response will not carry; unknown names are never needed.
        """
        path = _path(self.resource_type, attr_name)
        node: Plan | None = self._plan
        for key in path or ():
            if node is None:
                return True
            if key not in node:
                return False
            node = node[key]
        return path is not None


@dataclass(frozen=True)
class _Selection:
    """The parsed parameters: `attributes` paths (None when not given) and `excludedAttributes` paths."""

    attributes: frozenset[Path] | None
    excluded: frozenset[Path]

    def select(self, attribute: Attribute, path: Path, *, whole: bool) -> tuple[bool, Plan | None]:
        """Decide whether `attribute` at `path` is returned, and which of its sub-attributes (RFC 7643 §7)."""
        returned = attribute.returned
        if returned == "never":
            return False, None
        if self.attributes is not None:
            named = path in self.attributes
            if named or returned == "always" or (whole and returned == "default"):
                whole = True
            elif any(len(wanted) > len(path) and wanted[: len(path)] == path for wanted in self.attributes):
                whole = False
            else:
                return False, None
        elif returned == "request" or (path in self.excluded and returned != "always"):
            return False, None
        if not attribute.sub_attributes:
            return True, None
        plan: Plan = {}
        complete = True
        for sub in attribute.sub_attributes:
            key = sub.name.lower()
            keep, below = self.select(sub, (*path, key), whole=whole)
            if keep:
                _put(plan, sub.name, below)
            complete = complete and keep and below is None
        if complete:
            return True, None
        return bool(plan), plan


@functools.lru_cache(maxsize=1024)
def _build(resource_type: ResourceType, wanted: tuple[str, ...], unwanted: tuple[str, ...]) -> Projection:
    """The plan walks every attribute of the schemas; requests repeat a handful of parameter sets, so plans are
    cached per resource type (compared by identity: a tenant's new extension makes a new one)."""
    selection = _Selection(_paths(resource_type, wanted) if wanted else None, _paths(resource_type, unwanted))
    extensions = tuple(Attribute(schema.id, "complex", sub_attributes=schema.attributes)
                       for schema, _required in resource_type.extensions)
    plan: Plan = {"schemas": None}
    keeps_all = True
    for attribute in (*COMMON_ATTRIBUTES, *resource_type.schema.attributes, *extensions):
        keep, below = selection.select(attribute, (attribute.name.lower(),), whole=False)
        if keep:
            _put(plan, attribute.name, below)
        keeps_all = keeps_all and keep and below is None
    # Extensions not kept whole may be missing from the result, and then from `schemas` too.
    droppable = frozenset(urn for urn in (ext.name.lower() for ext in extensions) if plan.get(urn, {}) is not None)
    return Projection(resource_type, plan, droppable, keeps_all)


def _path(resource_type: ResourceType, name: str) -> Path | None:
    """`name` as a lower-cased key path into the wire form: extension attributes sit under their URN."""
    schema = resource_type.schema_by_urn(name)
    if schema is not None:
        return (schema.id.lower(),)
    ref = resource_type.resolve_path(name)
    if ref is None:
        return None
    path: Path = (ref.urn.lower(),) if ref.is_extension and ref.urn else ()
    path += (ref.attribute.name.lower(),)
    return (*path, ref.sub_attribute.name.lower()) if ref.sub_attribute else path


def _paths(resource_type: ResourceType, names: tuple[str, ...]) -> frozenset[Path]:
    core_urn = resource_type.schema.id.lower()
    paths: set[Path] = set()
    for name in names:
        path = _path(resource_type, name)
        if path == (core_urn,):
            paths.update((attribute.name.lower(),) for attribute in resource_type.schema.attributes)
        elif path is not None:
            paths.add(path)
    return frozenset(paths)


def _put(plan: Plan, name: str, below: Plan | None) -> None:
    plan[name.lower()] = plan[name] = below


def _has_key(value: dict[str, Any], name: str) -> bool:
    lowered = name.lower()
    return name in value or any(key.lower() == lowered for key in value)


def _project_object(value: dict[str, Any], plan: Plan) -> dict[str, Any]:
    projected: dict[str, Any] = {}
    for key, item in value.items():
        below = plan.get(key, _ABSENT)
        if below is _ABSENT:
            below = plan.get(key.lower(), _ABSENT)
            if below is _ABSENT:
                continue
        if below is None:
            projected[key] = item
        elif kept := _project_value(item, below):
            projected[key] = kept
    return projected


def _project_value(item: Any, plan: Plan) -> Any:
    """Project a complex value, or each element of a multi-valued one; elements left empty are dropped."""
    if isinstance(item, dict):
        return _project_object(item, plan)
    if isinstance(item, list):
        return [kept for entry in item if isinstance(entry, dict) and (kept := _project_object(entry, plan))]
    return item
