"""A Bedrock dry run's plan is what the submit then writes to S3: the same parts, with the 100-record minimum
rebalanced the same way, each part's requests and bytes those of the object uploaded for it."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.s3 import MotoS3Server
from tests.emulator.test_bedrock_submit import CLAUDE, bedrock_jobs, connection, gemini_lines, write_input
from tests.unit.pipeline.fakes import FakeTI, make_context

__all__ = ["connection"]


@pytest.mark.parametrize("seed", range(4))
def test_the_dry_runs_parts_are_the_objects_the_bedrock_submit_uploads(
    connection: str,
    tmp_path,
    moto_s3: MotoS3Server,
    bedrock_bucket: str,
    bedrock_emulator: EmulatorServer,
    seed: int,
) -> None:
    rng = random.Random(f"bedrock-{seed}")
    lines = [
        {
            "key": f"doc{i}",
            "request": {
                "contents": [{"role": "user", "parts": [{"text": "w " * rng.randrange(1, 200)}]}],
                "generationConfig": {"maxOutputTokens": 16},
            },
        }
        for i in range(rng.randrange(200, 420))
    ]
    source = write_input(tmp_path / "in.jsonl", lines)
    limits = {"max_requests_per_job": rng.choice([100, 130, 150, 250])}
    if rng.random() < 0.5:
        limits["max_bytes_per_job"] = rng.choice([40_000, 60_000])

    def operator(**kwargs: object) -> GenAIBatchSubmitOperator:
        return GenAIBatchSubmitOperator(task_id="submit", conn_id=connection, model=CLAUDE, input=source, **kwargs)

    try:
        plan = operator(dry_run=True, **limits).execute(make_context(FakeTI()))
    except InputValidationError as planned:  # the parts cannot each hold 100 records: the submit refuses it too
        with pytest.raises(InputValidationError) as refused:
            operator(**limits).execute(make_context(FakeTI()))
        assert str(refused.value) in str(planned)
        assert moto_s3.keys(bedrock_bucket) == [] and bedrock_jobs(bedrock_emulator) == []
        return

    assert moto_s3.keys(bedrock_bucket) == [] and bedrock_jobs(bedrock_emulator) == []
    ref = BatchJobRef.parse(operator(**limits).execute(make_context(FakeTI())))
    objects = [moto_s3.read(f"s3://{bedrock_bucket}/{key}") for key in moto_s3.keys(bedrock_bucket, "input/")]
    counts = [p.request_count for p in ref.parts] if ref.parts else [ref.request_count]
    assert counts == [part["requests"] for part in plan["parts"]], limits
    assert sorted((len(data), data.count(b"\n")) for data in objects) == sorted(
        (part["bytes"], part["requests"]) for part in plan["parts"]
    )
    assert all(part["requests"] >= 100 for part in plan["parts"])


def test_a_dry_run_lists_parts_that_cannot_each_hold_the_minimum_beside_the_inputs_bad_lines(
    connection: str, tmp_path, moto_s3: MotoS3Server, bedrock_bucket: str, bedrock_emulator: EmulatorServer
) -> None:
    lines: list[Any] = gemini_lines(250)
    lines[3] = '{"key": "doc-3", "request": '  # not JSON
    source = write_input_text(tmp_path / "in.jsonl", lines)
    task = FakeTI()
    op = GenAIBatchSubmitOperator(
        task_id="submit", conn_id=connection, model=CLAUDE, input=source, max_requests_per_job=120, dry_run=True
    )

    with pytest.raises(InputValidationError, match=r"dry run: 2 problem\(s\) in the input") as raised:
        op.execute(make_context(task))

    assert "line 4" in str(raised.value)
    assert "cannot make 3 parts of at least 100 requests each" in str(raised.value)
    assert moto_s3.keys(bedrock_bucket) == [] and bedrock_jobs(bedrock_emulator) == []


def write_input_text(path: Path, lines: list[Any]) -> str:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return str(path)
