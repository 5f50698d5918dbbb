"""What an email subscriber reads: plain text, no JSON, one change or one digest per message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from amiwatch.messages.facts import (
    console_url,
    findings_lines,
    image_facts,
    recommended_line,
    replacement_line,
    rest_pointer,
    short,
    usage_lines,
)
from amiwatch.messages.tally import Tally
from amiwatch.model.contract import ChangeKind

HEADLINES = {
    ChangeKind.NEW: "A new AMI appeared",
    ChangeKind.AVAILABLE: "An AMI became available",
    ChangeKind.FAILED: "An AMI failed",
    ChangeKind.DISABLED: "An AMI was disabled",
    ChangeKind.DEREGISTERED: "An AMI was deregistered",
    ChangeKind.UNAVAILABLE: "An AMI is no longer available to this account",
    ChangeKind.DISALLOWED: "An AMI is no longer allowed in this account (Allowed AMIs)",
    ChangeKind.VULNERABLE: "An AMI has vulnerabilities (Amazon Inspector)",
    ChangeKind.DEPRECATED: "An AMI is now deprecated",
    ChangeKind.DEPRECATION_SCHEDULED: "An AMI's deprecation was scheduled",
    ChangeKind.DEPRECATION_IMMINENT: "An AMI will be deprecated soon",
    ChangeKind.UPDATED: "An AMI was updated",
    ChangeKind.LEFT_WATCH: "An AMI left the watch (it still exists)",
    ChangeKind.RECOMMENDED: "The recommended AMI changed",
}


def change_email(detail: Mapping[str, Any], partition: str) -> str:
    """One line of what happened, a block of facts, then the console link."""
    headline = HEADLINES[ChangeKind(detail["change"])]
    image = detail["image"]
    lines = [f"{headline}: {image.get('Name') or image['ImageId']}.", ""]
    if detail.get("parameter"):
        lines = [recommended_line(detail), ""]
    for sentence, link in usage_lines(detail, partition):
        lines += [sentence, *([f"Instances launched from it: {link}"] if link else []), ""]
    move = replacement_line(detail)
    lines += [move, ""] if move else []
    found = findings_lines(detail)
    lines += [*found, ""] if found else []
    lines += [f"  {label + ':':<12}{value}" for label, value in image_facts(detail)]
    lines += [
        "",
        "Open in the EC2 console:",
        console_url(partition, detail["region"], image["ImageId"]),
        "",
        f"Detected {detail['detectedAt']}. Event id {detail['eventId']}.",
    ]
    return "\n".join(lines)


def digest_email(tally: Tally, bus_name: str, partition: str) -> str:
    """Many changes of one run in one message: counts by kind, the first few, where the rest are."""
    first = tally.first[0]
    lines = [
        f"{tally.total} AMI changes in watch {first['watch']} "
        f"({first['account']}, {first['region']}).",
        "",
        "By kind:",
        *(f"  {kind:<24}{count}" for kind, count in tally.by_kind().items()),
        "",
        f"The first {len(tally.first)}:",
    ]
    for detail in tally.first:
        image = detail["image"]
        code = (image.get("StateReason") or {}).get("Code") or ""
        name = short(image.get("Name") or "unnamed", 50)
        lines.append(f"  {detail['change']:<22}{image['ImageId']:<23}{name} {code}".rstrip())
    rest = tally.total - len(tally.first)
    lines += ["", *rest_pointer(rest, bus_name), "", "EC2 console, images of this region:"]
    lines.append(console_url(partition, first["region"]))
    lines += ["", f"Detected {first['detectedAt']}."]
    return "\n".join(lines)
