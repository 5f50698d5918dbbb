"""The Lambda's environment (what the stack sets), read once into a typed object."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from amiwatch.judge.forecast import Horizon
from amiwatch.messages.sns import CHAT, TOPIC, NoticePolicy, chat_changes, digest_threshold
from amiwatch.model import defaults
from amiwatch.model.errors import ConfigError, suggest
from amiwatch.model.records import format_time, parse_time
from amiwatch.model.watch_config import load_watches_file, parse_watches
from amiwatch.model.watches import SELF, AccountRef, Watch

TargetRef = tuple[Watch, AccountRef, str]
REQUIRED_ENV = ("AMIWATCH_TABLE", "AMIWATCH_TOPIC_ARN", "AMIWATCH_BUS_NAME", "AWS_REGION")


@dataclass(frozen=True)
class Settings:
    """Where the watcher reads its watches and sends its events.

    The watch list comes from a JSON file shipped in the Lambda asset
    (`AMIWATCH_WATCHES_FILE`, relative to the code root) so its size is not bound by Lambda's
    4 KB environment limit; `AMIWATCH_WATCHES` (inline JSON) is accepted for small setups.
    """

    watches: tuple[Watch, ...]
    table_name: str
    topic_arn: str
    bus_name: str
    region: str
    lease_seconds: int = defaults.LEASE_SECONDS
    chat_topic_arn: str | None = None
    notices: NoticePolicy = field(default_factory=NoticePolicy)
    external_id: str | None = None
    target_queue_url: str | None = None  # the dispatcher's queue of target scans
    stale_after_seconds: int = defaults.STALE_AFTER_SECONDS  # two schedule periods
    organization_role_arn: str | None = None  # Organizations through this role, if set
    forecast: Horizon = field(default_factory=Horizon)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the environment; ConfigError names what is missing or wrong."""
        env = os.environ if env is None else env
        missing = [k for k in REQUIRED_ENV if not env.get(k)]
        if missing:
            raise ConfigError(f"missing environment variables: {', '.join(missing)}")
        return cls(
            watches=_watches(env),
            table_name=env["AMIWATCH_TABLE"],
            topic_arn=env["AMIWATCH_TOPIC_ARN"],
            bus_name=env["AMIWATCH_BUS_NAME"],
            region=env["AWS_REGION"],
            lease_seconds=_whole_number(env, "AMIWATCH_LEASE_SECONDS", defaults.LEASE_SECONDS),
            chat_topic_arn=env.get("AMIWATCH_CHAT_TOPIC_ARN") or None,
            external_id=env.get("AMIWATCH_EXTERNAL_ID") or None,
            target_queue_url=env.get("AMIWATCH_TARGET_QUEUE_URL") or None,
            stale_after_seconds=_whole_number(
                env, "AMIWATCH_STALE_AFTER_SECONDS", defaults.STALE_AFTER_SECONDS
            ),
            organization_role_arn=env.get("AMIWATCH_ORGANIZATION_ROLE_ARN") or None,
            forecast=_horizon(env),
            notices=notice_policy(
                chat=bool(env.get("AMIWATCH_CHAT_TOPIC_ARN")),
                changes=env.get("AMIWATCH_CHAT_CHANGES"),
                threshold=env.get("AMIWATCH_DIGEST_THRESHOLD"),
            ),
        )

    def topics(self) -> dict[str, str]:
        """The SNS topic of each notice channel."""
        topics = {TOPIC: self.topic_arn}
        if self.chat_topic_arn:
            topics[CHAT] = self.chat_topic_arn
        return topics

    def targets_for(self, event: Mapping[str, Any] | None) -> list[TargetRef]:
        """The targets to run: the one an event names (`{"target": {...}}`, what each schedule
        sends), or every target of all watches / of the ones named in `{"watches": [...]}`."""
        if event is not None and not isinstance(event, Mapping):
            raise ConfigError(f"the event must be an object, got {json.dumps(event)[:80]}")
        unknown = sorted(set(event or {}) - {"target", "watches"})
        if unknown:  # an order this version does not know must not run every target instead
            raise ConfigError(
                f'the event holds "{unknown[0]}", which this version does not understand '
                f"(known: target, watches, {', '.join(defaults.ORDERS)}): nothing was run"
            )
        named = (event or {}).get("target")
        if named is None:
            return [
                (watch, account, region)
                for watch in self.watches_for(event)
                for account, region in watch.targets(self.region)
            ]
        if not isinstance(named, Mapping) or not isinstance(named.get("watch"), str):
            raise ConfigError('event "target" must be {"watch", "account", "region"}')
        [watch] = self.watches_for({"watches": [named.get("watch")]})
        account_id, region = named.get("account", SELF), named.get("region", self.region)
        for account, target_region in watch.targets(self.region):
            if account.id == account_id and target_region == region:
                return [(watch, account, region)]
        raise ConfigError(
            f'watch "{watch.name}" has no target account {account_id} in region {region}'
        )

    def targets_at(self, account_id: str, region: str, home_account: str) -> list[TargetRef]:
        """The targets in this account and region whose watch may hold that account's own images
        (AWS's AMI events are the owner's): where a refresh applies."""
        return [
            (watch, account, target_region)
            for watch in self.watches
            if _may_hold_images_of(watch, account_id)
            for account, target_region in watch.targets(self.region)
            if target_region == region
            and (home_account if account.is_self else account.id) == account_id
        ]

    def org_targets_at(self, account_id: str, region: str, home_account: str) -> list[TargetRef]:
        """The targets an organisation scope may hold in this account and region, for watches
        that do not name the account: a refresh applies once the dispatcher made them targets."""
        found: list[TargetRef] = []
        for watch in self.watches:
            named = {home_account if a.is_self else a.id for a in watch.accounts}
            if (
                not _may_hold_images_of(watch, account_id)
                or region not in watch.regions_or(self.region)
                or account_id in named
            ):
                continue
            # The first scope that does not exclude it: the dispatcher takes the same role.
            for scope in watch.organization_accounts:
                if account_id not in scope.exclude:
                    own = account_id == home_account
                    found.append(
                        (watch, AccountRef() if own else AccountRef(account_id, scope.role_name),
                         region)
                    )  # fmt: skip
                    break
        return found

    def targets_on_topic(self, topic_arn: str) -> list[TargetRef]:
        """Every target of the watches a vendor's SNS topic refreshes (`refreshOn`)."""
        return [
            (watch, account, region)
            for watch in self.watches
            if topic_arn in watch.refresh_on
            for account, region in watch.targets(self.region)
        ]

    def scan_target(
        self, watch_name: str, account_id: str, role_name: str, region: str
    ) -> TargetRef | None:
        """The target a dispatcher's order names, if its watch still covers it: an account
        named in cdk.json, or (with the role of its scope) one of the organisation's."""
        watch = next((w for w in self.watches if w.name == watch_name), None)
        if watch is None or region not in watch.regions_or(self.region):
            return None
        named = [a for a in watch.accounts if a.id == account_id]
        if named:
            return watch, named[0], region
        if account_id == SELF and watch.organization_accounts:
            return watch, AccountRef(), region
        if any(o.role_name == role_name for o in watch.organization_accounts):
            return watch, AccountRef(account_id, role_name), region
        return None

    def watches_for(self, event: Mapping[str, Any] | None) -> tuple[Watch, ...]:
        """All watches, or the ones an invoking event names: `{"watches": ["golden"]}`."""
        names: Any = (event or {}).get("watches")
        if not names:
            return self.watches
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(
                f'event "watches" must be a list of watch names, got {json.dumps(names)[:80]}'
            )
        by_name = {w.name: w for w in self.watches}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            hint = suggest(unknown[0], by_name)
            raise ConfigError(f"event names unknown watches: {', '.join(unknown)}{hint}")
        return tuple(by_name[n] for n in names)


