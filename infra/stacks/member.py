"""`AmiWatchMemberRole`: the role a member account gives the watcher, and nothing more.

Deploy it in each member account directly, or to a whole organisation as a service-managed
StackSet. Everything account-specific is a parameter, so one template serves every account.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, BootstraplessSynthesizer, CfnOutput, CfnParameter, Fn, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from amiwatch.model import defaults
from infra.concerns.permissions import (
    WILDCARD_REASON,
    lint_unlisted_actions,
    read_target_statements,
)
from infra.nag import acknowledge
from infra.stacks.watcher import WATCHER_STACK_NAME


class MemberStack(Stack):
    """A stack for member accounts: no bootstrap dependency (member accounts of a StackSet are
    usually not CDK-bootstrapped), and the watcher's account as a parameter."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            synthesizer=BootstraplessSynthesizer(),
            analytics_reporting=False,
            **kwargs,
        )
        self.watcher_account = CfnParameter(
            self,
            "WatcherAccountId",
            description="The account where the AmiWatch stack (the watcher Lambda) runs",
            allowed_pattern=r"^\d{12}$",
            constraint_description="a 12-digit AWS account id",
        )


class AmiWatchMemberRoleStack(MemberStack):
    """A role trusting the watcher's account (with the external id) to read AMIs and what uses
    them (infra.concerns.permissions), nothing else."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        watcher_account = self.watcher_account
        external_id = CfnParameter(
            self,
            "ExternalId",
            description="Must equal amiwatch.externalId in the watcher's cdk.json",
            allowed_pattern=r"^[\w+=,.@:/-]{2,1224}$",
            min_length=2,
        )
        role_name = CfnParameter(
            self,
            "RoleName",
            description="The role name the watch's accounts entry names (roleName)",
            default=defaults.MEMBER_ROLE,
            allowed_pattern=r"^[\w+=,.@-]{1,64}$",
        )
        watcher_roles = CfnParameter(
            self,
            "WatcherRoleNamePattern",
            description="Only roles of the watcher account matching this may assume the role "
            "(the AmiWatch stack's Lambda role is AmiWatch-WatcherRole...)",
            default=f"{WATCHER_STACK_NAME}-*",
        )
        principal_arn = Fn.sub(
            "arn:${AWS::Partition}:iam::${Account}:role/${Pattern}",
            {"Account": watcher_account.value_as_string, "Pattern": watcher_roles.value_as_string},
        )
        role = iam.Role(
            self,
            "Role",
            role_name=role_name.value_as_string,
            description="amiwatch: lets the watcher account read AMIs and what uses them",
            assumed_by=iam.ArnPrincipal(
                Fn.sub(
                    "arn:${AWS::Partition}:iam::${Account}:root",
                    {"Account": watcher_account.value_as_string},
                )
            ).with_conditions(
                {
                    "StringEquals": {"sts:ExternalId": external_id.value_as_string},
                    "ArnLike": {"aws:PrincipalArn": principal_arn},
                }
            ),
            inline_policies={"ReadImages": iam.PolicyDocument(statements=read_target_statements())},
        )
        lint_unlisted_actions(role.node.find_child("Resource"))
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            WILDCARD_REASON,
        )
        CfnOutput(self, "RoleArn", value=role.role_arn, description="The role the watcher assumes")
        CfnOutput(self, "AccountId", value=Aws.ACCOUNT_ID, description="This member account")
