"""GenAIBatchSubmitOperator: validate before upload, create exactly once per task instance, defer with a deadline."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jinja2
import pytest
from airflow.sdk import DAG, ObjectStoragePath
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_genai_batch.completion import DEFER_GRACE
from airflow_provider_genai_batch.errors import GenAIBatchError, InputValidationError
from airflow_provider_genai_batch.formats.dialect import ProviderLimits
from airflow_provider_genai_batch.idempotency import idempotency_key, part_key
from airflow_provider_genai_batch.job_ref import STATE_STORE_KEY, BatchJobRef
from airflow_provider_genai_batch.landing import KEYS_FILE, partial_tag
from airflow_provider_genai_batch.models import JobState
from airflow_provider_genai_batch.operators import submit as submit_module
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.spec import BatchKind
from airflow_provider_genai_batch.triggers.batch_job import GenAIBatchJobTrigger

from .fakes import (
    FAKE_CONN_ID,
    MODEL,
    DictStateStore,
    FakeBatchHook,
    FakeTI,
    canonical_line,
    make_context,
    submit_op,
    succeeded,
    write_jsonl,
)


def key_of(ti: FakeTI) -> str:
    return idempotency_key(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)


def pushed_refs(ti: FakeTI) -> list[Any]:
    """The job refs ``ti`` pushed to XCom, each once (the same ref may be written again on the way)."""
    assert {key for key, _ in ti.pushes} <= {"job_ref"}
    refs: list[Any] = []
    for _, value in ti.pushes:
        if value not in refs:
            refs.append(value)
    return refs


# --- submitting ---------------------------------------------------------------------------------------


def test_execute_uploads_once_creates_once_and_returns_the_job_ref(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, output_uri: str
):
    ref = submit_op(str(input_jsonl), display_name="nightly", output_uri=output_uri).execute(make_context(ti))

    assert len(fake_hook.uploads) == 1
    upload = fake_hook.uploads[0]
    assert upload["data"] == input_jsonl.read_bytes()  # canonical JSONL is uploaded as it is
    assert upload["display_name"] == f"nightly.{key_of(ti)}.{ref['input_fingerprint'][:16]}.jsonl"
    assert len(fake_hook.created) == 1
    created = fake_hook.created[0]
    assert created["model"] == MODEL
    assert created["display_name"] == "nightly"
    assert created["idempotency_key"] == key_of(ti)
    assert created["file_name"] == upload["name"]
    assert created["requests"] is None
    assert created["wire_url"].endswith(f"models/{MODEL}:batchGenerateContent")
    assert created["input_fingerprint"] == ref["input_fingerprint"]
    assert created["wire_body"]["batch"]["displayName"] == f"nightly [{key_of(ti)}/{ref['input_fingerprint'][:16]}]"
    assert created["wire_body"]["batch"]["inputConfig"] == {"fileName": upload["name"]}

    assert ref["job_name"] == created["job_name"]
    assert ref["provider"] == "gemini"
    assert ref["conn_id"] == FAKE_CONN_ID
    assert ref["idempotency_key"] == key_of(ti)
    assert ref["request_count"] == 3
    assert ref["output_uri"] == output_uri
    assert pushed_refs(ti) == [ref]


@pytest.mark.parametrize(("hours_left", "uploads"), [(47, 1), (2, 2)])
def test_an_earlier_upload_is_used_unless_the_provider_deletes_it_within_a_day(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, hours_left: int, uploads: int
):
    operator = submit_op(str(input_jsonl), display_name="nightly")
    found = fake_hook.find_upload

    def expiring(name: str, not_before: Any = None) -> Any:
        info = found(name, not_before)
        expires = datetime.now(timezone.utc) + timedelta(hours=hours_left)
        return info.model_copy(update={"expiration_time": expires}) if info is not None else None

    fake_hook.find_upload = expiring  # type: ignore[method-assign]
    first = operator.execute(make_context(ti))
    fake_hook.script(first["job_name"], JobState.FAILED)
    fake_hook.get_batch(first["job_name"])
    ti.try_number = 2

    second = operator.execute(make_context(ti))

    assert second["job_name"] != first["job_name"]
    assert len(fake_hook.uploads) == uploads  # a Gemini file has 48 hours; a job may read it for 24 of them
    assert fake_hook.created[1]["file_name"] == fake_hook.uploads[-1]["name"]


def test_execute_writes_the_input_keys_under_output_uri(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, output_uri: str
):
    ref = submit_op(str(input_jsonl), output_uri=output_uri).execute(make_context(ti))

    keys_file = Path(output_uri) / KEYS_FILE
    assert ref["keys_uri"] == str(keys_file)
    assert keys_file.read_text() == '"a"\n"b"\n"c"\n'


def test_a_submit_removes_the_keys_temporary_a_killed_try_of_its_task_left_and_leaves_another_tasks(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, output_uri: str
):
    Path(output_uri).mkdir(parents=True, exist_ok=True)
    own = Path(output_uri) / f".{KEYS_FILE}.{partial_tag(key_of(ti))}-t1-{'1' * 32}.partial"
    other = Path(output_uri) / f".{KEYS_FILE}.{partial_tag('another task')}-t1-{'2' * 32}.partial"
    for left in (own, other):
        left.write_text('"a"\n')

    submit_op(str(input_jsonl), output_uri=output_uri).execute(make_context(ti))

    assert sorted(path.name for path in Path(output_uri).iterdir()) == sorted([KEYS_FILE, other.name])


def test_without_output_uri_no_keys_file_is_referenced(fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path):
    ref = submit_op(str(input_jsonl)).execute(make_context(ti))

    assert ref["keys_uri"] is None
    assert ref["output_uri"] is None
    assert ref["request_count"] == 3


def test_display_name_defaults_to_dag_and_task(fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path):
    submit_op(str(input_jsonl)).execute(make_context(ti))

    assert fake_hook.created[0]["display_name"] == f"{ti.dag_id}.{ti.task_id}"


# --- bad input fails before anything is uploaded or billed ----------------------------------------------


@pytest.mark.parametrize(
    ("lines", "line", "reason"),
    [
        ([canonical_line("a"), canonical_line("b"), '{"key": "c", "request": '], 3, "invalid JSON"),
        ([canonical_line("a"), canonical_line("b"), canonical_line("a")], 3, "duplicate key 'a'"),
        ([canonical_line("a"), {"key": "b", "request": {"contents": []}}], 2, "contents"),
    ],
    ids=["invalid-json-line-3", "duplicate-key-line-3", "empty-contents-line-2"],
)
def test_bad_jsonl_fails_naming_the_line_and_nothing_is_uploaded_or_created(
    fake_hook: FakeBatchHook, ti: FakeTI, tmp_path: Path, output_uri: str, lines: list, line: int, reason: str
):
    path = write_jsonl(tmp_path / "bad.jsonl", lines)

    with pytest.raises(InputValidationError) as err:
        submit_op(str(path), output_uri=output_uri).execute(make_context(ti))

    assert err.value.line == line
    assert f"line {line}" in str(err.value)
    assert str(path) in str(err.value)
    assert reason in str(err.value)
    assert fake_hook.uploads == []
    assert fake_hook.created == []
    assert ti.pushes == []
    assert not (Path(output_uri) / KEYS_FILE).exists()


def test_a_file_rewritten_between_its_validation_and_its_upload_fails_and_no_job_is_created(
    fake_hook: FakeBatchHook, ti: FakeTI, tmp_path: Path, output_uri: str, monkeypatch: pytest.MonkeyPatch
):
    path = write_jsonl(tmp_path / "in.jsonl", [canonical_line("a", "first"), canonical_line("b", "second")])
    validate = submit_module.prepare_input

    def validate_then_rewrite(*args: Any, **kwargs: Any) -> Any:
        prepared = validate(*args, **kwargs)
        write_jsonl(path, [canonical_line("a", "other"), canonical_line("b", "texts")])  # another run's writer
        return prepared

    monkeypatch.setattr(submit_module, "prepare_input", validate_then_rewrite)

    with pytest.raises(InputValidationError) as err:
        submit_op(str(path), output_uri=output_uri).execute(make_context(ti))

    assert err.value.source == str(path)
    assert "changed after it was validated" in err.value.reason
    assert fake_hook.uploads == []
    assert fake_hook.created == []
    assert ti.pushes == []


def test_an_empty_file_fails_and_nothing_is_uploaded_or_created(fake_hook: FakeBatchHook, ti: FakeTI, tmp_path: Path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")

    with pytest.raises(InputValidationError, match="empty"):
        submit_op(str(path)).execute(make_context(ti))

    assert fake_hook.uploads == []
    assert fake_hook.created == []


def test_a_missing_file_fails_and_nothing_is_uploaded_or_created(fake_hook: FakeBatchHook, ti: FakeTI, tmp_path: Path):
    path = tmp_path / "nope.jsonl"

    with pytest.raises(InputValidationError, match="does not exist") as err:
        submit_op(str(path)).execute(make_context(ti))

    assert err.value.source == str(path)
    assert fake_hook.uploads == []
    assert fake_hook.created == []


def test_bad_inline_request_fails_naming_the_item_and_nothing_is_created(fake_hook: FakeBatchHook, ti: FakeTI):
    items = [{"key": "q1", "contents": "hi"}, {"key": "q2", "config": {"temperature": 0.1}}]

    with pytest.raises(InputValidationError) as err:
        submit_op(items).execute(make_context(ti))

    assert err.value.line == 2
    assert "contents" in str(err.value)
    assert fake_hook.created == []


# --- inline and embeddings ------------------------------------------------------------------------------


def test_inline_sdk_style_requests_are_sent_inline_in_rest_shape(fake_hook: FakeBatchHook, ti: FakeTI):
    items = [
        {"key": "q1", "contents": "What is 2+2?", "config": {"system_instruction": "Be terse.", "temperature": 0.2}},
        {"key": "q2", "contents": "Say hi", "config": {"temperature": 0.7, "max_output_tokens": 16}},
    ]

    ref = submit_op(items).execute(make_context(ti))

    assert fake_hook.uploads == []
    created = fake_hook.created[0]
    assert created["file_name"] is None
    sent = created["wire_body"]["batch"]["inputConfig"]["requests"]["requests"]
    assert sent == [
        {
            "request": {
                "contents": [{"parts": [{"text": "What is 2+2?"}], "role": "user"}],
                "systemInstruction": {"parts": [{"text": "Be terse."}], "role": "user"},
                "generationConfig": {"temperature": 0.2},
            },
            "metadata": {"key": "q1"},
        },
        {
            "request": {
                "contents": [{"parts": [{"text": "Say hi"}], "role": "user"}],
                "generationConfig": {"temperature": 0.7, "maxOutputTokens": 16},
            },
            "metadata": {"key": "q2"},
        },
    ]
    assert ref["request_count"] == 2


def test_embeddings_true_creates_an_embeddings_batch(
    fake_hook: FakeBatchHook, ti: FakeTI, tmp_path: Path, output_uri: str
):
    lines = [{"key": f"e{i}", "request": {"content": {"parts": [{"text": f"doc {i}"}]}}} for i in range(2)]
    path = write_jsonl(tmp_path / "embed.jsonl", lines)

    ref = submit_op(str(path), model="gemini-embedding-001", embeddings=True, output_uri=output_uri).execute(
        make_context(ti)
    )

    assert fake_hook.names("create_batch") == [ref["job_name"]]
    assert fake_hook.created[0]["spec"].kind is BatchKind.EMBED
    assert fake_hook.created[0]["wire_url"].endswith("models/gemini-embedding-001:asyncBatchEmbedContent")
    assert ref["embeddings"] is True


def test_inline_requests_over_the_inline_limit_are_uploaded_as_a_canonical_jsonl(fake_hook: FakeBatchHook, ti: FakeTI):
    fake_hook.use_dialect(limits=ProviderLimits(max_file_bytes=2 * 1024**3, max_inline_bytes=100))
    items = [{"key": f"q{i}", "contents": f"question number {i}", "config": {"temperature": 0.1}} for i in range(5)]

    ref = submit_op(items).execute(make_context(ti))

    assert len(fake_hook.uploads) == 1
    uploaded = [json.loads(line) for line in fake_hook.uploads[0]["data"].splitlines()]
    assert [line["key"] for line in uploaded] == [f"q{i}" for i in range(5)]
    assert uploaded[0]["request"] == {
        "contents": [{"parts": [{"text": "question number 0"}], "role": "user"}],
        "generationConfig": {"temperature": 0.1},
    }
    assert fake_hook.created[0]["file_name"] == fake_hook.uploads[0]["name"]
    assert ref["request_count"] == 5


def test_an_input_over_the_providers_request_limit_is_split_into_parts_each_within_it(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path
):
    fake_hook.use_dialect(limits=ProviderLimits(max_requests=2))

    ref = BatchJobRef.parse(submit_op(str(input_jsonl)).execute(make_context(ti)))

    assert ref.parts is not None
    assert [part.request_count for part in ref.parts] == [2, 1]
    uploaded = [[json.loads(line)["key"] for line in upload["data"].splitlines()] for upload in fake_hook.uploads]
    assert uploaded == [["a", "b"], ["c"]]
    assert [created["file_name"] for created in fake_hook.created] == [upload["name"] for upload in fake_hook.uploads]
    keys = [part.idempotency_key for part in ref.parts]
    assert keys == [key_of(ti), part_key(key_of(ti), 0, 1)]
    assert len(set(keys)) == 2
    assert [created["idempotency_key"] for created in fake_hook.created] == keys
    assert [created["input_fingerprint"] for created in fake_hook.created] == [p.input_fingerprint for p in ref.parts]
    assert len({part.input_fingerprint for part in ref.parts} | {ref.input_fingerprint}) == 3
    # One reference names the whole group: its first job, the whole input's count, every part's job.
    assert ref.job_name == ref.parts[0].job_name
    assert ref.request_count == 3
    assert ref.job_names() == [created["job_name"] for created in fake_hook.created]


def test_another_providers_native_format_is_refused_before_upload(fake_hook: FakeBatchHook, ti: FakeTI, tmp_path: Path):
    openai_line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt"}}
    path = write_jsonl(tmp_path / "openai.jsonl", [openai_line])

    with pytest.raises(InputValidationError, match="openai") as err:
        submit_op(str(path)).execute(make_context(ti))

    assert err.value.line == 1
    assert fake_hook.uploads == []
    assert fake_hook.created == []


# --- labels -------------------------------------------------------------------------------------------


def test_labels_are_refused_before_anything_is_read_or_uploaded_for_a_provider_without_labels(
    fake_hook: FakeBatchHook, ti: FakeTI, tmp_path: Path, output_uri: str
):
    assert fake_hook.capabilities.labels is False  # Gemini keeps no user labels on a batch job
    missing_input = tmp_path / "not-read.jsonl"  # never opened: the labels are refused first

    with pytest.raises(GenAIBatchError, match="gemini does not support job labels") as err:
        submit_op(str(missing_input), output_uri=output_uri, labels={"team": "search"}).execute(make_context(ti))

    assert not isinstance(err.value, InputValidationError)
    assert "team" in str(err.value)
    assert fake_hook.uploads == []
    assert fake_hook.created == []
    assert ti.pushes == []
    assert not (Path(output_uri) / KEYS_FILE).exists()


def test_without_labels_a_provider_without_labels_submits_as_usual(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path
):
    submit_op(str(input_jsonl), labels={}).execute(make_context(ti))

    assert len(fake_hook.created) == 1
    assert fake_hook.created[0]["labels"] == {}


def test_labels_rendered_from_a_whole_string_template_are_read_as_json(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path
):
    fake_hook.use_dialect(capabilities=fake_hook.capabilities.model_copy(update={"labels": True}))

    submit_op(str(input_jsonl), labels='{"team": "search"}').execute(make_context(ti))

    assert fake_hook.created[0]["labels"] == {"team": "search"}


def test_labels_from_a_whole_string_template_rendered_as_text_not_native_are_read_as_the_dict(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path
):
    fake_hook.use_dialect(capabilities=fake_hook.capabilities.model_copy(update={"labels": True}))
    op = submit_op(str(input_jsonl), labels="{{ params.labels }}")
    op.labels = op.render_template(op.labels, {"params": {"labels": {"team": "search"}}})
    assert op.labels == "{'team': 'search'}"  # str() of the dict, as Airflow renders it by default

    op.execute(make_context(ti))

    assert fake_hook.created[0]["labels"] == {"team": "search"}


@pytest.mark.parametrize("labels", ["team=search", '["team"]', {"team": 1}])
def test_labels_that_are_not_a_mapping_of_strings_are_refused_before_anything_is_uploaded(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, labels: Any
):
    with pytest.raises(GenAIBatchError, match="labels must"):
        submit_op(str(input_jsonl), labels=labels).execute(make_context(ti))

    assert fake_hook.uploads == []
    assert fake_hook.created == []


# --- the input fingerprint ------------------------------------------------------------------------------


def fingerprint_of(fake_hook: FakeBatchHook, input: Any, ti: FakeTI, **kwargs: Any) -> str:
    """Submit ``input`` as task instance ``ti`` (a new job each time) and return the pushed ref's fingerprint."""
    store = DictStateStore()
    ref = submit_op(input, **kwargs).execute(make_context(ti, store=store))
    assert pushed_refs(ti) == [ref]
    assert store.data[STATE_STORE_KEY]["input_fingerprint"] == ref["input_fingerprint"]
    return ref["input_fingerprint"]


