"""What went wrong with an IdP's request, in plain words, from the facts the request journal keeps about it
(storage/journal.py): each diagnosis has a stable `code` and a `text` an admin can act on (docs/troubleshooting.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from scim.idps import ENTRA, OKTA, ONELOGIN, has_entra_flag

BEARER_MISSING = "bearer_missing"
BASE_URL_WITHOUT_PREFIX = "base_url_without_scim_v2"
BASE_URL_PREFIX_TWICE = "base_url_scim_v2_twice"
ENTRA_WITHOUT_FLAG = "entra_without_aadoptscim062020"
TOKEN_REVOKED = "token_revoked"
TOKEN_EXPIRED = "token_expired"
DUPLICATE_USER_NAME = "duplicate_user_name"
DUPLICATE_GROUP_NAME = "duplicate_group_name"
REQUIRED_ATTRIBUTE_MISSING = "required_attribute_missing"
UNKNOWN_GROUP_MEMBER = "unknown_group_member"

PREFIX = "/scim/v2"
_REQUIRED = re.compile(r"Attribute '([^']+)' is required")
# What each IdP should match existing users on, so that it finds a user instead of creating it again.
_USER_MATCHING = {
    OKTA: "In Okta, users are matched on userName: make the app's username format (Sign On tab) produce the userName "
          "the user already has here, usually the email.",
    ENTRA: "In Entra's attribute mappings, match users on userPrincipalName → userName (matching precedence 1), "
           "so that Entra finds the existing user instead of creating it again.",
    ONELOGIN: "In OneLogin, map the SCIM username to the value the user already has here (usually the email).",
}
_DEFAULT_USER_MATCHING = ("Have the IdP look users up by userName (GET /Users?filter=userName eq \"…\") before "
                          "creating them, or delete the existing user here first.")


@dataclass(frozen=True)
class Facts:
    """What the journal records about one request (its `facts` column, plus the row's own columns)."""

    path: str  # with its query
    status: int
    idp: str
    scim_type: str | None = None
    detail: str | None = None
    bearer_missing: bool = False
    token: str | None = None  # "revoked" or "expired": a token that exists but no longer works
    skipped: tuple[str, ...] = ()  # group member ids the write skipped (not users of the tenant)
    skipped_count: int = 0


@dataclass(frozen=True)
class Diagnosis:
    code: str
    text: str


def diagnose(facts: Facts) -> Diagnosis | None:
    """The most telling diagnosis of the request, or None when nothing is wrong with it."""
    for check in (_bearer, _token, _base_url, _conflict, _required, _skipped, _entra_flag):
        diagnosis = check(facts)
        if diagnosis is not None:
            return diagnosis
    return None


def _bearer(facts: Facts) -> Diagnosis | None:
    if not facts.bearer_missing:
        return None
    return Diagnosis(BEARER_MISSING, 'The token was sent without the word "Bearer ": the Authorization header must '
                     'read "Bearer <token>". In Okta\'s Header Auth, type "Bearer " (with the space) before the token '
                     "in the Authorization field; other IdPs add it themselves from a secret-token field.")


def _token(facts: Facts) -> Diagnosis | None:
    if facts.token == "revoked":
        return Diagnosis(TOKEN_REVOKED, "The IdP sent a token that was revoked. Create a new token for this tenant "
                         "(console or `scim-server token create`) and paste it into the IdP's secret token field.")
    if facts.token == "expired":
        return Diagnosis(TOKEN_EXPIRED, "The IdP sent a token that has expired. Create a new token for this tenant "
                         "(console or `scim-server token create`) and paste it into the IdP's secret token field.")
    return None


def _base_url(facts: Facts) -> Diagnosis | None:
    path = urlsplit(facts.path).path
    if path.startswith(PREFIX + PREFIX + "/"):
        return Diagnosis(BASE_URL_PREFIX_TWICE, f"The IdP called {path}: {PREFIX} is in the URL twice. Set the base "
                         f"URL (Tenant URL) to end in {PREFIX} once, e.g. https://HOST{PREFIX}.")
    if not path.startswith(PREFIX + "/"):
        return Diagnosis(BASE_URL_WITHOUT_PREFIX, f"The IdP called {path}, without {PREFIX}. Set the base URL "
                         f"(Tenant URL) to end in {PREFIX}, e.g. https://HOST{PREFIX}.")
    return None


def _conflict(facts: Facts) -> Diagnosis | None:
    if facts.status != 409 or facts.scim_type != "uniqueness":
        return None
    if "/Groups" in urlsplit(facts.path).path:
        return Diagnosis(DUPLICATE_GROUP_NAME, "A group with this displayName already exists here. Have the IdP link "
                         "the existing group (Okta: Push Groups → link, not create) or rename one of them.")
    matching = _USER_MATCHING.get(facts.idp, _DEFAULT_USER_MATCHING)
    return Diagnosis(DUPLICATE_USER_NAME, f"A user with this userName already exists here, so the IdP's create was "
                     f"refused. {matching}")


def _required(facts: Facts) -> Diagnosis | None:
    match = _REQUIRED.search(facts.detail or "") if facts.status == 400 else None
    if match is None:
        return None
    name = match.group(1)
    return Diagnosis(REQUIRED_ATTRIBUTE_MISSING, f"The IdP's request lacks {name}, which is required. Map an IdP "
                     f"attribute to {name} in the app's attribute mappings, and make sure it has a value for every "
                     "user.")


def _skipped(facts: Facts) -> Diagnosis | None:
    if not facts.skipped_count:
        return None
    shown = ", ".join(facts.skipped)
    more = f" and {facts.skipped_count - len(facts.skipped)} more" if facts.skipped_count > len(facts.skipped) else ""
    return Diagnosis(UNKNOWN_GROUP_MEMBER, f"The group write named {facts.skipped_count} member(s) this tenant does "
                     f"not know ({shown}{more}); the other members were applied and these were skipped. Assign those "
                     "users to the app in the IdP so that they are provisioned before the group is pushed.")


def _entra_flag(facts: Facts) -> Diagnosis | None:
    if facts.idp != ENTRA or has_entra_flag(urlsplit(facts.path).query):
        return None
    return Diagnosis(ENTRA_WITHOUT_FLAG, "Microsoft Entra ID is calling without aadOptscim062020, so it sends its "
                     "older, non-standard PATCH requests. Append ?aadOptscim062020 to the Tenant URL "
                     f"(https://HOST{PREFIX}?aadOptscim062020) and save.")
