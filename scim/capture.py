"""Traffic capture, the pure part: what of a request and its response is kept (passwords, secrets and credentials
redacted, each body capped), and how long a capture may run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from scim import spans
from scim.changes import REDACTED
from scim.errors import InvalidValue
from scim.schemas import DEFAULT_REGISTRY

DEFAULT_DURATION = timedelta(minutes=60)
MAX_DURATION = timedelta(hours=24)
BODY_LIMIT = 64 * 1024  # bytes of UTF-8 kept of each body
# Headers that carry credentials: their value is replaced, but for an Authorization header's scheme, which tells
# whether "Bearer " was sent.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_SECRET_WORDS = ("password", "secret", "token")


def _never_returned() -> frozenset[str]:
    """The names of the built-in attributes that are `returned: never` (RFC 7643 §7), such as `password`."""
    names = set()
    for schema in DEFAULT_REGISTRY.schemas():
        for attribute in schema.attributes:
            if attribute.returned == "never":
                names.add(attribute.name.lower())
            names.update(sub.name.lower() for sub in attribute.sub_attributes if sub.returned == "never")
    return frozenset(names)


_NEVER_RETURNED = _never_returned()


def is_secret_name(name: str) -> bool:
    """Whether an attribute or key of that name holds a secret: never returned by its schema, or named like one."""
    lowered = name.lower().rsplit(":", 1)[-1].split("[", 1)[0].rsplit(".", 1)[-1]
    return lowered in _NEVER_RETURNED or any(word in lowered for word in _SECRET_WORDS)


def headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as kept: credentials replaced by REDACTED (an Authorization header keeps its scheme word)."""
    kept = {}
    for name, value in items:
        if name.lower() in _SECRET_HEADERS:
            scheme, _, rest = value.partition(" ")
            value = f"{scheme} {REDACTED}" if rest and scheme.isalpha() else REDACTED
        kept[name] = value
    return kept


def body(data: bytes) -> dict[str, Any]:
    """A body as kept: `text` with secrets redacted (a JSON body by its keys and PatchOp paths, any other by a
    pattern), cut at BODY_LIMIT bytes with `truncated`, and `size` in bytes as received."""
    text = data.decode("utf-8", "replace")
    try:
        text = json.dumps(_redacted(json.loads(text)), ensure_ascii=False)
    except ValueError:
        text = _SECRET_PAIR.sub(lambda match: f'{match.group(1)}"{REDACTED}"', text)
    encoded = text.encode("utf-8")
    truncated = len(encoded) > BODY_LIMIT
    if truncated:
        text = encoded[:BODY_LIMIT].decode("utf-8", "ignore")
    return {"text": text, "truncated": truncated, "size": len(data)}


# A "name": "value" pair whose name looks secret, in a body that is not valid JSON.
_SECRET_PAIR = re.compile(r'("[^"]*(?:password|secret|token)[^"]*"\s*:\s*)"(?:[^"\\]|\\.)*"', re.IGNORECASE)


def _redacted(value: Any) -> Any:
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if not isinstance(value, Mapping):
        return value
    if isinstance(value.get("path"), str) and is_secret_name(value["path"]) and "value" in value:
        value = {**value, "value": REDACTED}  # a PatchOp operation that sets a password
    return {key: REDACTED if is_secret_name(key) else _redacted(item) for key, item in value.items()}


def duration(text: str | None) -> timedelta:
    """A capture's duration from "90m", "2h", "1h30m" or a number of minutes; DEFAULT_DURATION when not given; at
    most MAX_DURATION."""
    if text is None or text == "":
        return DEFAULT_DURATION
    text = text.strip()
    span = timedelta(minutes=int(text)) if text.isdigit() else spans.parse(text, units="hm")
    if span is None:
        raise InvalidValue(f"{text!r} is not a duration: give minutes (90), or hours and minutes (2h, 1h30m).")
    if not timedelta(minutes=1) <= span <= MAX_DURATION:
        raise InvalidValue(f"A capture runs from 1 minute to {MAX_DURATION.total_seconds() // 3600:.0f} hours.")
    return span
