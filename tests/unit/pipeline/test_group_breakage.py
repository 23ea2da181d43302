"""A split input end to end on every provider, against the emulator served in this process: the parts are
created exactly once, one results file lands whose keys are the input's, in input order, and retries,
edits and deadlines never mix one part's job with another's content."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.bases import sensor as sensor_base
from airflow.sdk.exceptions import AirflowTaskTimeout, TaskDeferred

from airflow_provider_genai_batch import completion
from airflow_provider_genai_batch.errors import GenAIBatchError, InputValidationError, JobTimeoutError
from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.formats.results import ResultRow, RowError, RowStatus
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import hook_class_for_provider
from airflow_provider_genai_batch.idempotency import idempotency_key
from airflow_provider_genai_batch.inputs import prepare_input
from airflow_provider_genai_batch.job_ref import JOB_REF_XCOM_KEY
from airflow_provider_genai_batch.operators import submit as submit_module
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.parts import SplitLimits
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor
from airflow_provider_genai_batch.testing.emulator import FAIL_MARKER, EmulatorServer
from airflow_provider_genai_batch.testing.emulator.history import InProcessEmulator
from airflow_provider_genai_batch.testing.gcp_auth import service_account_info
from airflow_provider_genai_batch.testing.gcs import GcsServer
from airflow_provider_genai_batch.testing.s3 import MotoS3Server
from tests.unit.pipeline.fakes import DictStateStore, FakeTI, canonical_line, capture_log, log_messages, write_jsonl

RUN_ID = "manual__2026-01-02T00:00:00+00:00"
BUCKET = "group-breakage"
MODELS = {
    "openai": "gpt-4o-mini",
    "gemini": "gemini-2.5-flash",
    "anthropic": "claude-sonnet-4-5",
    "bedrock": "anthropic.claude-3-haiku-20240307-v1:0",
    "gateway_gemini": "gemini-2.5-flash",
    "gateway_openai": "gpt-4o-mini",
}


@pytest.fixture(scope="module")
def emulator(moto_s3: MotoS3Server) -> Iterator[InProcessEmulator]:
    with InProcessEmulator(pending_seconds=0, running_seconds=0, s3_endpoint_url=moto_s3.endpoint_url) as server:
        yield server


@pytest.fixture
def provider(emulator: InProcessEmulator, moto_s3: MotoS3Server, monkeypatch: pytest.MonkeyPatch) -> InProcessEmulator:
    """An emptied emulator (and S3 bucket), with a connection per provider named as in :data:`MODELS`."""
    emulator.state.reset()
    moto_s3.reset()
    moto_s3.create_bucket(BUCKET)
    base = emulator.base_url
    fast = {"retry_max_wait": 0.1}
    connections: dict[str, dict[str, Any]] = {
        "openai": {
            "conn_type": "genaiopenai",
            "host": f"{base}/openai/v1",
            "password": "key-0123456789",
            "extra": fast,
        },
        "gemini": {"conn_type": "genaigemini", "host": base, "password": "key-0123456789", "extra": fast},
        "anthropic": {
            "conn_type": "genaianthropic",
            "host": f"{base}/anthropic",
            "password": "key-0123456789",
            "extra": fast,
        },
        "bedrock": {
            "conn_type": "genaibedrock",
            "login": "testing",
            "password": "testing",
            "extra": {
                **fast,
                "region": "us-east-1",
                "role_arn": "arn:aws:iam::123456789012:role/BedrockBatch",
                "input_s3_uri": f"s3://{BUCKET}/input",
                "output_s3_uri": f"s3://{BUCKET}/output",
                "endpoint_url": f"{base}/bedrock",
                "s3_endpoint_url": moto_s3.endpoint_url,
            },
        },
        "gateway_gemini": {
            "conn_type": "genaigateway",
            "host": f"{base}/genai",
            "password": "key-0123456789",
            "extra": {**fast, "model_provider": "gemini"},
        },
        "gateway_openai": {
            "conn_type": "genaigateway",
            "host": f"{base}/genai",
            "password": "key-0123456789",
            "extra": {**fast, "model_provider": "openai"},
        },
    }
    for conn_id, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return emulator


class Task:
    """One task instance across tries: its task state store and XCom."""

    def __init__(self, run_id: str = RUN_ID) -> None:
        self.run_id = run_id
        self.store = DictStateStore()
        self.xcom: dict[tuple[str, int, str], Any] = {}
        self.key = idempotency_key("genai_dag", "submit", run_id, -1)

    def try_context(self) -> dict[str, Any]:
        ti = FakeTI(run_id=self.run_id, xcom=self.xcom)
        return {
            "ti": ti,
            "dag_run": SimpleNamespace(run_id=self.run_id, run_after=None),
            "task_state_store": self.store,
        }


def keyed(count: int, text: str = "hello") -> list[dict[str, Any]]:
    return [canonical_line(f"k{i:04d}", f"{text} {i}") for i in range(count)]


def waiting_submit(conn_id: str, input: Any, output: Path, **kwargs: Any) -> GenAIBatchSubmitOperator:
    """A submit that waits on its worker (no deferral) and lands into ``output``."""
    kwargs.setdefault("max_failed_ratio", 1.0)
    kwargs.setdefault("display_name", "nightly")
    return GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=conn_id,
        model=MODELS[conn_id],
        input=input,
        output_uri=str(output),
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.01,
        **kwargs,
    )


def landed_rows(output: Path, name: str = "results.jsonl") -> list[dict[str, Any]]:
    return [json.loads(line) for line in (output / name).read_text().splitlines() if line.strip()]


def input_keys(rows: list[dict[str, Any]]) -> list[str]:
    return [row["key"] for row in rows]


PREFIXES = {
    "openai": "/openai/",
    "anthropic": "/anthropic/",
    "gemini": "/v1beta/",
    "bedrock": "/bedrock/",
    "gateway_gemini": "/genai/",
    "gateway_openai": "/genai/",
}
"""Where each connection's calls go (a gateway's own calls to its target are logged too, under the target's)."""


def creates(emulator: InProcessEmulator, conn_id: str) -> list[dict[str, Any]]:
    """Every batch create the connection ``conn_id`` sent."""
    return [
        entry
        for entry in emulator.state.request_log
        if entry["method"] == "POST"
        and entry["path"].startswith(PREFIXES[conn_id])
        and entry["path"].endswith(("/batches", ":batchGenerateContent", "/model-invocation-job"))
    ]


def writes(emulator: InProcessEmulator) -> list[dict[str, Any]]:
    return [entry for entry in emulator.state.request_log if entry["method"] in {"POST", "PUT", "PATCH", "DELETE"}]


# --- 1. every provider: one results file, the input's keys in input order -------------------------------------


@pytest.mark.parametrize(
    ("conn_id", "count", "per_job", "parts"),
    [
        ("openai", 7, 3, 3),
        ("anthropic", 7, 3, 3),
        ("gemini", 7, 3, 3),
        ("gateway_gemini", 7, 3, 3),
        ("gateway_openai", 7, 3, 3),
        ("bedrock", 230, 150, 2),
        ("bedrock", 330, 150, 3),
    ],
)
def test_a_split_file_input_lands_one_results_file_of_the_input_keys_in_input_order(
    provider, tmp_path, conn_id, count, per_job, parts
):
    rows = keyed(count)
    output = tmp_path / "out"
    operator = waiting_submit(
        conn_id, str(write_jsonl(tmp_path / "in.jsonl", rows)), output, max_requests_per_job=per_job
    )

    manifest = operator.execute(Task().try_context())

    assert [row["key"] for row in landed_rows(output)] == input_keys(rows)
    assert {row["status"] for row in landed_rows(output)} == {"succeeded"}
    assert len(manifest["parts"]) == parts == len(creates(provider, conn_id))
    assert all(p["state"] == "JOB_STATE_SUCCEEDED" for p in manifest["parts"])
    assert sum(p["request_count"] for p in manifest["parts"]) == count
    if conn_id == "bedrock":
        assert all(100 <= p["request_count"] <= per_job for p in manifest["parts"])


def test_a_keyless_list_split_into_inline_gemini_parts_lands_each_answer_on_its_own_position(provider, tmp_path):
    provider.state.config.gemini_drop_inline_metadata = True  # answers come back without their keys
    items = [{"contents": [{"role": "user", "parts": [{"text": f"question {i}"}]}]} for i in range(7)]
    output = tmp_path / "out"

    waiting_submit("gemini", items, output, max_requests_per_job=3).execute(Task().try_context())

    rows = landed_rows(output)
    assert [row["key"] for row in rows] == [str(i) for i in range(7)]
    assert [row["text"] for row in rows] == [f"Answer to: question {i}" for i in range(7)]


# --- 2. a retry re-attaches to what exists and creates only what is missing ---------------------------------


class WorkerDied(Exception):
    """The worker went away between two creates."""


@pytest.mark.parametrize("conn_id", ["anthropic", "gateway_gemini", "gemini", "bedrock"])
def test_a_retry_after_a_crash_between_creates_creates_only_the_missing_parts(provider, tmp_path, monkeypatch, conn_id):
    count, per_job = (330, 150) if conn_id == "bedrock" else (7, 3)
    rows = keyed(count)
    path = str(write_jsonl(tmp_path / "in.jsonl", rows))
    output = tmp_path / "out"
    task = Task()
    real_create = BatchHook.create_batch
    made: list[str] = []

    def die_before_the_third_create(hook: BatchHook[Any], spec: Any) -> Any:
        if len(made) == 2:
            raise WorkerDied("the worker died after parts 1 and 2 were created and remembered")
        job = real_create(hook, spec)
        made.append(job.name)
        return job

    monkeypatch.setattr(BatchHook, "create_batch", die_before_the_third_create)
    with pytest.raises(WorkerDied):
        waiting_submit(conn_id, path, output, max_requests_per_job=per_job).execute(task.try_context())
    monkeypatch.setattr(BatchHook, "create_batch", real_create)

    manifest = waiting_submit(conn_id, path, output, max_requests_per_job=per_job).execute(task.try_context())

    assert len(creates(provider, conn_id)) == 3
    assert [p["job_name"] for p in manifest["parts"]][:2] == made
    assert [row["key"] for row in landed_rows(output)] == input_keys(rows)


class DiesAtTheRefsXCom(FakeTI):
    """A worker that dies when the job ref goes to XCom: the task state store was written just before."""

    def xcom_push(self, key: str, value: Any) -> None:
        if key == JOB_REF_XCOM_KEY:
            raise WorkerDied("the worker died after the ref was stored, before it reached XCom")
        super().xcom_push(key, value)


@pytest.mark.parametrize("conn_id", ["anthropic", "gateway_gemini"])
def test_a_retry_after_a_crash_while_a_clear_resubmits_a_failed_part_keeps_the_other_parts_jobs(
    provider, tmp_path, monkeypatch, conn_id
):
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(7)))
    output = tmp_path / "out"
    task = Task()
    real_create = BatchHook.create_batch
    outcome_by_round(monkeypatch, provider, {"part 1/3": "fail"})
    first = waiting_submit(conn_id, path, output, max_requests_per_job=3).execute(task.try_context())
    monkeypatch.setattr(BatchHook, "create_batch", real_create)
    provider.state.config.job_outcome = "succeed"
    dying = task.try_context()
    dying["ti"] = DiesAtTheRefsXCom(run_id=task.run_id, xcom=task.xcom)
    with pytest.raises(WorkerDied):  # a clear: part 1/3 failed, so it is created again; the worker then dies
        waiting_submit(conn_id, path, output, max_requests_per_job=3).execute(dying)

    again = waiting_submit(conn_id, path, output, max_requests_per_job=3).execute(task.try_context())

    assert (
        len(creates(provider, conn_id)) == 4
    )  # three parts, then part 1/3 once more: parts 2 and 3 are not paid twice
    assert [p["job_name"] for p in again["parts"]][1:] == [p["job_name"] for p in first["parts"]][1:]
    assert again["parts"][0]["job_name"] != first["parts"][0]["job_name"]
    assert {row["status"] for row in landed_rows(output)} == {"succeeded"}


@pytest.mark.parametrize(
    ("conn_id", "settings"),
    [
        ("anthropic", {"retry_failed_rows": 1}),
        ("openai", {"retry_failed_rows": 1}),
        ("openai", {"retry_failed_rows": 1, "max_concurrent_jobs": 1}),
        ("gemini", {"max_concurrent_jobs": 2}),
    ],
)
def test_a_retry_after_success_creates_nothing_and_lands_the_same_files(provider, tmp_path, conn_id, settings):
    rows = keyed(7)
    rows[4] = canonical_line("k0004", f"refused {FAIL_MARKER}")
    path = str(write_jsonl(tmp_path / "in.jsonl", rows))
    output = tmp_path / "out"
    task = Task()
    provider.state.config.openai_retryable_row_share = 0.5
    first = waiting_submit(conn_id, path, output, max_requests_per_job=3, **settings).execute(task.try_context())
    landed = (output / "results.jsonl").read_bytes()
    before = len(writes(provider))

    again = waiting_submit(conn_id, path, output, max_requests_per_job=3, **settings).execute(task.try_context())

    assert len(writes(provider)) == before
    assert [p["job_name"] for p in again["parts"]] == [p["job_name"] for p in first["parts"]]
    assert again["rounds"] == first["rounds"]
    assert (output / "results.jsonl").read_bytes() == landed


