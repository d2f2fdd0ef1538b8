"""PATCH (RFC 7644 §3.5.2): validate a whole PatchOp, normalise the IdP dialects, apply it to a stored document.

`compile_patch` checks every operation before anything is applied and turns the request into a `Patch`:
document operations with resolved paths and coerced values, ordered group-membership steps (storage applies those
as deltas, never by rewriting the member list), and a new password. `apply` runs the document operations on a copy
of the stored document; the checks that need the current values (immutable attributes, a value filter that selects
nothing, unassigning a required attribute) happen there, still before anything is written.

IdP forms accepted on input (see docs/idp-behaviour.md): `op` in any case; `value` objects without `path` whose keys
are dotted (`name.givenName`), URN-qualified or nested extension objects; "True"/"False" for booleans; the
enterprise `manager` as a bare id and its removal as "", {"value": ""} or null; `manager[value eq "…"]`; a value
filter that selects nothing creates the element for add/replace (Entra); Okta's group rename repeating the group id.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from scim.datetimes import wire_text
from scim.errors import InvalidPath, InvalidSyntax, InvalidValue, Mutability, NoTarget, ScimError
from scim.filters import And, Compare, Expr, FilterVisitor, Or, matches
from scim.paths import PatchPath, parse_path
from scim.payloads import coerce_value, is_empty, keep_one_primary, lookup, parse_members
from scim.schemas import PATCH_OP_URN, Attribute, ResourceType, Schema

_OPS = ("add", "replace", "remove")
_ABSENT: Any = object()


@dataclass(frozen=True)
class DocumentOp:
    """One operation on the stored document; for "remove", `value` (if any) limits what is removed (Entra)."""

    op: Literal["add", "replace", "remove"]
    path: PatchPath
    value: Any = None


@dataclass(frozen=True)
class MemberStep:
    """One group-membership change, applied by storage in order: add ids, remove ids, or clear all members."""

    action: Literal["add", "remove", "clear"]
    ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Patch:
    """A validated PatchOp: document operations, membership steps and a new password (None: unchanged)."""

    resource_type: ResourceType = field(repr=False)
    document_ops: tuple[DocumentOp, ...] = ()
    member_steps: tuple[MemberStep, ...] = ()
    password: str | None = None


# -- compile ----------------------------------------------------------------------------------------


def compile_patch(body: Any, resource_type: ResourceType, resource_id: str | None = None) -> Patch:
    """Validate a PatchOp request (RFC 7644 §3.5.2) and compile it; nothing is applied yet.

    Envelope: the body must be an object with an `Operations` list. RFC 7644 §3.5.2 requires `schemas` with the
    PatchOp URN; Okta and Entra always send it, so a missing `schemas` is accepted (lenient), but a `schemas`
    that is given and lacks the PatchOp URN is an InvalidSyntax (the client sent some other message). An empty
    `Operations` list is a successful no-op. Errors name the operation's index. `resource_id` is the target's
    id: Okta's rename repeats it in the value (`{"id": …, "displayName": …}`), which is then ignored.
    """
    compiler = _Compiler(resource_type, resource_id)
    for index, operation in enumerate(_operations(body)):
        try:
            compiler.compile(operation)
        except ScimError as error:
            raise type(error)(f"Operations[{index}]: {error.detail}") from error
    return Patch(resource_type, tuple(compiler.document_ops), tuple(compiler.member_steps), compiler.password)


def _operations(body: Any) -> list[Any]:
    if not isinstance(body, Mapping):
        raise InvalidSyntax("The PATCH body must be a JSON object.")
    schemas = lookup(body, "schemas")
    if schemas is not None and (
        not isinstance(schemas, list) or PATCH_OP_URN.lower() not in {str(urn).lower() for urn in schemas}
    ):
        raise InvalidSyntax(f"A PATCH body's 'schemas' must contain '{PATCH_OP_URN}' (RFC 7644 §3.5.2).")
    operations = lookup(body, "Operations")
    if not isinstance(operations, list):
        raise InvalidSyntax("A PATCH body needs an 'Operations' list (RFC 7644 §3.5.2).")
    return operations


class _Compiler:
    def __init__(self, resource_type: ResourceType, resource_id: str | None) -> None:
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.document_ops: list[DocumentOp] = []
        self.member_steps: list[MemberStep] = []
        self.password: str | None = None

    def compile(self, operation: Any) -> None:
        if not isinstance(operation, Mapping):
            raise InvalidSyntax("An operation must be a JSON object.")
        op = lookup(operation, "op")
        if not isinstance(op, str) or op.lower() not in _OPS:
            raise InvalidSyntax(f"'op' must be one of add, replace, remove (RFC 7644 §3.5.2), not {op!r}.")
        op = op.lower()
        path = lookup(operation, "path")
        value = lookup(operation, "value", _ABSENT)
        if path is None or path == "":
            self._without_path(op, value)
            return
        if op != "remove" and value is _ABSENT:
            raise InvalidValue(f"'{op}' needs a 'value' (RFC 7644 §3.5.2.1, §3.5.2.3).")
        schema = self.resource_type.schema_by_urn(path) if isinstance(path, str) else None
        if schema is not None:
            self._whole_schema(op, schema, value)
            return
        self._target(op, parse_path(path, self.resource_type), value)

    def _whole_schema(self, op: str, schema: Schema, value: Any) -> None:
        """A path that is a schema URN (scim2-tester's `urn:…:enterprise:2.0:User`) targets that schema's attributes:
        add/replace as a no-path value `{urn: value}` (RFC 7644 §3.5.2.1, §3.5.2.3), remove as each writable one."""
        if op != "remove":
            self._without_path(op, {schema.id: value})
            return
        for attribute in schema.attributes:
            if not attribute.read_only:
                self._target(op, parse_path(f"{schema.id}:{attribute.name}", self.resource_type), _ABSENT)

    def _without_path(self, op: str, value: Any) -> None:
        """Per RFC 7644 §3.5.2.1 and §3.5.2.3 the value holds the attributes; a remove needs a path (§3.5.2.2)."""
        if op == "remove":
            raise NoTarget("'remove' needs a 'path' (RFC 7644 §3.5.2.2).")
        if not isinstance(value, Mapping):
            raise InvalidValue(f"'{op}' without 'path' needs an object of attributes as its 'value'.")
        for key, item in self._flatten(value):
            try:
                path = parse_path(key, self.resource_type)
            except InvalidPath:
                continue  # unknown attributes are ignored, as in a POST body
            self._target(op, path, item)

    def _flatten(self, value: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
        """Keys as paths: `name.givenName` and `urn:…:User:department` as they are, `{urn: {…}}` qualified."""
        for key, item in value.items():
            schema = self.resource_type.schema_by_urn(key)
            if schema is None:
                yield key, item
            elif isinstance(item, Mapping):
                yield from ((f"{schema.id}:{name}", sub_value) for name, sub_value in item.items())
            elif not is_empty(item):
                raise InvalidValue(f"'{key}' must be an object of that schema's attributes.")

    def _target(self, op: str, path: PatchPath, value: Any) -> None:
        ref = path.ref
        if ref.schema is self.resource_type.schema and ref.attribute.name == "members":
            self._members(op, path, value)
        elif ref.schema is None and ref.attribute.name == "id" and op != "remove" and value == self.resource_id:
            return  # Okta's rename repeats the group's own id
        elif ref.attribute.read_only or (ref.sub_attribute and ref.sub_attribute.read_only):
            raise Mutability(f"'{path}' is read-only (RFC 7644 §3.5.2).")
        elif ref.attribute.mutability == "writeOnly":
            self._password(op, path, value)
        else:
            self._document_op(op, path, None if value is _ABSENT else value)

    def _password(self, op: str, path: PatchPath, value: Any) -> None:
        if op == "remove":
            raise Mutability(f"'{path}' cannot be removed, only replaced.")
        password = coerce_value(path.ref, value)
        if password is None:
            raise InvalidValue(f"'{path}' cannot be empty.")
        self.password = password

    def _document_op(self, op: str, path: PatchPath, value: Any) -> None:
        coerced = _coerce(path, value)
        if coerced is None and _whole_list(path) and (op == "add" or (op == "remove" and value is not None)):
            return  # adding or removing an empty list of values changes nothing
        if coerced is None:
            op = "remove"  # RFC 7643 §2.5: setting an unassigned value (null, "", {"value": ""}) unassigns it
        self.document_ops.append(DocumentOp(op, path, coerced))

    def _members(self, op: str, path: PatchPath, value: Any) -> None:
        """Group membership as deltas: RFC 7644 §3.5.2.1 (add appends), §3.5.2.2 (remove: listed, filtered or
        all), §3.5.2.3 (replace = clear, then add)."""
        if path.ref.sub_attribute is not None:
            raise Mutability(f"'{path}': a member's sub-attributes are immutable or read-only (RFC 7643 §4.2).")
        if path.value_filter is not None:
            if op != "remove":
                raise InvalidPath(f"'{op}' takes the path 'members' without a value filter.")
            self._step("remove", _MemberIds().visit(path.value_filter))
            return
        ids = None if value is _ABSENT or value is None else self._member_ids(value)
        if op == "add":
            self._step("add", ids or [])
        elif op == "replace":
            self._step("clear", [])
            self._step("add", ids or [])
        elif ids is None:
            self._step("clear", [])
        else:
            self._step("remove", ids)

    def _member_ids(self, value: Any) -> list[str]:
        return [member["value"] for member in parse_members(value)]

    def _step(self, action: Literal["add", "remove", "clear"], ids: list[str]) -> None:
        if ids or action == "clear":
            self.member_steps.append(MemberStep(action, tuple(dict.fromkeys(ids))))


class _MemberIds(FilterVisitor[list[str]]):
    """`value eq "id"`, or several of them joined by `or`: anything else is not a member selection."""

    def visit_compare(self, node: Compare) -> list[str]:
        if node.op == "eq" and node.ref.target.name == "value" and isinstance(node.value, str):
            return [node.value]
        return super().visit_compare(node)

    def visit_or(self, node: Or) -> list[str]:
        return self.visit(node.left) + self.visit(node.right)


def _whole_list(path: PatchPath) -> bool:
    return path.ref.attribute.multi_valued and path.ref.sub_attribute is None and path.value_filter is None


def _coerce(path: PatchPath, value: Any) -> Any:
    """Coerce the value to what the path targets; a value-filter path without sub-attribute targets one element."""
    if path.value_filter is None or path.ref.sub_attribute is not None or not path.ref.attribute.multi_valued:
        return coerce_value(path.ref, value)
    elements = coerce_value(path.ref, value) or []
    if len(elements) > 1:
        raise InvalidValue(f"'{path}' selects values of '{path.parent}': give one value object, not a list.")
    return elements[0] if elements else None


# -- apply ------------------------------------------------------------------------------------------


def apply(patch: Patch, document: Mapping[str, Any]) -> dict[str, Any]:
    """Apply the document operations to a copy of `document` and return it (the input is never changed).

    The result follows the stored-document contract (unassigned values dropped), so `apply(...) != document`
    tells whether the document changed. Per RFC 7644 §3.5.2.2, unassigning a required attribute is a Mutability.
    """
    result = copy.deepcopy(dict(document))
    for operation in patch.document_ops:
        _apply_op(result, operation)
    result = _prune(result)
    _check_required(patch.resource_type, document, result)
    return result


def _apply_op(document: dict[str, Any], operation: DocumentOp) -> None:
    ref = operation.path.ref
    operation = DocumentOp(operation.op, operation.path, copy.deepcopy(operation.value))
    container = document.setdefault(ref.urn, {}) if ref.is_extension else document
    if not isinstance(container, dict):
        container = document[ref.urn] = {}
    if operation.path.value_filter is None and ref.sub_attribute is None:
        _apply_to_attribute(container, ref.attribute, operation)
    elif operation.path.value_filter is None and not ref.attribute.multi_valued:
        parent = container.get(ref.attribute.name)
        if not isinstance(parent, dict):
            parent = container[ref.attribute.name] = {}
        _apply_to_attribute(parent, ref.sub_attribute, operation)
    else:
        _apply_to_values(container, operation)


def _apply_to_attribute(container: dict[str, Any], attribute: Attribute, operation: DocumentOp) -> None:
    """An attribute as a whole: RFC 7644 §3.5.2.1 (add), §3.5.2.2 (remove), §3.5.2.3 (replace)."""
    name, value = attribute.name, operation.value
    current = container.get(name)
    _check_immutable(attribute, current, operation)
    if operation.op == "remove":
        if value is not None and attribute.multi_valued and isinstance(current, list):
            container[name] = [element for element in current if not _listed(element, value)]
        else:
            container.pop(name, None)
    elif attribute.multi_valued:
        kept = current if operation.op == "add" and isinstance(current, list) else []
        added = [element for element in value if element not in kept]
        container[name] = keep_one_primary([*kept, *added], _first_primary(added))
    elif attribute.is_complex and isinstance(current, dict):
        # Sub-attributes not given are left unchanged (RFC 7644 §3.5.2.1 for add, §3.5.2.3 for replace).
        container[name] = {**current, **value}
    else:
        container[name] = value


def _apply_to_values(container: dict[str, Any], operation: DocumentOp) -> None:
    """Values selected by a value filter (or every value, for `emails.value`): RFC 7644 §3.5.2.

    For a single-valued complex attribute (Entra's `manager[value eq "…"]`) the one value is the selection.
    """
    path = operation.path
    attribute = path.ref.attribute
    current = container.get(attribute.name)
    if attribute.multi_valued:
        values = list(current) if isinstance(current, list) else []
    else:
        values = [current] if isinstance(current, dict) else []
    selected = [
        index
        for index, element in enumerate(values)
        if isinstance(element, dict) and (path.value_filter is None or matches(path.value_filter, element))
    ]
    touched: list[Any] = []
    if operation.op == "remove":
        values = _remove_selected(values, selected, operation)
    elif selected:
        for index in selected:
            values[index] = _updated(values[index], operation)
        touched = [values[index] for index in selected]
    else:
        values.append(_created(operation))
        touched = values[-1:]
    if attribute.multi_valued:
        container[attribute.name] = keep_one_primary(values, _first_primary(touched))
    elif values:
        container[attribute.name] = values[-1]
    else:
        container.pop(attribute.name, None)


def _remove_selected(values: list[Any], selected: list[int], operation: DocumentOp) -> list[Any]:
    """Remove the selected values, or one sub-attribute of each (RFC 7644 §3.5.2.2).

    With a `value` (Entra's `remove emails[type eq "work"].value` + "old@x") only values equal to it go. Removing
    the `value` sub-attribute removes the whole element: without its significant value (RFC 7643 §2.4) an
    element is meaningless, and that is what Entra means by it.
    """
    sub = operation.path.ref.sub_attribute
    doomed: set[int] = set()
    for index in selected:
        element = values[index]
        if sub is None:
            doomed.add(index)
        elif operation.value is None or _same(element.get(sub.name), operation.value):
            _check_immutable(sub, element.get(sub.name), operation)
            element.pop(sub.name, None)
            if sub.name == "value" or not element:
                doomed.add(index)
    return [element for index, element in enumerate(values) if index not in doomed]


def _updated(element: dict[str, Any], operation: DocumentOp) -> dict[str, Any]:
    sub = operation.path.ref.sub_attribute
    if sub is not None:
        _check_immutable(sub, element.get(sub.name), operation)
        return {**element, sub.name: operation.value}
    if operation.op == "replace":
        # "all matching record values SHALL be replaced" (RFC 7644 §3.5.2.3)
        return copy.deepcopy(operation.value)
    return {**element, **operation.value}


def _created(operation: DocumentOp) -> dict[str, Any]:
    """A value for an add/replace whose filter selected nothing, built from the filter's `eq` terms (Entra).

    RFC 7644 §3.5.2.3 answers noTarget here; Entra expects `emails[type eq "work"].value` to create the work
    email, so a filter made only of `eq` comparisons joined by `and` creates the element it describes.
    """
    path = operation.path
    terms = {} if path.value_filter is None else _equality_terms(path.value_filter)
    if terms is None:
        raise NoTarget(f"No value matches '{path}', and the filter does not describe one to create.")
    sub = path.ref.sub_attribute
    return {**terms, **({sub.name: operation.value} if sub else operation.value)}


def _equality_terms(expr: Expr) -> dict[str, Any] | None:
    if isinstance(expr, Compare) and expr.op == "eq" and expr.value is not None:
        value = wire_text(expr.value) if isinstance(expr.value, datetime) else expr.value
        return {expr.ref.target.name: value}
    if isinstance(expr, And):
        left, right = _equality_terms(expr.left), _equality_terms(expr.right)
        return None if left is None or right is None else {**left, **right}
    return None


def _check_immutable(attribute: Attribute, current: Any, operation: DocumentOp) -> None:
    """An immutable attribute may be set while unassigned, never changed (RFC 7643 §7, RFC 7644 §3.5.2)."""
    if attribute.mutability != "immutable" or is_empty(current):
        return
    if operation.op == "remove" or current != operation.value:
        raise Mutability(f"'{operation.path}' is immutable.")


def _listed(element: Any, candidates: list[Any]) -> bool:
    return any(_same(element, candidate) for candidate in candidates)


def _same(stored: Any, given: Any) -> bool:
    """Whether two values are the same value: complex ones by their `value` sub-attribute when they have one."""
    if isinstance(stored, dict) and isinstance(given, dict) and "value" in given:
        return stored.get("value") == given["value"]
    return stored == given


def _first_primary(elements: list[Any]) -> Any:
    return next((element for element in elements if isinstance(element, dict) and element.get("primary") is True), None)


def _prune(value: Any) -> Any:
    """Drop unassigned values (RFC 7643 §2.5) at every level, so the stored-document contract holds."""
    if isinstance(value, dict):
        pruned = {key: _prune(item) for key, item in value.items()}
        return {key: item for key, item in pruned.items() if not is_empty(item)}
    if isinstance(value, list):
        return [item for item in map(_prune, value) if not is_empty(item)]
    return value


def _check_required(resource_type: ResourceType, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    """Per RFC 7644 §3.5.2.2, "If an attribute is removed or becomes unassigned and is defined as a required
    attribute [...]" the answer is scimType "mutability"."""
    for schema in resource_type.schemas:
        old = before if schema is resource_type.schema else before.get(schema.id) or {}
        new = after if schema is resource_type.schema else after.get(schema.id) or {}
        for attribute in schema.attributes:
            if attribute.required and not is_empty(old.get(attribute.name)) and is_empty(new.get(attribute.name)):
                raise Mutability(f"'{attribute.name}' is required and cannot be removed (RFC 7644 §3.5.2.2).")
