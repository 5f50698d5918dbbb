"""Triggers: what starts a run. One EventBridge Scheduler schedule per target."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from amiwatch.watches import SELF
from infra.cdk_json import AppConfig
from infra.concern import Concern
from infra.nag import acknowledge


def target_id(watch: str, account: str, region: str | None) -> str:
    """A construct id part per target; the single default target keeps the plain watch name."""
    return "-".join([watch, *([] if account == SELF else [account]), *([region] if region else [])])


class Schedules(Concern):
    """One schedule per target: independent invocations, so a slow, throttled or failing target
    never holds up another, and no run loops over all of them."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        function: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        group = scheduler.ScheduleGroup(self, "Schedules")
        window = (
            scheduler.TimeWindow.flexible(Duration.minutes(config.flexible_window_minutes))
            if config.flexible_window_minutes
            else scheduler.TimeWindow.off()
        )
        role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description="amiwatch schedules: invoke the watcher, dead-letter what cannot be sent",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::<WatcherFunctionD966CE9F.Arn>:*]",
            "CDK's scheduler target grant covers the watcher function's versions and aliases "
            "(`<arn>:*`); the role can invoke this one function and nothing else.",
        )
        for watch, account, region in config.targets():
            target = {"watch": watch.name, "account": account.id, "region": region or Aws.REGION}
            scheduler.Schedule(
                self,
                f"Schedule-{target_id(watch.name, account.id, region)}",
                description=f'amiwatch: watch "{watch.name}", account {account.id}, '
                f"region {region or 'of the stack'}",
                schedule=scheduler.ScheduleExpression.expression(config.schedule),
                schedule_group=group,
                time_window=window,
                target=scheduler_targets.LambdaInvoke(
                    function,
                    input=scheduler.ScheduleTargetInput.from_object({"target": target}),
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=2,
                    role=role,
                ),
            )
