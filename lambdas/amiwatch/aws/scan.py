"""DescribeImages, paged, projected to canonical records."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from amiwatch.config import Watch
from amiwatch.records import ImageRecord, project_image

PAGE_SIZE = 1000


@dataclass
class ImageScan:
    """Iterates a watch's images page by page; counts what it had to skip.

    A page that fails after botocore's retries raises out of the iteration, so a caller never
    mistakes a partial scan for a complete one.
    """

    ec2: Any
    watch: Watch
    pages: int = 0
    skipped: int = 0

    def __iter__(self) -> Iterator[ImageRecord]:
        paginator = self.ec2.get_paginator("describe_images")
        params = self.watch.describe_images_kwargs()
        # Several EC2 Describe* calls reject MaxResults together with explicit ids; an id list
        # bounds the answer anyway, so leave paging to the service there.
        if "ImageIds" not in params:
            params["PaginationConfig"] = {"PageSize": PAGE_SIZE}
        for page in paginator.paginate(**params):
            self.pages += 1
            for raw in page.get("Images", []):
                record = project_image(raw) if isinstance(raw, dict) else None
                if record is None:
                    self.skipped += 1
                    continue
                yield record
