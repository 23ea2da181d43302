"""Landing results: one row per input key in input order, unmatched and duplicate rows filed apart, counts that
add up to the input count; a manifest only ever names full files."""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.formats.bedrock import record_id
from airflow_provider_genai_batch.formats.gateway import without_stand_in_keys
from airflow_provider_genai_batch.formats.keys import portable_id
from airflow_provider_genai_batch.formats.results import (
    UNPARSEABLE,
    ResultRow,
    RowStatus,
    placed_by_order,
    unparseable_row,
)
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import (
    DUPLICATES_FILE,
    MANIFEST_FILE,
    RESULTS_FILE,
    SCRATCH_PREFIX,
    UNMATCHED_FILE,
    land_results,
    output_dir,
    redacted_row,
    write_keys,
)
from airflow_provider_genai_batch.models import BatchJob, BatchStats, JobState, ResultsManifest

from .fakes import FAKE_CONN_ID, failed, succeeded

JOB = "batches/job-1"
KEYS = ("a", "b", "c", "d")


def job(state: JobState = JobState.SUCCEEDED, total: int = 0) -> BatchJob:
    return BatchJob(name=JOB, provider="gemini", state=state, provider_state=state.value, stats=BatchStats(total=total))


def ref_with_keys(tmp_path: Path, keys: tuple[str, ...] = KEYS) -> BatchJobRef:
    keys_file = tmp_path / "input_keys.jsonl"
    keys_file.write_text("".join(json.dumps(k) + "\n" for k in keys))
    return BatchJobRef(
        provider="gemini", conn_id=FAKE_CONN_ID, job_name=JOB, request_count=len(keys), keys_uri=str(keys_file)
    )


def ref_without_keys(request_count: int | None) -> BatchJobRef:
    return BatchJobRef(provider="gemini", conn_id=FAKE_CONN_ID, job_name=JOB, request_count=request_count)


@pytest.fixture
def out(tmp_path: Path) -> ObjectStoragePath:
    return output_dir(str(tmp_path / "results"))


def written(out: ObjectStoragePath) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / RESULTS_FILE).read_text().splitlines()]


def by_key(out: ObjectStoragePath) -> dict[str, dict[str, Any]]:
    rows = written(out)
    return {row["key"]: row for row in rows}


def total_of(manifest: ResultsManifest) -> int:
    c = manifest.counts
    return c.succeeded + c.failed + c.cancelled + c.expired + c.missing


# --- the join ---------------------------------------------------------------------------------------------


def test_rows_that_come_out_of_order_are_joined_on_key(tmp_path: Path, out: ObjectStoragePath):
    rows = [succeeded("d", "D"), failed("b"), succeeded("a", "A"), succeeded("c", "C")]

    manifest = land_results(rows, job(), ref_with_keys(tmp_path), out)

    joined = by_key(out)
    assert sorted(joined) == list(KEYS)
    assert [joined[k]["text"] for k in ("a", "c", "d")] == ["A", "C", "D"]
    assert joined["b"]["status"] == "failed"
    assert joined["b"]["error"]["message"] == "bad request"
    assert (manifest.counts.succeeded, manifest.counts.failed, manifest.counts.total) == (3, 1, 4)


def test_duplicate_result_rows_for_a_key_are_written_once(tmp_path: Path, out: ObjectStoragePath):
    rows = [succeeded("a", "first"), succeeded("b"), succeeded("a", "again"), succeeded("c"), succeeded("d")]

    manifest = land_results(rows, job(), ref_with_keys(tmp_path), out)

    keys = [row["key"] for row in written(out)]
    assert sorted(keys) == list(KEYS)
    assert by_key(out)["a"]["text"] == "first"
    assert manifest.counts.succeeded == manifest.counts.total == 4


@pytest.mark.parametrize(
    ("state", "status", "reason"),
    [
        (JobState.SUCCEEDED, "missing", "no result returned for this key"),
        (JobState.FAILED, "missing", "no result returned for this key"),
        (JobState.CANCELLED, "cancelled", "cancelled"),
        (JobState.EXPIRED, "expired", "expired"),
    ],
)
def test_keys_with_no_row_are_written_as_unanswered_with_a_reason(
    tmp_path: Path, out: ObjectStoragePath, state: JobState, status: str, reason: str
):
    manifest = land_results([succeeded("c")], job(state), ref_with_keys(tmp_path), out)

    joined = by_key(out)
    assert joined["c"]["status"] == "succeeded"
    for key in ("a", "b", "d"):
        assert joined[key]["status"] == status
        assert reason in joined[key]["error"]["message"]
    assert getattr(manifest.counts, status) == 3
    assert manifest.counts.total == 4


