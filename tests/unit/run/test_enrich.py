"""What enriches events: the lookups share one time budget, spent only while they run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from amiwatch.judge.outcomes import make_change
from amiwatch.judge.replacement import Candidates
from amiwatch.model.contract import ChangeKind, Target
from amiwatch.model.watch_config import parse_watch
from amiwatch.run.enrich import LOOKUP_BUDGET_SECONDS, Enricher
from amiwatch.run.ports import ReferenceLookup

from ..conftest import NOW, record

WATCH = parse_watch({"name": "golden", "owners": ["self"]})


@dataclass
class SlowReferences:
    """DescribeImageReferences that takes 2 s of the fake clock and notes each deadline."""

    clock: list[float]
    deadlines: list[float] = field(default_factory=list)

    def references(self, image_ids: Sequence[str], deadline: float) -> ReferenceLookup:
        self.deadlines.append(deadline)
        if self.clock[0] >= deadline:
            return ReferenceLookup({}, dict.fromkeys(image_ids, "TimeBudgetExceeded"), 0)
        self.clock[0] += 2.0
        return ReferenceLookup({i: [] for i in image_ids}, {}, 1)


def deprecated(image_id: str):
    return make_change(ChangeKind.DEPRECATED, record(image_id), "deprecation-time-passed", 0, "")


def test_time_spent_scanning_between_chunks_does_not_use_up_the_lookup_budget():
    clock = [1000.0]
    images = SlowReferences(clock)
    enricher = Enricher(images, Target("golden", "123456789012", "us-east-1"),
                        Candidates(WATCH, NOW), clock=lambda: clock[0])  # fmt: skip

    first = enricher.events([deprecated("ami-00000000000000001")], NOW, "amiwatch")
    clock[0] += 60.0  # the scan streams the next chunk in
    second = enricher.events([deprecated("ami-00000000000000002")], NOW, "amiwatch")
    clock[0] += 60.0
    third = enricher.events([deprecated("ami-00000000000000003")], NOW, "amiwatch")

    assert images.deadlines == [1000.0 + LOOKUP_BUDGET_SECONDS, 1062.0 + 3.0, 1124.0 + 1.0]
    assert first[0].detail["usage"]["error"] is None
    assert second[0].detail["usage"]["error"] is None
    assert third[0].detail["usage"]["error"] is None  # 1 s left: the call starts, then it is spent
    fourth = enricher.events([deprecated("ami-00000000000000004")], NOW, "amiwatch")
    assert fourth[0].detail["usage"]["error"] == "TimeBudgetExceeded"