def test_the_job_ref_carries_a_sha256_fingerprint_of_the_input(fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path):
    fingerprint = fingerprint_of(fake_hook, str(input_jsonl), ti)

    assert len(fingerprint) == 64
    assert all(c in "0123456789abcdef" for c in fingerprint)


def test_the_same_input_has_the_same_fingerprint(fake_hook: FakeBatchHook, tmp_path: Path, input_jsonl: Path):
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(input_jsonl.read_bytes())

    first = fingerprint_of(fake_hook, str(input_jsonl), FakeTI(run_id="run-1"))
    second = fingerprint_of(fake_hook, str(copy), FakeTI(run_id="run-2"))

    assert len(fake_hook.created) == 2  # two jobs, one fingerprint
    assert second == first


def test_a_changed_input_has_another_fingerprint(fake_hook: FakeBatchHook, tmp_path: Path, input_jsonl: Path):
    edited = write_jsonl(
        tmp_path / "edited.jsonl", [canonical_line("a"), canonical_line("b"), canonical_line("c", "bye")]
    )

    original = fingerprint_of(fake_hook, str(input_jsonl), FakeTI(run_id="run-1"))
    changed = fingerprint_of(fake_hook, str(edited), FakeTI(run_id="run-2"))

    assert changed != original


def test_another_model_gives_another_fingerprint(fake_hook: FakeBatchHook, input_jsonl: Path):
    flash = fingerprint_of(fake_hook, str(input_jsonl), FakeTI(run_id="run-1"), model="gemini-2.5-flash")
    pro = fingerprint_of(fake_hook, str(input_jsonl), FakeTI(run_id="run-2"), model="gemini-2.5-pro")

    assert pro != flash


