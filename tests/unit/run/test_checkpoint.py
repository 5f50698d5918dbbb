"""What a checkpointed scan decides: when to stop, which scan it carries on, what it records."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from amiwatch.aws.lease import checkpoint_from
from amiwatch.judge.aws_events import Ignored, Scan, read_message
from amiwatch.judge.dispatch import scan_message
from amiwatch.model.snapshot import IDS_PER_PART, ScanCheckpoint, Snapshot, decode_ids, encode_ids
from amiwatch.model.watches import AccountRef
from amiwatch.run.checkpoint import MIN_MARGIN_SECONDS, Deadline, progress_for

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
CHECKPOINT = ScanCheckpoint(
    "2026-12-02T05:00:00Z#req",
    "token-7",
    False,
    "2026-12-02T05:00:00Z",
    selection="sel",
    pages=7,
    images=7000,
    invocations=1,
    parts=1,
    recheck=("ami-1", "ami-2"),
    candidates={"k": {"ImageId": "ami-9"}},
)


def test_the_margin_is_a_share_of_the_invocation_or_at_least_the_floor():
    assert Deadline.of(lambda: 900.0).margin == 135.0
    assert Deadline.of(lambda: 60.0).margin == MIN_MARGIN_SECONDS


def test_the_deadline_falls_due_once_the_time_left_is_inside_the_margin():
    left = iter([400.0, 200.0, 100.0])
    deadline = Deadline(lambda: next(left), margin=150.0)

    assert [deadline.due(), deadline.due(), deadline.due()] == [False, False, True]


def test_a_checkpoint_with_the_same_selection_is_resumed_with_what_it_did():
    loaded = Snapshot(last_run_at="2026-12-02T04:00:00Z", checkpoint=CHECKPOINT)

    progress = progress_for(loaded, "sel", "req-2", NOW)
    after = progress.checkpoint("token-9", 2, ["ami-3"] * 3, {"ami-4"}, {})

    assert progress.scan_id == CHECKPOINT.scan_id and progress.start_token == "token-7"
    assert progress.recheck == ("ami-1", "ami-2") and not progress.baseline
    assert (after.pages, after.images, after.invocations, after.parts) == (9, 7003, 2, 2)
    assert after.recheck == ("ami-4",)


def test_an_edit_mid_scan_starts_a_new_scan_and_a_first_scan_stays_a_baseline():
    edited = progress_for(Snapshot(checkpoint=CHECKPOINT), "other", "req-2", NOW)

    assert edited.previous is None and edited.start_token is None
    assert edited.scan_id == "2026-12-02T06:00:00Z#req-2"
    assert edited.baseline  # no scan has completed yet (no lastRunAt)
    assert not progress_for(Snapshot(last_run_at="x"), "sel", "r", NOW).baseline


def test_a_checkpoint_kept_on_meta_reads_back_whole():
    item = {
        "scanId": {"S": CHECKPOINT.scan_id}, "scanToken": {"S": "token-7"},
        "scanBaseline": {"BOOL": False}, "scanStartedAt": {"S": CHECKPOINT.started_at},
        "scanSelection": {"S": "sel"}, "scanPages": {"N": "7"}, "scanImages": {"N": "7000"},
        "scanInvocations": {"N": "1"}, "scanParts": {"N": "1"},
        "scanRecheck": {"B": encode_ids(["ami-1", "ami-2"])},
        "scanCandidates": {"S": '{"k": {"ImageId": "ami-9"}}'},
    }  # fmt: skip

    assert checkpoint_from(item) == CHECKPOINT
    assert checkpoint_from({"baselineAt": {"S": "x"}}) is None


def test_reviewed_ids_round_trip_and_an_empty_part_is_empty():
    draw = random.Random(26)
    ids = [f"ami-{draw.getrandbits(68):017x}" for _ in range(IDS_PER_PART)]  # as random as EC2's

    assert decode_ids(encode_ids(ids)) == ids
    assert decode_ids(encode_ids([])) == []
    assert len(encode_ids(ids)) < 400_000  # one DynamoDB item


def test_a_continuation_message_names_its_scan_and_a_bad_one_is_malformed():
    body = scan_message("w", AccountRef(), "eu-west-1", "2026-12-02T05:00:00Z#req")

    assert read_message(body) == Scan("w", "self", "AmiWatchMember", "eu-west-1",
                                      "2026-12-02T05:00:00Z#req")  # fmt: skip
    assert read_message(scan_message("w", AccountRef(), "eu-west-1")) == Scan(
        "w", "self", "AmiWatchMember", "eu-west-1"
    )
    bad = '{"scan": {"watch": "w", "account": "self", "roleName": "r", "region": "x", "scanId": 7}}'
    assert read_message(bad) == Ignored("malformed")


def test_a_scan_also_stops_once_the_process_holds_most_of_the_function_s_memory():
    resident = iter([300.0, 400.0, 460.0])
    deadline = Deadline.of(lambda: 900.0, memory_mb=1024, resident=lambda: next(resident))
    small = Deadline.of(lambda: 900.0, memory_mb=512, resident=lambda: 370.0)

    assert deadline.memory_budget == 448  # under 512 MB with the work at the stop
    assert [deadline.due(), deadline.due(), deadline.due()] == [False, False, True]
    assert small.memory_budget == 0.7 * 512 and small.due()
    assert not Deadline.of(lambda: 900.0, resident=lambda: 5000.0).due()  # no limit known


def test_loading_the_snapshot_is_not_a_page_the_margin_must_cover(monkeypatch):
    clock = iter([60.0, 61.0, 62.0])  # made at 0, the scan starts at 60 (after the load)
    monkeypatch.setattr("amiwatch.run.checkpoint.time.monotonic", lambda: next(clock))
    deadline = Deadline(lambda: 150.0, margin=140.0, _lap_started=0.0)

    deadline.start()

    assert not deadline.due() and deadline.slowest == 1.0  # 150 s left > 140 + 2 x 1 s
    assert not deadline.due()
