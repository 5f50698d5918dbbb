"""SSM public parameters that name AMIs ("the recommended EKS AMI"): what moved (pure).

A parameter's value is an AMI id, or a JSON document with `image_id` (ECS's `.../recommended`).
Under a path prefix, parameters whose value is neither are ignored; an exact name whose value is
neither is skipped with a warning. See docs/recommended.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from amiwatch.model.contract import Change, ChangeKind
from amiwatch.model.records import ImageRecord

AMI_ID = re.compile(r"ami-[0-9a-f]{8,17}", re.ASCII)


@dataclass(frozen=True)
class ParameterValue:
    """A parameter as SSM returned it."""

    name: str
    version: int
    value: str
    last_modified: str


@dataclass(frozen=True)
class Followed:
    """What the snapshot remembers of a parameter: the AMI it named, and when."""

    name: str
    version: int
    image_id: str
    image_name: str | None
    last_modified: str


@dataclass
class ParameterJudgement:
    """What a run found: parameters that moved to another AMI, and what to record silently."""

    moved: list[tuple[ParameterValue, str, Followed]] = field(default_factory=list)
    recorded: dict[str, tuple[ParameterValue, str]] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)
    not_ami: list[str] = field(default_factory=list)

    def current_images(self) -> list[str]:
        """The AMIs the parameters name now (the images the watch follows)."""
        ids = [image for _, image, _ in self.moved] + [i for _, i in self.recorded.values()]
        return sorted(set(ids))


def image_id_in(value: str) -> str | None:
    """The AMI id a parameter value names, or None."""
    text = value.strip()
    if AMI_ID.fullmatch(text):
        return text
    try:
        document = json.loads(text)
    except ValueError:
        return None
    named = document.get("image_id") if isinstance(document, dict) else None
    return named if isinstance(named, str) and AMI_ID.fullmatch(named) else None


def judge_parameters(
    read: Mapping[str, ParameterValue],
    exact: Collection[str],
    stored: Mapping[str, Followed],
    *,
    baseline: bool,
) -> ParameterJudgement:
    """Compare what SSM says now with what the snapshot remembers. A parameter seen for the first
    time (baseline, or newly under a prefix) is recorded silently: there is no "previous"."""
    judgement = ParameterJudgement()
    for name, current in sorted(read.items()):
        image = image_id_in(current.value)
        if image is None:
            if name in exact:
                judgement.not_ami.append(name)
            continue
        before = stored.get(name)
        if before is not None and before.image_id != image and not baseline:
            judgement.moved.append((current, image, before))
        else:
            judgement.recorded[name] = (current, image)
    followed = {n for n in read if image_id_in(read[n].value)}
    judgement.gone = sorted(n for n in stored if n not in followed)
    return judgement


LABELS = tuple(
    (re.compile("/aws/service/" + pattern), label)
    for pattern, label in (
        (r"eks/optimized-ami/([^/]+)/([^/]+)/([^/]+)/([^/]+)/", "EKS {0} {1} {2} {3}"),
        (r"ecs/optimized-ami/([^/]+)/", "ECS-optimized {0}"),
        (r"bottlerocket/([^/]+)/([^/]+)/", "Bottlerocket {0} {1}"),
        (r"ami-amazon-linux-latest/(.+)", "Amazon Linux {0}"),
        (r"canonical/ubuntu/server/([^/]+)/[^/]+/[^/]+/([^/]+)/", "Ubuntu {0} {1}"),
        (r"ami-windows-latest/(.+)", "Windows {0}"),
    )
)


def parameter_label(name: str) -> str:
    """A name people recognise: `/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/
    standard/recommended/image_id` reads "EKS 1.31 amazon-linux-2023 x86_64 standard"."""
    for pattern, template in LABELS:
        match = pattern.match(name)
        if match:
            return template.format(*match.groups())
    return name


# --- the `recommended` change: a parameter now names another AMI ---------------------------


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
