"""cdk.json at synth, the settings for people: email subscriptions (and their filter policies)
and the Slack / Teams channels. Every error names the field."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from amiwatch.messages.sns import MESSAGE_ATTRIBUTES
from amiwatch.messages.subscriptions import email_filter_policy, filter_policy_combinations
from amiwatch.model.contract import ChangeKind
from amiwatch.model.errors import ConfigError, suggest, unknown_key
from amiwatch.model.records import SEVERITY_LABELS

# SNS filter policy limits: keys per policy, and the product of the value-list lengths.
SNS_POLICY_KEYS = 5

SNS_POLICY_COMBINATIONS = 150

# Chat channel settings: cdk.json key -> (required, pattern) of the Chatbot API's own rules.
SLACK_KEYS = {
    "workspaceId": (True, re.compile(r"[0-9A-Z]{1,255}", re.ASCII)),
    "channelId": (True, re.compile(r"[A-Za-z0-9]{1,255}", re.ASCII)),
    "name": (False, re.compile(r"[A-Za-z0-9\-_]{1,128}", re.ASCII)),
}

TEAMS_KEYS = {
    "teamId": (True, re.compile(r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}", re.ASCII)),
    "tenantId": (True, re.compile(r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}", re.ASCII)),
    # The URL-encoded id from the channel link (19%3a...%40thread.tacv2), as the API wants it.
    "channelId": (True, re.compile(r"[\w\-=+/.,]*%3[aA][\w\-=+/.,]*%40[\w\-=+/.,]*", re.ASCII)),
    "name": (False, re.compile(r"[A-Za-z0-9\-_]{1,128}", re.ASCII)),
}

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+", re.ASCII)

# The values an email filter policy can match for the enumerated message attributes.
KNOWN_VALUES = {
    "change": tuple(kind.value for kind in ChangeKind),
    "state": ("pending", "available", "invalid", "deregistered", "transient", "failed",
              "error", "disabled"),
    "in_use": ("true", "false", "unknown"),
    "severity": SEVERITY_LABELS,  # as EC2 spells them: lowercase
}  # fmt: skip


@dataclass(frozen=True)
class EmailSubscription:
    """An email address subscribed to the topic, optionally with an SNS filter policy."""

    address: str
    filter_policy: dict[str, Any] | None = None


def emails(raw: Any) -> tuple[EmailSubscription, ...]:
    if not isinstance(raw, list):
        raise ConfigError("amiwatch.emails must be a list")
    subscriptions = []
    for i, item in enumerate(raw):
        entry = {"address": item} if isinstance(item, str) else item
        where = f"amiwatch.emails[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"address", "filterPolicy"}:
            raise ConfigError(f'{where}: use an address or {{"address", "filterPolicy"}}')
        address = entry.get("address")
        if not isinstance(address, str) or not EMAIL.fullmatch(address):
            raise ConfigError(f"{where}: {json.dumps(address)} is not an email address")
        if address.lower() in {s.address.lower() for s in subscriptions}:
            raise ConfigError(f"{where}: {address} is listed twice (SNS would subscribe it once)")
        policy = entry.get("filterPolicy")
        if policy is not None:
            _check_policy(policy, where, address)
        subscriptions.append(EmailSubscription(address, policy))
    return tuple(subscriptions)


def _check_policy(policy: Any, where: str, address: str) -> None:
    if not isinstance(policy, dict) or not policy:
        raise ConfigError(f"{where}.filterPolicy must be a non-empty object")
    if "delivery" in policy:
        raise ConfigError(f'{where}.filterPolicy: "delivery" is set by amiwatch (digests)')
    if len(policy) > SNS_POLICY_KEYS - 1:
        raise ConfigError(
            f"{where}.filterPolicy: at most {SNS_POLICY_KEYS - 1} attributes (SNS allows "
            f'{SNS_POLICY_KEYS} keys and amiwatch adds "delivery")'
        )
    for name, rule in policy.items():
        if name not in MESSAGE_ATTRIBUTES:
            hint = suggest(name, MESSAGE_ATTRIBUTES)
            raise ConfigError(
                f'{where}.filterPolicy: unknown attribute "{name}"{hint} '
                f"(messages carry: {', '.join(MESSAGE_ATTRIBUTES)})"
            )
        if not isinstance(rule, list) or not rule:
            raise ConfigError(f'{where}.filterPolicy "{name}" must be a non-empty list')
        _check_values(name, rule, f"{where}.filterPolicy")
    # What SNS receives is the policy amiwatch generates (two $or branches), not the user's.
    combinations = filter_policy_combinations(email_filter_policy(policy))
    if combinations > SNS_POLICY_COMBINATIONS:
        raise ConfigError(
            f"{where}.filterPolicy ({address}): {combinations} value combinations in the policy "
            f"SNS receives (yours, plus the digest branch amiwatch adds), SNS allows "
            f"{SNS_POLICY_COMBINATIONS}"
        )


def _check_values(name: str, rule: list[Any], where: str) -> None:
    """Plain values of an enumerated attribute must be ones messages carry: a typo would
    silently never match."""
    known = KNOWN_VALUES.get(name)
    if known is None:
        return
    for value in rule:
        if isinstance(value, str) and value not in known:
            raise ConfigError(
                f'{where} "{name}": no message carries "{value}"{suggest(value, known)} '
                f"(known: {', '.join(known)})"
            )


def channel(raw: Any, key: str, rules: dict[str, tuple[bool, re.Pattern[str]]]) -> Any:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"amiwatch.{key} must be an object with {', '.join(rules)}")
    for name in value:
        if name not in rules:
            raise ConfigError(unknown_key(f"amiwatch.{key}", name, rules))
    for name, (required, pattern) in rules.items():
        if name not in value:
            if required:
                raise ConfigError(f"amiwatch.{key}.{name} is required")
            continue
        if key == "slack" and name == "channelId" and str(value[name]).startswith("#"):
            raise ConfigError(
                f"amiwatch.slack.channelId {json.dumps(value[name])} is a channel name: use the "
                "channel ID (in Slack: the channel's name > About, at the bottom, e.g. C0123ABCD)"
            )
        if not isinstance(value[name], str) or not pattern.fullmatch(value[name]):
            raise ConfigError(
                f"amiwatch.{key}.{name} {json.dumps(value[name])} does not match {pattern.pattern}"
            )
    return dict(value)
