"""Landing a group (issue 14): one results file and one manifest for a split input and its follow-up rounds."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_genai_batch.consoles import job_page
from airflow_provider_genai_batch.errors import GenAIBatchError, NotFoundError
from airflow_provider_genai_batch.formats.results import ResultRow, RowError, RowStatus, Usage
from airflow_provider_genai_batch.group_landing import REPLACED_FILE, land_group
from airflow_provider_genai_batch.job_ref import BatchJobRef, PartRef
from airflow_provider_genai_batch.landing import (
    MANIFEST_FILE,
    RESULTS_FILE,
    land_results,
    output_dir,
)
from airflow_provider_genai_batch.models import BatchJob, JobState, ResultsManifest, RoundOutcome
from airflow_provider_genai_batch.prices import price_table

from .fakes import FAKE_CONN_ID, FAKE_SECRET, FakeBatchHook, part_ref, succeeded

KEYS = [f"k{i}" for i in range(1, 10)]
"""The input: three parts of three keys each, in plan order."""
MODEL = "gemini-2.5-flash"
PRICES = price_table("gemini", {MODEL: {"input": 1.0, "output": 2.0}})


def write_keys(path: Path, keys: list[str]) -> str:
    path.write_text("".join(json.dumps(key) + "\n" for key in keys))
    return str(path)


def part(index: int, count: int = 3, round: int = 0, keys_uri: str | None = None, created: bool = True) -> PartRef:
    """Part ``index`` of ``count`` keys, created as ``batches/part-{index}`` unless ``created`` is false."""
    job_name = f"batches/part-{index}" if created else None
    return part_ref(index, job_name, requests=count, round=round, keys_uri=keys_uri)


def group(tmp_path: Path, *parts: PartRef) -> BatchJobRef:
    return BatchJobRef(
        provider="gemini",
        conn_id=FAKE_CONN_ID,
        job_name="batches/part-0",
        request_count=len(KEYS),
        keys_uri=write_keys(tmp_path / "input_keys.jsonl", KEYS),
        parts=parts,
    )


def answered(key: str, prompt: int = 10, candidates: int = 5) -> ResultRow:
    meta = {"promptTokenCount": prompt, "candidatesTokenCount": candidates}
    return ResultRow(
        key=key,
        status=RowStatus.SUCCEEDED,
        text=f"answer {key}",
        response={"usageMetadata": meta},
        usage=Usage(input_tokens=prompt, output_tokens=candidates),
    )


def failed(key: str, code: int, status: str, message: str = "the model failed") -> ResultRow:
    return ResultRow(key=key, status=RowStatus.FAILED, error=RowError(message=message, code=code, status=status))


def add(
    hook: FakeBatchHook, index: int, rows: list[ResultRow], state: JobState = JobState.SUCCEEDED, **kw: Any
) -> None:
    job = hook.add_job(f"batches/part-{index}", state, results=rows, **kw)
    hook.jobs[job.name] = job.model_copy(update={"model": MODEL})


def land(hook: FakeBatchHook, ref: BatchJobRef, out: ObjectStoragePath) -> ResultsManifest:
    return land_group(hook, ref, hook.jobs, out, PRICES)


def landed(out: ObjectStoragePath, name: str = RESULTS_FILE) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / name).read_text().splitlines()]


@pytest.fixture
def hook() -> FakeBatchHook:
    return FakeBatchHook()


@pytest.fixture
def out(tmp_path: Path) -> ObjectStoragePath:
    return output_dir(str(tmp_path / "results"))


def three_parts(hook: FakeBatchHook) -> None:
    add(hook, 0, [answered(k) for k in KEYS[0:3]])
    add(hook, 1, [answered(k) for k in reversed(KEYS[3:6])])  # out of order: joined on key
    add(hook, 2, [answered(k) for k in KEYS[6:9]])


def with_round_one(tmp_path: Path, hook: FakeBatchHook, keys: list[str], rows: list[ResultRow]) -> BatchJobRef:
    """Round 0: k2 failed with a retryable error, k5 with an invalid request; round 1 sent ``keys`` again."""
    add(hook, 0, [answered("k1"), failed("k2", 503, "UNAVAILABLE", "overloaded"), answered("k3")])
    add(hook, 1, [answered("k4"), failed("k5", 400, "INVALID_ARGUMENT"), answered("k6")])
    add(hook, 2, [answered(k) for k in KEYS[6:9]])
    add(hook, 3, rows)
    round_keys = write_keys(tmp_path / "round-1-keys.jsonl", keys)
    return group(tmp_path, part(0), part(1), part(2), part(3, count=len(keys), round=1, keys_uri=round_keys))


# --- round 0 ------------------------------------------------------------------------------------------------


def test_a_three_part_group_lands_one_results_file_with_the_input_keys_in_input_order(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    three_parts(hook)

    manifest = land(hook, group(tmp_path, part(0), part(1), part(2)), out)

    assert [row["key"] for row in landed(out)] == KEYS
    assert (manifest.state, manifest.counts.total, manifest.counts.succeeded) == (JobState.SUCCEEDED, 9, 9)
    assert manifest.error_message is None
    assert [(p.index, p.job_name, p.state, p.request_count) for p in manifest.parts or []] == [
        (i, f"batches/part-{i}", JobState.SUCCEEDED, 3) for i in range(3)
    ]
    assert [p.counts.succeeded if p.counts else None for p in manifest.parts or []] == [3, 3, 3]
    assert manifest.rounds == [RoundOutcome(round=0, parts=[0, 1, 2], sent=9, recovered=9, still_failing=0)]
    assert manifest.replaced_uri is None and not (out / REPLACED_FILE).exists()


def test_every_created_parts_console_page_is_in_the_manifest(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    add(hook, 0, [answered(k) for k in KEYS[0:3]])
    add(hook, 1, [answered(k) for k in KEYS[3:6]])

    manifest = land(hook, group(tmp_path, part(0), part(1), part(2, created=False)), out)

    assert [p.console_url for p in manifest.parts or []] == [
        job_page(hook, "batches/part-0"),
        job_page(hook, "batches/part-1"),
        None,
    ]
    written = json.loads((out / "manifest.json").read_text())
    assert written["parts"][1]["console_url"] == "http://fake.invalid/v1beta/batches/part-1"


def test_rows_without_their_key_are_placed_by_their_index_within_their_own_part(tmp_path: Path, out: ObjectStoragePath):
    hook = FakeBatchHook()
    for index in range(3):
        keyless = [answered(key) for key in KEYS[3 * index : 3 * index + 3]]
        for position, row in enumerate(keyless):
            row.key, row.position = None, position
        add(hook, index, keyless)

    manifest = land(hook, group(tmp_path, part(0), part(1), part(2)), out)

    rows = [json.loads(line) for line in (tmp_path / "results" / RESULTS_FILE).read_text().splitlines()]
    assert [(row["key"], row["text"]) for row in rows] == [(key, f"answer {key}") for key in KEYS]
    assert manifest.counts.succeeded == len(KEYS) and manifest.counts.unmatched == 0


def test_an_expired_part_leaves_its_own_unanswered_rows_expired_and_another_parts_missing(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    add(hook, 0, [answered(k) for k in KEYS[0:3]])
    add(hook, 1, [answered("k5")], JobState.EXPIRED, error_message=f"window passed ({FAKE_SECRET})")
    add(hook, 2, [answered("k9"), answered("k7")])  # k8 never answered; out of order: landed by the join

    manifest = land(hook, group(tmp_path, part(0), part(1), part(2)), out)

    rows = {row["key"]: row for row in landed(out)}
    assert [rows[k]["status"] for k in KEYS] == ["succeeded"] * 3 + ["expired", "succeeded", "expired"] + [
        "succeeded",
        "missing",
        "succeeded",
    ]
    assert rows["k4"]["error"]["message"] == "the job expired before this request ran"
    assert rows["k8"]["error"]["message"] == "no result returned for this key"
    assert (manifest.counts.expired, manifest.counts.missing, manifest.counts.succeeded) == (2, 1, 6)
    assert manifest.state is JobState.PARTIALLY_SUCCEEDED
    assert manifest.error_message is not None and "part 1 (round 0, batches/part-1) ended JOB_STATE_EXPIRED" in (
        manifest.error_message
    )
    assert FAKE_SECRET not in (out / MANIFEST_FILE).read_text()
    part_one = (manifest.parts or [])[1].counts
    assert part_one is not None and (part_one.expired, part_one.succeeded) == (2, 1)


def test_unanswered_keys_of_an_in_order_landing_get_their_own_parts_outcome(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    add(hook, 0, [answered(k) for k in KEYS[0:3]])
    add(hook, 1, [answered("k4")], JobState.CANCELLED)
    add(hook, 2, [answered(k) for k in KEYS[6:9]])

    land(hook, group(tmp_path, part(0), part(1), part(2)), out)

    assert [row["status"] for row in landed(out)][3:6] == ["succeeded", "cancelled", "cancelled"]


def test_the_rows_of_a_part_never_created_are_missing_and_say_so(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    add(hook, 0, [answered(k) for k in KEYS[0:3]])
    add(hook, 1, [answered(k) for k in KEYS[3:6]])

    manifest = land(hook, group(tmp_path, part(0), part(1), part(2, created=False)), out)

    rows = landed(out)[6:]
    assert [row["status"] for row in rows] == ["missing"] * 3
    assert rows[0]["error"]["message"] == "part 2 of round 0 was never created, so this request was never sent"
    never = (manifest.parts or [])[2]
    assert (never.job_name, never.state) == (None, JobState.UNSPECIFIED)
    assert manifest.state is JobState.PARTIALLY_SUCCEEDED
    assert manifest.error_message == "part 2 (round 0) was never created"
    assert [p.job_name for p in (manifest.usage.parts if manifest.usage else [])] == [
        "batches/part-0",
        "batches/part-1",
    ]


def test_a_group_where_no_part_succeeded_ends_in_its_first_parts_state(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    add(hook, 0, [], JobState.FAILED, error_message="quota")
    add(hook, 1, [], JobState.EXPIRED)
    add(hook, 2, [], JobState.CANCELLED)

    manifest = land(hook, group(tmp_path, part(0), part(1), part(2)), out)

    assert manifest.state is JobState.FAILED
    assert (manifest.counts.missing, manifest.counts.expired, manifest.counts.cancelled) == (3, 3, 3)


# --- later rounds -------------------------------------------------------------------------------------------


def test_a_round_one_row_replaces_a_round_zero_failure_and_the_old_row_goes_to_replaced(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    ref = with_round_one(tmp_path, hook, ["k2"], [answered("k2")])

    manifest = land(hook, ref, out)

    rows = landed(out)
    assert [row["key"] for row in rows] == KEYS
    assert (rows[1]["status"], rows[1]["text"]) == ("succeeded", "answer k2")
    assert rows[4]["status"] == "failed"
    assert [(row["key"], row["error"]["code"]) for row in landed(out, REPLACED_FILE)] == [("k2", 503)]
    assert manifest.replaced_uri == str(out / REPLACED_FILE)
    assert (manifest.counts.total, manifest.counts.succeeded, manifest.counts.failed) == (9, 8, 1)
    assert manifest.rounds == [
        RoundOutcome(round=0, parts=[0, 1, 2], sent=9, recovered=7, still_failing=2),
        RoundOutcome(round=1, parts=[3], sent=1, recovered=1, still_failing=0),
    ]
    parts = manifest.parts or []
    assert [(p.index, p.round) for p in parts] == [(0, 0), (1, 0), (2, 0), (3, 1)]
    assert parts[0].counts is not None and parts[0].counts.failed == 1  # its own rows, before the replacement
    assert parts[3].counts is not None and parts[3].counts.succeeded == 1


def test_a_round_one_failure_leaves_the_key_failed_with_the_later_error(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    ref = with_round_one(tmp_path, hook, ["k2", "k5"], [answered("k5"), failed("k2", 429, "RESOURCE_EXHAUSTED")])

    manifest = land(hook, ref, out)

    rows = landed(out)
    assert (rows[1]["status"], rows[1]["error"]["code"]) == ("failed", 429)
    assert rows[4]["status"] == "succeeded"
    assert [row["key"] for row in landed(out, REPLACED_FILE)] == ["k2", "k5"]
    assert (manifest.counts.succeeded, manifest.counts.failed) == (8, 1)
    assert (manifest.rounds or [])[1] == RoundOutcome(round=1, parts=[3], sent=2, recovered=1, still_failing=1)


def test_a_group_lands_rows_whose_error_code_the_provider_wrote_as_an_object_or_a_fraction(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    odd = RowError(message="busy", code={"http": 503})
    ref = with_round_one(tmp_path, hook, ["k2"], [ResultRow(key="k2", status=RowStatus.FAILED, error=odd)])
    fraction = RowError(message="slow down", code=429.5)
    add(hook, 2, [answered("k7"), ResultRow(key="k8", status=RowStatus.FAILED, error=fraction), answered("k9")])

    manifest = land(hook, ref, out)

    failed_rows = [(row["key"], row["error"]["code"]) for row in landed(out) if row["status"] == "failed"]
    assert failed_rows == [("k2", {"http": 503}), ("k5", 400), ("k8", 429.5)]
    assert (manifest.counts.succeeded, manifest.counts.failed) == (6, 3)


def test_the_manifest_counts_and_prices_the_tokens_of_every_part(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    ref = with_round_one(tmp_path, hook, ["k2"], [answered("k2", prompt=1000, candidates=500)])

    manifest = land(hook, ref, out)

    assert manifest.usage is not None and manifest.cost is not None
    assert [(p.job_name, p.counted.input_tokens) for p in manifest.usage.parts] == [
        ("batches/part-0", 20),
        ("batches/part-1", 20),
        ("batches/part-2", 30),
        ("batches/part-3", 1000),
    ]
    assert (manifest.usage.total.input_tokens, manifest.usage.total.output_tokens) == (1070, 535)
    assert manifest.cost.amount == pytest.approx((1070 * 1.0 + 535 * 2.0) / 1_000_000)


def test_landing_the_same_group_again_writes_identical_files(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    ref = with_round_one(tmp_path, hook, ["k2", "k5"], [answered("k5"), failed("k2", 429, "RESOURCE_EXHAUSTED")])

    first = land(hook, ref, out)
    files = {path.name: path.read_bytes() for path in Path(out.path).iterdir() if path.name != MANIFEST_FILE}
    again = land(hook, ref, out)

    assert {path.name: path.read_bytes() for path in Path(out.path).iterdir() if path.name != MANIFEST_FILE} == files
    assert again.model_dump(exclude={"written_at"}) == first.model_dump(exclude={"written_at"})
    assert sorted(files) == [REPLACED_FILE, RESULTS_FILE]


def test_a_part_that_used_no_tokens_costs_nothing_even_where_its_job_names_no_model(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    ref = with_round_one(tmp_path, hook, ["k2"], [failed("k2", 503, "UNAVAILABLE", "overloaded")])
    hook.jobs["batches/part-3"] = hook.jobs["batches/part-3"].model_copy(update={"model": None})  # as Anthropic's

    manifest = land(hook, ref, out)

    assert manifest.cost is not None and manifest.cost.reason is None
    assert manifest.cost.amount == pytest.approx((70 * 1.0 + 35 * 2.0) / 1_000_000)
    assert manifest.cost.price is not None and manifest.cost.price.model == MODEL


@pytest.mark.parametrize("rounds", [1, 2], ids=["round_0_only", "with_round_1"])
def test_a_landing_again_that_cannot_read_a_parts_results_leaves_the_earlier_landing_whole(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath, rounds: int
):
    if rounds == 1:
        three_parts(hook)
        ref = group(tmp_path, part(0), part(1), part(2))
    else:
        ref = with_round_one(tmp_path, hook, ["k2", "k5"], [answered("k5"), answered("k2")])
    earlier = land(hook, ref, out)
    files = {path.name: path.read_bytes() for path in Path(out.path).iterdir()}

    def expired_output() -> Iterator[ResultRow]:
        yield answered("k7")
        raise NotFoundError("file files/part-2-output not found", http_status=404, provider="gemini")

    hook.results["batches/part-2"] = expired_output
    with pytest.raises(NotFoundError):
        land(hook, ref, out)

    assert {path.name: path.read_bytes() for path in Path(out.path).iterdir()} == files
    assert ResultsManifest.model_validate_json((out / MANIFEST_FILE).read_text()) == earlier


def test_a_group_whose_keys_file_was_replaced_since_the_submit_lands_nothing(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    three_parts(hook)
    ref = group(tmp_path, part(0), part(1), part(2))
    submitted = hashlib.sha256(Path(ref.keys_uri or "").read_bytes()).hexdigest()
    write_keys(tmp_path / "input_keys.jsonl", ["w", "x", "y"])  # another job's submit into the same directory

    with pytest.raises(GenAIBatchError, match="no longer holds the keys batches/part-0 was submitted with"):
        land(hook, ref.model_copy(update={"keys_digest": submitted}), out)

    assert list(out.iterdir()) == []


def test_a_follow_up_rounds_keys_are_joined_on_beside_the_checked_input_keys(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    ref = with_round_one(tmp_path, hook, ["k2", "k5"], [answered("k5"), answered("k2")])
    submitted = hashlib.sha256(Path(ref.keys_uri or "").read_bytes()).hexdigest()

    manifest = land(hook, ref.model_copy(update={"keys_digest": submitted}), out)

    assert manifest.counts.succeeded == manifest.counts.total == len(KEYS)


def with_checked_round_one(tmp_path: Path, hook: FakeBatchHook) -> BatchJobRef:
    """:func:`with_round_one` sending k2 again and answering it, its round's keys file digest recorded."""
    ref = with_round_one(tmp_path, hook, ["k2"], [answered("k2")])
    parts = ref.parts or ()
    round_keys = Path(parts[3].keys_uri or "")
    digest = hashlib.sha256(round_keys.read_bytes()).hexdigest()
    return ref.model_copy(update={"parts": (*parts[:3], parts[3].model_copy(update={"keys_digest": digest}))})


