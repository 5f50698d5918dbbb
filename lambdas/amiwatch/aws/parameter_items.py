"""What a parameters watch remembers of each parameter: one item `param#<name>` per parameter in
the target's snapshot partition, written only after its `recommended` event was delivered."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from amiwatch.judge.parameters import Followed

PARAM_PREFIX = "param#"


class ParameterItems:
    """Mixed into DynamoSnapshotStore (which provides ddb, table, pk, _key and _batch_write)."""

    ddb: Any
    table: str
    pk: str

    def _key(self, sk: str) -> dict[str, Any]:  # pragma: no cover - provided by the store
        raise NotImplementedError

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:  # pragma: no cover
        raise NotImplementedError

    def load_parameters(self) -> dict[str, Followed]:
        """Every remembered parameter of this target."""
        found: dict[str, Followed] = {}
        paginator = self.ddb.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": self.pk}, ":prefix": {"S": PARAM_PREFIX}},
            ConsistentRead=True,
        ):
            for item in page.get("Items", []):
                followed = Followed(
                    name=item["sk"]["S"].removeprefix(PARAM_PREFIX),
                    version=int(item["version"]["N"]),
                    image_id=item["imageId"]["S"],
                    image_name=item.get("imageName", {}).get("S"),
                    last_modified=item.get("lastModified", {}).get("S", ""),
                )
                found[followed.name] = followed
        return found

    def save_parameters(self, followed: Mapping[str, Followed], forget: Iterable[str]) -> None:
        """Remember these parameters; forget the ones no longer read."""
        requests: list[dict[str, Any]] = [
            {"PutRequest": {"Item": self._parameter_item(f)}} for f in followed.values()
        ]
        requests += [{"DeleteRequest": {"Key": self._key(PARAM_PREFIX + n)}} for n in forget]
        self._batch_write(requests)

    def _parameter_item(self, followed: Followed) -> dict[str, Any]:
        item = {
            **self._key(PARAM_PREFIX + followed.name),
            "version": {"N": str(followed.version)},
            "imageId": {"S": followed.image_id},
            "lastModified": {"S": followed.last_modified},
        }
        if followed.image_name:
            item["imageName"] = {"S": followed.image_name}
        return item
