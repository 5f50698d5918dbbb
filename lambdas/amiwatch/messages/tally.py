"""What a digest counts: changes by kind, the first few in full, and a deterministic id.

A digest covers a whole run, which may review its images in several chunks; a Tally keeps the
counts and the first DIGEST_LISTED details only, so a run of 100,000 changes still holds a few KB.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from amiwatch.model.contract import ChangeKind

DIGEST_LISTED = 10


@dataclass
class Tally:
    """Changes counted for a digest."""

    counts: Counter[str] = field(default_factory=Counter)
    first: list[Mapping[str, Any]] = field(default_factory=list)
    total: int = 0
    public_changes: int = 0  # updates that changed Public: the worst news a digest can hold
    _ids: int = 0  # XOR of the eventIds: the same changes give the same id in any order

    def add(self, details: Iterable[Mapping[str, Any]]) -> None:
        """Count these event details."""
        for detail in details:
            self.counts[detail["change"]] += 1
            self.total += 1
            self._ids ^= int(detail["eventId"], 16)
            if "Public" in detail.get("changedFields", ()):
                self.public_changes += 1
            if len(self.first) < DIGEST_LISTED:
                self.first.append(detail)

    def plus(self, details: Iterable[Mapping[str, Any]]) -> Tally:
        """A copy with these details counted too."""
        combined = Tally(Counter(self.counts), list(self.first), self.total,
                         self.public_changes, self._ids)  # fmt: skip
        combined.add(details)
        return combined

    def by_kind(self) -> dict[str, int]:
        """Changes per kind, in the order of the change table."""
        return {kind.value: self.counts[kind.value] for kind in ChangeKind if self.counts[kind]}

    @property
    def digest_id(self) -> str:
        """Deterministic like eventIds: a digest re-sent for the same changes has the same id."""
        key = f"{self.total}:{self._ids:032x}"
        return "digest-" + hashlib.sha256(key.encode()).hexdigest()[:32]