# --- exactly once ---------------------------------------------------------------------------------------


def test_a_retry_reattaches_through_the_task_state_store(fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str):
    store = DictStateStore()
    first = submit_op(str(input_jsonl), output_uri=output_uri).execute(make_context(FakeTI(try_number=1), store=store))
    assert store.data[STATE_STORE_KEY] == first
    calls_before = len(fake_hook.calls)

    retry_ti = FakeTI(try_number=2)
    second = submit_op(str(input_jsonl), output_uri=output_uri).execute(make_context(retry_ti, store=store))

    assert second == first
    assert len(fake_hook.created) == 1
    assert len(fake_hook.uploads) == 1
    new_calls = fake_hook.calls[calls_before:]
    assert ("get_batch", first["job_name"]) in new_calls
    assert [call for call in new_calls if call[0] == "find_batch"] == []  # the store alone was enough
    assert pushed_refs(retry_ti) == [first]


def test_a_retry_reattaches_through_a_provider_lookup_by_idempotency_key(
    fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str
):
    first = submit_op(str(input_jsonl), output_uri=output_uri).execute(make_context(FakeTI(try_number=1)))

    retry_ti = FakeTI(try_number=2)
    second = submit_op(str(input_jsonl), output_uri=output_uri).execute(make_context(retry_ti))

    lookup = (key_of(retry_ti), first["input_fingerprint"])
    assert fake_hook.names("find_batch") == [lookup, lookup]
    assert len(fake_hook.created) == 1
    assert len(fake_hook.uploads) == 1
    assert second["job_name"] == first["job_name"]
    assert second["idempotency_key"] == first["idempotency_key"]
    assert second["request_count"] == 3
    assert second["keys_uri"] == first["keys_uri"]  # the keys written by the first try are still used
    assert pushed_refs(retry_ti) == [second]


