"""A tenant's users and groups: paged tables with a search box that takes plain text or a SCIM filter."""

from __future__ import annotations

import json
import re
from types import ModuleType
from typing import Any

from flask import render_template, request

from app import database
from app.console.activity import resource_events
from app.console.blueprint import bp
from app.console.pages import Pager, requested_page
from scim import filters
from scim.errors import InvalidFilter
from scim.schemas import GROUP, USER, ResourceType
from scim.search import SearchParams
from storage import admins, groups, tenant_schemas, users
from storage.models import Tenant

# Plain text is matched (`co`) against these; the search box says so.
PLAIN_TEXT_ATTRIBUTES = {"User": ("userName", "displayName", "emails.value"), "Group": ("displayName", "externalId")}
SORT_BY = {"User": "userName", "Group": "displayName"}
# Text that uses a comparison operator is meant as a filter: its syntax error is shown, not searched as text.
_OPERATOR = re.compile(r"\b(eq|ne|co|sw|ew|gt|ge|lt|le|pr)\b", re.IGNORECASE)


def search_filter(text: str, resource_type: ResourceType) -> filters.Expr | None:
    """The filter the search box means: none for empty text, the text itself when it parses as a SCIM filter
    (or uses an operator: then its InvalidFilter is the answer), else plain text matched on the usual attributes."""
    if not text:
        return None
    try:
        return filters.parse_filter(text, resource_type)
    except InvalidFilter:
        if _OPERATOR.search(text):
            raise
    quoted = json.dumps(text, ensure_ascii=False)
    plain = " or ".join(f"{name} co {quoted}" for name in PLAIN_TEXT_ATTRIBUTES[resource_type.name])
    return filters.parse_filter(plain, resource_type)


@bp.app_template_filter("person_name")
def person_name(doc: dict[str, Any]) -> str:
    name = doc.get("name") or {}
    parts = " ".join(part for part in (name.get("givenName"), name.get("familyName")) if part)
    return doc.get("displayName") or name.get("formatted") or parts or "—"


@bp.app_template_filter("primary_email")
def primary_email(doc: dict[str, Any]) -> str:
    emails = doc.get("emails") or []
    chosen = next((email for email in emails if email.get("primary")), emails[0] if emails else {})
    return chosen.get("value") or "—"


def _search_page(tenant: Tenant, name: str, store: ModuleType) -> tuple[str, int]:
    """A page of the tenant's users or groups; filters see the tenant's own extension attributes too."""
    session = database.get_session()
    resource_type = tenant_schemas.registry(session, tenant.id).by_name(name)
    assert resource_type is not None
    query, pager = request.args.get("q", "").strip(), requested_page()
    context: dict[str, Any] = {"tenant": tenant, "q": query, "rows": [], "page": pager, "error": None}
    try:
        params = SearchParams(count=pager.size, start_index=pager.offset + 1, sort_by=SORT_BY[resource_type.name])
        found = store.search(session, tenant.id, resource_type, search_filter(query, resource_type), params)
    except InvalidFilter as error:
        context["error"] = error.detail
        status = 400
    else:
        context.update(rows=found.items, page=pager.counted(found.total))
        status = 200
    return render_template(f"console/{name.lower()}s.html", **context), status


@bp.get("/tenants/<int:tenant_id>/users")
def users_page(tenant_id: int) -> tuple[str, int]:
    """The tenant's users, a page at a time, searchable."""
    return _search_page(admins.get_tenant(database.get_session(), tenant_id), USER.name, users)


@bp.get("/tenants/<int:tenant_id>/groups")
def groups_page(tenant_id: int) -> tuple[str, int]:
    """The tenant's groups, a page at a time, searchable."""
    return _search_page(admins.get_tenant(database.get_session(), tenant_id), GROUP.name, groups)


@bp.get("/tenants/<int:tenant_id>/users/<user_id>")
def user_page(tenant_id: int, user_id: str) -> str:
    """One user: attributes, groups and recent events."""
    session = database.get_session()
    tenant = admins.get_tenant(session, tenant_id)
    user = users.get(session, tenant.id, user_id)
    return render_template("console/user.html", tenant=tenant, user=user,
                           groups=user.groups,
                           events=resource_events(tenant, user.id),
                           document=json.dumps(user.doc, indent=2, ensure_ascii=False, sort_keys=True))


@bp.get("/tenants/<int:tenant_id>/groups/<group_id>")
def group_page(tenant_id: int, group_id: str) -> str:
    """One group: attributes and its members, a page at a time."""
    session = database.get_session()
    tenant = admins.get_tenant(session, tenant_id)
    group = groups.get(session, tenant.id, group_id)
    pager: Pager = requested_page()
    members, total = admins.group_members(session, tenant.id, group.id, pager.offset, pager.size)
    return render_template("console/group.html", tenant=tenant, group=group, members=members,
                           page=pager.counted(total), events=resource_events(tenant, group.id),
                           document=json.dumps(group.doc, indent=2, ensure_ascii=False, sort_keys=True))
