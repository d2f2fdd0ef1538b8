"""What the guard counts, and its sliding window."""

from __future__ import annotations

from scim import changes
from scim.deprovisions import Window, deprovisions


def test_deactivations_deletions_and_removed_members_count() -> None:
    assert deprovisions(changes.USER_DEACTIVATED, {"active": {}}) == 1
    assert deprovisions(changes.USER_DELETED, None) == 1
    assert deprovisions(changes.GROUP_DELETED, None) == 1
    removed = {"members": {"removed": changes.capped_ids([f"u{index}" for index in range(30)])}}
    assert deprovisions(changes.GROUP_MEMBERS_REMOVED, removed) == 30
    for kind in (changes.USER_CREATED, changes.USER_UPDATED, changes.USER_REACTIVATED, changes.GROUP_MEMBERS_ADDED,
                 changes.REQUEST_REJECTED):
        assert deprovisions(kind, {}) == 0


def test_the_window_forgets_what_occurred_before_its_span() -> None:
    window = Window(60)
    assert window.add({"id": 1, "at": 0.0, "n": 5, "kind": changes.USER_DELETED}) == 5
    assert window.add({"id": 2, "at": 30.0, "n": 2, "kind": changes.USER_DEACTIVATED}) == 7
    assert window.add({"id": 3, "at": 61.0, "n": 1, "kind": changes.USER_DEACTIVATED}) == 3
    assert window.counts() == {changes.USER_DEACTIVATED: 3}
    assert window.current(100.0) == 1
