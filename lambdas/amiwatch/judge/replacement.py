"""What to move to: the newest fit image of the same watch and target (pure).

Fit: available, not deprecated, not refused by the Allowed AMIs, below the watch's
`vulnerableAt`; of the same architecture and platform as the affected image, and created after
it. The scan offers every image it lists as it streams by (no extra call); what the previous full
run kept (one per architecture and platform, on the target's meta item) is the fallback for a
targeted refresh and for a mass change reviewed before the scan reached the best image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from amiwatch.judge.findings import highest, is_vulnerable
from amiwatch.model.contract import ChangeKind
from amiwatch.model.records import ImageRecord, parse_time
from amiwatch.model.watches import Watch

REPLACED_KINDS = frozenset({
    ChangeKind.VULNERABLE, ChangeKind.DEPRECATED, ChangeKind.DEPRECATION_IMMINENT,
    ChangeKind.DEREGISTERED, ChangeKind.UNAVAILABLE, ChangeKind.DISALLOWED,
})  # fmt: skip
MAX_KEPT = 20  # architectures x platforms a target remembers (a handful in practice)
Key = tuple[str, str]  # (Architecture, Platform); "" when EC2 leaves it out (Linux)
# What a kept candidate needs to be judged fit and named again: never its tags or description,
# so the meta item stays small whatever the images carry (a DynamoDB item holds 400 KB).
KEPT_FIELDS = ("ImageId", "Name", "CreationDate", "State", "DeprecationTime", "ImageAllowed",
               "ScanResults", "Architecture", "Platform")  # fmt: skip


def key_of(fields: Mapping[str, Any]) -> Key:
    return (str(fields.get("Architecture") or ""), str(fields.get("Platform") or ""))


@dataclass
class Candidates:
    """The newest fit image per (architecture, platform): those the scan streams by, and, as a
    fallback, those the previous full run kept."""

    watch: Watch
    now: datetime
    kept: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    best: dict[Key, Mapping[str, Any]] = field(default_factory=dict)

    def offer(self, fields: Mapping[str, Any]) -> None:
        """One scanned image (cheap: most are not newer than the best of their kind)."""
        if fields.get("State") != "available":
            return
        key = (fields.get("Architecture") or "", fields.get("Platform") or "")
        current, created = self.best.get(key), fields.get("CreationDate")
        # EC2's CreationDate strings share one format: they compare as they sort in time.
        if current is not None and not (created and created > current["CreationDate"]):
            return
        if created and self._fit(fields):
            self.best[key] = fields

    def for_image(self, record: ImageRecord) -> dict[str, Any] | None:
        """The `replacement` detail for an affected image, or None when nothing newer fits."""
        key = key_of(record.fields)
        fallback = self.kept.get("|".join(key))
        for best in (self.best.get(key), fallback):
            if best is not None and self._newer(best, record) and self._fit(best):
                return replacement_detail(best, self.watch.vulnerable_at)
        return None

    def kept_for_next(self) -> dict[str, dict[str, Any]]:
        """What the next run starts from (the target's meta item holds it)."""
        newest = sorted(self.best.items(), key=lambda kv: str(kv[1].get("CreationDate")))
        return {
            "|".join(k): {name: f[name] for name in KEPT_FIELDS if name in f}
            for k, f in newest[-MAX_KEPT:]
        }

    @staticmethod
    def _newer(best: Mapping[str, Any], record: ImageRecord) -> bool:
        if best.get("ImageId") == record.image_id:
            return False
        created, best_created = record.fields.get("CreationDate"), best.get("CreationDate")
        return created is None or (best_created is not None and best_created > created)

    def _fit(self, fields: Mapping[str, Any]) -> bool:
        deprecation = parse_time(fields.get("DeprecationTime"))
        return (
            fields.get("State") == "available"
            and (deprecation is None or deprecation > self.now)
            and fields.get("ImageAllowed") is not False
            and not is_vulnerable(self.watch, fields)
        )


def replacement_detail(fields: Mapping[str, Any], vulnerable_at: str) -> dict[str, Any]:
    """The event's `replacement`: the image, its highest finding, and the watch's threshold."""
    return {
        "ImageId": fields.get("ImageId"),
        "Name": fields.get("Name"),
        "CreationDate": fields.get("CreationDate"),
        "highestSeverity": highest(fields),
        "vulnerableAt": vulnerable_at,
    }
