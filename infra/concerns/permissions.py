"""What reading a target takes in IAM: the same statements for the watcher's own role and for the
member role it assumes in other accounts (docs/design.md, "Roles and resource policies")."""

from __future__ import annotations

from aws_cdk import CfnResource
from aws_cdk import aws_iam as iam

from amiwatch.aws.clients import IMAGE_REFERENCE_CHECKS, IMAGES_SERVICE, READ_IMAGES

CALLED_VIA_IMAGES = {"ForAnyValue:StringEquals": {"aws:CalledVia": [IMAGES_SERVICE]}}
WILDCARD_REASON = (
    "ec2:DescribeImages, ec2:DescribeImageReferences, ec2:GetAllowedImagesSettings and "
    "ec2:GetImageFindings support no resource-level permissions; "
    "the resource checks DescribeImageReferences makes on the caller's behalf (instances, "
    "launch templates, SSM parameters, Image Builder recipes) are allowed only through EC2 "
    "(aws:CalledVia ec2-images.amazonaws.com), as AWS's AmazonEC2ImageReferencesAccessPolicy "
    "does."
)


def read_target_statements() -> list[iam.PolicyStatement]:
    """Read a target's images and who uses them, and nothing else."""
    return [
        iam.PolicyStatement(actions=list(READ_IMAGES), resources=["*"]),
        iam.PolicyStatement(
            actions=list(IMAGE_REFERENCE_CHECKS), resources=["*"], conditions=CALLED_VIA_IMAGES
        ),
    ]


# cfn-lint checks IAM actions against its copy of the Service Authorization Reference, which does
# not list ec2:GetImageFindings yet (cfn-lint 1.58.0, the newest); the action carries the API's
# name, as every EC2 action does. Only the policies that hold READ_IMAGES skip that one check.
UNLISTED_ACTION_CHECK = "W3037"


def lint_unlisted_actions(resource: CfnResource) -> None:
    """Tell cfn-lint that `resource` grants an action its reference does not list yet."""
    resource.add_metadata("cfn-lint", {"config": {"ignore_checks": [UNLISTED_ACTION_CHECK]}})
