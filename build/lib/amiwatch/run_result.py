"""What one run did: the summary the Lambda returns and logs, and the error of an incomplete run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from amiwatch.contract import OutgoingEvent


@dataclass
class WatchResult:
    """What a run did, for the handler's summary, logs, metrics and the benchmark."""

    watch: str
    account: str = ""
    region: str = ""
    status: str = "ok"  # ok | locked | dry-run | incomplete
    baseline: bool = False
    images: int = 0
    skipped_images: int = 0
    changes: Counter[str] = field(default_factory=Counter)
    events: list[OutgoingEvent] = field(default_factory=list)
    published: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    describe_pages: int = 0
    lookup_calls: int = 0
    selection_changed: bool = False
    # Silent outcomes by ImageOutcome.note: refreshed, entered-by-edit, left-by-edit, missed-once.
    silent: Counter[str] = field(default_factory=Counter)
    # imageIds EC2 does not know and the snapshot never had: a typo, or an image long purged.
    unknown_image_ids: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (what the Lambda returns per watch)."""
        return {
            "watch": self.watch,
            "account": self.account,
            "region": self.region,
            "status": self.status,
            "baseline": self.baseline,
            "images": self.images,
            "skippedImages": self.skipped_images,
            "changes": dict(sorted(self.changes.items())),
            "published": self.published,
            "failed": len(self.failed),
            "selectionChanged": self.selection_changed,
            "silent": dict(sorted(self.silent.items())),
            "unknownImageIds": list(self.unknown_image_ids),
        }


class PublishIncomplete(RuntimeError):
    """Some events were not accepted; their images were left unpersisted for the next run."""

    def __init__(self, result: WatchResult) -> None:
        total = result.published + len(result.failed)
        super().__init__(
            f'watch "{result.watch}" ({result.account}, {result.region}): '
            f"{len(result.failed)} of {total} events not delivered; "
            "they will be re-sent next run with the same eventId"
        )
        self.result = result
