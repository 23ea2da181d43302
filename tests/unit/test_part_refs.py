"""A group's job reference (``BatchJobRef.parts``) travels whole, and every part has a key of its own."""

from __future__ import annotations

import json
import re

import pytest

from airflow_provider_genai_batch.idempotency import KEY_PATTERN, idempotency_key, part_key
from airflow_provider_genai_batch.job_ref import BatchJobRef, PartRef

TASK_KEY = idempotency_key("dag", "submit", "manual__2026-01-02T00:00:00+00:00", -1)
FINGERPRINT = "ab" * 32


def group() -> BatchJobRef:
    return BatchJobRef(
        provider="openai",
        conn_id="openai_default",
        job_name="batch_1",
        idempotency_key=TASK_KEY,
        input_fingerprint=FINGERPRINT,
        request_count=5,
        keys_uri="/out/input_keys.jsonl",
        output_uri="/out",
        parts=(
            PartRef(
                index=0,
                idempotency_key=part_key(TASK_KEY, 0, 0),
                input_fingerprint="01" * 32,
                request_count=3,
                byte_count=300,
                job_name="batch_1",
            ),
            PartRef(
                index=1,
                idempotency_key=part_key(TASK_KEY, 0, 1),
                input_fingerprint="02" * 32,
                request_count=2,
                byte_count=200,
                upload="file-2",
            ),
            PartRef(
                index=2,
                round=1,
                idempotency_key=part_key(TASK_KEY, 1, 0),
                input_fingerprint="03" * 32,
                request_count=1,
                byte_count=100,
                job_name="batch_3",
                keys_uri="/out/input_keys.round-1.jsonl",
            ),
        ),
        max_concurrent_jobs=1,
    )


@pytest.mark.parametrize(
    "travel",
    [
        lambda ref: ref.to_xcom(),
        lambda ref: json.dumps(ref.to_xcom()),
        lambda ref: str(ref.to_xcom()),  # the Python-literal text a Jinja template renders
    ],
    ids=["xcom-dict", "json-text", "rendered-template"],
)
def test_a_group_ref_comes_back_equal_from_every_form_it_travels_in(travel):
    ref = group()

    assert BatchJobRef.parse(travel(ref)) == ref


def test_a_group_names_its_created_jobs_in_plan_order_and_skips_waiting_parts():
    ref = group()

    assert ref.is_group
    assert ref.job_names() == ["batch_1", "batch_3"]


def test_a_one_job_ref_has_no_parts_and_names_its_job():
    ref = BatchJobRef(provider="openai", conn_id="c", job_name="batch_9")

    assert not ref.is_group
    assert ref.to_xcom()["parts"] is None
    assert ref.job_names() == ["batch_9"]


def test_a_part_with_an_unknown_field_is_refused():
    data = group().to_xcom()
    data["parts"][0]["surprise"] = 1

    with pytest.raises(TypeError, match=r"holds fields it does not know \(parts\.0\.surprise\)\. A newer version"):
        BatchJobRef.parse(data)


def test_the_first_part_of_the_input_keeps_the_task_key():
    assert part_key(TASK_KEY, 0, 0) == TASK_KEY


def test_every_other_part_and_round_has_a_distinct_key_of_the_task_key_shape():
    keys = [part_key(TASK_KEY, round_, index) for round_ in range(3) for index in range(4)]

    assert len(set(keys)) == len(keys)
    assert all(re.fullmatch(KEY_PATTERN, key) for key in keys)


def test_part_keys_are_the_same_on_every_try_and_differ_between_task_instances():
    other = idempotency_key("dag", "submit", "manual__2026-01-03T00:00:00+00:00", -1)

    assert part_key(TASK_KEY, 1, 2) == part_key(TASK_KEY, 1, 2)
    assert part_key(TASK_KEY, 1, 2) != part_key(other, 1, 2)
