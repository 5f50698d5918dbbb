"""`AmiWatchMemberRole`: the role a member account gives the watcher, and nothing more.

Deploy it in each member account directly, or to a whole organisation as a service-managed
StackSet. Everything account-specific is a parameter, so one template serves every account.
"""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import (
    Aws,
    BootstraplessSynthesizer,
    CfnElement,
    CfnOutput,
    CfnParameter,
    Fn,
    Stack,
    Token,
)
from aws_cdk import aws_iam as iam
from constructs import Construct

from amiwatch.model import defaults
from amiwatch.model.errors import ConfigError

from ..concerns.concern import Concern, concern_free_logical_id
from ..concerns.permissions import (
    WILDCARD_REASON,
    lint_unlisted_actions,
    read_target_statements,
)
from ..nag import acknowledge
from ..stacks.watcher import WATCHER_STACK_NAME


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

    def _allocate_logical_id(self, cfn_element: CfnElement) -> str:
        """Logical ids without Concern segments: the constructs (AmiWatchMemberRole,
        AmiWatchMemberEvents) keep the ids these stacks had before they existed."""
        return concern_free_logical_id(self, cfn_element)


ACCOUNT_ID = re.compile(r"^\d{12}$")
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")


def checked(value: str, pattern: re.Pattern[str], field: str, what: str) -> str:
    """`value` if it matches (or is a token: a parameter, checked by CloudFormation)."""
    if not Token.is_unresolved(value) and not pattern.fullmatch(value):
        raise ConfigError(f"{field} {value!r} is not {what}")
    return value


class AmiWatchMemberRole(Concern):
    """The role a member account gives the watcher (read AMIs and what uses them, nothing
    else), as a construct for a member account's own CDK app. It trusts only roles of
    `watcher_account` matching `watcher_role_pattern`, with `external_id` (cdk.json's
    `externalId`)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, watcher_account: str, external_id: str,
        role_name: str = defaults.MEMBER_ROLE,
        watcher_role_pattern: str = f"{WATCHER_STACK_NAME}-*",
    ) -> None:  # fmt: skip
        super().__init__(scope, construct_id)
        account = checked(watcher_account, ACCOUNT_ID, "watcher_account", "a 12-digit account id")
        external = checked(external_id, EXTERNAL_ID, "external_id", "2-1224 of [\\w+=,.@:/-]")
        name = checked(role_name, ROLE_NAME, "role_name", "an IAM role name")
        principal_arn = Fn.sub(
            "arn:${AWS::Partition}:iam::${Account}:role/${Pattern}",
            {"Account": account, "Pattern": watcher_role_pattern},
        )
        self.role = iam.Role(
            self,
            "Role",
            role_name=name,
            description="amiwatch: lets the watcher account read AMIs and what uses them",
            assumed_by=iam.ArnPrincipal(
                Fn.sub("arn:${AWS::Partition}:iam::${Account}:root", {"Account": account})
            ).with_conditions(
                {
                    "StringEquals": {"sts:ExternalId": external},
                    "ArnLike": {"aws:PrincipalArn": principal_arn},
                }
            ),
            inline_policies={"ReadImages": iam.PolicyDocument(statements=read_target_statements())},
        )
        lint_unlisted_actions(self.role.node.find_child("Resource"))
        acknowledge(self.role, "AwsSolutions-IAM5[Resource::*]", WILDCARD_REASON)


class AmiWatchMemberRoleStack(MemberStack):
    """`AmiWatchMemberRole` with everything account-specific a parameter (one template for a
    StackSet)."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
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
        member = AmiWatchMemberRole(
            self, "Member", watcher_account=self.watcher_account.value_as_string,
            external_id=external_id.value_as_string, role_name=role_name.value_as_string,
            watcher_role_pattern=watcher_roles.value_as_string,
        )  # fmt: skip
        CfnOutput(self, "RoleArn", value=member.role.role_arn,
                  description="The role the watcher assumes")  # fmt: skip
        CfnOutput(self, "AccountId", value=Aws.ACCOUNT_ID, description="This member account")
