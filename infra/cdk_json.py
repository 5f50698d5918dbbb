"""cdk.json at synth: the `amiwatch` object, validated with messages that name the field."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import boto3

from amiwatch import defaults
from amiwatch.errors import ConfigError
from amiwatch.sns_messages import (
    MESSAGE_ATTRIBUTES,
    chat_changes,
    email_filter_policy,
    filter_policy_combinations,
)
from amiwatch.watch_config import parse_watches, suggest
from amiwatch.watches import AccountRef, Watch
from infra.schedule import MAX_HEARTBEAT_GAP_MINUTES, Heartbeat, heartbeat_for, parse_schedule

KEYS = (
    "schedule",
    "watches",
    "busName",
    "emails",
    "archiveRetentionDays",
    "logRetentionDays",
    "memoryMb",
    "timeoutSeconds",
    "heartbeatPeriodMinutes",
    "slack",
    "teams",
    "chatChanges",
    "digestThreshold",
    "externalId",
    "concurrency",
    "flexibleWindowMinutes",
)
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
# SNS filter policy limits: keys per policy, and the product of the value-list lengths.
SNS_POLICY_KEYS = 5
SNS_POLICY_COMBINATIONS = 150
# Each target is one schedule and one heartbeat alarm; CloudFormation allows 500 resources.
MAX_TARGETS = 200
# Chat channel settings: cdk.json key -> (required, pattern) of the Chatbot API's own rules.
SLACK_KEYS = {
    "workspaceId": (True, re.compile(r"^[0-9A-Z]{1,255}$")),
    "channelId": (True, re.compile(r"^[A-Za-z0-9]{1,255}$")),
    "name": (False, re.compile(r"^[A-Za-z0-9\-_]{1,128}$")),
}
TEAMS_KEYS = {
    "teamId": (True, re.compile(r"^[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$")),
    "tenantId": (True, re.compile(r"^[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$")),
    # The URL-encoded id from the channel link (19%3a...%40thread.tacv2), as the API wants it.
    "channelId": (True, re.compile(r"^[\w\-=+/.,]*%3[aA][\w\-=+/.,]*%40[\w\-=+/.,]*$")),
    "name": (False, re.compile(r"^[A-Za-z0-9\-_]{1,128}$")),
}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
BUS_NAME = re.compile(r"^[A-Za-z0-9._\-]{1,256}$")
# CloudWatch Logs retention choices (days -> aws_logs.RetentionDays member name).
LOG_RETENTION = {1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
                 30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
                 150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
                 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
                 1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS",
                 2922: "EIGHT_YEARS", 3288: "NINE_YEARS", 3653: "TEN_YEARS"}  # fmt: skip


@dataclass(frozen=True)
class EmailSubscription:
    """An email address subscribed to the topic, optionally with an SNS filter policy."""

    address: str
    filter_policy: dict[str, Any] | None = None


@dataclass(frozen=True)
class AppConfig:
    """Everything the stack is built from."""

    # Defaults live in load_app_config, the only place an AppConfig is made from cdk.json.
    watches: tuple[Watch, ...]
    schedule: str
    bus_name: str
    emails: tuple[EmailSubscription, ...]
    archive_retention_days: int
    log_retention_days: int
    memory_mb: int
    timeout_seconds: int
    heartbeat: Heartbeat | None  # None: the schedule's gaps are longer than CloudWatch can watch
    slack: dict[str, str] | None
    teams: dict[str, str] | None
    chat_changes: tuple[str, ...]
    digest_threshold: int
    external_id: str | None
    concurrency: int
    flexible_window_minutes: int

    def targets(self) -> list[tuple[Watch, AccountRef, str | None]]:
        """Every (watch, account, region) target; region None is the stack's own region."""
        # "" stands in for the stack's region, which synth does not know.
        return [(w, a, r or None) for w in self.watches for a, r in w.targets("")]

    def member_accounts(self) -> list[AccountRef]:
        """The member accounts (and roles) any watch reads, once each."""
        found = {a.role_arn(): a for w in self.watches for a in w.accounts if not a.is_self}
        return list(found.values())

    def watches_document(self) -> str:
        """The watch file shipped in the Lambda asset."""
        return json.dumps({"watches": [w.to_dict() for w in self.watches]}, indent=1)


