"""Query parameters of a search (RFC 7644 §3.4.2, §3.4.3; cursors per RFC 9865) and the ListResponse (§3.4.2).

Decisions:

- Parameter names are matched case-insensitively, the exact spelling first. RFC 7644 does not say; attribute names
  are case-insensitive (RFC 7643 §2.1) and being lenient costs nothing. Unknown parameters are ignored (§3.4.2).
- A parameter given as an empty string is absent, except `cursor`, where empty asks for the first page (RFC 9865 §2).
- `startIndex` / `count` that are not integers are a 400 `invalidValue` (§3.12), never a 500. Out-of-range values
  are clamped as §3.4.2.4 says: `startIndex` < 1 is 1, a negative `count` is 0; `count` is also capped at the
  configured maximum (§3.4.2.4: the server MAY return fewer results; `filter.maxResults`, §5 of RFC 7643).
- An invalid `sortOrder` is a 400 `invalidValue`: §3.4.2.3 allows only "ascending" and "descending" (matched here
  case-insensitively).
- `cursor` together with `startIndex` is a 400 `invalidValue`: they select different pagination methods
  (RFC 9865 §2), and RFC 9865 §2.1 answers invalid pagination parameters with 400.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from scim.errors import InvalidSyntax, InvalidValue
from scim.projection import Projection, split_names
from scim.schemas import LIST_RESPONSE_URN, SEARCH_REQUEST_URN, ResourceType

SortOrder = Literal["ascending", "descending"]
PaginationMethod = Literal["index", "cursor"]

# OFFSET is a signed 64-bit integer in PostgreSQL and SQLite; any larger start is past the last result anyway.
_MAX_START_INDEX = 2**63 - 1
_INTEGER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class SearchParams:
    """A validated search request. Exactly one of `start_index` (index pagination) and `cursor` is set."""

    count: int
    filter: str | None = None
    sort_by: str | None = None
    sort_order: SortOrder = "ascending"
    start_index: int | None = 1
    cursor: str | None = None
    attributes: tuple[str, ...] = ()
    excluded_attributes: tuple[str, ...] = ()

    @classmethod
    def from_query(
        cls,
        args: Mapping[str, str],
        *,
        max_results: int,
        default_count: int,
        default_pagination: PaginationMethod = "index",
    ) -> SearchParams:
        """Read the URL query parameters of GET on a resource endpoint (RFC 7644 §3.4.2)."""
        return cls._build(args, max_results, default_count, default_pagination)

    @classmethod
    def from_body(
        cls,
        body: Any,
        *,
        max_results: int,
        default_count: int,
        default_pagination: PaginationMethod = "index",
    ) -> SearchParams:
        """Read a SearchRequest posted to `.search` (RFC 7644 §3.4.3).

        The `schemas` attribute may be left out; when present it must be a list holding the SearchRequest URN.
        """
        if not isinstance(body, Mapping):
            raise InvalidSyntax("A SearchRequest body must be a JSON object (RFC 7644 §3.4.3).")
        schemas = _lookup(body, "schemas")
        if schemas is not None and not (
            isinstance(schemas, list)
            and any(isinstance(urn, str) and urn.lower() == SEARCH_REQUEST_URN.lower() for urn in schemas)
        ):
            raise InvalidValue(f'"schemas" of a SearchRequest must be ["{SEARCH_REQUEST_URN}"] (RFC 7644 §3.4.3).')
        return cls._build(body, max_results, default_count, default_pagination)

    @classmethod
    def _build(
        cls,
        source: Mapping[str, Any],
        max_results: int,
        default_count: int,
        default_pagination: PaginationMethod,
    ) -> SearchParams:
        start_index = _integer(source, "startIndex")
        cursor = _lookup(source, "cursor")
        if cursor is not None and not isinstance(cursor, str):
            raise InvalidValue('"cursor" must be a string (RFC 9865 §2).')
        if cursor is not None and start_index is not None:
            raise InvalidValue('"cursor" and "startIndex" are two pagination methods; send one (RFC 9865 §2.1).')
        if cursor is None and start_index is None and default_pagination == "cursor":
            cursor = ""
        count = _integer(source, "count")
        return cls(
            count=min(max(count if count is not None else default_count, 0), max_results),
            filter=_string(source, "filter"),
            sort_by=_string(source, "sortBy"),
            sort_order=_sort_order(_string(source, "sortOrder")),
            start_index=None if cursor is not None else min(max(start_index or 1, 1), _MAX_START_INDEX),
            cursor=cursor,
            attributes=_names(source, "attributes"),
            excluded_attributes=_names(source, "excludedAttributes"),
        )

    def projection(self, resource_type: ResourceType) -> Projection:
        """The projection `attributes` / `excludedAttributes` ask for (RFC 7644 §3.4.2.5)."""
        return Projection.parse(resource_type, self.attributes, self.excluded_attributes)


def list_response(
    resources: list[dict[str, Any]],
    total: int,
    start_index: int | None,
    *,
    next_cursor: str | None = None,
    previous_cursor: str | None = None,
) -> dict[str, Any]:
    """Build a ListResponse (RFC 7644 §3.4.2); `Resources` is present even when empty, as Okta and Entra expect.

    With cursor pagination `start_index` is None and is left out; `nextCursor` / `previousCursor` are added when
    given (RFC 9865 §2: no `nextCursor` means the last page).
    """
    body: dict[str, Any] = {"schemas": [LIST_RESPONSE_URN], "totalResults": total, "itemsPerPage": len(resources)}
    if start_index is not None:
        body["startIndex"] = start_index
    if next_cursor is not None:
        body["nextCursor"] = next_cursor
    if previous_cursor is not None:
        body["previousCursor"] = previous_cursor
    body["Resources"] = resources
    return body


def _lookup(source: Mapping[str, Any], name: str) -> Any:
    """The value of parameter `name`, exact spelling first, then any case; None when absent."""
    if name in source:
        return source[name]
    lowered = name.lower()
    return next((value for key, value in source.items() if isinstance(key, str) and key.lower() == lowered), None)


def _string(source: Mapping[str, Any], name: str) -> str | None:
    value = _lookup(source, name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidValue(f'"{name}" must be a string.')
    return value


def _integer(source: Mapping[str, Any], name: str) -> int | None:
    value = _lookup(source, name)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        try:
            return int(value.strip())
        except ValueError:  # more digits than int() accepts
            pass
    raise InvalidValue(f'"{name}" must be an integer (RFC 7644 §3.4.2.4), not {value!r:.40}.')


def _sort_order(value: str | None) -> SortOrder:
    if value is None or value.lower() == "ascending":
        return "ascending"
    if value.lower() == "descending":
        return "descending"
    raise InvalidValue(f'"sortOrder" must be "ascending" or "descending" (RFC 7644 §3.4.2.3), not {value!r:.40}.')


def _names(source: Mapping[str, Any], name: str) -> tuple[str, ...]:
    return split_names(_lookup(source, name))
