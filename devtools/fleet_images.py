"""The synthetic fleet's images, and DescribeImages XML exactly as EC2 renders it (element names
from the EC2 model), for devtools.fleet to serve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

PAGE_SIZE = 1000
CHANGE_EVERY = 100  # generation 1 changes every 100th image: 1% of the fleet
# Generation 2 (the forecast's fleet) also gives every 2,000th image a DeprecationTime 23 days
# after the benchmark's clock: 50 images due in a 100k fleet (none of them changed in generation 1).
DUE_EVERY, DUE_OFFSET, DUE_AT = 2000, 7, "2026-12-20T00:00:00.000Z"
FAMILIES = ("al2023-golden", "ubuntu-24-04-base", "windows-2022-iis", "rhel-9-cis", "eks-node")
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def image_id(i: int) -> str:
    return f"ami-{i:017x}"


def describe_image(i: int, generation: int = 0) -> dict[str, Any]:
    """Image i of the fleet as DescribeImages returns it (~1.5 KB of XML each)."""
    family = FAMILIES[i % len(FAMILIES)]
    created = EPOCH + timedelta(minutes=17 * i)
    stamp = created.strftime("%Y%m%d-%H%M")
    tags = {
        "Name": f"{family}-{stamp}",
        "team": ("platform", "security", "data", "ml", "web")[i % 5],
        "cost-center": f"cc-{1000 + i % 97}",
        "os-family": family.split("-")[0],
        "build-pipeline": f"arn:aws:codepipeline:us-east-1:123456789012:{family}-build",
        "build-number": str(10_000 + i),
        "source-commit": f"{(i * 2654435761) % 2**40:010x}",
        "compliance": "cis-level-1",
        "expires-after": "180d",
    }
    image: dict[str, Any] = {
        "ImageId": image_id(i),
        "ImageLocation": f"123456789012/{family}-{stamp}",
        "State": "available",
        "OwnerId": "123456789012",
        "CreationDate": created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "Public": False,
        "Architecture": "arm64" if i % 3 == 0 else "x86_64",
        "ImageType": "machine",
        "Name": f"{family}-{stamp}-{i}",
        "Description": f"{family} hardened image built by pipeline run {10_000 + i} "
        f"from commit {tags['source-commit']}; includes SSM agent, CloudWatch agent and CIS "
        "level 1 benchmarks applied",
        "RootDeviceType": "ebs",
        "RootDeviceName": "/dev/xvda",
        "BlockDeviceMappings": [
            {
                "DeviceName": "/dev/xvda",
                "Ebs": {
                    "SnapshotId": f"snap-{i:017x}",
                    "VolumeSize": 30,
                    "DeleteOnTermination": True,
                    "VolumeType": "gp3",
                    "Encrypted": True,
                },
            },
            {
                "DeviceName": "/dev/xvdb",
                "Ebs": {
                    "SnapshotId": f"snap-{i + 1:017x}",
                    "VolumeSize": 100,
                    "DeleteOnTermination": True,
                    "VolumeType": "gp3",
                    "Encrypted": True,
                },
            },
        ],
        "VirtualizationType": "hvm",
        "Hypervisor": "xen",
        "EnaSupport": True,
        "SriovNetSupport": "simple",
        "BootMode": "uefi-preferred",
        "ImdsSupport": "v2.0",
        "PlatformDetails": "Windows" if family.startswith("windows") else "Linux/UNIX",
        "UsageOperation": "RunInstances:0002" if family.startswith("windows") else "RunInstances",
        "DeregistrationProtection": "disabled",
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    if generation >= 1 and i % CHANGE_EVERY == 0:
        _change(image, i // CHANGE_EVERY)
    if generation >= 2 and i % DUE_EVERY == DUE_OFFSET:
        image["DeprecationTime"] = DUE_AT
    return image


# What Amazon Inspector found in every changed image of generation 1 (it turns vulnerable).
CRITICAL_SCAN = {
    "HighestFindingSeverityLabel": "critical",
    "FindingScanDate": "2026-11-30T08:00:00Z",
    "CriticalFixAvailableSince": "2026-11-20T00:00:00Z",
}


def _change(image: dict[str, Any], k: int) -> None:
    """One realistic change per changed image (disabled, retagged, or deprecation scheduled),
    and Amazon Inspector finding a critical vulnerability in it."""
    image["ScanResults"] = CRITICAL_SCAN
    if k % 3 == 0:
        image["State"] = "disabled"
    elif k % 3 == 1:
        image["Tags"] = [*image["Tags"], {"Key": "vulnerability-scan", "Value": "passed"}]
    else:
        image["DeprecationTime"] = "2027-06-01T00:00:00.000Z"


# --- XML ----------------------------------------------------------------------------------------

_SCALARS = {
    "ImageId": "imageId",
    "ImageLocation": "imageLocation",
    "State": "imageState",
    "OwnerId": "imageOwnerId",
    "CreationDate": "creationDate",
    "Public": "isPublic",
    "Architecture": "architecture",
    "ImageType": "imageType",
    "Name": "name",
    "Description": "description",
    "RootDeviceType": "rootDeviceType",
    "RootDeviceName": "rootDeviceName",
    "VirtualizationType": "virtualizationType",
    "Hypervisor": "hypervisor",
    "EnaSupport": "enaSupport",
    "SriovNetSupport": "sriovNetSupport",
    "BootMode": "bootMode",
    "ImdsSupport": "imdsSupport",
    "PlatformDetails": "platformDetails",
    "UsageOperation": "usageOperation",
    "DeprecationTime": "deprecationTime",
    "DeregistrationProtection": "deregistrationProtection",
    "ImageOwnerAlias": "imageOwnerAlias",
    "TpmSupport": "tpmSupport",
    "LastLaunchedTime": "lastLaunchedTime",
    "SourceImageId": "sourceImageId",
    "SourceImageRegion": "sourceImageRegion",
    "ImageAllowed": "imageAllowed",
    "Platform": "platform",
}
_EBS = {
    "SnapshotId": "snapshotId",
    "VolumeSize": "volumeSize",
    "DeleteOnTermination": "deleteOnTermination",
    "VolumeType": "volumeType",
    "Encrypted": "encrypted",
}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def render_item(image: dict[str, Any]) -> str:
    """One `<item>` of `imagesSet`."""
    parts = ["<item>"]
    for key, tag in _SCALARS.items():
        if key in image and image[key] is not None:
            parts.append(f"<{tag}>{_text(image[key])}</{tag}>")
    if image.get("StateReason"):
        reason = image["StateReason"]
        parts.append(
            f"<stateReason><code>{_text(reason.get('Code', ''))}</code>"
            f"<message>{_text(reason.get('Message', ''))}</message></stateReason>"
        )
    if image.get("BlockDeviceMappings"):
        parts.append("<blockDeviceMapping>")
        for mapping in image["BlockDeviceMappings"]:
            ebs = "".join(f"<{t}>{_text(mapping['Ebs'][k])}</{t}>" for k, t in _EBS.items())
            parts.append(
                f"<item><deviceName>{_text(mapping['DeviceName'])}</deviceName>"
                f"<ebs>{ebs}</ebs></item>"
            )
        parts.append("</blockDeviceMapping>")
    if image.get("ScanResults"):
        scan = "".join(f"<{key[0].lower()}{key[1:]}>{_text(value)}</{key[0].lower()}{key[1:]}>"
                       for key, value in image["ScanResults"].items())  # fmt: skip
        parts.append(f"<scanResults>{scan}</scanResults>")
    if image.get("Tags"):
        tags = "".join(
            f"<item><key>{_text(t['Key'])}</key><value>{_text(t['Value'])}</value></item>"
            for t in image["Tags"]
        )
        parts.append(f"<tagSet>{tags}</tagSet>")
    parts.append("</item>")
    return "".join(parts)


def render_page(images: list[dict[str, Any]], next_token: str | None) -> bytes:
    token = f"<nextToken>{next_token}</nextToken>" if next_token else ""
    body = "".join(render_item(image) for image in images)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        f"<requestId>fleet</requestId><imagesSet>{body}</imagesSet>{token}"
        "</DescribeImagesResponse>"
    ).encode()


NO_REFERENCES = (
    b'<DescribeImageReferencesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
    b"<requestId>fleet</requestId><imageReferenceSet/></DescribeImageReferencesResponse>"
)
IMAGE_FINDINGS = (  # GetImageFindings: the same two findings for every vulnerable image
    b'<GetImageFindingsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
    b"<requestId>fleet</requestId><imageFindingSet>"
    b"<item><title>CVE-2026-31337 - openssl</title><severityLabel>critical</severityLabel>"
    b"<score>9.8</score><fixAvailable>true</fixAvailable></item>"
    b"<item><title>CVE-2026-2222 - glibc</title><severityLabel>high</severityLabel>"
    b"<score>7.5</score><fixAvailable>false</fixAvailable></item>"
    b"</imageFindingSet></GetImageFindingsResponse>"
)
ALLOWED_IMAGES_DISABLED = (
    b'<GetAllowedImagesSettingsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
    b"<requestId>fleet</requestId><state>disabled</state><managedBy>account</managedBy>"
    b"</GetAllowedImagesSettingsResponse>"
)


def error_response(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error></Errors><RequestID>fleet</RequestID></Response>"
    ).encode()
