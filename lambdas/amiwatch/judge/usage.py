"""Who is hit: which resources of the target's account and region still use an AMI (pure).

Events of the kinds below carry `usage` (docs/events.md); it is looked up after the diff and
before publishing (DescribeImageReferences), outside the eventId, and never at the cost of the
alert: an error or a spent time budget only sets `usage.error`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from amiwatch.model.contract import Change, ChangeKind

USAGE_KINDS = frozenset({
    ChangeKind.DEPRECATED, ChangeKind.DEPRECATION_SCHEDULED, ChangeKind.DEPRECATION_IMMINENT,
    ChangeKind.DEREGISTERED, ChangeKind.UNAVAILABLE, ChangeKind.DISALLOWED, ChangeKind.DISABLED,
    ChangeKind.LEFT_WATCH, ChangeKind.RECOMMENDED, ChangeKind.VULNERABLE,
})  # fmt: skip
MAX_RESOURCES = 25
# Resource types in the order people care about them (instances first), with their words.
RESOURCE_TYPES = {
    "ec2:Instance": ("instance", "instances"),
    "ec2:LaunchTemplate": ("launch template", "launch templates"),
    "ssm:Parameter": ("SSM parameter", "SSM parameters"),
    "imagebuilder:ImageRecipe": ("Image Builder image recipe", "Image Builder image recipes"),
    "imagebuilder:ContainerRecipe": (
        "Image Builder container recipe", "Image Builder container recipes"),
}  # fmt: skip
Reference = tuple[str, str]  # (resource type, ARN)


@dataclass(frozen=True)
class Usage:
    """The references to one image in one account and region, or why they are unknown."""

    checked_at: str
    account: str
    region: str
    total: int | None
    by_type: Mapping[str, int]
    resources: tuple[str, ...]
    truncated: bool
    error: str | None = None

    def as_detail(self) -> dict[str, Any]:
        """The event detail's `usage` object."""
        return {
            "checkedAt": self.checked_at,
            "account": self.account,
            "region": self.region,
            "total": self.total,
            "byType": dict(self.by_type),
            "resources": list(self.resources),
            "truncated": self.truncated,
            "error": self.error,
        }


def usage_from(
    references: Sequence[Reference] | None,
    error: str | None,
    *,
    checked_at: str,
    account: str,
    region: str,
) -> Usage:
    """Summarize an image's references: counts by type, up to 25 ARNs (instances first).

    With both references and an error the answer is partial (some resource types could not be
    checked): the counts are what was found, and `in_use` says "unknown", never "false".
    """
    if references is None:
        return Usage(checked_at, account, region, None, {}, (), False, error or "not checked")
    order = list(RESOURCE_TYPES)
    ranked = sorted(references, key=lambda r: (_rank(order, r[0]), r[1]))
    arns = list(dict.fromkeys(arn for _, arn in ranked))
    by_type = Counter(kind for kind, _ in references)
    counts = {kind: by_type[kind] for kind in sorted(by_type, key=lambda k: _rank(order, k))}
    return Usage(checked_at, account, region, len(references), counts,
                 tuple(arns[:MAX_RESOURCES]), len(arns) > MAX_RESOURCES, error)  # fmt: skip


def usage_image(change: Change) -> str:
    """The image whose usage an event reports: for `recommended`, the one no longer recommended
    (what still runs the AMI the parameter moved away from)."""
    if change.kind == ChangeKind.RECOMMENDED and change.previous:
        return str(change.previous["ImageId"])
    return change.image.image_id


def in_use(usage: Mapping[str, Any] | None) -> str | None:
    """The `in_use` SNS attribute: "true", "false", "unknown"; None for kinds without usage."""
    if usage is None:
        return None
    if usage.get("error") is not None or usage.get("total") is None:
        return "unknown"
    return "true" if usage["total"] > 0 else "false"


def usage_sentence(usage: Mapping[str, Any]) -> str:
    """What people read first: who still uses the image, or that nothing does."""
    where = f"in {usage['account']} / {usage['region']}"
    if usage.get("error") is not None and usage.get("total") is None:
        return f"Who still uses it {where} is unknown ({usage['error']})."
    if usage.get("error") is not None:
        found = listed(usage["byType"]) if usage.get("total") else "nothing found"
        return f"Partly known {where}: {found} so far; {usage['error']}."
    if not usage.get("total"):
        return (
            "Not used by any instance, launch template, SSM parameter or Image Builder recipe "
            f"{where}."
        )
    return f"Still used by {listed(usage['byType'])} {where}."


def listed(by_type: Mapping[str, int]) -> str:
    """`1 instance and 2 launch templates`."""
    parts = [_count(kind, n) for kind, n in by_type.items()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _count(kind: str, n: int) -> str:
    one, many = RESOURCE_TYPES.get(kind, (kind, kind))
    return f"{n} {one if n == 1 else many}"


def _rank(order: list[str], kind: str) -> int:
    return order.index(kind) if kind in order else len(order)
