"""SSM public parameters: exact names in tens (GetParameters), path prefixes recursively
(GetParametersByPath, every page); and what a parameters watch remembers of each parameter: one
item `param#<name>` per parameter in the target's snapshot partition, written only after its
`recommended` event was delivered."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from amiwatch.judge.parameters import Followed, ParameterValue
from amiwatch.model.records import format_time
from amiwatch.run.ports import ParameterRead

NAMES_PER_CALL = 10  # GetParameters' maximum


@dataclass
class SsmParameters:
    """The ParameterSource port on one region's SSM."""

    ssm: Any

    def read(self, names: Sequence[str]) -> ParameterRead:
        """Exact names, and every parameter under the names that end in "/"."""
        read = ParameterRead({}, 0)
        exact = [n for n in names if not n.endswith("/")]
        for start in range(0, len(exact), NAMES_PER_CALL):
            answer = self.ssm.get_parameters(Names=exact[start : start + NAMES_PER_CALL])
            read.calls += 1
            self._keep(read, answer.get("Parameters", []))
        paginator = self.ssm.get_paginator("get_parameters_by_path")
        for prefix in (n for n in names if n.endswith("/")):
            for page in paginator.paginate(Path=prefix.rstrip("/"), Recursive=True):
                read.calls += 1
                self._keep(read, page.get("Parameters", []))
        return read

    @staticmethod
    def _keep(read: ParameterRead, parameters: list[dict[str, Any]]) -> None:
        for parameter in parameters:
            modified = parameter.get("LastModifiedDate")
            read.values[parameter["Name"]] = ParameterValue(
                name=parameter["Name"],
                version=int(parameter.get("Version", 0)),
                value=str(parameter.get("Value", "")),
                last_modified=format_time(modified) if modified else "",
            )


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