ENV_NAMES = ("AMIWATCH_CHAT_CHANGES", "AMIWATCH_DIGEST_THRESHOLD")


def notice_policy(
    chat: bool,
    changes: str | None,
    threshold: str | None,
    names: tuple[str, str] = ENV_NAMES,
) -> NoticePolicy:
    """The notice policy from its text form (comma-separated chat changes, a number), checked by
    the rules cdk.json's chatChanges and digestThreshold follow; errors use `names` (the
    environment variables, or the CLI's flags)."""
    policy = NoticePolicy(chat=chat)
    if changes is not None:
        selectors = [c.strip() for c in changes.split(",") if c.strip()]
        policy = replace(policy, chat_changes=chat_changes(selectors, names[0]))
    if threshold is not None:
        policy = replace(policy, digest_threshold=digest_threshold(threshold, names[1]))
    return policy


def _whole_number(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, str(default))
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ConfigError(f"{name} must be a whole number of seconds, got {text!r}")
    return int(text)


def _horizon(env: Mapping[str, str]) -> Horizon:
    days = {}
    for name, default in (("AMIWATCH_FORECAST_DAYS", defaults.FORECAST_DAYS),
                          ("AMIWATCH_FIX_GRACE_DAYS", defaults.FIX_GRACE_DAYS)):  # fmt: skip
        text = env.get(name, str(default))
        if not (text.isascii() and text.isdigit()):
            raise ConfigError(f"{name} must be a whole number of days, got {text!r}")
        days[name] = int(text)
    quiet = env.get("AMIWATCH_FORECAST_QUIET", "true")
    if quiet not in ("true", "false"):
        raise ConfigError(f'AMIWATCH_FORECAST_QUIET must be "true" or "false", got {quiet!r}')
    return Horizon(days["AMIWATCH_FORECAST_DAYS"], days["AMIWATCH_FIX_GRACE_DAYS"],
                   quiet == "true")  # fmt: skip


