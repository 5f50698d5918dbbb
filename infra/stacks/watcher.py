"""The deployable stack: the watcher construct plus stable outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnElement, CfnOutput, Stack
from constructs import Construct

from ..concerns.concern import concern_free_logical_id
from ..concerns.watcher import AmiWatcher
from ..config.cdk_json import AppConfig

# The member role's default trust pattern (`<name>-*`) relies on this stack name.
WATCHER_STACK_NAME = "AmiWatch"


class AmiWatchStack(Stack):
    """One amiwatch deployment. Outputs keep their logical ids across versions."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs: Any):
        super().__init__(scope, construct_id, **kwargs)
        watcher = AmiWatcher(self, "Watcher", config=config)
        outputs = {
            "TopicArn": (watcher.topic.topic_arn, "SNS topic with one message per AMI change"),
            "ChatTopicArn": (
                watcher.chat_topic.topic_arn,
                "SNS topic of chat notifications (Amazon Q Developer in chat)",
            ),
            "AlarmTopicArn": (watcher.alarm_topic.topic_arn, "SNS topic of the watcher's alarms"),
            "BusName": (watcher.bus.event_bus_name, "EventBridge bus receiving amiwatch events"),
            "BusArn": (watcher.bus.event_bus_arn, "ARN of that bus"),
            "SchemaRegistryName": (
                watcher.registry.attr_registry_name,
                "EventBridge schema registry of the amiwatch events",
            ),
            "TableName": (watcher.table.table_name, "DynamoDB table holding the snapshots"),
            "FunctionName": (watcher.function.function_name, "The watcher Lambda"),
        }
        outputs["TargetQueueName"] = (
            watcher.target_queue.queue_name,
            "SQS queue of dispatched target scans",
        )
        outputs["DashboardName"] = (
            watcher.dashboard.dashboard_name,
            "CloudWatch dashboard of the watcher",
        )
        if watcher.refresh_queue is not None:
            outputs["RefreshQueueName"] = (
                watcher.refresh_queue.queue_name,
                "SQS queue of AWS's AMI events awaiting a targeted refresh",
            )
        if watcher.intake_bus is not None:
            outputs["IntakeBusArn"] = (
                watcher.intake_bus.event_bus_arn,
                "Bus the AmiWatchMemberEvents stacks forward AMI events to",
            )
        for logical_id, (value, description) in outputs.items():
            CfnOutput(self, logical_id, value=value, description=description)
        self.watcher = watcher

    def _allocate_logical_id(self, cfn_element: CfnElement) -> str:
        """Logical ids from the path without Concern segments: grouping resources by concern
        must not make CloudFormation replace the table, topics or the named bus."""
        return concern_free_logical_id(self, cfn_element)