def test_rows_are_written_in_input_order_whatever_order_they_arrive_in(tmp_path: Path, out: ObjectStoragePath):
    land_results([succeeded("d"), succeeded("b")], job(), ref_with_keys(tmp_path), out)

    assert [(row["key"], row["status"]) for row in written(out)] == [
        ("a", "missing"),
        ("b", "succeeded"),
        ("c", "missing"),
        ("d", "succeeded"),
    ]


@pytest.mark.parametrize(
    ("state", "field"),
    [(JobState.SUCCEEDED, "missing"), (JobState.CANCELLED, "cancelled"), (JobState.EXPIRED, "expired")],
)
def test_without_a_keys_file_counts_still_add_up_to_the_request_count(
    out: ObjectStoragePath, state: JobState, field: str
):
    manifest = land_results([succeeded("a"), failed("b")], job(state), ref_without_keys(5), out)

    assert manifest.counts.total == 5
    assert total_of(manifest) == 5
    assert (manifest.counts.succeeded, manifest.counts.failed, getattr(manifest.counts, field)) == (1, 1, 3)
    assert [row["key"] for row in written(out)] == ["a", "b"]  # unanswered keys cannot be named


def test_without_a_request_count_the_jobs_own_total_is_used(out: ObjectStoragePath):
    manifest = land_results([succeeded("a")], job(total=3), ref_without_keys(None), out)

    assert manifest.counts.total == 3
    assert manifest.counts.missing == 2


def test_keys_a_provider_renamed_are_mapped_back_to_the_input_keys(tmp_path: Path, out: ObjectStoragePath):
    ref = ref_with_keys(tmp_path, ("doc.1", "doc/2", "plain"))

    def provider_key(key: str) -> str:  # a provider that allows only [A-Za-z0-9_-] in ids
        return key.replace(".", "_").replace("/", "_")

    rows = [succeeded("doc_2"), succeeded("plain"), succeeded("doc_1")]
    manifest = land_results(rows, job(), ref, out, provider_key)

    assert sorted(by_key(out)) == ["doc.1", "doc/2", "plain"]
    assert manifest.counts.succeeded == manifest.counts.total == 3


# --- the manifest and crashes -----------------------------------------------------------------------------


def test_the_manifest_names_the_results_and_matches_what_is_returned(tmp_path: Path, out: ObjectStoragePath):
    manifest = land_results([succeeded(k) for k in KEYS], job(), ref_with_keys(tmp_path), out)

    on_disk = ResultsManifest.model_validate_json((out / MANIFEST_FILE).read_text())
    assert on_disk == manifest
    assert manifest.results_uri == str(out / RESULTS_FILE)
    assert manifest.manifest_uri == str(out / MANIFEST_FILE)
    assert manifest.job_ref.job_name == JOB


def crashing_after(n: int, keys: tuple[str, ...] = KEYS) -> Iterator[ResultRow]:
    """A provider download that breaks after ``n`` rows."""
    for i, key in enumerate(keys):
        if i == n:
            raise ConnectionResetError("download interrupted")
        yield succeeded(key)


def test_a_crash_mid_write_leaves_no_manifest(tmp_path: Path, out: ObjectStoragePath):
    with pytest.raises(ConnectionResetError):
        land_results(crashing_after(2), job(), ref_with_keys(tmp_path), out)

    assert not (out / MANIFEST_FILE).exists()
    assert not (out / RESULTS_FILE).exists()  # the partial rows never took the final name


def test_a_crash_while_reading_the_results_leaves_the_earlier_landing_whole(tmp_path: Path, out: ObjectStoragePath):
    ref = ref_with_keys(tmp_path)
    earlier = land_results([succeeded(k, "old") for k in KEYS], job(), ref, out)

    with pytest.raises(ConnectionResetError):
        land_results(crashing_after(2), job(), ref, out)

    assert ResultsManifest.model_validate_json((out / MANIFEST_FILE).read_text()) == earlier
    assert [row["text"] for row in written(out)] == ["old"] * 4  # the earlier file was not half overwritten