def _int(raw: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"amiwatch.{key} must be a whole number {low}..{high}, got {json.dumps(value)}"
        )
    return value


def _emails(raw: Any) -> tuple[EmailSubscription, ...]:
    if not isinstance(raw, list):
        raise ConfigError("amiwatch.emails must be a list")
    subscriptions = []
    for i, item in enumerate(raw):
        entry = {"address": item} if isinstance(item, str) else item
        where = f"amiwatch.emails[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"address", "filterPolicy"}:
            raise ConfigError(f'{where}: use an address or {{"address", "filterPolicy"}}')
        address = entry.get("address")
        if not isinstance(address, str) or not EMAIL.match(address):
            raise ConfigError(f"{where}: {json.dumps(address)} is not an email address")
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
            raise ConfigError(
                f'{where}.filterPolicy: unknown attribute "{name}" '
                f"(messages carry: {', '.join(MESSAGE_ATTRIBUTES)})"
            )
        if not isinstance(rule, list) or not rule:
            raise ConfigError(f'{where}.filterPolicy "{name}" must be a non-empty list')
    # What SNS receives is the policy amiwatch generates (two $or branches), not the user's.
    combinations = filter_policy_combinations(email_filter_policy(policy))
    if combinations > SNS_POLICY_COMBINATIONS:
        raise ConfigError(
            f"{where}.filterPolicy ({address}): {combinations} value combinations in the policy "
            f"SNS receives (yours, plus the digest branch amiwatch adds), SNS allows "
            f"{SNS_POLICY_COMBINATIONS}"
        )


def _channel(raw: Any, key: str, rules: dict[str, tuple[bool, re.Pattern[str]]]) -> Any:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"amiwatch.{key} must be an object with {', '.join(rules)}")
    for name in value:
        if name not in rules:
            raise ConfigError(f'amiwatch.{key}: unknown key "{name}" (known: {", ".join(rules)})')
    for name, (required, pattern) in rules.items():
        if name not in value:
            if required:
                raise ConfigError(f"amiwatch.{key}.{name} is required")
            continue
        if not isinstance(value[name], str) or not pattern.match(value[name]):
            raise ConfigError(
                f"amiwatch.{key}.{name} {json.dumps(value[name])} does not match {pattern.pattern}"
            )
    return dict(value)


def _chat_changes(raw: dict[str, Any]) -> tuple[str, ...]:
    selected = chat_changes(raw.get("chatChanges", defaults.CHAT_CHANGES), "amiwatch.chatChanges")
    return tuple(sorted(selected))


def _check_targets(watches: tuple[Watch, ...], external_id: Any) -> str | None:
    known = _known_regions()
    for watch in watches:
        for region in watch.regions:
            if region not in known:
                hint = suggest(region, known)
                raise ConfigError(f'watch "{watch.name}": unknown region "{region}"{hint}')
    members = [w.name for w in watches if any(not a.is_self for a in w.accounts)]
    if external_id is None:
        if members:
            raise ConfigError(
                f'amiwatch.externalId is required: watch "{members[0]}" reads other accounts'
            )
        return None
    if not isinstance(external_id, str) or not EXTERNAL_ID.match(external_id):
        raise ConfigError("amiwatch.externalId must be 2-1224 characters of [\\w+=,.@:/-]")
    return external_id


def _known_regions() -> set[str]:
    # Checked at synth only: the Lambda runtime's botocore may predate a region we know.
    session = boto3.session.Session()
    return {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    }


