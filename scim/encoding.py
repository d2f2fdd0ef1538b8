"""JSON out: every response body and every document, event diff and JSON column the server writes.

Every response and every write encodes, and orjson does it many times faster than the standard library. It refuses
what the standard library takes (an integer beyond 64 bits, a lone surrogate in a string): those fall back to
`json.dumps`, so no value a client could send fails to encode. Decoding stays with the standard library: orjson would
turn an integer beyond 64 bits into a float without a word.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    """Compact JSON, non-ASCII characters kept as they are (as `json.dumps(..., ensure_ascii=False)` writes them)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