def test_an_output_uri_under_the_home_directory_is_created_and_written_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)

    keys = write_keys(output_dir("~/results"), KEYS)

    assert keys.uri == str(tmp_path / "home" / "results" / "input_keys.jsonl")
    assert (tmp_path / "home" / "results" / "input_keys.jsonl").read_text().splitlines() == [f'"{k}"' for k in KEYS]
    assert not (tmp_path / "~").exists()


def test_an_output_uri_naming_a_file_is_refused_naming_it(tmp_path: Path):
    (tmp_path / "results").write_text("not a directory")

    with pytest.raises(GenAIBatchError, match=f"output_uri '{tmp_path}/results' names the file .*, not a directory"):
        output_dir(str(tmp_path / "results"))


def test_an_output_uri_under_a_file_is_refused_naming_it(tmp_path: Path):
    (tmp_path / "results").write_text("not a directory")

    with pytest.raises(GenAIBatchError, match=f"output_uri 'file://{tmp_path}/results/run-1' lies under a file"):
        output_dir(f"file://{tmp_path}/results/run-1")


def test_a_relative_output_uri_is_recorded_as_the_absolute_path_it_was_written_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)

    keys = write_keys(output_dir("runs/results"), KEYS)

    assert keys.uri == str(tmp_path / "runs" / "results" / "input_keys.jsonl")


def test_keys_written_by_write_keys_are_landed_against_when_they_are_still_the_same(
    tmp_path: Path, out: ObjectStoragePath
):
    keys = write_keys(output_dir(str(tmp_path / "in")), KEYS)
    ref = ref_with_keys(tmp_path).model_copy(update={"keys_uri": keys.uri, "keys_digest": keys.digest})

    manifest = land_results([succeeded(k) for k in KEYS], job(), ref, out)

    assert manifest.counts.succeeded == manifest.counts.total == len(KEYS)


def test_a_keys_file_replaced_since_the_submit_is_refused_before_anything_is_landed(
    tmp_path: Path, out: ObjectStoragePath
):
    directory = output_dir(str(tmp_path / "in"))
    keys = write_keys(directory, KEYS)
    write_keys(directory, ("w", "x", "y", "z"))  # another job's submit into the same directory
    ref = ref_with_keys(tmp_path).model_copy(update={"keys_uri": keys.uri, "keys_digest": keys.digest})
    earlier = land_results([succeeded(k, "old") for k in KEYS], job(), ref_with_keys(tmp_path), out)

    with pytest.raises(GenAIBatchError, match=f"the keys file {keys.uri} no longer holds the keys {JOB} was"):
        land_results([succeeded(k, "new") for k in KEYS], job(), ref, out)

    assert ResultsManifest.model_validate_json((out / MANIFEST_FILE).read_text()) == earlier
    assert [row["text"] for row in written(out)] == ["old"] * 4


def test_a_keys_file_gone_since_the_submit_is_refused_saying_so(tmp_path: Path, out: ObjectStoragePath):
    keys = write_keys(output_dir(str(tmp_path / "in")), KEYS)
    Path(keys.uri).unlink()
    ref = ref_with_keys(tmp_path).model_copy(update={"keys_uri": keys.uri, "keys_digest": keys.digest})

    with pytest.raises(GenAIBatchError, match=f"the keys file {keys.uri} that {JOB} was submitted with is gone"):
        land_results([succeeded(k) for k in KEYS], job(), ref, out)

    assert list(out.iterdir()) == []


def test_the_rewrite_after_a_crash_produces_the_full_file_and_manifest(tmp_path: Path, out: ObjectStoragePath):
    ref = ref_with_keys(tmp_path)
    with pytest.raises(ConnectionResetError):
        land_results(crashing_after(2), job(), ref, out)

    manifest = land_results([succeeded(k, "new") for k in KEYS], job(), ref, out)

    assert sorted(by_key(out)) == list(KEYS)
    assert {row["text"] for row in written(out)} == {"new"}
    assert manifest.counts.succeeded == manifest.counts.total == 4
    assert ResultsManifest.model_validate_json((out / MANIFEST_FILE).read_text()) == manifest


def test_a_crash_leaves_no_partial_file_behind(tmp_path: Path, out: ObjectStoragePath):
    with pytest.raises(ConnectionResetError):
        land_results(crashing_after(2), job(), ref_with_keys(tmp_path), out)

    assert sorted(p.name for p in out.iterdir()) == []


# --- rows that join no input key --------------------------------------------------------------------------


