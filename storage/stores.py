"""The stores of the SCIM resource types, behind one interface: what a view calls, whatever the resource type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from scim.filters import Expr
from scim.patch import Patch
from scim.payloads import ParsedResource
from scim.projection import Projection
from scim.schemas import GROUP, USER, ResourceType
from scim.search import SearchParams
from storage import groups, users
from storage.events import Origin


class Stored(Protocol):
    """A resource as a store returns it."""

    @property
    def id(self) -> str: ...

    @property
    def etag(self) -> str: ...


class Page(Protocol):
    """One page of a search: the resources, the number of matches, RFC 9865 cursors when paging by cursor."""

    @property
    def items(self) -> list[Any]: ...

    @property
    def total(self) -> int: ...

    @property
    def next_cursor(self) -> str | None: ...

    @property
    def previous_cursor(self) -> str | None: ...


class ResourceStore(Protocol):
    """Reads take any Session or Connection; each write takes the request's Connection, writes the resource and its
    events, and either commits them as it runs (PostgreSQL's one-statement paths) or leaves its writing transaction
    for the caller to commit (storage.connections.commit)."""

    def get(self, executor: Session | Connection, tenant_id: int, resource_id: str) -> Stored: ...

    def search(
        self, executor: Session | Connection, tenant_id: int, resource_type: ResourceType, expr: Expr | None,
        params: SearchParams,
    ) -> Page: ...

    def to_resources(
        self, executor: Session | Connection, tenant_id: int, stored: list[Any], projection: Projection,
        base_url: str,
    ) -> list[dict[str, Any]]: ...

    def create(
        self, connection: Connection, tenant_id: int, resource_type: ResourceType, parsed: ParsedResource,
        origin: Origin,
    ) -> Stored: ...

    def replace(
        self, connection: Connection, tenant_id: int, resource_type: ResourceType, resource_id: str,
        parsed: ParsedResource, if_match: str | None, origin: Origin,
    ) -> Stored: ...

    def patch(
        self, connection: Connection, tenant_id: int, resource_type: ResourceType, resource_id: str,
        operations: Patch, if_match: str | None, origin: Origin,
    ) -> Stored: ...

    def delete(
        self, connection: Connection, tenant_id: int, resource_id: str, if_match: str | None, origin: Origin
    ) -> None: ...


STORES: Mapping[str, ResourceStore] = {USER.name: users, GROUP.name: groups}
