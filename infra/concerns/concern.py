"""Constructs that group one concern, without changing any resource's logical id.

`AmiWatcher` composes one construct per concern (storage, messaging, compute, triggers,
monitoring, chat). A construct normally adds its id to the path every logical id is made from;
a stack that deploys today must keep its ids, or CloudFormation would replace the table, the
topics (and their subscriptions) and the named bus. `AmiWatchStack` therefore allocates logical
ids from the path without Concern segments, with CDK's own algorithm (`make_unique_id`).
"""

from __future__ import annotations

import hashlib
import re

from aws_cdk import CfnElement, Stack
from constructs import Construct

MAX_HUMAN_LENGTH = 240
MAX_ID_LENGTH = 255
HASH_LENGTH = 8


class Concern(Construct):
    """A construct that owns one concern; transparent for logical ids."""


def concern_free_logical_id(stack: Stack, cfn_element: CfnElement) -> str:
    """The logical id of `cfn_element` from its path in `stack` without Concern segments."""
    scopes = cfn_element.node.scopes
    paths = [scope.node.path for scope in scopes]
    inside = scopes[paths.index(stack.node.path) + 1 :]
    return make_unique_id([s.node.id for s in inside if not isinstance(s, Concern)])


def make_unique_id(components: list[str]) -> str:
    """CDK's logical id for a path (core/lib/private/uniqueid.ts, `makeUniqueId`)."""
    components = [c for c in components if c != "Default"]
    if len(components) == 1:
        candidate = _alphanumeric(components[0])
        if len(candidate) <= MAX_ID_LENGTH:
            return candidate
    digest = hashlib.md5("/".join(components).encode(), usedforsecurity=False).hexdigest()
    human = [c for i, c in enumerate(components) if i == 0 or c != components[i - 1]]
    readable = "".join(_alphanumeric(c) for c in human if c != "Resource")[:MAX_HUMAN_LENGTH]
    return readable + digest[:HASH_LENGTH].upper()


def _alphanumeric(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", text)
