"""A tenant of the app under test, written to through its SCIM API as an IdP writes: for tests that then query the
database with storage's own functions, so that what the writes store is what the queries read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from storage import tenants
from tests.conftest import make_token

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
_BULK_CHUNK = 500  # operations per Bulk request, well inside maxOperations and the body size limit


class Tenant:
    """One tenant: its id (for storage calls) and its SCIM API (for writes)."""

    def __init__(self, app: Flask, client: FlaskClient, name: str) -> None:
        self.name = name
        self.client = client
        self.headers = {"Authorization": f"Bearer {make_token(app, name)}", "Content-Type": "application/scim+json"}
        with Session(app.extensions["scim.engine"]) as session:
            self.id = tenants.get_by_name(session, name).id

    def create_user(self, **attributes: Any) -> dict[str, Any]:
        """POST /Users; the created resource."""
        return self._created("/scim/v2/Users", {"schemas": [USER_URN], **attributes})

    def create_group(self, display_name: str, member_ids: Sequence[str] = (), **attributes: Any) -> dict[str, Any]:
        """POST /Groups; the created resource."""
        members = [{"value": member_id} for member_id in member_ids]
        return self._created("/scim/v2/Groups", {"schemas": [GROUP_URN], "displayName": display_name,
                                                 "members": members, **attributes})

    def patch_user(self, user_id: str, *operations: dict[str, Any]) -> dict[str, Any]:
        """PATCH /Users/{id}; the resource after it."""
        response = self.client.patch(f"/scim/v2/Users/{user_id}", headers=self.headers,
                                     json={"schemas": [PATCH_URN], "Operations": list(operations)})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json

    def replace_user(self, user_id: str, **attributes: Any) -> dict[str, Any]:
        """PUT /Users/{id}; the resource after it."""
        response = self.client.put(f"/scim/v2/Users/{user_id}", headers=self.headers,
                                   json={"schemas": [USER_URN], **attributes})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json

    def bulk_create(self, path: str, resources: Sequence[dict[str, Any]]) -> list[str]:
        """POST each resource to `path` ("/Users", "/Groups") through /Bulk; their ids, in order."""
        ids: list[str] = []
        for start in range(0, len(resources), _BULK_CHUNK):
            operations = [{"method": "POST", "path": path, "bulkId": f"b{number}", "data": resource}
                          for number, resource in enumerate(resources[start:start + _BULK_CHUNK])]
            response = self.client.post("/scim/v2/Bulk", headers=self.headers,
                                        json={"schemas": [BULK_URN], "Operations": operations})
            assert response.status_code == 200, response.get_data(as_text=True)
            for result in response.json["Operations"]:
                assert result["status"] == "201", result
                ids.append(result["location"].rsplit("/", 1)[1])
        return ids

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        """GET `path` under /scim/v2 with query parameters; the JSON body of a 200."""
        response = self.client.get(f"/scim/v2{path}", headers=self.headers, query_string=params)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json

    def _created(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(path, headers=self.headers, json=body)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.json