# --- 3. an input edited between tries ------------------------------------------------------------------------


@pytest.mark.parametrize("conn_id", ["openai", "anthropic", "gemini"])
def test_a_line_edited_in_the_second_part_gets_a_new_job_for_that_part_alone_and_its_new_answer(
    provider, tmp_path, conn_id
):
    rows = keyed(9)
    path = tmp_path / "in.jsonl"
    output = tmp_path / "out"
    task = Task()
    first = waiting_submit(conn_id, str(write_jsonl(path, rows)), output, max_requests_per_job=3).execute(
        task.try_context()
    )
    rows[4] = canonical_line("k0004", "edited question")
    write_jsonl(path, rows)

    again = waiting_submit(conn_id, str(path), output, max_requests_per_job=3).execute(task.try_context())

    before, after = [p["job_name"] for p in first["parts"]], [p["job_name"] for p in again["parts"]]
    assert (after[0], after[2]) == (before[0], before[2])
    assert after[1] not in before
    assert len(creates(provider, conn_id)) == 4
    landed = {row["key"]: row["text"] for row in landed_rows(output)}
    assert list(landed) == input_keys(rows)
    assert landed["k0004"] == "Answer to: edited question"
    assert landed["k0003"] == "Answer to: hello 3"


# --- 4. follow-up rounds --------------------------------------------------------------------------------------


def outcome_by_round(monkeypatch: pytest.MonkeyPatch, emulator: InProcessEmulator, outcomes: dict[str, str]) -> None:
    """Jobs whose display name holds one of ``outcomes``' texts end as it says; the others succeed."""
    real_create = BatchHook.create_batch

    def create(hook: BatchHook[Any], spec: Any) -> Any:
        chosen = [outcome for text, outcome in outcomes.items() if text in spec.display_name]
        emulator.state.config.job_outcome = chosen[0] if chosen else "succeed"
        return real_create(hook, spec)

    monkeypatch.setattr(BatchHook, "create_batch", create)


def statuses(rows: list[dict[str, Any]]) -> dict[str, tuple[str, Any]]:
    return {row["key"]: (row["status"], (row.get("error") or {}).get("code")) for row in rows}


def test_rows_failing_again_in_a_round_are_sent_in_the_next_and_refused_rows_never(provider, tmp_path, monkeypatch):
    rows = keyed(9)
    rows[1] = canonical_line("k0001", f"refused {FAIL_MARKER}")
    # Round 0: part 3 expires (its rows expired); round 1: every row fails with a server error; round 2 answers.
    outcome_by_round(monkeypatch, provider, {"part 3/3": "expire", "round 1": "fail_rows"})
    output = tmp_path / "out"

    manifest = waiting_submit(
        "openai", str(write_jsonl(tmp_path / "in.jsonl", rows)), output, max_requests_per_job=3, retry_failed_rows=2
    ).execute(Task().try_context())

    final = statuses(landed_rows(output))
    assert list(final) == input_keys(rows)
    assert final.pop("k0001") == ("failed", "invalid_request_error")
    assert set(final.values()) == {("succeeded", None)}
    sent = [r["sent"] for r in manifest["rounds"]]
    assert [r["round"] for r in manifest["rounds"]] == [0, 1, 2]
    assert sent[0] == 9 and sent[1] == sent[2] > 0
    assert [r["recovered"] for r in manifest["rounds"]][1:] == [0, sent[2]]
    replaced = landed_rows(output, "replaced.jsonl")
    assert [(row["key"], row["status"]) for row in replaced] == [
        pair for key in ("k0006", "k0007", "k0008") for pair in ((key, "expired"), (key, "failed"))
    ]  # each key's round-0 row, then its round-1 row, in input order
    assert {(row.get("error") or {}).get("code") for row in replaced if row["status"] == "failed"} == {"server_error"}
    assert "k0001" not in {row["key"] for row in replaced}
    assert manifest["counts"]["succeeded"] == 8 and manifest["counts"]["failed"] == 1


def test_no_round_is_sent_past_retry_failed_rows_and_the_rows_stay_as_the_last_round_left_them(
    provider, tmp_path, monkeypatch
):
    rows = keyed(6)
    outcome_by_round(monkeypatch, provider, {"part 2/2": "expire", "round 1": "fail_rows"})
    output = tmp_path / "out"

    manifest = waiting_submit(
        "openai", str(write_jsonl(tmp_path / "in.jsonl", rows)), output, max_requests_per_job=3, retry_failed_rows=1
    ).execute(Task().try_context())

    assert [r["round"] for r in manifest["rounds"]] == [0, 1]
    assert not any("round 2" in c["json"]["metadata"]["display_name"] for c in creates(provider, "openai"))
    resent = manifest["rounds"][1]["sent"]
    final = statuses(landed_rows(output))
    assert list(final) == input_keys(rows)
    assert [key for key, status in final.items() if status == ("failed", "server_error")] == ["k0003", "k0004", "k0005"]
    assert resent == 3


# --- 5. dry run ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("conn_id", ["openai", "anthropic", "gemini", "bedrock", "gateway_openai"])
def test_a_dry_run_lists_every_bad_line_across_what_would_be_several_parts_and_sends_nothing(
    provider, tmp_path, conn_id
):
    count = 330 if conn_id == "bedrock" else 12
    rows: list[Any] = keyed(count)
    bad = {
        2: '{"key": "k0001", "request": ',  # not JSON
        5: {"key": "k0004", "request": {"contents": []}},  # no contents
        9: {"request": {"contents": [{"role": "user", "parts": [{"text": "who am I?"}]}]}},  # no key
        count: canonical_line("k0000", "again"),  # the first line's key
    }
    for line, value in bad.items():
        rows[line - 1] = value
    path = str(write_jsonl(tmp_path / "in.jsonl", rows))
    task = Task()

    with pytest.raises(InputValidationError, match=r"dry run: 4 problem\(s\) in the input"):
        waiting_submit(
            conn_id, path, tmp_path / "out", max_requests_per_job=150 if conn_id == "bedrock" else 3, dry_run=True
        ).execute(task.try_context())

    assert provider.state.request_log == deque()  # nothing looked up, uploaded or created
    plan = task.xcom[("submit", -1, "dry_run_plan")]
    assert [(error["source"], error["line"]) for error in plan["errors"]] == [(path, line) for line in sorted(bad)]
    assert all(error["message"] for error in plan["errors"])
    assert plan["errors_total"] == 4
    # A duplicate key is known once every key was read: its line is still in the plan's counts, the others not.
    assert plan["requests"] == count - 3 == sum(part["requests"] for part in plan["parts"])
    assert len(plan["parts"]) > 1


# --- 6. keys ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("conn_id", ["openai", "anthropic", "gemini", "gateway_gemini"])
def test_a_key_used_again_in_a_later_part_is_refused_before_anything_is_sent(provider, tmp_path, conn_id):
    rows = keyed(7)
    rows[6] = canonical_line("k0001", "a later part, the same key")
    path = str(write_jsonl(tmp_path / "in.jsonl", rows))

    with pytest.raises(InputValidationError, match=r"line 7: duplicate key 'k0001' \(first used on line 2\)"):
        waiting_submit(conn_id, path, tmp_path / "out", max_requests_per_job=3).execute(Task().try_context())

    assert provider.state.request_log == deque()


def test_a_positional_key_that_an_explicit_key_already_took_is_refused_before_anything_is_sent(provider, tmp_path):
    items: list[dict[str, Any]] = [
        {"key": "5", "contents": [{"role": "user", "parts": [{"text": "named five"}]}]},
        *({"contents": [{"role": "user", "parts": [{"text": f"unnamed {i}"}]}]} for i in range(1, 7)),
    ]  # the sixth item has no key of its own: its position, "5", is its key

    with pytest.raises(InputValidationError) as info:
        waiting_submit("gemini", items, tmp_path / "out", max_requests_per_job=3).execute(Task().try_context())

    assert info.value.line == 6
    assert info.value.reason == (
        "duplicate key '5': item 6 has no key, so it is keyed by its position counted from 0, and item 1 gives '5' "
        "as its own key: give every item a key, or none"
    )
    assert provider.state.request_log == deque()


@pytest.mark.parametrize("conn_id", ["openai", "anthropic", "gemini", "gateway_openai"])
def test_an_explicit_key_that_a_keyless_item_took_by_its_position_is_refused_saying_so(provider, tmp_path, conn_id):
    items: list[dict[str, Any]] = [
        {"contents": [{"role": "user", "parts": [{"text": "unnamed"}]}]},
        {"key": "0", "contents": [{"role": "user", "parts": [{"text": "named zero"}]}]},
    ]  # the first item has no key of its own: its position, "0", is its key

    with pytest.raises(InputValidationError) as info:
        waiting_submit(conn_id, items, tmp_path / "out").execute(Task().try_context())

    assert (info.value.source, info.value.line) == ("inline requests", 2)
    assert info.value.reason == (
        "duplicate key '0': item 1 has no key, so it is keyed by its position counted from 0, the key this item "
        "gives: give every item a key, or none"
    )
    assert provider.state.request_log == deque()


ODD_KEYS = ["a/b c", "ключ-1", "x" * 64, "tab\\tkey", "emoji-🙂", "0", "metadata-key"]


@pytest.mark.parametrize("conn_id", ["openai", "anthropic", "gemini", "gateway_openai"])
def test_odd_keys_split_over_parts_come_back_as_they_were_given_in_input_order(provider, tmp_path, conn_id):
    rows = [canonical_line(key, f"about {index}") for index, key in enumerate(ODD_KEYS)]
    output = tmp_path / "out"

    waiting_submit(conn_id, str(write_jsonl(tmp_path / "in.jsonl", rows)), output, max_requests_per_job=3).execute(
        Task().try_context()
    )

    landed = landed_rows(output)
    assert [row["key"] for row in landed] == ODD_KEYS
    assert [row["text"] for row in landed] == [f"Answer to: about {index}" for index in range(len(ODD_KEYS))]


def test_a_key_given_in_metadata_is_the_rows_key_across_inline_parts(provider, tmp_path):
    items = [
        {"contents": [{"role": "user", "parts": [{"text": f"q {i}"}]}], "metadata": {"key": f"meta-{i}"}}
        for i in range(5)
    ]
    output = tmp_path / "out"

    waiting_submit("gemini", items, output, max_requests_per_job=2).execute(Task().try_context())

    assert [row["key"] for row in landed_rows(output)] == [f"meta-{i}" for i in range(5)]


# --- 7. the cap and deadlines -------------------------------------------------------------------------------


def cancels(emulator: InProcessEmulator, conn_id: str) -> list[str]:
    """The paths of every cancel ``conn_id`` sent."""
    return [
        entry["path"]
        for entry in emulator.state.request_log
        if entry["method"] == "POST"
        and entry["path"].startswith(PREFIXES[conn_id])
        and entry["path"].endswith(("/cancel", ":cancel"))
    ]


@pytest.mark.parametrize("conn_id", ["openai", "gemini"])
def test_a_group_past_its_deadline_cancels_every_created_part_and_creates_no_waiting_one(provider, tmp_path, conn_id):
    provider.state.config.job_outcome = "stuck"
    rows = keyed(9)
    operator = waiting_submit(
        conn_id,
        str(write_jsonl(tmp_path / "in.jsonl", rows)),
        tmp_path / "out",
        max_requests_per_job=3,
        max_concurrent_jobs=1,
        job_timeout=timedelta(seconds=0.3),
    )

    with pytest.raises(JobTimeoutError, match=r"group of 3 parts .* did not finish within .* was cancelled"):
        operator.execute(Task().try_context())

    made = creates(provider, conn_id)
    assert len(made) == 1
    assert len(cancels(provider, conn_id)) == 1
    assert not (tmp_path / "out" / "results.jsonl").exists()


