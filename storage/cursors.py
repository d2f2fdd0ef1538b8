"""RFC 9865 cursors: a keyset position in a search's order, as opaque text bound to that order."""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import datetime
from typing import Any

from scim.datetimes import parse_instant
from scim.errors import InvalidCursor
from scim.schemas import AttrRef
from storage.operands import SortKey
from storage.ordering import Position

_MAX_CURSOR = 16_384  # characters; a cursor holds one sort key value, which a long string can make long
_INT64 = 2**63


def encode_cursor(fingerprint: str, position: Position) -> str:
    """base64url (unpadded: only RFC 3986 unreserved characters, as RFC 9865 §2 asks) of a small JSON array."""
    key = {"t": position.key.isoformat()} if isinstance(position.key, datetime) else position.key
    text = json.dumps([fingerprint, key, position.id, position.backward], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, fingerprint: str, key: SortKey | None) -> Position:
    """The position a cursor names, checked so that a forged one is a 400 `invalidCursor`, never a server error.

    Cursors are not signed: a position in an order the client may query anyway reveals nothing and grants nothing.
    """
    try:
        if len(cursor) > _MAX_CURSOR:
            raise ValueError("too long")
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        if not (isinstance(data, list) and len(data) == 4 and data[0] == fingerprint):
            raise ValueError("not a cursor of this query")
        _, value, row_id, backward = data
        if not (_clean_text(row_id) and isinstance(backward, bool)):
            raise ValueError("bad position")
        return Position(_key_value(value, key), row_id, backward)
    except (ValueError, binascii.Error, RecursionError) as error:  # RecursionError: JSON nested thousands deep
        raise InvalidCursor(f"The cursor is invalid ({error}); send an empty cursor for the first page.") from None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} in cursor")


def _clean_text(value: Any) -> bool:
    """A string a database accepts: no NUL, no lone surrogate, a sane length."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= _MAX_CURSOR
        and "\x00" not in value
        and not any("\ud800" <= char <= "\udfff" for char in value)
    )


def _key_value(value: Any, key: SortKey | None) -> Any:
    if value is None:
        if key is not None and not key.nullable:
            raise ValueError("missing sort key")
        return None
    if key is None:
        raise ValueError("unexpected sort key")
    if isinstance(value, dict) and datetime in key.types and list(value) == ["t"] and isinstance(value["t"], str):
        moment = parse_instant(value["t"])
        if moment is None:
            raise ValueError("not a dateTime with an offset in years 1 to 9999 UTC")
        return moment
    if isinstance(value, bool) != (bool in key.types) or not isinstance(value, key.types):
        raise ValueError("sort key of the wrong type")
    if isinstance(value, str) and not (value == "" or _clean_text(value)):
        raise ValueError("bad sort key")
    if (isinstance(value, int) and not -_INT64 <= value < _INT64) or (
        isinstance(value, float) and not math.isfinite(value)
    ):
        raise ValueError("sort key out of range")
    return value


def fingerprint(sort_by: AttrRef | None, descending: bool) -> str:
    """What a cursor is bound to: the order it is a position in."""
    return f"{str(sort_by).lower() if sort_by else ''}{'-' if descending else '+'}"
