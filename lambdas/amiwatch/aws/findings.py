"""GetImageFindings: Amazon Inspector's findings of an image, for the `vulnerable` events.

One image a call, every page up to MAX_FINDINGS, stopping at the run's deadline. Any failure
(throttling after the SDK's retries, AccessDenied, a region without the operation) marks the
image with the error: the event is delivered anyway, with `findings.error` set.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from amiwatch.aws.references import OUT_OF_TIME, why
from amiwatch.run.ports import FindingsLookup

PAGE_SIZE = 1000  # the API's maximum
MAX_FINDINGS = 5000  # read at most this many per image: enough to rank the top 5


def image_findings(ec2: Any, image_ids: Sequence[str], deadline: float) -> FindingsLookup:
    """The findings of each image, or the error that kept them unknown."""
    lookup = FindingsLookup({}, {}, 0)
    paginator = ec2.get_paginator("get_image_findings")
    for image_id in image_ids:
        if time.monotonic() >= deadline:
            lookup.errors[image_id] = OUT_OF_TIME
            continue
        found: list[dict[str, Any]] = []
        try:
            pages = paginator.paginate(
                ImageId=image_id,
                PaginationConfig={"PageSize": PAGE_SIZE, "MaxItems": MAX_FINDINGS},
            )
            for page in pages:
                lookup.calls += 1
                found += page.get("ImageFindings", [])
        except Exception as exc:
            lookup.calls += 1
            lookup.errors[image_id] = why(exc)
            continue
        lookup.findings[image_id] = found
    return lookup
