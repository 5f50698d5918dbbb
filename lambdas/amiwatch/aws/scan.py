"""DescribeImages: a watch's images page by page, and images looked up by id.

EC2 answers `InvalidAMIID.NotFound` for a whole call once one id named in `ImageIds` no longer
exists (EC2's reference: a recently deregistered image is returned for a short interval, then gives
empty results; once no instance references it, naming it fails). Calls by id therefore
split the batch on that error and retry the halves, so the ids that still exist are always
answered and the missing ones are isolated by the error *code*, never by parsing its text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from amiwatch.aws.accounts import explain
from amiwatch.aws.references import image_findings, image_references, why
from amiwatch.judge.allowed import AllowedImages, settings_from
from amiwatch.model.records import ImageRecord, project_image
from amiwatch.model.watch_config import MAX_FILTER_VALUES
from amiwatch.model.watches import AccountRef, Watch
from amiwatch.run.ports import FindingsLookup, Lookup, ReferenceLookup

PAGE_SIZE = 1000
IDS_PER_CALL = 1000
# The codes EC2 uses for "an id in ImageIds does not exist (any more)".
NOT_FOUND_CODES = frozenset({"InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"})
# A lookup by id ignores the watch's owners and filters: it asks only "does it still exist?".
LOOKUP_PARAMS = {"IncludeDeprecated": True, "IncludeDisabled": True}
# EC2's error codes reference: a pagination token that is not valid or has expired.
EXPIRED_TOKEN_CODES = frozenset({"InvalidPaginationToken", "InvalidNextToken"})


Translate = Callable[[Exception], Exception | None]


@dataclass
class Ec2Images:
    """A target's images in EC2 (the ImageSource port). Errors of the target's own EC2 API that
    mean "this account cannot be read here" become TargetUnavailable, naming account and region;
    anything else is raised as it is."""

    ec2: Any
    account: AccountRef = field(default_factory=AccountRef)
    region: str = ""

    def scan(self, watch: Watch, start: str | None = None) -> ImageScan:
        """The watch's images, page by page (from the page `start`, a NextToken, if given)."""
        return ImageScan(self.ec2, watch, self._translate, start=start)

    def scan_ids(self, watch: Watch, image_ids: Sequence[str]) -> ImageScan:
        """Those of these images that match the watch's own criteria: its owners and filters plus
        the `image-id` filter (which, unlike ImageIds, never fails for a purged id)."""
        return ImageScan(self.ec2, watch, self._translate, only=tuple(image_ids))

    def lookup(self, image_ids: Sequence[str]) -> Lookup:
        """These images by id (see lookup_images)."""
        try:
            return lookup_images(self.ec2, image_ids)
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc) or exc from exc

    def references(self, image_ids: Sequence[str], deadline: float) -> ReferenceLookup:
        """What uses these images (errors are kept per id, never raised)."""
        return image_references(self.ec2, image_ids, deadline)

    def findings(self, image_ids: Sequence[str], deadline: float) -> FindingsLookup:
        """Inspector's findings of these images (errors are kept per id, never raised)."""
        return image_findings(self.ec2, image_ids, deadline)

    def allowed_images(self) -> AllowedImages:
        """GetAllowedImagesSettings; any failure (AccessDenied, a region or an SDK without it,
        an unreadable answer) is kept as the reason the settings are unknown, never raised."""
        try:
            return settings_from(self.ec2.get_allowed_images_settings())
        except Exception as exc:
            return AllowedImages(None, error=why(exc))

    def _translate(self, exc: Exception) -> Exception | None:
        return explain(exc, self.account, self.region or self.ec2.meta.region_name)


