"""What a write changed, as the activity log and change feed tell it: event kinds, the document diff, redaction and
a group's member delta. Pure: storage persists what this decides, and the one event row built in SQL
(storage.group_patch) is checked against it by a differential test.

A user write is one event; a group write is one event per kind of change (at least one). Member ids in an event's
diff are capped at MEMBER_IDS_SHOWN, sorted in code-point order, with the full count beside them, so a 10,000-member
PUT stays a small row. Each event also carries a `snapshot` of the resource as of the event (`snapshot`), for
webhook messages: a consumer applies it idempotently and drops one older than what it holds.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scim.patch import MemberStep
from scim.schemas import USER, Attribute, ResourceType

USER_CREATED = "user.created"
USER_UPDATED = "user.updated"
USER_DEACTIVATED = "user.deactivated"
USER_REACTIVATED = "user.reactivated"
USER_DELETED = "user.deleted"
GROUP_CREATED = "group.created"
GROUP_UPDATED = "group.updated"  # attributes other than displayName and members, or a write that changed nothing
GROUP_RENAMED = "group.renamed"
GROUP_MEMBERS_ADDED = "group.members_added"
GROUP_MEMBERS_REMOVED = "group.members_removed"
GROUP_DELETED = "group.deleted"
REQUEST_REJECTED = "request.rejected"
TENANT_HELD = "tenant.held"  # the mass-deprovisioning guard tripped (storage.guard); its diff is the hold's summary
TENANT_RELEASED = "tenant.released"  # a hold was released
KINDS = (
    USER_CREATED, USER_UPDATED, USER_DEACTIVATED, USER_REACTIVATED, USER_DELETED, GROUP_CREATED, GROUP_UPDATED,
    GROUP_RENAMED, GROUP_MEMBERS_ADDED, GROUP_MEMBERS_REMOVED, GROUP_DELETED, REQUEST_REJECTED, TENANT_HELD,
    TENANT_RELEASED,
)
# The guard's own events: in the activity log, never delivered as changes (a hold is its own message).
GUARD_KINDS = (TENANT_HELD, TENANT_RELEASED)

REDACTED = "[redacted]"
MEMBER_IDS_SHOWN = 20


@dataclass(frozen=True)
class Change:
    """One event kind with its compact diff."""

    kind: str
    diff: dict[str, Any]


@dataclass(frozen=True)
class MemberDelta:
    """What a write did to a group's membership: the member ids it really added and removed, and those it skipped
    (not users of the tenant; groups do not nest)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetSteps:
    """PATCH membership steps folded into one delta: whether the membership is cleared first, then ids to add and
    to remove."""

    cleared: bool
    adds: list[str]
    removes: list[str]


def net_steps(steps: Iterable[MemberStep]) -> NetSteps:
    """Fold ordered steps: the last step naming an id wins, and a "clear" forgets every step before it, so the
    result equals applying the steps one by one."""
    cleared = False
    last: dict[str, bool] = {}
    for step in steps:
        if step.action == "clear":
            cleared = True
            last.clear()
        for member_id in step.ids:
            last[member_id] = step.action == "add"
    adds = [member_id for member_id, added in last.items() if added]
    return NetSteps(cleared, adds, [member_id for member_id, added in last.items() if not added])


def on_create(
    resource_type: ResourceType, doc: Mapping[str, Any], password_set: bool = False, members: MemberDelta | None = None
) -> list[Change]:
    """`user.created` / `group.created` with every attribute set, the password redacted, the members summarised."""
    diff = document_diff(resource_type, {}, doc)
    if password_set:
        diff["password"] = {"new": REDACTED}
    if members is not None and (members.added or members.skipped):
        diff["members"] = _member_summary(members.added, members.skipped)
    return [Change(f"{resource_type.name.lower()}.created", diff)]


def on_update(
    resource_type: ResourceType,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    password_set: bool = False,
    members: MemberDelta | None = None,
) -> list[Change]:
    """The events of one PUT or PATCH: a user's is one event, a group's one per kind of change (at least one)."""
    diff = document_diff(resource_type, before, after)
    if password_set:
        diff["password"] = {"new": REDACTED}
    if resource_type.name == USER.name:
        return [Change(_user_kind(before, after), diff)]
    return _group_changes(diff, members)


