"""Chat: Slack and Microsoft Teams channels of Amazon Q Developer in chat applications, subscribed
to the chat topic. Notifications need no permissions, so by default the channel can run nothing;
`chatCommands` opts in to read-only commands, each user under their own role."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import Aws
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from ..concerns.concern import Concern
from ..config.cdk_json import AppConfig
from ..nag import acknowledge


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
        role, guardrail = self._role_and_guardrail()
        common: dict[str, Any] = {
            "iam_role_arn": role.role_arn,
            "guardrail_policies": [guardrail.managed_policy_arn],
            "sns_topic_arns": [self.chat_topic.topic_arn],
            "logging_level": "ERROR",
            # With commands on, each member runs them under a role of their own choosing
            # (still capped by the guardrail), never under the channel's shared role.
            "user_role_required": config.chat_commands,
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

    def _role_and_guardrail(self) -> tuple[iam.Role, iam.IManagedPolicy]:
        """Without chatCommands: a role with no permissions and a guardrail that denies every
        action, so nothing typed in the channel reads the account. With it: AWS's
        ReadOnlyAccess as both (AWS keeps it current as services are added)."""
        principal = iam.ServicePrincipal("chatbot.amazonaws.com").with_conditions(
            {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
        )
        if not self.config.chat_commands:
            guardrail: iam.IManagedPolicy = iam.ManagedPolicy(
                self, "NoCommands",
                description="amiwatch chat channel guardrail: notifications only, no commands",
                statements=[iam.PolicyStatement(
                    effect=iam.Effect.DENY, actions=["*"], resources=["*"])],
            )  # fmt: skip
            role = iam.Role(
                self, "ChatRole", assumed_by=principal,
                description="amiwatch chat channel: notifications only (no permissions)",
            )  # fmt: skip
            return role, guardrail
        read_only = iam.ManagedPolicy.from_aws_managed_policy_name("ReadOnlyAccess")
        role = iam.Role(
            self, "ChatRole", assumed_by=principal, managed_policies=[read_only],
            description="amiwatch chat channel: read-only commands (chatCommands)",
        )  # fmt: skip
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/ReadOnlyAccess]",
            "chatCommands opts in to read-only commands: AWS's ReadOnlyAccess is both the "
            "channel's role and its guardrail, AWS keeps it current, and each member must use "
            "a user role of their own (UserRoleRequired).",
        )
        return role, read_only
