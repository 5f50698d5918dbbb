"""The fast DescribeImages parser gives exactly what botocore's gives: every member of the pinned
model's `Image` shape, the fleet's pages, moto's answers, and the odd answers it hands back."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

import botocore.session
import pytest
from botocore.parsers import EC2QueryParser
from moto import mock_aws

from amiwatch.aws import parsing
from amiwatch.aws.clients import client
from amiwatch.aws.parsing import ImagesParser, compile_shape
from devtools.fleet import FleetState
from devtools.fleet_images import error_response

MODEL = botocore.session.get_session().get_service_model("ec2")
OPERATION = MODEL.operation_model("DescribeImages")
NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/"


def both(body: bytes, status: int = 200) -> tuple[Any, Any]:
    response = {"body": body, "headers": {"x-amzn-requestid": "r"}, "status_code": status}
    fast = ImagesParser().parse(dict(response), OPERATION.output_shape)
    slow = EC2QueryParser().parse(dict(response), OPERATION.output_shape)
    return fast, slow


def xml_of(shape: Any, depth: int = 0) -> str:
    """Every member of `shape`, with a value of its type (lists of two)."""
    parts = []
    for n, (name, member) in enumerate(shape.members.items()):
        tag = member.serialization.get("name") or name
        parts.append(f"<{tag}>{value_of(member, depth, n)}</{tag}>")
    return "".join(parts)


def value_of(shape: Any, depth: int, n: int) -> str:
    kind = shape.type_name
    if kind == "structure":
        return xml_of(shape, depth + 1) if depth < 4 else ""
    if kind == "list":
        return "".join(f"<item>{value_of(shape.member, depth, n + i)}</item>" for i in range(2))
    if kind == "boolean":
        return "true" if n % 2 else "false"
    if kind in ("integer", "long"):
        return str(100 + n)
    if kind == "timestamp":
        return "2026-11-30T08:00:00.000Z"
    return escape(f"{shape.name} <{n}> & é")


def page(items: list[str], token: str | None = "tok") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<DescribeImagesResponse xmlns="{NAMESPACE}">'
            f"<requestId>req-1</requestId><imagesSet>{''.join(items)}</imagesSet>"
            + (f"<nextToken>{token}</nextToken>" if token else "")
            + "</DescribeImagesResponse>").encode()  # fmt: skip


def test_every_member_of_the_model_s_image_shape_parses_as_botocore_parses_it():
    image = MODEL.shape_for("Image")

    fast, slow = both(page([f"<item>{xml_of(image)}</item>", "<item><imageId>ami-2</imageId>"
                            "<name/><isPublic>false</isPublic><enaSupport/></item>"]))  # fmt: skip

    assert fast == slow
    assert set(fast["Images"][0]) == set(image.members)  # nothing left out, nothing made up
    assert fast["Images"][1] == {
        "ImageId": "ami-2",
        "Name": "",
        "Public": False,
        "EnaSupport": False,
    }  # an empty element: "" and False


@pytest.mark.parametrize("generation", [0, 1, 2])
def test_the_fleet_s_pages_parse_as_botocore_parses_them(generation):
    fleet = FleetState(2500, generation=generation, page_size=1000)

    for index in range(fleet.pages()):
        fast, slow = both(fleet.page(index))
        assert fast == slow and fast["Images"]


def test_moto_s_answers_parse_as_botocore_parses_them(monkeypatch):
    bodies: list[bytes] = []
    with mock_aws():
        ec2 = client("ec2", region="us-east-1")
        for n in range(3):
            image = ec2.register_image(Name=f"golden-{n}", Description="d")["ImageId"]
            ec2.create_tags(Resources=[image], Tags=[{"Key": "team", "Value": f"t{n}"}])
        ec2.meta.events.register(
            "before-parse.ec2.DescribeImages",
            lambda response_dict, **_: bodies.append(response_dict["body"]),
        )
        answer = ec2.describe_images(Owners=["self"])

    fast, slow = both(bodies[0])
    assert fast == slow and len(fast["Images"]) == 3
    assert sorted(i["Name"] for i in answer["Images"]) == ["golden-0", "golden-1", "golden-2"]


@pytest.mark.parametrize(
    "item",
    [
        "<imageId>ami-1</imageId><name>a</name><name>b</name>",  # a repeated element
        "<imageId>ami-1</imageId><blockDeviceMapping><item><ebs><volumeSize>x</volumeSize>"
        "</ebs></item></blockDeviceMapping>",  # a number that is not one
        "<imageId>ami-1</imageId><somethingNew>1</somethingNew><tagSet/>",  # not in the model
        "<imageId>ami-1</imageId><stateReason><code>c</code></stateReason><productCodes/>",
    ],
)
def test_odd_answers_end_as_botocore_ends_them(item):
    body = page([f"<item>{item}</item>"])
    try:
        EC2QueryParser().parse({"body": body, "headers": {}, "status_code": 200},
                               OPERATION.output_shape)  # fmt: skip
    except Exception as exc:  # botocore raises: so must the fast path
        with pytest.raises(type(exc)):
            both(body)
        return
    fast, slow = both(body)
    assert plain(fast) == plain(slow)


def plain(value: Any) -> Any:
    """Parsed values, with the XML nodes botocore hands on for a repeated element as text."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "tag"):
        return ("node", value.tag, value.text)
    return value


def test_an_error_answer_and_other_operations_are_botocore_s():
    fast, slow = both(error_response("InvalidPaginationToken", "expired"), status=400)
    assert fast == slow and fast["Error"]["Code"] == "InvalidPaginationToken"
    other = MODEL.operation_model("DescribeImageReferences").output_shape
    body = b'<DescribeImageReferencesResponse xmlns="x"><requestId>r</requestId>'
    body += b"<imageReferenceSet/></DescribeImageReferencesResponse>"
    response = {"body": body, "headers": {}, "status_code": 200}
    assert ImagesParser().parse(dict(response), other) == EC2QueryParser().parse(response, other)


def test_the_image_shape_compiles_whole():
    table = compile_shape(OPERATION.output_shape)

    assert {name for name, _, _ in table.values()} == {"Images", "NextToken"}


def test_amiwatch_s_ec2_clients_read_describe_images_with_the_fast_parser(monkeypatch):
    walked: list[int] = []
    real = ImagesParser._structure

    def counting(self: Any, node: Any, table: Any) -> Any:
        walked.append(1)
        return real(self, node, table)

    monkeypatch.setattr(ImagesParser, "_structure", counting)
    with mock_aws():
        ec2 = client("ec2", region="us-east-1")
        ec2.register_image(Name="golden")
        assert [i["Name"] for i in ec2.describe_images(Owners=["self"])["Images"]] == ["golden"]
    assert walked and parsing.FAST_OUTPUT == "DescribeImagesResult"
