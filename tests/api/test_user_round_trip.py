"""Any valid User built from the schema data, POSTed then read back, comes back as it was sent."""

from __future__ import annotations

import itertools
from typing import Any

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings

from scim.schemas import USER
from tests.strategies import documents

_SERVER_SET = {"id", "meta", "schemas"}
_numbers = itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=documents(USER))
def test_a_created_user_reads_back_equal_but_for_server_set_fields(
    client: FlaskClient, auth: dict, doc: dict[str, Any]
) -> None:
    doc = {**doc, "userName": f"{next(_numbers)}-{doc['userName']}"}  # unique across examples
    created = client.post("/scim/v2/Users", headers=auth, json=doc)
    assert created.status_code == 201, created.get_json()
    read = client.get(f"/scim/v2/Users/{created.get_json()['id']}", headers=auth).get_json()
    assert {key: value for key, value in read.items() if key not in _SERVER_SET} == doc
    assert read["schemas"][0] == USER.schema.id
