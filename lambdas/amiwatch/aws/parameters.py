"""SSM public parameters: exact names in tens (GetParameters), path prefixes recursively
(GetParametersByPath, every page)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from amiwatch.judge.parameters import ParameterValue
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
