"""Search parameters (RFC 7644 §3.4.2, §3.4.3; RFC 9865) and the ListResponse."""

from __future__ import annotations

from typing import Any

import pytest

from scim.errors import InvalidSyntax, InvalidValue
from scim.schemas import GROUP, LIST_RESPONSE_URN, SEARCH_REQUEST_URN
from scim.search import SearchParams, list_response

LIMITS = {"max_results": 200, "default_count": 100}


def from_query(**args: str) -> SearchParams:
    return SearchParams.from_query(args, **LIMITS)


def from_body(body: Any) -> SearchParams:
    return SearchParams.from_body(body, **LIMITS)


def test_no_parameters_give_the_first_page_of_the_default_size() -> None:
    assert from_query() == SearchParams(count=100, start_index=1)


def test_query_parameters_are_read() -> None:
    params = from_query(
        filter='userName eq "ann"',
        sortBy="userName",
        sortOrder="descending",
        startIndex="3",
        count="10",
        attributes="userName,emails.value",
    )

    assert params == SearchParams(
        count=10,
        filter='userName eq "ann"',
        sort_by="userName",
        sort_order="descending",
        start_index=3,
        attributes=("userName", "emails.value"),
    )


def test_parameter_names_are_matched_case_insensitively() -> None:
    params = from_query(STARTINDEX="2", Count="5", excludedattributes="members", SortOrder="Descending")

    assert (params.start_index, params.count, params.excluded_attributes) == (2, 5, ("members",))
    assert params.sort_order == "descending"


def test_the_exact_spelling_wins_over_another_case() -> None:
    assert SearchParams.from_query({"Count": "7", "count": "3"}, **LIMITS).count == 3


@pytest.mark.parametrize(
    ("start_index", "expected"),
    [("1", 1), ("5", 5), ("0", 1), ("-3", 1), (" 2 ", 2), ("+4", 4), ("", 1), (str(10**30), 2**63 - 1)],
)
def test_start_index_below_one_is_one(start_index: str, expected: int) -> None:
    """RFC 7644 §3.4.2.4: a startIndex less than 1 SHALL be interpreted as 1."""
    assert from_query(startIndex=start_index).start_index == expected


@pytest.mark.parametrize(
    ("count", "expected"),
    [("10", 10), ("0", 0), ("-1", 0), ("200", 200), ("201", 200), ("1000000", 200), ("", 100)],
)
def test_count_is_clamped_between_zero_and_max_results(count: str, expected: int) -> None:
    """RFC 7644 §3.4.2.4: a negative count is 0; the server may return fewer results than asked (maxResults)."""
    assert from_query(count=count).count == expected


def test_the_default_count_is_capped_by_max_results_too() -> None:
    assert SearchParams.from_query({}, max_results=50, default_count=100).count == 50


@pytest.mark.parametrize("name", ["startIndex", "count"])
@pytest.mark.parametrize("value", ["abc", "1.5", "1e3", "0x10", "١٢", "1_000", "--1", "1 2"])
def test_non_integer_paging_values_are_invalid_value_not_a_crash(name: str, value: str) -> None:
    """A bad number is the client's error: 400 invalidValue (RFC 7644 §3.12), never a 500."""
    with pytest.raises(InvalidValue):
        from_query(**{name: value})


def test_a_number_too_long_to_convert_is_invalid_value_not_a_crash() -> None:
    """int() refuses more than 4300 digits with ValueError; that too is the client's error."""
    with pytest.raises(InvalidValue):
        from_query(count="9" * 5000)


@pytest.mark.parametrize(
    ("value", "expected"), [("ascending", "ascending"), ("DESCENDING", "descending"), ("", "ascending")]
)
def test_sort_order_is_case_insensitive(value: str, expected: str) -> None:
    assert from_query(sortBy="userName", sortOrder=value).sort_order == expected


@pytest.mark.parametrize("value", ["asc", "down", "ascending "])
def test_an_unknown_sort_order_is_invalid_value(value: str) -> None:
    """RFC 7644 §3.4.2.3 allows only "ascending" and "descending"."""
    with pytest.raises(InvalidValue):
        from_query(sortOrder=value)


def test_an_empty_filter_is_no_filter() -> None:
    assert from_query(filter="").filter is None


@pytest.mark.parametrize(("cursor", "expected"), [("", ""), ("VZUTiyhEQJ94IR", "VZUTiyhEQJ94IR")])
def test_a_cursor_selects_cursor_pagination_and_an_empty_one_the_first_page(cursor: str, expected: str) -> None:
    """RFC 9865 §2: the cursor is empty or omitted for the first page; no startIndex then."""
    params = from_query(cursor=cursor, count="10")

    assert (params.cursor, params.start_index, params.count) == (expected, None, 10)


