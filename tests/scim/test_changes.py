"""What a write changed, as the activity log tells it (scim.changes): kinds, diffs, redaction, member summaries."""

from __future__ import annotations

from scim import changes
from scim.changes import REDACTED, Change, MemberDelta
from scim.schemas import DEFAULT_REGISTRY, ENTERPRISE_USER_URN, GROUP, USER, Schema

ENTERPRISE = ENTERPRISE_USER_URN


def test_a_deactivation_is_one_event_of_its_own_not_an_update() -> None:
    before = {"userName": "ann", "active": True, "title": "Dev"}
    [change] = changes.on_update(USER, before, {**before, "active": False, "title": "Lead"})
    assert change == Change(changes.USER_DEACTIVATED, {"active": {"old": True, "new": False},
                                                      "title": {"old": "Dev", "new": "Lead"}})
    [change] = changes.on_update(USER, {**before, "active": False}, before)
    assert change.kind == changes.USER_REACTIVATED


def test_other_user_changes_are_an_update_listing_the_attribute_paths() -> None:
    before = {"userName": "ann", "name": {"givenName": "Ann", "familyName": "Lee"}, "active": True,
              "emails": [{"value": "ann@x", "primary": True}], ENTERPRISE: {"department": "R&D"}}
    after = {"userName": "ann", "name": {"givenName": "Anne", "familyName": "Lee"}, "active": True,
             "emails": [{"value": "anne@x", "primary": True}], ENTERPRISE: {"department": "Ops", "costCenter": "7"}}
    [change] = changes.on_update(USER, before, after)
    assert change.kind == changes.USER_UPDATED
    assert change.diff == {
        "emails": {"old": [{"value": "ann@x", "primary": True}], "new": [{"value": "anne@x", "primary": True}]},
        "name.givenName": {"old": "Ann", "new": "Anne"},
        f"{ENTERPRISE}:costCenter": {"new": "7"},
        f"{ENTERPRISE}:department": {"old": "R&D", "new": "Ops"},
    }


def test_a_new_password_is_in_the_diff_only_as_redacted() -> None:
    [change] = changes.on_update(USER, {"userName": "ann"}, {"userName": "ann"}, password_set=True)
    assert change == Change(changes.USER_UPDATED, {"password": {"new": REDACTED}})
    [created] = changes.on_create(USER, {"userName": "ann"}, password_set=True)
    assert created.diff == {"userName": {"new": "ann"}, "password": {"new": REDACTED}}


def test_attributes_the_schema_never_returns_are_redacted_wherever_they_are() -> None:
    pin_urn = "urn:example:params:scim:schemas:extension:kiosk:2.0:User"
    kiosk = Schema.from_dict({"id": pin_urn, "name": "Kiosk", "attributes": [
        {"name": "pin", "type": "string", "mutability": "writeOnly", "returned": "never"},
        {"name": "badges", "type": "complex", "multiValued": True, "subAttributes": [
            {"name": "value", "type": "string"}, {"name": "secret", "type": "string", "returned": "never"}]},
    ]})
    user_type = DEFAULT_REGISTRY.with_extensions([("User", kiosk)]).by_name("User")
    after = {"userName": "ann", pin_urn: {"pin": "4711", "badges": [{"value": "b1", "secret": "s3cr3t"}]}}
    [change] = changes.on_create(user_type, after)
    assert change.diff[f"{pin_urn}:pin"] == {"new": REDACTED}
    assert change.diff[f"{pin_urn}:badges"] == {"new": [{"value": "b1", "secret": REDACTED}]}
    assert "4711" not in str(change) and "s3cr3t" not in str(change)


def test_a_group_write_is_one_event_per_kind_of_change_with_capped_member_lists() -> None:
    added = [f"u{index:03}" for index in range(50)]
    group_changes = changes.on_update(GROUP, {"displayName": "Eng"}, {"displayName": "Engineering"},
                                       members=MemberDelta(added=added, removed=["x"], skipped=["ghost"]))
    assert [change.kind for change in group_changes] == [changes.GROUP_RENAMED, changes.GROUP_MEMBERS_ADDED,
                                                   changes.GROUP_MEMBERS_REMOVED]
    assert group_changes[0].diff == {"displayName": {"old": "Eng", "new": "Engineering"}}
    assert group_changes[1].diff == {"members": {"added": {"ids": added[:changes.MEMBER_IDS_SHOWN], "count": 50},
                                           "skipped": {"ids": ["ghost"], "count": 1}}}
    assert group_changes[2].diff == {"members": {"removed": {"ids": ["x"], "count": 1}}}


def test_a_group_write_that_changes_nothing_is_still_logged() -> None:
    assert changes.on_update(GROUP, {"displayName": "Eng"}, {"displayName": "Eng"}) == [
        Change(changes.GROUP_UPDATED, {})]


def test_a_snapshot_holds_the_version_the_resource_and_a_membership_events_own_ids_uncapped() -> None:
    resource = {"schemas": [GROUP.schema.id], "id": "g", "displayName": "Staff"}
    ids = [f"u{index:03d}" for index in range(50, 0, -1)] + ["Zed", "_x", "a-b"]
    delta = MemberDelta(added=tuple(ids), removed=("b", "A"), skipped=("ghost",))
    assert changes.snapshot(changes.GROUP_RENAMED, resource, 'W/"2"', delta) == {
        "version": 'W/"2"', "resource": resource}
    added = changes.snapshot(changes.GROUP_MEMBERS_ADDED, resource, 'W/"2"', delta)
    assert added["members"] == {"added": sorted(ids), "removed": []}
    assert added["members"]["added"][:3] == ["Zed", "_x", "a-b"]  # code-point order, all of them
    assert changes.snapshot(changes.GROUP_MEMBERS_REMOVED, resource, 'W/"2"', delta)["members"] == {
        "added": [], "removed": ["A", "b"]}
    assert changes.snapshot(changes.GROUP_CREATED, resource, 'W/"1"', MemberDelta())["members"] == {
        "added": [], "removed": []}
    assert changes.snapshot(changes.USER_DELETED, None, 'W/"7"') == {"version": 'W/"7"', "resource": None}