def test_a_provider_lookup_hit_is_remembered_in_the_task_state_store(
    fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str
):
    first = submit_op(str(input_jsonl), output_uri=output_uri).execute(make_context(FakeTI(try_number=1)))
    store = DictStateStore()

    submit_op(str(input_jsonl), output_uri=output_uri).execute(make_context(FakeTI(try_number=2), store=store))

    assert store.data[STATE_STORE_KEY]["job_name"] == first["job_name"]


@pytest.mark.parametrize(
    "other",
    [{"run_id": "scheduled__2026-01-03T00:00:00+00:00"}, {"map_index": 1}, {"task_id": "submit_other"}],
    ids=["run_id", "map_index", "task_id"],
)
def test_a_different_task_instance_creates_a_new_job(
    fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str, other: dict[str, Any]
):
    first = submit_op(str(input_jsonl), output_uri=output_uri).execute(make_context(FakeTI()))
    second = submit_op(str(input_jsonl), output_uri=output_uri).execute(make_context(FakeTI(**other)))

    assert len(fake_hook.created) == 2
    assert second["job_name"] != first["job_name"]
    assert second["idempotency_key"] != first["idempotency_key"]


def test_a_stored_ref_whose_job_is_gone_submits_again(fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str):
    gone = BatchJobRef(provider="gemini", conn_id=FAKE_CONN_ID, job_name="batches/deleted-long-ago")
    store = DictStateStore({STATE_STORE_KEY: gone.to_xcom()})

    ref = submit_op(str(input_jsonl), output_uri=output_uri).execute(make_context(FakeTI(try_number=2), store=store))

    assert fake_hook.names("get_batch")[0] == "batches/deleted-long-ago"
    assert len(fake_hook.created) == 1
    assert ref["job_name"] == fake_hook.created[0]["job_name"]
    assert store.data[STATE_STORE_KEY] == ref


