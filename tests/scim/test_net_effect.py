"""The net-effect rule of a `--net` release: what cancels whole is dropped, everything else is kept."""

from __future__ import annotations

from scim import changes
from scim.net_effect import Held, dropped

ACTIVE_OFF = {"active": {"old": True, "new": False}}
ACTIVE_ON = {"active": {"old": False, "new": True}}


def _members(event_id: int, kind: str, group: str, *ids: str, complete: bool = True) -> Held:
    side = "added" if kind == changes.GROUP_MEMBERS_ADDED else "removed"
    diff = {"members": {side: changes.capped_ids(ids)}}
    return Held(event_id, kind, group, diff, frozenset(ids), complete)


def test_a_deactivation_reverted_by_a_reactivation_is_dropped_with_its_revert() -> None:
    events = [Held(1, changes.USER_DEACTIVATED, "u1", ACTIVE_OFF), Held(2, changes.USER_DEACTIVATED, "u2", ACTIVE_OFF),
              Held(3, changes.USER_REACTIVATED, "u1", ACTIVE_ON)]
    assert dropped(events) == {1, 3}


def test_a_deactivation_reverted_is_kept_when_something_else_changed_meanwhile() -> None:
    # a message carries the user as of its event: the update's shows the user inactive, so the toggles stay
    events = [Held(1, changes.USER_DEACTIVATED, "u1", ACTIVE_OFF),
              Held(2, changes.USER_UPDATED, "u1", {"title": {"old": "a", "new": "b"}}),
              Held(3, changes.USER_REACTIVATED, "u1", ACTIVE_ON)]
    assert dropped(events) == set()


def test_a_deactivation_that_changed_more_than_active_is_kept_with_its_revert() -> None:
    events = [Held(1, changes.USER_DEACTIVATED, "u1", {**ACTIVE_OFF, "title": {"old": "a", "new": "b"}}),
              Held(2, changes.USER_REACTIVATED, "u1", ACTIVE_ON)]
    assert dropped(events) == set()


def test_a_deactivation_reverted_and_repeated_is_kept() -> None:
    events = [Held(1, changes.USER_DEACTIVATED, "u1", ACTIVE_OFF), Held(2, changes.USER_REACTIVATED, "u1", ACTIVE_ON),
              Held(3, changes.USER_DEACTIVATED, "u1", ACTIVE_OFF)]
    assert dropped(events) == set()


def test_a_member_removed_and_added_back_is_dropped_from_both_events() -> None:
    events = [_members(1, changes.GROUP_MEMBERS_REMOVED, "g1", "a", "b"),
              _members(2, changes.GROUP_MEMBERS_ADDED, "g1", "a", "b"),
              _members(3, changes.GROUP_MEMBERS_REMOVED, "g2", "a")]
    assert dropped(events) == {1, 2}


def test_an_event_is_dropped_only_when_its_whole_content_cancels() -> None:
    # b's removal stands, so the event removing a and b is kept, and so is a's re-addition (a receiver applying the
    # kept events in order must end with a in the group)
    events = [_members(1, changes.GROUP_MEMBERS_REMOVED, "g1", "a", "b"),
              _members(2, changes.GROUP_MEMBERS_ADDED, "g1", "a"),
              _members(3, changes.GROUP_MEMBERS_ADDED, "g1", "c"),
              _members(4, changes.GROUP_MEMBERS_REMOVED, "g1", "c")]
    assert dropped(events) == {3, 4}


def test_a_group_with_incomplete_member_ids_keeps_its_membership_events() -> None:
    events = [_members(1, changes.GROUP_MEMBERS_REMOVED, "g1", "a", complete=False),
              _members(2, changes.GROUP_MEMBERS_ADDED, "g1", "a")]
    assert dropped(events) == set()


def test_writes_that_changed_nothing_are_dropped_and_everything_else_is_kept() -> None:
    events = [Held(1, changes.GROUP_UPDATED, "g1", {}), Held(2, changes.USER_UPDATED, "u1", {}),
              Held(3, changes.USER_UPDATED, "u1", {"title": {"new": "x"}}), Held(4, changes.USER_DELETED, "u2", None),
              Held(5, changes.GROUP_DELETED, "g2", None), Held(6, changes.USER_CREATED, "u3", {"userName": {}})]
    assert dropped(events) == {1, 2}


def test_attribute_updates_that_end_where_they_began_are_dropped() -> None:
    events = [Held(1, changes.USER_UPDATED, "u1", {"title": {"old": "a", "new": "b"}}),
              Held(2, changes.USER_UPDATED, "u1", {"title": {"old": "b", "new": "a"}, "nickName": {"new": "n"}}),
              Held(3, changes.USER_UPDATED, "u1", {"nickName": {"old": "n"}}),
              Held(4, changes.GROUP_RENAMED, "g1", {"displayName": {"old": "A", "new": "B"}}),
              Held(5, changes.GROUP_RENAMED, "g1", {"displayName": {"old": "B", "new": "A"}})]
    assert dropped(events) == {1, 2, 3, 4, 5}


def test_attribute_updates_that_end_elsewhere_or_redacted_are_kept() -> None:
    events = [Held(1, changes.USER_UPDATED, "u1", {"title": {"old": "a", "new": "b"}}),
              Held(2, changes.USER_UPDATED, "u1", {"title": {"old": "b", "new": "c"}}),
              Held(3, changes.USER_UPDATED, "u2", {"secret": {"old": changes.REDACTED, "new": changes.REDACTED}}),
              Held(4, changes.USER_UPDATED, "u2", {"secret": {"old": changes.REDACTED, "new": changes.REDACTED}}),
              Held(5, changes.USER_UPDATED, "u3", {"title": {"old": "a", "new": "b"}})]
    assert dropped(events) == set()


def test_a_rename_reverted_is_kept_while_a_membership_change_of_the_group_stands() -> None:
    events = [Held(1, changes.GROUP_RENAMED, "g1", {"displayName": {"old": "A", "new": "B"}}),
              _members(2, changes.GROUP_MEMBERS_REMOVED, "g1", "a"),
              Held(3, changes.GROUP_RENAMED, "g1", {"displayName": {"old": "B", "new": "A"}}),
              _members(4, changes.GROUP_MEMBERS_ADDED, "g1", "b"),
              _members(5, changes.GROUP_MEMBERS_REMOVED, "g1", "b")]
    assert dropped(events) == {4, 5}


def test_a_created_or_deleted_resource_keeps_its_events() -> None:
    events = [Held(1, changes.USER_CREATED, "u1", {"userName": {"new": "x"}}),
              Held(2, changes.USER_DEACTIVATED, "u1", ACTIVE_OFF), Held(3, changes.USER_REACTIVATED, "u1", ACTIVE_ON),
              Held(4, changes.USER_DEACTIVATED, "u2", ACTIVE_OFF), Held(5, changes.USER_REACTIVATED, "u2", ACTIVE_ON),
              Held(6, changes.USER_DELETED, "u2", None), Held(7, changes.REQUEST_REJECTED, "u3", None)]
    assert dropped(events) == set()
