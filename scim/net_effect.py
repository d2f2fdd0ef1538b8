"""Held events collapsed to their net effect: which of them a receiver may be spared, because what they do is undone
within the same held range. Pure: storage.guard reads the held events and records what this drops.

The rule keeps every event whose effect stands, in its order, and drops only what cancels whole:
- a write that changed nothing (an update with an empty diff);
- a user's deactivations and reactivations, when they change `active` alone and leave it as it was (an even count);
- membership changes of a group that leave a member as it was (removed and re-added, or added and removed): an
  event is dropped once every member it names cancels, and a member cancels only if every event naming it is
  dropped, so a receiver applying the remaining events in order ends in the same state. A group with a membership
  event whose member ids are incomplete (capped, without the complete list) keeps all of its membership events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scim import changes

_TOGGLES = (changes.USER_DEACTIVATED, changes.USER_REACTIVATED)
_MEMBERSHIP = (changes.GROUP_MEMBERS_ADDED, changes.GROUP_MEMBERS_REMOVED)
_UPDATES = (changes.USER_UPDATED, changes.GROUP_UPDATED)


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
    """The ids of the held events (in commit order) whose effect the later ones undo: see the module's rule."""
    drops = {event.id for event in events if event.kind in _UPDATES and not event.diff}
    drops |= _reverted_toggles(events)
    drops |= _cancelled_memberships(events)
    return drops


def _reverted_toggles(events: Sequence[Held]) -> set[int]:
    by_user: dict[str | None, list[Held]] = defaultdict(list)
    for event in events:
        if event.kind in _TOGGLES:
            by_user[event.resource_id].append(event)
    drops: set[int] = set()
    for toggles in by_user.values():
        # deactivation and reactivation alternate, so an even count leaves `active` as it was
        if len(toggles) % 2 == 0 and all(set(event.diff or {}) <= {"active"} for event in toggles):
            drops.update(event.id for event in toggles)
    return drops


def _cancelled_memberships(events: Sequence[Held]) -> set[int]:
    by_group: dict[str | None, list[Held]] = defaultdict(list)
    for event in events:
        if event.kind in _MEMBERSHIP:
            by_group[event.resource_id].append(event)
    drops: set[int] = set()
    for group_events in by_group.values():
        if all(event.complete for event in group_events):
            drops |= _cancelled_in_group(group_events)
    return drops


def _cancelled_in_group(events: Sequence[Held]) -> set[int]:
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
