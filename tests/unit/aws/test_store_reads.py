"""What DynamoDB leaves unprocessed in a BatchGetItem is asked again with bounded backoff, for
shards (a targeted refresh) as for records — never a hot loop, never forever."""

from __future__ import annotations

from typing import Any

import pytest

from amiwatch.aws import store
from amiwatch.aws.store import UNPROCESSED_ATTEMPTS, DynamoSnapshotStore
from amiwatch.model.contract import Target
from amiwatch.model.snapshot import encode_shard


class Stingy:
    """A DynamoDB that leaves every key unprocessed for the first `refusals` BatchGetItems."""

    def __init__(self, items: list[dict[str, Any]], refusals: int) -> None:
        self.items, self.refusals, self.calls = items, refusals, 0

    def get_item(self, **_: Any) -> dict[str, Any]:
        return {"Item": {"baselineAt": {"S": "2026-12-01T00:00:00Z"}, "shardCount": {"N": "1"}}}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.refusals:
            return {"Responses": {"t": []}, "UnprocessedKeys": RequestItems}
        return {"Responses": {"t": self.items}}


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    slept: list[int] = []
    monkeypatch.setattr(store, "_backoff", slept.append)
    return slept


def test_unprocessed_shard_keys_are_asked_again_after_a_backoff(sleeps):
    ddb = Stingy([{"sk": {"S": "shard#00000"}, "data": {"B": encode_shard({})}}], refusals=2)
    reader = DynamoSnapshotStore(ddb, "t", Target("golden", "123456789012", "us-east-1"))

    snapshot = reader.load_shards(["ami-0123456789abcdef0"])

    assert snapshot is not None and snapshot.entries == {}
    assert ddb.calls == 3 and sleeps == [0, 1]


def test_keys_left_unprocessed_every_time_fail_after_the_bounded_attempts(sleeps):
    ddb = Stingy([], refusals=10**6)
    reader = DynamoSnapshotStore(ddb, "t", Target("golden", "123456789012", "us-east-1"))

    with pytest.raises(RuntimeError, match="left keys unprocessed after retries"):
        reader.load_shards(["ami-0123456789abcdef0"])
    with pytest.raises(RuntimeError, match="left keys unprocessed after retries"):
        reader.load_images(["ami-0123456789abcdef0"])

    assert ddb.calls == 2 * UNPROCESSED_ATTEMPTS