@pytest.mark.parametrize(("per_job", "jobs"), [(3, 3), (None, 1)])
def test_an_execution_timeout_while_waiting_on_the_worker_cancels_every_created_part(
    provider, tmp_path, monkeypatch, supervisor, per_job, jobs
):
    provider.state.config.job_outcome = "stuck"
    task = Task()
    supervisor.task_states = {RUN_ID: {"submit": "running"}}  # what the task instance is while it times out
    operator = waiting_submit(
        "openai",
        str(write_jsonl(tmp_path / "in.jsonl", keyed(9))),
        tmp_path / "out",
        max_requests_per_job=per_job,
        execution_timeout=timedelta(hours=1),
    )
    sleeps = 0

    def sleep_until_airflow_times_out(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps == 3:  # Airflow's execution_timeout alarm goes off in the middle of the wait
            raise AirflowTaskTimeout()

    monkeypatch.setattr(completion.time, "sleep", sleep_until_airflow_times_out)

    with pytest.raises(AirflowTaskTimeout):
        operator.execute(task.try_context())
    operator.on_kill()  # as Airflow's task runner does on AirflowTaskTimeout

    assert len(creates(provider, "openai")) == jobs
    assert len(cancels(provider, "openai")) == jobs
    assert all(job.cancelled_at is not None for job in provider.state.store.list_jobs("openai"))


def test_a_list_whose_later_part_goes_inline_is_refused_under_the_cap_before_anything_is_sent(
    provider, tmp_path, monkeypatch
):
    lowered = GeminiDialect.limits.model_copy(update={"max_inline_bytes": 3_000})
    monkeypatch.setattr(GeminiDialect, "limits", lowered)  # a part of three long requests no longer fits inline
    items = [
        {"key": f"k{i}", "contents": [{"role": "user", "parts": [{"text": "word " * 200 if i < 3 else "short"}]}]}
        for i in range(5)
    ]  # part 1 (three long requests) goes as a file, part 2 (two short ones) inline, and would have to wait
    operator = waiting_submit("gemini", items, tmp_path / "out", max_requests_per_job=3, max_concurrent_jobs=1)

    with pytest.raises(InputValidationError, match=r"part\(s\) 2 of the input's 2 go inline .* cannot wait"):
        operator.execute(Task().try_context())

    assert provider.state.request_log == deque()


def test_a_dry_run_lists_inline_parts_that_could_not_wait_for_a_slot(provider, tmp_path):
    task = Task()
    operator = waiting_submit(
        "anthropic",
        str(write_jsonl(tmp_path / "in.jsonl", keyed(7))),
        tmp_path / "out",
        max_requests_per_job=3,
        max_concurrent_jobs=1,
        dry_run=True,
    )

    with pytest.raises(InputValidationError, match=r"dry run: 1 problem\(s\) .* inline requests cannot wait"):
        operator.execute(task.try_context())

    assert provider.state.request_log == deque()
    assert len(task.xcom[("submit", -1, "dry_run_plan")]["parts"]) == 3


@pytest.mark.parametrize("conn_id", ["openai", "gemini", "anthropic"])
def test_the_rows_of_a_part_whose_job_failed_are_sent_again_and_recovered(provider, tmp_path, monkeypatch, conn_id):
    rows = keyed(7)
    outcome_by_round(monkeypatch, provider, {"part 2/3": "fail"})
    output = tmp_path / "out"

    manifest = waiting_submit(
        conn_id,
        str(write_jsonl(tmp_path / "in.jsonl", rows)),
        output,
        max_requests_per_job=3,
        retry_failed_rows=1,
        max_failed_ratio=0.0,
    ).execute(Task().try_context())

    assert statuses(landed_rows(output)) == {key: ("succeeded", None) for key in input_keys(rows)}
    assert manifest["rounds"][1]["sent"] == manifest["rounds"][1]["recovered"] == 3
    assert [p["state"] for p in manifest["parts"]] == [
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_SUCCEEDED",
    ]
    replaced = landed_rows(output, "replaced.jsonl")
    assert [row["key"] for row in replaced] == ["k0003", "k0004", "k0005"]
    assert {row["status"] for row in replaced} == {"failed" if conn_id == "anthropic" else "missing"}


@pytest.mark.parametrize(("conn_id", "outcome"), [("openai", "expire"), ("anthropic", "fail"), ("gemini", "fail")])
def test_a_clear_after_success_keeps_a_part_whose_rows_a_follow_up_round_recovered_and_creates_nothing(
    provider, tmp_path, monkeypatch, conn_id, outcome
):
    outcome_by_round(monkeypatch, provider, {"part 2/3": outcome})
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(7)))
    task = Task()
    first = waiting_submit(conn_id, path, output, max_requests_per_job=3, retry_failed_rows=1).execute(
        task.try_context()
    )
    landed = (output / "results.jsonl").read_bytes()
    before = len(writes(provider))

    again = waiting_submit(conn_id, path, output, max_requests_per_job=3, retry_failed_rows=1).execute(
        task.try_context()
    )

    assert len(writes(provider)) == before
    assert [p["job_name"] for p in again["parts"]] == [p["job_name"] for p in first["parts"]]
    assert again["rounds"] == first["rounds"]
    assert (output / "results.jsonl").read_bytes() == landed


@pytest.mark.parametrize("settings", [{"retry_failed_rows": 1}, {"max_concurrent_jobs": 1}])
def test_force_resubmit_sends_every_part_again_follow_up_and_waiting_ones_too(
    provider, tmp_path, monkeypatch, settings
):
    outcome_by_round(monkeypatch, provider, {"part 2/3": "expire"})
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(7)))
    task = Task()
    first = waiting_submit("openai", path, output, max_requests_per_job=3, **settings).execute(task.try_context())

    again = waiting_submit("openai", path, output, max_requests_per_job=3, force_resubmit=True, **settings).execute(
        task.try_context()
    )

    assert len(again["parts"]) == len(first["parts"])
    assert not {p["job_name"] for p in again["parts"]} & {p["job_name"] for p in first["parts"]}


# --- deferred: one trigger for the group, the task back on a worker for each free slot and round ------------


def run_deferred(operator: GenAIBatchSubmitOperator, context: dict[str, Any]) -> tuple[Any, int]:
    """Execute, then serve every deferral with the trigger's first event, as Airflow does; the task's result and
    how many times it deferred."""
    deferrals = 0
    try:
        return operator.execute(context), deferrals
    except TaskDeferred as deferred:
        pending = deferred
    while True:
        deferrals += 1
        _, kwargs = pending.trigger.serialize()
        trigger = type(pending.trigger)(**kwargs)  # as the triggerer makes it again from its row
        event = asyncio.run(first_event(trigger))
        try:
            return getattr(operator, pending.method_name)(context, event.payload), deferrals
        except TaskDeferred as again:
            pending = again


async def first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event
    raise AssertionError("the trigger ended without an event")


def test_a_deferred_group_under_the_cap_with_a_follow_up_round_lands_every_key_once(provider, tmp_path, monkeypatch):
    rows = keyed(9)
    rows[0] = canonical_line("k0000", f"refused {FAIL_MARKER}")
    outcome_by_round(monkeypatch, provider, {"part 3/3": "expire"})
    provider.state.config.pending_seconds = 1.0  # long enough for the first poll to find every job unfinished, also
    # on a busy machine (0.2 s was not: a create took that long to reach its first poll, and the job had ended)
    output = tmp_path / "out"
    operator = waiting_submit(
        "openai",
        str(write_jsonl(tmp_path / "in.jsonl", rows)),
        output,
        max_requests_per_job=3,
        max_concurrent_jobs=1,
        retry_failed_rows=1,
    )
    operator.deferrable = True

    manifest, deferrals = run_deferred(operator, Task().try_context())

    assert deferrals >= 3  # one per part under a cap of one, and the round
    assert len(creates(provider, "openai")) == 4
    final = statuses(landed_rows(output))
    assert list(final) == input_keys(rows)
    assert final.pop("k0000") == ("failed", "invalid_request_error")
    assert set(final.values()) == {("succeeded", None)}
    assert [r["round"] for r in manifest["rounds"]] == [0, 1]


# --- the sensor lands a group the submit did not wait on --------------------------------------------------


def sensor_for(ref: Any, output: Path, **kwargs: Any) -> GenAIBatchSensor:
    return GenAIBatchSensor(
        task_id="wait", job_ref=ref, output_uri=str(output), deferrable=False, poll_interval=0.01, **kwargs
    )


def test_a_sensor_lands_a_split_input_as_one_results_file(provider, tmp_path):
    rows = keyed(7)
    ref = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id="anthropic",
        model=MODELS["anthropic"],
        input=str(write_jsonl(tmp_path / "in.jsonl", rows)),
        output_uri=str(tmp_path / "out"),
        max_requests_per_job=3,
    ).execute(Task().try_context())

    manifest = sensor_for(ref, tmp_path / "out").execute(Task().try_context())

    assert len(manifest["parts"]) == 3
    assert [row["key"] for row in landed_rows(tmp_path / "out")] == input_keys(rows)


@pytest.mark.parametrize("per_job", [None, 3], ids=["one_job", "split"])
def test_a_gateway_gemini_batch_is_priced_at_the_model_it_was_submitted_for(provider, tmp_path, per_job):
    # The gateway's batch names no model and it flattens a Gemini answer to text and usage: only the ref knows it.
    ref = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id="gateway_gemini",
        model=MODELS["gateway_gemini"],
        input=str(write_jsonl(tmp_path / "in.jsonl", keyed(7))),
        output_uri=str(tmp_path / "out"),
        max_requests_per_job=per_job,
    ).execute(Task().try_context())

    manifest = sensor_for(ref, tmp_path / "out").execute(Task().try_context())

    assert manifest["usage"]["total"]["input_tokens"] > 0
    assert manifest["cost"]["reason"] is None and manifest["cost"]["amount"] > 0
    assert manifest["cost"]["price"]["model"] == "gemini-2.5-flash"
    assert {part["model"] for part in manifest["usage"]["parts"]} == {"gemini-2.5-flash"}


def test_an_execution_timeout_while_a_sensor_pokes_on_the_worker_cancels_every_part(
    provider, tmp_path, monkeypatch, supervisor
):
    provider.state.config.job_outcome = "stuck"
    task = Task()
    supervisor.task_states = {RUN_ID: {"submit": "running"}}  # the task instance the context names
    ref = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id="openai",
        model=MODELS["openai"],
        input=str(write_jsonl(tmp_path / "in.jsonl", keyed(7))),
        output_uri=str(tmp_path / "out"),
        max_requests_per_job=3,
    ).execute(task.try_context())
    sensor = sensor_for(ref, tmp_path / "out", execution_timeout=timedelta(hours=1))

    def airflow_times_out(seconds: float) -> None:
        raise AirflowTaskTimeout()

    monkeypatch.setattr(sensor_base.time, "sleep", airflow_times_out)

    with pytest.raises(AirflowTaskTimeout):
        sensor.execute(task.try_context())
    sensor.on_kill()

    assert len(cancels(provider, "openai")) == 3
    assert all(job.cancelled_at is not None for job in provider.state.store.list_jobs("openai"))


# --- inputs in the provider's own format, and the other per-job limits ------------------------------------


def sent_files(emulator: InProcessEmulator) -> list[bytes]:
    """The bytes of the file each OpenAI batch was created from, in create order."""
    files = [emulator.state.store.get_file("openai", e["json"]["input_file_id"]) for e in creates(emulator, "openai")]
    return [stored.path.read_bytes() for stored in files if stored is not None]


def openai_line(key: str, text: str) -> dict[str, Any]:
    return {
        "custom_id": key,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": MODELS["openai"], "messages": [{"role": "user", "content": text}]},
    }


def test_a_native_file_with_a_bom_and_crlf_lines_goes_as_parts_of_lf_lines_and_a_round_sends_from_it(
    provider, tmp_path, monkeypatch
):
    rows = [openai_line(f"id-{i}", f"q {i}") for i in range(7)]
    path = tmp_path / "native.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"".join(json.dumps(row).encode() + b"\r\n" for row in rows))
    outcome_by_round(monkeypatch, provider, {"part 2/3": "expire"})
    output = tmp_path / "out"

    manifest = waiting_submit("openai", str(path), output, max_requests_per_job=3, retry_failed_rows=1).execute(
        Task().try_context()
    )

    uploaded = sent_files(provider)
    assert all(b"\r" not in data and not data.startswith(b"\xef\xbb\xbf") for data in uploaded)
    assert [[json.loads(line)["custom_id"] for line in data.splitlines()] for data in uploaded] == [
        ["id-0", "id-1", "id-2"],
        ["id-3", "id-4", "id-5"],
        ["id-6"],
        ["id-3", "id-4", "id-5"],
    ]
    assert statuses(landed_rows(output)) == {row["custom_id"]: ("succeeded", None) for row in rows}
    assert manifest["rounds"][1]["recovered"] == 3


@pytest.mark.parametrize("limit", ["max_bytes_per_job", "max_input_tokens_per_job"])
def test_a_byte_or_token_limit_cuts_parts_within_it_and_the_keys_land_in_order(provider, tmp_path, limit):
    rows = [canonical_line(f"k{i:02d}", "word " * (1 + i % 5)) for i in range(20)]
    output = tmp_path / "out"
    value = 600 if limit == "max_bytes_per_job" else 25
    operator = waiting_submit("openai", str(write_jsonl(tmp_path / "in.jsonl", rows)), output, **{limit: value})

    manifest = operator.execute(Task().try_context())

    assert len(manifest["parts"]) > 1
    assert [row["key"] for row in landed_rows(output)] == input_keys(rows)
    if limit == "max_bytes_per_job":
        assert all(len(data) <= value for data in sent_files(provider))