# --- waiting --------------------------------------------------------------------------------------------


def test_wait_for_completion_defers_to_the_job_trigger_with_an_explicit_timeout(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, output_uri: str
):
    op = submit_op(
        str(input_jsonl),
        output_uri=output_uri,
        wait_for_completion=True,
        poll_interval=42.0,
        job_timeout=timedelta(hours=6),
        cancel_on_kill=False,
        max_poll_failures=4,
    )

    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context(ti))

    trigger = deferred.value.trigger
    assert isinstance(trigger, GenAIBatchJobTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert trigger.job_ref.job_name == fake_hook.created[0]["job_name"]
    assert pushed_refs(ti) == [trigger.job_ref.to_xcom()]  # the link's XCom is there before deferring
    assert trigger.poll_interval == 42.0
    assert trigger.cancel_on_kill is False
    assert trigger.max_poll_failures == 4
    assert trigger.deadline == pytest.approx(before + timedelta(hours=6).total_seconds(), abs=5)
    assert deferred.value.timeout == pytest.approx(timedelta(hours=6) + DEFER_GRACE, abs=timedelta(seconds=5))


def test_the_deferral_timeout_is_bounded_by_a_smaller_execution_timeout(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, output_uri: str
):
    op = submit_op(
        str(input_jsonl),
        output_uri=output_uri,
        wait_for_completion=True,
        job_timeout=timedelta(hours=48),
        execution_timeout=timedelta(hours=1),
    )

    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context(ti))

    assert deferred.value.trigger.deadline == pytest.approx(before + 3600, abs=5)
    assert deferred.value.timeout == pytest.approx(timedelta(hours=1) + DEFER_GRACE, abs=timedelta(seconds=5))
    assert deferred.value.timeout < timedelta(hours=48)


