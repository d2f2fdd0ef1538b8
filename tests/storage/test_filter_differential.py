"""Differential test: the server's search agrees with the reference evaluator (tests/reference.py) on random filters.

Filters are drawn from the grammar (attribute, operator and value, combined with and/or/not and value paths) with
values taken from the population (in other cases, as substrings, in other offsets) and made up; each is sent as
GET /Users?filter=… to a tenant of ~30 users written through the API, and the ids returned must equal those
`tests.reference.evaluate` accepts on the users as GET shows them. The reference parses the text and reads the schema
documents itself, so a bug in parsing, attribute resolution or SQL shows as a disagreement. One population per
database, reused by all examples.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from app.cli import cli
from tests.reference import Schemas, evaluate, instant
from tests.storage.seeding import USER_URN, Tenant

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
EXT = "urn:example:params:scim:schemas:extension:qa:2.0:User"

# An extension with the types the core schemas lack in JSON: numbers, dateTimes, booleans, multi-valued simple values.
QA: dict[str, Any] = {
    "id": EXT,
    "name": "QA",
    "description": "Attributes of every type, stored in the JSON document.",
    "attributes": [
        {"name": "level", "type": "integer"},
        {"name": "score", "type": "decimal"},
        {"name": "hired", "type": "dateTime"},
        {"name": "vip", "type": "boolean"},
        {"name": "code", "type": "string", "caseExact": True},
        {"name": "tags", "type": "string", "multiValued": True},
        {"name": "badges", "type": "complex", "multiValued": True, "subAttributes": [
            {"name": "value", "type": "string"},
            {"name": "rank", "type": "integer"},
            {"name": "since", "type": "dateTime"},
            {"name": "primary", "type": "boolean"},
        ]},
    ],
}
SCHEMAS = Schemas.user(QA)

GROUP_NAMES = ["g-one", "g-two", "g-three"]
EXAMPLES_PER_DATABASE = 150
PEOPLE = 30

# Letters whose lower case PostgreSQL and Python agree on (not İ, not a final Σ), and LIKE's special characters.
WORDS = ["ann", "Ann", "BOB", "b_o%b", "zoë", "ZOË", "straße", "STRAẞE", "o'hara", "a/b\\c", 'x"y', "émile", "Ærø",
         "li", "Li", "100%", "mixedCase", "naïve"]
ALPHABET = "aAbBzZéÉßẞ%_/\\'\" .@-0"


def _maybe(rng: random.Random, value: Any, chance: float = 0.7) -> Any:
    return value if rng.random() < chance else None


def _word(rng: random.Random) -> str:
    return rng.choice(WORDS)


def _instant(rng: random.Random) -> datetime:
    base = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(-48, 48))
    return base + timedelta(microseconds=rng.choice([0, 0, 500_000, 123_456]))


def _iso(moment: datetime, rng: random.Random) -> str:
    """The instant in a random offset, with `Z` for UTC: equal instants, different strings."""
    offset = timezone(timedelta(hours=rng.choice([0, 0, 2, -5])))
    text = moment.astimezone(offset).isoformat()
    return text.replace("+00:00", "Z")


def _drop_none(value: Any) -> Any:
    """The document without null members (RFC 7643 §2.5: null is unassigned), as an IdP sends it."""
    if isinstance(value, dict):
        return {key: _drop_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_drop_none(item) for item in value]
    return value


def _email(rng: random.Random) -> dict[str, Any]:
    return {
        "value": f"{_word(rng)}@{rng.choice(['x.com', 'Y.org'])}",
        "type": _maybe(rng, rng.choice(["work", "Work", "home"])),
        "primary": _maybe(rng, rng.random() < 0.5, 0.5),
        "display": _maybe(rng, _word(rng), 0.3),
    }


def _enterprise(rng: random.Random) -> dict[str, Any]:
    return {
        "department": _maybe(rng, _word(rng)),
        "employeeNumber": _maybe(rng, str(rng.randrange(90, 110))),
        "manager": _maybe(rng, {"value": f"id-{rng.randrange(30)}"}),
    }


def _qa(rng: random.Random) -> dict[str, Any]:
    badge = lambda: {  # noqa: E731
        "value": _maybe(rng, _word(rng)),
        "rank": _maybe(rng, rng.randrange(5)),
        "since": _maybe(rng, _iso(_instant(rng), rng)),
        "primary": _maybe(rng, rng.random() < 0.5),
    }
    return {
        "level": _maybe(rng, rng.randrange(-5, 100)),
        "score": _maybe(rng, rng.choice([1.5, -2.25, 3, 0.1, 100.0])),
        "hired": _maybe(rng, _iso(_instant(rng), rng)),
        "vip": _maybe(rng, rng.random() < 0.5),
        "code": _maybe(rng, rng.choice(["Ab", "ab", "AB"])),
        "tags": [_word(rng) for _ in range(rng.choice([0, 1, 2]))],
        "badges": [badge() for _ in range(rng.choice([0, 1, 2]))],
    }


def _document(rng: random.Random, number: int) -> dict[str, Any]:
    def some(make: Callable[[], Any], counts: list[int]) -> list[Any]:
        return [make() for _ in range(rng.choice(counts))]

    doc: dict[str, Any] = {
        "userName": f"{_word(rng)}{number}",
        "displayName": _maybe(rng, _word(rng)),
        "nickName": _maybe(rng, _word(rng), 0.3),
        "title": _maybe(rng, rng.choice([_word(rng), ""]), 0.4),
        "externalId": _maybe(rng, rng.choice(["A1", "a1", "B-2", "b_2"])),
        "active": _maybe(rng, rng.random() < 0.6),
        "name": _maybe(rng, {"givenName": _maybe(rng, _word(rng)), "familyName": _maybe(rng, _word(rng))}),
        "emails": some(lambda: _email(rng), [0, 1, 1, 2, 3]),
        "phoneNumbers": some(lambda: {"value": rng.choice(["+1 555", "555-0100", "0"]),
                                      "type": _maybe(rng, rng.choice(["work", "mobile"]))}, [0, 1, 2]),
        "addresses": some(lambda: {"locality": _maybe(rng, _word(rng)), "type": _maybe(rng, "work"),
                                   "country": _maybe(rng, rng.choice(["FR", "fr", "DE"]))}, [0, 0, 1]),
        "roles": some(lambda: {"value": rng.choice(["admin", "Admin", "user"]),
                               "primary": _maybe(rng, rng.random() < 0.5)}, [0, 1, 2]),
        ENT: _maybe(rng, _enterprise(rng)),
        EXT: _maybe(rng, _qa(rng)),
    }
    return _drop_none(doc)


def population(seed: int = 20251123, size: int = PEOPLE) -> list[tuple[dict[str, Any], list[str]]]:
    """(a user's document, the names of the groups it is a member of) for each user."""
    rng = random.Random(seed)
    return [(_document(rng, number), rng.sample(GROUP_NAMES, rng.choice([0, 1, 1, 2]))) for number in range(size)]


# -- values the filters compare with -------------------------------------------------------------


def _collect(value: Any, path: list[str]) -> Iterator[Any]:
    """Every value at `path` in a wire resource, through lists (as a filter reaches them)."""
    if isinstance(value, list):
        for item in value:
            yield from _collect(item, path)
    elif not path:
        if value is not None:
            yield value
    elif isinstance(value, dict):
        yield from _collect(value.get(path[0]), path[1:])


def _split(path: str) -> list[str]:
    for urn in (ENT, EXT):
        if path.startswith(urn + ":"):
            return [urn, *path[len(urn) + 1:].split(".")]
    return path.split(".")


class Values:
    """Filter literals (JSON text) for a path and type: the population's own values, variants of them, and others."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.resources = resources

    def seen(self, path: str) -> list[Any]:
        return sorted({json.dumps(value) for resource in self.resources for value in _collect(resource, _split(path))})

    def literal(self, path: str, kind: str) -> st.SearchStrategy[str]:
        seen = [json.loads(text) for text in self.seen(path)]
        if kind == "boolean":
            return st.sampled_from(["true", "false"])
        if kind in ("integer", "decimal"):
            made_up = st.integers(-10, 110) if kind == "integer" else st.floats(-10, 110).map(lambda x: round(x, 2))
            return _with_seen(seen, made_up, lambda number: st.just(number)).map(json.dumps)
        if kind == "dateTime":
            made_up = st.datetimes(datetime(2024, 2, 20), datetime(2100, 1, 1), timezones=st.just(UTC))
            return _with_seen(seen, made_up.map(datetime.isoformat), _moved).map(json.dumps)
        return _with_seen(seen, st.text(ALPHABET, max_size=4), _string_variants).map(json.dumps)


def _with_seen(
    seen: list[Any], made_up: st.SearchStrategy[Any], variants: Callable[[Any], st.SearchStrategy[Any]]
) -> st.SearchStrategy[Any]:
    if not seen:
        return made_up
    return st.one_of(st.sampled_from(seen).flatmap(variants), made_up)


def _string_variants(text: str) -> st.SearchStrategy[str]:
    """The value itself, in another case, or a piece of it (for co/sw/ew)."""
    cut = st.integers(0, len(text))
    return st.one_of(
        st.sampled_from([text, text.upper(), text.lower(), text.swapcase()]),
        st.tuples(cut, cut).map(lambda ends: text[min(ends):max(ends)]),
    )


def _moved(text: str) -> st.SearchStrategy[str]:
    """The same instant in another offset, or a moment just before or after it."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    shifts = st.sampled_from([timedelta(0), timedelta(0), timedelta(microseconds=1), -timedelta(seconds=1)])
    offsets = st.sampled_from([0, 2, -5])
    return st.tuples(shifts, offsets).map(
        lambda pair: (moment + pair[0]).astimezone(timezone(timedelta(hours=pair[1]))).isoformat()
    )


# -- filters -------------------------------------------------------------------------------------

# (path, type of its values). A "complex" attribute takes only `pr`; a complex one with a `value` sub-attribute
# ("value") compares that, but not with gt/ge/lt/le.
ATTRIBUTES = [
    ("userName", "string"), ("displayName", "string"), ("nickName", "string"), ("title", "string"),
    ("externalId", "string"), ("id", "string"), ("active", "boolean"), ("name.givenName", "string"),
    ("name.familyName", "string"), ("name", "complex"), ("emails", "value"), ("emails.value", "string"),
    ("emails.type", "string"), ("emails.primary", "boolean"), ("emails.display", "string"),
    ("phoneNumbers.value", "string"), ("phoneNumbers.type", "string"), ("addresses.locality", "string"),
    ("addresses.country", "string"), ("addresses", "complex"), ("roles.value", "string"), ("roles.primary", "boolean"),
    ("groups", "value"), ("groups.value", "string"), ("meta.created", "dateTime"), ("meta.lastModified", "dateTime"),
    (f"{ENT}:department", "string"), (f"{ENT}:employeeNumber", "string"), (f"{ENT}:manager.value", "string"),
    (f"{ENT}:manager", "value"), (f"{EXT}:level", "integer"), (f"{EXT}:score", "decimal"),
    (f"{EXT}:hired", "dateTime"), (f"{EXT}:vip", "boolean"), (f"{EXT}:code", "string"), (f"{EXT}:tags", "string"),
    (f"{EXT}:badges", "value"), (f"{EXT}:badges.value", "string"), (f"{EXT}:badges.rank", "integer"),
    (f"{EXT}:badges.since", "dateTime"), (f"{EXT}:badges.primary", "boolean"),
]
VALUE_PATHS = {
    "emails": [("value", "string"), ("type", "string"), ("primary", "boolean"), ("display", "string")],
    "phoneNumbers": [("value", "string"), ("type", "string")],
    "addresses": [("locality", "string"), ("country", "string"), ("type", "string")],
    "roles": [("value", "string"), ("primary", "boolean")],
    "groups": [("value", "string"), ("type", "string")],
    f"{EXT}:badges": [("value", "string"), ("rank", "integer"), ("since", "dateTime"), ("primary", "boolean")],
}
OPERATORS = {
    "string": ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"],
    "value": ["eq", "ne", "co", "sw", "ew"],
    "boolean": ["eq", "ne"],
    "integer": ["eq", "ne", "gt", "ge", "lt", "le"],
    "decimal": ["eq", "ne", "gt", "ge", "lt", "le"],
    "dateTime": ["eq", "ne", "gt", "ge", "lt", "le"],
}


def _values_path(path: str) -> str:
    """Where the values compared with `path` are: a complex attribute compares its `value`."""
    return f"{path}.value" if path in ("emails", "groups", f"{ENT}:manager", f"{EXT}:badges") else path


def comparison(values: Values, path: str, kind: str, shown: str | None = None) -> st.SearchStrategy[str]:
    """`shown op value`, `shown pr` or `shown eq/ne null`; values come from `path` (the full path)."""
    shown = shown or path
    if kind == "complex":
        return st.just(f"{shown} pr")
    presence = st.sampled_from([f"{shown} pr", f"{shown} eq null", f"{shown} ne null"])
    literal = values.literal(_values_path(path), "string" if kind == "value" else kind)
    compared = st.tuples(st.sampled_from(OPERATORS[kind]), literal)
    return st.one_of(presence, compared.map(lambda pair: f"{shown} {pair[0]} {pair[1]}"))


def _combined(parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        parts.map(lambda text: f"not ({text})"),
        st.tuples(parts, st.sampled_from(["and", "or"]), parts).map(lambda triple: f"({' '.join(triple)})"),
    )


def value_path(values: Values) -> st.SearchStrategy[str]:
    """`attr[inner]`, the inner filter naming sub-attributes; sometimes Entra's `attr[inner].sub op value`."""

    def build(parent: str) -> st.SearchStrategy[str]:
        subs = VALUE_PATHS[parent]
        leaf = st.sampled_from(subs).flatmap(lambda sub: comparison(values, f"{parent}.{sub[0]}", sub[1], sub[0]))
        inner = st.recursive(leaf, _combined, max_leaves=3)
        tail = st.sampled_from(subs).flatmap(
            lambda sub: comparison(values, f"{parent}.{sub[0]}", sub[1], sub[0]).filter(lambda text: " pr" not in text)
        )
        bracket = inner.map(lambda text: f"{parent}[{text}]")
        return st.one_of(bracket, bracket, st.tuples(inner, tail).map(lambda pair: f"{parent}[{pair[0]}].{pair[1]}"))

    return st.sampled_from(sorted(VALUE_PATHS)).flatmap(build)


def filters(values: Values) -> st.SearchStrategy[str]:
    leaf = st.one_of(
        st.sampled_from(ATTRIBUTES).flatmap(lambda attribute: comparison(values, *attribute)),
        value_path(values),
    )
    return st.recursive(leaf, _combined, max_leaves=4)


# -- the test ------------------------------------------------------------------------------------


def _load(app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path) -> tuple[Tenant, dict[str, Any]]:
    """The population in tenant `acme` and again in `globex` (a leak across tenants would show as unknown ids),
    written through the API; acme's tenant and its users as GET shows them, by id."""
    definition = tmp_path / "qa.json"
    definition.write_text(json.dumps(QA), encoding="utf-8")
    people = population()
    tenants = [Tenant(app, client, "acme"), Tenant(app, client, "globex")]
    for api in tenants:
        added = runner.invoke(cli, ["schema", "add", "--tenant", api.name, "--resource-type", "User", str(definition)])
        assert added.exit_code == 0, added.output
        ids = [api.create_user(schemas=[USER_URN, *(urn for urn in (ENT, EXT) if urn in doc)], **doc)["id"]
               for doc, _groups in people]
        for name in GROUP_NAMES:
            api.create_group(name, [user_id for user_id, (_doc, groups) in zip(ids, people, strict=True)
                                    if name in groups])
    resources = tenants[0].get("/Users", count=1000)["Resources"]
    assert len(resources) == PEOPLE
    return tenants[0], {resource["id"]: resource for resource in resources}


def _ids(api: Tenant, **params: Any) -> list[str]:
    return [resource["id"] for resource in api.get("/Users", attributes="id", **params)["Resources"]]


def test_sql_filters_agree_with_the_reference_evaluator(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    """RFC 7644 §3.4.2.2 as `tests/reference.py` reads it, on SQLite and PostgreSQL."""
    api, wire = _load(app, client, runner, tmp_path)

    @settings(max_examples=EXAMPLES_PER_DATABASE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(filters(Values(list(wire.values()))))
    def agree(text: str) -> None:
        note(f"filter: {text}")
        expected = {user_id for user_id, resource in wire.items() if evaluate(text, resource, SCHEMAS)}
        assert set(_ids(api, filter=text, count=1000)) == expected

    agree()


# -- sorting and cursors -------------------------------------------------------------------------

SORTABLE = [
    "id", "userName", "displayName", "externalId", "active", "title", "name.givenName", "meta.created",
    "meta.lastModified", "emails", "emails.type", "emails.primary", "phoneNumbers.value", "roles.value", "groups",
    f"{ENT}:department", f"{ENT}:manager", f"{EXT}:level", f"{EXT}:score", f"{EXT}:hired", f"{EXT}:vip",
    f"{EXT}:code", f"{EXT}:tags", f"{EXT}:badges.rank", f"{EXT}:badges.since",
]


def _sort_value(resource: dict[str, Any], path: str) -> Any:
    """Per RFC 7644 §3.4.2.3 as storage reads it: a multi-valued attribute sorts by its primary value, else its first
    (a user's groups, which have no order, by the least); strings fold case unless caseExact; dateTimes are instants."""
    ref = SCHEMAS.resolve(path)
    if ref.attribute.type == "complex" and ref.sub is None:
        ref = SCHEMAS.resolve(f"{path}.value")
    value = ref.value(resource)
    if ref.attribute.multi_valued:
        items = value or []
        if ref.attribute.name == "groups":
            return min((item["value"] for item in items), default=None)
        first = next((item for item in items if isinstance(item, dict) and item.get("primary") is True), None)
        value = first if first is not None else (items[0] if items else None)
    if ref.sub is not None:
        value = value.get(ref.sub.name) if isinstance(value, dict) else None
    target = ref.sub or ref.attribute
    if value is None:
        return None
    if target.type == "dateTime":
        return instant(value)
    return value.lower() if isinstance(value, str) and not target.case_exact else value


def _expected_order(resources: dict[str, dict[str, Any]], ids: set[str], path: str, descending: bool) -> list[str]:
    """Missing values last ascending; descending is the exact reverse; ties by id."""

    def key(user_id: str) -> tuple[Any, ...]:
        value = _sort_value(resources[user_id], path)
        return (value is None, value if value is not None else 0, user_id)

    ordered = sorted(ids, key=key)
    return ordered[::-1] if descending else ordered


def _walk(api: Tenant, params: dict[str, Any]) -> tuple[list[str], list[str]]:
    """All ids by nextCursor from the first page, then by previousCursor back from the last page (bounded walks)."""
    pages: list[list[str]] = []
    cursor: str | None = ""
    previous: str | None = None
    while cursor is not None:
        assert len(pages) <= 2 * PEOPLE, "the walk does not end"
        page = api.get("/Users", attributes="id", cursor=cursor, **params)
        pages.append([resource["id"] for resource in page.get("Resources", [])])
        cursor, previous = page.get("nextCursor"), page.get("previousCursor")
    back: list[str] = []
    while previous is not None:
        assert len(back) <= 2 * PEOPLE, "the walk back does not end"
        page = api.get("/Users", attributes="id", cursor=previous, **params)
        back = [resource["id"] for resource in page.get("Resources", [])] + back
        previous = page.get("previousCursor")
    return [user_id for ids in pages for user_id in ids], back + pages[-1]


def test_sorted_cursor_walks_agree_with_a_reference_sort(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    """Keyset pages over every kind of sort key (JSON numbers, booleans and dateTimes, primary values, NULLs) give
    the whole sorted result exactly once, forward and backward."""
    api, wire = _load(app, client, runner, tmp_path)
    values = Values(list(wire.values()))

    @settings(max_examples=EXAMPLES_PER_DATABASE // 3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(SORTABLE), st.booleans(), st.integers(1, 8), st.none() | filters(values))
    def agree(path: str, descending: bool, count: int, text: str | None) -> None:
        note(f"sortBy={path} descending={descending} count={count} filter={text}")
        ids = {user_id for user_id, resource in wire.items() if text is None or evaluate(text, resource, SCHEMAS)}
        expected = _expected_order(wire, ids, path, descending)
        params = {"sortBy": path, "sortOrder": "descending" if descending else "ascending", "count": count}
        forward, backward = _walk(api, {**params, **({"filter": text} if text else {})})
        assert forward == expected
        assert backward == expected

    agree()
