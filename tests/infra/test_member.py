"""The AmiWatchMemberRole stack: one template for every member account (or a StackSet)."""

from __future__ import annotations

import fnmatch
import json

import pytest


@pytest.fixture(scope="module")
def member(synthesized):
    return synthesized.member_template


def test_the_role_trusts_only_the_watchers_roles_with_the_external_id(member):
    [role] = member["Resources"].values()
    [statement] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]

    assert role["Type"] == "AWS::IAM::Role"
    assert role["Properties"]["RoleName"] == {"Ref": "RoleName"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {
        "AWS": {
            "Fn::Sub": [
                "arn:${AWS::Partition}:iam::${Account}:root",
                {"Account": {"Ref": "WatcherAccountId"}},
            ]
        }
    }
    assert statement["Condition"] == {
        "StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}},
        "ArnLike": {"aws:PrincipalArn": {"Fn::Sub": [
            "arn:${AWS::Partition}:iam::${Account}:role/${Pattern}",
            {"Account": {"Ref": "WatcherAccountId"}, "Pattern": {"Ref": "WatcherRoleNamePattern"}},
        ]}},
    }  # fmt: skip


# What DescribeImageReferences needs besides itself, from the EC2 User Guide ("Identify your
# resources referencing specified AMIs", Required IAM permissions), allowed only through EC2.
REFERENCE_CHECKS = {
    "Action": ["ec2:DescribeInstances", "ec2:DescribeLaunchTemplateVersions",
               "ec2:DescribeLaunchTemplates", "imagebuilder:GetContainerRecipe",
               "imagebuilder:ListContainerRecipes", "imagebuilder:ListImageRecipes",
               "ssm:DescribeParameters", "ssm:GetParameters"],
    "Condition": {"ForAnyValue:StringEquals": {"aws:CalledVia": ["ec2-images.amazonaws.com"]}},
    "Effect": "Allow", "Resource": "*",
}  # fmt: skip


def test_the_role_may_only_read_images_and_what_uses_them(member):
    # Was DescribeImages and DescribeImageReferences alone: EC2 then could not check the
    # referencing resources with the role's permissions, and "who is hit" came back empty.
    [role] = member["Resources"].values()

    assert "ManagedPolicyArns" not in role["Properties"]
    assert role["Properties"]["Policies"] == [{
        "PolicyName": "ReadImages",
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": ["ec2:DescribeImageReferences", "ec2:DescribeImages",
                        "ec2:GetAllowedImagesSettings", "ec2:GetImageFindings"],
             "Effect": "Allow", "Resource": "*"},
            REFERENCE_CHECKS]},
    }]  # fmt: skip


def test_parameters_make_one_template_fit_every_account(member):
    params = member["Parameters"]

    assert set(params) == {"WatcherAccountId", "ExternalId", "RoleName", "WatcherRoleNamePattern"}
    assert params["WatcherAccountId"]["AllowedPattern"] == r"^\d{12}$"
    assert params["RoleName"]["Default"] == "AmiWatchMember"
    assert params["WatcherRoleNamePattern"]["Default"] == "AmiWatch-*"
    # Deployable to accounts that were never CDK-bootstrapped (StackSet members).
    assert "Rules" not in member and "BootstrapVersion" not in params
    assert set(member["Outputs"]) == {"RoleArn", "AccountId"}


def test_the_watchers_lambda_role_matches_the_default_pattern(synthesized):
    # CloudFormation names an unnamed role <stack>-<logical id>-<suffix>: AmiWatch-WatcherRole...
    [(logical_id, role)] = [
        (k, v) for k, v in synthesized.resources("AWS::IAM::Role").items()
        if "lambda.amazonaws.com" in json.dumps(v["Properties"]["AssumeRolePolicyDocument"])
    ]  # fmt: skip

    pattern = synthesized.member_template["Parameters"]["WatcherRoleNamePattern"]["Default"]
    assert "RoleName" not in role["Properties"]
    assert fnmatch.fnmatch(f"{synthesized.stack_name}-{logical_id}-ABC123", pattern)


def test_cfn_lint_skips_its_action_list_only_where_ec2_get_image_findings_is_granted(synthesized):
    # cfn-lint's copy of the IAM reference lacks ec2:GetImageFindings; the skip must not spread.
    templates = [synthesized.template, synthesized.member_template]
    skipping = {
        logical_id: json.dumps(resource["Properties"])
        for template in templates
        for logical_id, resource in template["Resources"].items()
        if "W3037" in str(resource.get("Metadata", {}).get("cfn-lint"))
    }

    assert len(skipping) == 2  # the watcher role's policy and the member role
    assert all('"ec2:GetImageFindings"' in properties for properties in skipping.values())


@pytest.mark.parametrize(("props", "message"), [
    ({"watcher_account": "1234", "external_id": "shared-secret-1"},
     "watcher_account '1234' is not a 12-digit account id"),
    ({"watcher_account": "111122223333", "external_id": "x"}, "external_id 'x' is not 2-1224"),
    ({"watcher_account": "111122223333", "external_id": "ok-id", "role_name": "no spaces"},
     "role_name 'no spaces' is not an IAM role name"),
])  # fmt: skip
def test_the_member_role_construct_refuses_bad_props_by_name(props, message):
    import aws_cdk as cdk

    from infra import AmiWatchMemberRole, ConfigError

    with pytest.raises(ConfigError, match=message):
        AmiWatchMemberRole(cdk.Stack(cdk.App(), "Member"), "Role", **props)


def test_the_member_events_construct_refuses_a_region_that_is_not_one():
    import aws_cdk as cdk

    from infra import AmiWatchMemberEvents, ConfigError

    with pytest.raises(ConfigError, match="watcher_region 'Ireland' is not a region name"):
        AmiWatchMemberEvents(cdk.Stack(cdk.App(), "Member"), "Events",
                             watcher_account="111122223333", watcher_region="Ireland")  # fmt: skip
