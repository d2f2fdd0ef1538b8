"""`scim-server schema add|list|remove`: extension schemas from JSON files, checked with clear errors (RFC 7643 §7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.cli import cli
from tests.conftest import make_token

ACME = "urn:example:scim:schemas:acme:2.0:User"
SITE: dict[str, Any] = {"name": "site", "type": "string"}
DEFINITION: dict[str, Any] = {"id": ACME, "name": "AcmeUser", "attributes": [SITE]}


def invoke(runner: FlaskCliRunner, *args: str) -> Result:
    return runner.invoke(cli, list(args))


def write(tmp_path: Path, content: Any, name: str = "schema.json") -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return str(path)


def add(runner: FlaskCliRunner, tmp_path: Path, content: Any, tenant: str = "acme", resource_type: str = "User"):
    return invoke(runner, "schema", "add", "--tenant", tenant, "--resource-type", resource_type,
                  write(tmp_path, content))


@pytest.fixture
def acme(app: Flask) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(app, 'acme')}"}


def test_schema_add_list_and_remove(runner: FlaskCliRunner, tmp_path: Path, acme: dict[str, str]) -> None:
    assert invoke(runner, "tenant", "create", "globex").exit_code == 0
    added = add(runner, tmp_path, DEFINITION, resource_type="user")
    assert added.exit_code == 0, added.output
    assert f"schema {ACME} added to User of tenant acme" in added.output
    group_schema = {"id": "urn:example:scim:schemas:globex:Group", "attributes": [SITE]}
    assert add(runner, tmp_path, group_schema, tenant="globex", resource_type="Group").exit_code == 0

    listing = invoke(runner, "schema", "list").output.splitlines()
    assert listing[0] == "tenant\tresource type\turn\tattributes\tcreated"
    assert [line.split("\t")[:4] for line in listing[1:]] == [
        ["acme", "User", ACME, "1"], ["globex", "Group", "urn:example:scim:schemas:globex:Group", "1"]]
    assert len(invoke(runner, "schema", "list", "--tenant", "globex").output.splitlines()) == 2

    removed = invoke(runner, "schema", "remove", "--tenant", "acme", ACME.upper().replace("URN:", "urn:"))
    assert removed.exit_code == 0, removed.output
    assert f"schema {ACME} removed from tenant acme" in removed.output
    assert ACME not in invoke(runner, "schema", "list").output


@pytest.mark.parametrize(("definition", "message"), [
    ([DEFINITION], "A schema definition is a JSON object"),
    ({**DEFINITION, "id": "acme:User"}, "is not a URN"),
    ({**DEFINITION, "id": "urn:example:acme User"}, "is not a URN"),
    ({**DEFINITION, "id": "urn:ietf:params:scim:schemas:core:2.0:User"}, "is already defined"),
    ({**DEFINITION, "id": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"}, "is already defined"),
    ({**DEFINITION, "id": "urn:ietf:params:scim:schemas:core:2.0:User:acme"}, "overlaps"),
    ({**DEFINITION, "attribute": [SITE]}, "unknown keys ['attribute']"),
    ({**DEFINITION, "attributes": []}, "'attributes' must be a non-empty list"),
    ({**DEFINITION, "attributes": ["site"]}, "attributes[0] must be a JSON object"),
    ({**DEFINITION, "attributes": [{**SITE, "name": "2nd-site"}]}, "'2nd-site' is not an attribute name"),
    ({**DEFINITION, "attributes": [{**SITE, "name": "$ref"}]}, "'$ref' is not an attribute name"),
    ({**DEFINITION, "attributes": [SITE, {**SITE, "name": "Site"}]}, "'Site' is defined twice"),
    ({**DEFINITION, "attributes": [{**SITE, "type": "text"}]}, "Attribute 'site': type 'text' is not one of"),
    ({**DEFINITION, "attributes": [{**SITE, "mutabilty": "readOnly"}]}, "unknown keys ['mutabilty']"),
    ({**DEFINITION, "attributes": [{**SITE, "mutability": "sometimes"}]}, "mutability 'sometimes' is not one of"),
    ({**DEFINITION, "attributes": [{**SITE, "returned": "maybe"}]}, "returned 'maybe' is not one of"),
    ({**DEFINITION, "attributes": [{**SITE, "uniqueness": "everywhere"}]}, "uniqueness 'everywhere' is not one of"),
    ({**DEFINITION, "attributes": [{**SITE, "uniqueness": "server"}]}, "'server' is not enforced"),
    ({**DEFINITION, "attributes": [{**SITE, "multiValued": "yes"}]}, "'multiValued' must be true or false"),
    ({**DEFINITION, "attributes": [{**SITE, "referenceTypes": ["User"]}]}, "only a reference attribute"),
    ({**DEFINITION, "attributes": [{**SITE, "subAttributes": [SITE]}]}, "only a complex attribute"),
    ({**DEFINITION, "attributes": [{"name": "badge", "type": "complex"}]}, "needs a non-empty 'subAttributes'"),
    ({**DEFINITION, "attributes": [{"name": "a", "type": "complex", "subAttributes": [
        {"name": "b", "type": "complex", "subAttributes": [SITE]}]}]}, "Attribute 'a.b': a sub-attribute cannot be"),
])
def test_invalid_definitions_are_clear_errors_and_store_nothing(
    runner: FlaskCliRunner, tmp_path: Path, acme: dict[str, str], definition: Any, message: str
) -> None:
    result = add(runner, tmp_path, definition)
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output
    assert len(invoke(runner, "schema", "list").output.splitlines()) == 1


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "is not JSON: Expecting property name"),
    (b'{"id": "urn:example:caf\xe9"}', "is not UTF-8 text"),
])
def test_unreadable_files_are_clear_errors(
    runner: FlaskCliRunner, tmp_path: Path, acme: dict[str, str], content: str | bytes, message: str
) -> None:
    result = add(runner, tmp_path, content)
    assert result.exit_code == 1 and message in result.output, result.output


def test_unknown_tenant_resource_type_and_urn_are_clear_errors(
    runner: FlaskCliRunner, tmp_path: Path, acme: dict[str, str]
) -> None:
    assert "No tenant named 'nobody'" in add(runner, tmp_path, DEFINITION, tenant="nobody").output
    assert "no resource type 'Device'; use one of User, Group" in add(runner, tmp_path, DEFINITION,
                                                                      resource_type="Device").output
    missing = invoke(runner, "schema", "add", "--tenant", "acme", "--resource-type", "User", "/no/such.json")
    assert missing.exit_code == 2 and "/no/such.json" in missing.output
    assert "has no extension schema" in invoke(runner, "schema", "remove", "--tenant", "acme", ACME).output


def test_an_urn_is_added_once_per_tenant_in_any_case(
    runner: FlaskCliRunner, tmp_path: Path, acme: dict[str, str]
) -> None:
    assert add(runner, tmp_path, DEFINITION).exit_code == 0
    again = add(runner, tmp_path, {**DEFINITION, "id": ACME.lower()}, resource_type="Group")
    assert again.exit_code == 1 and "is already defined" in again.output
    assert invoke(runner, "tenant", "create", "globex").exit_code == 0
    assert add(runner, tmp_path, DEFINITION, tenant="globex").exit_code == 0


def test_removing_a_schema_in_use_is_refused_unless_purged(
    runner: FlaskCliRunner, client: FlaskClient, tmp_path: Path, acme: dict[str, str]
) -> None:
    assert add(runner, tmp_path, DEFINITION).exit_code == 0
    for user_name in ("ann", "bo"):
        response = client.post("/scim/v2/Users", headers=acme, json={"userName": user_name, ACME: {"site": "PAR"}})
        assert response.status_code == 201
    client.post("/scim/v2/Users", headers=acme, json={"userName": "cy"})

    refused = invoke(runner, "schema", "remove", "--tenant", "acme", ACME)
    assert refused.exit_code == 1 and "2 User resource(s) still hold values of" in refused.output
    assert "--purge" in refused.output and ACME in invoke(runner, "schema", "list").output

    purged = invoke(runner, "schema", "remove", "--tenant", "acme", ACME, "--purge")
    assert purged.exit_code == 0 and "values purged from 2 resource(s)" in purged.output
    assert ACME not in invoke(runner, "schema", "list").output
