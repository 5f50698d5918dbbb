"""amiwatch's CDK constructs, as a library: `pip install "amiwatch[cdk]"` gives them as
`amiwatch_cdk` (this repository's own app.py imports them as `infra`).

    from amiwatch_cdk import AmiWatcher, apply_checks
    AmiWatcher(stack, "AmiWatch", config={"watches": [...], "emails": [...]})

`config` takes the same keys as cdk.json's `amiwatch` object and is validated by the same code
(a mistake raises ConfigError naming the field). Member accounts compose `AmiWatchMemberRole`
and `AmiWatchMemberEvents`; the stacks the repository deploys are here too.
"""

import os

# jsii prints a large end-of-life banner on Node 20 at import (CDK works on it); cdk-nag reads a
# deprecated property of CfnEventBusPolicy in its own rule. Neither is the user's to act on.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_DEPRECATED", "quiet")

from amiwatch.model.errors import ConfigError

from .concerns.watcher import AmiWatcher
from .config.cdk_json import AppConfig, load_app_config
from .nag import apply_checks
from .stacks.member import AmiWatchMemberRole, AmiWatchMemberRoleStack
from .stacks.member_events import AmiWatchMemberEvents, AmiWatchMemberEventsStack
from .stacks.watcher import WATCHER_STACK_NAME, AmiWatchStack

__all__ = [
    "WATCHER_STACK_NAME",
    "AmiWatchMemberEvents",
    "AmiWatchMemberEventsStack",
    "AmiWatchMemberRole",
    "AmiWatchMemberRoleStack",
    "AmiWatchStack",
    "AmiWatcher",
    "AppConfig",
    "ConfigError",
    "apply_checks",
    "load_app_config",
]
