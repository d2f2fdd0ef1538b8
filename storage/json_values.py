"""A value in a resource's JSON `doc` column, per dialect: `json_extract` on SQLite, `#>`/`#>>` on PostgreSQL.

Only values of the attribute's type match: a JSON string never equals a number, and no cast can fail on a stray
value of another type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, case, cast, func, literal
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP

from storage.sql_compare import TEXT_TYPES
from storage.sqlite_functions import utc_text


class SqliteJson:
    """A value in a JSON document on SQLite: `json_extract` gives strings as text, numbers, and true/false as 1/0."""

    _TYPES: Mapping[str, tuple[str, ...]] = {
        **dict.fromkeys((*TEXT_TYPES, "dateTime"), ("text",)),
        "boolean": ("true", "false"),
        "integer": ("integer", "real"),
        "decimal": ("integer", "real"),
    }
    _KEY_TYPES: Mapping[str, tuple[type, ...]] = {
        **dict.fromkeys((*TEXT_TYPES, "dateTime"), (str,)),
        "boolean": (int,),
        "integer": (int, float),
        "decimal": (int, float),
    }

    def __init__(self, value: ColumnElement[Any], json_type: ColumnElement[Any]) -> None:
        self.value = value
        self.json_type = json_type

    @classmethod
    def at(cls, document: ColumnElement[Any], keys: Sequence[str]) -> SqliteJson:
        path = sqlite_path(keys)
        return cls(func.json_extract(document, path), func.json_type(document, path))

    def has_type(self, kind: str) -> ColumnElement[bool]:
        return func.coalesce(self.json_type, "").in_(self._TYPES[kind])

    def text(self) -> ColumnElement[Any]:
        return self.value

    def typed(self, kind: str) -> ColumnElement[Any]:
        return func.scim_instant(self.value) if kind == "dateTime" else self.value

    def filter_value(self, kind: str, value: Any) -> Any:
        if kind == "dateTime":
            return utc_text(value)
        return int(value) if kind == "boolean" else value

    def key_types(self, kind: str) -> tuple[type, ...]:
        return self._KEY_TYPES[kind]

    def key_value(self, kind: str, value: Any) -> Any:
        return value


class PostgresJson:
    """A value in a JSONB document: numbers and booleans compare as jsonb, so no cast can fail on a stray value."""

    _TYPES: Mapping[str, str] = {
        **dict.fromkeys((*TEXT_TYPES, "dateTime"), "string"),
        "boolean": "boolean",
        "integer": "number",
        "decimal": "number",
    }
    _KEY_TYPES: Mapping[str, tuple[type, ...]] = {
        **dict.fromkeys(TEXT_TYPES, (str,)),
        "dateTime": (datetime,),
        "boolean": (bool,),
        "integer": (int, float),
        "decimal": (int, float),
    }

    def __init__(self, document: ColumnElement[Any], keys: Sequence[str]) -> None:
        path = literal(list(keys), ARRAY(Text))
        self.jsonb = document.op("#>", return_type=JSONB)(path) if keys else document
        self.text_value = document.op("#>>", return_type=Text)(path)

    def has_type(self, kind: str) -> ColumnElement[bool]:
        return func.coalesce(func.jsonb_typeof(self.jsonb), "") == self._TYPES[kind]

    def text(self) -> ColumnElement[Any]:
        return self.text_value

    def typed(self, kind: str) -> ColumnElement[Any]:
        if kind in TEXT_TYPES:
            return self.text_value
        if kind == "dateTime":
            # CASE, not AND: PostgreSQL may evaluate a cast before the type test beside it.
            return case((func.jsonb_typeof(self.jsonb) == "string", cast(self.text_value, TIMESTAMP(timezone=True))))
        return self.jsonb

    def filter_value(self, kind: str, value: Any) -> Any:
        return value if kind == "dateTime" else literal(value, JSONB)

    def key_types(self, kind: str) -> tuple[type, ...]:
        return self._KEY_TYPES[kind]

    def key_value(self, kind: str, value: Any) -> Any:
        return value if kind in TEXT_TYPES or kind == "dateTime" else literal(value, JSONB)


JsonValue = SqliteJson | PostgresJson


def sqlite_path(keys: Sequence[str]) -> str:
    """A JSON path with every key quoted: extension URNs hold dots and colons."""
    return "$" + "".join(f'."{key}"' for key in keys)


def json_at(document: ColumnElement[Any], keys: Sequence[str], dialect: str) -> JsonValue:
    """The value at `keys` in `document`."""
    return SqliteJson.at(document, keys) if dialect == "sqlite" else PostgresJson(document, keys)