def _heartbeat(raw: dict[str, Any], gap: int | None) -> Heartbeat | None:
    """The heartbeat alarm's window: two of the schedule's longest gaps (or of
    heartbeatPeriodMinutes), refused rather than shortened when CloudWatch cannot watch it."""
    if "heartbeatPeriodMinutes" not in raw:
        return heartbeat_for(gap) if gap else None
    minutes = raw["heartbeatPeriodMinutes"]
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
        raise ConfigError(
            f"amiwatch.heartbeatPeriodMinutes must be a whole number of minutes, got "
            f"{json.dumps(minutes)}"
        )
    if minutes > MAX_HEARTBEAT_GAP_MINUTES:
        raise ConfigError(
            f"amiwatch.heartbeatPeriodMinutes {minutes}: the alarm watches two such periods and "
            f"CloudWatch evaluates at most 7 days, so the largest is {MAX_HEARTBEAT_GAP_MINUTES} "
            "(3 days); leave it out to have no heartbeat for longer schedules"
        )
    return heartbeat_for(minutes)


def load_app_config(raw: Any) -> AppConfig:
    """Validate the whole `amiwatch` context object."""
    if not isinstance(raw, dict):
        raise ConfigError('cdk.json needs a context object "amiwatch" with at least "watches"')
    if "powertoolsLayerVersion" in raw:
        raise ConfigError(
            "amiwatch.powertoolsLayerVersion is no longer used: the Powertools layer is resolved "
            "at deploy time for the version requirements.txt pins (remove the key)"
        )
    for key in raw:
        if key not in KEYS:
            raise ConfigError(f'amiwatch: unknown key "{key}" (known: {", ".join(KEYS)})')
    schedule = parse_schedule(raw.get("schedule", defaults.SCHEDULE))
    gap = schedule.longest_gap_minutes
    bus_name = raw.get("busName", defaults.BUS_NAME)
    if not isinstance(bus_name, str) or not BUS_NAME.match(bus_name) or bus_name == "default":
        raise ConfigError(f"amiwatch.busName {json.dumps(bus_name)} is not a custom bus name")
    log_days = raw.get("logRetentionDays", defaults.LOG_RETENTION_DAYS)
    if log_days not in LOG_RETENTION:
        raise ConfigError(f"amiwatch.logRetentionDays must be one of {sorted(LOG_RETENTION)}")
    watches = parse_watches(raw.get("watches"))
    external_id = _check_targets(watches, raw.get("externalId"))
    count = sum(len(w.targets("")) for w in watches)
    if count > MAX_TARGETS:
        raise ConfigError(
            f"amiwatch: {count} targets (watch x account x region); one stack holds at most "
            f"{MAX_TARGETS}: split the watches over several stacks"
        )
    window_default = min(15, (gap or 60) // 2)
    return AppConfig(
        watches=watches,
        schedule=schedule.expression,
        bus_name=bus_name,
        emails=_emails(raw.get("emails", [])),
        archive_retention_days=_int(
            raw, "archiveRetentionDays", defaults.ARCHIVE_RETENTION_DAYS, 0, 36500
        ),
        log_retention_days=log_days,
        memory_mb=_int(raw, "memoryMb", defaults.MEMORY_MB, 256, 10240),
        timeout_seconds=_int(raw, "timeoutSeconds", defaults.TIMEOUT_SECONDS, 60, 900),
        heartbeat=_heartbeat(raw, gap),
        slack=_channel(raw, "slack", SLACK_KEYS),
        teams=_channel(raw, "teams", TEAMS_KEYS),
        chat_changes=_chat_changes(raw),
        digest_threshold=_int(raw, "digestThreshold", defaults.DIGEST_THRESHOLD, 1, 100000),
        external_id=external_id,
        # No more than the targets need: fresh accounts may only have 10 to give.
        concurrency=_int(raw, "concurrency", min(defaults.MAX_CONCURRENCY_DEFAULT, count), 1, 1000),
        flexible_window_minutes=_int(raw, "flexibleWindowMinutes", window_default, 0, 1440),
    )
