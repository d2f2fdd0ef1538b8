"""A tenant's connection as its setup page shows it: whether its IdP has called yet, which IdP, and its recent
requests with, for each failure, what is wrong in plain words (scim.diagnoses)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from scim import diagnoses
from scim.diagnoses import Diagnosis, Facts, diagnose
from scim.idps import GENERIC, detect
from storage import journal
from storage.documents import timestamp
from storage.models import JournalEntry

# Failures that mean the IdP cannot use the connection at all (credentials, base URL), unlike a refused write.
_CONNECTION_FAILURES = frozenset({diagnoses.BEARER_MISSING, diagnoses.TOKEN_REVOKED, diagnoses.TOKEN_EXPIRED,
                                  diagnoses.BASE_URL_WITHOUT_PREFIX, diagnoses.BASE_URL_PREFIX_TWICE})


def status(session: Session, tenant_id: int, limit: int = 20) -> dict[str, Any]:
    """The tenant's connection status (JSON-able): `state` ("waiting" until the first request; then "failing" while
    the newest request could not get through, for its credentials, its base URL or the server, else "connected":
    a refused write still reached the server), `idp` (None before any request), `requests` (newest first, each with
    its `diagnosis`: None or {code, text})."""
    requests = [_request(entry) for entry in journal.recent(session, tenant_id, limit)]
    if not requests:
        return {"state": "waiting", "idp": None, "requests": []}
    named = [request["idp"] for request in requests if request["idp"] != GENERIC]
    return {"state": "failing" if _failed_to_connect(requests[0]) else "connected",
            "idp": named[0] if named else GENERIC, "requests": requests}


def _failed_to_connect(request: dict[str, Any]) -> bool:
    diagnosis = request["diagnosis"]
    return (request["status"] == 401 or request["status"] >= 500
            or (diagnosis is not None and diagnosis["code"] in _CONNECTION_FAILURES))


def _request(entry: JournalEntry) -> dict[str, Any]:
    facts = entry.facts or {}
    idp = detect(entry.user_agent, entry.path, bool(facts.get("legacy_patch")))
    skipped = facts.get("skipped") or {}
    diagnosis = diagnose(Facts(
        path=entry.path, status=entry.status, idp=idp, scim_type=facts.get("scim_type"),
        detail=facts.get("detail"), bearer_missing=bool(facts.get("bearer_missing")), token=facts.get("token"),
        skipped=tuple(skipped.get("ids", ())), skipped_count=int(skipped.get("count", 0)),
    ))
    return {"time": timestamp(entry.occurred_at), "method": entry.method, "path": entry.path, "status": entry.status,
            "idp": idp, "diagnosis": _as_dict(diagnosis)}


def _as_dict(diagnosis: Diagnosis | None) -> dict[str, str] | None:
    return None if diagnosis is None else {"code": diagnosis.code, "text": diagnosis.text}
