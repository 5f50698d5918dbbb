"""Chat: Slack and Microsoft Teams channels of Amazon Q Developer in chat applications, subscribed
to the chat topic, with a read-only role and guardrail."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.cdk_json import AppConfig
from infra.concern import Concern
from infra.nag import acknowledge


class ChatChannels(Concern):
    """The configured channels (none without `slack` or `teams`)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: AppConfig, chat_topic: sns.ITopic
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.chat_topic = chat_topic
        self.channels = self._chat_channels()

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