def test_native_embeddings_lines_listing_more_inputs_than_one_openai_batch_takes_go_as_parts_that_all_land(
    provider, tmp_path
):
    # 600 requests of 100 inputs each: 60,000 embedding inputs, over the 50,000 one embeddings batch takes
    model = "text-embedding-3-small"
    rows = [
        {
            "custom_id": f"e{i:03d}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": model, "input": [f"text {i}.{j}" for j in range(100)]},
        }
        for i in range(600)
    ]
    output = tmp_path / "out"
    operator = waiting_submit("openai", str(write_jsonl(tmp_path / "in.jsonl", rows)), output, embeddings=True)
    operator.model = model

    manifest = operator.execute(Task().try_context())

    assert [part["request_count"] for part in manifest["parts"]] == [500, 100]
    assert manifest["counts"]["succeeded"] == 600
    assert [row["key"] for row in landed_rows(output)] == [row["custom_id"] for row in rows]


def test_bedrock_sends_a_follow_up_round_of_the_hundred_records_one_job_needs(provider, tmp_path, monkeypatch):
    rows = keyed(230)  # parts of 130 and 100 records
    outcome_by_round(monkeypatch, provider, {"part 2/2": "fail_rows"})
    output = tmp_path / "out"

    manifest = waiting_submit(
        "bedrock", str(write_jsonl(tmp_path / "in.jsonl", rows)), output, max_requests_per_job=150, retry_failed_rows=2
    ).execute(Task().try_context())

    assert [(r["round"], r["sent"], r["recovered"]) for r in manifest["rounds"]] == [(0, 230, 130), (1, 100, 100)]
    assert statuses(landed_rows(output)) == {key: ("succeeded", None) for key in input_keys(rows)}


def test_a_new_group_moves_the_earlier_groups_round_keys_aside_with_its_results(provider, tmp_path, monkeypatch):
    rows = keyed(7)
    path = tmp_path / "in.jsonl"
    output = tmp_path / "out"
    task = Task()
    real_create = BatchHook.create_batch
    outcome_by_round(monkeypatch, provider, {"part 2/3": "expire"})
    waiting_submit("openai", str(write_jsonl(path, rows)), output, max_requests_per_job=3, retry_failed_rows=1).execute(
        task.try_context()
    )
    assert (output / "input_keys.round-1.jsonl").exists()
    monkeypatch.setattr(BatchHook, "create_batch", real_create)
    provider.state.config.job_outcome = "succeed"  # this time no row needs a round
    rows[4] = canonical_line("k0004", "edited")

    waiting_submit("openai", str(write_jsonl(path, rows)), output, max_requests_per_job=3, retry_failed_rows=1).execute(
        task.try_context()
    )

    (aside,) = (output / "superseded").iterdir()
    assert sorted(p.name for p in aside.iterdir()) == [
        "input_keys.jsonl",
        "input_keys.round-1.jsonl",
        "manifest.json",
        "replaced.jsonl",
        "results.jsonl",
    ]
    assert not (output / "input_keys.round-1.jsonl").exists()


def stop_at_round(operator: GenAIBatchSubmitOperator, round: int, then: Any = None) -> None:
    """Make ``operator`` wait on its rounds before ``round`` as usual; on reaching ``round`` it calls ``then`` (if
    given) and waits on it too, or, without ``then``, returns its ref unwaited, as a task still deferred would."""
    real_wait = operator.wait_for

    def wait_for(context: dict[str, Any], ref: Any, *args: Any, **kwargs: Any) -> Any:
        if max(part.round for part in ref.parts) < round:
            return real_wait(context, ref, *args, **kwargs)
        if then is None:
            return ref
        then()
        return real_wait(context, ref, *args, **kwargs)

    operator.wait_for = wait_for  # type: ignore[method-assign]


def test_a_round_whose_keys_file_another_runs_round_replaced_lands_nothing_and_says_why(
    provider, tmp_path, monkeypatch
):
    # Two runs of one DAG over the same input, given one fixed output_uri: their round-0 keys are alike, but
    # each expires another part, so each sends other rows again in its round 1, under the same keys file name.
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(7)))
    output = tmp_path / "out"
    outcome_by_round(monkeypatch, provider, {"early part 2/3": "expire", "later part 3/3": "expire"})
    early = waiting_submit("openai", path, output, max_requests_per_job=3, retry_failed_rows=1, display_name="early")
    later = waiting_submit("openai", path, output, max_requests_per_job=3, retry_failed_rows=1, display_name="later")
    stop_at_round(later, 1)
    later_run = Task("manual__2026-01-03T00:00:00+00:00")
    stop_at_round(early, 1, then=lambda: later.execute(later_run.try_context()))

    with pytest.raises(
        GenAIBatchError, match=r"input_keys\.round-1\.jsonl of round 1 of group \S+ no longer holds the keys"
    ):
        early.execute(Task().try_context())

    assert (output / "input_keys.round-1.jsonl").read_text() == '"k0006"\n'  # the later run's round, kept
    landed = json.loads((output / "manifest.json").read_text())
    assert landed["job_ref"]["idempotency_key"] == later_run.key  # the later run's landing was not moved aside


def test_a_clear_into_its_own_output_uri_after_its_rounds_keys_were_replaced_pays_nothing_again(
    provider, tmp_path, monkeypatch
):
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(7)))
    shared = tmp_path / "out"
    outcome_by_round(monkeypatch, provider, {"early part 2/3": "expire", "later part 3/3": "expire"})
    early = waiting_submit("openai", path, shared, max_requests_per_job=3, retry_failed_rows=1, display_name="early")
    later = waiting_submit("openai", path, shared, max_requests_per_job=3, retry_failed_rows=1, display_name="later")
    stop_at_round(later, 1)
    run = Task()
    stop_at_round(early, 1, then=lambda: later.execute(Task("manual__2026-01-03T00:00:00+00:00").try_context()))
    with pytest.raises(GenAIBatchError, match="no longer holds the keys that round sent again"):
        early.execute(run.try_context())
    made = len(creates(provider, "openai"))
    own = tmp_path / "early"

    manifest = waiting_submit(
        "openai", path, own, max_requests_per_job=3, retry_failed_rows=1, display_name="early"
    ).execute(run.try_context())

    assert len(creates(provider, "openai")) == made  # round 0 and the round's job re-attached to
    assert statuses(landed_rows(own)) == {key: ("succeeded", None) for key in input_keys(keyed(7))}
    assert [(r["round"], r["sent"], r["recovered"]) for r in manifest["rounds"]] == [(0, 7, 4), (1, 3, 3)]
    assert (own / "input_keys.round-1.jsonl").read_text() == '"k0003"\n"k0004"\n"k0005"\n'


def test_answers_without_keys_in_a_follow_up_round_replace_the_rows_of_their_own_positions(
    provider, tmp_path, monkeypatch
):
    provider.state.config.gemini_drop_inline_metadata = True  # answers come back without their keys
    outcome_by_round(monkeypatch, provider, {"part 2/3": "fail_rows", "part 3/3": "fail_rows"})
    items = [{"contents": [{"role": "user", "parts": [{"text": f"question {i}"}]}]} for i in range(8)]
    output = tmp_path / "out"

    manifest = waiting_submit("gemini", items, output, max_requests_per_job=3, retry_failed_rows=1).execute(
        Task().try_context()
    )

    rows = landed_rows(output)
    assert [row["key"] for row in rows] == [str(i) for i in range(8)]
    assert [row["text"] for row in rows] == [f"Answer to: question {i}" for i in range(8)]
    assert [(r["sent"], r["recovered"]) for r in manifest["rounds"]] == [(8, 3), (5, 5)]
    assert [row["key"] for row in landed_rows(output, "replaced.jsonl")] == [str(i) for i in range(3, 8)]


# --- Anthropic's own limits: 100,000 requests and 256,000,000 bytes in one batch -----------------------------


def test_anthropics_request_limit_cuts_an_input_of_one_request_more_into_two_inline_parts(tmp_path):
    rows = [canonical_line(f"k{i}", "hi") for i in range(100_001)]

    prepared = prepare_input(
        str(write_jsonl(tmp_path / "in.jsonl", rows)),
        AnthropicDialect(),
        model=MODELS["anthropic"],
        embeddings=False,
        split=SplitLimits(),
    )

    try:
        assert [part.request_count for part in prepared.parts] == [100_000, 1]
        assert all(part.inline is not None for part in prepared.parts)
        assert [line["custom_id"] for line in prepared.parts[1].inline or []] == ["k100000"]
    finally:
        prepared.cleanup()


def test_anthropics_body_limit_holds_each_inline_part_with_its_envelope(tmp_path, monkeypatch):
    limit = 1_000
    monkeypatch.setattr(
        AnthropicDialect, "limits", AnthropicDialect.limits.model_copy(update={"max_inline_bytes": limit})
    )
    rows = [canonical_line(f"k{i:02d}", "word " * (1 + i % 7)) for i in range(30)]

    prepared = prepare_input(
        str(write_jsonl(tmp_path / "in.jsonl", rows)),
        AnthropicDialect(),
        model=MODELS["anthropic"],
        embeddings=False,
        split=SplitLimits(),
    )

    try:
        sent = [[json.dumps(line, separators=(",", ":")) for line in part.inline or []] for part in prepared.parts]
        bodies = [
            len(json.dumps({"requests": [json.loads(line) for line in lines]}, separators=(",", ":"))) for lines in sent
        ]
        assert len(sent) > 1
        assert all(body <= limit for body in bodies)
        assert [json.loads(line)["custom_id"] for lines in sent for line in lines] == [row["key"] for row in rows]
    finally:
        prepared.cleanup()


@pytest.mark.parametrize("conn_id", ["anthropic", "openai", "gateway_gemini"])
def test_turning_on_retry_failed_rows_reattaches_to_the_one_job_the_input_went_as(provider, tmp_path, conn_id):
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(3)))
    output = tmp_path / "out"
    task = Task()
    first = waiting_submit(conn_id, path, output).execute(task.try_context())
    before = len(writes(provider))

    again = waiting_submit(conn_id, path, output, retry_failed_rows=1).execute(task.try_context())

    assert len(writes(provider)) == before
    assert [p["job_name"] for p in again["parts"]] == [first["job_ref"]["job_name"]]


@pytest.mark.parametrize("conn_id", ["anthropic", "openai"])
def test_a_retry_after_a_crash_between_a_rounds_creates_creates_only_the_rounds_missing_parts(
    provider, tmp_path, monkeypatch, conn_id
):
    rows = keyed(9)
    path = str(write_jsonl(tmp_path / "in.jsonl", rows))
    output = tmp_path / "out"
    task = Task()
    real_create = BatchHook.create_batch
    outcome_by_round(monkeypatch, provider, {"part 2/3": "expire", "part 3/3": "expire"})
    with_outcomes = BatchHook.create_batch

    def die_before_the_rounds_second_part(hook: BatchHook[Any], spec: Any) -> Any:
        if "round 1 part 2/2" in spec.display_name:
            raise WorkerDied("the worker died after the round's first part was created and remembered")
        return with_outcomes(hook, spec)

    monkeypatch.setattr(BatchHook, "create_batch", die_before_the_rounds_second_part)
    with pytest.raises(WorkerDied):
        waiting_submit(conn_id, path, output, max_requests_per_job=3, retry_failed_rows=1).execute(task.try_context())
    monkeypatch.setattr(BatchHook, "create_batch", real_create)
    provider.state.config.job_outcome = "succeed"

    manifest = waiting_submit(conn_id, path, output, max_requests_per_job=3, retry_failed_rows=1).execute(
        task.try_context()
    )

    assert len(creates(provider, conn_id)) == 5  # three parts, then the round's two, each once
    assert [(r["round"], r["sent"], r["recovered"]) for r in manifest["rounds"]] == [(0, 9, 3), (1, 6, 6)]
    assert statuses(landed_rows(output)) == {key: ("succeeded", None) for key in input_keys(rows)}