def unparseable(key: str | None, raw: str = "{garbage") -> ResultRow:
    return unparseable_row(key, "files/out, line 9", "invalid JSON: boom", raw.encode())


def lines_of(path: ObjectStoragePath) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_rows_for_keys_never_submitted_are_filed_apart_and_the_total_stays_the_input_count(
    tmp_path: Path, out: ObjectStoragePath
):
    rows = [succeeded(k) for k in KEYS] + [succeeded("ghost", "G"), failed("other")]

    manifest = land_results(rows, job(), ref_with_keys(tmp_path), out)

    assert [row["key"] for row in written(out)] == list(KEYS)
    assert [(row["key"], row["status"]) for row in lines_of(out / UNMATCHED_FILE)] == [
        ("ghost", "succeeded"),
        ("other", "failed"),
    ]
    assert (manifest.counts.total, manifest.counts.succeeded, manifest.counts.unmatched) == (4, 4, 2)
    assert total_of(manifest) == manifest.counts.total == 4
    assert manifest.unmatched_uri == str(out / UNMATCHED_FILE)


def test_rows_without_a_key_are_filed_apart_as_unmatched(tmp_path: Path, out: ObjectStoragePath):
    keyless = ResultRow(key=None, status=RowStatus.SUCCEEDED, text="whose?")

    manifest = land_results([succeeded("a"), keyless, unparseable(None)], job(), ref_with_keys(tmp_path), out)

    assert [row["key"] for row in lines_of(out / UNMATCHED_FILE)] == [None, None]
    assert lines_of(out / UNMATCHED_FILE)[0]["text"] == "whose?"
    assert (manifest.counts.unmatched, manifest.counts.unparseable, manifest.counts.missing) == (2, 1, 3)
    assert manifest.counts.total == 4


def placed(position: int, text: str = "by order") -> ResultRow:
    """A row the provider returned without its key, at ``position`` in output that follows the input order."""
    return ResultRow(key=None, position=position, status=RowStatus.SUCCEEDED, text=text)


def test_rows_without_a_key_are_placed_at_the_input_key_of_their_position(tmp_path: Path, out: ObjectStoragePath):
    rows = [placed(0, "A"), succeeded("b", "B"), placed(2, "C"), placed(3, "D")]

    manifest = land_results(rows, job(), ref_with_keys(tmp_path), out)

    assert [(row["key"], row["text"]) for row in written(out)] == [("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")]
    assert (manifest.counts.succeeded, manifest.counts.unmatched, manifest.unmatched_uri) == (4, 0, None)


def test_placing_rows_by_position_logs_one_warning_with_their_count(
    tmp_path: Path, out: ObjectStoragePath, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.WARNING, logger="airflow_provider_genai_batch.landing"):
        land_results([placed(1), placed(3), succeeded("a")], job(), ref_with_keys(tmp_path), out)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["2 result rows carried no key and were placed by their order in the provider's output"]


def test_rows_with_keys_log_no_warning_about_order(
    tmp_path: Path, out: ObjectStoragePath, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.WARNING, logger="airflow_provider_genai_batch.landing"):
        land_results([succeeded(k) for k in KEYS], job(), ref_with_keys(tmp_path), out)

    assert [r for r in caplog.records if r.levelno == logging.WARNING] == []


def test_the_position_of_a_row_never_lands(tmp_path: Path, out: ObjectStoragePath):
    land_results([placed(0), placed(9)], job(), ref_with_keys(tmp_path), out)

    assert all("position" not in row for row in written(out) + lines_of(out / UNMATCHED_FILE))


def test_a_row_whose_position_is_past_the_last_input_key_is_unmatched(tmp_path: Path, out: ObjectStoragePath):
    manifest = land_results([placed(4, "extra"), placed(1)], job(), ref_with_keys(tmp_path), out)

    assert [(row["key"], row["text"]) for row in lines_of(out / UNMATCHED_FILE)] == [(None, "extra")]
    assert by_key(out)["b"]["status"] == "succeeded"
    assert (manifest.counts.succeeded, manifest.counts.unmatched, manifest.counts.missing) == (1, 1, 3)


def test_a_row_placed_by_position_and_a_keyed_row_for_the_same_key_follow_the_duplicate_rule(
    tmp_path: Path, out: ObjectStoragePath
):
    rows = [ResultRow(key=None, position=0, status=RowStatus.FAILED), succeeded("a", "keyed")]

    manifest = land_results(rows, job(), ref_with_keys(tmp_path), out)

    assert (by_key(out)["a"]["status"], by_key(out)["a"]["text"]) == ("succeeded", "keyed")
    assert [(row["key"], row["status"]) for row in lines_of(out / DUPLICATES_FILE)] == [("a", "failed")]
    assert manifest.counts.duplicates == 1


