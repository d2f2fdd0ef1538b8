"""Bearer tokens: generated with `secrets`, shown once, stored only as SHA-256 with a short non-secret prefix."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, or_, select, update
from sqlalchemy.orm import Session

from scim.errors import NotFound
from storage.models import Tenant, Token, tenants_table, tokens_table, utcnow
from storage.prepared import Prepared

TOKEN_PREFIX = "scim_"
# last_used_at is written at most this often, so that authentication stays a read on the hot path.
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """Who a request is: the token and the tenant it belongs to.

    `schemas_version` changes whenever the tenant's extension schemas do (storage/tenant_schemas.py);
    `watch_until` and `capture_until` say whether its requests go to the journal (storage/journal.py).
    """

    token_id: str
    tenant_id: int
    tenant_name: str
    last_used_at: datetime | None
    schemas_version: int
    watch_until: datetime | None = None
    capture_until: datetime | None = None


@dataclass(frozen=True)
class Refused:
    """A token that exists but no longer works, named for a watched tenant's journal: `reason` is "revoked" or
    "expired"."""

    token_id: str
    tenant_id: int
    watch_until: datetime | None
    capture_until: datetime | None
    reason: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue(
    session: Session, tenant: Tenant, label: str | None = None, expires_days: int | None = None
) -> tuple[Token, str]:
    """Create a token for `tenant`; returns the row and the secret, which is never stored and cannot be shown again."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)  # 32 bytes = 256 bits of entropy
    expires_at = utcnow() + timedelta(days=expires_days) if expires_days is not None else None
    token = Token(
        id=secrets.token_hex(8),
        tenant_id=tenant.id,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        secret_hash=hash_secret(secret),
        label=label,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return token, secret


_AUTHENTICATE = Prepared(
    select(tokens_table.c.id, tokens_table.c.tenant_id, tenants_table.c.name, tokens_table.c.last_used_at,
           tenants_table.c.schemas_version, tenants_table.c.watch_until, tenants_table.c.capture_until)
    .select_from(tokens_table.join(tenants_table, tenants_table.c.id == tokens_table.c.tenant_id))
    .where(
        tokens_table.c.secret_hash == bindparam("secret_hash"),
        tokens_table.c.revoked_at.is_(None),
        or_(tokens_table.c.expires_at.is_(None), tokens_table.c.expires_at > bindparam("now")),
    )
)


def authenticate(session: Session | Connection, secret: str) -> Principal | None:
    """The principal of a live token, in one indexed query; None for unknown, revoked or expired tokens.

    The lookup is by the secret's SHA-256, a value an attacker cannot steer toward a prefix match; the
    database index does the comparison, so there is no timing signal about how much of a secret was right.
    """
    if not secret:
        return None
    row = _AUTHENTICATE.first(session, {"secret_hash": hash_secret(secret), "now": utcnow()})
    if row is None:
        return None
    return Principal(token_id=row[0], tenant_id=row[1], tenant_name=row[2], last_used_at=row[3],
                     schemas_version=row[4], watch_until=row[5], capture_until=row[6])


_ANY_TOKEN = Prepared(
    select(tokens_table.c.id, tokens_table.c.tenant_id, tenants_table.c.watch_until, tenants_table.c.capture_until,
           tokens_table.c.revoked_at, tokens_table.c.expires_at)
    .select_from(tokens_table.join(tenants_table, tenants_table.c.id == tokens_table.c.tenant_id))
    .where(tokens_table.c.secret_hash == bindparam("secret_hash"))
)


def identify(session: Session | Connection, secret: str) -> Principal | Refused | None:
    """Whose token `secret` is, live or not: for a request `authenticate` refused, so that a watched tenant's journal
    can say why (a token sent without "Bearer ", a revoked or expired one). None for a secret no token has."""
    if not secret:
        return None
    row = _ANY_TOKEN.first(session, {"secret_hash": hash_secret(secret)})
    if row is None:
        return None
    token_id, tenant_id, watch_until, capture_until, revoked_at, expires_at = row
    if revoked_at is not None:
        return Refused(token_id, tenant_id, watch_until, capture_until, "revoked")
    if expires_at is not None and expires_at <= utcnow():
        return Refused(token_id, tenant_id, watch_until, capture_until, "expired")
    return authenticate(session, secret)


def touch_due(principal: Principal) -> bool:
    """Whether the token's last_used_at is stale enough to be written again."""
    return principal.last_used_at is None or utcnow() - principal.last_used_at >= TOUCH_INTERVAL


def touch(executor: Session | Connection, principal: Principal) -> None:
    """Record use of a token in the caller's transaction; the WHERE keeps concurrent workers from rewriting it."""
    now = utcnow()
    executor.execute(
        update(Token)
        .where(Token.id == principal.token_id)
        .where(or_(Token.last_used_at.is_(None), Token.last_used_at < now - TOUCH_INTERVAL))
        .values(last_used_at=now)
    )


def list_tokens(session: Session, tenant: Tenant | None = None) -> list[tuple[Token, str]]:
    """Tokens with their tenant's name, newest first."""
    query = select(Token, Tenant.name).join(Tenant, Tenant.id == Token.tenant_id).order_by(Token.created_at.desc())
    if tenant is not None:
        query = query.where(Token.tenant_id == tenant.id)
    return [(token, name) for token, name in session.execute(query)]


def revoke(session: Session, token_id: str) -> Token:
    """Revoke a token; it stops working on the next request."""
    token = session.get(Token, token_id)
    if token is None:
        raise NotFound(f"No token with id {token_id!r}.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    session.flush()
    return token
