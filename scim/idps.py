"""Which identity provider sent a request, from its User-Agent and its shape (docs/idp-behaviour.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

OKTA = "Okta"
ENTRA = "Microsoft Entra ID"
ONELOGIN = "OneLogin"
JUMPCLOUD = "JumpCloud"
PING = "PingFederate/PingOne"
GENERIC = "a SCIM 2.0 client"
# Appended to Entra's Tenant URL, it switches Entra to standard PATCH requests (idp-behaviour §3.1).
ENTRA_FLAG = "aadOptscim062020"

# Names an identity provider's provisioning client puts in its User-Agent: "Okta SCIM Client 1.0.0", "OneLogin
# SCIM", "PingFederate"; Entra's provisioning service names Microsoft or Azure.
_USER_AGENTS = re.compile(r"(?P<okta>okta)|(?P<entra>azure|microsoft|entra)|(?P<onelogin>onelogin)"
                          r"|(?P<jumpcloud>jumpcloud)|(?P<ping>\bping)", re.IGNORECASE)
NAMES = {"okta": OKTA, "entra": ENTRA, "onelogin": ONELOGIN, "jumpcloud": JUMPCLOUD, "ping": PING}
# Entra's Test Connection looks up a user that cannot exist: a random GUID as its userName (idp-behaviour §3.2).
_GUID_LOOKUP = re.compile(r'^username eq "[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"$', re.IGNORECASE)
_LEGACY_OPS = frozenset({"Add", "Replace", "Remove"})


def by_user_agent(user_agent: str | None) -> str | None:
    """The key (a key of NAMES: okta, entra, onelogin, jumpcloud, ping) of the IdP a User-Agent names, or None."""
    found = _USER_AGENTS.search(user_agent) if user_agent else None
    return found.lastgroup if found else None


def detect(user_agent: str | None, path: str, legacy_patch: bool = False) -> str:
    """The IdP's display name: by its User-Agent, else by what only it sends, else GENERIC."""
    named = by_user_agent(user_agent)
    if named:
        return NAMES[named]
    query = urlsplit(path).query
    if legacy_patch or has_entra_flag(query):
        return ENTRA
    params = parse_qs(query)
    if _GUID_LOOKUP.match(params.get("filter", [""])[0]):
        return ENTRA
    if urlsplit(path).path.endswith("/Users") and params.get("startIndex") == ["1"] and params.get("count") == ["2"]:
        return OKTA  # "Test API Credentials" (idp-behaviour §1.3)
    return GENERIC


def has_entra_flag(query: str) -> bool:
    """Whether the query string carries `aadOptscim062020` (as a bare name or with a value)."""
    return any(part.split("=", 1)[0] == ENTRA_FLAG for part in query.split("&"))


def is_legacy_entra_patch(body: Any) -> bool:
    """Whether a PatchOp is in Entra's default dialect: capitalised ops, or `active` as the string "True"/"False"."""
    operations = body.get("Operations") if isinstance(body, Mapping) else None
    if not isinstance(operations, list):
        return False
    for operation in operations:
        if not isinstance(operation, Mapping):
            continue
        if operation.get("op") in _LEGACY_OPS:
            return True
        if str(operation.get("path", "")).lower() == "active" and operation.get("value") in ("True", "False"):
            return True
    return False
