"""A watch of SSM public parameters: publish `recommended` for each parameter that names another
AMI now; the watch then follows the AMIs the parameters name (those they left leave it silently).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from amiwatch.judge.outcomes import bare_record
from amiwatch.judge.parameters import ParameterReport, followed, judge_parameters, recommended
from amiwatch.model.contract import Change, Target, event_id
from amiwatch.model.watches import Watch
from amiwatch.run.enrich import Enricher
from amiwatch.run.ports import ImageSource, ParameterSource, SnapshotStore
from amiwatch.run.result import WatchResult

# Publish these changes; the eventIds every channel accepted (none in a dry run).
Publish = Callable[[list[Change]], set[str]]


def follow_parameters(
    watch: Watch,
    target: Target,
    ports: tuple[ImageSource, ParameterSource | None, SnapshotStore | None],
    result: WatchResult,
    enricher: Enricher,
    publish: Publish,
    *,
    baseline: bool,
) -> Watch:
    """Read the parameters, report the moves, remember what was delivered; the watch narrowed to
    the AMIs the parameters name now."""
    images, parameters, store = ports
    assert parameters is not None, "a parameters watch needs a ParameterSource"
    read = parameters.read(watch.parameters)
    stored = store.load_parameters() if store is not None else {}
    exact = {n for n in watch.parameters if not n.endswith("/")}
    judgement = judge_parameters(read.values, exact, stored, baseline=baseline)
    result.parameters = ParameterReport(
        read.calls, judgement.gone, sorted(exact - set(read.values)), judgement.not_ami
    )
    records = images.lookup(judgement.current_images()).found
    moved = {p.name: recommended(p, records.get(i) or bare_record(i), b)
             for p, i, b in judgement.moved}  # fmt: skip
    for _, image, before in judgement.moved:  # what to move to from an AMI a parameter left
        enricher.moved_to[before.image_id] = (records.get(image) or bare_record(image)).fields
    delivered = publish(list(moved.values()))
    remember = {n: followed(p, i, records.get(i)) for n, (p, i) in judgement.recorded.items()}
    for parameter, image, _ in judgement.moved:
        if event_id(target, moved[parameter.name]) in delivered:
            remember[parameter.name] = followed(parameter, image, records.get(image))
    if store is not None and result.status != "dry-run":
        store.save_parameters(remember, judgement.gone)
    return replace(watch, image_ids=tuple(judgement.current_images()))
