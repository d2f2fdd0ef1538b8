"""A group's row: how it is read into a `StoredGroup`, how a document fills its columns, and the statements every
group write shares (storage.groups, storage.group_patch)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from scim.changes import MemberDelta
from scim.errors import NotFound, Uniqueness
from scim.versions import etag
from storage import documents
from storage.models import groups_table
from storage.prepared import Prepared

_groups = groups_table.c
COLUMNS = (_groups.id, _groups.doc, _groups.created, _groups.last_modified, _groups.version)
BY_ID = _groups.tenant_id == bindparam("tenant_id"), _groups.id == bindparam("group_id")
DOCUMENT_COLUMNS = ("display_name", "display_name_key", "external_id", "doc")
# Read, and read for update.
GET = (Prepared(select(*COLUMNS).where(*BY_ID)),
       Prepared(select(*COLUMNS).where(*BY_ID).with_for_update(of=groups_table)))
# The write of a changed group: its new columns (any of DOCUMENT_COLUMNS) and lastModified, the version bumped.
UPDATE = Prepared(
    update(groups_table).where(_groups.tenant_id == bindparam("tenant_id_"), _groups.id == bindparam("group_id_"))
    .values(version=_groups.version + 1).returning(_groups.version)
)


NO_MEMBER_CHANGE = MemberDelta()


@dataclasses.dataclass(frozen=True)
class StoredGroup:
    """A group row, with what the write that produced it did to its membership."""

    id: str
    doc: dict[str, Any]
    created: datetime
    last_modified: datetime
    version: int
    member_delta: MemberDelta = NO_MEMBER_CHANGE

    @property
    def etag(self) -> str:
        return etag(self.version)


def stored(row: Sequence[Any]) -> StoredGroup:
    """A row of the COLUMNS: id, doc, created, last_modified, version."""
    return StoredGroup(row[0], row[1], row[2], row[3], row[4])


def document_columns(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The indexed copies of document attributes (see docs/design.md); displayName is case-insensitive."""
    display_name = doc["displayName"]
    return {
        "display_name": display_name,
        "display_name_key": display_name.lower(),
        "external_id": doc.get("externalId"),
        "doc": dict(doc),
    }


def taken(display_name: str) -> Uniqueness:
    return Uniqueness(f"A group with displayName {display_name!r} already exists (displayName is case-insensitive).")


def get(executor: Session | Connection, tenant_id: int, group_id: str, *, for_update: bool = False) -> StoredGroup:
    if not documents.is_id(group_id):
        raise NotFound(f"Group {group_id} not found.")
    row = GET[for_update].first(executor, {"tenant_id": tenant_id, "group_id": group_id})
    if row is None:
        raise NotFound(f"Group {group_id} not found.")
    return stored(row)
