"""The app synthesized in-process (no CLI) with a test configuration: the infra tests read its
templates, the integration tests its rule patterns."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ROOT = Path(__file__).resolve().parents[1]
AL2023_TOPIC = "arn:aws:sns:us-east-1:137112412989:amazon-linux-2023-ami-updates"
# The real cdk.json's context (feature flags included), with a richer amiwatch configuration.
TEST_CONTEXT = {
    **json.loads((ROOT / "cdk.json").read_text())["context"],
    "amiwatch": {
        "schedule": "rate(30 minutes)",
        "busName": "amiwatch-test",
        "watches": [
            {"name": "al2023", "owners": ["amazon"],
             "filters": {"name": ["al2023-ami-2023.*-x86_64"]}, "deprecationWarningDays": 14,
             "refreshOn": [AL2023_TOPIC]},
            {"name": "golden", "owners": ["self"], "filters": {"tag:team": ["platform"]}},
            {"name": "fleet", "owners": ["self"], "filters": {"tag:team": ["platform"]},
             "regions": ["us-east-1", "eu-west-1"],
             "accounts": ["self", {"id": "111111111111"},
                          {"id": "222222222222", "roleName": "AmiWatchReader"}]},
        ],
        "externalId": "amiwatch-test-external-id",
        "concurrency": 4,
        "emails": [
            "platform@example.com",
            {"address": "oncall@example.com",
             "filterPolicy": {"change": ["failed", "deregistered"]}},
        ],
        "slack": {"workspaceId": "T0123ABCD", "channelId": "C0123ABCD"},
        "teams": {"teamId": "0a1b2c3d-0000-4000-8000-0123456789ab",
                  "tenantId": "9f8e7d6c-0000-4000-8000-0123456789ab",
                  "channelId": "19%3ab6ef35dc342d56ba5654e6fc6d25a071%40thread.tacv2"},
        "chatChanges": ["failed", "deregistered", "updated:Public"],
        "digestThreshold": 50,
    }
}  # fmt: skip


@dataclass
class Synthesized:
    template: dict[str, Any]
    asset_dir: Path
    outdir: Path
    member_template: dict[str, Any]
    stack_name: str
    member_events_template: dict[str, Any]

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == kind}

    def one(self, kind: str, prefix: str = "") -> tuple[str, dict[str, Any]]:
        """The one resource of this type (whose logical id starts with `prefix`)."""
        [(logical_id, resource)] = [
            (k, v) for k, v in self.resources(kind).items() if k.startswith(prefix)
        ]
        return logical_id, resource


def synthesize(context: dict[str, Any], outdir: Path) -> Synthesized:
    from app import build_app

    assembly = build_app(context=context, outdir=str(outdir)).synth()
    stack = assembly.get_stack_by_name("AmiWatch")
    [asset_dir] = [p for p in outdir.glob("asset.*") if (p / "watches.json").exists()]
    member = assembly.get_stack_by_name("AmiWatchMemberRole").template
    forwarder = assembly.get_stack_by_name("AmiWatchMemberEvents").template
    return Synthesized(stack.template, asset_dir, outdir, member, stack.stack_name, forwarder)
