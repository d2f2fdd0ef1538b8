"""Resource versions as weak ETags and the If-Match / If-None-Match preconditions (RFC 7644 §3.14, RFC 7232 §3).

Entity-tags are compared weakly for both headers. RFC 7232 §3.1 asks for the strong comparison on If-Match, but SCIM
versions are weak tags (RFC 7644 §3.14 sends `If-Match: W/"…"` itself), and under the strong comparison a weak tag
never matches, which would make every conditional update fail.
"""

from __future__ import annotations

import re

# An entity-tag: optional W/ then a quoted opaque-tag; an unquoted token is accepted from lenient clients.
_ENTITY_TAG = re.compile(r'(?:W/)?(?:"([^"]*)"|([^\s,"]+))')


def etag(version: int) -> str:
    """The weak ETag of a resource version, `W/"<version>"` (RFC 7644 §3.14)."""
    return f'W/"{version}"'


def if_match_ok(header: str | None, current: str) -> bool:
    """Whether a write may proceed: no If-Match, `*`, or a listed tag matching `current` (RFC 7232 §3.1)."""
    if header is None or not header.strip():
        return True
    return _matches(header, current)


def if_none_match_hit(header: str | None, current: str) -> bool:
    """Whether If-None-Match matches `current`, so a GET answers 304 Not Modified (RFC 7232 §3.2)."""
    if header is None or not header.strip():
        return False
    return _matches(header, current)


def _matches(header: str, current: str) -> bool:
    if header.strip() == "*":
        return True
    return bool(_opaque_tags(current) & _opaque_tags(header))


def _opaque_tags(value: str) -> set[str]:
    """The opaque-tags of a comma-separated entity-tag list, `W/` dropped: the weak comparison (RFC 7232 §2.3.2)."""
    return {match[1] if match[1] is not None else match[2] for match in _ENTITY_TAG.finditer(value)}
