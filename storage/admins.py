"""The admin console's accounts, sign-in sessions and lock-out, and the tenant overview its pages show.

Passwords arrive here already hashed: the app hashes them (werkzeug's scrypt), so storage never sees a cleartext
password and imports no web library. A session is token-like: a random secret in the browser's cookie, only its
SHA-256 (`storage.tokens.hash_secret`) in the table, so a copied database opens no session. Lock-out counts failed
sign-ins per key in the database, so every worker process sees the same counts.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scim.errors import Conflict, NotFound
from storage.models import Admin, AdminSession, Event, Group, GroupMember, SignInFailure, Tenant, Token, User, utcnow
from storage.tokens import hash_secret

# -- accounts ---------------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create(session: Session, email: str, password_hash: str) -> Admin:
    """Create an admin; the email (compared case-insensitively) must be new."""
    admin = Admin(email=normalize_email(email), password_hash=password_hash)
    try:
        with session.begin_nested():
            session.add(admin)
    except IntegrityError as error:
        raise Conflict(f"An admin with email {admin.email!r} already exists.") from error
    return admin


def find_by_email(session: Session, email: str) -> Admin | None:
    return session.scalar(select(Admin).where(Admin.email == normalize_email(email)))


def list_all(session: Session) -> list[Admin]:
    return list(session.scalars(select(Admin).order_by(Admin.email)))


def set_password_hash(session: Session, email: str, password_hash: str) -> Admin:
    """Replace an admin's password; every open session of theirs ends."""
    admin = find_by_email(session, email)
    if admin is None:
        raise NotFound(f"No admin with email {normalize_email(email)!r}.")
    admin.password_hash = password_hash
    session.execute(delete(AdminSession).where(AdminSession.admin_id == admin.id))
    session.flush()
    return admin


# -- sessions ---------------------------------------------------------------------------------


def open_session(session: Session, admin: Admin, lifetime: timedelta) -> str:
    """Start a session for `admin`; returns the secret for the cookie (not stored). Expired sessions are pruned."""
    now = utcnow()
    secret = secrets.token_urlsafe(32)
    session.execute(delete(AdminSession).where(AdminSession.expires_at <= now))
    session.add(AdminSession(id=hash_secret(secret), admin_id=admin.id, created_at=now, expires_at=now + lifetime))
    admin.last_sign_in_at = now
    session.flush()
    return secret


def session_admin(session: Session, secret: str) -> Admin | None:
    """The admin of a live session; None for an unknown, ended or expired one."""
    return session.scalar(
        select(Admin)
        .join(AdminSession, AdminSession.admin_id == Admin.id)
        .where(AdminSession.id == hash_secret(secret), AdminSession.expires_at > utcnow())
    )


def close_session(session: Session, secret: str) -> None:
    session.execute(delete(AdminSession).where(AdminSession.id == hash_secret(secret)))


# -- lock-out ---------------------------------------------------------------------------------


def locked_until(session: Session, limits: Mapping[str, int], window: timedelta) -> datetime | None:
    """When the lock-out of the most-failed key ends, if any key reached its limit of failures in its window."""
    now = utcnow()
    rows = session.execute(
        select(SignInFailure.key, SignInFailure.failures, SignInFailure.window_start)
        .where(SignInFailure.key.in_(list(limits)), SignInFailure.window_start > now - window)
    )
    return max((start + window for key, failures, start in rows if failures >= limits[key]), default=None)


def record_failure(session: Session, keys: Iterable[str], window: timedelta) -> None:
    """Count one failed sign-in against each key; a key whose window has passed starts a new one. Atomic per key
    (one UPDATE, or an INSERT when the key is new), so concurrent workers never lose a count."""
    now = utcnow()
    session.execute(delete(SignInFailure).where(SignInFailure.window_start <= now - window))
    for key in keys:
        _count(session, key, now, window)