@dataclass
class ImageScan:
    """Iterates a watch's images page by page; counts what it had to skip.

    A page that fails after botocore's retries raises out of the iteration, so a caller never
    mistakes a partial scan for a complete one. For a watch with `imageIds`, the ids EC2 no
    longer knows end up in `missing_ids` and the others are still scanned.

    After each page of `by_page`, `next_token` is where the scan would go on (None: it ended),
    so a run can stop there and resume in another invocation. A NextToken EC2 no longer takes
    (expired) restarts the scan from its first page, once: `restarted` says so.
    """

    ec2: Any
    watch: Watch
    translate: Translate = lambda exc: None
    only: tuple[str, ...] | None = None  # a targeted refresh: just these images
    start: str | None = None  # resume from this NextToken
    pages: int = 0
    skipped: int = 0
    missing_ids: list[str] = field(default_factory=list)
    next_token: str | None = None
    restarted: bool = False

    def __iter__(self) -> Iterator[ImageRecord]:
        for page in self.by_page():
            yield from page

    def by_page(self) -> Iterator[list[ImageRecord]]:
        """The images, one list per DescribeImages page."""
        try:
            yield from self._pages()
        except (ClientError, BotoCoreError) as exc:
            raise self.translate(exc) or exc from exc

    def _pages(self) -> Iterator[list[ImageRecord]]:
        if self.only is not None:
            yield list(self._only(self.only))
            return
        params = self.watch.describe_images_kwargs()
        ids = params.pop("ImageIds", None)
        if self.watch.follows_parameters and not ids:
            return  # the parameters name no AMI right now: nothing to scan (never "all images")
        if ids:
            query = IdQuery(self.ec2, params)
            pages: Iterator[dict[str, Any]] = query.pages(ids)
            self.missing_ids = query.missing
        else:
            pages = self._token_pages(params)
        for page in pages:
            self.pages += 1
            records = []
            for raw in page.get("Images", []):
                record = project_image(raw) if isinstance(raw, dict) else None
                if record is None:
                    self.skipped += 1
                    continue
                records.append(record)
            yield records

    def _token_pages(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """DescribeImages page after page, keeping the NextToken of the next one."""
        token = self.start
        while True:
            request = {**params, "MaxResults": PAGE_SIZE}
            if token:
                request["NextToken"] = token
            try:
                page = self.ec2.describe_images(**request)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if token is None or self.restarted or code not in EXPIRED_TOKEN_CODES:
                    raise
                self.restarted, token = True, None  # start over: nothing is judged twice
                continue
            token = page.get("NextToken") or None
            self.next_token = token
            yield page
            if token is None:
                return

    def _only(self, wanted: tuple[str, ...]) -> Iterator[ImageRecord]:
        paginator = self.ec2.get_paginator("describe_images")
        # EC2 takes at most 200 filter values per call, the watch's own included.
        own = sum(len(f["Values"]) for f in self.watch.describe_images_kwargs().get("Filters", []))
        per_call = max(1, min(FILTER_VALUES_PER_CALL, MAX_FILTER_VALUES - own))
        for start in range(0, len(wanted), per_call):
            batch = list(wanted[start : start + per_call])
            params = _refresh_params(self.watch, batch)
            if params is None:
                continue
            for page in paginator.paginate(**params):
                self.pages += 1
                for raw in page.get("Images", []):
                    record = project_image(raw) if isinstance(raw, dict) else None
                    if record is not None and record.image_id in batch:
                        yield record


FILTER_VALUES_PER_CALL = 100  # the image-id values of one refresh call


def _refresh_params(watch: Watch, image_ids: list[str]) -> dict[str, Any] | None:
    """The watch's criteria narrowed to these ids by the `image-id` filter; an imageIds watch
    keeps the ids it names (never `ImageIds`, which fails for a purged id). None: no id left."""
    params = watch.describe_images_kwargs()
    named = params.pop("ImageIds", None)
    ids = [i for i in image_ids if named is None or i in named]
    if not ids:
        return None
    filters = [*params.get("Filters", []), {"Name": "image-id", "Values": ids}]
    return {**params, "Filters": filters}


def lookup_images(ec2: Any, image_ids: Sequence[str]) -> Lookup:
    """Look images up by id, whatever the watch's owners and filters: one call per 1,000 ids,
    plus a few for each id that no longer exists."""
    found: dict[str, ImageRecord | None] = dict.fromkeys(image_ids)
    query = IdQuery(ec2, LOOKUP_PARAMS)
    for start in range(0, len(image_ids), IDS_PER_CALL):
        for page in query.pages(image_ids[start : start + IDS_PER_CALL]):
            for raw in page.get("Images", []):
                record = project_image(raw) if isinstance(raw, dict) else None
                if record is not None and record.image_id in found:
                    found[record.image_id] = record
    return Lookup(found, query.calls)


@dataclass
class IdQuery:
    """DescribeImages for explicit ids; ids EC2 does not know end up in `missing`.

    On `InvalidAMIID.NotFound` the batch is split in two and each half asked again, so one
    purged id among n costs about 2*log2(n) extra calls and never hides the others.
    """

    ec2: Any
    params: dict[str, Any]
    missing: list[str] = field(default_factory=list)
    calls: int = 0

    def pages(self, ids: Sequence[str]) -> Iterator[dict[str, Any]]:
        """The answer pages for these ids (those that exist and match the params)."""
        self.calls += 1
        try:
            # Several EC2 Describe* calls reject MaxResults together with explicit ids; an id
            # list bounds the answer. Read every page first: a split must not repeat a page.
            paginator = self.ec2.get_paginator("describe_images")
            answer = list(paginator.paginate(ImageIds=list(ids), **self.params))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in NOT_FOUND_CODES:
                raise
            if len(ids) == 1:
                self.missing.append(ids[0])
                return
            middle = len(ids) // 2
            yield from self.pages(ids[:middle])
            yield from self.pages(ids[middle:])
            return
        # An id left out of a successful answer exists but does not match the other criteria
        # (or, in moto, is gone): not "missing". A lookup treats any id left out as not visible.
        yield from answer
