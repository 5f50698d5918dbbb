"""Compute: the watcher Lambda, its role and exactly the permissions it needs, its log group and
the dead-letter queue of what could not run."""

from __future__ import annotations

from aws_cdk import AssetHashType, Aws, BundlingOptions, DockerImage, Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from amiwatch.aws.clients import ORGANIZATION_READ, SNAPSHOT_ACTIONS
from amiwatch.aws.dispatching import TARGETS_BY_WATCH

from ..concerns.concern import Concern
from ..concerns.permissions import (
    WILDCARD_REASON,
    lint_unlisted_actions,
    read_target_statements,
)
from ..config.cdk_json import LOG_RETENTION, AppConfig
from ..nag import acknowledge
from ..runtime import (
    LAMBDA_RUNTIME,
    PACKAGE_DIR,
    WATCHES_FILE,
    LambdaSources,
    powertools_parameter,
)

# Member role ARNs listed one by one up to this many (~60 characters each in the policy).
LISTED_ROLES_MAX = 40


class WatcherFunction(Concern):
    """The Lambda (asset bundled locally), its log group, role, permissions and DLQ."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        table: dynamodb.Table,
        topics: list[sns.Topic],
        key: kms.Key,
        bus: events.EventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.dead_letter_queue = self._dead_letter_queue()
        log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays[LOG_RETENTION[config.log_retention_days]],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="amiwatch watcher: read AMIs, keep its snapshot, publish changes",
        )
        environment = {
            "AMIWATCH_TABLE": table.table_name,
            "AMIWATCH_TOPIC_ARN": topics[0].topic_arn,
            "AMIWATCH_CHAT_TOPIC_ARN": topics[1].topic_arn,
            "AMIWATCH_BUS_NAME": bus.event_bus_name,
        }
        self.function = self._function(log_group, environment)
        self._grant(table, topics, key, bus, log_group)

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

    def _function(self, log_group: logs.LogGroup, resources: dict[str, str]) -> lambda_.Function:
        config = self.config
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
        return lambda_.Function(
            self,
            "Function",
            description="amiwatch: scan AMIs, diff against the snapshot, publish changes",
            runtime=lambda_.Runtime(LAMBDA_RUNTIME, lambda_.RuntimeFamily.PYTHON),
            architecture=lambda_.Architecture.ARM_64,
            handler="amiwatch.entry.handler.handler",
            code=lambda_.Code.from_asset(
                str(PACKAGE_DIR),
                # Hash the bundle, not the sources: a changed watch list must change the asset.
                asset_hash_type=AssetHashType.OUTPUT,
                bundling=BundlingOptions(
                    image=DockerImage.from_registry("unused-local-bundling-only"),
                    local=LambdaSources(config.watches_document()),
                ),
            ),
            role=self.role,
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
                "AMIWATCH_TABLE": resources["AMIWATCH_TABLE"],
                "AMIWATCH_TOPIC_ARN": resources["AMIWATCH_TOPIC_ARN"],
                "AMIWATCH_CHAT_TOPIC_ARN": resources["AMIWATCH_CHAT_TOPIC_ARN"],
                "AMIWATCH_CHAT_CHANGES": ",".join(config.chat_changes),
                "AMIWATCH_DIGEST_THRESHOLD": str(config.digest_threshold),
                **({"AMIWATCH_EXTERNAL_ID": config.external_id} if config.external_id else {}),
                **(
                    {"AMIWATCH_ORGANIZATION_ROLE_ARN": config.organization_role_arn}
                    if config.organization_role_arn
                    else {}
                ),
                "AMIWATCH_BUS_NAME": resources["AMIWATCH_BUS_NAME"],
                "AMIWATCH_WATCHES_FILE": WATCHES_FILE,
                "AMIWATCH_LEASE_SECONDS": str(config.timeout_seconds + 60),
                "POWERTOOLS_SERVICE_NAME": "amiwatch",
                "POWERTOOLS_METRICS_NAMESPACE": "amiwatch",
            },
        )

    def _read_public_parameters(self, role: iam.Role) -> None:
        """AWS public parameters only (/aws/service/*), of the regions parameters watches read."""
        regions = self.config.parameter_regions()
        if not regions:
            return
        role.add_to_policy(iam.PolicyStatement(
            actions=["ssm:GetParameters", "ssm:GetParametersByPath"],
            resources=[f"arn:{Aws.PARTITION}:ssm:{r or Aws.REGION}::parameter/aws/service/*"
                       for r in regions],
        ))  # fmt: skip
        for region in regions:
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:"
                f"{region or '<AWS::Region>'}::parameter/aws/service/*]",
                "AWS's public parameters (the recommended AMIs) live under /aws/service/ and "
                "grow with every release; the role may read only those, nothing of its own.",
            )

    def _assume_member_roles(self, role: iam.Role) -> None:
        """The member accounts named by id: their roles one by one while a few, then by name.

        IAM stops a role's inline policies at 10,240 characters and a managed policy at 6,144,
        so hundreds of role ARNs cannot be listed; beyond LISTED_ROLES_MAX the statement names
        `arn:*:iam::*:role/<roleName>`, and each member role's trust policy (this role, the
        external id) is what admits the watcher."""
        members = self.config.member_accounts()
        if not members:
            return
        if len(members) <= LISTED_ROLES_MAX:
            resources = [m.role_arn(Aws.PARTITION) for m in members]
        else:
            names = sorted({m.role_name for m in members})
            resources = [f"arn:{Aws.PARTITION}:iam::*:role/{name}" for name in names]
            for name in names:
                acknowledge(
                    role,
                    f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/{name}]",
                    f"{len(members)} member accounts are more role ARNs than an IAM policy can "
                    "hold; the role name is fixed and each member's trust policy admits only "
                    "this role with the external id.",
                )
        role.add_to_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=resources))

    def _read_organization(self, role: iam.Role) -> None:
        """The organisation scopes: list accounts (or assume organizationRoleArn to), and assume
        the member roles of accounts known only at run time (inside the organisation)."""
        names = self.config.organization_roles()
        if not names:
            return
        via = self.config.organization_role_arn
        statement = iam.PolicyStatement(
            actions=["sts:AssumeRole"],
            resources=[f"arn:{Aws.PARTITION}:iam::*:role/{name}" for name in names],
        )
        if via is None:  # the watcher is in the organisation: only its accounts' roles
            statement.add_condition("StringEquals", {"aws:ResourceOrgID": "${aws:PrincipalOrgID}"})
            role.add_to_policy(
                iam.PolicyStatement(actions=list(ORGANIZATION_READ), resources=["*"])
            )
        else:
            role.add_to_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[via]))
        role.add_to_policy(statement)
        reason = (
            "The organisation's accounts are listed at run time; the role name is fixed, the "
            "external id is required, and (in the organisation) aws:ResourceOrgID limits it to "
            "the watcher's own organisation."
        )
        for name in names:
            where = f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/{name}]"
            acknowledge(role, where, reason)

    def _grant(
        self,
        table: dynamodb.Table,
        topics: list[sns.Topic],
        key: kms.Key,
        bus: events.EventBus,
        log_group: logs.LogGroup,
    ) -> None:
        role = self.role
        for statement in read_target_statements():
            role.add_to_policy(statement)
        lint_unlisted_actions(role.node.find_child("DefaultPolicy").node.find_child("Resource"))
        # Hand-written: table.grant() would add `<table>/index/*`; the one index is enough.
        role.add_to_policy(
            iam.PolicyStatement(actions=list(SNAPSHOT_ACTIONS), resources=[table.table_arn])
        )
        role.add_to_policy(iam.PolicyStatement(
            actions=["dynamodb:Query"],
            resources=[f"{table.table_arn}/index/{TARGETS_BY_WATCH}"],
        ))  # fmt: skip
        # Hand-written: topic.grant_publish() would add kms:GenerateDataKey* for the topic's key.
        role.add_to_policy(
            iam.PolicyStatement(actions=["sns:Publish"], resources=[t.topic_arn for t in topics])
        )
        # Hand-written: key.grant() would also add a statement to the key's policy.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn]
            )
        )
        self._read_public_parameters(role)
        self._assume_member_roles(role)
        self._read_organization(role)
        bus.grant_put_events_to(role)
        log_group.grant_write(role)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            f"{WILDCARD_REASON} X-Ray's PutTraceSegments/PutTelemetryRecords (added by active "
            "tracing) support no resource-level permissions either.",
        )
