"""What the mass-deprovisioning guard counts, and its sliding window. Pure: storage.guard scans a tenant's events in
commit order and feeds each one here.

A deactivation, a user's or a group's deletion counts 1; a membership removal counts the members it removed. The
window holds the counted events of the last `seconds` (by the time each event occurred), so its total is how many
deprovisions the tenant saw in that span.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scim import changes

COUNTED = (changes.USER_DEACTIVATED, changes.USER_DELETED, changes.GROUP_DELETED, changes.GROUP_MEMBERS_REMOVED)


def deprovisions(kind: str, diff: Mapping[str, Any] | None) -> int:
    """How many deprovisions an event of `kind` with `diff` is: 0 for every kind the guard does not count."""
    if kind == changes.GROUP_MEMBERS_REMOVED:
        removed = ((diff or {}).get("members") or {}).get("removed") or {}
        return int(removed.get("count", len(removed.get("ids", ()))))
    return 1 if kind in COUNTED else 0


@dataclass
class Window:
    """The counted events of the last `seconds`, each a JSON-able entry (kept in the tenant's guard row between
    scans): `{"id", "at" (POSIX seconds), "n", "kind", "type", "rid"}`."""

    seconds: int
    entries: list[dict[str, Any]] = field(default_factory=list)

    def add(self, entry: dict[str, Any]) -> int:
        """Count `entry`, forget what fell out of the window before it, and return the window's total."""
        self.entries.append(entry)
        start = entry["at"] - self.seconds
        self.entries = [kept for kept in self.entries if kept["at"] >= start]
        return self.total()

    def total(self) -> int:
        return sum(kept["n"] for kept in self.entries)

    def counts(self) -> dict[str, int]:
        """The window's deprovisions by event kind."""
        counts: dict[str, int] = {}
        for kept in self.entries:
            counts[kept["kind"]] = counts.get(kept["kind"], 0) + kept["n"]
        return counts

    def current(self, now: float) -> int:
        """The total of the entries still inside the window at `now`."""
        return sum(kept["n"] for kept in self.entries if kept["at"] >= now - self.seconds)
