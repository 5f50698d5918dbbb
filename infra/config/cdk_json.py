"""cdk.json at synth: the `amiwatch` object, validated with messages that name the field."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from amiwatch.messages.sns import (
    DIGEST_THRESHOLD_LIMITS,
    chat_changes,
)
from amiwatch.model import defaults
from amiwatch.model.errors import ConfigError, unknown_key
from amiwatch.model.schedule import (
    MAX_HEARTBEAT_GAP_MINUTES,
    Heartbeat,
    heartbeat_for,
    parse_schedule,
    stale_after_minutes,
)
from amiwatch.model.watch_config import parse_watches
from amiwatch.model.watches import AccountRef, Watch

from ..config.forecast import KEYS as FORECAST_KEYS
from ..config.forecast import ForecastConfig, load_forecast
from ..config.people import SLACK_KEYS, TEAMS_KEYS, EmailSubscription, channel, emails
from ..config.targets import check_intake, check_targets

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
    "chatCommands",
    "targetMetrics",
    "digestThreshold",
    "externalId",
    "concurrency",
    "flexibleWindowMinutes",
    "nearRealTime",
    "cloudTrailEvents",
    "refreshBatchingWindowSeconds",
    "intakeOrganizationId",
    "organizationRoleArn",
    "targetConcurrency",
    *FORECAST_KEYS,
)
ORGANIZATION_ID = re.compile(r"o-[a-z0-9]{10,32}", re.ASCII)
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}", re.ASCII)
# A bus name (1-256 of [A-Za-z0-9._-/]) that also names the schema registry ([\w.@-]{1,64}).
BUS_NAME = re.compile(r"[A-Za-z0-9._\-]{1,64}", re.ASCII)
# CloudWatch Logs retention choices (days -> aws_logs.RetentionDays member name).
LOG_RETENTION = {1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
                 30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
                 150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
                 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
                 1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS",
                 2922: "EIGHT_YEARS", 3288: "NINE_YEARS", 3653: "TEN_YEARS"}  # fmt: skip


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
    chat_commands: bool  # read-only commands from the channel, each user with their own role
    target_metrics: bool  # metrics per target (watch, account, region), or per watch
    digest_threshold: int
    external_id: str | None
    concurrency: int
    flexible_window_minutes: int
    near_real_time: bool
    cloud_trail_events: bool
    refresh_batching_window_seconds: int
    intake_organization_id: str | None
    organization_role_arn: str | None
    target_concurrency: int  # the target queue's event source mapping: scans at once
    stale_after_seconds: int  # a target with no success for this long is stale (two periods)
    forecast: ForecastConfig

    def targets(self) -> list[tuple[Watch, AccountRef, str | None]]:
        """Every (watch, account, region) target; region None is the stack's own region."""
        # "" stands in for the stack's region, which synth does not know.
        return [(w, a, r or None) for w in self.watches for a, r in w.targets("")]

    def parameter_regions(self) -> list[str | None]:
        """The regions parameters watches read (None: the stack's own), once each."""
        regions = [
            r or None for w in self.watches if w.follows_parameters for _, r in w.targets("")
        ]
        return list(dict.fromkeys(regions))

    def member_accounts(self) -> list[AccountRef]:
        """The member accounts (and roles) any watch names, once each."""
        found = {a.role_arn(): a for w in self.watches for a in w.accounts if not a.is_self}
        return list(found.values())

    def organization_roles(self) -> list[str]:
        """The role names of the organisation scopes, once each (accounts known at run time)."""
        return sorted({o.role_name for w in self.watches for o in w.organization_accounts})

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


def _chat_changes(raw: dict[str, Any]) -> tuple[str, ...]:
    selected = chat_changes(raw.get("chatChanges", defaults.CHAT_CHANGES), "amiwatch.chatChanges")
    return tuple(sorted(selected))


