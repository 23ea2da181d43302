"""Provider-neutral models and the idempotency key that makes a retry re-attach instead of paying twice."""

from __future__ import annotations

import inspect
import json
import re

import pydantic
import pytest

from airflow_provider_genai_batch.idempotency import (
    DISPLAY_NAME_MAX,
    FINGERPRINT_TAG_CHARS,
    UPLOAD_NAME_MAX,
    JobIdentity,
    idempotency_key,
    identity_in_display_name,
    identity_in_file_name,
    tag_display_name,
    tag_file_name,
    titled_display_name,
)
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


def test_a_ref_a_newer_version_stored_with_a_field_this_one_does_not_know_is_refused_saying_so():
    stored = {**full_ref().to_xcom(), "retry_budget": {"secret_looking": "sk-not-echoed"}}

    with pytest.raises(TypeError) as raised:
        BatchJobRef.parse(json.dumps(stored))

    message = str(raised.value)
    assert message.startswith(
        "not a batch job reference this version of airflow-provider-genai-batch (0.1.0) can read: the reference of "
        "job 'batches/3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge' holds fields it does not know (retry_budget). A newer "
        "version most likely stored it, and a worker or triggerer not yet upgraded read it (a rolling upgrade)"
    )
    assert "sk-not-echoed" not in message


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


# --- job identity: key and input fingerprint ------------------------------------------------------------

KEY = idempotency_key("dag", "task", RUN_ID, None)
OTHER_KEY = idempotency_key("dag", "other_task", RUN_ID, None)
FINGERPRINT = "0123456789abcdef" * 4
EDITED_FINGERPRINT = "fedcba9876543210" * 4
TAG = f" [{KEY}/{FINGERPRINT[:FINGERPRINT_TAG_CHARS]}]"


def test_identity_matches_its_own_key_and_fingerprint():
    assert JobIdentity(KEY, FINGERPRINT).matches(KEY, FINGERPRINT)


def test_identity_matches_any_fingerprint_when_none_is_asked_for():
    assert JobIdentity(KEY, FINGERPRINT).matches(KEY)
    assert JobIdentity(KEY).matches(KEY)


def test_identity_of_another_key_never_matches():
    assert not JobIdentity(OTHER_KEY, FINGERPRINT).matches(KEY, FINGERPRINT)
    assert not JobIdentity(OTHER_KEY).matches(KEY)


def test_identity_made_for_an_edited_input_does_not_match():
    assert not JobIdentity(KEY, EDITED_FINGERPRINT).matches(KEY, FINGERPRINT)


def test_identity_without_a_fingerprint_does_not_match_when_one_is_asked_for():
    assert not JobIdentity(KEY).matches(KEY, FINGERPRINT)


def test_identity_matches_on_the_kept_start_of_the_fingerprint():
    kept = FINGERPRINT[:FINGERPRINT_TAG_CHARS]
    assert JobIdentity(KEY, kept).matches(KEY, FINGERPRINT)
    assert not JobIdentity(KEY, kept).matches(KEY, EDITED_FINGERPRINT)


@pytest.mark.parametrize("kept", ["", "0", FINGERPRINT[: FINGERPRINT_TAG_CHARS - 1]])
def test_identity_with_too_short_a_fingerprint_start_never_matches_a_fingerprint(kept):
    assert not JobIdentity(KEY, kept).matches(KEY, FINGERPRINT)


def test_identity_key_is_compared_in_full_not_as_a_prefix():
    assert not JobIdentity(KEY + "0").matches(KEY)
    assert not JobIdentity(KEY[:-1]).matches(KEY)


# --- display name tagging ------------------------------------------------------------------------------


def test_short_display_name_is_kept_whole_with_key_and_fingerprint_start_appended():
    assert tag_display_name("nightly scoring", KEY, FINGERPRINT) == f"nightly scoring [{KEY}/0123456789abcdef]"


def test_display_name_without_a_fingerprint_carries_the_key_alone():
    assert tag_display_name("nightly scoring", KEY) == f"nightly scoring [{KEY}]"


@pytest.mark.parametrize("max_length", [63, 128, 512])
def test_long_display_name_is_cut_so_the_suffix_survives_within_max_length(max_length):
    tagged = tag_display_name("n" * 1000, KEY, FINGERPRINT, max_length=max_length)
    assert len(tagged) == max_length
    assert tagged.endswith(TAG)
    assert identity_in_display_name(tagged) == JobIdentity(KEY, FINGERPRINT[:FINGERPRINT_TAG_CHARS])


def test_display_name_of_exactly_the_room_left_is_not_cut():
    room = DISPLAY_NAME_MAX - len(TAG)
    assert tag_display_name("x" * room, KEY, FINGERPRINT) == "x" * room + TAG
    assert len(tag_display_name("x" * (room + 1), KEY, FINGERPRINT)) == DISPLAY_NAME_MAX == 128