def test_a_round_whose_keys_file_holds_the_keys_it_wrote_lands(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    manifest = land(hook, with_checked_round_one(tmp_path, hook), out)

    assert [(r.round, r.sent, r.recovered) for r in manifest.rounds or ()] == [(0, 9, 7), (1, 1, 1)]


def test_a_round_whose_keys_file_another_tasks_round_replaced_lands_nothing(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    ref = with_checked_round_one(tmp_path, hook)
    write_keys(tmp_path / "round-1-keys.jsonl", ["k7"])  # another run's round 1 into the same directory

    with pytest.raises(
        GenAIBatchError,
        match=r"round-1-keys\.jsonl of round 1 of group batches/part-0 no longer holds the keys that round sent again",
    ):
        land(hook, ref, out)

    assert list(out.iterdir()) == []


def test_a_round_whose_keys_file_is_gone_lands_nothing(tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath):
    ref = with_checked_round_one(tmp_path, hook)
    (tmp_path / "round-1-keys.jsonl").unlink()  # moved aside with another job's results

    with pytest.raises(GenAIBatchError, match=r"round-1-keys\.jsonl of round 1 of group batches/part-0 is gone"):
        land(hook, ref, out)

    assert list(out.iterdir()) == []


def test_a_round_whose_keys_leave_the_input_order_is_refused_and_leaves_no_manifest(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath
):
    ref = with_round_one(tmp_path, hook, ["k5", "k2"], [answered("k5"), answered("k2")])

    with pytest.raises(GenAIBatchError, match=r"round 1 answered key 'k2' out of the input's order"):
        land(hook, ref, out)

    assert not (out / MANIFEST_FILE).exists()


def test_a_one_job_landing_has_no_parts_or_rounds(tmp_path: Path, out: ObjectStoragePath):
    keys = write_keys(tmp_path / "keys.jsonl", ["a"])
    ref = BatchJobRef(provider="gemini", conn_id=FAKE_CONN_ID, job_name="batches/one", request_count=1, keys_uri=keys)
    job = BatchJob(name="batches/one", provider="gemini", state=JobState.SUCCEEDED)

    manifest = land_results([succeeded("a")], job, ref, out)

    stored = json.loads((out / MANIFEST_FILE).read_text())
    assert (manifest.parts, manifest.rounds, stored["parts"], stored["rounds"]) == (None, None, None, None)


def test_only_the_files_landed_in_the_results_directory_are_recorded_as_output_assets(
    tmp_path: Path, hook: FakeBatchHook, out: ObjectStoragePath, monkeypatch: pytest.MonkeyPatch
):
    recorded: list[str] = []
    lineage = type("Lineage", (), {"add_output_asset": lambda self, *, context, uri: recorded.append(uri)})()
    monkeypatch.setattr("airflow_provider_genai_batch.landing.get_hook_lineage_collector", lambda: lineage)
    ref = with_round_one(tmp_path, hook, ["k2"], [answered("k2")])

    land(hook, ref, out)

    assert sorted(recorded) == sorted([str(out / RESULTS_FILE), str(out / REPLACED_FILE)])