def test_a_follow_up_round_of_several_parts_waits_under_the_cap_and_each_part_keeps_its_title(
    provider, tmp_path, monkeypatch
):
    rows = keyed(9)
    outcome_by_round(monkeypatch, provider, {"part 2/3": "expire", "part 3/3": "expire"})
    output = tmp_path / "out"

    manifest = waiting_submit(
        "openai",
        str(write_jsonl(tmp_path / "in.jsonl", rows)),
        output,
        max_requests_per_job=3,
        max_concurrent_jobs=1,
        retry_failed_rows=1,
    ).execute(Task().try_context())

    names = [entry["json"]["metadata"]["display_name"] for entry in creates(provider, "openai")]
    assert names == [
        "nightly part 1/3",
        "nightly part 2/3",
        "nightly part 3/3",
        "nightly round 1 part 1/2",
        "nightly round 1 part 2/2",
    ]
    assert [(r["round"], r["sent"], r["recovered"]) for r in manifest["rounds"]] == [(0, 9, 3), (1, 6, 6)]
    assert statuses(landed_rows(output)) == {key: ("succeeded", None) for key in input_keys(rows)}


# --- Vertex AI: an input in Cloud Storage, cut into parts uploaded beside it ---------------------------------


@pytest.fixture
def vertex_conn(
    monkeypatch: pytest.MonkeyPatch, vertex_emulator: EmulatorServer, gcs_server: GcsServer, vertex_bucket: str
) -> str:
    conn = {
        "conn_type": "genaivertex",
        "host": f"{vertex_emulator.base_url}/vertex",
        "password": json.dumps(service_account_info(f"{vertex_emulator.base_url}/vertex/token")),
        "extra": {
            "location": "us-central1",
            "staging_gcs_uri": f"gs://{vertex_bucket}/staging",
            "output_gcs_uri": f"gs://{vertex_bucket}/out",
            "gcs_endpoint_url": gcs_server.endpoint_url,
            "bigquery_endpoint_url": vertex_emulator.base_url,
            "retry_max_wait": 0,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_VERTEX_SPLIT", json.dumps(conn))
    return "vertex_split"


def test_a_vertex_input_in_cloud_storage_split_into_parts_lands_its_keys_in_order(
    vertex_conn, vertex_emulator, gcs_server, vertex_bucket, tmp_path
):
    rows = keyed(7)
    uri = gcs_server.put(
        f"gs://{vertex_bucket}/in/requests.jsonl", b"".join(json.dumps(row).encode() + b"\n" for row in rows)
    )
    output = tmp_path / "out"
    operator = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=vertex_conn,
        model="gemini-2.5-flash",
        input=uri,
        display_name="nightly",
        output_uri=str(output),
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.05,
        max_requests_per_job=3,
    )

    manifest = operator.execute(Task().try_context())

    assert len(manifest["parts"]) == 3 == len(vertex_emulator.jobs())
    assert [row["key"] for row in landed_rows(output)] == input_keys(rows)
    assert {row["status"] for row in landed_rows(output)} == {"succeeded"}


def test_a_vertex_submit_naming_a_tuned_models_endpoint_fails_before_anything_is_uploaded_or_created(
    vertex_conn, vertex_emulator, gcs_server, vertex_bucket, tmp_path
):
    operator = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=vertex_conn,
        model="projects/genai-batch-test/locations/us-central1/endpoints/4567",
        input=str(write_jsonl(tmp_path / "in.jsonl", keyed(2))),
        display_name="nightly",
        deferrable=False,
    )

    with pytest.raises(GenAIBatchError, match="give a tuned model as projects/<project>/locations/<location>/models/"):
        operator.execute(Task().try_context())

    assert gcs_server.list(f"gs://{vertex_bucket}/staging/") == []
    assert vertex_emulator.jobs() == []


def test_vertex_rows_lost_to_a_service_error_are_recovered_by_a_follow_up_round(
    vertex_conn, vertex_emulator, gcs_server, vertex_bucket, tmp_path, monkeypatch
):
    real_create = BatchHook.create_batch

    def create(hook: BatchHook[Any], spec: Any) -> Any:
        vertex_emulator.config(vertex_failed_rows=0 if "round" in spec.display_name else 1)
        return real_create(hook, spec)

    monkeypatch.setattr(BatchHook, "create_batch", create)
    rows = keyed(7)
    output = tmp_path / "out"
    operator = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=vertex_conn,
        model="gemini-2.5-flash",
        input=str(write_jsonl(tmp_path / "in.jsonl", rows)),
        display_name="nightly",
        output_uri=str(output),
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.05,
        max_requests_per_job=3,
        retry_failed_rows=1,
    )

    manifest = operator.execute(Task().try_context())

    assert [(r["round"], r["sent"], r["recovered"]) for r in manifest["rounds"]] == [(0, 7, 4), (1, 3, 3)]
    assert statuses(landed_rows(output)) == {key: ("succeeded", None) for key in input_keys(rows)}


@pytest.mark.parametrize("conn_id", ["openai", "anthropic"])
def test_a_clear_with_retry_failed_rows_turned_off_keeps_the_rows_its_rounds_recovered(
    provider, tmp_path, monkeypatch, conn_id
):
    real_create = BatchHook.create_batch

    def round_zero_expires(hook: BatchHook[Any], spec: Any) -> Any:
        provider.state.config.job_outcome = "succeed" if "round" in spec.display_name else "expire"
        return real_create(hook, spec)

    monkeypatch.setattr(BatchHook, "create_batch", round_zero_expires)
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(3)))
    task = Task()
    first = waiting_submit(conn_id, path, output, retry_failed_rows=1).execute(task.try_context())
    assert first["counts"]["succeeded"] == 3
    landed = (output / "results.jsonl").read_bytes()
    before = len(writes(provider))

    again = waiting_submit(conn_id, path, output).execute(task.try_context())

    assert len(writes(provider)) == before
    assert again["counts"]["succeeded"] == 3
    assert (output / "results.jsonl").read_bytes() == landed


def test_an_edit_mid_round_warns_of_the_earlier_rounds_jobs_still_running(provider, tmp_path, monkeypatch, caplog):
    real_create = BatchHook.create_batch

    def round_one_keeps_running(hook: BatchHook[Any], spec: Any) -> Any:
        provider.state.config.job_outcome = "expire" if "part 2/3" in spec.display_name else "succeed"
        provider.state.config.running_seconds = 3600 if "round 1" in spec.display_name else 0
        return real_create(hook, spec)

    monkeypatch.setattr(BatchHook, "create_batch", round_one_keeps_running)
    rows = keyed(7)
    path = tmp_path / "in.jsonl"
    output = tmp_path / "out"
    task = Task()
    first = waiting_submit("openai", str(write_jsonl(path, rows)), output, max_requests_per_job=3, retry_failed_rows=1)
    stop_at_round(first, 1)
    sent = first.execute(task.try_context())
    (round_one,) = [part.job_name for part in sent.parts if part.round == 1]
    rows[3] = canonical_line("k0003", "edited")  # a row the round sent: the next round is another job
    again = waiting_submit("openai", str(write_jsonl(path, rows)), output, max_requests_per_job=3, retry_failed_rows=1)
    stop_at_round(again, 1)
    capture_log(again, caplog)

    again.execute(task.try_context())

    assert any(
        message.startswith(f"{round_one} is still JOB_STATE_RUNNING and no longer waited on by this task")
        for message in log_messages(caplog, logging.WARNING)
    )


def test_a_clear_that_finds_no_stored_ref_keeps_an_expired_part_whose_rows_a_round_sent_again(
    provider, tmp_path, monkeypatch
):
    # Airflow before 3.3 keeps no task state across a clear (and a clear wipes XCom): the jobs are found by key
    outcome_by_round(monkeypatch, provider, {"part 2/3": "expire"})
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(7)))
    first = waiting_submit("openai", path, output, max_requests_per_job=3, retry_failed_rows=1).execute(
        Task().try_context()
    )
    landed = (output / "results.jsonl").read_bytes()
    made = len(creates(provider, "openai"))

    again = waiting_submit("openai", path, output, max_requests_per_job=3, retry_failed_rows=1).execute(
        Task().try_context()
    )

    assert len(creates(provider, "openai")) == made
    assert [p["job_name"] for p in again["parts"]] == [p["job_name"] for p in first["parts"]]
    assert (output / "results.jsonl").read_bytes() == landed


def test_a_clear_that_finds_no_stored_ref_keeps_an_expired_rounds_job_whose_rows_the_next_round_sent_again(
    provider, tmp_path, monkeypatch
):
    outcome_by_round(monkeypatch, provider, {"part 2/3": "expire", "round 1": "expire"})
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(7)))
    first = waiting_submit("openai", path, output, max_requests_per_job=3, retry_failed_rows=2).execute(
        Task().try_context()
    )
    assert [r["round"] for r in first["rounds"]] == [0, 1, 2]
    landed = (output / "results.jsonl").read_bytes()
    made = len(creates(provider, "openai"))

    again = waiting_submit("openai", path, output, max_requests_per_job=3, retry_failed_rows=2).execute(
        Task().try_context()
    )

    assert len(creates(provider, "openai")) == made
    assert [p["job_name"] for p in again["parts"]] == [p["job_name"] for p in first["parts"]]
    assert (output / "results.jsonl").read_bytes() == landed


@pytest.mark.parametrize("conn_id", ["openai", "gemini"])
@pytest.mark.parametrize("outcome", ["expire", "fail_rows"])
def test_a_clear_that_finds_no_stored_ref_with_rounds_turned_off_reattaches_to_a_one_job_input_and_its_rounds(
    provider, tmp_path, monkeypatch, conn_id, outcome
):
    # no task state store (Airflow before 3.3): the one job and its round are found by key, neither paid for again
    real_create = BatchHook.create_batch

    def round_zero_ends_so(hook: BatchHook[Any], spec: Any) -> Any:
        provider.state.config.job_outcome = "succeed" if "round" in spec.display_name else outcome
        return real_create(hook, spec)

    monkeypatch.setattr(BatchHook, "create_batch", round_zero_ends_so)
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(3)))
    first = waiting_submit(conn_id, path, output, retry_failed_rows=1).execute(Task().try_context())
    assert first["counts"]["succeeded"] == 3
    landed = (output / "results.jsonl").read_bytes()
    made = len(creates(provider, conn_id))

    again = waiting_submit(conn_id, path, output).execute(Task().try_context())

    assert len(creates(provider, conn_id)) == made
    assert [p["job_name"] for p in again["parts"]] == [p["job_name"] for p in first["parts"]]
    assert again["counts"]["succeeded"] == 3
    assert (output / "results.jsonl").read_bytes() == landed


@pytest.mark.parametrize(("first", "then"), [(1, 0), (2, 1)])
def test_a_clear_that_finds_no_stored_ref_with_fewer_rounds_keeps_every_round_an_earlier_try_sent(
    provider, tmp_path, monkeypatch, first, then
):
    outcome_by_round(monkeypatch, provider, {"part 2/3": "expire", "round 1": "expire"})
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(7)))
    before = waiting_submit("openai", path, output, max_requests_per_job=3, retry_failed_rows=first).execute(
        Task().try_context()
    )
    assert [r["round"] for r in before["rounds"]] == list(range(first + 1))
    landed = (output / "results.jsonl").read_bytes()
    made = len(creates(provider, "openai"))

    again = waiting_submit("openai", path, output, max_requests_per_job=3, retry_failed_rows=then).execute(
        Task().try_context()
    )

    assert len(creates(provider, "openai")) == made
    assert [p["job_name"] for p in again["parts"]] == [p["job_name"] for p in before["parts"]]
    assert (output / "results.jsonl").read_bytes() == landed


def test_a_clear_that_finds_no_stored_ref_sends_no_round_an_earlier_try_made_for_rows_since_edited(
    provider, tmp_path, monkeypatch
):
    outcome_by_round(monkeypatch, provider, {"part 2/2": "expire"})
    rows = keyed(6)
    path = tmp_path / "in.jsonl"
    output = tmp_path / "out"
    waiting_submit("openai", str(write_jsonl(path, rows)), output, max_requests_per_job=3, retry_failed_rows=1).execute(
        Task().try_context()
    )
    made = len(creates(provider, "openai"))
    rows[4] = canonical_line("k0004", "edited question")
    write_jsonl(path, rows)

    again = waiting_submit("openai", str(path), output, max_requests_per_job=3).execute(Task().try_context())

    assert len(creates(provider, "openai")) == made + 1  # the edited part alone; no round for its rows
    assert [r["round"] for r in again["rounds"]] == [0]
    assert [key for key, (status, _) in statuses(landed_rows(output)).items() if status == "expired"] == [
        "k0003",
        "k0004",
        "k0005",
    ]


def test_a_follow_up_round_taking_the_group_past_max_parts_fails_before_it_uploads_or_creates_anything(
    provider, tmp_path, monkeypatch
):
    monkeypatch.setattr(submit_module, "MAX_PARTS", 4)  # three parts, then a round of two: five jobs in one ref
    outcome_by_round(monkeypatch, provider, {"part 2/3": "expire", "part 3/3": "expire"})
    output = tmp_path / "out"
    operator = waiting_submit(
        "openai", str(write_jsonl(tmp_path / "in.jsonl", keyed(9))), output, max_requests_per_job=3, retry_failed_rows=1
    )

    with pytest.raises(InputValidationError, match=r"round 1 would go as 2 jobs, taking this task to 5 jobs, over"):
        operator.execute(Task().try_context())

    assert len(creates(provider, "openai")) == 3
    assert sum(1 for entry in writes(provider) if entry["path"].endswith("/files")) == 3
    assert not (output / "input_keys.round-1.jsonl").exists()
    assert [key for key, (status, _) in statuses(landed_rows(output)).items() if status == "expired"] == [
        f"k{i:04d}" for i in range(3, 9)
    ]


