"""The split-and-retry example against the emulator: 250,000 OpenAI requests go as five jobs and one follow-up
round, the rows that failed once with a server error are recovered, the refused ones stay failed, and one
results file holds every input key in input order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest

from airflow_provider_genai_batch.testing.emulator import FAIL_MARKER, EmulatorServer
from airflow_provider_genai_batch.testing.emulator.openai.transient import in_share
from tests.dags.conftest import DagRunner
from tests.dags.test_example_dags import _assert_green, new_run_dir, outcomes, run_dirs

DAG_ID = "genai_batch_split_and_retry"
REQUESTS = 250_000
REQUESTS_PER_JOB = 50_000
RETRYABLE_SHARE = 0.01
JOB_SECONDS = 1.0
"""How long an emulated job takes from create to its end in these runs (pending, then running: see conftest)."""


@pytest.fixture(scope="module")
def retryable_rows(dag_emulator: EmulatorServer) -> Iterator[None]:
    """OpenAI batches fail 1% of their rows once with a server error while the test runs."""
    dag_emulator.config(openai_retryable_row_share=RETRYABLE_SHARE)
    yield
    dag_emulator.config(openai_retryable_row_share=0.0)


class LandedRow(msgspec.Struct):
    """What the tests read of a landed row (its text and response are left unread: 250,000 rows)."""

    key: str
    status: str
    error: dict[str, Any] | None = None


def read_rows(path: Path) -> list[LandedRow]:
    """The rows of a landed JSONL file, in file order."""
    decoder = msgspec.json.Decoder(LandedRow)
    with path.open("rb") as lines:
        return [decoder.decode(line) for line in lines if line.strip()]


def read_input(path: Path) -> tuple[list[str], set[str]]:
    """The input's custom_ids in order, and those whose prompt carries the emulator's refusal marker."""
    keys, refused = [], set()
    with path.open("rb") as lines:
        for line in lines:
            entry = json.loads(line)
            keys.append(entry["custom_id"])
            if FAIL_MARKER in entry["body"]["messages"][0]["content"]:
                refused.add(entry["custom_id"])
    return keys, refused


def logged_at(request: dict[str, Any]) -> datetime:
    """When the emulator received a logged request."""
    return datetime.fromisoformat(request["time"].replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def landed(dag_runner: DagRunner, dag_emulator: EmulatorServer, retryable_rows: None) -> dict[str, Any]:
    """One run of the example: its folder, input keys, refused keys, emulator jobs and API requests."""
    started = datetime.now(timezone.utc)
    jobs_before = len(dag_emulator.jobs())
    root = dag_runner.data_dir / "split_and_retry"
    before = run_dirs(root)

    _assert_green(dag_runner.run(DAG_ID, "2026-11-20"))

    run = new_run_dir(root, before)
    keys, refused = read_input(run / "input.jsonl")
    return {
        "run": run,
        "keys": keys,
        "refused": refused,
        "injected": [key for key in keys if key not in refused and in_share(key, RETRYABLE_SHARE)],
        "rows": read_rows(run / "results" / "results.jsonl"),
        "replaced": read_rows(run / "results" / "replaced.jsonl"),
        "manifest": json.loads((run / "results" / "manifest.json").read_text()),
        "jobs": dag_emulator.jobs()[jobs_before:],
        "requests": [r for r in dag_emulator.requests() if logged_at(r) >= started],
    }


def test_the_results_hold_every_input_key_once_in_input_order(landed: dict[str, Any]) -> None:
    assert len(landed["keys"]) == REQUESTS
    assert [row.key for row in landed["rows"]] == landed["keys"]


def test_the_rows_that_failed_once_with_a_server_error_were_recovered_by_the_follow_up_round(
    landed: dict[str, Any],
) -> None:
    replaced = landed["replaced"]
    status = {row.key: row.status for row in landed["rows"]}

    assert landed["injected"]
    assert [row.key for row in replaced] == landed["injected"]
    assert {(row.status, row.error["code"] if row.error else None) for row in replaced} == {("failed", "server_error")}
    assert {status[key] for key in landed["injected"]} == {"succeeded"}


def test_the_refused_rows_are_still_failed_and_were_not_sent_again(landed: dict[str, Any]) -> None:
    failed = {row.key: row.error for row in landed["rows"] if row.status != "succeeded"}

    assert set(failed) == landed["refused"] and len(landed["refused"]) == REQUESTS // REQUESTS_PER_JOB
    assert {error["code"] if error else None for error in failed.values()} == {"invalid_request_error"}
    assert outcomes(landed["manifest"]) == {
        "total": REQUESTS,
        "succeeded": REQUESTS - len(landed["refused"]),
        "failed": len(landed["refused"]),
        "cancelled": 0,
        "expired": 0,
        "missing": 0,
    }


def test_the_manifest_lists_five_parts_and_the_follow_up_round(landed: dict[str, Any]) -> None:
    manifest, injected = landed["manifest"], landed["injected"]

    parts = [(part["round"], part["index"], part["request_count"]) for part in manifest["parts"]]
    assert parts == [(0, index, REQUESTS_PER_JOB) for index in range(5)] + [(1, 5, len(injected))]
    rounds = [(r["round"], r["parts"], r["sent"], r["recovered"], r["still_failing"]) for r in manifest["rounds"]]
    failed_first = len(injected) + len(landed["refused"])
    assert rounds == [
        (0, [0, 1, 2, 3, 4], REQUESTS, REQUESTS - failed_first, failed_first),
        (1, [5], len(injected), len(injected), 0),
    ]
    job_names = [part["job_name"] for part in manifest["parts"]]
    assert sorted(job_names) == sorted(job["name"] for job in landed["jobs"])
    assert {job["state"] for job in landed["jobs"]} == {"completed"}


def test_no_more_than_three_parts_ran_at_once_the_last_two_were_created_as_the_first_ones_ended(
    landed: dict[str, Any],
) -> None:
    round_zero = landed["jobs"][:5]  # oldest first: the follow-up round's job is the sixth
    created = [datetime.fromisoformat(job["created"].replace("Z", "+00:00")) for job in round_zero]
    first_ended = min(created[:3]) + timedelta(seconds=JOB_SECONDS)

    assert [job["request_count"] for job in landed["jobs"]] == [REQUESTS_PER_JOB] * 5 + [len(landed["injected"])]
    assert all(moment >= first_ended for moment in created[3:])


def test_the_manifest_prices_the_tokens_of_every_round(landed: dict[str, Any]) -> None:
    manifest = landed["manifest"]

    assert manifest["usage"]["total"]["input_tokens"] > 0
    assert len(manifest["usage"]["parts"]) == len(manifest["parts"])
    assert manifest["cost"]["currency"] == "USD" and manifest["cost"]["amount"] > 0


def test_the_dry_run_planned_five_parts_and_uploaded_nothing(landed: dict[str, Any]) -> None:
    plan = (landed["run"] / "plan.txt").read_text()
    uploads = [r for r in landed["requests"] if r["method"] == "POST" and r["path"] == "/openai/v1/files"]

    assert "openai gpt-4o-mini, 5 job(s)" in plan
    assert len(uploads) == len(landed["manifest"]["parts"])