def _flag(raw: dict[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"amiwatch.{key} must be true or false, got {json.dumps(value)}")
    return value


def _organization(value: Any) -> str | None:
    if value is not None and not (isinstance(value, str) and ORGANIZATION_ID.fullmatch(value)):
        raise ConfigError(
            f"amiwatch.intakeOrganizationId {json.dumps(value)} is not an organization id (o-…)"
        )
    return value


def _bus_name(bus_name: Any) -> str:
    if not isinstance(bus_name, str) or not BUS_NAME.fullmatch(bus_name):
        raise ConfigError(
            f"amiwatch.busName {json.dumps(bus_name)}: use 1-64 letters, digits, '.', '_' or '-' "
            "(it names the bus and its schema registry, which allows 64)"
        )
    if bus_name == "default" or bus_name.startswith("aws."):
        raise ConfigError(
            f"amiwatch.busName {json.dumps(bus_name)} is not a custom bus name "
            '("default" and names starting with "aws." are reserved)'
        )
    return bus_name


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
            raise ConfigError(unknown_key("amiwatch", key, KEYS))
    schedule = parse_schedule(raw.get("schedule", defaults.SCHEDULE))
    gap = schedule.longest_gap_minutes
    bus_name = _bus_name(raw.get("busName", defaults.BUS_NAME))
    log_days = raw.get("logRetentionDays", defaults.LOG_RETENTION_DAYS)
    if log_days not in LOG_RETENTION:
        raise ConfigError(f"amiwatch.logRetentionDays must be one of {sorted(LOG_RETENTION)}")
    watches = parse_watches(raw.get("watches"))
    external_id = check_targets(watches, raw.get("externalId"))
    count = sum(len(w.targets("")) for w in watches)
    organisation = any(w.organization_accounts for w in watches)
    # No more than the targets need (an organisation's count is known only at run time).
    wanted = defaults.MAX_CONCURRENCY_DEFAULT if organisation else max(4, count)
    concurrency = _int(raw, "concurrency", min(defaults.MAX_CONCURRENCY_DEFAULT, wanted), 1, 1000)
    near_real_time = _flag(raw, "nearRealTime", True)
    # Room for the refresh queue's two and one dispatch: scans never throttle each other.
    spare = (2 if near_real_time else 0) + 1
    if concurrency < 2:
        raise ConfigError(
            "amiwatch.concurrency 1 leaves no room for the target queue, which runs at least 2 "
            "scans at once (Lambda's minimum): use 2 or more"
        )
    target_concurrency = _int(raw, "targetConcurrency", max(2, concurrency - spare), 2, 1000)
    if target_concurrency > concurrency:
        raise ConfigError(
            f"amiwatch.targetConcurrency {target_concurrency} is more than amiwatch.concurrency "
            f"{concurrency} (the function's reserved concurrency): raise concurrency too"
        )
    intake_organization_id = _organization(raw.get("intakeOrganizationId"))
    check_intake(watches, near_real_time, intake_organization_id)
    window_default = min(15, (gap or 60) // 2)
    return AppConfig(
        watches=watches,
        schedule=schedule.expression,
        bus_name=bus_name,
        emails=emails(raw.get("emails", [])),
        archive_retention_days=_int(
            raw, "archiveRetentionDays", defaults.ARCHIVE_RETENTION_DAYS, 0, 36500
        ),
        log_retention_days=log_days,
        memory_mb=_int(raw, "memoryMb", defaults.MEMORY_MB, 256, 10240),
        timeout_seconds=_int(raw, "timeoutSeconds", defaults.TIMEOUT_SECONDS, 60, 900),
        heartbeat=_heartbeat(raw, gap),
        slack=channel(raw, "slack", SLACK_KEYS),
        teams=channel(raw, "teams", TEAMS_KEYS),
        chat_changes=_chat_changes(raw),
        chat_commands=_flag(raw, "chatCommands", False),
        target_metrics=_flag(raw, "targetMetrics", True),
        digest_threshold=_int(
            raw, "digestThreshold", defaults.DIGEST_THRESHOLD, *DIGEST_THRESHOLD_LIMITS
        ),
        external_id=external_id,
        concurrency=concurrency,
        flexible_window_minutes=_int(raw, "flexibleWindowMinutes", window_default, 0, 1440),
        near_real_time=near_real_time,
        cloud_trail_events=_flag(raw, "cloudTrailEvents", True),
        refresh_batching_window_seconds=_int(raw, "refreshBatchingWindowSeconds", 5, 0, 300),
        intake_organization_id=intake_organization_id,
        organization_role_arn=_role_arn(raw.get("organizationRoleArn")),
        target_concurrency=target_concurrency,
        stale_after_seconds=60 * stale_after_minutes(schedule),
        forecast=load_forecast(raw),
    )


def _role_arn(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not ROLE_ARN.fullmatch(value):
        raise ConfigError(
            f"amiwatch.organizationRoleArn {json.dumps(value)} is not an IAM role ARN "
            "(arn:aws:iam::<account>:role/<name>)"
        )
    return value
