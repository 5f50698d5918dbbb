"""`AmiWatchMemberEvents`: forward one account-and-region's own AMI events to the watcher.

AWS emits "EC2 AMI State Change" (and CloudTrail's AMI calls) only in the owner's account and in
the image's region, on that region's default bus. This regional stack forwards them to the
watcher's intake bus, where the same rules as on the watcher's own default bus feed the refresh
queue. Deploy it in every (member account, watched region), and in the watcher's own account in
each watched region other than the watcher's (docs/realtime.md); as a service-managed StackSet it
covers an organisation. Everything account-specific is a parameter.
"""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import Aws, CfnCondition, CfnParameter, Fn
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from amiwatch.model import defaults

from ..concerns.concern import Concern
from ..concerns.realtime import API_CALL_RULES, cdk_event_pattern, event_patterns
from ..stacks.member import ACCOUNT_ID, MemberStack, checked

REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
BUS_NAME = re.compile(r"^[\w.-]{1,256}$")


class AmiWatchMemberEvents(Concern):
    """Rules on this region's default bus forwarding its AMI events to the watcher's intake bus,
    through a role EventBridge assumes (cross-account and cross-region targets need one), as a
    construct for a member account's own CDK app. `cloud_trail_events` False leaves out the
    rules for AMI API calls via CloudTrail; a CfnCondition makes them conditional."""

    def __init__(
        self, scope: Construct, construct_id: str, *, watcher_account: str, watcher_region: str,
        intake_bus_name: str = f"{defaults.BUS_NAME}-intake",
        cloud_trail_events: bool | CfnCondition = True,
    ) -> None:  # fmt: skip
        super().__init__(scope, construct_id)
        account = checked(watcher_account, ACCOUNT_ID, "watcher_account", "a 12-digit account id")
        region = checked(watcher_region, REGION, "watcher_region", "a region name")
        bus = checked(intake_bus_name, BUS_NAME, "intake_bus_name", "an event bus name")
        bus_arn = Fn.sub(
            "arn:${AWS::Partition}:events:${Region}:${Account}:event-bus/${Bus}",
            {"Region": region, "Account": account, "Bus": bus},
        )
        self.role = iam.Role(
            self, "ForwardRole",
            # Only this account's rules may use it (EventBridge sets aws:SourceAccount to the
            # rule's account: the confused-deputy guard EventBridge's condition keys document).
            assumed_by=iam.ServicePrincipal("events.amazonaws.com", conditions={
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}),
            description="amiwatch: EventBridge forwards AMI events to the watcher's intake bus",
            inline_policies={"PutIntakeEvents": iam.PolicyDocument(statements=[
                iam.PolicyStatement(actions=["events:PutEvents"], resources=[bus_arn])])},
        )  # fmt: skip
        intake = events.EventBus.from_event_bus_arn(self, "IntakeBus", bus_arn)
        for name, pattern in event_patterns(cloud_trail=cloud_trail_events is not False).items():
            rule = events.Rule(
                self, name, description=f"amiwatch: {name} -> the watcher's intake bus",
                event_pattern=cdk_event_pattern(pattern),
                targets=[targets.EventBus(intake, role=self.role)],
            )  # fmt: skip
            if name in API_CALL_RULES and isinstance(cloud_trail_events, CfnCondition):
                child = rule.node.default_child
                assert isinstance(child, events.CfnRule)
                child.cfn_options.condition = cloud_trail_events


class AmiWatchMemberEventsStack(MemberStack):
    """`AmiWatchMemberEvents` with everything account-specific a parameter (one template for a
    StackSet over accounts and regions)."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        watcher_region = CfnParameter(
            self, "WatcherRegion", allowed_pattern=r"^[a-z]{2}(-[a-z]+)+-\d$",
            description="The region of the AmiWatch stack", constraint_description="a region name",
        )  # fmt: skip
        intake_bus = CfnParameter(
            self, "IntakeBusName", default=f"{defaults.BUS_NAME}-intake",
            allowed_pattern=r"^[\w.-]{1,256}$",
            description="The AmiWatch stack's IntakeBusArn output names it: <busName>-intake",
        )  # fmt: skip
        cloud_trail = CfnParameter(
            self, "CloudTrailEvents", default="true", allowed_values=["true", "false"],
            description="Forward CloudTrail's AMI API calls too (as amiwatch.cloudTrailEvents)",
        )  # fmt: skip
        with_calls = CfnCondition(
            self, "ForwardApiCalls",
            expression=Fn.condition_equals(cloud_trail.value_as_string, "true"),
        )  # fmt: skip
        AmiWatchMemberEvents(
            self, "Member", watcher_account=self.watcher_account.value_as_string,
            watcher_region=watcher_region.value_as_string,
            intake_bus_name=intake_bus.value_as_string, cloud_trail_events=with_calls,
        )  # fmt: skip