def test_a_clear_after_a_rounds_job_was_deleted_at_the_provider_sends_its_rows_again_and_lands_them(
    provider, tmp_path, monkeypatch
):
    outcome_by_round(monkeypatch, provider, {"part 2/3": "expire"})
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(7)))
    task = Task()
    first = waiting_submit("openai", path, output, max_requests_per_job=3, retry_failed_rows=1).execute(
        task.try_context()
    )
    (round_one,) = [p["job_name"] for p in first["parts"] if p["round"] == 1]
    record = provider.state.store.get_job(round_one)
    assert record is not None
    provider.state.store.delete_job(record)  # the provider no longer has it (deleted, or aged out)

    again = waiting_submit("openai", path, output, max_requests_per_job=3, retry_failed_rows=1).execute(
        task.try_context()
    )

    assert [p["job_name"] for p in again["parts"]][:3] == [p["job_name"] for p in first["parts"]][:3]
    assert round_one not in [p["job_name"] for p in again["parts"]]
    assert len(creates(provider, "openai")) == 5  # three parts, the round, the round again: its answers were gone
    assert statuses(landed_rows(output)) == {key: ("succeeded", None) for key in input_keys(keyed(7))}


@pytest.mark.parametrize("conn_id", ["openai", "gemini", "anthropic"])
def test_a_clear_after_a_part_whose_rows_a_round_answered_was_deleted_pays_for_nothing_again(
    provider, tmp_path, monkeypatch, conn_id
):
    outcome_by_round(monkeypatch, provider, {"part 2/3": "expire"})
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(7)))
    task = Task()
    first = waiting_submit(conn_id, path, output, max_requests_per_job=3, retry_failed_rows=1).execute(
        task.try_context()
    )
    expired = first["parts"][1]["job_name"]
    record = provider.state.store.get_job(expired)
    assert record is not None
    provider.state.store.delete_job(record)  # the provider no longer has it (deleted, or aged out)
    landed = (output / "results.jsonl").read_bytes()
    made = len(creates(provider, conn_id))

    for _ in range(2):  # and a later clear remembers it is gone
        again = waiting_submit(conn_id, path, output, max_requests_per_job=3, retry_failed_rows=1).execute(
            task.try_context()
        )

    assert len(creates(provider, conn_id)) == made  # round 1 answered every row of it: not paid for again
    assert (output / "results.jsonl").read_bytes() == landed
    gone = again["parts"][1]
    assert (gone["job_name"], gone["state"]) == (expired, "JOB_STATE_UNSPECIFIED")
    assert gone["error_message"].startswith("gone at the provider")
    assert [p["job_name"] for p in again["parts"]] == [p["job_name"] for p in first["parts"]]


@pytest.mark.parametrize("conn_id", ["openai", "anthropic"])
def test_a_clear_after_a_rounds_job_whose_rows_the_next_round_answered_was_deleted_pays_for_nothing_again(
    provider, tmp_path, monkeypatch, conn_id
):
    outcome_by_round(monkeypatch, provider, {"part 2/3": "expire", "round 1": "expire"})
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(7)))
    task = Task()
    settings = {"max_requests_per_job": 3, "retry_failed_rows": 2}
    first = waiting_submit(conn_id, path, output, **settings).execute(task.try_context())
    (round_one,) = [p["job_name"] for p in first["parts"] if p["round"] == 1]
    record = provider.state.store.get_job(round_one)
    assert record is not None
    provider.state.store.delete_job(record)  # round 2 answered every row of it
    landed = (output / "results.jsonl").read_bytes()
    made = len(creates(provider, conn_id))

    again = waiting_submit(conn_id, path, output, **settings).execute(task.try_context())

    assert len(creates(provider, conn_id)) == made
    assert (output / "results.jsonl").read_bytes() == landed
    assert [r["round"] for r in again["rounds"]] == [0, 1, 2]
    assert [p["job_name"] for p in again["parts"]] == [p["job_name"] for p in first["parts"]]


def test_a_clear_after_a_part_no_round_answered_was_deleted_and_its_landed_results_too_sends_that_part_again_alone(
    provider, tmp_path, monkeypatch
):
    outcome_by_round(monkeypatch, provider, {"part 3/3": "expire"})
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(7)))
    task = Task()
    first = waiting_submit("openai", path, output, max_requests_per_job=3, retry_failed_rows=1).execute(
        task.try_context()
    )
    answered = first["parts"][1]["job_name"]  # its rows succeeded: no round sent them, their answers were its own
    record = provider.state.store.get_job(answered)
    assert record is not None
    provider.state.store.delete_job(record)
    (output / "manifest.json").unlink()  # nothing shows any more that the landed rows are its answers
    made = len(creates(provider, "openai"))

    again = waiting_submit("openai", path, output, max_requests_per_job=3, retry_failed_rows=1).execute(
        task.try_context()
    )

    assert len(creates(provider, "openai")) == made + 1  # part 2 alone; round 1 is found again by key
    assert again["parts"][1]["job_name"] not in (answered, None)
    assert statuses(landed_rows(output)) == {key: ("succeeded", None) for key in input_keys(keyed(7))}


@pytest.mark.parametrize("conn_id", ["openai", "gemini", "anthropic", "gateway_gemini"])
def test_an_edit_to_another_part_keeps_an_expired_part_whose_rows_a_round_sent_again(
    provider, tmp_path, monkeypatch, conn_id
):
    outcome_by_round(monkeypatch, provider, {"part 2/3": "expire"})
    rows = keyed(9)
    path = tmp_path / "in.jsonl"
    output = tmp_path / "out"
    task = Task()
    first = waiting_submit(
        conn_id, str(write_jsonl(path, rows)), output, max_requests_per_job=3, retry_failed_rows=1
    ).execute(task.try_context())
    made = len(creates(provider, conn_id))
    rows[7] = canonical_line("k0007", "edited question")  # in part 3
    write_jsonl(path, rows)

    again = waiting_submit(conn_id, str(path), output, max_requests_per_job=3, retry_failed_rows=1).execute(
        task.try_context()
    )

    before, after = [p["job_name"] for p in first["parts"]], [p["job_name"] for p in again["parts"]]
    assert after[:2] == before[:2]  # part 2 expired, but round 1 sent its rows again: not paid for twice
    # part 3 alone; round 1 is found again: by key, or in the ref where the provider cannot look jobs up by key
    assert len(creates(provider, conn_id)) == made + 1
    landed = statuses(landed_rows(output))
    assert landed == {key: ("succeeded", None) for key in input_keys(rows)}


@pytest.mark.parametrize("conn_id", ["anthropic", "gateway_gemini"])
def test_a_retry_after_a_death_while_a_clear_sends_an_edited_part_keeps_the_earlier_round(
    provider, tmp_path, monkeypatch, conn_id
):
    outcome_by_round(monkeypatch, provider, {"part 2/3": "expire"})
    rows = keyed(9)
    path = tmp_path / "in.jsonl"
    output = tmp_path / "out"
    task = Task()
    settings = {"max_requests_per_job": 3, "retry_failed_rows": 1}
    waiting_submit(conn_id, str(write_jsonl(path, rows)), output, **settings).execute(task.try_context())
    made = len(creates(provider, conn_id))
    rows[7] = canonical_line("k0007", "edited question")  # in part 3
    write_jsonl(path, rows)
    dying = task.try_context()
    dying["ti"] = DiesAtTheRefsXCom(run_id=task.run_id, xcom=task.xcom)
    with pytest.raises(WorkerDied):  # a clear creates part 3 again, remembers it, then the worker dies
        waiting_submit(conn_id, str(path), output, **settings).execute(dying)

    waiting_submit(conn_id, str(path), output, **settings).execute(task.try_context())

    assert len(creates(provider, conn_id)) == made + 1  # part 3 alone: round 1 answered part 2's rows already
    assert statuses(landed_rows(output)) == {key: ("succeeded", None) for key in input_keys(rows)}


def test_a_retry_after_a_death_while_a_clear_without_state_found_the_rounds_again_pays_for_nothing(
    provider, tmp_path, monkeypatch
):
    outcome_by_round(monkeypatch, provider, {"part 2/3": "expire"})
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(7)))
    task = Task()
    settings = {"max_requests_per_job": 3, "retry_failed_rows": 1}
    first = waiting_submit("openai", path, output, **settings).execute(task.try_context())
    made = len(creates(provider, "openai"))
    task.store, task.xcom = DictStateStore(), {}  # a clear with the task state cleared ([state_store] clear_on_success)
    dying = task.try_context()
    dying["ti"] = DiesAtTheRefsXCom(run_id=task.run_id, xcom=task.xcom)
    with pytest.raises(WorkerDied):  # it stores round 0 as found by key, before its follow-up finds round 1 again
        waiting_submit("openai", path, output, **settings).execute(dying)

    again = waiting_submit("openai", path, output, **settings).execute(task.try_context())

    assert len(creates(provider, "openai")) == made  # the expired part's rows were answered by round 1
    assert [p["job_name"] for p in again["parts"]] == [p["job_name"] for p in first["parts"]]


def input_files(emulator: InProcessEmulator, conn_id: str) -> list[str]:
    """The inputs ``waiting_submit`` uploaded that ``conn_id``'s provider stores (its display name, not results)."""
    return [f.file_id for f in emulator.state.store.list_files(conn_id) if (f.display_name or "").startswith("nightly")]


@pytest.mark.parametrize("conn_id", ["openai", "gemini"])
def test_a_retry_while_parts_wait_for_a_slot_uses_their_uploads_and_leaves_no_second_copy(provider, tmp_path, conn_id):
    rows = keyed(9)
    path = str(write_jsonl(tmp_path / "in.jsonl", rows))
    output = tmp_path / "out"
    task = Task()
    settings = {"max_requests_per_job": 3, "max_concurrent_jobs": 1}
    first = waiting_submit(conn_id, path, output, **settings)
    stop_at_round(first, 0)  # the worker dies while parts 2 and 3 wait for a slot
    ref = first.execute(task.try_context())
    assert len([part.upload for part in ref.parts if part.upload is not None]) == 2
    assert len(input_files(provider, conn_id)) == 3

    manifest = waiting_submit(conn_id, path, output, **settings).execute(task.try_context())

    assert len(input_files(provider, conn_id)) == 3  # no part uploaded a second time
    assert len(creates(provider, conn_id)) == 3
    assert statuses(landed_rows(output)) == {key: ("succeeded", None) for key in input_keys(rows)}
    assert manifest["counts"]["succeeded"] == 9


def test_a_waiting_part_whose_earlier_upload_holds_other_bytes_is_uploaded_again(provider, tmp_path):
    rows = keyed(9)
    path = str(write_jsonl(tmp_path / "in.jsonl", rows))
    output = tmp_path / "out"
    task = Task()
    settings = {"max_requests_per_job": 3, "max_concurrent_jobs": 1}
    first = waiting_submit("gemini", path, output, **settings)
    stop_at_round(first, 0)
    ref = first.execute(task.try_context())
    cut = next(part.upload for part in ref.parts if part.upload is not None)
    record = provider.state.store.files[("gemini", cut.rsplit("/", 1)[-1])]
    record.size_bytes -= 1  # stored short (by a proxy that cut its body, say)

    waiting_submit("gemini", path, output, **settings).execute(task.try_context())

    assert len(input_files(provider, "gemini")) == 4  # that part went again; the short file is left as it is
    assert statuses(landed_rows(output)) == {key: ("succeeded", None) for key in input_keys(rows)}


@pytest.mark.parametrize("conn_id", ["openai", "gemini"])
def test_a_waiting_part_whose_earlier_upload_is_gone_is_uploaded_again(provider, tmp_path, conn_id):
    rows = keyed(9)
    path = str(write_jsonl(tmp_path / "in.jsonl", rows))
    output = tmp_path / "out"
    task = Task()
    settings = {"max_requests_per_job": 3, "max_concurrent_jobs": 1}
    first = waiting_submit(conn_id, path, output, **settings)
    stop_at_round(first, 0)
    ref = first.execute(task.try_context())
    gone = next(part.upload for part in ref.parts if part.upload is not None)
    provider.state.store.delete_file(conn_id, gone.rsplit("/", 1)[-1])  # a Gemini file expires after 48 hours

    waiting_submit(conn_id, path, output, **settings).execute(task.try_context())

    assert len(input_files(provider, conn_id)) == 3  # that part uploaded again, the other waiting part's file used
    assert statuses(landed_rows(output)) == {key: ("succeeded", None) for key in input_keys(rows)}