def test_a_long_display_name_is_cut_before_a_part_title_so_the_tagged_name_keeps_the_title():
    tagged = tag_display_name(titled_display_name("n" * 200, " round 1 part 12/345"), KEY, FINGERPRINT)
    assert len(tagged) <= DISPLAY_NAME_MAX
    assert tagged.endswith(" round 1 part 12/345" + TAG)


def test_a_display_name_without_a_title_is_left_as_the_user_wrote_it():
    assert titled_display_name("n" * 200, "") == "n" * 200


def test_a_short_display_name_keeps_its_whole_name_before_the_title():
    assert titled_display_name("nightly scoring", " part 2/5") == "nightly scoring part 2/5"


def test_a_max_length_too_short_for_the_suffix_is_an_error():
    with pytest.raises(ValueError, match="cannot hold the suffix"):
        tag_display_name("x", KEY, FINGERPRINT, max_length=len(TAG) - 1)


@pytest.mark.parametrize(
    ("key", "fingerprint"),
    [
        ("gbk-123", None),
        ("GBK-" + "a" * 20, None),
        (KEY + " ", None),
        (KEY, "abc"),
        (KEY, FINGERPRINT.upper()),
        (KEY, FINGERPRINT + "0"),
    ],
    ids=["short-key", "uppercase-key", "key-with-space", "short-fingerprint", "uppercase-hex", "long-fingerprint"],
)
def test_a_key_or_fingerprint_that_could_not_be_read_back_is_refused(key, fingerprint):
    with pytest.raises(ValueError, match=r"idempotency key|input fingerprint"):
        tag_display_name("nightly", key, fingerprint)


def test_identity_is_read_back_from_the_suffix_at_the_end():
    assert identity_in_display_name("nightly" + TAG) == JobIdentity(KEY, FINGERPRINT[:FINGERPRINT_TAG_CHARS])
    assert identity_in_display_name(f"nightly [{KEY}]") == JobIdentity(KEY, None)
    assert identity_in_display_name(TAG) == JobIdentity(KEY, FINGERPRINT[:FINGERPRINT_TAG_CHARS])


def test_another_tasks_key_inside_the_display_name_is_not_this_jobs_identity():
    tagged = tag_display_name(f"re-run of {OTHER_KEY} [{OTHER_KEY}/{EDITED_FINGERPRINT[:16]}]", KEY, FINGERPRINT)
    assert identity_in_display_name(tagged) == JobIdentity(KEY, FINGERPRINT[:FINGERPRINT_TAG_CHARS])


def test_a_line_break_in_the_user_part_does_not_hide_the_suffix():
    assert identity_in_display_name("two\nlines" + TAG) == JobIdentity(KEY, FINGERPRINT[:FINGERPRINT_TAG_CHARS])


@pytest.mark.parametrize(
    "display_name",
    [
        None,
        "",
        "nightly",
        KEY,
        f"nightly {KEY}",
        f"[{KEY}]",
        f"nightly [{KEY}] and more",
        f"nightly [{KEY}/0123456789abcdef] ",
        f"nightly [{KEY}]\n",
        f"nightly [{KEY}/0123456789abcde]",
        f"nightly [{KEY}/0123456789abcdef0]",
        f"nightly [{KEY}/0123456789ABCDEF]",
        f"nightly [{KEY.upper()}]",
        f"nightly [gbk-{'g' * 20}]",
        f"nightly [{KEY}0]",
        f"nightly  {KEY}]",
    ],
    ids=[
        "none",
        "empty",
        "no-key",
        "bare-key",
        "key-without-brackets",
        "no-space-before",
        "suffix-not-at-end",
        "trailing-space",
        "trailing-newline",
        "fingerprint-too-short",
        "fingerprint-too-long",
        "uppercase-fingerprint",
        "uppercase-key",
        "not-hex",
        "key-too-long",
        "no-opening-bracket",
    ],
)
def test_a_display_name_without_the_exact_suffix_carries_no_identity(display_name):
    assert identity_in_display_name(display_name) is None


def test_an_upload_name_keeps_its_key_and_fingerprint_at_its_end_however_long_the_stem():
    key = idempotency_key("dag", "task", "run", None)
    fingerprint = "ab" * 32

    name = tag_file_name("x" * 500, key, fingerprint)

    assert len(name) == UPLOAD_NAME_MAX
    assert name.endswith(f".{key}.{fingerprint[:16]}.jsonl")
    assert identity_in_file_name(name) == JobIdentity(key, fingerprint[:16])


def test_a_key_inside_an_upload_name_is_not_read_as_its_identity():
    key = idempotency_key("dag", "task", "run", None)

    assert identity_in_file_name(f"nightly.{key}.{'ab' * 8}.jsonl.bak") is None
    assert identity_in_file_name(f"nightly.{key}.jsonl") is None
    assert identity_in_file_name(None) is None
