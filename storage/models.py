"""Tables. User and Group keep the SCIM document as JSON plus indexed copies of the attributes filters hit most."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Document = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC on every database, returned timezone-aware, so comparisons agree across dialects."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Bumped in the transaction that adds or removes one of the tenant's extension schemas and read by authentication,
    # so each worker learns on the tenant's next request that its cached registry is stale (storage/tenant_schemas.py).
    schemas_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    # Read with the token at authentication, so that a tenant with neither costs nothing: until when its requests are
    # recorded for its setup page's live status (while a setup link is live), and captured with their bodies.
    watch_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    capture_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Token(Base):
    """A bearer token: only its SHA-256 is stored, with a short prefix to recognise it in listings."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_name_key"),
        Index("ix_users_tenant_id_id", "tenant_id", "id"),
        Index("ix_users_tenant_id_external_id", "tenant_id", "external_id"),
        Index("ix_users_tenant_id_display_name", "tenant_id", "display_name"),
        Index("ix_users_tenant_id_active", "tenant_id", "active"),
        Index("ix_users_tenant_id_created", "tenant_id", "created"),
        Index("ix_users_tenant_id_last_modified", "tenant_id", "last_modified"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_name: Mapped[str] = mapped_column(Text)
    # lower-cased userName: RFC 7643 §4.1.1 makes userName case-insensitive; the unique index and filters use it.
    user_name_key: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)
    display_name: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool | None] = mapped_column(Boolean)
    doc: Mapped[dict[str, Any]] = mapped_column(Document)
    password_hash: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    last_modified: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


class UserEmail(Base):
    """One row per email of a user, so that `emails.value` filters (Entra's matching attribute) use an index."""

    __tablename__ = "user_emails"
    __table_args__ = (Index("ix_user_emails_tenant_id_value_key", "tenant_id", "value_key"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    value: Mapped[str | None] = mapped_column(Text)
    value_key: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str | None] = mapped_column(Text)
    primary: Mapped[bool | None] = mapped_column(Boolean)
    display: Mapped[str | None] = mapped_column(Text)


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (
        UniqueConstraint("tenant_id", "display_name_key"),
        Index("ix_groups_tenant_id_id", "tenant_id", "id"),
        Index("ix_groups_tenant_id_external_id", "tenant_id", "external_id"),
        Index("ix_groups_tenant_id_last_modified", "tenant_id", "last_modified"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(Text)
    display_name_key: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)
    # The group's other attributes (and, later, the tenant's mapping to platform teams/sites) live in the document.
    doc: Mapped[dict[str, Any]] = mapped_column(Document)
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    last_modified: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


class GroupMember(Base):
    """Membership as rows: adding or removing k members is k row operations, whatever the group's size."""

    __tablename__ = "group_members"
    __table_args__ = (Index("ix_group_members_member_id", "member_id"),)

    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))


# -- Admin console --


class Admin(Base):
    """A person who signs in to the console at /admin; the password is stored only as a salted hash."""

    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # lower-cased
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AdminSession(Base):
    """A signed-in browser: the cookie carries a secret, the table only its SHA-256, so sign-out really ends it."""

    __tablename__ = "admin_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class SignInFailure(Base):
    """Failed sign-ins counted per key ("account:<email>" or "ip:<address>") in a fixed window, for lock-out."""

    __tablename__ = "admin_sign_in_failures"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


# -- Activity log -------------------------------------------------------------------------------------------------

from sqlalchemy import BigInteger  # noqa: E402 (this section is appended; the import block above is shared)


class Event(Base):
    """One entry of the activity log and change feed; `id` order is commit order (see storage/events.py).

    `tenant_id` is NULL when no tenant is known (a 401). `token_id` names the token, never any part of its secret.
    On SQLite, AUTOINCREMENT keeps ids from being reused once the newest events are pruned.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_tenant_id_id", "tenant_id", "id"),
        Index("ix_events_occurred_at", "occurred_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    token_id: Mapped[str | None] = mapped_column(String(32))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(2048))
    request_id: Mapped[str | None] = mapped_column(String(128))  # the request's X-Request-Id, as in the log
    resource_type: Mapped[str | None] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    scim_type: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(2048))
    diff: Mapped[dict[str, Any] | None] = mapped_column(Document)
    # The resource as of this event, for webhook messages (scim.changes.snapshot): {"version", "resource"} and, for a
    # membership event, the complete {"members": {"added", "removed"}} that `diff` caps. NULL for a rejected request.
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(Document)


class AdminKey(Base):
    """A key for the platform's admin API: hashed like a SCIM token, but tenant-less and kept apart from them."""

    __tablename__ = "admin_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# -- Tenant extension schemas -------------------------------------------------------------------------------------


