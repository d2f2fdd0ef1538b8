"""A tenant's own extension schemas (RFC 7643 §3.3, §7): the stored definitions and the registry built from them.

- A definition is validated when it is added: its RFC 7643 §7 representation (`scim.schemas.Schema.from_dict`), a
  URN free in the tenant's registry, and only what this server does (no `uniqueness` it would not enforce). It is
  stored in canonical form, every characteristic spelled out as `/Schemas` shows it.
- Adding or removing a schema bumps `tenants.schemas_version` in the same transaction. Authentication reads that
  column with the token (`storage.tokens.authenticate`), so `RegistryCache`, one per worker, rebuilds a tenant's
  registry on the tenant's first request after the change, whichever process made it; there is no timer. The bump
  comes first, and its row lock serialises concurrent changes to one tenant's schemas.
- Removing a schema that users or groups still hold values of is refused (Conflict, with the count) unless
  `purge=True`, which deletes those values in the same transaction and bumps each changed resource's version and
  lastModified, so ETags and `meta.lastModified` filters see the change. Values are not kept hidden (docs/extensions.md
  tells the one narrow race with writes in flight).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, Text, and_, func, literal, select, type_coerce, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from scim.errors import Conflict, InvalidValue, NotFound
from scim.schemas import DEFAULT_REGISTRY, Attribute, Registry, Schema
from storage import connections
from storage.models import Tenant, TenantSchema, utcnow
from storage.resource_maps import resource_map


def add(session: Session, tenant_id: int, resource_type: str, definition: Any) -> TenantSchema:
    """Add an extension schema to one of the tenant's resource types; InvalidValue says what is wrong with it."""
    schema = Schema.from_dict(definition)
    _check_supported(schema.attributes)
    _bump(session, tenant_id)
    extended = registry(session, tenant_id).with_extensions([(resource_type, schema)])
    row = TenantSchema(
        tenant_id=tenant_id,
        resource_type=extended.by_name(resource_type).name,
        urn=schema.id,
        definition=_canonical(schema),
    )
    session.add(row)
    session.flush()
    return row


def remove(session: Session, tenant_id: int, urn: str, *, purge: bool = False) -> tuple[str, int]:
    """Remove an extension schema (URN matched case-insensitively); returns its URN and how many resources lost values.

    Conflict while users or groups hold values under the URN, unless `purge` deletes them.
    """
    _bump(session, tenant_id)
    row = session.scalar(
        select(TenantSchema).where(TenantSchema.tenant_id == tenant_id, func.lower(TenantSchema.urn) == urn.lower())
    )
    if row is None:
        raise NotFound(f"The tenant has no extension schema {urn!r}.")
    table = resource_map(DEFAULT_REGISTRY.by_name(row.resource_type)).table
    dialect = connections.dialect(session)
    holding = _holding(table, tenant_id, row.urn, dialect)
    purged = 0
    if purge:
        purged = _purge(session, table, holding, row.urn, dialect)
    else:
        held = session.scalar(select(func.count()).select_from(table).where(holding))
        if held:
            raise Conflict(f"{held} {row.resource_type} resource(s) still hold values of {row.urn}.")
    session.delete(row)
    session.flush()
    return row.urn, purged


def list_schemas(session: Session, tenant_id: int | None = None) -> list[tuple[TenantSchema, str]]:
    """Extension schemas with their tenant's name, by tenant, then in the order they were added."""
    statement = (
        select(TenantSchema, Tenant.name)
        .join(Tenant, Tenant.id == TenantSchema.tenant_id)
        .order_by(Tenant.name, TenantSchema.id)
    )
    if tenant_id is not None:
        statement = statement.where(TenantSchema.tenant_id == tenant_id)
    return [(row, name) for row, name in session.execute(statement)]


def registry(session: Session | Connection, tenant_id: int) -> Registry:
    """The tenant's registry: the built-in resource types, each with the tenant's extensions in the order added."""
    rows = session.execute(
        select(TenantSchema.resource_type, TenantSchema.definition)
        .where(TenantSchema.tenant_id == tenant_id)
        .order_by(TenantSchema.id)
    )
    return DEFAULT_REGISTRY.with_extensions((name, Schema.from_dict(definition)) for name, definition in rows)


class RegistryCache:
    """Each tenant's registry in this worker, kept until the tenant's `schemas_version` moves on.

    A tenant that never had an extension schema (version 0) costs no query. The registry is read after the version
    it is filed under, so it is never older than that version; a request authenticated just before a change may be
    served the newer registry, as if it had arrived just after.
    """

    def __init__(self) -> None:
        self._registries: dict[int, tuple[int, Registry]] = {}

    def registry(self, session: Session | Connection, tenant_id: int, schemas_version: int) -> Registry:
        """The tenant's registry at `schemas_version` (from the request's authentication) or newer."""
        if schemas_version == 0:
            return DEFAULT_REGISTRY
        cached = self._registries.get(tenant_id)
        if cached is not None and cached[0] >= schemas_version:
            return cached[1]
        built = registry(session, tenant_id)
        self._registries[tenant_id] = (schemas_version, built)
        return built


def _bump(session: Session, tenant_id: int) -> None:
    result = session.execute(
        update(Tenant).where(Tenant.id == tenant_id).values(schemas_version=Tenant.schemas_version + 1)
    )
    if result.rowcount == 0:
        raise NotFound(f"No tenant with id {tenant_id}.")


def _check_supported(attributes: tuple[Attribute, ...], parent: str = "") -> None:
    """Per RFC 7643 §7, `uniqueness` says how the service provider enforces it; this one does not for extensions."""
    for attribute in attributes:
        name = f"{parent}{attribute.name}"
        if attribute.uniqueness != "none":
            raise InvalidValue(f"Attribute {name!r}: uniqueness {attribute.uniqueness!r} is not enforced for "
                               "extension attributes by this server; use 'none'.")
        _check_supported(attribute.sub_attributes, f"{name}.")


def _canonical(schema: Schema) -> dict[str, Any]:
    body = schema.to_dict()
    return {key: body[key] for key in ("id", "name", "description", "attributes")}


def _holding(table: Table, tenant_id: int, urn: str, dialect: str) -> ColumnElement[bool]:
    """The tenant's rows whose document has values under `urn` (scim.schemas allows no quote in a URN)."""
    if dialect == "sqlite":
        held = func.json_type(table.c.doc, _sqlite_path(urn)).is_not(None)
    else:
        held = type_coerce(table.c.doc, JSONB).has_key(urn)
    return and_(table.c.tenant_id == tenant_id, held)


def _purge(session: Session, table: Table, holding: ColumnElement[bool], urn: str, dialect: str) -> int:
    if dialect == "sqlite":
        without = func.json_remove(table.c.doc, _sqlite_path(urn))
    else:
        without = type_coerce(table.c.doc, JSONB).op("-")(literal(urn, Text()))
    statement = update(table).where(holding).values(doc=without, version=table.c.version + 1, last_modified=utcnow())
    return session.execute(statement).rowcount


def _sqlite_path(urn: str) -> str:
    return f'$."{urn}"'
