"""DescribeImageReferences: which resources of the target's account and region use an image.

10 image ids a call (the API's maximum), every page, stopping at the run's deadline. A call
that fails (AccessDenied, throttling after the SDK's retries, a region without the operation)
marks its ids with the error; the events are delivered anyway. So does any other exception: usage
is an enrichment, and nothing about it may cost the alert.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from amiwatch.ports import ReferenceLookup

IDS_PER_CALL = 10
# Instances that exist (not terminated ones), and every other type with the API's defaults.
RESOURCE_TYPES = [
    {
        "ResourceType": "ec2:Instance",
        "ResourceTypeOptions": [
            {
                "OptionName": "state-name",
                "OptionValues": ["pending", "running", "stopping", "stopped"],
            },
        ],
    },
    {"ResourceType": "ec2:LaunchTemplate"},
    {"ResourceType": "ssm:Parameter"},
    {"ResourceType": "imagebuilder:ImageRecipe"},
    {"ResourceType": "imagebuilder:ContainerRecipe"},
]


def image_references(ec2: Any, image_ids: Sequence[str], deadline: float) -> ReferenceLookup:
    """The references to each image, or the error that kept them unknown."""
    lookup = ReferenceLookup({}, {}, 0)
    for start in range(0, len(image_ids), IDS_PER_CALL):
        batch = list(image_ids[start : start + IDS_PER_CALL])
        if time.monotonic() >= deadline:
            why = "TimeBudgetExceeded: the run's time for usage lookups was spent"
            lookup.errors.update(dict.fromkeys(batch, why))
            continue
        found: dict[str, list[tuple[str, str]]] = {i: [] for i in batch}
        try:
            paginator = ec2.get_paginator("describe_image_references")
            for page in paginator.paginate(ImageIds=batch, ResourceTypes=RESOURCE_TYPES):
                lookup.calls += 1
                for ref in page.get("ImageReferences", []):
                    if ref.get("ImageId") in found:
                        found[ref["ImageId"]].append((ref.get("ResourceType", ""), ref["Arn"]))
        except Exception as exc:
            lookup.calls += 1
            lookup.errors.update(dict.fromkeys(batch, _why(exc)))
            continue
        lookup.references.update(found)
    return lookup


def _why(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        message = " ".join(str(error.get("Message", "")).split())
        return f"{error.get('Code', 'Error')}: {message}"
    return f"{type(exc).__name__}: {exc}"
