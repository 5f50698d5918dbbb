"""What one run did: the summary the Lambda returns and logs, and the error of an incomplete run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from amiwatch.judge.allowed import AllowedImages
from amiwatch.judge.parameters import ParameterReport


@dataclass
class WatchResult:
    """What a run did, for the handler's summary, logs, metrics and the benchmark."""

    watch: str
    account: str = ""
    region: str = ""
    status: str = "ok"  # ok | locked | dry-run | incomplete | checkpointed | superseded
    baseline: bool = False
    images: int = 0
    skipped_images: int = 0
    changes: Counter[str] = field(default_factory=Counter)
    published: int = 0
    undelivered: dict[str, str] = field(default_factory=dict)  # eventId -> why
    describe_pages: int = 0
    lookup_calls: int = 0
    reference_calls: int = 0  # DescribeImageReferences pages (usage of the changed images)
    finding_calls: int = 0  # GetImageFindings pages (findings of the vulnerable images)
    finding_errors: int = 0  # vulnerable images whose findings could not be listed
    parameters: ParameterReport | None = None  # a parameters watch: what its run read
    selection_changed: bool = False
    # Silent outcomes by ImageOutcome.note: refreshed, entered-by-edit, left-by-edit, missed-once.
    silent: Counter[str] = field(default_factory=Counter)
    # imageIds EC2 does not know and the snapshot never had: a typo, or an image long purged.
    unknown_image_ids: list[str] = field(default_factory=list)
    allowed_images: AllowedImages | None = None  # read only when a hidden image was judged
    scan: dict[str, Any] | None = None  # a scan across invocations: where it stands

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
            "undelivered": len(self.undelivered),
            "deliveryErrors": self.delivery_errors(),
            "selectionChanged": self.selection_changed,
            "silent": dict(sorted(self.silent.items())),
            "unknownImageIds": list(self.unknown_image_ids),
            **({"parameters": self.parameters.summary()} if self.parameters else {}),
            "allowedImages": self.allowed_images.summary() if self.allowed_images else None,
            "scan": self.scan,
        }

    def delivery_errors(self) -> dict[str, int]:
        """Each distinct reason events were not delivered ("<channel>: <code>: <message>"), with
        how many events it kept back: what to fix, not just a count."""
        return dict(Counter(self.undelivered.values()).most_common())


@dataclass
class QueueTally:
    """What a batch did, for the log line and the metrics."""

    messages: int = 0
    targets: int = 0
    retried: int = 0
    ignored: dict[str, int] = field(default_factory=dict)  # reason -> messages


class PublishIncomplete(RuntimeError):
    """Some events were not accepted; their images were left unpersisted for the next run."""

    def __init__(self, result: WatchResult) -> None:
        total = result.published + len(result.undelivered)
        why = "; ".join(
            f"{reason} ({count} event{'s' if count > 1 else ''})"
            for reason, count in result.delivery_errors().items()
        )
        super().__init__(
            f'watch "{result.watch}" ({result.account}, {result.region}): '
            f"{len(result.undelivered)} of {total} events not delivered; "
            f"they will be re-sent next run with the same eventId. Why: {why}"
        )
        self.result = result
