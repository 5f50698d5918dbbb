"""Storage: the snapshot table (one partition per watch target; see docs/design.md)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from amiwatch.aws.dispatching import META_SUMMARY, TARGETS_BY_WATCH

from ..concerns.concern import Concern


class Storage(Concern):
    """The snapshot table: on demand, point-in-time recovery, encrypted, retained, TTL."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
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
        # Every target's `meta` item carries `targetWatch`: the dispatcher (freshness) and
        # `amiwatch status` list a watch's targets with one Query, never a table scan.
        self.table.add_global_secondary_index(
            index_name=TARGETS_BY_WATCH,
            partition_key=dynamodb.Attribute(
                name="targetWatch", type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(META_SUMMARY),
        )