def test_without_a_keys_file_a_row_with_a_position_but_no_key_is_unmatched(out: ObjectStoragePath):
    manifest = land_results([succeeded("a"), placed(1)], job(), ref_without_keys(2), out)

    assert [row["key"] for row in written(out)] == ["a"]
    assert [row["key"] for row in lines_of(out / UNMATCHED_FILE)] == [None]
    assert (manifest.counts.unmatched, manifest.counts.missing) == (1, 1)


def test_a_provider_id_that_maps_to_no_input_key_is_unmatched_under_the_id_it_came_with(
    tmp_path: Path, out: ObjectStoragePath
):
    ref = ref_with_keys(tmp_path, ("doc/1", "plain"))

    manifest = land_results(
        [succeeded(portable_id("doc/1")), succeeded(portable_id("doc/9")), succeeded("plain")],
        job(),
        ref,
        out,
        portable_id,
    )

    assert [row["key"] for row in written(out)] == ["doc/1", "plain"]
    assert [row["key"] for row in lines_of(out / UNMATCHED_FILE)] == [portable_id("doc/9")]
    assert (manifest.counts.succeeded, manifest.counts.unmatched) == (2, 1)


RENAMINGS = pytest.mark.parametrize("rename", [portable_id, record_id], ids=["custom_id", "recordId"])


@RENAMINGS
@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed"])
def test_a_row_answered_under_the_original_key_instead_of_its_hashed_id_lands_under_that_key(
    tmp_path: Path, out: ObjectStoragePath, rename: Callable[[str], str], reverse: bool
):
    ref = ref_with_keys(tmp_path, ("a", "doc/1.txt", "c"))
    rows = [succeeded(rename("a")), succeeded("doc/1.txt", "echoed"), succeeded(rename("c"))]

    manifest = land_results(rows[::-1] if reverse else rows, job(), ref, out, rename)

    assert [(row["key"], row["text"]) for row in written(out)] == [("a", "ok"), ("doc/1.txt", "echoed"), ("c", "ok")]
    assert (manifest.counts.succeeded, manifest.counts.unmatched, manifest.counts.duplicates) == (3, 0, 0)


@RENAMINGS
@pytest.mark.parametrize("reverse", [False, True], ids=["original-first", "id-first"])
def test_rows_under_both_the_original_key_and_its_hashed_id_land_once_under_the_input_key(
    tmp_path: Path, out: ObjectStoragePath, rename: Callable[[str], str], reverse: bool
):
    ref = ref_with_keys(tmp_path, ("doc/1.txt",))
    rows = [succeeded("doc/1.txt", "echoed"), failed(rename("doc/1.txt"))]

    manifest = land_results(rows[::-1] if reverse else rows, job(), ref, out, rename)

    assert [(row["key"], row["text"]) for row in written(out)] == [("doc/1.txt", "echoed")]
    assert [row["key"] for row in lines_of(out / DUPLICATES_FILE)] == ["doc/1.txt"]
    assert (manifest.counts.succeeded, manifest.counts.duplicates, manifest.counts.total) == (1, 1, 1)


def test_a_gateway_stand_in_key_alike_a_users_key_at_another_index_never_moves_a_row_to_it(
    tmp_path: Path, out: ObjectStoragePath
):
    ref = ref_with_keys(tmp_path, ("a", "request-0", "request-1", "d"))
    keyed = [succeeded("request-0", "lost key of a"), succeeded("request-0", "b"), succeeded("request-1", "c")]
    rows = placed_by_order(without_stand_in_keys([*keyed, succeeded("request-3", "lost key of d")]), 4, 4)

    manifest = land_results(rows, job(), ref, out)

    assert [(row["key"], row["text"]) for row in written(out)] == [
        ("a", "lost key of a"),
        ("request-0", "b"),
        ("request-1", "c"),
        ("d", "lost key of d"),
    ]
    assert (manifest.counts.succeeded, manifest.counts.unmatched, manifest.counts.duplicates) == (4, 0, 0)


