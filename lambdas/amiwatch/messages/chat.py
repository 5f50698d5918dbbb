"""Slack and Teams messages in the custom notification format of Amazon Q Developer in chat
applications (formerly AWS Chatbot). It drops any SNS message not in this format.

Format: version "1.0", source "custom", content {textType "client-markdown", title, description,
nextSteps, keywords}, metadata {threadId, summary, eventType, relatedResources,
additionalContext}. The service renders client-markdown in the chat platform's own markdown, so
links use the `<url|text>` form of AWS's own examples.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from amiwatch.messages.facts import (
    NOT_VISIBLE,
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
from amiwatch.model.contract import DETAIL_TYPES, ChangeKind

MAX_TITLE = 250
MAX_DESCRIPTION = 8000
MAX_KEYWORDS = 5
MAX_KEYWORD = 50
SEVERITY_ORDER = ("CRITICAL", "WARNING", "NOTICE", "INFO")
SEVERITY = {
    ChangeKind.FAILED: "CRITICAL",
    ChangeKind.DEREGISTERED: "WARNING",
    ChangeKind.UNAVAILABLE: "WARNING",
    ChangeKind.DISALLOWED: "WARNING",
    ChangeKind.VULNERABLE: "WARNING",
    ChangeKind.DEPRECATED: "WARNING",
    ChangeKind.DEPRECATION_IMMINENT: "WARNING",
    ChangeKind.DISABLED: "WARNING",
    ChangeKind.DEPRECATION_SCHEDULED: "NOTICE",
    ChangeKind.UPDATED: "NOTICE",
    ChangeKind.LEFT_WATCH: "NOTICE",
    ChangeKind.RECOMMENDED: "NOTICE",
    ChangeKind.NEW: "INFO",
    ChangeKind.AVAILABLE: "INFO",
}
# The StateReason codes of the EC2 API reference (StateReason.Message), with what to do next.
REASON_CODES = {
    "Server.InternalError": "An internal error occurred in EC2. Retry the build; if it "
    "persists, open a support case with the image id.",
    "Server.InsufficientInstanceCapacity": "There was not enough instance capacity for the "
    "build. Retry later or in another Availability Zone.",
    "Server.SpotInstanceTermination": "A Spot instance used by the build was terminated for "
    "lack of capacity or a higher Spot price. Retry on On-Demand capacity.",
    "Server.ScheduledStop": "The build instance was stopped for a scheduled retirement. "
    "Retry the build.",
    "Server.SpotInstanceShutdown": "A Spot instance used by the build was stopped for lack of "
    "capacity or a higher Spot price. Retry on On-Demand capacity.",
    "Client.InstanceTerminated": "The build instance was terminated or rebooted while the AMI "
    "was being created. Keep it running until the image is available.",
    "Client.UserInitiatedHibernate": "Hibernation was started on the build instance. Do not "
    "hibernate an instance while an AMI is created from it.",
    "Client.InternalError": "A client error caused the build instance to terminate on launch. "
    "Check the build's launch settings.",
    "Client.InstanceInitiatedShutdown": "The build instance shut itself down (shutdown -h). "
    "Check the build script.",
    "Client.UserInitiatedShutdown": "The build instance was shut down through the EC2 API.",
    "Client.VolumeLimitExceeded": "The limit on EBS volumes or total storage was exceeded. "
    "Free volumes or request a limit increase.",
    "Client.InvalidSnapshot.NotFound": "A snapshot the image needs was not found. Check that "
    "the source snapshot still exists and is shared with this account.",
}
NEXT_STEPS = {
    ChangeKind.DEREGISTERED: "Find launch templates and Auto Scaling groups that still "
    "reference {image_id}; new launches from it will fail.",
    ChangeKind.UNAVAILABLE: "{image_id} is " + "{not_visible}" + ". Either way this account can "
    "no longer launch it: find launch templates and Auto Scaling groups that still reference it.",
    ChangeKind.DISALLOWED: "This account's Allowed AMIs no longer admit {image_id}: launches "
    "from it are refused. Move launch templates to an allowed image, or change the criteria.",
    ChangeKind.VULNERABLE: "Move what runs {image_id} to a patched image; launch templates and "
    "pipelines that pin it keep launching the vulnerable one.",
    ChangeKind.LEFT_WATCH: "{image_id} still exists; it no longer matches the watch's owners or "
    "filters (see what changed). Nothing to do unless that was not intended.",
    ChangeKind.RECOMMENDED: "Roll node groups, launch templates and pipelines that pin the "
    "previous AMI forward to {image_id}.",
    ChangeKind.DEPRECATED: "Move launch templates off {image_id} to a current image.",
    ChangeKind.DEPRECATION_IMMINENT: "Plan the move off {image_id} before it is deprecated "
    "({deprecation}).",
    ChangeKind.DISABLED: "{image_id} can no longer be launched; re-enable it or move to "
    "another image.",
}


def wants_chat(detail: Mapping[str, Any], selectors: Collection[str]) -> bool:
    """Does a change reach chat? `updated:<Field>` selects updates that changed that field."""
    kind = detail["change"]
    if kind in selectors:
        return True
    return kind == ChangeKind.UPDATED and any(
        f"updated:{name}" in selectors for name in detail.get("changedFields", [])
    )


def change_notification(detail: Mapping[str, Any], partition: str) -> dict[str, Any]:
    """One change as a custom notification; updates about one image share a thread."""
    kind = ChangeKind(detail["change"])
    image = detail["image"]
    image_id = image["ImageId"]
    severity = _severity(detail)
    name = image.get("Name") or image_id
    lines = [f"*{escape_markdown(recommended_line(detail))}*"] if detail.get("parameter") else []
    lines += [
        f"*Usage:* {escape_markdown(sentence)}" + (f" <{link}|Show the instances>" if link else "")
        for sentence, link in usage_lines(detail, partition)
    ]
    move = replacement_line(detail)
    lines += [f"*Replacement:* {escape_markdown(move)}"] if move else []
    lines += [escape_markdown(line) for line in findings_lines(detail)]
    lines += [
        f"*{label}:* {escape_markdown(value.replace(' -> ', ' → '))}"
        for label, value in image_facts(detail)
    ]
    lines.append(f"<{console_url(partition, detail['region'], image_id)}|Open in the EC2 console>")
    return custom_notification(
        notification_id=detail["eventId"],
        title=f"{severity}: {_title(kind)}: {escape_markdown(name)} ({image_id})",
        description="\n".join(lines),
        next_steps=_next_steps(detail),
        keywords=[severity, kind.value, detail["watch"], detail["region"]],
        metadata={
            "threadId": f"amiwatch-{detail['account']}-{detail['region']}-{image_id}",
            "summary": f"{_title(kind)}: {short(name, 60)} in {detail['region']}",
            "eventType": f"amiwatch-{kind.value}",
            "relatedResources": [f"arn:{partition}:ec2:{detail['region']}::image/{image_id}"],
            "additionalContext": {
                "eventId": detail["eventId"],
                "watch": detail["watch"],
                "account": detail["account"],
                "region": detail["region"],
                "change": kind.value,
            },
        },
    )


def digest_notification(tally: Tally, bus_name: str) -> dict[str, Any]:
    """Many changes of one run as one notification."""
    first = tally.first[0]
    worst = _worst(tally)
    lines = [f"*{kind}:* {count}" for kind, count in tally.by_kind().items()]
    lines.append("")
    for detail in tally.first:
        image = detail["image"]
        name = escape_markdown(short(image.get("Name") or "unnamed", 60))
        lines.append(f"- `{detail['change']}` {image['ImageId']} {name}")
    lines += ["", *rest_pointer(tally.total - len(tally.first), bus_name)]
    title = f"{worst}: {tally.total} AMI changes in watch {first['watch']} ({first['region']})"
    return custom_notification(
        notification_id=tally.digest_id,
        title=title,
        description="\n".join(lines),
        next_steps=[],
        keywords=[worst, "digest", first["watch"], first["region"]],
        metadata={
            "threadId": f"amiwatch-digest-{first['watch']}-{first['account']}-{first['region']}",
            "summary": f"{tally.total} AMI changes in watch {first['watch']}",
            "eventType": "amiwatch-digest",
            "relatedResources": [],
            "additionalContext": {
                "watch": first["watch"],
                "account": first["account"],
                "region": first["region"],
                "changes": str(tally.total),
            },
        },
    )


def _worst(tally: Tally) -> str:
    severities = [SEVERITY[ChangeKind(kind)] for kind in tally.counts if tally.counts[kind]]
    if tally.public_changes:
        severities.append("CRITICAL")
    return min(severities, key=SEVERITY_ORDER.index)


def _title(kind: ChangeKind) -> str:
    """`AMI failed`, `AMI deprecation imminent`: the detail type, in sentence case."""
    return "AMI " + DETAIL_TYPES[kind].removeprefix("AMI ").lower()


def _severity(detail: Mapping[str, Any]) -> str:
    kind = ChangeKind(detail["change"])
    if (
        kind == ChangeKind.VULNERABLE
        and (detail.get("findings") or {}).get("highestSeverity") == "critical"
    ):
        return "CRITICAL"
    if kind == ChangeKind.UPDATED and "Public" in detail.get("changedFields", []):
        return "CRITICAL"
    return SEVERITY[kind]


def _next_steps(detail: Mapping[str, Any]) -> list[str]:
    kind = ChangeKind(detail["change"])
    image = detail["image"]
    if kind == ChangeKind.FAILED:
        code = (image.get("StateReason") or {}).get("Code")
        meaning = REASON_CODES.get(code or "")
        return [f"`{code}`: {meaning}" if meaning else "Check the image build's logs."]
    if kind == ChangeKind.UPDATED and "Public" in detail.get("changedFields", []):
        visibility = "public" if image.get("Public") else "private"
        return [f"Confirm {image['ImageId']} is meant to be {visibility}; a public AMI can be "
                "launched by any AWS account."]  # fmt: skip
    template = NEXT_STEPS.get(kind)
    if template is None:
        return []
    deprecation = image.get("DeprecationTime") or "unknown"
    return [template.format(image_id=image["ImageId"], deprecation=deprecation,
                            not_visible=NOT_VISIBLE)]  # fmt: skip


def custom_notification(
    *,
    notification_id: str,
    title: str,
    description: str,
    next_steps: list[str],
    keywords: list[str],
    metadata: dict[str, Any],
) -> dict[str, Any]:
    content: dict[str, Any] = {
        "textType": "client-markdown",
        "title": _cut(title, MAX_TITLE),
        "description": _cut(description, MAX_DESCRIPTION),
        "keywords": [_cut(k, MAX_KEYWORD) for k in keywords[:MAX_KEYWORDS]],
    }
    if next_steps:
        content["nextSteps"] = next_steps
    return {
        "version": "1.0",
        "source": "custom",
        "id": notification_id,
        "content": content,
        "metadata": metadata,
    }


def escape_markdown(text: str) -> str:
    # Slack treats &, < and > as control characters; AMI names and messages may hold them.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
