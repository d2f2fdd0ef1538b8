"""Tenants: the platform's customers. Every other table is scoped by tenant_id."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scim.errors import Conflict, NotFound
from storage.models import Tenant


def create(session: Session, name: str) -> Tenant:
    """Create a tenant; its name must be new."""
    tenant = Tenant(name=name)
    try:
        with session.begin_nested():
            session.add(tenant)
    except IntegrityError as error:
        raise Conflict(f"Tenant {name!r} already exists.") from error
    return tenant


def get_by_name(session: Session, name: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        raise NotFound(f"No tenant named {name!r}.")
    return tenant


def find_by_name(session: Session, name: str) -> Tenant | None:
    return session.scalar(select(Tenant).where(Tenant.name == name))


def list_all(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.name)))
