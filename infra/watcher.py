"""`AmiWatcher`: everything one amiwatch deployment needs, as one reusable construct."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import (
    AssetHashType,
    Aws,
    BundlingOptions,
    DockerImage,
    Duration,
    ILocalBundling,
    RemovalPolicy,
)
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_eventschemas as eventschemas
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from amiwatch.schema import registry_schemas
from amiwatch.sns_messages import email_filter_policy
from amiwatch.watches import SELF
from infra.cdk_json import LOG_RETENTION, AppConfig
from infra.nag import acknowledge
from infra.runtime import LAMBDA_RUNTIME, bundle_sdk, powertools_parameter
from infra.schedule import Heartbeat

LAMBDAS_DIR = Path(__file__).resolve().parents[1] / "lambdas"
WATCHES_FILE = "watches.json"
SNAPSHOT_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
]


def _target_id(watch: str, account: str, region: str | None) -> str:
    """A construct id part per target; the single default target keeps the plain watch name."""
    return "-".join([watch, *([] if account == SELF else [account]), *([region] if region else [])])


@jsii.implements(ILocalBundling)
class _LambdaSources:
    """Local bundling without Docker or network: our package plus the validated watch list."""

    def __init__(self, watches_document: str) -> None:
        self.watches_document = watches_document

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        out = Path(output_dir)
        bundle_sdk(out)
        shutil.copytree(
            LAMBDAS_DIR / "amiwatch",
            out / "amiwatch",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
        (out / WATCHES_FILE).write_text(self.watches_document, encoding="utf-8")
        return True


class AmiWatcher(Construct):
    """Table, topics, bus with archive and schema registry, Lambda, DLQ, alarms, email, chat."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.key = self._key()
        self.table = self._table()
        self.topic = self._topic()
        self.chat_topic = self._chat_topic()
        self.bus = self._bus()
        self.registry = self._schema_registry()
        self.dead_letter_queue = self._dead_letter_queue()
        self.function = self._function()
        self._schedules()
        self.alarm_topic = self._alarm_topic()
        self.alarms = self._alarms()
        self._email_subscriptions()
        self.chat_channels = self._chat_channels()

    def _key(self) -> kms.Key:
        key = kms.Key(
            self,
            "Key",
            description="amiwatch: encrypts the event topic and the alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch alarms publish to the encrypted alarm topic.
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt",
                  "kms:GenerateDataKey*")  # fmt: skip
        return key

    def _table(self) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            "Snapshot",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute="expiresAt",
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _topic(self) -> sns.Topic:
        return sns.Topic(
            self, "Topic", display_name="amiwatch", master_key=self.key, enforce_ssl=True
        )

    def _chat_topic(self) -> sns.Topic:
        # Its own topic: the chat service drops messages not in its custom notification format.
        return sns.Topic(
            self, "ChatTopic", display_name="amiwatch chat", master_key=self.key, enforce_ssl=True
        )

    def _schema_registry(self) -> eventschemas.CfnRegistry:
        registry = eventschemas.CfnRegistry(
            self,
            "SchemaRegistry",
            registry_name=self.config.bus_name,
            description="amiwatch events: one schema per detail type",
        )
        for name, schema in registry_schemas().items():
            eventschemas.CfnSchema(
                self,
                f"Schema{name.split('@')[1]}",
                registry_name=registry.attr_registry_name,
                schema_name=name,
                type="JSONSchemaDraft4",
                content=json.dumps(schema),
                description=schema["description"],
            )
        return registry

    def _bus(self) -> events.EventBus:
        bus = events.EventBus(self, "Bus", event_bus_name=self.config.bus_name)
        bus.archive(
            "Archive",
            description="Every amiwatch event, for replay",
            event_pattern=events.EventPattern(source=["amiwatch"]),
            retention=Duration.days(self.config.archive_retention_days),
        )
        return bus

    def _dead_letter_queue(self) -> sqs.Queue:
        # SQS-managed SSE: encrypted at rest without a KMS grant (and its wildcard actions).
        queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter destination of the watcher Lambda.",
        )
        return queue

    def _function(self) -> lambda_.Function:
        config = self.config
        log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays[LOG_RETENTION[config.log_retention_days]],
            removal_policy=RemovalPolicy.RETAIN,
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="amiwatch watcher: read AMIs, keep its snapshot, publish changes",
        )
        # Resolved by CloudFormation at deploy time: synth stays offline, the version is the one
        # requirements.txt pins (and the tests ran).
        layer = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            ssm.StringParameter.value_for_string_parameter(self, powertools_parameter()),
        )
        acknowledge(
            self,
            "AwsSolutions-L1",
            f"{LAMBDA_RUNTIME} is a supported runtime; it is pinned together with the public "
            "Powertools layer built for it (resolved from Powertools' SSM parameter for that "
            "runtime). Bump both at once.",
        )
        function = lambda_.Function(
            self,
            "Function",
            description="amiwatch: scan AMIs, diff against the snapshot, publish changes",
            runtime=lambda_.Runtime(LAMBDA_RUNTIME, lambda_.RuntimeFamily.PYTHON),
            architecture=lambda_.Architecture.ARM_64,
            handler="amiwatch.handler.handler",
            code=lambda_.Code.from_asset(
                str(LAMBDAS_DIR),
                # Hash the bundle, not the sources: a changed watch list must change the asset.
                asset_hash_type=AssetHashType.OUTPUT,
                bundling=BundlingOptions(
                    image=DockerImage.from_registry("unused-local-bundling-only"),
                    local=_LambdaSources(config.watches_document()),
                ),
            ),
            role=role,
            memory_size=config.memory_mb,
            timeout=Duration.seconds(config.timeout_seconds),
            # Targets run in parallel, each under its own lease; this caps the fan-out.
            reserved_concurrent_executions=config.concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=log_group,
            layers=[layer],
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
            retry_attempts=2,
            environment={
                "AMIWATCH_TABLE": self.table.table_name,
                "AMIWATCH_TOPIC_ARN": self.topic.topic_arn,
                "AMIWATCH_CHAT_TOPIC_ARN": self.chat_topic.topic_arn,
                "AMIWATCH_CHAT_CHANGES": ",".join(config.chat_changes),
                "AMIWATCH_DIGEST_THRESHOLD": str(config.digest_threshold),
                **({"AMIWATCH_EXTERNAL_ID": config.external_id} if config.external_id else {}),
                "AMIWATCH_BUS_NAME": self.bus.event_bus_name,
                "AMIWATCH_WATCHES_FILE": WATCHES_FILE,
                "AMIWATCH_LEASE_SECONDS": str(config.timeout_seconds + 60),
                "POWERTOOLS_SERVICE_NAME": "amiwatch",
                "POWERTOOLS_METRICS_NAMESPACE": "amiwatch",
            },
        )
        self._grant(role, log_group)
        return function

    def _grant(self, role: iam.Role, log_group: logs.LogGroup) -> None:
        role.add_to_policy(iam.PolicyStatement(actions=["ec2:DescribeImages"], resources=["*"]))
        role.add_to_policy(
            iam.PolicyStatement(actions=SNAPSHOT_ACTIONS, resources=[self.table.table_arn])
        )
        # Exact actions instead of topic.grant_publish(), whose KMS part is kms:GenerateDataKey*.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn, self.chat_topic.topic_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[self.key.key_arn]
            )
        )
        members = self.config.member_accounts()
        if members:
            role.add_to_policy(iam.PolicyStatement(
                actions=["sts:AssumeRole"],
                resources=[m.role_arn(Aws.PARTITION) for m in members],
            ))  # fmt: skip
        self.bus.grant_put_events_to(role)
        log_group.grant_write(role)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeImages supports no resource-level permissions, and neither do X-Ray's "
            "PutTraceSegments/PutTelemetryRecords (added by active tracing).",
        )

    def _schedules(self) -> None:
        """One EventBridge Scheduler schedule per target: independent invocations, so a slow,
        throttled or failing target never holds up another, and no run loops over all of them.
        """
        config = self.config
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
                f"Schedule-{_target_id(watch.name, account.id, region)}",
                description=f'amiwatch: watch "{watch.name}", account {account.id}, '
                f"region {region or 'of the stack'}",
                schedule=scheduler.ScheduleExpression.expression(config.schedule),
                schedule_group=group,
                time_window=window,
                target=scheduler_targets.LambdaInvoke(
                    self.function,
                    input=scheduler.ScheduleTargetInput.from_object({"target": target}),
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=2,
                    role=role,
                ),
            )

    def _alarm_topic(self) -> sns.Topic:
        return sns.Topic(
            self, "AlarmTopic", display_name="amiwatch alarms", master_key=self.key,
            enforce_ssl=True,
        )  # fmt: skip

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
                '"no successful run" alarm; failed runs still raise Errors and TargetFailures.',
            )
            return alarms
        alarms.extend(
            self._heartbeat(heartbeat, watch.name, account.id, region)
            for watch, account, region in self.config.targets()
        )
        return alarms

    def _heartbeat(
        self, heartbeat: Heartbeat, watch: str, account: str, region: str | None
    ) -> cloudwatch.Alarm:
        dimensions = {
            "service": "amiwatch",
            "watch": watch,
            "account": Aws.ACCOUNT_ID if account == SELF else account,
            "region": region or Aws.REGION,
        }
        metric = cloudwatch.Metric(
            namespace="amiwatch",
            metric_name="SuccessfulRuns",
            dimensions_map=dimensions,
            statistic="Sum",
            period=Duration.minutes(heartbeat.period_minutes),
        )
        where = f"account {account}, region {region or 'of the stack'}"
        hours = heartbeat.period_minutes * heartbeat.periods / 60
        return self._alarm(
            f"NoSuccessfulRun-{_target_id(watch, account, region)}", metric, 1,
            f'Watch "{watch}" ({where}) had no successful run in {hours:g} hours (two of the '
            "schedule's longest gaps, and one alarm period)",
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=cloudwatch.TreatMissingData.BREACHING,
            periods=heartbeat.periods,
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

    def _email_subscriptions(self) -> None:
        for i, email in enumerate(self.config.emails):
            sns.CfnSubscription(
                self,
                f"Email{i}",
                topic_arn=self.topic.topic_arn,
                protocol="email",
                endpoint=email.address,
                # Digests for busy runs instead of one email per change.
                filter_policy=email_filter_policy(email.filter_policy),
                filter_policy_scope="MessageAttributes",
            )

    def _chat_channels(self) -> list[cdk.CfnResource]:
        config = self.config
        if config.slack is None and config.teams is None:
            return []
        read_only = iam.ManagedPolicy.from_aws_managed_policy_name("ReadOnlyAccess")
        role = iam.Role(
            self,
            "ChatRole",
            assumed_by=iam.ServicePrincipal("chatbot.amazonaws.com"),
            description="amiwatch chat channel: read-only, for commands run from the channel",
            managed_policies=[read_only],
        )
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/ReadOnlyAccess]",
            "The chat channel is meant to be read-only: AWS's ReadOnlyAccess is both its role and "
            "its guardrail, and AWS keeps it current as services are added.",
        )
        common: dict[str, Any] = {
            "iam_role_arn": role.role_arn,
            "guardrail_policies": [read_only.managed_policy_arn],
            "sns_topic_arns": [self.chat_topic.topic_arn],
            "logging_level": "ERROR",
            "user_role_required": False,
        }
        channels: list[cdk.CfnResource] = []
        if config.slack is not None:
            channels.append(chatbot.CfnSlackChannelConfiguration(
                self, "Slack",
                configuration_name=config.slack.get("name", "amiwatch-slack"),
                slack_workspace_id=config.slack["workspaceId"],
                slack_channel_id=config.slack["channelId"],
                **common,
            ))  # fmt: skip
        if config.teams is not None:
            channels.append(chatbot.CfnMicrosoftTeamsChannelConfiguration(
                self, "Teams",
                configuration_name=config.teams.get("name", "amiwatch-teams"),
                team_id=config.teams["teamId"],
                teams_tenant_id=config.teams["tenantId"],
                teams_channel_id=config.teams["channelId"],
                **common,
            ))  # fmt: skip
        return channels
