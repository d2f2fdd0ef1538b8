"""Tenants: the platform's customers. Every other table is scoped by tenant_id."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scim.errors import Conflict, InvalidValue, NotFound
from storage.models import Tenant

# A name goes into URLs (/admin/v1/tenants/<name>/events) and shell commands as it is: lowercase letters, digits,
# ".", "_" and "-", starting with a letter or digit, at most 63 characters (a DNS label's length).
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
NAME_RULE = ("1 to 63 characters: lowercase letters, digits, '.', '_' and '-', "
             "starting with a letter or digit")


def create(session: Session, name: str) -> Tenant:
    """Create a tenant; its name must match NAME_PATTERN and be new."""
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidValue(f"{name!r} is not a tenant name: a tenant name has {NAME_RULE}.")
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


def names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """The names of the tenants with these ids (None, a request no tenant was known for, is skipped)."""
    wanted = {tenant_id for tenant_id in ids if tenant_id is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(wanted))).all())
