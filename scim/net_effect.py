"""Held events collapsed to their net effect: which of them a receiver may be spared, because what they do is undone
within the same held range. Pure: storage.guard reads the held events and records what this drops.

A receiver may read each event as a change (its diff, its members added or removed) or as the resource's state after
it (a webhook message carries the resource as of its event, without its members). The rule drops only what leaves
both readings right, keeps everything else in order, and decides per resource:
- a write that changed nothing (an update with an empty diff) is dropped;
- a resource whose events in the range all cancel is dropped whole: a user whose only events are deactivations and
  reactivations changing `active` alone (an even count, so `active` ends as it was) and attribute updates that end
  where they began (each path's first old value is its last new value, no value redacted, since a redacted value
  hides whether it came back); a group likewise for its attribute updates, once its membership events are dropped;
- membership changes of a group that leave a member as it was (removed and re-added, or added and removed): an event
  is dropped once every member it names cancels, and a member cancels only if every event naming it is dropped, so
  a receiver applying the remaining events in order ends in the same state. A group with a membership event whose
  member ids are incomplete (capped, without the complete list) keeps all of its membership events.
A created or deleted resource, or one with any other event in the range, keeps its events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scim import changes

_TOGGLES = (changes.USER_DEACTIVATED, changes.USER_REACTIVATED)
_MEMBERSHIP = (changes.GROUP_MEMBERS_ADDED, changes.GROUP_MEMBERS_REMOVED)
_UPDATES = (changes.USER_UPDATED, changes.GROUP_UPDATED, changes.GROUP_RENAMED)
_UNASSIGNED = object()  # the side a diff leaves out


@dataclass(frozen=True)
class Held:
    """One held event: its id, kind, resource, diff, and for a membership event the member ids it added or removed
    (`complete` false when those are a capped sample)."""

    id: int
    kind: str
    resource_id: str | None
    diff: Mapping[str, Any] | None
    members: frozenset[str] = frozenset()
    complete: bool = True


def dropped(events: Sequence[Held]) -> set[int]:
    """The ids of the held events (in commit order) a receiver may be spared: see the module's rule."""
    by_resource: dict[str | None, list[Held]] = defaultdict(list)
    for event in events:
        if event.kind != changes.REQUEST_REJECTED:  # a rejected request changed nothing, and no state depends on it
            by_resource[event.resource_id].append(event)
    drops: set[int] = set()
    for resource_events in by_resource.values():
        drops |= _cancelled(resource_events)
    return drops


def _cancelled(events: Sequence[Held]) -> set[int]:
    """One resource's events that may be dropped."""
    drops = {event.id for event in events if event.kind in _UPDATES and not event.diff}
    membership = [event for event in events if event.kind in _MEMBERSHIP]
    if membership and all(event.complete for event in membership):
        drops |= _cancelled_memberships(membership)
    rest = [event for event in events if event.id not in drops]
    toggles = [event for event in rest if event.kind in _TOGGLES]
    updates = [event for event in rest if event.kind in _UPDATES]
    if (len(toggles) + len(updates) == len(rest) and len(toggles) % 2 == 0
            and all(set(event.diff or {}) <= {"active"} for event in toggles) and _ends_where_it_began(updates)):
        drops.update(event.id for event in rest)
    return drops


def _ends_where_it_began(updates: Sequence[Held]) -> bool:
    first: dict[str, Any] = {}
    last: dict[str, Any] = {}
    for event in updates:
        for path, sides in (event.diff or {}).items():
            first.setdefault(path, sides.get("old", _UNASSIGNED))
            last[path] = sides.get("new", _UNASSIGNED)
    return first == last and not _redacted(list(first.values()))


def _redacted(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(_redacted(item) for item in value.values())
    if isinstance(value, list):
        return any(_redacted(item) for item in value)
    return value == changes.REDACTED


def _cancelled_memberships(events: Sequence[Held]) -> set[int]:
    """Membership events of one group: a member's additions and removals alternate, so an even count cancels."""
    naming: dict[str, list[int]] = defaultdict(list)
    for event in events:
        for member in event.members:
            naming[member].append(event.id)
    cancels = {member for member, ids in naming.items() if len(ids) % 2 == 0}
    candidates = {event.id: event for event in events if event.members and event.members <= cancels}
    for _round in range(len(events) + 1):  # each round drops a candidate or ends the loop
        kept = [event for event in candidates.values()
                if any(not set(naming[member]) <= candidates.keys() for member in event.members)]
        if not kept:
            break
        for event in kept:
            del candidates[event.id]
    return set(candidates)