def _user_kind(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """Deactivation and reactivation are events of their own (an unset `active` counts as active)."""
    was_active, is_active = before.get("active") is not False, after.get("active") is not False
    if was_active != is_active:
        return USER_REACTIVATED if is_active else USER_DEACTIVATED
    return USER_UPDATED


def group_document_changes(
    resource_type: ResourceType, before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[Change]:
    """The events of a group write's document alone: `group.renamed`, `group.updated` (none if it is unchanged)."""
    return _group_document_changes(document_diff(resource_type, before, after))


def _group_document_changes(diff: dict[str, Any]) -> list[Change]:
    changes = []
    renamed = diff.pop("displayName", None)
    if renamed:
        changes.append(Change(GROUP_RENAMED, {"displayName": renamed}))
    if diff:
        changes.append(Change(GROUP_UPDATED, diff))
    return changes


def _group_changes(diff: dict[str, Any], members: MemberDelta | None) -> list[Change]:
    """The document's events, then the membership's, or `group.updated` with an empty diff when nothing changed."""
    changes = _group_document_changes(diff)
    if members is not None and (members.added or members.skipped):
        changes.append(Change(GROUP_MEMBERS_ADDED, {"members": _member_summary(members.added, members.skipped)}))
    if members is not None and members.removed:
        changes.append(Change(GROUP_MEMBERS_REMOVED, {"members": {"removed": capped_ids(members.removed)}}))
    return changes or [Change(GROUP_UPDATED, {})]


def _member_summary(added: Collection[str], skipped: Collection[str]) -> dict[str, Any]:
    summary = {"added": capped_ids(added)}
    if skipped:
        summary["skipped"] = capped_ids(skipped)
    return summary


def snapshot(
    kind: str, resource: Mapping[str, Any] | None, version: str, members: MemberDelta | None = None
) -> dict[str, Any]:
    """An event's snapshot: `version`, the resource's ETag after the write (W/"n"); `resource`, its representation
    after the write as a GET returns it but without `meta.location` (it depends on the base URL a request used), a
    user's `groups` and a group's `members` (a member list per event would cost O(group size)); and for
    `group.created`, `group.members_added` and `group.members_removed`, `members`: the complete lists of the member
    ids the event's write really added and removed, each in code-point order, uncapped (a create's is its initial
    membership, `removed` empty; an event of one kind leaves the other list empty).

    A deletion's `resource` is None and its `version` the one the resource had when it was deleted (its DELETE
    returns it)."""
    taken: dict[str, Any] = {"version": version, "resource": resource}
    if members is not None and kind in _MEMBER_KINDS:
        added, removed = kind != GROUP_MEMBERS_REMOVED, kind == GROUP_MEMBERS_REMOVED
        taken["members"] = {"added": sorted(members.added) if added else [],
                            "removed": sorted(members.removed) if removed else []}
    return taken


_MEMBER_KINDS = frozenset({GROUP_CREATED, GROUP_MEMBERS_ADDED, GROUP_MEMBERS_REMOVED})


def capped_ids(ids: Collection[str]) -> dict[str, Any]:
    """The first MEMBER_IDS_SHOWN ids in code-point order and the full count."""
    return {"ids": sorted(ids)[:MEMBER_IDS_SHOWN], "count": len(ids)}


def document_diff(
    resource_type: ResourceType, before: Mapping[str, Any], after: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """{path: {"old": …, "new": …}} for each attribute path whose value changed (a side is left out when unassigned).

    Paths are `name.givenName`, `emails` (multi-valued attributes compare as a whole) and
    `urn:…:enterprise:2.0:User:department`. Values of attributes that are `returned: never` (RFC 7643 §7, e.g.
    `password`) are replaced by REDACTED, as the schema data says, wherever they occur.
    """
    old, new = _flatten(resource_type, before), _flatten(resource_type, after)
    diff = {}
    for path in sorted(old.keys() | new.keys()):
        if old.get(path) != new.get(path):
            sides = {name: flat[path] for name, flat in (("old", old), ("new", new)) if path in flat}
            diff[path] = {name: _redact(resource_type, path, value) for name, value in sides.items()}
    return diff


def _flatten(resource_type: ResourceType, doc: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        schema = resource_type.schema_by_urn(key)
        if schema is not None and isinstance(value, Mapping):
            for name, item in value.items():
                _put(flat, f"{schema.id}:{name}", item)
        else:
            _put(flat, key, value)
    return flat


def _put(flat: dict[str, Any], path: str, value: Any) -> None:
    """A singular complex attribute becomes one path per sub-attribute."""
    if isinstance(value, Mapping):
        flat.update((f"{path}.{name}", item) for name, item in value.items())
    else:
        flat[path] = value


def _redact(resource_type: ResourceType, path: str, value: Any) -> Any:
    ref = resource_type.resolve_path(path)
    if ref is None:
        return value
    if ref.attribute.returned == "never" or (ref.sub_attribute and ref.sub_attribute.returned == "never"):
        return REDACTED
    return _redact_subs(ref.attribute, value) if ref.sub_attribute is None else value


def _redact_subs(attribute: Attribute, value: Any) -> Any:
    """Elements of a multi-valued complex attribute keep their sub-attributes, minus the never-returned ones."""
    hidden = {sub.name.lower() for sub in attribute.sub_attributes if sub.returned == "never"}
    if not hidden or not isinstance(value, list):
        return value
    return [{key: REDACTED if key.lower() in hidden else item for key, item in element.items()}
            if isinstance(element, Mapping) else element for element in value]
