"""The landed manifest's tokens and cost (issue 14, tokens and cost): counted from the rows while they land."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from airflow._shared.secrets_masker import redact

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.formats.results import ResultRow, RowStatus, Usage
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.models import JobState
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

from .fakes import (
    FAKE_CONN_ID,
    FakeBatchHook,
    FakeTI,
    canonical_line,
    capture_log,
    failed,
    log_messages,
    make_context,
    submit_op,
)

JOB = "batches/job-1"


@pytest.fixture
def ref(tmp_path: Path) -> BatchJobRef:
    keys = tmp_path / "submitted" / "input_keys.jsonl"
    keys.parent.mkdir()
    keys.write_text('"a"\n"b"\n"c"\n')
    return BatchJobRef(
        provider="gemini",
        conn_id=FAKE_CONN_ID,
        job_name=JOB,
        request_count=3,
        keys_uri=str(keys),
    )


def answered(key: str, prompt: int, candidates: int, thoughts: int = 0) -> ResultRow:
    meta = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "thoughtsTokenCount": thoughts,
    }
    return ResultRow(
        key=key,
        status=RowStatus.SUCCEEDED,
        text="ok",
        response={"candidates": [], "usageMetadata": meta},
        usage=Usage(input_tokens=prompt, output_tokens=candidates + thoughts),
    )


def terminal(ref: BatchJobRef) -> dict[str, Any]:
    return {
        "status": "terminal",
        "job_ref": ref.to_xcom(),
        "message": None,
        "state": "JOB_STATE_SUCCEEDED",
        "stats": {},
    }


def finish(fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str, **kwargs: Any) -> dict[str, Any]:
    rows = [
        answered("a", 150_000, 200_000, 300_000),
        answered("b", 50_000, 500_000),
        failed("c"),
    ]
    fake_hook.add_job(JOB, JobState.SUCCEEDED, total=3, succeeded=2, failed=1, results=rows)
    fake_hook.jobs[JOB] = fake_hook.jobs[JOB].model_copy(update={"model": "models/gemini-2.5-flash"})
    sensor = GenAIBatchSensor(
        task_id="wait",
        job_ref=ref.to_xcom(),
        output_uri=output_uri,
        max_failed_ratio=1,
        **kwargs,
    )
    return sensor.execute_complete(make_context(), event=terminal(ref))


def test_the_manifest_totals_the_tokens_of_every_row(fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str):
    usage = finish(fake_hook, ref, output_uri)["usage"]
    expected = {
        "input_tokens": 200_000,
        "output_tokens": 1_000_000,
        "cached_tokens": 0,
        "cache_write_tokens": 0,
    }
    assert usage["total"] == {**expected, "thinking_tokens": 300_000, "rows": 2}
    assert [part["job_name"] for part in usage["parts"]] == [JOB]


def test_rows_whose_usage_cannot_be_read_are_shown_in_the_manifest_and_warned_once(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str, caplog: pytest.LogCaptureFixture
):
    rows = [answered("a", 10, 2), answered("b", -5, 2), answered("c", "n/a", 2)]  # type: ignore[arg-type]
    fake_hook.add_job(JOB, JobState.SUCCEEDED, total=3, succeeded=3, results=rows)
    sensor = GenAIBatchSensor(task_id="wait", job_ref=ref.to_xcom(), output_uri=output_uri)
    capture_log(sensor, caplog)
    usage = sensor.execute_complete(make_context(), event=terminal(ref))["usage"]
    assert (usage["total"]["input_tokens"], usage["unreadable_rows"], usage["unreadable_key"]) == (10, 2, "b")
    warnings = [message for message in log_messages(caplog, logging.WARNING) if "could not be read" in message]
    assert len(warnings) == 1
    assert "the usage of 2 result row(s)" in warnings[0] and "key 'b'" in warnings[0]


def test_airflows_masker_leaves_the_token_counts_shown(fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str):
    """Key names with "token" are sensitive to Airflow's masker; counts are numbers, which it shows."""
    manifest = finish(fake_hook, ref, output_uri)

    assert redact(manifest)["usage"] == manifest["usage"]
    assert redact(manifest)["cost"] == manifest["cost"]


def test_the_manifest_cost_uses_the_shipped_batch_price(fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str):
    cost = finish(fake_hook, ref, output_uri)["cost"]
    assert cost["amount"] == pytest.approx(0.2 * 0.15 + 1 * 1.25)
    assert (cost["price"]["model"], cost["price"]["taken_on"]) == (
        "gemini-2.5-flash",
        "2026-12-01",
    )


def test_the_operators_batch_prices_win_over_the_shipped_table(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str
):
    prices = {"gemini-2.5-flash": {"input": 1, "output": 2}}
    cost = finish(fake_hook, ref, output_uri, batch_prices=prices)["cost"]
    assert cost["amount"] == pytest.approx(0.2 * 1 + 1 * 2)
    assert cost["price"]["source"] == "batch_prices given to the operator"


def test_bad_batch_prices_fail_the_submit_before_anything_is_uploaded(fake_hook: FakeBatchHook, ti: FakeTI):
    operator = submit_op(
        [canonical_line("a")],
        batch_prices={"gemini-2.5-flash": {"input": -1, "output": 2}},
    )
    with pytest.raises(ValueError, match=r"batch_prices\['gemini-2.5-flash'\]: input: Value error"):
        operator.execute(make_context(ti))
    assert fake_hook.uploads == []
    assert fake_hook.created == []


def test_a_submit_that_does_not_land_refuses_batch_prices_rather_than_drop_them(fake_hook: FakeBatchHook, ti: FakeTI):
    operator = submit_op([canonical_line("a")], batch_prices={"gemini-2.5-flash": {"input": 1, "output": 2}})

    with pytest.raises(GenAIBatchError, match="give it to the GenAIBatchSensor that lands them"):
        operator.execute(make_context(ti))
    assert fake_hook.uploads == []
    assert fake_hook.created == []
