"""What reading a target takes in IAM: the same statements for the watcher's own role and for the
member role it assumes in other accounts (docs/design.md, "Roles and resource policies")."""

from __future__ import annotations

from aws_cdk import aws_iam as iam

# The target's images, what uses them (usage in events), and its Allowed AMIs settings (why an
# image may be hidden). None supports resource-level rules.
READ_IMAGES = ("ec2:DescribeImages", "ec2:DescribeImageReferences", "ec2:GetAllowedImagesSettings")
# DescribeImageReferences looks at the referencing resources with the caller's own permissions
# (EC2 User Guide, "Identify your resources referencing specified AMIs", the policy AWS
# publishes as AmazonEC2ImageReferencesAccessPolicy v3): granted only through EC2's images
# service, so the role cannot list instances or read parameters by itself.
IMAGE_REFERENCE_CHECKS = (
    "ec2:DescribeInstances",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeLaunchTemplateVersions",
    "ssm:DescribeParameters",
    "ssm:GetParameters",
    "imagebuilder:ListImageRecipes",
    "imagebuilder:ListContainerRecipes",
    "imagebuilder:GetContainerRecipe",
)
CALLED_VIA_IMAGES = {"ForAnyValue:StringEquals": {"aws:CalledVia": ["ec2-images.amazonaws.com"]}}
WILDCARD_REASON = (
    "ec2:DescribeImages, ec2:DescribeImageReferences and ec2:GetAllowedImagesSettings support "
    "no resource-level permissions; "
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