def test_cursor_and_start_index_together_are_invalid_value() -> None:
    with pytest.raises(InvalidValue):
        from_query(cursor="abc", startIndex="2")


@pytest.mark.parametrize(
    ("args", "cursor", "start_index"),
    [({}, "", None), ({"startIndex": "3"}, None, 3), ({"cursor": "abc"}, "abc", None)],
)
def test_the_default_pagination_method_applies_only_when_none_is_asked_for(
    args: dict[str, str], cursor: str | None, start_index: int | None
) -> None:
    """RFC 9865: the server picks a method for requests that specify none."""
    params = SearchParams.from_query(args, default_pagination="cursor", **LIMITS)

    assert (params.cursor, params.start_index) == (cursor, start_index)


def test_a_search_request_body_is_read() -> None:
    """RFC 7644 §3.4.3: the same parameters as JSON, attributes as a list."""
    params = from_body(
        {
            "schemas": [SEARCH_REQUEST_URN],
            "attributes": ["displayName", "userName"],
            "filter": 'displayName sw "smith"',
            "startIndex": 1,
            "count": 10,
            "sortBy": "displayName",
        }
    )

    assert params == SearchParams(
        count=10,
        filter='displayName sw "smith"',
        sort_by="displayName",
        start_index=1,
        attributes=("displayName", "userName"),
    )


def test_a_search_request_without_schemas_is_accepted() -> None:
    assert from_body({"count": "5", "excludedAttributes": "members"}).excluded_attributes == ("members",)


def test_search_request_attribute_names_are_case_insensitive() -> None:
    params = from_body({"Schemas": [SEARCH_REQUEST_URN.upper()], "COUNT": 3, "Cursor": ""})

    assert (params.count, params.cursor) == (3, "")


def test_null_members_of_a_search_request_are_absent() -> None:
    assert from_body({"filter": None, "count": None, "cursor": None}) == from_body({})


@pytest.mark.parametrize(
    "body",
    [
        {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]},
        {"schemas": SEARCH_REQUEST_URN},
        {"count": True},
        {"count": 1.5},
        {"startIndex": [1]},
        {"filter": 3},
        {"sortBy": ["userName"]},
        {"sortOrder": False},
        {"attributes": [1, 2]},
        {"attributes": {"userName": True}},
        {"excludedAttributes": 5},
        {"cursor": 5},
    ],
)
def test_search_request_members_of_the_wrong_type_are_invalid_value(body: dict) -> None:
    with pytest.raises(InvalidValue):
        from_body(body)


@pytest.mark.parametrize("body", [[], "count=1", None])
def test_a_search_request_that_is_not_an_object_is_invalid_syntax(body: Any) -> None:
    with pytest.raises(InvalidSyntax):
        from_body(body)


def test_search_params_give_the_projection_they_ask_for() -> None:
    projection = from_query(excludedAttributes="members").projection(GROUP)

    assert not projection.needs("members")


def test_attributes_and_excluded_attributes_together_are_rejected_by_the_projection() -> None:
    params = from_query(attributes="displayName", excludedAttributes="members")

    with pytest.raises(InvalidValue):
        params.projection(GROUP)


def test_a_list_response_counts_the_page_and_keeps_the_total() -> None:
    """totalResults is every match, itemsPerPage the page size (RFC 7644 §3.4.2)."""
    body = list_response([{"id": "a"}, {"id": "b"}], 7, 3)

    assert body == {
        "schemas": [LIST_RESPONSE_URN],
        "totalResults": 7,
        "itemsPerPage": 2,
        "startIndex": 3,
        "Resources": [{"id": "a"}, {"id": "b"}],
    }


def test_an_empty_list_response_still_has_resources() -> None:
    """Okta and Entra read `Resources` even when nothing matched."""
    assert list_response([], 0, 1)["Resources"] == []


def test_a_cursor_page_has_cursors_and_no_start_index() -> None:
    """RFC 9865 §2: nextCursor on every page but the last; previousCursor optional."""
    body = list_response([{"id": "a"}], 5, None, next_cursor="n1", previous_cursor="p0")

    assert "startIndex" not in body
    assert (body["nextCursor"], body["previousCursor"], body["itemsPerPage"]) == ("n1", "p0", 1)


def test_the_last_cursor_page_has_no_next_cursor() -> None:
    assert "nextCursor" not in list_response([], 5, None)