def test_without_a_keys_file_only_rows_without_a_key_are_unmatched(out: ObjectStoragePath):
    rows = [succeeded("b"), ResultRow(key=None, status=RowStatus.FAILED), succeeded("a"), failed("b")]

    manifest = land_results(rows, job(), ref_without_keys(4), out)

    assert [(row["key"], row["status"]) for row in written(out)] == [("b", "succeeded"), ("a", "succeeded")]
    assert (manifest.counts.unmatched, manifest.counts.duplicates, manifest.counts.missing) == (1, 1, 2)
    assert total_of(manifest) == manifest.counts.total == 4


# --- duplicate keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("success_first", [True, False], ids=["success-first", "success-last"])
def test_a_success_beats_a_failure_for_the_same_key_in_either_order(
    tmp_path: Path, out: ObjectStoragePath, success_first: bool
):
    pair = [succeeded("b", "the answer"), failed("b", "server error")]
    rows = [succeeded("a"), *(pair if success_first else pair[::-1]), succeeded("c"), succeeded("d")]

    manifest = land_results(rows, job(), ref_with_keys(tmp_path), out)

    assert by_key(out)["b"]["status"] == "succeeded"
    assert by_key(out)["b"]["text"] == "the answer"
    assert [(row["key"], row["error"]["message"]) for row in lines_of(out / DUPLICATES_FILE)] == [("b", "server error")]
    assert (manifest.counts.succeeded, manifest.counts.failed, manifest.counts.duplicates) == (4, 0, 1)
    assert manifest.duplicates_uri == str(out / DUPLICATES_FILE)


@pytest.mark.parametrize("status", ["succeeded", "failed"])
def test_between_two_rows_of_the_same_status_the_first_wins(tmp_path: Path, out: ObjectStoragePath, status: str):
    make = succeeded if status == "succeeded" else failed
    rows = [make("a", "first"), succeeded("b"), make("a", "second"), make("a", "third")]

    manifest = land_results(rows, job(), ref_with_keys(tmp_path), out)

    winner = by_key(out)["a"]
    assert (winner.get("text") or winner["error"]["message"]) == "first"
    losers = lines_of(out / DUPLICATES_FILE)
    assert [row.get("text") or row["error"]["message"] for row in losers] == ["second", "third"]
    assert manifest.counts.duplicates == 2


@pytest.mark.parametrize("readable_first", [True, False], ids=["readable-first", "readable-last"])
def test_a_readable_failure_beats_an_unparseable_line_for_the_same_key(
    tmp_path: Path, out: ObjectStoragePath, readable_first: bool
):
    pair = [failed("a", "quota exceeded"), unparseable("a")]
    manifest = land_results(pair if readable_first else pair[::-1], job(), ref_with_keys(tmp_path), out)

    assert by_key(out)["a"]["error"]["message"] == "quota exceeded"
    assert lines_of(out / DUPLICATES_FILE)[0]["error"]["code"] == UNPARSEABLE
    assert (manifest.counts.failed, manifest.counts.duplicates, manifest.counts.unparseable) == (1, 1, 1)


def test_a_renamed_key_and_its_provider_id_are_one_key_for_the_duplicate_rule(tmp_path: Path, out: ObjectStoragePath):
    ref = ref_with_keys(tmp_path, ("doc/1",))

    manifest = land_results(
        [failed(portable_id("doc/1"), "first"), succeeded(portable_id("doc/1"), "later")], job(), ref, out, portable_id
    )

    assert [(row["key"], row["text"]) for row in written(out)] == [("doc/1", "later")]
    assert [row["key"] for row in lines_of(out / DUPLICATES_FILE)] == ["doc/1"]  # under its input key
    assert manifest.counts.duplicates == 1


def test_a_key_listed_twice_in_the_keys_file_is_joined_once_at_its_first_place(tmp_path: Path, out: ObjectStoragePath):
    manifest = land_results([succeeded("b")], job(), ref_with_keys(tmp_path, ("a", "b", "a", "c")), out)

    assert [(row["key"], row["status"]) for row in written(out)] == [
        ("a", "missing"),
        ("b", "succeeded"),
        ("c", "missing"),
    ]
    assert manifest.counts.total == 3


# --- unparseable rows --------------------------------------------------------------------------------------


