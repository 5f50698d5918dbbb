"""What every rendering of a change shows (email and chat alike): the facts, the console link."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from amiwatch.judge.findings import rank
from amiwatch.judge.parameters import parameter_label
from amiwatch.judge.usage import usage_sentence

# What an unavailable image's absence does and does not tell (DescribeImages by id found nothing).
NOT_VISIBLE = (
    "no longer visible to this account: deregistered, disabled, no longer shared, or made "
    "private by its owner"
)

# The EC2 console's host per partition; the region goes into the host where the partition has one.
CONSOLE_HOSTS = {
    "aws": "https://{region}.console.aws.amazon.com",
    "aws-cn": "https://{region}.console.amazonaws.cn",
    "aws-us-gov": "https://console.amazonaws-us-gov.com",
}


def console_url(partition: str, region: str, image_id: str | None = None) -> str:
    """The image's page in the EC2 console of its region (the AMI list without an id)."""
    page = f"ImageDetails:imageId={image_id}" if image_id else "Images:"
    return _console(partition, region, page)


def instances_url(partition: str, region: str, image_id: str) -> str:
    """The EC2 console's instance list, filtered to instances launched from the image."""
    return _console(partition, region, f"Instances:imageId={image_id}")


def usage_lines(detail: Mapping[str, Any], partition: str) -> list[tuple[str, str | None]]:
    """Who still uses the image, first (sentence, console link where one exists); none for
    changes that carry no usage."""
    usage = detail.get("usage")
    if not usage:
        return []
    link = None
    if usage.get("byType", {}).get("ec2:Instance"):
        link = instances_url(partition, usage["region"], detail["image"]["ImageId"])
    return [(usage_sentence(usage), link)]


def replacement_line(detail: Mapping[str, Any]) -> str | None:
    """What to move to, right after who is hit; None when the event names no replacement."""
    replacement = detail.get("replacement")
    if not replacement:
        return None
    image = f"{replacement.get('Name') or 'unnamed'} ({replacement['ImageId']})"
    threshold, found = replacement["vulnerableAt"], replacement.get("highestSeverity")
    if rank(found) < rank(threshold):
        return f"Move to {image}, no findings at or above {threshold.upper()}."
    return f"Move to {image}, the image its parameter names now (highest finding {found})."


def findings_lines(detail: Mapping[str, Any]) -> list[str]:
    """Amazon Inspector's findings of a `vulnerable` image: the summary, then the top ones."""
    findings = detail.get("findings")
    if not findings:
        return []
    severity = str(findings.get("highestSeverity") or "unknown").upper()
    head = f"Amazon Inspector: highest finding {severity} (scanned {findings.get('scanDate')})"
    fixes = findings.get("fixAvailableSince") or {}
    if fixes:
        head += "; fix available since " + ", ".join(
            f"{label.upper()} {since}" for label, since in fixes.items()
        )
    lines = [head + "."]
    for finding in findings.get("top", []):
        fix = ", fix available" if finding.get("fixAvailable") else ""
        score = f" {finding['score']}" if finding.get("score") is not None else ""
        lines.append(f"- {short(finding.get('title') or 'untitled', 100)} "
                     f"({str(finding.get('severity') or '?').upper()}{score}{fix})")  # fmt: skip
    if findings.get("truncated"):
        lines.append("- ...and more (GetImageFindings lists them all).")
    if findings.get("error"):
        lines.append(f"The findings could not be listed: {findings['error']}.")
    return lines


def _console(partition: str, region: str, page: str) -> str:
    host = CONSOLE_HOSTS.get(partition, CONSOLE_HOSTS["aws"]).format(region=region)
    return f"{host}/ec2/home?region={region}#{page}"


def image_facts(detail: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The facts every rendering shows, as (label, value) pairs in reading order."""
    image = detail["image"]
    owner = image.get("OwnerId") or "unknown"
    if image.get("ImageOwnerAlias"):
        owner += f" ({image['ImageOwnerAlias']})"
    facts = [
        *([("Parameter", detail["parameter"]["name"])] if detail.get("parameter") else []),
        ("Image", f"{image.get('Name') or 'unnamed'} ({image['ImageId']})"),
        ("Region", detail["region"]),
        ("Account", detail["account"]),
        ("Watch", detail["watch"]),
        ("Owner", owner),
        ("State", _state(detail)),
    ]
    reason = image.get("StateReason") or {}
    if reason.get("Code") or reason.get("Message"):
        facts.append(("Reason", reason_text(reason.get("Code"), reason.get("Message"))))
    if image.get("DeprecationTime"):
        facts.append(("Deprecates", image["DeprecationTime"]))
    previous = detail.get("previous") or {}
    for name in detail.get("changedFields", []):
        if name == "StateReason" and reason and not previous.get(name):
            continue  # the Reason line above already says it
        before, after = short(previous.get(name)), short(image.get(name))
        facts.append(("Changed", f"{name}: {before} -> {after}"))
    return facts


def recommended_line(detail: Mapping[str, Any]) -> str:
    """`EKS 1.31 amazon-linux-2023 x86_64 standard recommended AMI is now ami-… (was ami-…).`"""
    label = parameter_label(detail["parameter"]["name"])
    was = (detail.get("previous") or {}).get("ImageId") or "unknown"
    return f"{label} recommended AMI is now {detail['image']['ImageId']} (was {was})."


def reason_text(code: Any, message: Any) -> str:
    """`Code: Message` on one line (a StateReason message may hold line breaks)."""
    parts = [" ".join(str(p).split()) for p in (code, message) if p]
    return ": ".join(parts)


def _state(detail: Mapping[str, Any]) -> str:
    state = detail["image"].get("State") or "unknown"
    if detail.get("change") == "unavailable":
        return f"{NOT_VISIBLE} (last seen {state})"
    if detail.get("reason") == "vanished":
        return f"deregistered (last seen {state})"
    return str(state)


def rest_pointer(rest: int, bus_name: str) -> list[str]:
    """How to see every change of a digest (the first lines name only a few)."""
    lead = f"...and {rest} more. " if rest > 0 else ""
    return [
        f'{lead}Every change is an event on the EventBridge bus "{bus_name}" (archived for replay)',
        'and a message on the SNS topic with the attribute delivery="digested".',
    ]


def short(value: Any, limit: int = 80) -> str:
    """A value on one line for people (no JSON), cut at `limit` characters."""
    if value is None:
        text = "(none)"
    elif isinstance(value, dict):
        text = ", ".join(f"{k}={short(v, limit)}" for k, v in value.items() if v is not None)
        text = text or "(none)"
    else:
        text = value if isinstance(value, str) else json.dumps(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
