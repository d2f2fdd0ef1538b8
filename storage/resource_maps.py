"""Where each resource type's attributes are stored: promoted columns, child tables, and the JSON `doc` column."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Table

from scim.schemas import ResourceType
from storage.models import Group, GroupMember, User, UserEmail


@dataclass(frozen=True)
class Promoted:
    """A column holding an attribute's value; `lowered` when it holds it lower-cased by Python (a `*_key` column)."""

    column: str
    lowered: bool = False


@dataclass(frozen=True)
class Child:
    """A multi-valued complex attribute kept as rows of another table, one row per value."""

    table: Table
    owner: str  # the column holding the resource's id
    columns: Mapping[str, Promoted]  # sub-attribute name → column
    # Sub-attributes derived alike for every value (None: not comparable in SQL, e.g. a `$ref` built from the URL).
    constants: Mapping[str, str | None] = field(default_factory=dict)
    position: str | None = None  # the values' order, for "the first value" (RFC 7644 §3.4.2.3)


@dataclass(frozen=True, eq=False)  # one per resource type (_MAPS): compared and hashed as itself
class ResourceMap:
    """Where one resource type's attributes are stored; anything not named here is in the JSON `doc` column.

    `promoted` and `children` are keyed by the dotted name of a core or common attribute (`userName`, `meta.created`,
    `emails`); extension attributes always live in the document, under their schema URN.
    """

    name: str
    table: Table
    promoted: Mapping[str, Promoted]
    children: Mapping[str, Child] = field(default_factory=dict)
    hidden: tuple[str, ...] = ()  # columns a search never returns

    def columns(self) -> list[Column[Any]]:
        """The columns a search returns by default: all but the hidden ones."""
        return [col for col in self.table.c if col.name not in self.hidden]


_COMMON = {
    "id": Promoted("id"),
    "externalId": Promoted("external_id"),
    "meta.created": Promoted("created"),
    "meta.lastModified": Promoted("last_modified"),
}

USERS = ResourceMap(
    "User",
    User.__table__,
    promoted={
        **_COMMON,
        "userName": Promoted("user_name_key", lowered=True),
        "displayName": Promoted("display_name"),
        "active": Promoted("active"),
    },
    children={
        "emails": Child(
            UserEmail.__table__,
            "user_id",
            {
                "value": Promoted("value_key", lowered=True),
                "type": Promoted("type"),
                "primary": Promoted("primary"),
                "display": Promoted("display"),
            },
            position="position",
        ),
        "groups": Child(
            GroupMember.__table__, "member_id", {"value": Promoted("group_id")}, {"type": "direct", "$ref": None}
        ),
    },
    hidden=("password_hash",),
)

GROUPS = ResourceMap(
    "Group",
    Group.__table__,
    promoted={**_COMMON, "displayName": Promoted("display_name_key", lowered=True)},
    children={
        "members": Child(
            GroupMember.__table__, "group_id", {"value": Promoted("member_id")}, {"type": "User", "$ref": None}
        )
    },
)

_MAPS = {resources.name: resources for resources in (USERS, GROUPS)}


def resource_map(resource_type: ResourceType) -> ResourceMap:
    """The storage map of a resource type."""
    try:
        return _MAPS[resource_type.name]
    except KeyError:
        raise ValueError(f"No table stores {resource_type.name} resources.") from None