def test_a_job_timeout_in_seconds_sets_the_deadline_as_its_timedelta_would(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, output_uri: str
):
    op = submit_op(str(input_jsonl), output_uri=output_uri, wait_for_completion=True, job_timeout=3600)

    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context(ti))

    assert deferred.value.trigger.deadline == pytest.approx(before + 3600, abs=5)
    assert deferred.value.timeout == pytest.approx(timedelta(hours=1) + DEFER_GRACE, abs=timedelta(seconds=5))


def test_a_poll_interval_given_as_a_timedelta_reaches_the_trigger_in_seconds(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, output_uri: str
):
    op = submit_op(
        str(input_jsonl), output_uri=output_uri, wait_for_completion=True, poll_interval=timedelta(minutes=2)
    )

    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context(ti))

    assert deferred.value.trigger.poll_interval == 120.0


@pytest.mark.parametrize("job_timeout", ["48h", -1, timedelta(seconds=-1), float("nan"), True])
def test_a_job_timeout_that_is_no_duration_is_refused_when_the_task_is_built(job_timeout: Any):
    with pytest.raises(ValueError, match="job_timeout"):
        submit_op("in.jsonl", job_timeout=job_timeout)


@pytest.mark.parametrize("interval", [0, 0.0, timedelta(0)], ids=str)
def test_a_poll_interval_of_no_pause_is_refused_when_the_task_is_built(interval: Any):
    with pytest.raises(ValueError, match=r"poll_interval must be more than 0 seconds \(0 polls the provider without"):
        submit_op("in.jsonl", poll_interval=interval)


