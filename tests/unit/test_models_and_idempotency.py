"""Provider-neutral models and the idempotency key that makes a retry re-attach instead of paying twice."""

from __future__ import annotations

import inspect
import json
import re

import pydantic
import pytest

from airflow_provider_genai_batch.idempotency import idempotency_key, key_in_text, tag_display_name
from airflow_provider_genai_batch.job_ref import BatchJobRef, job_name_of
from airflow_provider_genai_batch.models import TERMINAL_STATES, BatchJob, BatchStats, JobState

RUN_ID = "scheduled__2026-08-20T00:00:00+00:00"

# --- JobState ------------------------------------------------------------------------------------------


def test_job_state_values_are_exactly_google_genai_job_states():
    from google.genai import types

    assert [s.value for s in JobState] == [s.value for s in types.JobState]


def test_terminal_states():
    assert {s for s in JobState if s.is_terminal} == {
        JobState.SUCCEEDED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.EXPIRED,
        JobState.PARTIALLY_SUCCEEDED,
    }
    assert frozenset(s for s in JobState if s.is_terminal) == TERMINAL_STATES


@pytest.mark.parametrize(
    "state",
    [
        JobState.UNSPECIFIED,
        JobState.QUEUED,
        JobState.PENDING,
        JobState.RUNNING,
        JobState.CANCELLING,
        JobState.PAUSED,
        JobState.UPDATING,
    ],
)
def test_states_that_can_still_change_are_not_terminal(state):
    assert not state.is_terminal
    assert not state.is_success


def test_success_states_are_the_terminal_ones_with_results():
    assert {s for s in JobState if s.is_success} == {JobState.SUCCEEDED, JobState.PARTIALLY_SUCCEEDED}
    assert all(s.is_terminal for s in JobState if s.is_success)


def test_job_state_is_a_string_enum_for_json():
    assert json.dumps({"state": JobState.RUNNING}) == '{"state": "JOB_STATE_RUNNING"}'
    assert JobState("JOB_STATE_EXPIRED") is JobState.EXPIRED


# --- BatchJob / BatchStats -----------------------------------------------------------------------------


def test_batch_stats_default_every_count_to_zero():
    assert BatchStats(total=5, pending=5) == BatchStats(total=5, succeeded=0, failed=0, pending=5)


def test_batch_job_defaults():
    job = BatchJob(name="batches/x", provider="gemini")
    assert (job.state, job.stats, job.has_inline_output, job.raw) == (JobState.UNSPECIFIED, BatchStats(), False, {})


def test_batch_job_repr_leaves_out_the_raw_payload():
    job = BatchJob(name="batches/x", provider="gemini", raw={"huge": "x" * 1000})
    assert "huge" not in repr(job)


# --- BatchJobRef ---------------------------------------------------------------------------------------


def full_ref() -> BatchJobRef:
    return BatchJobRef(
        provider="gemini",
        conn_id="gemini_default",
        job_name="batches/3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge",
        idempotency_key=idempotency_key("dag", "task", RUN_ID, 3),
        input_fingerprint="0f" * 32,
        request_count=9,
        keys_uri="s3://bucket/run/keys.jsonl",
        output_uri="s3://bucket/run/results.jsonl",
        embeddings=True,
    )


def test_batch_job_ref_round_trips_through_json():
    ref = full_ref()
    wire = json.dumps(ref.to_xcom())
    assert BatchJobRef.parse(json.loads(wire)) == ref


def test_batch_job_ref_xcom_value_is_plain_json_types():
    value = full_ref().to_xcom()
    assert value == json.loads(json.dumps(value))
    assert value["job_name"] == "batches/3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge"


def test_batch_job_ref_is_immutable():
    with pytest.raises(pydantic.ValidationError):
        full_ref().job_name = "batches/other"


@pytest.mark.parametrize(
    "form",
    [
        lambda ref: ref,
        lambda ref: ref.to_xcom(),
        lambda ref: json.dumps(ref.to_xcom()),
        lambda ref: str(ref.to_xcom()),
    ],
    ids=["model", "dict", "json", "jinja-rendered"],
)
def test_batch_job_ref_parses_every_form_xcom_can_hand_back(form):
    ref = full_ref()
    assert BatchJobRef.parse(form(ref)) == ref


