"""Near-real-time: AWS's own AMI events reach the watcher in seconds, through a queue.

default bus ─ rules (EC2 AMI State Change; AMI API calls via CloudTrail) ─┐
intake bus (member accounts forward here) ─ the same rules ───────────────┼─▶ refresh queue
vendors' SNS topics (refreshOn) ──────────────────────────────────────────┘   (DLQ after 8)
                                                    ─▶ the watcher, batched, partial failures
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from amiwatch.judge.aws_events import API_CALL, IMAGE_CALLS, STATE_CHANGE, TAG_CALLS

from ..concerns.concern import Concern
from ..concerns.queues import consume, work_queue
from ..config.cdk_json import AppConfig
from ..config.targets import INTAKE_ACCOUNTS_MAX

REFRESH_CONCURRENCY = 2
BATCH_SIZE = 100
API_CALL_RULES = ("AmiApiCalls", "AmiTagCalls")  # only when CloudTrail events are on


def event_patterns(cloud_trail: bool) -> dict[str, dict[str, Any]]:
    """The patterns of the rules that feed the queue (the member stack forwards the same)."""
    patterns: dict[str, dict[str, Any]] = {
        "AmiStateChange": {"source": ["aws.ec2"], "detail-type": [STATE_CHANGE]},
    }
    if cloud_trail:
        patterns["AmiApiCalls"] = {
            "source": ["aws.ec2"],
            "detail-type": [API_CALL],
            "detail": {"eventSource": ["ec2.amazonaws.com"], "eventName": list(IMAGE_CALLS)},
        }
        patterns["AmiTagCalls"] = {
            "source": ["aws.ec2"],
            "detail-type": [API_CALL],
            "detail": {
                "eventSource": ["ec2.amazonaws.com"],
                "eventName": list(TAG_CALLS),
                "requestParameters": {
                    "resourcesSet": {"items": {"resourceId": [{"prefix": "ami-"}]}}
                },
            },
        }
    return patterns


class NearRealTime(Concern):
    """The refresh queue, what feeds it, and the watcher's event source mapping on it."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: AppConfig, function: lambda_.Function
    ) -> None:
        super().__init__(scope, construct_id)
        work = work_queue(self, "RefreshQueue", "RefreshDeadLetters", config.timeout_seconds)
        self.queue, self.dead_letter_queue = work.queue, work.dead_letter_queue
        patterns = event_patterns(config.cloud_trail_events)
        default_bus = events.EventBus.from_event_bus_name(self, "DefaultBus", "default")
        for name, pattern in patterns.items():
            self._rule(name, default_bus, pattern)
        self.intake_bus = self._intake(config, patterns)
        for topic_arn in sorted({t for w in config.watches for t in w.refresh_on}):
            self._subscribe(topic_arn)
        # Two at most, so refreshes never take the scans' share of the reserved concurrency
        # (a throttled batch returns only after the visibility timeout).
        consume(function, self.queue, batch_size=BATCH_SIZE,
                max_concurrency=REFRESH_CONCURRENCY if config.concurrency >= 4 else None,
                window_seconds=config.refresh_batching_window_seconds)  # fmt: skip

    def _rule(self, name: str, bus: events.IEventBus, pattern: dict[str, Any]) -> None:
        rule = events.Rule(
            self, name, event_bus=bus, description=f"amiwatch: {name} -> the refresh queue",
            event_pattern=cdk_event_pattern(pattern),
        )  # fmt: skip
        rule.add_target(targets.SqsQueue(self.queue))

    def _intake(
        self, config: AppConfig, patterns: dict[str, dict[str, Any]]
    ) -> events.EventBus | None:
        """A bus the AmiWatchMemberEvents stack forwards AMI events to: from member accounts,
        and from the watcher's own account in the other regions a watch names."""
        members = sorted({a.id for a in config.member_accounts()})
        other_regions = any(w.regions for w in config.watches if not w.follows_parameters)
        if not members and not other_regions and not config.intake_organization_id:
            return None
        bus = events.EventBus(self, "IntakeBus", event_bus_name=f"{config.bus_name}-intake")
        # Account ids in a condition, not ARNs as principals: 15 characters each, not 33.
        # Beyond what the policy holds, the organisation's statement admits them (config checks).
        if members and len(members) <= INTAKE_ACCOUNTS_MAX:
            bus.add_to_resource_policy(iam.PolicyStatement(
                sid="MemberAccountsForwardAmiEvents", actions=["events:PutEvents"],
                principals=[iam.AnyPrincipal()], resources=[bus.event_bus_arn],
                conditions={"StringEquals": {"aws:PrincipalAccount": members}},
            ))  # fmt: skip
        if config.intake_organization_id:
            bus.add_to_resource_policy(iam.PolicyStatement(
                sid="OrganizationForwardsAmiEvents", actions=["events:PutEvents"],
                principals=[iam.AnyPrincipal()], resources=[bus.event_bus_arn],
                conditions={"StringEquals": {
                    "aws:PrincipalOrgID": config.intake_organization_id}},
            ))  # fmt: skip
        for name, pattern in patterns.items():
            self._rule(f"Intake{name}", bus, pattern)
        return bus

    def _subscribe(self, topic_arn: str) -> None:
        """A vendor's public topic → the queue (cross-account and cross-region are allowed)."""
        region = topic_arn.split(":")[3]
        self.queue.add_to_resource_policy(iam.PolicyStatement(
            actions=["sqs:SendMessage"], principals=[iam.ServicePrincipal("sns.amazonaws.com")],
            resources=[self.queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": topic_arn}},
        ))  # fmt: skip
        sns.CfnSubscription(
            self, f"RefreshOn{topic_arn.split(':')[5]}", topic_arn=topic_arn, protocol="sqs",
            endpoint=self.queue.queue_arn, region=region,
        )  # fmt: skip


def cdk_event_pattern(pattern: dict[str, Any]) -> events.EventPattern:
    """A pattern as EventBridge writes it, as CDK's EventPattern takes it."""
    return events.EventPattern(
        **{{"detail-type": "detail_type"}.get(k, k): v for k, v in pattern.items()}
    )
