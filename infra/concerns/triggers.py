"""Triggers: what starts a run. One EventBridge Scheduler schedule per watch invokes the
dispatcher, which puts one message per target on the target queue; the watcher consumes it with
bounded concurrency (amiwatch.judge.dispatch). The template does not grow with accounts x
regions."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.concerns.concern import Concern
from infra.concerns.queues import consume, work_queue
from infra.config.cdk_json import AppConfig
from infra.nag import acknowledge


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
        for watch in config.watches:
            scheduler.Schedule(
                self,
                f"Dispatch-{watch.name}",
                description=f'amiwatch: dispatch the targets of watch "{watch.name}"',
                schedule=scheduler.ScheduleExpression.expression(config.schedule),
                schedule_group=group,
                time_window=window,
                target=scheduler_targets.LambdaInvoke(
                    function,
                    input=scheduler.ScheduleTargetInput.from_object(
                        {"dispatch": {"watch": watch.name}}
                    ),
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=2,
                    role=role,
                ),
            )