def test_batch_job_ref_parse_refuses_other_values():
    with pytest.raises(TypeError, match="not a batch job reference"):
        BatchJobRef.parse([1, 2])


@pytest.mark.parametrize(
    "value",
    [
        {"provider": "gemini", "conn_id": "c"},
        {**full_ref().to_xcom(), "api_key": "sk-never-in-a-ref"},
        "{'provider': 'gemini'",
    ],
    ids=["missing-job-name", "unknown-field", "broken-text"],
)
def test_batch_job_ref_parse_refuses_a_mapping_that_is_not_a_ref_with_a_type_error(value):
    with pytest.raises(TypeError, match="not a batch job reference"):
        BatchJobRef.parse(value)


@pytest.mark.parametrize(
    "form",
    [
        lambda ref: ref.job_name,
        lambda ref: ref,
        lambda ref: ref.to_xcom(),
        lambda ref: json.dumps(ref.to_xcom()),
        lambda ref: str(ref.to_xcom()),
    ],
    ids=["plain-name", "model", "dict", "json", "jinja-rendered"],
)
def test_job_name_of_reads_a_plain_name_or_any_ref_form(form):
    ref = full_ref()
    assert job_name_of(form(ref)) == "batches/3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge"


# --- idempotency key -----------------------------------------------------------------------------------


def test_idempotency_key_is_deterministic_and_short():
    key = idempotency_key("dag", "task", RUN_ID, None)
    assert key == idempotency_key("dag", "task", RUN_ID, None)
    assert re.fullmatch(r"gbk-[0-9a-f]{20}", key)


def test_idempotency_key_has_no_try_number_parameter():
    assert list(inspect.signature(idempotency_key).parameters) == ["dag_id", "task_id", "run_id", "map_index"]


@pytest.mark.parametrize(
    "other",
    [
        ("other_dag", "task", RUN_ID, None),
        ("dag", "other_task", RUN_ID, None),
        ("dag", "task", "manual__2026-08-20T00:00:00+00:00", None),
        ("dag", "task", RUN_ID, 0),
        ("dag", "task", RUN_ID, 1),
    ],
    ids=["dag", "task", "run", "map-0", "map-1"],
)
def test_idempotency_key_differs_for_another_task_instance(other):
    assert idempotency_key(*other) != idempotency_key("dag", "task", RUN_ID, None)


def test_idempotency_key_of_map_indexes_differ_from_each_other():
    assert len({idempotency_key("dag", "task", RUN_ID, i) for i in range(100)}) == 100


def test_unmapped_task_key_is_the_same_for_none_and_airflow_minus_one():
    assert idempotency_key("dag", "task", RUN_ID, None) == idempotency_key("dag", "task", RUN_ID, -1)


def test_idempotency_key_fields_cannot_run_into_each_other():
    assert idempotency_key("a_b", "c", RUN_ID, None) != idempotency_key("a", "b_c", RUN_ID, None)
    assert idempotency_key("ab", "c", RUN_ID, None) != idempotency_key("a", "bc", RUN_ID, None)


# --- display name tagging ------------------------------------------------------------------------------

KEY = idempotency_key("dag", "task", RUN_ID, None)


def test_short_display_name_is_kept_whole_with_the_key_appended():
    assert tag_display_name("nightly scoring", KEY) == f"nightly scoring [{KEY}]"


@pytest.mark.parametrize("max_length", [63, 128, 512])
def test_long_display_name_is_cut_so_the_key_survives_within_max_length(max_length):
    tagged = tag_display_name("n" * 1000, KEY, max_length=max_length)
    assert len(tagged) == max_length
    assert tagged.endswith(f" [{KEY}]")
    assert key_in_text(tagged) == KEY


def test_display_name_of_exactly_the_room_left_is_not_cut():
    room = 128 - len(f" [{KEY}]")
    assert tag_display_name("x" * room, KEY) == "x" * room + f" [{KEY}]"


def test_key_in_text_finds_the_key_in_a_tagged_name():
    assert key_in_text(f"nightly [{KEY}]") == KEY
    assert key_in_text(f"{KEY}") == KEY


@pytest.mark.parametrize("text", [None, "", "nightly", "gbk-123", "gbk-" + "g" * 20, "GBK-" + "a" * 20])
def test_key_in_text_finds_nothing_without_a_key(text):
    assert key_in_text(text) is None
