"""DescribeImageReferences: which resources of the target's account and region use an image.

10 image ids a call (the API's maximum), every page, stopping at the run's deadline. EC2 checks
each resource type with the caller's own permissions, so one type that cannot be checked (no
permission, not offered in the region) can fail the call for all of them: the batch is then
asked again one type at a time, and what could not be checked is named in the image's error.
An answer that misses a type is never "not used" (usage.in_use). Any failure leaves the events
to be delivered anyway: usage is an enrichment, and nothing about it may cost the alert.

GetImageFindings (Amazon Inspector's findings of an image, for the `vulnerable` events): one
image a call, every page up to MAX_FINDINGS, stopping at the run's deadline. Any failure
(throttling after the SDK's retries, AccessDenied, a region without the operation) marks the
image with the error: the event is delivered anyway, with `findings.error` set.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from amiwatch.run.ports import FindingsLookup, ReferenceLookup

IDS_PER_CALL = 10
# Instances that exist (not terminated ones), and every other type with the API's defaults.
RESOURCE_TYPES: list[dict[str, Any]] = [
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
# Failures that say nothing about one type: asking per type would only repeat them.
WHOLE_CALL_CODES = frozenset(
    {"RequestLimitExceeded", "Throttling", "ThrottlingException", "InternalError",
     "ServiceUnavailable", "Unavailable"}
)  # fmt: skip
OUT_OF_TIME = "TimeBudgetExceeded: the run's time for usage lookups was spent"
Found = dict[str, list[tuple[str, str]]]


def image_references(ec2: Any, image_ids: Sequence[str], deadline: float) -> ReferenceLookup:
    """The references to each image, or the error that kept (some of) them unknown."""
    lookup = ReferenceLookup({}, {}, 0)
    for start in range(0, len(image_ids), IDS_PER_CALL):
        batch = list(image_ids[start : start + IDS_PER_CALL])
        if time.monotonic() >= deadline:
            lookup.errors.update(dict.fromkeys(batch, OUT_OF_TIME))
            continue
        try:
            lookup.references.update(_ask(ec2, batch, RESOURCE_TYPES, lookup))
            continue
        except Exception as exc:
            whole_call = why(exc)
            if not _may_be_one_type(exc):
                lookup.errors.update(dict.fromkeys(batch, whole_call))
                continue
        found, unchecked = _type_by_type(ec2, batch, deadline, lookup)
        if len(unchecked) == len(RESOURCE_TYPES):
            lookup.errors.update(dict.fromkeys(batch, whole_call))
            continue
        lookup.references.update(found)
        if unchecked:
            partial = "; ".join(f"{kind} ({reason})" for kind, reason in unchecked)
            lookup.errors.update(dict.fromkeys(batch, f"not checked: {partial}"))
    return lookup


def _ask(ec2: Any, batch: list[str], types: list[dict[str, Any]], lookup: ReferenceLookup) -> Found:
    found: Found = {i: [] for i in batch}
    paginator = ec2.get_paginator("describe_image_references")
    lookup.calls += 1
    for n, page in enumerate(paginator.paginate(ImageIds=batch, ResourceTypes=types)):
        lookup.calls += 1 if n else 0
        for ref in page.get("ImageReferences", []):
            if ref.get("ImageId") in found:
                found[ref["ImageId"]].append((ref.get("ResourceType", ""), ref["Arn"]))
    return found


def _type_by_type(
    ec2: Any, batch: list[str], deadline: float, lookup: ReferenceLookup
) -> tuple[Found, list[tuple[str, str]]]:
    """Each resource type on its own: what the answered ones found, and why the others were
    not answered."""
    found: Found = {i: [] for i in batch}
    unchecked: list[tuple[str, str]] = []
    for request in RESOURCE_TYPES:
        kind = request["ResourceType"]
        if time.monotonic() >= deadline:
            unchecked.append((kind, OUT_OF_TIME))
            continue
        try:
            for image_id, refs in _ask(ec2, batch, [request], lookup).items():
                found[image_id] += refs
        except Exception as exc:
            unchecked.append((kind, why(exc)))
    return found, unchecked


def _may_be_one_type(exc: Exception) -> bool:
    if not isinstance(exc, ClientError):
        return False
    return exc.response.get("Error", {}).get("Code") not in WHOLE_CALL_CODES


def why(exc: Exception) -> str:
    """`<code>: <message>` of an AWS error, on one line."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        message = " ".join(str(error.get("Message", "")).split())
        return f"{error.get('Code', 'Error')}: {message}"
    return f"{type(exc).__name__}: {exc}"


FINDINGS_PAGE_SIZE = 1000  # GetImageFindings: the API's maximum
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
                PaginationConfig={"PageSize": FINDINGS_PAGE_SIZE, "MaxItems": MAX_FINDINGS},
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
