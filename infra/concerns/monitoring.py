"""Monitoring: the alarm topic and the alarms an operator needs, each meaning something is wrong."""

from __future__ import annotations

import math

import aws_cdk as cdk
from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from amiwatch.model.schedule import Heartbeat

from ..concerns.concern import Concern
from ..concerns.messaging import topic_key
from ..config.cdk_json import AppConfig

CLOUDWATCH = iam.ServicePrincipal("cloudwatch.amazonaws.com")


class Monitoring(Concern):
    """Errors, throttles, duration, dead letters, target failures, and stale targets."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        function: lambda_.Function,
        dead_letter_queue: sqs.Queue,
        target_dead_letters: sqs.Queue,
        refresh_dead_letters: sqs.Queue | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.function = function
        self.dead_letter_queue = dead_letter_queue
        self.refresh_dead_letters = refresh_dead_letters
        self.target_dead_letters = target_dead_letters
        self.alarm_key = self._alarm_key()
        self.alarm_topic = sns.Topic(
            self, "AlarmTopic", display_name="amiwatch alarms", master_key=self.alarm_key,
            enforce_ssl=True,
        )  # fmt: skip
        self.alarms = self._alarms()
        self._let_alarms_publish()

    def _alarm_key(self) -> kms.Key:
        """Its own key: a mistake with the events' key (disabled, scheduled for deletion) must
        not also silence the alarms that would report the failed deliveries."""
        key = topic_key(self, "AlarmKey", "amiwatch: encrypts the alarm topic")
        # SNS docs, "Enable compatibility between event sources from AWS services and encrypted
        # topics": the publishing service may generate data keys and decrypt with the key.
        key.grant(CLOUDWATCH, "kms:Decrypt", "kms:GenerateDataKey*")
        return key

    def _let_alarms_publish(self) -> None:
        """The topic's policy (TLS only) replaces SNS's default one, which admitted the account:
        CloudWatch may publish to it, for this account's alarms of this stack only."""
        self.alarm_topic.add_to_resource_policy(iam.PolicyStatement(
            sid="StackAlarmsPublish", principals=[CLOUDWATCH], actions=["sns:Publish"],
            resources=[self.alarm_topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                        "ArnLike": {"aws:SourceArn": [a.alarm_arn for a in self.alarms]}},
        ))  # fmt: skip

    def _alarms(self) -> list[cloudwatch.Alarm]:
        five_minutes = Duration.minutes(5)
        fn = self.function
        timeout_ms = self.config.timeout_seconds * 1000
        alarms = [
            self._alarm("Errors", fn.metric_errors(period=five_minutes, statistic="Sum"), 1,
                        "The watcher failed (a watch could not run, or events were not delivered)"),
            self._alarm("Throttles", fn.metric_throttles(period=five_minutes, statistic="Sum"), 1,
                        "The watcher was throttled: more targets ran at once than its "
                        f"reserved concurrency ({self.config.concurrency}) allows"),
            self._alarm("DurationNearTimeout",
                        fn.metric_duration(period=five_minutes, statistic="Maximum"),
                        math.floor(timeout_ms * 0.8), "A run used more than 80% of its timeout"),
            self._alarm("DeadLetters",
                        self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                            period=five_minutes, statistic="Maximum"),
                        1, "A failed invocation landed in the dead-letter queue"),
        ]  # fmt: skip
        if self.refresh_dead_letters is not None:
            alarms.append(self._alarm(
                "RefreshDeadLetters",
                self.refresh_dead_letters.metric_approximate_number_of_messages_visible(
                    period=five_minutes, statistic="Maximum"),
                1, "A refresh message was received 8 times in ~45 minutes without success (a "
                "target that keeps failing, or a lease never released) and landed in the "
                "refresh dead-letter queue; the scheduled run still covers its images",
            ))  # fmt: skip
        alarms.append(self._alarm(
            "TargetDeadLetters",
            self.target_dead_letters.metric_approximate_number_of_messages_visible(
                period=five_minutes, statistic="Maximum"),
            1, "A target's scan failed on 8 deliveries and landed in the target dead-letter "
            "queue (the next period dispatches it again)",
        ))  # fmt: skip
        alarms.append(self._alarm(
            "TargetFailures", cloudwatch.Metric(
                namespace="amiwatch", metric_name="TargetFailures",
                dimensions_map={"service": "amiwatch"}, statistic="Sum", period=five_minutes),
            1, "A target (watch, account, region) could not run: role, region or permissions",
        ))  # fmt: skip
        heartbeat = self.config.heartbeat
        if heartbeat is None:
            cdk.Annotations.of(self).add_warning_v2(
                "amiwatch:no-heartbeat",
                f'schedule "{self.config.schedule}" leaves more than 3 days between runs: '
                "CloudWatch cannot watch two such gaps (7 days at most), so there is no "
                '"stale targets" alarm; failed runs still raise Errors and TargetFailures.',
            )
            return alarms
        alarms.append(self._stale_targets(heartbeat))
        return alarms

    def _stale_targets(self, heartbeat: Heartbeat) -> cloudwatch.Alarm:
        """One alarm for every target: the dispatcher counts, each period, the targets without a
        success in two periods. No datapoint for the whole window means no dispatch: also bad."""
        metric = cloudwatch.Metric(
            namespace="amiwatch",
            metric_name="StaleTargets",
            dimensions_map={"service": "amiwatch"},
            statistic="Maximum",
            period=Duration.minutes(heartbeat.period_minutes),
        )
        hours = heartbeat.period_minutes * heartbeat.periods / 60
        return self._alarm(
            "StaleTargets", metric, 1,
            f"Targets had no successful run in two of the schedule's longest gaps, or no watch "
            f"was dispatched, for {hours:g} hours: the dispatch log line names them, "
            "`amiwatch status` lists them",
            missing=cloudwatch.TreatMissingData.BREACHING, periods=heartbeat.periods,
        )  # fmt: skip

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        *,
        comparison: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        ),
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
        periods: int = 1,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            f"Alarm{name}",
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            comparison_operator=comparison,
            treat_missing_data=missing,
            alarm_description=f"amiwatch: {description}",
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.alarm_topic))
        return alarm
