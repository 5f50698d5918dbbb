"""`{"doctor": {"watch"}}`: `amiwatch doctor`'s questions only the watcher role can answer. Each
of the watch's targets, as the dispatcher lists them now: can its role be assumed (with the
external id), may it call what a run calls (EC2's dry runs), and its Allowed AMIs state. Reads
only; at most six calls per target, eight targets at a time.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from amiwatch.aws.accounts import TargetClients, TargetUnavailable
from amiwatch.aws.health import target_checks
from amiwatch.judge.dispatch import DispatchReport
from amiwatch.model.watches import AccountRef
from amiwatch.wiring.dispatcher import targets_now
from amiwatch.wiring.settings import Settings

PARALLEL = 8


def check_targets(
    settings: Settings, order: Any, home_account: str, partition: str
) -> dict[str, Any]:
    """The answer `amiwatch doctor` prints: per target, each check's ok and what was found."""
    watch_name = order.get("watch") if isinstance(order, dict) else None
    [watch] = settings.watches_for({"watches": [watch_name]})
    report = DispatchReport(watch.name)
    targets, failure = targets_now(settings, watch, home_account, report)
    clients = TargetClients(settings.external_id, partition)

    def check(target: tuple[AccountRef, str]) -> dict[str, Any]:
        account, region = target
        where = {"account": home_account if account.is_self else account.id, "region": region}
        try:
            ec2 = clients.ec2(account, region, f"amiwatch-doctor-{watch.name}")
            denied, allowed = target_checks(ec2)
        except (TargetUnavailable, BotoCoreError, ClientError) as exc:
            return {**where, "ok": False, "problem": str(exc)}
        if denied:
            return {**where, "ok": False, "denied": denied, "allowedImages": allowed}
        return {**where, "ok": True, "allowedImages": allowed}

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        checked = list(pool.map(check, targets))
    return {"watch": watch.name, "organizationError": failure, "targets": checked}
