"""The filter policies of subscriptions to the topic: people get each change of a quiet run and
one digest of a busy run (never the `digested` copies), filtered by their own policy."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from amiwatch.messages.sns import DIGEST, EACH

PER_IMAGE_ATTRIBUTES = (
    "image_id", "owner_id", "state", "state_reason_code", "in_use", "parameter", "severity",
)  # fmt: skip


def email_filter_policy(user_policy: Mapping[str, Any] | None) -> dict[str, Any]:
    """The filter policy of an email subscription: per-change messages of quiet runs, digests.

    A user's own policy (over the per-change attributes) applies to both: on a digest its
    `change` rule matches `digest_changes`, and rules on single-image attributes (image_id,
    owner_id, state, state_reason_code) do not apply.
    """
    if not user_policy:
        return {"delivery": [EACH, DIGEST]}
    on_digest = {
        ("digest_changes" if name == "change" else name): rule
        for name, rule in user_policy.items()
        if name not in PER_IMAGE_ATTRIBUTES and name != "delivery"
    }
    return {
        "$or": [
            {**user_policy, "delivery": [EACH]},
            {**on_digest, "delivery": [DIGEST]},
        ]
    }


def filter_policy_combinations(policy: Mapping[str, Any]) -> int:
    """SNS's count of a filter policy's value combinations: the product of the value-list
    lengths, summed over the branches of a top-level `$or`."""
    branches = policy.get("$or", [policy])
    return sum(
        math.prod(len(rule) if isinstance(rule, list) else 1 for rule in branch.values())
        for branch in branches
    )