def test_an_unparseable_line_with_a_known_key_is_that_keys_failed_row_and_is_counted(
    tmp_path: Path, out: ObjectStoragePath
):
    manifest = land_results([unparseable("c", '{"key": "c", "response": 1}')], job(), ref_with_keys(tmp_path), out)

    row = by_key(out)["c"]
    assert row["status"] == "failed"
    assert row["error"] == {
        "message": "unparseable result (files/out, line 9): invalid JSON: boom",
        "code": UNPARSEABLE,
        "raw": '{"key": "c", "response": 1}',
    }
    assert (manifest.counts.failed, manifest.counts.unparseable, manifest.counts.unmatched) == (1, 1, 0)


def test_the_raw_text_of_an_unparseable_line_is_redacted_like_the_message():
    row = unparseable("a", '{"auth": "sk-secret"}')

    redacted = redacted_row(row, lambda text: text.replace("sk-secret", "***"))

    assert redacted.error.raw == '{"auth": "***"}'


# --- the manifest ------------------------------------------------------------------------------------------


def test_without_unmatched_or_duplicate_rows_no_such_file_is_written_or_named(tmp_path: Path, out: ObjectStoragePath):
    manifest = land_results([succeeded(k) for k in KEYS], job(), ref_with_keys(tmp_path), out)

    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_FILE, RESULTS_FILE]
    assert (manifest.unmatched_uri, manifest.duplicates_uri) == (None, None)
    assert (manifest.counts.unmatched, manifest.counts.duplicates, manifest.counts.unparseable) == (0, 0, 0)


def test_the_manifest_on_disk_names_every_file_and_count(tmp_path: Path, out: ObjectStoragePath):
    rows = [succeeded("a"), failed("a"), succeeded("ghost"), unparseable(None)]

    land_results(rows, job(), ref_with_keys(tmp_path), out)

    on_disk = json.loads((out / MANIFEST_FILE).read_text())
    assert on_disk["counts"] == {
        "total": 4,
        "succeeded": 1,
        "failed": 0,
        "cancelled": 0,
        "expired": 0,
        "missing": 3,
        "unmatched": 2,
        "duplicates": 1,
        "unparseable": 1,
    }
    assert on_disk["results_uri"] == str(out / RESULTS_FILE)
    assert on_disk["unmatched_uri"] == str(out / UNMATCHED_FILE)
    assert on_disk["duplicates_uri"] == str(out / DUPLICATES_FILE)


class RecordingLineage:
    """Stands in for Airflow's hook lineage collector: the output assets landing records."""

    def __init__(self) -> None:
        self.outputs: list[str] = []

    def add_output_asset(self, *, context: object, uri: str) -> None:
        self.outputs.append(uri)


def test_each_landed_file_is_recorded_as_one_output_asset_under_its_own_name(
    tmp_path: Path, out: ObjectStoragePath, monkeypatch: pytest.MonkeyPatch
):
    lineage = RecordingLineage()
    monkeypatch.setattr("airflow_provider_genai_batch.landing.get_hook_lineage_collector", lambda: lineage)
    rows = [succeeded("a"), failed("a"), succeeded("ghost")]

    manifest = land_results(rows, job(), ref_with_keys(tmp_path), out)

    assert sorted(lineage.outputs) == sorted([manifest.results_uri, manifest.unmatched_uri, manifest.duplicates_uri])


def test_a_manifest_written_before_these_fields_existed_still_parses():
    old = {
        "job_ref": {"provider": "gemini", "conn_id": "c", "job_name": JOB},
        "state": "JOB_STATE_SUCCEEDED",
        "counts": {"total": 2, "succeeded": 2, "failed": 0, "cancelled": 0, "expired": 0, "missing": 0},
        "results_uri": "/r/results.jsonl",
        "manifest_uri": "/r/manifest.json",
        "written_at": "2026-11-20T10:00:00Z",
    }

    manifest = ResultsManifest.model_validate(old)

    assert (manifest.counts.unmatched, manifest.counts.duplicates, manifest.counts.unparseable) == (0, 0, 0)
    assert (manifest.unmatched_uri, manifest.duplicates_uri) == (None, None)


# --- landing again -----------------------------------------------------------------------------------------


def messy_rows() -> list[ResultRow]:
    return [failed("b"), succeeded("ghost"), succeeded("b"), unparseable(None), succeeded("a"), failed("a")]


def test_landing_the_same_rows_again_writes_the_same_files_and_counts(tmp_path: Path, out: ObjectStoragePath):
    ref = ref_with_keys(tmp_path)
    first = land_results(messy_rows(), job(), ref, out)
    files = {name: (out / name).read_bytes() for name in (RESULTS_FILE, UNMATCHED_FILE, DUPLICATES_FILE)}

    second = land_results(messy_rows(), job(), ref, out)

    assert {name: (out / name).read_bytes() for name in files} == files
    assert second.model_dump(exclude={"written_at"}) == first.model_dump(exclude={"written_at"})
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST_FILE, *files])


