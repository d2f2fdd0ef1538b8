"""Fuzzing the SCIM API over HTTP: whatever the body, filter, query parameter, header or nesting, the answer is never a
5xx, and every 4xx is a SCIM Error body as application/scim+json (RFC 7644 §3.12). Both databases; bounded."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scim.schemas import BULK_REQUEST_URN as BULK_URN
from scim.schemas import ENTERPRISE_USER_URN as ENTERPRISE
from scim.schemas import GROUP_URN, USER_URN
from scim.schemas import PATCH_OP_URN as PATCH_URN
from scim.schemas import SEARCH_REQUEST_URN as SEARCH_URN
from tests.api.test_tenant_schemas import add_schema, headers
from tests.conftest import make_token

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
FUZZ = "urn:example:scim:schemas:fuzz:2.0:User"
FUZZ_SCHEMA: dict[str, Any] = {
    "id": FUZZ,
    "name": "Fuzz",
    "attributes": [
        {"name": "seen", "type": "dateTime"},
        {"name": "score", "type": "decimal"},
        {"name": "rank", "type": "integer"},
        {"name": "blob", "type": "binary"},
        {"name": "flag", "type": "boolean"},
        {"name": "tags", "type": "string", "multiValued": True},
    ],
}

FUZZED = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# -- strategies: SCIM-shaped where that reaches deeper code, arbitrary elsewhere -----------------------------------

_TEXT = st.text(max_size=12)
_PRINTABLE = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
_DATETIMES = st.sampled_from([
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.9999999Z",
    "2024-02-29T12:00:00+20:00", "2024-13-01T00:00:00Z", "2024-05-01T08:00:00", "2024-05-01T08:00:00.5-05:00",
])
_NAMES = [
    "userName", "displayName", "name.givenName", "name", "emails", "emails.value", 'emails[type eq "work"].value',
    "emails[primary eq true]", "members", "members.value", 'members[value eq "x"]', "active", "id", "externalId",
    "meta.created", "meta.lastModified", "meta.version", "meta.resourceType", "groups", "title", "password",
    f"{ENTERPRISE}:manager", f"{ENTERPRISE}:manager.value", f"{FUZZ}:seen", f"{FUZZ}:score", f"{FUZZ}:rank",
    f"{FUZZ}:blob", f"{FUZZ}:flag", f"{FUZZ}:tags", "seen", "score", "nosuch", "urn:nosuch:x", "",
]
_SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | _TEXT | _DATETIMES
    | st.sampled_from(["True", "false", "AAEC", "AAEC=", "not base64", "\x00", "\ud800", USER_URN, GROUP_URN])
)
_KEYS = st.sampled_from([*_NAMES, "schemas", "value", "type", "primary", "op", "path", "Operations", FUZZ,
                         ENTERPRISE, "data", "method", "bulkId", "version"]) | _TEXT
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
                     max_leaves=16)
_SCHEMAS = st.sampled_from([[USER_URN], [GROUP_URN], [USER_URN, FUZZ], [USER_URN.upper()], [], ["x"]]) | _JSON


def _object(required: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    optional = {name: _JSON for name in _NAMES[:12] if name not in required}
    return st.fixed_dictionaries(required, optional=optional).flatmap(
        lambda body: st.dictionaries(_KEYS, _JSON, max_size=3).map(lambda extra: {**extra, **body}))


_RESOURCES = _object({"schemas": _SCHEMAS, "userName": _TEXT | _JSON, "displayName": _TEXT,
                      FUZZ: st.fixed_dictionaries({}, optional={"seen": _DATETIMES | _JSON, "score": _JSON,
                                                                "rank": _JSON, "blob": _JSON, "tags": _JSON})})
_OPERATIONS = st.lists(st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "replace", "remove", "Add", "delete"]) | _JSON},
    optional={"path": st.sampled_from(_NAMES) | _TEXT | _JSON, "value": _JSON | _RESOURCES}), max_size=4)
_PATCHES = st.fixed_dictionaries({"schemas": st.just([PATCH_URN]) | _SCHEMAS, "Operations": _OPERATIONS | _JSON})
_BULKS = st.fixed_dictionaries({
    "schemas": st.just([BULK_URN]) | _JSON,
    "Operations": st.lists(st.fixed_dictionaries(
        {"method": st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET"]) | _JSON,
         "path": st.sampled_from(["/Users", "/Groups", "/Users/bulkId:a", "/Groups/bulkId:b", "/Nope", "/"]) | _JSON},
        optional={"bulkId": st.sampled_from(["a", "b"]) | _JSON, "data": _RESOURCES | _PATCHES | _JSON,
                  "version": _TEXT | _JSON}), max_size=4) | _JSON,
}, optional={"failOnErrors": _JSON})

# Filters: built from the grammar's pieces, so most parse and reach the database, and some are plain text.
_VALUES = st.sampled_from(['"x"', "true", "null", "1e400", "-3", "1.5", '"AAEC"', '"\\u0000"', '"W/\\"1\\""']) | (
    _DATETIMES.map(json.dumps)) | _TEXT.map(json.dumps)
_OPS = st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "zz"])
_COMPARISONS = st.one_of(
    st.tuples(st.sampled_from(_NAMES), _OPS, _VALUES).map(" ".join),
    st.tuples(st.sampled_from(["meta.created", "meta.lastModified", f"{FUZZ}:seen"]), _OPS,
              _DATETIMES.map(json.dumps)).map(" ".join),
    st.sampled_from(_NAMES).map(lambda name: f"{name} pr"),
)
_FILTERS = st.recursive(_COMPARISONS, lambda inner: st.one_of(
    st.tuples(inner, st.sampled_from([" and ", " or ", " AND "]), inner).map("".join),
    inner.map(lambda text: f"not ({text})"), inner.map(lambda text: f"({text})"),
    st.tuples(st.sampled_from(["emails", "members", "name"]), inner).map(lambda parts: f"{parts[0]}[{parts[1]}]"),
), max_leaves=6) | _TEXT


def _cursor(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


_NUMBERS = st.integers(-(2**70), 2**70).map(str) | _TEXT
_CURSORS = _TEXT | st.tuples(
    st.sampled_from(["+", "-", "meta.created+", "username+", f"{FUZZ.lower()}:seen+"]) | _TEXT,
    _JSON | st.fixed_dictionaries({"t": _DATETIMES | _TEXT}), _JSON, _JSON,
).map(lambda parts: _cursor(list(parts)))
_QUERIES = st.fixed_dictionaries({}, optional={
    "filter": _FILTERS, "count": _NUMBERS, "startIndex": _NUMBERS, "sortBy": st.sampled_from(_NAMES) | _TEXT,
    "sortOrder": st.sampled_from(["ascending", "DESCENDING", "up"]), "cursor": _CURSORS,
    "attributes": st.lists(st.sampled_from(_NAMES), max_size=3).map(",".join) | _TEXT,
    "excludedAttributes": st.lists(st.sampled_from(_NAMES), max_size=3).map(",".join),
})
_SEARCHES = _QUERIES.map(lambda query: {"schemas": [SEARCH_URN], **query}) | st.dictionaries(_KEYS, _JSON)
_DEPTHS = st.sampled_from([31, 32, 33, 500, 1000, 5000]) | st.integers(1, 5000)
_NESTED = _DEPTHS.map(lambda depth: "[" * depth + "]" * depth) | _DEPTHS.map(
    lambda depth: f'{{"schemas": ["{USER_URN}"], "userName": "n", "x": {"[" * depth + "]" * depth}}}')
_ETAGS = st.sampled_from(["*", 'W/"1"', '"1"', 'W/"99999999999999999999"', "W/", '""', "W/\"-1\""]) | _PRINTABLE
_CONTENT_TYPES = st.sampled_from([
    "application/scim+json", "application/json", "application/scim+json; charset=latin-1", "text/plain",
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/+json", "",
]) | _PRINTABLE


def _encoded(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


_BODIES = st.one_of(
    _RESOURCES.map(_encoded), _PATCHES.map(_encoded), _BULKS.map(_encoded), _SEARCHES.map(_encoded),
    _JSON.map(_encoded), _NESTED.map(str.encode), st.binary(max_size=64),
)


# -- the check ----------------------------------------------------------------------------------------------------


def assert_scim_answer(response) -> None:
    """Never a 5xx; a 4xx is a SCIM Error; any other body is SCIM JSON."""
    status = response.status_code
    assert status < 500, response.get_data(as_text=True)
    if status >= 400:
        assert response.mimetype == "application/scim+json", (status, response.headers)
        body = json.loads(response.get_data())
        assert body["schemas"] == [ERROR_URN] and body["status"] == str(status) and body["detail"], body
    elif response.get_data():
        assert response.mimetype == "application/scim+json", (status, response.headers)
        json.loads(response.get_data())


@pytest.fixture
def fuzz(app: Flask, client: FlaskClient) -> dict[str, Any]:
    """A tenant with an extension of every simple type, one user and one group: ids to PUT, PATCH and page from."""
    token = make_token(app, "fuzz")
    add_schema(app, "fuzz", "User", FUZZ_SCHEMA)
    auth = headers(token)
    user = client.post("/scim/v2/Users", headers=auth, json={
        "schemas": [USER_URN, FUZZ], "userName": "ann", FUZZ: {"seen": "2024-05-01T08:00:00Z", "score": 1.5}})
    group = client.post("/scim/v2/Groups", headers=auth, json={
        "schemas": [GROUP_URN], "displayName": "g", "members": [{"value": user.get_json()["id"]}]})
    return {"auth": auth, "ids": {"Users": user.get_json()["id"], "Groups": group.get_json()["id"]}}


_TARGETS = st.sampled_from([
    ("POST", "/Users"), ("POST", "/Groups"), ("PUT", "/Users/{id}"), ("PUT", "/Groups/{id}"),
    ("PATCH", "/Users/{id}"), ("PATCH", "/Groups/{id}"), ("POST", "/Bulk"), ("POST", "/.search"),
    ("POST", "/Users/.search"), ("POST", "/Groups/.search"),
])


@FUZZED
@given(target=_TARGETS, body=_BODIES)
def test_any_body_gets_a_scim_answer(client: FlaskClient, fuzz: dict[str, Any], target: tuple[str, str],
                                     body: bytes) -> None:
    method, path = target
    if "{id}" in path:
        path = path.replace("{id}", fuzz["ids"][path.split("/")[1]])
    assert_scim_answer(client.open(f"/scim/v2{path}", method=method, headers=fuzz["auth"], data=body))


@FUZZED
@given(endpoint=st.sampled_from(["Users", "Groups"]), query=_QUERIES)
def test_any_query_gets_a_scim_answer(client: FlaskClient, fuzz: dict[str, Any], endpoint: str,
                                      query: dict[str, str]) -> None:
    assert_scim_answer(client.get(f"/scim/v2/{endpoint}", headers=fuzz["auth"], query_string=query))
    resource = f"/scim/v2/{endpoint}/{fuzz['ids'][endpoint]}"
    projection = {name: value for name, value in query.items() if name in ("attributes", "excludedAttributes")}
    assert_scim_answer(client.get(resource, headers=fuzz["auth"], query_string=projection))


@FUZZED
@given(
    method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE"]),
    endpoint=st.sampled_from(["Users", "Groups"]),
    resource_id=st.none() | _TEXT,
    if_match=st.none() | _ETAGS,
    if_none_match=st.none() | _ETAGS,
    content_type=st.none() | _CONTENT_TYPES,
    body=_BODIES,
)
def test_any_header_and_id_get_a_scim_answer(
    client: FlaskClient, fuzz: dict[str, Any], method: str, endpoint: str, resource_id: str | None,
    if_match: str | None, if_none_match: str | None, content_type: str | None, body: bytes,
) -> None:
    sent = {"Authorization": fuzz["auth"]["Authorization"]}
    for name, value in (("If-Match", if_match), ("If-None-Match", if_none_match), ("Content-Type", content_type)):
        if value is not None:
            sent[name] = value
    target = fuzz["ids"][endpoint] if resource_id is None else quote(resource_id, safe="") or "x"
    data = body if method in ("PUT", "PATCH") else None
    assert_scim_answer(client.open(f"/scim/v2/{endpoint}/{target}", method=method, headers=sent, data=data))