@pytest.mark.parametrize("ratio", [5, "0.1", -0.1, float("nan"), True])
def test_a_max_failed_ratio_that_is_no_share_is_refused_when_the_task_is_built(ratio: Any):
    with pytest.raises(
        ValueError, match=re.escape(f"max_failed_ratio must be a number from 0 to 1 (0.05 is 5%), got {ratio!r}")
    ):
        submit_op("in.jsonl", max_failed_ratio=ratio)


@pytest.mark.parametrize("failures", ["3", -1, 2.5, None])
def test_a_max_poll_failures_that_is_no_count_is_refused_when_the_task_is_built(failures: Any):
    with pytest.raises(ValueError, match="max_poll_failures must be a whole number, 0 or more"):
        submit_op("in.jsonl", max_poll_failures=failures)


def test_the_trigger_kwargs_of_the_deferral_are_json(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, output_uri: str
):
    op = submit_op(str(input_jsonl), output_uri=output_uri, wait_for_completion=True)

    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context(ti))

    _, kwargs = deferred.value.trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs


def test_wait_for_completion_without_output_uri_is_refused_at_construction():
    with pytest.raises(ValueError, match="output_uri"):
        submit_op("in.jsonl", wait_for_completion=True)


def test_an_already_finished_job_is_not_deferred(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, output_uri: str
):
    fake_hook.next_job_script = [JobState.SUCCEEDED]
    fake_hook.next_job_results = [succeeded(k) for k in "abc"]

    manifest = submit_op(str(input_jsonl), output_uri=output_uri, wait_for_completion=True).execute(make_context(ti))

    assert manifest["counts"]["succeeded"] == 3


@pytest.mark.parametrize(
    ("rendered", "why"),
    [
        ("", "is empty"),
        ("results/run-1", "is a relative path"),
        ("~/results", "starts with '~'"),
        ("file://tmp/results", "names the host 'tmp'"),
        ("/tmp/results\n", "begins or ends with whitespace"),
        ("s3://", "names no bucket or host after s3://"),
        ("s3:///results", "names no bucket or host after s3://"),
    ],
)
def test_a_rendered_output_uri_naming_no_place_every_worker_reaches_fails_before_anything_is_uploaded(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, rendered: str, why: str
):
    op = submit_op(str(input_jsonl), output_uri="{{ params.out }}", wait_for_completion=True)
    op.output_uri = rendered  # as Airflow rendered the template

    with pytest.raises(GenAIBatchError, match=re.escape(f"output_uri {rendered!r} {why}")) as err:
        op.execute(make_context(ti))

    assert str(err.value).endswith("give an absolute path or a URI (file:///..., s3://..., gs://...)")
    assert fake_hook.uploads == [] and fake_hook.created == []