@pytest.mark.parametrize("conn_id", ["openai", "gemini"])
def test_a_clear_while_a_rounds_part_waits_for_a_slot_uploads_its_lines_again(provider, tmp_path, monkeypatch, conn_id):
    real_create = BatchHook.create_batch

    def round_zero_expires_and_round_one_runs_a_while(hook: BatchHook[Any], spec: Any) -> Any:
        in_round = "round" in spec.display_name
        provider.state.config.job_outcome = "succeed" if in_round or "part 1/3" in spec.display_name else "expire"
        provider.state.config.running_seconds = 0.5 if in_round else 0
        return real_create(hook, spec)

    monkeypatch.setattr(BatchHook, "create_batch", round_zero_expires_and_round_one_runs_a_while)
    rows = keyed(9)
    path = str(write_jsonl(tmp_path / "in.jsonl", rows))
    output = tmp_path / "out"
    task = Task()
    settings = {"max_requests_per_job": 3, "retry_failed_rows": 1, "max_concurrent_jobs": 1}
    first = waiting_submit(conn_id, path, output, **settings)
    stop_at_round(first, 1)  # the task is cleared while round 1's second part waits for a slot
    (waiting,) = [part for part in first.execute(task.try_context()).parts if part.job_name is None]
    assert waiting.upload is not None
    provider.state.store.delete_file(conn_id, waiting.upload)  # gone since (a Gemini file expires after 48 hours)
    made = len(creates(provider, conn_id))

    manifest = waiting_submit(conn_id, path, output, **settings).execute(task.try_context())

    assert len(creates(provider, conn_id)) == made + 1  # the waiting part alone, from its lines uploaded again
    assert [(r["round"], r["sent"], r["recovered"]) for r in manifest["rounds"]] == [(0, 9, 3), (1, 6, 6)]
    assert statuses(landed_rows(output)) == {key: ("succeeded", None) for key in input_keys(rows)}


@pytest.mark.parametrize(
    ("conn_id", "count", "per_job", "outcome"),
    [
        ("openai", 7, 3, "expire"),
        ("gemini", 7, 3, "expire"),
        ("openai", 3, None, "expire"),
        ("openai", 7, 3, "fail_rows"),
        ("gemini", 3, None, "fail_rows"),
    ],
)
def test_a_clear_that_no_longer_waits_and_finds_no_stored_ref_hands_the_sensor_the_jobs_and_rounds_sent_before(
    provider, tmp_path, monkeypatch, conn_id, count, per_job, outcome
):
    real_create = BatchHook.create_batch

    def round_zero_expires_in_part_2(hook: BatchHook[Any], spec: Any) -> Any:
        ends_so = "round" not in spec.display_name and ("part 2/3" in spec.display_name or per_job is None)
        provider.state.config.job_outcome = outcome if ends_so else "succeed"
        return real_create(hook, spec)

    monkeypatch.setattr(BatchHook, "create_batch", round_zero_expires_in_part_2)
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(count)))
    first = waiting_submit(conn_id, path, output, max_requests_per_job=per_job, retry_failed_rows=1).execute(
        Task().try_context()
    )
    assert [r["round"] for r in first["rounds"]] == [0, 1]
    landed = (output / "results.jsonl").read_bytes()
    made = len(creates(provider, conn_id))
    submit = GenAIBatchSubmitOperator(  # the DAG now lands with a sensor; Airflow before 3.3 keeps no task state
        task_id="submit",
        conn_id=conn_id,
        model=MODELS[conn_id],
        input=path,
        output_uri=str(output),
        max_requests_per_job=per_job,
        display_name="nightly",
    )

    ref = submit.execute(Task().try_context())
    manifest = sensor_for(ref, output).execute(Task().try_context())

    assert len(creates(provider, conn_id)) == made
    assert [p["job_name"] for p in manifest["parts"]] == [p["job_name"] for p in first["parts"]]
    assert (output / "results.jsonl").read_bytes() == landed


@dataclass
class RoundOneEdited:
    """A split input (9 rows, 3 a part, one follow-up round) whose part 2 expired and whose round 1 answered its rows,
    then one line of part 1 edited so that part 1's new job fails every row: round 1 now holds other rows."""

    task: Task
    path: Path
    output: Path
    rows: list[dict[str, Any]]
    settings: dict[str, Any]
    first: dict[str, Any]

    def submit(self, conn_id: str, context: dict[str, Any] | None = None) -> Any:
        """The waiting submit over the edited input, in a try of the same task unless ``context`` says otherwise."""
        operator = waiting_submit(conn_id, str(self.path), self.output, **self.settings)
        return operator.execute(self.task.try_context() if context is None else context)


def round_one_edited(provider: Any, tmp_path: Path, monkeypatch: Any, conn_id: str) -> RoundOneEdited:
    """Submit and land :class:`RoundOneEdited`'s input, then edit it (nothing more is submitted)."""
    outcomes = {"part 2/3": "expire"}
    outcome_by_round(monkeypatch, provider, outcomes)
    rows = keyed(9)
    path = tmp_path / "in.jsonl"
    output = tmp_path / "out"
    task = Task()
    settings = {"max_requests_per_job": 3, "retry_failed_rows": 1}
    first = waiting_submit(conn_id, str(write_jsonl(path, rows)), output, **settings).execute(task.try_context())
    rows[1] = canonical_line("k0001", "edited question")  # in part 1, whose new job fails every row (server error)
    write_jsonl(path, rows)
    outcomes["part 1/3"] = "fail_rows"
    return RoundOneEdited(task, path, output, rows, settings, first)


@pytest.mark.parametrize("conn_id", ["openai", "anthropic", "gemini", "gateway_openai"])
def test_a_clear_whose_edit_makes_round_one_send_other_rows_pays_only_for_the_rows_no_round_answered(
    provider, tmp_path, monkeypatch, conn_id
):
    edited = round_one_edited(provider, tmp_path, monkeypatch, conn_id)
    rows, output, first = edited.rows, edited.output, edited.first
    assert [(r["round"], r["sent"]) for r in first["rounds"]] == [(0, 9), (1, 3)]  # round 1 answered k0003-k0005
    (answered,) = [p["job_name"] for p in first["parts"] if p["round"] == 1]
    made = len(creates(provider, conn_id))

    again = edited.submit(conn_id)

    # part 1 again, and round 1 for its three rows alone: the earlier round 1 answered part 2's rows already
    assert len(creates(provider, conn_id)) == made + 2
    round_one = [p for p in again["parts"] if p["round"] == 1]
    assert [(p["job_name"] == answered, p["request_count"]) for p in round_one] == [(True, 3), (False, 3)]
    assert [(r["round"], r["sent"], r["recovered"]) for r in again["rounds"]] == [(0, 9, 3), (1, 6, 6)]
    landed = landed_rows(output)
    assert statuses(landed) == {key: ("succeeded", None) for key in input_keys(rows)}
    texts = {row["key"]: row["text"] for row in landed}
    assert (texts["k0001"], texts["k0004"]) == ("Answer to: edited question", "Answer to: hello 4")
    replaced = landed_rows(output, "replaced.jsonl")
    assert [(row["key"], row["status"]) for row in replaced] == [
        *((f"k000{i}", "failed") for i in range(3)),
        *((f"k000{i}", "expired") for i in range(3, 6)),
    ]


@pytest.mark.parametrize(("conn_id", "rounds_now"), [("openai", 1), ("anthropic", 1), ("openai", 0), ("anthropic", 2)])
def test_a_clear_after_a_round_that_took_an_earlier_rounds_answers_pays_for_nothing_again(
    provider, tmp_path, monkeypatch, conn_id, rounds_now
):
    edited = round_one_edited(provider, tmp_path, monkeypatch, conn_id)
    output = edited.output
    carried = edited.submit(conn_id)
    landed = (output / "results.jsonl").read_bytes()
    made = len(creates(provider, conn_id))
    edited.settings["retry_failed_rows"] = rounds_now  # the DAG edited since, or not

    again = edited.submit(conn_id)

    assert len(creates(provider, conn_id)) == made
    assert [p["job_name"] for p in again["parts"]] == [p["job_name"] for p in carried["parts"]]
    assert again["rounds"] == carried["rounds"]
    assert (output / "results.jsonl").read_bytes() == landed


class DiesOnceTheRoundIsCreated(FakeTI):
    """A worker that dies when a ref naming a created part of round 1 that was sent (not carried) goes to XCom: the
    task state store was written just before."""

    def xcom_push(self, key: str, value: Any) -> None:
        parts = value.get("parts") or [] if key == JOB_REF_XCOM_KEY else []
        if any(p["round"] == 1 and p["job_name"] and not p["carried"] for p in parts):
            raise WorkerDied("the worker died after round 1 was created and stored, before the ref reached XCom")
        super().xcom_push(key, value)


@pytest.mark.parametrize("conn_id", ["openai", "anthropic"])
def test_a_retry_after_a_death_once_a_round_took_an_earlier_rounds_answers_pays_for_nothing_again(
    provider, tmp_path, monkeypatch, conn_id
):
    edited = round_one_edited(provider, tmp_path, monkeypatch, conn_id)
    rows, output, task = edited.rows, edited.output, edited.task
    made = len(creates(provider, conn_id))
    dying = task.try_context()
    dying["ti"] = DiesOnceTheRoundIsCreated(run_id=task.run_id, xcom=task.xcom)
    with pytest.raises(WorkerDied):
        edited.submit(conn_id, dying)

    again = edited.submit(conn_id)

    assert len(creates(provider, conn_id)) == made + 2  # part 1 and round 1's three rows, once each
    assert [(r["round"], r["sent"], r["recovered"]) for r in again["rounds"]] == [(0, 9, 3), (1, 6, 6)]
    texts = {row["key"]: row["text"] for row in landed_rows(output)}
    assert list(texts) == input_keys(rows)
    assert (texts["k0001"], texts["k0004"]) == ("Answer to: edited question", "Answer to: hello 4")


@pytest.mark.parametrize(
    ("conn_id", "count", "per_job", "rounds", "deleted"),
    [
        ("openai", 7, 3, 1, 1),
        ("openai", 7, 3, 0, 0),
        ("openai", 3, None, 1, 0),
        ("gemini", 7, 3, 0, 2),
        ("bedrock", 330, 150, 0, 1),
        ("anthropic", 7, 3, 1, 1),
        ("openai", 3, None, 0, 0),
        ("gemini", 3, None, 0, 0),
        ("anthropic", 3, None, 0, 0),
    ],
)
def test_a_clear_after_a_succeeded_part_was_deleted_at_the_provider_reads_its_landed_answers_back(
    provider, tmp_path, conn_id, count, per_job, rounds, deleted
):
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(count)))
    task = Task()
    settings = {"max_requests_per_job": per_job, "retry_failed_rows": rounds}
    first = waiting_submit(conn_id, path, output, **settings).execute(task.try_context())
    jobs = [p["job_name"] for p in first["parts"] or [{"job_name": first["job_ref"]["job_name"]}]]
    record = provider.state.store.get_job(jobs[deleted])  # every row of it succeeded
    assert record is not None
    provider.state.store.delete_job(record)  # the provider no longer has it (deleted, or aged out)
    landed = (output / "results.jsonl").read_bytes()
    made = len(creates(provider, conn_id))

    for _ in range(2):  # and a later clear reads them back again
        again = waiting_submit(conn_id, path, output, **settings).execute(task.try_context())

    assert len(creates(provider, conn_id)) == made  # its answers are in the landed results: not paid for again
    assert (output / "results.jsonl").read_bytes() == landed
    assert [p["job_name"] for p in again["parts"]] == jobs
    read_back = again["parts"][deleted]
    assert (read_back["state"], read_back["counts"]["succeeded"]) == ("JOB_STATE_SUCCEEDED", read_back["request_count"])
    assert read_back["error_message"].startswith("gone at the provider")
    assert again["state"] == "JOB_STATE_SUCCEEDED"
    assert again["usage"]["total"] == first["usage"]["total"]
    assert again["cost"]["amount"] == first["cost"]["amount"]


def test_the_log_says_a_part_whose_job_is_gone_was_read_back_and_counts_its_rows_as_succeeded(
    provider, tmp_path, caplog
):
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(7)))
    task = Task()
    first = waiting_submit("openai", path, output, max_requests_per_job=3).execute(task.try_context())
    gone = first["parts"][1]["job_name"]
    delete_at_the_provider(provider, gone)
    operator = waiting_submit("openai", path, output, max_requests_per_job=3)
    capture_log(operator, caplog)

    operator.execute(task.try_context())

    messages = log_messages(caplog)
    assert (
        "7 requests in 3 part(s): 0 created, 2 re-attached, 0 waiting for a slot (max_concurrent_jobs=None), "
        "1 gone at the provider and read back from the results landed before"
    ) in messages
    label = (
        f"group of 3 parts ({first['parts'][0]['job_name']}, {first['parts'][2]['job_name']}; 1 gone at the provider)"
    )
    assert f"{label}: 3/3 parts ended, 7/7 rows succeeded, 0 failed, 0 pending (100% done)" in [
        message.split("; tokens so far")[0] for message in messages
    ]


