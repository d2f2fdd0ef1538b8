"""Bad input gets a clean SCIM 400 or 413 and nothing stored can break a later query (issue 20, items 2, 3, 7):
dateTimes at the edge of the range, deep JSON, `schemas`, the root search's filter, streamed bodies over the limit,
non-finite decimals and binary values that are not base64."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from scim.schemas import BULK_REQUEST_URN as BULK_URN
from scim.schemas import GROUP_URN, USER_URN
from scim.schemas import PATCH_OP_URN as PATCH_URN
from scim.schemas import SEARCH_REQUEST_URN as SEARCH_URN
from tests.api.test_foundation import assert_scim_error
from tests.api.test_tenant_schemas import add_schema, headers
from tests.conftest import make_token
from tests.live import live_server

TYPED = "urn:example:scim:schemas:typed:2.0:User"
TYPED_SCHEMA: dict[str, Any] = {
    "id": TYPED,
    "name": "Typed",
    "attributes": [
        {"name": "seen", "type": "dateTime"},
        {"name": "score", "type": "decimal"},
        {"name": "blob", "type": "binary"},
    ],
}


@pytest.fixture
def typed(app: Flask) -> dict[str, str]:
    """Headers for tenant "typed", whose users have a dateTime, a decimal and a binary extension attribute."""
    token = make_token(app, "typed")
    add_schema(app, "typed", "User", TYPED_SCHEMA)
    return headers(token)


def post_user(client: FlaskClient, auth: dict[str, str], user_name: str, **typed_values: Any):
    body = {"schemas": [USER_URN, TYPED], "userName": user_name, TYPED: typed_values}
    return client.post("/scim/v2/Users", headers=auth, json=body)


def patch_user(client: FlaskClient, auth: dict[str, str], user_id: str, *operations: dict[str, Any]):
    return client.patch(f"/scim/v2/Users/{user_id}", headers=auth,
                        json={"schemas": [PATCH_URN], "Operations": list(operations)})


def user_names(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [resource["userName"] for resource in response.get_json(force=True)["Resources"]]


# -- item 2: dateTimes at the edge of the range -----------------------------------------------------------------------

OUT_OF_RANGE = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


@pytest.mark.parametrize("text", OUT_OF_RANGE)
@pytest.mark.parametrize("attribute", ["meta.lastModified", "meta.created", f"{TYPED}:seen"])
def test_a_filter_datetime_whose_utc_instant_is_outside_years_1_to_9999_is_invalid_filter(
    client: FlaskClient, typed: dict[str, str], attribute: str, text: str
) -> None:
    """In UTC these are year 0 and year 10000, which no database column or Python datetime holds."""
    post_user(client, typed, "ann", seen="2024-05-01T08:00:00Z")
    for op in ("gt", "lt", "eq"):
        query = f'{attribute} {op} "{text}"'
        body = assert_scim_error(client.get("/scim/v2/Users", headers=typed, query_string={"filter": query}), 400,
                                 "invalidFilter")
        assert "years 1 to 9999" in body["detail"]
        assert_scim_error(client.post("/scim/v2/Users/.search", headers=typed,
                                      json={"schemas": [SEARCH_URN], "filter": query}), 400, "invalidFilter")


@pytest.mark.parametrize("attribute", ["meta.lastModified", f"{TYPED}:seen"])
def test_filter_datetimes_at_the_ends_of_the_range_still_compare(
    client: FlaskClient, typed: dict[str, str], attribute: str
) -> None:
    post_user(client, typed, "ann", seen="2024-05-01T08:00:00Z")
    for query, expected in ((f'{attribute} gt "0001-01-01T00:00:00-14:00"', ["ann"]),
                            (f'{attribute} lt "9999-12-31T23:59:59+14:00"', ["ann"]),
                            (f'{attribute} gt "9999-12-31T23:59:59.999999Z"', [])):
        assert user_names(client.get("/scim/v2/Users", headers=typed, query_string={"filter": query})) == expected


@pytest.mark.parametrize("text", [*OUT_OF_RANGE, "2024-13-01T00:00:00Z", "2024-05-01T08:00:00", "2024-05-01"])
def test_a_stored_datetime_outside_the_range_or_invalid_is_invalid_value(
    client: FlaskClient, typed: dict[str, str], text: str
) -> None:
    assert_scim_error(post_user(client, typed, "ann", seen=text), 400, "invalidValue")
    user_id = post_user(client, typed, "bob").get_json(force=True)["id"]
    response = patch_user(client, typed, user_id, {"op": "replace", "path": f"{TYPED}:seen", "value": text})
    assert_scim_error(response, 400, "invalidValue")


def test_datetimes_are_stored_in_utc_so_that_edge_values_sort_filter_and_page(
    client: FlaskClient, typed: dict[str, str]
) -> None:
    """Each value as its UTC instant with `Z`: an offset PostgreSQL cannot cast (+20:00) or an instant at the ends
    of the range is stored in the one form every query reads, and comes back in it."""
    given = {"low": "0001-01-01T00:00:00-14:00", "high": "9999-12-31T23:59:59+14:00",
             "odd": "2020-01-01T00:00:00+20:00", "mid": "2024-05-01T10:00:00.5+02:00"}
    for user_name, text in given.items():
        response = post_user(client, typed, user_name, seen=text)
        assert response.status_code == 201, response.get_json()
    stored = {resource["userName"]: resource[TYPED]["seen"]
              for resource in client.get("/scim/v2/Users", headers=typed).get_json(force=True)["Resources"]}
    assert stored == {"low": "0001-01-01T14:00:00Z", "high": "9999-12-31T09:59:59Z",
                      "odd": "2019-12-31T04:00:00Z", "mid": "2024-05-01T08:00:00.500000Z"}
    ascending = ["low", "odd", "mid", "high"]
    sort = {"sortBy": f"{TYPED}:seen"}
    assert user_names(client.get("/scim/v2/Users", headers=typed, query_string=sort)) == ascending
    assert user_names(client.get("/scim/v2/Users", headers=typed,
                                 query_string={**sort, "sortOrder": "descending"})) == ascending[::-1]
    query = {"filter": f'{TYPED}:seen ge "2019-12-31T04:00:00Z"', **sort}
    assert user_names(client.get("/scim/v2/Users", headers=typed, query_string=query)) == ["odd", "mid", "high"]
    paged, cursor = [], ""
    while cursor is not None:
        page = client.get("/scim/v2/Users", headers=typed, query_string={**sort, "count": 1, "cursor": cursor})
        paged += user_names(page)
        cursor = page.get_json(force=True).get("nextCursor")
    assert paged == ascending


def test_a_cursor_carrying_a_datetime_outside_the_range_is_invalid_cursor(
    client: FlaskClient, typed: dict[str, str]
) -> None:
    for user_name in ("ann", "bob"):
        post_user(client, typed, user_name)
    query = {"sortBy": "meta.created", "count": 1, "cursor": ""}
    issued = client.get("/scim/v2/Users", headers=typed, query_string=query).get_json(force=True)["nextCursor"]
    fingerprint, key, row_id, backward = json.loads(base64.urlsafe_b64decode(issued + "=" * (-len(issued) % 4)))
    assert list(key) == ["t"]
    for text in OUT_OF_RANGE:
        forged = json.dumps([fingerprint, {"t": text}, row_id, backward]).encode()
        cursor = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
        response = client.get("/scim/v2/Users", headers=typed, query_string={**query, "cursor": cursor})
        assert_scim_error(response, 400, "invalidCursor")


def test_a_cursor_of_deeply_nested_json_is_invalid_cursor(client: FlaskClient, auth: dict) -> None:
    cursor = base64.urlsafe_b64encode(b"[" * 12_000).rstrip(b"=").decode()
    response = client.get("/scim/v2/Users", headers=auth, query_string={"sortBy": "userName", "cursor": cursor})
    assert_scim_error(response, 400, "invalidCursor")


# -- item 3: deep JSON --------------------------------------------------------------------------------------------


ID = '"id"'


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_json_nested_deeper_than_the_limit_is_invalid_syntax(client: FlaskClient, auth: dict, depth: int) -> None:
    user_id = client.post("/scim/v2/Users", headers=auth, json={"userName": "ann"}).get_json(force=True)["id"]
    user = f'{{"schemas": ["{USER_URN}"], "userName": "bob", "x": {nested(depth)}}}'
    for method, path, body in (
        ("POST", "/scim/v2/Users", nested(depth)),
        ("POST", "/scim/v2/Users", user),
        ("PUT", f"/scim/v2/Users/{user_id}", user),
        ("PATCH", f"/scim/v2/Users/{user_id}",
         f'{{"schemas": ["{PATCH_URN}"], "Operations": [{{"op": "add", "path": "title", "value": {nested(depth)}}}]}}'),
        ("POST", "/scim/v2/Bulk", f'{{"schemas": ["{BULK_URN}"], "Operations": [{{"method": "POST", "path": '
                                  f'"/Users", "bulkId": "b", "data": {nested(depth)}}}]}}'),
        ("POST", "/scim/v2/.search", f'{{"schemas": ["{SEARCH_URN}"], "attributes": {nested(depth, ID)}}}'),
    ):
        body_of_error = assert_scim_error(client.open(path, method=method, headers=auth, data=body), 400,
                                          "invalidSyntax")
        assert "32 levels" in body_of_error["detail"]


def test_json_up_to_the_limit_and_brackets_inside_strings_are_read(client: FlaskClient, auth: dict) -> None:
    """The depth counts arrays and objects only, so many members or a userName full of brackets pass."""
    deep_unknown = json.loads("{" + '"a": {' * 30 + "}" * 30 + "}")  # 31 levels, under an unknown key: ignored
    response = client.post("/scim/v2/Users", headers=auth,
                           json={"schemas": [USER_URN], "userName": "[{" * 200 + "]}", "x": deep_unknown})
    assert response.status_code == 201, response.get_json()
    ids = [client.post("/scim/v2/Users", headers=auth, json={"userName": f"u{n}"}).get_json(force=True)["id"]
           for n in range(40)]
    group = client.post("/scim/v2/Groups", headers=auth,
                        json={"schemas": [GROUP_URN], "displayName": "g", "members": [{"value": i} for i in ids]})
    assert group.status_code == 201, group.get_json()
    assert len(group.get_json(force=True)["members"]) == 40


# -- item 7: schemas, the root search, streamed bodies, decimals, binary --------------------------------------------


@pytest.mark.parametrize(("endpoint", "schemas"), [
    ("Users", [GROUP_URN]), ("Users", []), ("Users", ["urn:example:unknown"]), ("Groups", [USER_URN]),
])
def test_a_body_whose_schemas_lack_the_core_schema_is_invalid_syntax(
    client: FlaskClient, auth: dict, endpoint: str, schemas: list[str]
) -> None:
    body = {"schemas": schemas, "userName": "ann", "displayName": "ann"}
    body_of_error = assert_scim_error(client.post(f"/scim/v2/{endpoint}", headers=auth, json=body), 400,
                                      "invalidSyntax")
    assert "schemas" in body_of_error["detail"]
    core = USER_URN if endpoint == "Users" else GROUP_URN
    created = client.post(f"/scim/v2/{endpoint}", headers=auth, json={**body, "schemas": [core]}).get_json(force=True)
    response = client.put(f"/scim/v2/{endpoint}/{created['id']}", headers=auth, json=body)
    assert_scim_error(response, 400, "invalidSyntax")
    bulk = {"schemas": [BULK_URN], "Operations": [{"method": "POST", "path": f"/{endpoint}", "bulkId": "b",
                                                   "data": body}]}
    result = client.post("/scim/v2/Bulk", headers=auth, json=bulk).get_json(force=True)["Operations"][0]
    assert result["status"] == "400" and result["response"]["scimType"] == "invalidSyntax"


def test_the_core_schema_in_any_case_with_unknown_extensions_is_accepted(client: FlaskClient, auth: dict) -> None:
    """Entra adds Microsoft's own URNs; URNs we do not know are still ignored."""
    schemas = [USER_URN.upper(), "urn:ietf:params:scim:schemas:extension:unknown:2.0:User",
               "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/User"]
    response = client.post("/scim/v2/Users", headers=auth, json={"schemas": schemas, "userName": "ann"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json(force=True)["schemas"] == [USER_URN]


@pytest.mark.parametrize("text", ['userName zz "x"', 'nosuch eq "x"', 'userName gt 5', "userName eq",
                                  'meta.created gt "0001-01-01T00:00:00+14:00"'])
def test_the_root_search_refuses_a_filter_no_resource_type_accepts(client: FlaskClient, auth: dict, text: str) -> None:
    body = {"schemas": [SEARCH_URN], "filter": text}
    assert_scim_error(client.post("/scim/v2/.search", headers=auth, json=body), 400, "invalidFilter")


def test_the_root_search_searches_the_types_a_filter_fits(client: FlaskClient, auth: dict) -> None:
    user = client.post("/scim/v2/Users", headers=auth, json={"schemas": [USER_URN], "userName": "ann"})
    client.post("/scim/v2/Groups", headers=auth,
                json={"schemas": [GROUP_URN], "displayName": "g", "members": [{"value": user.get_json()["id"]}]})
    for text, kinds in (('members.value pr', ["Group"]), ('userName eq "ann"', ["User"]),
                        ('meta.created gt "0001-01-01T00:00:00Z"', ["User", "Group"])):
        body = client.post("/scim/v2/.search", headers=auth, json={"schemas": [SEARCH_URN], "filter": text})
        assert body.status_code == 200, body.get_json()
        assert [resource["meta"]["resourceType"] for resource in body.get_json()["Resources"]] == kinds


def streamed(client: FlaskClient, auth: dict, body: bytes):
    """A chunked body as gunicorn hands it over: no Content-Length, the stream ends where the body does."""
    return client.post("/scim/v2/Users", headers={**auth, "Transfer-Encoding": "chunked"},
                       input_stream=io.BytesIO(body), environ_overrides={"wsgi.input_terminated": True})


def padded(user_name: str, size: int) -> bytes:
    """A valid user body of exactly `size` bytes (trailing whitespace): cut anywhere in the padding, still valid."""
    text = json.dumps({"schemas": [USER_URN], "userName": user_name}).encode()
    return text + b" " * (size - len(text))


def test_a_streamed_body_over_the_limit_is_413_and_one_at_the_limit_is_read(
    app: Flask, client: FlaskClient, auth: dict
) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert_scim_error(streamed(client, auth, padded("over", limit + 1)), 413)
    assert_scim_error(streamed(client, auth, padded("far-over", 3 * limit)), 413)
    for user_name, size in (("small", 200), ("at-limit", limit)):
        response = streamed(client, auth, padded(user_name, size))
        assert response.status_code == 201, response.get_json()
    names = {user["userName"] for user in client.get("/scim/v2/Users", headers=auth).get_json()["Resources"]}
    assert names == {"small", "at-limit"}


def test_a_chunked_body_over_the_limit_is_413_from_gunicorn(app: Flask, db_url: str, tmp_path: Path) -> None:
    """The real framing: Transfer-Encoding: chunked over a socket, decoded by gunicorn."""
    import http.client

    token, limit = make_token(app, "acme"), app.config["MAX_CONTENT_LENGTH"]
    with live_server(db_url, tmp_path / "gunicorn.log", workers=1) as port:
        statuses = {}
        for user_name, size in (("over", limit + 1), ("fits", 300)):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("POST", "/scim/v2/Users", body=iter([padded(user_name, size)]),
                                   headers={"Authorization": f"Bearer {token}",
                                            "Content-Type": "application/scim+json"}, encode_chunked=True)
                response = connection.getresponse()
                statuses[user_name] = (response.status, response.getheader("Content-Type"), response.read())
            finally:
                connection.close()
    assert statuses["over"][:2] == (413, "application/scim+json")
    assert json.loads(statuses["over"][2])["status"] == "413"
    assert statuses["fits"][0] == 201


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_non_finite_decimal_is_invalid_value(client: FlaskClient, typed: dict[str, str], number: str) -> None:
    body = f'{{"schemas": ["{USER_URN}", "{TYPED}"], "userName": "ann", "{TYPED}": {{"score": {number}}}}}'
    assert_scim_error(client.post("/scim/v2/Users", headers=typed, data=body), 400, "invalidValue")
    user_id = post_user(client, typed, "bob", score=1.5).get_json(force=True)["id"]
    operation = f'{{"op": "replace", "path": "{TYPED}:score", "value": {number}}}'
    response = client.patch(f"/scim/v2/Users/{user_id}", headers=typed,
                            data=f'{{"schemas": ["{PATCH_URN}"], "Operations": [{operation}]}}')
    assert_scim_error(response, 400, "invalidValue")
    assert client.get(f"/scim/v2/Users/{user_id}", headers=typed).get_json(force=True)[TYPED] == {"score": 1.5}


@pytest.mark.parametrize("blob", ["not base64!", "AAE", "AAEC=", "QUJD\n", "ÀÀÀÀ"])
def test_a_binary_value_that_is_not_base64_is_invalid_value(client: FlaskClient, typed: dict[str, str],
                                                            blob: str) -> None:
    assert_scim_error(post_user(client, typed, "ann", blob=blob), 400, "invalidValue")
    certificates = {"schemas": [USER_URN], "userName": "bob", "x509Certificates": [{"value": blob}]}
    assert_scim_error(client.post("/scim/v2/Users", headers=typed, json=certificates), 400, "invalidValue")


def test_base64_binary_values_are_kept_as_given(client: FlaskClient, typed: dict[str, str]) -> None:
    blob = base64.b64encode(b"\x00\x01binary\xff").decode()
    created = post_user(client, typed, "ann", blob=blob)
    assert created.status_code == 201, created.get_json()
    assert created.get_json(force=True)[TYPED] == {"blob": blob}
