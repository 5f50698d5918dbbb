"""The `recommended` change: an SSM public parameter now names another AMI (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from amiwatch.judge.parameters import Followed, ParameterValue
from amiwatch.model.contract import Change, ChangeKind
from amiwatch.model.records import ImageRecord


@dataclass
class ParameterReport:
    """What a parameters watch's run read, for the run summary and the log."""

    calls: int = 0
    gone: list[str] = field(default_factory=list)  # remembered, not there any more: once
    missing: list[str] = field(default_factory=list)  # exact names SSM does not have
    not_ami: list[str] = field(default_factory=list)  # exact names whose value is no AMI id

    def summary(self) -> dict[str, Any]:
        return {"gone": self.gone, "missing": self.missing, "notAmi": self.not_ami}


def recommended(parameter: ParameterValue, record: ImageRecord, before: Followed) -> Change:
    """The parameter moved from `before.image_id` to the image `record`; its eventId is pinned by
    the parameter's name and version."""
    previous = {"ImageId": before.image_id, "Name": before.image_name}
    return Change(
        kind=ChangeKind.RECOMMENDED,
        image=record,
        reason="parameter-changed",
        revision=0,
        discriminator=f"{parameter.name}@{parameter.version}",
        previous=MappingProxyType(previous),
        changed_fields=("ImageId", "Name"),
        parameter=MappingProxyType({
            "name": parameter.name,
            "version": parameter.version,
            "lastModified": parameter.last_modified or None,
            "previousVersion": before.version,
        }),
    )  # fmt: skip


def followed(parameter: ParameterValue, image_id: str, record: ImageRecord | None) -> Followed:
    """What to remember of a parameter once its change (if any) was delivered."""
    name = record.name if record is not None else None
    return Followed(parameter.name, parameter.version, image_id, name, parameter.last_modified)