def _count(session: Session, key: str, now: datetime, window: timedelta) -> None:
    stale = SignInFailure.window_start <= now - window
    counted = session.execute(
        update(SignInFailure)
        .where(SignInFailure.key == key)
        .values(failures=case((stale, 1), else_=SignInFailure.failures + 1),
                window_start=case((stale, now), else_=SignInFailure.window_start))
        .execution_options(synchronize_session=False)
    ).rowcount
    if counted:
        return
    try:
        with session.begin_nested():
            session.execute(insert(SignInFailure).values(key=key, failures=1, window_start=now))
    except IntegrityError:  # another worker inserted the key first: count on its row
        _count(session, key, now, window)


def clear_failures(session: Session, keys: Iterable[str]) -> None:
    session.execute(delete(SignInFailure).where(SignInFailure.key.in_(list(keys))))


# -- tenants as the console lists them --------------------------------------------------------


@dataclass(frozen=True)
class TenantSummary:
    tenant: Tenant
    users: int
    groups: int
    last_call_at: datetime | None  # the newest last_used_at of the tenant's tokens


def tenant_summaries(session: Session) -> list[TenantSummary]:
    """Every tenant with its user and group counts and its IdP's last call, in one query."""
    users = select(func.count()).where(User.tenant_id == Tenant.id).scalar_subquery()
    groups = select(func.count()).where(Group.tenant_id == Tenant.id).scalar_subquery()
    last_call = select(func.max(Token.last_used_at)).where(Token.tenant_id == Tenant.id).scalar_subquery()
    rows = session.execute(select(Tenant, users, groups, last_call).order_by(Tenant.name))
    return [TenantSummary(*row) for row in rows]


def get_tenant(session: Session, tenant_id: int) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"No tenant with id {tenant_id}.")
    return tenant


@dataclass(frozen=True)
class Member:
    id: str
    user_name: str
    display_name: str | None
    active: bool | None


def group_members(session: Session, tenant_id: int, group_id: str, offset: int, limit: int) -> tuple[list[Member], int]:
    """One page of a group's members, by userName, and the member count: two indexed queries, whatever the size
    of the group (the SCIM `members` attribute, by contrast, is read whole)."""
    scope = (GroupMember.tenant_id == tenant_id, GroupMember.group_id == group_id)
    total = session.scalar(select(func.count()).select_from(GroupMember).where(*scope)) or 0
    rows = session.execute(
        select(User.id, User.user_name, User.display_name, User.active)
        .join(GroupMember, GroupMember.member_id == User.id)
        .where(*scope)
        .order_by(User.user_name_key, User.id)
        .offset(offset)
        .limit(limit)
    )
    return [Member(*row) for row in rows], total


# -- the activity log as the console browses it -----------------------------------------------


@dataclass(frozen=True)
class ActivityFilter:
    """What the activity page asks for; unset fields do not filter. `failed`: status >= 400 (True) or < 400."""

    tenant_id: int | None = None
    kind: str | None = None
    failed: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    resource_id: str | None = None


def activity(
    session: Session, where: ActivityFilter, *, before: int | None = None, limit: int
) -> list[tuple[Event, str | None]]:
    """Events with their tenant's name, newest first, older than the event id `before` (keyset paging).

    `storage.events.read` serves the feed (oldest first, after a cursor); a person browsing wants the newest first,
    filtered by status and resource as well.
    """
    query = select(Event, Tenant.name).outerjoin(Tenant, Tenant.id == Event.tenant_id)
    conditions = [
        Event.tenant_id == where.tenant_id if where.tenant_id is not None else None,
        Event.kind == where.kind if where.kind else None,
        (Event.status >= 400 if where.failed else Event.status < 400) if where.failed is not None else None,
        Event.occurred_at >= where.since if where.since else None,
        Event.occurred_at < where.until if where.until else None,
        Event.resource_id == where.resource_id if where.resource_id else None,
        Event.id < before if before is not None else None,
    ]
    query = query.where(*(condition for condition in conditions if condition is not None))
    return [(row[0], row[1]) for row in session.execute(query.order_by(Event.id.desc()).limit(limit))]