def test_landing_again_without_unmatched_rows_removes_the_earlier_unmatched_and_duplicate_files(
    tmp_path: Path, out: ObjectStoragePath
):
    ref = ref_with_keys(tmp_path)
    land_results(messy_rows(), job(), ref, out)

    manifest = land_results([succeeded(k) for k in KEYS], job(), ref, out)

    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_FILE, RESULTS_FILE]
    assert (manifest.unmatched_uri, manifest.duplicates_uri) == (None, None)


def test_a_crash_after_unmatched_rows_leaves_no_partial_file_and_no_scratch_file(
    tmp_path: Path, out: ObjectStoragePath, monkeypatch: pytest.MonkeyPatch
):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def rows() -> Iterator[ResultRow]:
        yield succeeded("ghost")
        yield failed("a")
        yield succeeded("a")
        raise ConnectionResetError("download interrupted")

    with pytest.raises(ConnectionResetError):
        land_results(rows(), job(), ref_with_keys(tmp_path), out)

    assert list(out.iterdir()) == []
    assert list(scratch.iterdir()) == []


def test_landing_leaves_no_scratch_file_behind(tmp_path: Path, out: ObjectStoragePath, monkeypatch: pytest.MonkeyPatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    land_results(messy_rows(), job(), ref_with_keys(tmp_path), out)

    assert list(scratch.iterdir()) == []


def test_the_scratch_space_of_a_landing_killed_outright_is_removed_by_the_next_one(
    tmp_path: Path, out: ObjectStoragePath, monkeypatch: pytest.MonkeyPatch
):
    scratch = tmp_path / "scratch"
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    killed = scratch / f"{SCRATCH_PREFIX}{ended.pid}-x1y2"
    running = scratch / f"{SCRATCH_PREFIX}{os.getpid()}-z3w4"
    other = scratch / "someone-elses-dir"
    for directory in (killed, running, other):
        directory.mkdir(parents=True)
        (directory / "rows.jsonl").write_bytes(b"{}\n")

    land_results([succeeded("a")], job(), ref_with_keys(tmp_path), out)

    assert sorted(p.name for p in scratch.iterdir()) == sorted([running.name, other.name])


# --- at scale ----------------------------------------------------------------------------------------------


def test_fifty_thousand_mixed_rows_add_up_to_the_input_count(tmp_path: Path, out: ObjectStoragePath):
    """Renamed and plain keys, rows shuffled, duplicates both ways, unknown and keyless rows, garbage, gaps."""
    rng = random.Random(10)
    keys = tuple(f"doc/{i}" if i % 3 == 0 else f"k{i}" for i in range(50_000))
    ref = ref_with_keys(tmp_path, keys)
    expected: dict[str, str] = {}
    rows: list[ResultRow] = []
    for i, key in enumerate(keys):
        wire_key = portable_id(key)
        kind = i % 10
        if kind == 9:
            continue  # never answered: missing
        if kind == 8:
            rows.append(unparseable(wire_key))
            expected[key] = "failed"
        elif kind == 7:  # a failure and a later success: the success wins
            rows += [failed(wire_key), succeeded(wire_key)]
            expected[key] = "succeeded"
        elif kind == 6:
            rows.append(failed(wire_key))
            expected[key] = "failed"
        else:
            rows.append(succeeded(wire_key))
            expected[key] = "succeeded"
    rows += [succeeded(f"ghost-{i}") for i in range(700)] + [unparseable(None) for _ in range(300)]
    rng.shuffle(rows)

    manifest = land_results(rows, job(), ref, out, portable_id)

    c = manifest.counts
    assert c.total == len(keys) == total_of(manifest)
    assert (c.succeeded, c.failed, c.missing) == (35_000, 10_000, 5_000)
    assert (c.unmatched, c.duplicates, c.unparseable) == (1_000, 5_000, 5_300)
    landed = written(out)
    assert [row["key"] for row in landed] == list(keys)
    assert {row["key"]: row["status"] for row in landed if row["status"] != "missing"} == expected
    assert len(lines_of(out / UNMATCHED_FILE)) == c.unmatched
    assert {row["status"] for row in lines_of(out / DUPLICATES_FILE)} == {"failed"}