def _watches(env: Mapping[str, str]) -> tuple[Watch, ...]:
    if env.get("AMIWATCH_WATCHES_FILE"):
        path = Path(env["AMIWATCH_WATCHES_FILE"])
        if not path.is_absolute():
            path = Path(env.get("LAMBDA_TASK_ROOT", ".")) / path
        return load_watches_file(path)
    if env.get("AMIWATCH_WATCHES"):
        try:
            return parse_watches(json.loads(env["AMIWATCH_WATCHES"]))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"AMIWATCH_WATCHES is not valid JSON: {exc}") from exc
    raise ConfigError("set AMIWATCH_WATCHES_FILE (or AMIWATCH_WATCHES) to the watch list")


def target_metrics(env: Mapping[str, str] = os.environ) -> bool:
    """Metrics per target ({watch, account, region}), unless AMIWATCH_TARGET_METRICS is "false"
    (cdk.json `targetMetrics`): then per watch."""
    return env.get("AMIWATCH_TARGET_METRICS", "true") != "false"


def forecast_order(event: Mapping[str, Any]) -> tuple[str, str]:
    """The watch and period a forecast schedule names: `{"forecast": {"watch": "golden",
    "scheduledAt": "2026-12-07T08:00:00Z"}}` (the schedule's own time: a retried invocation
    forecasts the same period, under the same eventIds)."""
    named = event.get("forecast")
    if not isinstance(named, Mapping) or not isinstance(named.get("watch"), str):
        raise ConfigError('event "forecast" must be {"watch": "<name>", "scheduledAt": "<time>"}')
    moment = parse_time(named.get("scheduledAt"))
    if moment is None:
        raise ConfigError(f'event "forecast": "scheduledAt" {named.get("scheduledAt")!r} '
                          "is not a time")  # fmt: skip
    return str(named["watch"]), format_time(moment)


def dispatched_watch(event: Mapping[str, Any]) -> str:
    """The watch a dispatch event names: `{"dispatch": {"watch": "golden"}}`."""
    named = event.get("dispatch")
    if not isinstance(named, Mapping) or not isinstance(named.get("watch"), str):
        raise ConfigError('event "dispatch" must be {"watch": "<name>"}')
    return str(named["watch"])


def _may_hold_images_of(watch: Watch, account_id: str) -> bool:
    """AWS's AMI events are the owner's: only a watch whose owners allow it can be concerned."""
    return not watch.follows_parameters and (
        not watch.owners or bool({"self", account_id} & set(watch.owners))
    )
