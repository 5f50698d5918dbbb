"""Looking images up by id, as EC2 answers: one call per 1,000 ids, purged ids isolated."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from amiwatch.aws.scan import lookup_images

from ..conftest import describe_image


class Ec2ById:
    """DescribeImages by ImageIds the way EC2 answers it: the whole call fails with
    InvalidAMIID.NotFound when any named id is gone; otherwise every named image."""

    def __init__(self, existing: set[str]) -> None:
        self.existing = existing
        self.calls: list[int] = []

    def get_paginator(self, name: str) -> Ec2ById:
        assert name == "describe_images"
        return self

    def paginate(self, ImageIds: list[str], **params: Any) -> list[dict[str, Any]]:
        assert params == {"IncludeDeprecated": True, "IncludeDisabled": True}  # no owners/filters
        self.calls.append(len(ImageIds))
        gone = [i for i in ImageIds if i not in self.existing]
        if gone:
            error = {"Error": {"Code": "InvalidAMIID.NotFound", "Message": f"'[{gone[0]}]'"}}
            raise ClientError(error, "DescribeImages")  # type: ignore[arg-type]
        return [{"Images": [describe_image(i) for i in ImageIds]}]


def ami(n: int) -> str:
    return f"ami-{n:017x}"


def test_an_unchanged_run_looks_nothing_up():
    ec2 = Ec2ById(set())

    assert lookup_images(ec2, []).calls == 0 and ec2.calls == []


def test_existing_images_cost_one_call_per_thousand():
    ids = [ami(i) for i in range(2500)]
    ec2 = Ec2ById(set(ids))

    lookup = lookup_images(ec2, ids)

    assert ec2.calls == [1000, 1000, 500]
    assert lookup.calls == 3
    assert all(record is not None for record in lookup.found.values())


def test_a_purged_id_is_isolated_without_hiding_the_others():
    ids = [ami(i) for i in range(1000)]
    ec2 = Ec2ById(set(ids) - {ami(617)})

    lookup = lookup_images(ec2, ids)

    assert [i for i, record in lookup.found.items() if record is None] == [ami(617)]
    assert lookup.calls == len(ec2.calls) <= 1 + 2 * 10  # about 2*log2(1000) extra calls
