"""PostgreSQL: a group PATCH in one round trip that also commits it, for a request outside a transaction.

The group's row is locked first (its own statement, so the write's snapshot is taken once the lock is granted and
a PATCH that waited for another sees that one's members), then one statement writes the members, the document and
the version and inserts the events, all in psycopg's pipeline: one implicit transaction. Membership steps alone
(Okta's and Entra's group push) need no read before it; document operations and an If-Match apply to the group as the
request's reads see it, and the write happens only if it is still at that version. A PATCH that clears the
membership (remove all, replace) is not made here: storage.groups makes it in a transaction, and so is a PATCH of
a group whose resource type has attributes a GET leaves out (`returned: request` or `never` in a tenant's extension),
whose snapshots SQL does not render.

The events and their snapshots are built in SQL by the rules of scim.changes (`_event_rows`, `_with_snapshots`);
tests/storage/test_group_patch.py checks that both give the same events and snapshots, on PostgreSQL, in CI.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Connection,
    Integer,
    String,
    bindparam,
    case,
    cast,
    collate,
    column,
    delete,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError

from scim import changes
from scim.errors import ScimError
from scim.patch import Patch, apply
from scim.projection import Projection
from scim.schemas import GROUP, ResourceType
from storage import documents, events, group_rows
from storage.connections import autocommits
from storage.events import Origin
from storage.group_rows import BY_ID, COLUMNS, DOCUMENT_COLUMNS, StoredGroup
from storage.memberships import in_ids, reported
from storage.models import User, group_members_table, groups_table, utcnow
from storage.prepared import Prepared

_groups = groups_table.c


def patch(
    connection: Connection, tenant_id: int, resource_type: ResourceType, group_id: str, operations: Patch,
    if_match: str | None, origin: Origin,
) -> StoredGroup | None:
    """The PATCH made and committed in one round trip; None, with nothing written, when it cannot be made so (not
    outside a transaction, a clear, attributes a GET leaves out, the group moved on, or the If-Match or an operation
    fails against the snapshot): the caller makes it in a transaction, where any error is raised."""
    net = changes.net_steps(operations.member_steps)
    if not autocommits(connection) or net.cleared or not Projection.parse(resource_type, None, None).keeps_all:
        return None
    params: dict[str, Any] = {
        **events.event_params(events.entry(origin, changes.GROUP_UPDATED, 200, GROUP.name, group_id)),
        "tenant_id": tenant_id, "group_id": group_id, "add_ids": net.adds, "remove_ids": net.removes,
        "version": None, "last_modified": utcnow(), "changes": [],
        "schema_urns": [resource_type.schema.id, *resource_type.extension_urns()],
    }
    doc = None
    if operations.document_ops or if_match is not None:
        current = group_rows.get(connection, tenant_id, group_id)  # NotFound: no group by that id, locked or not
        try:
            documents.check_version(GROUP.name, current, if_match)
            doc = apply(operations, current.doc)
        except ScimError:
            return None
        params["version"] = current.version
        params["changes"] = [{"kind": change.kind, "diff": change.diff, "position": position} for position, change
                             in enumerate(changes.group_document_changes(resource_type, current.doc, doc), 1)]
        if doc == current.doc:
            doc = None
        else:
            params.update(group_rows.document_columns(doc))
    before = [(_PLANNED_ONCE, {}), (group_rows.GET[True], {"tenant_id": tenant_id, "group_id": group_id})]
    try:
        rows = _STATEMENTS[doc is not None].after(connection, before, params)
    except IntegrityError as error:
        if doc is None:
            raise
        raise group_rows.taken(doc["displayName"]) from error
    if not rows:
        return None
    [row] = rows
    events.written(row.event_kinds)
    delta = changes.MemberDelta(tuple(row.added), tuple(row.removed), reported(tenant_id, group_id, row.skipped))
    if row.new_version is None:
        return StoredGroup(row.id, row.doc, row.created, row.last_modified, row.version, delta)
    return StoredGroup(row.id, doc if doc is not None else row.doc, row.created, params["last_modified"],
                       row.new_version, delta)


def _statement(writes_document: bool) -> Prepared:
    """The PATCH as one statement, run after `_PLANNED_ONCE` and the read for update: its membership steps (ids to
    add, `add_ids`, and to remove, `remove_ids`), its document if `writes_document` (the document columns'
    parameters), the version bump if either changed anything, and its events. Only if the group is at `version`
    (NULL: any). `locked` reads the group (its row lock already held), and every write reads it, so none writes
    without it; then the users to add are locked FOR KEY SHARE (as storage.memberships does), the members deleted and
    inserted with RETURNING, `delta` gathers what they did, the version is bumped, and the events are inserted under
    the commit-order lock, taken once all of that is done. Returns one row, the group as read, what the write did
    (added, removed, skipped), if it changed the group, its new version, and the kinds of the events it inserted
    (`event_kinds`); no row if the group is not there at that version."""
    members, tenant, group = group_members_table.c, bindparam("tenant_id"), bindparam("group_id", type_=String)
    locked = (select(*COLUMNS).where(*BY_ID, _groups.version == func.coalesce(bindparam("version", type_=Integer),
                                                                                _groups.version))
              .cte("locked").prefix_with("MATERIALIZED"))
    known = (select(User.id).select_from(locked)
             .where(User.tenant_id == tenant, in_ids("postgresql", User.id, "add_ids"))
             .with_for_update(read=True, key_share=True, of=User).cte("known"))
    # The (group, member) pairs to delete, from the ids: a plan made for any group probes each pair, where one of
    # `group_id = :group_id AND member_id = ANY(:remove_ids)` scans the group when the statistics say groups are small.
    pairs = select(group, func.unnest(bindparam("remove_ids", type_=postgresql.ARRAY(String))))
    removed = (delete(group_members_table)
               .where(tuple_(members.group_id, members.member_id).in_(pairs), members.tenant_id == tenant,
                      select(locked.c.id).exists())
               .returning(members.member_id).cte("removed"))
    added = (postgresql.insert(group_members_table)
             .from_select(["group_id", "member_id", "tenant_id"], select(group, known.c.id, tenant))
             .on_conflict_do_nothing().returning(members.member_id).cte("added"))
    requested = func.unnest(bindparam("add_ids", type_=postgresql.ARRAY(String))).table_valued(
        "id", with_ordinality="position").render_derived()
    skipped = (select(requested.c.id).select_from(locked, requested)
               .where(~select(known.c.id).where(known.c.id == requested.c.id).exists())
               .order_by(requested.c.position))
    delta = select(
        select(func.count()).select_from(locked).scalar_subquery().label("applied"),
        func.array(select(added.c.member_id).scalar_subquery()).label("added"),
        func.array(select(removed.c.member_id).scalar_subquery()).label("removed"),
        func.array(skipped.scalar_subquery()).label("skipped"),
    ).cte("delta")
    written = {name: bindparam(name, type_=_groups[name].type)
               for name in ("last_modified", *(DOCUMENT_COLUMNS if writes_document else ()))}
    changed = true() if writes_document else or_(func.cardinality(delta.c.added) > 0,
                                                  func.cardinality(delta.c.removed) > 0)
    bumped = (update(groups_table).where(*BY_ID, delta.c.applied > 0, changed)
              .values({**written, "version": _groups.version + 1})
              .returning(_groups.version.label("new_version")).cte("bumped"))
    settled = (select(*locked.c, delta.c.added, delta.c.removed, delta.c.skipped, *bumped.c)
               .select_from(locked.join(delta, true()).outerjoin(bumped, true())).cte("settled"))
    doc = written["doc"] if writes_document else settled.c.doc
    logged = events.with_events(_with_snapshots(_event_rows(delta), settled, doc, written["last_modified"]), settled)
    kinds = func.array(select(logged.c.kind).scalar_subquery()).label("event_kinds")
    return Prepared(select(settled, kinds))


def _event_rows(delta: CTE) -> CTE:
    """The events of the write as rows (kind, diff, position), by the rules of `scim.changes.on_update`: the
    document's (`scim.changes.group_document_changes`, given as the `changes` parameter, a JSON list of {kind, diff,
    position}, at most two: positions 1 and 2), then the membership's from `delta`, a one-row CTE of the ids the write
    `added`, `removed` and `skipped` (text[] columns); `group.updated` with an empty diff when none changed."""
    document_changes = (func.jsonb_to_recordset(bindparam("changes", type_=JSONB))
                        .table_valued(column("kind", String), column("diff", JSONB), column("position", Integer))
                        .render_derived(with_types=True))
    added, removed, skipped = (func.cardinality(delta.c[name]) > 0 for name in ("added", "removed", "skipped"))
    members_added = func.jsonb_build_object("added", _capped_ids(delta.c.added)).op("||")(
        case((skipped, func.jsonb_build_object("skipped", _capped_ids(delta.c.skipped))),
             else_=func.jsonb_build_object()))
    members_removed = func.jsonb_build_object("removed", _capped_ids(delta.c.removed))
    document = select(document_changes.c.kind, document_changes.c.diff, document_changes.c.position)
    return union_all(
        document,
        select(_text(changes.GROUP_MEMBERS_ADDED), func.jsonb_build_object("members", members_added), literal(3))
        .where(or_(added, skipped)),
        select(_text(changes.GROUP_MEMBERS_REMOVED), func.jsonb_build_object("members", members_removed), literal(4))
        .where(removed),
        select(_text(changes.GROUP_UPDATED), func.jsonb_build_object(), literal(5))
        .where(~or_(added, removed, skipped), ~document.exists()),
    ).cte("group_events")


def _with_snapshots(
    event_rows: CTE, settled: CTE, doc: ColumnElement[Any], last_modified: ColumnElement[Any]
) -> CTE:
    """The events' rows (kind, diff, position) with their snapshots, by the rule of `scim.changes.snapshot`, of the
    group as the write leaves it (`settled`; its document `doc`, and `last_modified` if the write bumped it),
    rendered as `storage.documents.snapshot_resource` renders it for a resource type whose default projection keeps
    every attribute (`patch` checks that): `schemas` (the core URN, then the extension URNs the document holds; the
    `schema_urns` parameter lists them all in order), `id`, the document's attributes, `meta`."""
    version = _text('W/"').op("||")(cast(func.coalesce(settled.c.new_version, settled.c.version), String)).op("||")(
        _text('"'))
    last_modified = case((settled.c.new_version.is_not(None), last_modified), else_=settled.c.last_modified)
    urns = (func.unnest(bindparam("schema_urns", type_=postgresql.ARRAY(String)))
            .table_valued("urn", with_ordinality="position").render_derived())
    document = type_coerce(doc, JSONB)
    schemas = select(urns.c.urn).where(or_(urns.c.position == 1, document.has_key(urns.c.urn)))
    meta = func.jsonb_build_object("resourceType", _text(GROUP.name), "created", _timestamp(settled.c.created),
                                   "lastModified", _timestamp(last_modified), "version", version)
    resource = (func.jsonb_build_object("schemas", func.to_jsonb(func.array(schemas.order_by(urns.c.position)
                                                                            .scalar_subquery())),
                                        "id", settled.c.id)
                .op("||")(document).op("||")(func.jsonb_build_object("meta", meta)))
    kind = event_rows.c.kind
    members = case(
        (kind == changes.GROUP_MEMBERS_ADDED, func.jsonb_build_object("members", func.jsonb_build_object(
            "added", _sorted_ids(settled.c.added), "removed", func.jsonb_build_array()))),
        (kind == changes.GROUP_MEMBERS_REMOVED, func.jsonb_build_object("members", func.jsonb_build_object(
            "added", func.jsonb_build_array(), "removed", _sorted_ids(settled.c.removed)))),
        else_=func.jsonb_build_object(),
    )
    snapshot = func.jsonb_build_object("version", version, "resource", resource).op("||")(members)
    return (select(kind, event_rows.c.diff, event_rows.c.position, type_coerce(snapshot, JSONB).label("snapshot"))
            .select_from(event_rows.join(settled, true())).cte("group_event_snapshots"))


