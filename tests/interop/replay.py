"""Replaying an identity provider's requests over HTTP: its headers on every call, each step's status asserted.

The request sequences and expected answers are those of docs/idp-behaviour.md; every SCIM response must be
`application/scim+json` (Entra's validator fails otherwise, §3.5).
"""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"


class Idp:
    """One IdP connection: the base URL (with any query the admin typed into it) and the headers it sends."""

    def __init__(self, client: FlaskClient, token: str, *, base_query: str = "", **headers: str) -> None:
        self.client = client
        self.base_query = base_query
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/scim+json",
                        "Content-Type": "application/scim+json; charset=utf-8", **headers}

    def url(self, path: str) -> str:
        """`/scim/v2` + path; a query typed into the tenant URL comes first (`?aadOptscim062020&filter=…`)."""
        if not self.base_query:
            return f"/scim/v2{path}"
        route, _mark, query = path.partition("?")
        return f"/scim/v2{route}?{self.base_query}" + (f"&{query}" if query else "")

    def call(self, method: str, path: str, body: Any = None, *, status: int, **headers: str) -> Any:
        """Send one request; assert its status and media type; return the JSON body (None when empty)."""
        response = self.client.open(self.url(path), method=method, json=body, headers={**self.headers, **headers})
        assert response.status_code == status, (method, path, response.status_code, response.get_data(as_text=True))
        if not response.data:
            return None
        assert response.mimetype == "application/scim+json"
        return response.get_json()

    def get(self, path: str, status: int = 200, **headers: str) -> Any:
        return self.call("GET", path, status=status, **headers)

    def post(self, path: str, body: Any, status: int = 201) -> Any:
        return self.call("POST", path, body, status=status)

    def put(self, path: str, body: Any, status: int = 200) -> Any:
        return self.call("PUT", path, body, status=status)

    def patch(self, path: str, *operations: dict[str, Any], status: int | None = None) -> Any:
        """A PatchOp; users answer 200 with the resource, groups 204 (both accepted by every IdP here)."""
        expected = status if status is not None else 204 if path.startswith("/Groups/") else 200
        return self.call("PATCH", path, {"schemas": [PATCH_URN], "Operations": list(operations)}, status=expected)

    def delete(self, path: str, status: int = 204) -> Any:
        return self.call("DELETE", path, status=status)

    def find(self, path: str) -> list[dict[str, Any]]:
        """A query that must answer 200 with a well-formed ListResponse (never 404, idp-behaviour §1.5, §3.3)."""
        body = self.get(path)
        assert body["schemas"] == [LIST_URN]
        assert all(isinstance(body[key], int) for key in ("totalResults", "startIndex", "itemsPerPage"))
        assert body["itemsPerPage"] == len(body["Resources"])
        return body["Resources"]


def assert_error(body: dict[str, Any], status: int, scim_type: str | None = None) -> None:
    """An RFC 7644 §3.12 error body: Error URN, `status` as a string, a detail, and the scimType when defined."""
    assert body["schemas"] == [ERROR_URN] and body["status"] == str(status) and body["detail"]
    if scim_type is not None:
        assert body["scimType"] == scim_type


def member_ids(group: dict[str, Any]) -> list[str]:
    return sorted(member["value"] for member in group.get("members", []))
