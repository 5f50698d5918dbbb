"""Triggers: what starts a run. One EventBridge Scheduler schedule per watch invokes the
dispatcher, which puts one message per target on the target queue; the watcher consumes it with
bounded concurrency (amiwatch.judge.dispatch). A second schedule per watch (`forecastSchedule`)
dispatches its forecast the same way, naming its period with the schedule's own time. The
template does not grow with accounts x regions."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnElement, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_scheduler import ContextAttribute
from constructs import Construct

from amiwatch.model import defaults

from ..concerns.concern import Concern
from ..concerns.queues import consume, work_queue
from ..config.cdk_json import AppConfig
from ..nag import acknowledge


class Schedules(Concern):
    """A schedule per watch (the dispatch), and the target queue with its dead letters."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        function: lambda_.Function,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        work = work_queue(self, "TargetQueue", "TargetDeadLetters", config.timeout_seconds)
        self.queue, self.dead_letter_queue = work.queue, work.dead_letter_queue
        # One scan per invocation: each gets the whole timeout; the mapping bounds how many
        # run at once (the rest wait in the queue, not in Lambda's throttles).
        consume(function, self.queue, batch_size=1, max_concurrency=config.target_concurrency)
        self.queue.grant_send_messages(function)
        function.add_environment("AMIWATCH_TARGET_QUEUE_URL", self.queue.queue_url)
        function.add_environment("AMIWATCH_STALE_AFTER_SECONDS", str(config.stale_after_seconds))
        function.add_environment("AMIWATCH_TARGET_METRICS", str(config.target_metrics).lower())
        function.add_environment("AMIWATCH_ORDERS", ",".join(defaults.ORDERS))
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
        cfn_function = function.node.default_child
        assert isinstance(cfn_function, CfnElement)
        function_id = Stack.of(function).get_logical_id(cfn_function)
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
            "CDK's scheduler target grant covers the watcher function's versions and aliases "
            "(`<arn>:*`); the role can invoke this one function and nothing else.",
        )
        for name, value in config.forecast.environment().items():
            function.add_environment(name, value)
        for watch in config.watches:
            target = {"function": function, "dead_letter_queue": dead_letter_queue, "role": role}
            if config.forecast.schedule:
                # The scheduled time, not the invocation's: a retry forecasts the same period.
                order = {"watch": watch.name, "scheduledAt": ContextAttribute.scheduled_time}
                scheduler.Schedule(
                    self,
                    f"Forecast-{watch.name}",
                    description=f'amiwatch: forecast what will break in watch "{watch.name}"',
                    schedule=scheduler.ScheduleExpression.expression(config.forecast.schedule),
                    schedule_group=group,
                    time_window=window,
                    target=_invoke(target, {"forecast": order}),
                )
            scheduler.Schedule(
                self,
                f"Dispatch-{watch.name}",
                description=f'amiwatch: dispatch the targets of watch "{watch.name}"',
                schedule=scheduler.ScheduleExpression.expression(config.schedule),
                schedule_group=group,
                time_window=window,
                target=_invoke(target, {"dispatch": {"watch": watch.name}}),
            )


def _invoke(target: dict[str, Any], event: dict[str, Any]) -> scheduler_targets.LambdaInvoke:
    return scheduler_targets.LambdaInvoke(
        target["function"],
        input=scheduler.ScheduleTargetInput.from_object(event),
        dead_letter_queue=target["dead_letter_queue"],
        retry_attempts=2,
        role=target["role"],
    )