def _timestamp(value: ColumnElement[Any]) -> ColumnElement[str]:
    """`storage.documents.timestamp` of a stored (naive UTC) timestamp."""
    return func.to_char(value, _text('YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))


def _sorted_ids(ids: ColumnElement[Any]) -> ColumnElement[Any]:
    """A text[] column as a JSON array in code-point order."""
    value = func.unnest(ids).table_valued("id").render_derived()
    return func.to_jsonb(func.array(select(value.c.id).order_by(collate(value.c.id, "C")).scalar_subquery()))


def _text(value: str) -> ColumnElement[str]:
    return literal(value, String)


def _capped_ids(ids: ColumnElement[Any]) -> ColumnElement[Any]:
    """`scim.changes.capped_ids` of a text[] column: the first MEMBER_IDS_SHOWN in code-point order, and the count."""
    value = func.unnest(ids).table_valued("id").render_derived()
    first = select(value.c.id).order_by(collate(value.c.id, "C")).limit(changes.MEMBER_IDS_SHOWN).scalar_subquery()
    return func.jsonb_build_object("ids", func.to_jsonb(func.array(first)), "count", func.cardinality(ids))


# Run before the statement in its transaction: PostgreSQL then plans it once for any parameters (a generic plan,
# which its shape keeps safe: the DELETE by pairs) rather than choosing, after five runs, between that and planning
# it anew on every run, a choice that small changes to the statement tip one way or the other.
_PLANNED_ONCE = Prepared(select(func.set_config("plan_cache_mode", "force_generic_plan", True)))
_STATEMENTS = {writes_document: _statement(writes_document) for writes_document in (False, True)}