def one_job_submit(input: str, output: Path) -> GenAIBatchSubmitOperator:
    """A submit of an input that goes as one job, landed by a sensor (it does not wait)."""
    return GenAIBatchSubmitOperator(
        task_id="submit", conn_id="openai", model=MODELS["openai"], input=input, output_uri=str(output)
    )


def delete_at_the_provider(emulator: InProcessEmulator, job_name: str) -> None:
    """The provider no longer has ``job_name`` (deleted, or aged out: Gemini batches do after a while)."""
    record = emulator.state.store.get_job(job_name)
    assert record is not None
    emulator.state.store.delete_job(record)


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_sensor_lands_the_answers_a_one_job_input_whose_job_is_gone_had_landed(provider, tmp_path, deferrable):
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(3)))
    task = Task()
    first = sensor_for(one_job_submit(path, output).execute(task.try_context()), output).execute(Task().try_context())
    delete_at_the_provider(provider, first["job_ref"]["job_name"])
    landed = (output / "results.jsonl").read_bytes()
    made = len(creates(provider, "openai"))

    ref = one_job_submit(path, output).execute(task.try_context())
    sensor = GenAIBatchSensor(
        task_id="wait", job_ref=ref, output_uri=str(output), deferrable=deferrable, poll_interval=0.01
    )
    manifest, _ = run_deferred(sensor, Task().try_context())

    assert len(creates(provider, "openai")) == made
    assert (output / "results.jsonl").read_bytes() == landed
    assert (manifest["state"], manifest["counts"]["succeeded"]) == ("JOB_STATE_SUCCEEDED", 3)
    assert manifest["usage"]["total"] == first["usage"]["total"]


@pytest.mark.parametrize("conn_id", ["openai", "anthropic"])
def test_a_clear_with_the_task_state_emptied_reads_back_a_one_job_inputs_answers_whose_job_is_gone(
    provider, tmp_path, conn_id
):
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(3)))
    task = Task()
    first = waiting_submit(conn_id, path, output).execute(task.try_context())
    delete_at_the_provider(provider, first["job_ref"]["job_name"])
    landed = (output / "results.jsonl").read_bytes()
    made = len(creates(provider, conn_id))
    task.store, task.xcom = DictStateStore(), {}  # Airflow before 3.3, or [state_store] clear_on_success

    again = waiting_submit(conn_id, path, output).execute(task.try_context())

    assert len(creates(provider, conn_id)) == made  # the landed manifest names the job, which the provider lacks
    assert (output / "results.jsonl").read_bytes() == landed
    assert again["usage"]["total"] == first["usage"]["total"]


def edit_a_line(path: Path, output: Path) -> None:
    rows = keyed(3)
    rows[1] = canonical_line("k0001", "edited question")
    write_jsonl(path, rows)


def remove_the_manifest(path: Path, output: Path) -> None:
    (output / "manifest.json").unlink()


def move_the_results(path: Path, output: Path) -> None:
    (output / "results.jsonl").rename(output.parent / "elsewhere.jsonl")


@pytest.mark.parametrize("breakage", [edit_a_line, remove_the_manifest, move_the_results])
def test_a_one_job_input_whose_job_is_gone_is_created_again_when_the_landed_results_do_not_show_its_answers(
    provider, tmp_path, breakage
):
    output = tmp_path / "out"
    path = write_jsonl(tmp_path / "in.jsonl", keyed(3))
    task = Task()
    first = waiting_submit("openai", str(path), output).execute(task.try_context())
    delete_at_the_provider(provider, first["job_ref"]["job_name"])
    breakage(path, output)
    made = len(creates(provider, "openai"))

    again = waiting_submit("openai", str(path), output).execute(task.try_context())

    assert len(creates(provider, "openai")) == made + 1
    assert again["parts"] is None and again["job_ref"]["job_name"] != first["job_ref"]["job_name"]
    texts = {row["key"]: row["text"] for row in landed_rows(output)}
    assert texts["k0001"] == ("Answer to: edited question" if breakage is edit_a_line else "Answer to: hello 1")


def test_a_one_job_input_whose_job_is_gone_is_created_again_when_a_row_of_it_failed(provider, tmp_path):
    rows = keyed(3)
    rows[1] = canonical_line("k0001", f"refused {FAIL_MARKER}")
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", rows))
    task = Task()
    first = waiting_submit("openai", path, output).execute(task.try_context())
    assert first["counts"]["failed"] == 1
    delete_at_the_provider(provider, first["job_ref"]["job_name"])
    made = len(creates(provider, "openai"))

    waiting_submit("openai", path, output).execute(task.try_context())

    assert len(creates(provider, "openai")) == made + 1


@pytest.mark.parametrize("read_back_before", [False, True])
def test_a_one_part_group_whose_job_is_gone_reads_its_answers_back_after_retry_failed_rows_is_turned_off(
    provider, tmp_path, caplog, read_back_before
):
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(3)))
    task = Task()
    first = waiting_submit("openai", path, output, retry_failed_rows=1).execute(task.try_context())
    delete_at_the_provider(provider, first["parts"][0]["job_name"])
    if read_back_before:  # a clear with the rounds still on kept the part gone, its answers read back
        waiting_submit("openai", path, output, retry_failed_rows=1).execute(task.try_context())
    landed = (output / "results.jsonl").read_bytes()
    made = len(creates(provider, "openai"))
    operator = waiting_submit("openai", path, output)
    capture_log(operator, caplog)

    again = operator.execute(task.try_context())

    assert len(creates(provider, "openai")) == made
    assert (output / "results.jsonl").read_bytes() == landed
    assert again["parts"][0]["error_message"].startswith("gone at the provider")
    warnings = log_messages(caplog, logging.WARNING)
    assert warnings == [f"stored job {first['parts'][0]['job_name']} no longer exists; looking for another"]


def test_a_part_whose_job_is_gone_is_sent_again_when_the_landed_results_are_another_inputs(
    provider, tmp_path, monkeypatch
):
    rows = keyed(7)
    path = tmp_path / "in.jsonl"
    output = tmp_path / "out"
    task = Task()
    first = waiting_submit("openai", str(write_jsonl(path, rows)), output, max_requests_per_job=3).execute(
        task.try_context()
    )
    record = provider.state.store.get_job(first["parts"][1]["job_name"])
    assert record is not None
    provider.state.store.delete_job(record)
    rows[4] = canonical_line("k0004", "edited question")  # in the part whose job is gone: its landed answer is stale
    write_jsonl(path, rows)
    made = len(creates(provider, "openai"))

    waiting_submit("openai", str(path), output, max_requests_per_job=3).execute(task.try_context())

    assert len(creates(provider, "openai")) == made + 1
    assert {row["key"]: row["text"] for row in landed_rows(output)}["k0004"] == "Answer to: edited question"


def test_a_clear_without_state_after_a_round_took_an_earlier_rounds_answers_pays_for_nothing_again(
    provider, tmp_path, monkeypatch
):
    edited = round_one_edited(provider, tmp_path, monkeypatch, "openai")
    output, task = edited.output, edited.task
    carried = edited.submit("openai")
    landed = (output / "results.jsonl").read_bytes()
    made = len(creates(provider, "openai"))
    task.store, task.xcom = DictStateStore(), {}  # a clear with the task state cleared ([state_store] clear_on_success)

    again = edited.submit("openai")

    assert len(creates(provider, "openai")) == made
    assert again["rounds"] == carried["rounds"]
    assert (output / "results.jsonl").read_bytes() == landed


@pytest.mark.parametrize("state", ["kept", "emptied"])
def test_a_clear_that_no_longer_waits_after_a_round_took_an_earlier_rounds_answers_hands_the_sensor_them(
    provider, tmp_path, monkeypatch, state
):
    edited = round_one_edited(provider, tmp_path, monkeypatch, "openai")
    path, output, task = edited.path, edited.output, edited.task
    carried = edited.submit("openai")
    landed = (output / "results.jsonl").read_bytes()
    made = len(creates(provider, "openai"))
    if state == "emptied":
        task.store, task.xcom = DictStateStore(), {}  # Airflow before 3.3, or [state_store] clear_on_success
    submit = GenAIBatchSubmitOperator(  # the DAG now lands with a sensor
        task_id="submit",
        conn_id="openai",
        model=MODELS["openai"],
        input=str(path),
        output_uri=str(output),
        max_requests_per_job=3,
        display_name="nightly",
    )

    ref = submit.execute(task.try_context())
    manifest = sensor_for(ref, output).execute(Task().try_context())

    assert len(creates(provider, "openai")) == made
    assert [p["job_name"] for p in manifest["parts"]] == [p["job_name"] for p in carried["parts"]]
    assert (output / "results.jsonl").read_bytes() == landed


def test_a_landing_whose_read_back_answers_were_moved_away_lands_nothing_and_says_to_clear(provider, tmp_path):
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(7)))
    task = Task()
    first = waiting_submit("openai", path, output, max_requests_per_job=3).execute(task.try_context())
    record = provider.state.store.get_job(first["parts"][1]["job_name"])
    assert record is not None
    provider.state.store.delete_job(record)
    submit = waiting_submit("openai", path, output, max_requests_per_job=3)
    stop_at_round(submit, 0)  # the submit keeps the part gone; its results are moved away before they land
    ref = submit.execute(task.try_context())
    assert ref.parts[1].landed == str(output / "results.jsonl")
    (output / "results.jsonl").rename(tmp_path / "elsewhere.jsonl")

    with pytest.raises(GenAIBatchError, match=r"were to be read back from are gone .* clear the submit task"):
        sensor_for(ref.to_xcom(), output).execute(Task().try_context())


def test_a_clear_after_the_results_a_gone_part_was_to_be_read_back_from_were_deleted_sends_it_again(provider, tmp_path):
    output = tmp_path / "out"
    path = str(write_jsonl(tmp_path / "in.jsonl", keyed(7)))
    task = Task()
    first = waiting_submit("openai", path, output, max_requests_per_job=3).execute(task.try_context())
    record = provider.state.store.get_job(first["parts"][1]["job_name"])
    assert record is not None
    provider.state.store.delete_job(record)
    (output / "results.jsonl").unlink()  # the manifest stays, naming results that are no longer there
    made = len(creates(provider, "openai"))

    waiting_submit("openai", path, output, max_requests_per_job=3).execute(task.try_context())

    assert len(creates(provider, "openai")) == made + 1
    assert statuses(landed_rows(output)) == {key: ("succeeded", None) for key in input_keys(keyed(7))}


def test_a_round_sends_every_row_again_when_the_rows_no_earlier_round_answered_are_fewer_than_a_job_needs(
    provider, tmp_path, monkeypatch
):
    limits = OpenAIDialect.limits  # a provider whose jobs need at least two requests, as Bedrock's need 100
    monkeypatch.setattr(OpenAIDialect, "limits", limits.model_copy(update={"min_requests": 2}))
    outcome_by_round(monkeypatch, provider, {"part 2/3": "expire"})
    rows = keyed(9)
    path = tmp_path / "in.jsonl"
    output = tmp_path / "out"
    task = Task()
    settings = {"max_requests_per_job": 3, "retry_failed_rows": 1}
    first = waiting_submit("openai", str(write_jsonl(path, rows)), output, **settings).execute(task.try_context())
    rows[2] = canonical_line("k0002", "edited question")  # in part 1, whose new job is refused one row (429)
    write_jsonl(path, rows)
    before = {p["job_name"] for p in first["parts"]}
    hook_class = hook_class_for_provider("openai")
    real_rows = hook_class.iter_results

    def rate_limited_once(hook: Any, job: Any) -> Iterator[ResultRow]:
        for row in real_rows(hook, job):
            if row.key == "k0001" and job.name not in before and "round" not in (job.display_name or ""):
                row = ResultRow(key=row.key, status=RowStatus.FAILED, error=RowError(message="slow down", code=429))
            yield row

    monkeypatch.setattr(hook_class, "iter_results", rate_limited_once)

    again = waiting_submit("openai", str(path), output, **settings).execute(task.try_context())

    # one row left to send besides those the earlier round 1 answered: too few for a job, so the round sends all four
    assert [(r["round"], r["sent"], r["recovered"]) for r in again["rounds"]] == [(0, 9, 5), (1, 4, 4)]
    assert not any(p["carried"] for p in again["job_ref"]["parts"])