class TenantSchema(Base):
    """A tenant's own extension schema for one resource type: its RFC 7643 §7 representation, validated."""

    __tablename__ = "tenant_schemas"
    __table_args__ = (UniqueConstraint("tenant_id", "urn"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    resource_type: Mapped[str] = mapped_column(String(64))
    urn: Mapped[str] = mapped_column(Text)
    definition: Mapped[dict[str, Any]] = mapped_column(Document)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# -- Failed SCIM authentication ----------------------------------------------------------------------------------


class AuthFailure(Base):
    """Failed SCIM authentications (no tenant is known for them) counted per client address and minute: the limit
    of app/auth_failures.py, and their record, one row however many there were (storage/auth_failures.py)."""

    __tablename__ = "auth_failures"

    client_ip: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True, index=True)
    failures: Mapped[int] = mapped_column(Integer)


# -- Core tables for the request path -----------------------------------------------------------------------------

# The SCIM request path runs statements built once at import from these Core tables, with bound parameters: a
# statement over ORM attributes pays the ORM's compile plugin on every execution, and one built per request pays for
# building it every time, work of the same order as running the query on SQLite.
tenants_table = Tenant.__table__
tokens_table = Token.__table__
users_table = User.__table__
user_emails_table = UserEmail.__table__
groups_table = Group.__table__
group_members_table = GroupMember.__table__
events_table = Event.__table__
auth_failures_table = AuthFailure.__table__


# -- Setup links -------------------------------------------------------------------------------------------------


class SetupLink(Base):
    """A link to one tenant's setup page for its customer's IT admin: hashed like a token, expiring, revocable."""

    __tablename__ = "setup_links"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# -- Mass-deprovisioning guard ------------------------------------------------------------------------------------


class TenantGuard(Base):
    """A tenant's guard: its settings (NULL: the default of storage/guard.py), and how far its events are scanned,
    with the counted events still in the sliding window (scim.deprovisions.Window's entries). Scanners lock this
    row, so one hold is made per trip."""

    __tablename__ = "tenant_guards"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    max_deprovisions: Mapped[int | None] = mapped_column(Integer)
    window_seconds: Mapped[int | None] = mapped_column(Integer)
    scanned_through: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    window: Mapped[list[dict[str, Any]] | None] = mapped_column(Document)


class GuardHold(Base):
    """A tripped guard: deliveries of the tenant's events from `first_event_id` on wait until it is released.
    `event_id` is its `tenant.held` event; `released_through` the newest event the release let go."""

    __tablename__ = "guard_holds"
    __table_args__ = (UniqueConstraint("tenant_id", "first_event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    first_event_id: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[int] = mapped_column(BigInteger)
    summary: Mapped[dict[str, Any]] = mapped_column(Document)
    tripped_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    released_through: Mapped[int | None] = mapped_column(BigInteger)
    net: Mapped[bool | None] = mapped_column(Boolean)


class GuardDropped(Base):
    """A held event a net release dropped (scim.net_effect): never delivered."""

    __tablename__ = "guard_dropped"

    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hold_id: Mapped[int] = mapped_column(ForeignKey("guard_holds.id", ondelete="CASCADE"), index=True)


tenant_guards_table = TenantGuard.__table__
guard_holds_table = GuardHold.__table__
guard_dropped_table = GuardDropped.__table__


# -- Webhooks -----------------------------------------------------------------------------------------------------

from sqlalchemy import text  # noqa: E402 (this section is appended; the import block above is shared)


class WebhookEndpoint(Base):
    """Where a tenant's events are posted. The signing secret is stored as issued (`whsec_…`): signing needs it, so
    it cannot be hashed as a token is. `cursor` is the last of the tenant's events fanned out to this endpoint."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(64))
    kinds: Mapped[str | None] = mapped_column(String(1000))  # comma-separated patterns (fnmatch); NULL: every kind
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    cursor: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")


# A delivery's status: pending (to be attempted, or retried after its backoff), delivered, failed (its last attempt
# failed: its endpoint is disabled).
DELIVERY_PENDING, DELIVERY_DELIVERED, DELIVERY_FAILED = "pending", "delivered", "failed"
_PENDING_ONLY = text(f"status = '{DELIVERY_PENDING}'")


class WebhookDelivery(Base):
    """One event's message to one endpoint, and how its attempts went; `resource_key` keeps one resource's
    messages in commit order (nothing of it goes out while an earlier one is pending)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        # Partial, over the pending deliveries alone (delivered ones pile up): the claim's scan in event order, and
        # its probe for an earlier pending delivery of the same resource.
        Index("ix_webhook_deliveries_pending_event_id", "event_id", postgresql_where=_PENDING_ONLY,
              sqlite_where=_PENDING_ONLY),
        Index("ix_webhook_deliveries_pending_resource", "endpoint_id", "resource_key", "event_id",
              postgresql_where=_PENDING_ONLY, sqlite_where=_PENDING_ONLY),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    resource_key: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))  # DELIVERY_PENDING, DELIVERY_DELIVERED, DELIVERY_FAILED
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    data: Mapped[dict[str, Any] | None] = mapped_column(Document)  # a tenant.held message's data (the hold's summary)
    last_status: Mapped[int | None] = mapped_column(Integer)  # the HTTP status of the last attempt; NULL: no answer
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(String(500))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


webhook_endpoints_table = WebhookEndpoint.__table__
webhook_deliveries_table = WebhookDelivery.__table__


# -- Request journal (live status, traffic capture) ---------------------------------------------------------------


class JournalEntry(Base):
    """One SCIM request of a watched tenant, for its live status (storage/journal.py): what a diagnosis needs in
    `facts`, and, while the tenant's traffic is captured, the redacted request and response in `captured`."""

    __tablename__ = "request_journal"
    __table_args__ = (Index("ix_request_journal_tenant_id_id", "tenant_id", "id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(2048))  # with its query
    status: Mapped[int] = mapped_column(Integer)
    user_agent: Mapped[str | None] = mapped_column(String(512))
    facts: Mapped[dict[str, Any]] = mapped_column(Document)
    captured: Mapped[dict[str, Any] | None] = mapped_column(Document)


journal_table = JournalEntry.__table__