def test_an_output_uri_that_rendered_empty_without_waiting_writes_no_keys_file(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path
):
    op = submit_op(str(input_jsonl), output_uri="{{ params.out }}")
    op.output_uri = ""

    ref = op.execute(make_context(ti))

    assert ref["keys_uri"] is None
    assert len(fake_hook.created) == 1


def test_an_input_path_an_upstream_task_returned_as_an_object_storage_path_is_read(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path
):
    op = submit_op("{{ ti.xcom_pull('make_input') }}")
    op.input = ObjectStoragePath(f"file://{input_jsonl}")  # as the XComArg or a native template resolved it

    ref = op.execute(make_context(ti))

    assert ref["request_count"] == 3


@pytest.mark.parametrize("as_object", [Path, lambda path: ObjectStoragePath(f"file://{path}")], ids=["Path", "OSP"])
def test_an_input_and_output_uri_given_as_path_objects_are_read_as_their_text(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, tmp_path: Path, as_object: Any
):
    op = submit_op(as_object(input_jsonl), output_uri=as_object(tmp_path / "out"))

    ref = op.execute(make_context(ti))

    assert ref["request_count"] == 3
    assert ref["output_uri"] == str(as_object(tmp_path / "out"))
    assert (tmp_path / "out" / KEYS_FILE).read_text() == '"a"\n"b"\n"c"\n'


@pytest.mark.parametrize(
    ("rendered", "why"),
    [
        ("", "model must name a model, got '' (a template that rendered nothing?)"),
        (None, "model must name a model, got None (a template that rendered nothing?)"),
        ("gemini-2.5-flash\n", "model 'gemini-2.5-flash\\n' begins or ends with whitespace (a template's newline?)"),
    ],
)
def test_a_rendered_model_that_names_none_fails_before_anything_is_uploaded(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, output_uri: str, rendered: Any, why: str
):
    op = submit_op(str(input_jsonl), model="{{ var.value.model }}", output_uri=output_uri)
    op.model = rendered  # as Airflow rendered the template

    with pytest.raises(GenAIBatchError) as err:
        op.execute(make_context(ti))

    assert str(err.value) == why
    assert fake_hook.uploads == [] and fake_hook.created == []


def test_a_display_name_rendered_as_a_native_number_fails_before_anything_is_uploaded(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, output_uri: str
):
    with DAG("native", schedule=None, render_template_as_native_obj=True) as dag:
        op = submit_op(str(input_jsonl), display_name="{{ ds_nodash }}", output_uri=output_uri)
    op.display_name = op.render_template(op.display_name, {"ds_nodash": "20260102"}, dag.get_template_env())

    with pytest.raises(GenAIBatchError, match=r"display_name must be text, got 20260102 \(int\)"):
        op.execute(make_context(ti))

    assert fake_hook.uploads == [] and fake_hook.created == []


# --- templating -----------------------------------------------------------------------------------------


def test_template_fields_cover_input_model_display_name_output_uri_and_labels():
    assert {"input", "model", "display_name", "output_uri", "labels"} <= set(GenAIBatchSubmitOperator.template_fields)


def test_a_jsonl_input_path_is_rendered_as_text_not_loaded_as_a_template_file():
    op = submit_op("{{ params.bucket }}/{{ ds }}/in.jsonl")

    rendered = op.render_template(op.input, {"params": {"bucket": "s3://b"}, "ds": "2026-01-02"}, jinja2.Environment())

    assert ".jsonl" not in tuple(GenAIBatchSubmitOperator.template_ext)
    assert rendered == "s3://b/2026-01-02/in.jsonl"  # with ".jsonl" in template_ext: TemplateNotFound
