"""Admin API keys: the platform's credential for /admin/v1, kept apart from SCIM tokens.

A key is generated with `secrets`, shown once, and stored only as the SHA-256 of `storage.tokens` with a short
non-secret prefix. Keys live in their own table, so a SCIM token never opens the admin API and an admin key never
opens the SCIM API: each side looks the hash up in its own table only.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from scim.errors import NotFound
from storage.models import AdminKey, utcnow
from storage.tokens import hash_secret

ADMIN_KEY_PREFIX = "scimadm_"


def issue(session: Session, label: str | None = None) -> tuple[AdminKey, str]:
    """Create a key; returns the row and the secret, which is never stored and cannot be shown again."""
    secret = ADMIN_KEY_PREFIX + secrets.token_urlsafe(32)  # 256 bits of entropy
    key = AdminKey(id=secrets.token_hex(8), prefix=secret[: len(ADMIN_KEY_PREFIX) + 6],
                   secret_hash=hash_secret(secret), label=label)
    session.add(key)
    session.flush()
    return key, secret


def authenticate(session: Session, secret: str) -> AdminKey | None:
    """The live key with this secret, by an indexed lookup of its hash (no timing signal); None otherwise."""
    if not secret:
        return None
    return session.scalar(
        select(AdminKey).where(AdminKey.secret_hash == hash_secret(secret), AdminKey.revoked_at.is_(None))
    )


def list_keys(session: Session) -> list[AdminKey]:
    """All keys, newest first."""
    return list(session.scalars(select(AdminKey).order_by(AdminKey.created_at.desc())))


def revoke(session: Session, key_id: str) -> AdminKey:
    """Revoke a key; it stops working on the next request."""
    key = session.get(AdminKey, key_id)
    if key is None:
        raise NotFound(f"No admin key with id {key_id!r}.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    session.flush()
    return key
