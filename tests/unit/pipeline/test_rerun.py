"""Clear and re-run: a submit re-attaches only to a job made for the same input, or pays again on purpose.

The input is validated and fingerprinted before any earlier job is looked for; a stored job made for
another input is not re-attached to (and the log says what changed); ``force_resubmit`` submits anew;
results an earlier job landed in the output directory are moved aside, never half overwritten.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest

from airflow_provider_genai_batch.earlier_results import SUPERSEDED_DIR
from airflow_provider_genai_batch.errors import GenAIBatchError, InputValidationError, NotFoundError
from airflow_provider_genai_batch.formats.results import ResultRow
from airflow_provider_genai_batch.idempotency import idempotency_key
from airflow_provider_genai_batch.job_ref import STATE_STORE_KEY, BatchJobRef
from airflow_provider_genai_batch.landing import KEYS_FILE, MANIFEST_FILE, RESULTS_FILE
from airflow_provider_genai_batch.models import JobState
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

from .fakes import (
    FAKE_CONN_ID,
    DictStateStore,
    FakeBatchHook,
    FakeTI,
    canonical_line,
    capture_log,
    log_messages,
    make_context,
    submit_op,
    succeeded,
    write_jsonl,
)


def write_input(path: Path, keys: str, text: str = "hello") -> Path:
    return write_jsonl(path, [canonical_line(k, text) for k in keys])


def land(fake_hook: FakeBatchHook, ref: dict[str, Any]) -> dict[str, Any]:
    """Finish the job of ``ref`` with one succeeded row per key it was submitted with, and land it."""
    name = ref["job_name"]
    keys = [json.loads(line) for line in Path(ref["keys_uri"]).read_text().splitlines()]
    fake_hook.jobs[name] = fake_hook.jobs[name].model_copy(update={"state": JobState.SUCCEEDED})
    fake_hook.results[name] = [succeeded(key) for key in keys]
    return GenAIBatchSensor(task_id="wait", job_ref=ref).execute_complete(
        make_context(), event={"status": "terminal", "job_ref": ref}
    )


@pytest.fixture
def store() -> DictStateStore:
    return DictStateStore()


@pytest.fixture
def five_lines(tmp_path: Path) -> Path:
    return write_input(tmp_path / "input.jsonl", "abcde")


# --- the same input -------------------------------------------------------------------------------------


def test_a_rerun_with_the_same_input_reattaches_and_submits_nothing(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path, output_uri: str
):
    first = submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(), store=store))

    again = submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(try_number=2), store=store))

    assert again == first
    assert len(fake_hook.created) == 1
    assert len(fake_hook.uploads) == 1


def test_the_input_is_validated_before_any_earlier_job_is_looked_for(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path, output_uri: str
):
    submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(), store=store))
    calls_before = len(fake_hook.calls)
    write_jsonl(five_lines, [canonical_line("a"), canonical_line("b"), '{"key": "c", "request": {'])

    with pytest.raises(InputValidationError) as err:
        submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(try_number=2), store=store))

    assert err.value.line == 3
    assert "invalid JSON" in str(err.value)
    # no lookup, no re-attach, no upload, no create: only the connection was looked up
    assert fake_hook.calls[calls_before:] == [("get_hook", FAKE_CONN_ID)]
    assert len(fake_hook.created) == 1


def test_invalid_input_on_a_rerun_leaves_the_landed_results_and_the_stored_ref_alone(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path, output_uri: str
):
    first = submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(), store=store))
    land(fake_hook, first)
    landed = {name: (Path(output_uri) / name).read_bytes() for name in (KEYS_FILE, RESULTS_FILE, MANIFEST_FILE)}
    five_lines.write_text("not json\n")

    with pytest.raises(InputValidationError, match="line 1"):
        submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(try_number=2), store=store))

    assert {name: (Path(output_uri) / name).read_bytes() for name in landed} == landed
    assert store.data[STATE_STORE_KEY] == first


# --- an edited input ------------------------------------------------------------------------------------


def test_a_rerun_after_the_input_grew_submits_a_second_job_for_the_new_input(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path, output_uri: str
):
    first = submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(), store=store))
    write_input(five_lines, "abcdef")

    second = submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(try_number=2), store=store))

    assert [c["job_name"] for c in fake_hook.created] == [first["job_name"], second["job_name"]]
    assert second["request_count"] == 6
    assert second["input_fingerprint"] != first["input_fingerprint"]
    assert fake_hook.created[1]["input_fingerprint"] == second["input_fingerprint"]
    assert store.data[STATE_STORE_KEY] == second
    assert (Path(output_uri) / KEYS_FILE).read_text() == "".join(f'"{k}"\n' for k in "abcdef")


def test_the_log_says_which_job_is_not_reattached_to_and_what_changed(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path, output_uri: str, caplog
):
    first = submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(), store=store))
    write_input(five_lines, "abcdef")
    op = submit_op(str(five_lines), output_uri=output_uri)
    capture_log(op, caplog)

    second = op.execute(make_context(FakeTI(try_number=2), store=store))

    old, new = first["input_fingerprint"][:12], second["input_fingerprint"][:12]
    warnings = log_messages(caplog, logging.WARNING)
    assert (
        f"the input changed since job {first['job_name']} was submitted (fingerprint {old} -> {new}; "
        "5 -> 6 requests): not re-attaching to it; looking for a job made for this input, else submitting one"
    ) in warnings
    assert any(f"created gemini job {second['job_name']} with 6 requests" in m for m in log_messages(caplog))


def test_an_edit_that_keeps_the_request_count_is_logged_as_changed_contents(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path, caplog
):
    submit_op(str(five_lines)).execute(make_context(FakeTI(), store=store))
    write_input(five_lines, "abcde", text="goodbye")
    op = submit_op(str(five_lines))
    capture_log(op, caplog)

    op.execute(make_context(FakeTI(try_number=2), store=store))

    assert len(fake_hook.created) == 2
    assert any("5 requests, contents or settings changed" in m for m in log_messages(caplog, logging.WARNING))


def test_another_model_is_another_input(fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path):
    submit_op(str(five_lines), model="gemini-2.5-flash").execute(make_context(FakeTI(), store=store))

    submit_op(str(five_lines), model="gemini-2.5-pro").execute(make_context(FakeTI(try_number=2), store=store))

    assert [c["model"] for c in fake_hook.created] == ["gemini-2.5-flash", "gemini-2.5-pro"]


def test_a_stored_job_that_records_no_fingerprint_is_not_reattached_to(
    fake_hook: FakeBatchHook, five_lines: Path, caplog
):
    ti = FakeTI(try_number=2)
    fake_hook.add_job("batches/made-by-an-older-release", JobState.RUNNING)
    unfingerprinted = BatchJobRef(provider="gemini", conn_id=FAKE_CONN_ID, job_name="batches/made-by-an-older-release")
    store = DictStateStore({STATE_STORE_KEY: unfingerprinted.to_xcom()})
    op = submit_op(str(five_lines))
    capture_log(op, caplog)

    ref = op.execute(make_context(ti, store=store))

    assert ref["job_name"] == fake_hook.created[0]["job_name"] != "batches/made-by-an-older-release"
    warnings = log_messages(caplog, logging.WARNING)
    assert any("batches/made-by-an-older-release records no input fingerprint" in m for m in warnings)


def test_an_old_job_still_running_is_named_as_no_longer_waited_on(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path, caplog
):
    first = submit_op(str(five_lines)).execute(make_context(FakeTI(), store=store))
    write_input(five_lines, "abcdef")
    op = submit_op(str(five_lines))
    capture_log(op, caplog)

    op.execute(make_context(FakeTI(try_number=2), store=store))

    assert (
        f"{first['job_name']} is still JOB_STATE_PENDING and no longer waited on by this task: cancel it "
        "(GenAIBatchCancelJobOperator) if its results are not wanted"
    ) in log_messages(caplog, logging.WARNING)
    assert fake_hook.names("cancel_batch") == []  # the user's call, not ours


def test_an_old_job_that_ended_gets_no_still_running_warning(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path, caplog
):
    first = submit_op(str(five_lines)).execute(make_context(FakeTI(), store=store))
    fake_hook.script(first["job_name"], JobState.SUCCEEDED)
    write_input(five_lines, "abcdef")
    op = submit_op(str(five_lines))
    capture_log(op, caplog)

    op.execute(make_context(FakeTI(try_number=2), store=store))

    assert not any("no longer waited on" in m for m in log_messages(caplog))


def test_without_a_state_store_an_edited_input_is_not_found_by_key_and_gets_a_new_job(
    fake_hook: FakeBatchHook, five_lines: Path
):
    ti = FakeTI()
    first = submit_op(str(five_lines)).execute(make_context(ti))
    write_input(five_lines, "abcdef")

    second = submit_op(str(five_lines)).execute(make_context(FakeTI(try_number=2)))

    key = idempotency_key(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)
    assert fake_hook.names("find_batch") == [(key, first["input_fingerprint"]), (key, second["input_fingerprint"])]
    assert len(fake_hook.created) == 2
    assert second["job_name"] != first["job_name"]


def test_reverting_the_input_reattaches_to_the_job_made_for_it(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path
):
    original = submit_op(str(five_lines)).execute(make_context(FakeTI(), store=store))
    write_input(five_lines, "abcdef")
    edited = submit_op(str(five_lines)).execute(make_context(FakeTI(try_number=2), store=store))
    write_input(five_lines, "abcde")

    reverted = submit_op(str(five_lines)).execute(make_context(FakeTI(try_number=3), store=store))

    assert len(fake_hook.created) == 2
    assert edited["job_name"] != original["job_name"]
    assert reverted["job_name"] == original["job_name"]
    assert store.data[STATE_STORE_KEY] == reverted


def test_a_job_of_the_same_input_that_ended_badly_is_not_reattached_to(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path
):
    first = submit_op(str(five_lines)).execute(make_context(FakeTI(), store=store))
    fake_hook.script(first["job_name"], JobState.FAILED)

    second = submit_op(str(five_lines)).execute(make_context(FakeTI(try_number=2), store=store))

    assert second["job_name"] != first["job_name"]
    assert second["input_fingerprint"] == first["input_fingerprint"]


# --- force_resubmit ----------------------------------------------------------------------------------------


def test_force_resubmit_submits_a_new_job_for_the_same_input_and_says_so(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path, caplog
):
    first = submit_op(str(five_lines)).execute(make_context(FakeTI(), store=store))
    op = submit_op(str(five_lines), force_resubmit=True)
    capture_log(op, caplog)

    second = op.execute(make_context(FakeTI(try_number=2), store=store))

    assert len(fake_hook.created) == 2
    assert second["job_name"] != first["job_name"]
    assert second["input_fingerprint"] == first["input_fingerprint"]
    assert store.data[STATE_STORE_KEY] == second
    assert (
        f"force_resubmit is set: not re-attaching to {first['job_name']} (JOB_STATE_PENDING), "
        "submitting a new job for the same input"
    ) in log_messages(caplog, logging.WARNING)


@pytest.mark.parametrize(
    ("rendered", "new_job"),
    [
        *[(text, True) for text in ("true", "True", " TRUE ", "1", "yes", "on")],
        *[(text, False) for text in ("false", "False", "0", "no", "off", "")],
    ],
)
def test_force_resubmit_rendered_as_text_is_read_as_a_switch(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path, rendered: str, new_job: bool
):
    submit_op(str(five_lines)).execute(make_context(FakeTI(), store=store))

    submit_op(str(five_lines), force_resubmit=rendered).execute(make_context(FakeTI(try_number=2), store=store))

    assert len(fake_hook.created) == (2 if new_job else 1)


def test_force_resubmit_from_a_jinja_template_of_a_param_pays_again(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path
):
    submit_op(str(five_lines)).execute(make_context(FakeTI(), store=store))
    op = submit_op(str(five_lines), force_resubmit="{{ params.force_resubmit }}")
    context = make_context(FakeTI(try_number=2), store=store)
    context["params"] = {"force_resubmit": True}

    op.render_template_fields(context, jinja2.Environment())
    op.execute(context)

    assert op.force_resubmit == "True"
    assert len(fake_hook.created) == 2


@pytest.mark.parametrize("value", ["maybe", "2", 1, None])
def test_a_force_resubmit_that_is_no_switch_fails_before_anything_is_read(
    fake_hook: FakeBatchHook, tmp_path: Path, value: Any
):
    with pytest.raises(GenAIBatchError, match="force_resubmit must be true or false"):
        submit_op(str(tmp_path / "never-read.jsonl"), force_resubmit=value).execute(make_context(FakeTI()))

    assert fake_hook.calls == [("get_hook", FAKE_CONN_ID)]


def test_force_resubmit_is_a_template_field():
    assert "force_resubmit" in GenAIBatchSubmitOperator.template_fields


# --- results an earlier job landed ---------------------------------------------------------------------


def test_a_new_job_moves_the_earlier_jobs_landed_results_aside_whole(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path, output_uri: str
):
    first = submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(), store=store))
    first_manifest = land(fake_hook, first)
    landed = {name: (Path(output_uri) / name).read_text() for name in (KEYS_FILE, RESULTS_FILE)}
    write_input(five_lines, "abcdef")

    submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(try_number=2), store=store))

    (kept,) = (Path(output_uri) / SUPERSEDED_DIR).iterdir()
    assert kept.name.endswith(f"-{first['job_name'].rsplit('/', 1)[-1]}")
    assert {name: (kept / name).read_text() for name in landed} == landed
    moved = json.loads((kept / MANIFEST_FILE).read_text())
    assert moved["job_ref"] == first
    assert moved["counts"] == first_manifest["counts"]
    assert moved["results_uri"] == str(kept / RESULTS_FILE)
    assert moved["manifest_uri"] == str(kept / MANIFEST_FILE)
    assert not (Path(output_uri) / MANIFEST_FILE).exists()  # no manifest of the old job claims the directory
    assert not (Path(output_uri) / RESULTS_FILE).exists()
    assert (Path(output_uri) / KEYS_FILE).read_text() == "".join(f'"{k}"\n' for k in "abcdef")


def test_the_new_jobs_results_then_land_in_the_output_directory(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path, output_uri: str
):
    land(fake_hook, submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(), store=store)))
    write_input(five_lines, "abcdef")
    second = submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(try_number=2), store=store))

    manifest = land(fake_hook, second)

    assert manifest["job_ref"]["job_name"] == second["job_name"]
    assert manifest["counts"]["total"] == manifest["counts"]["succeeded"] == 6
    assert manifest["results_uri"] == str(Path(output_uri) / RESULTS_FILE)


def test_a_cleared_wait_that_can_no_longer_read_the_results_returns_the_landed_ones_and_leaves_them_whole(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path, output_uri: str
):
    ref = submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(), store=store))
    manifest = land(fake_hook, ref)
    landed = {path.name: path.read_bytes() for path in Path(output_uri).iterdir()}

    def expired_output() -> Iterator[ResultRow]:
        yield succeeded("a")
        raise NotFoundError("file files/batch-output not found", http_status=404, provider="gemini")

    fake_hook.results[ref["job_name"]] = expired_output
    again = GenAIBatchSensor(task_id="wait", job_ref=ref).execute_complete(
        make_context(FakeTI(task_id="wait", try_number=2)), event={"status": "terminal", "job_ref": ref}
    )

    assert again == manifest
    assert {path.name: path.read_bytes() for path in Path(output_uri).iterdir()} == landed


def test_reattaching_to_the_same_job_keeps_its_landed_results_in_place(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path, output_uri: str
):
    first = submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(), store=store))
    land(fake_hook, first)
    landed = {name: (Path(output_uri) / name).read_bytes() for name in (KEYS_FILE, RESULTS_FILE, MANIFEST_FILE)}

    submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(try_number=2), store=store))

    assert {name: (Path(output_uri) / name).read_bytes() for name in landed} == landed
    assert not (Path(output_uri) / SUPERSEDED_DIR).exists()


def test_reattaching_to_a_job_moves_another_jobs_landed_results_aside(
    fake_hook: FakeBatchHook, store: DictStateStore, five_lines: Path, output_uri: str
):
    original = submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(), store=store))
    write_input(five_lines, "abcdef")
    edited = submit_op(str(five_lines), output_uri=output_uri).execute(make_context(FakeTI(try_number=2), store=store))
    land(fake_hook, edited)
    write_input(five_lines, "abcde")

    reverted = submit_op(str(five_lines), output_uri=output_uri).execute(
        make_context(FakeTI(try_number=3), store=store)
    )

    assert reverted["job_name"] == original["job_name"]
    (kept,) = (Path(output_uri) / SUPERSEDED_DIR).iterdir()
    assert json.loads((kept / MANIFEST_FILE).read_text())["job_ref"]["job_name"] == edited["job_name"]
    assert (Path(output_uri) / KEYS_FILE).read_text() == "".join(f'"{k}"\n' for k in "abcde")
    assert land(fake_hook, reverted)["counts"]["total"] == 5


# --- two runs sharing one output_uri -----------------------------------------------------------------------


def run_submit(input_path: Path, output_uri: str, run_id: str, store: DictStateStore | None = None) -> dict[str, Any]:
    """One run's submit, with its own task state store unless given one."""
    context = make_context(FakeTI(run_id=run_id), store=store or DictStateStore())
    return submit_op(str(input_path), output_uri=output_uri).execute(context)


def finish(fake_hook: FakeBatchHook, ref: dict[str, Any], keys: str) -> None:
    """End the job of ``ref`` with one succeeded row for each of ``keys``, the keys it was submitted with."""
    name = ref["job_name"]
    fake_hook.jobs[name] = fake_hook.jobs[name].model_copy(update={"state": JobState.SUCCEEDED})
    fake_hook.results[name] = [succeeded(key) for key in keys]


def wait(ref: dict[str, Any]) -> dict[str, Any]:
    return GenAIBatchSensor(task_id="wait", job_ref=ref).execute_complete(
        make_context(FakeTI(task_id="wait")), event={"status": "terminal", "job_ref": ref}
    )


def test_a_job_whose_keys_file_another_runs_submit_replaced_lands_nothing_and_says_why(
    fake_hook: FakeBatchHook, tmp_path: Path, output_uri: str
):
    monday = run_submit(write_input(tmp_path / "monday.jsonl", "abc"), output_uri, "scheduled__monday")
    run_submit(write_input(tmp_path / "tuesday.jsonl", "wxyz"), output_uri, "scheduled__tuesday")
    finish(fake_hook, monday, "abc")

    with pytest.raises(GenAIBatchError) as err:
        wait(monday)

    assert str(err.value).startswith(
        f"the keys file {monday['keys_uri']} no longer holds the keys {monday['job_name']} was submitted with: "
        "another job's submit into the same output_uri"
    )
    assert sorted(path.name for path in Path(output_uri).iterdir()) == [KEYS_FILE]
    assert (Path(output_uri) / KEYS_FILE).read_text() == "".join(f'"{k}"\n' for k in "wxyz")


def test_the_results_the_later_run_landed_are_left_as_they_are(
    fake_hook: FakeBatchHook, tmp_path: Path, output_uri: str
):
    monday = run_submit(write_input(tmp_path / "monday.jsonl", "abc"), output_uri, "scheduled__monday")
    tuesday = run_submit(
        write_input(tmp_path / "tuesday.jsonl", "wxyz"), output_uri, "scheduled__tuesday", DictStateStore()
    )
    finish(fake_hook, tuesday, "wxyz")
    wait(tuesday)
    landed = {path.name: path.read_bytes() for path in Path(output_uri).iterdir()}
    finish(fake_hook, monday, "abc")

    with pytest.raises(GenAIBatchError, match="no longer holds the keys"):
        wait(monday)

    assert {path.name: path.read_bytes() for path in Path(output_uri).iterdir()} == landed


def test_clearing_the_earlier_runs_submit_into_an_output_uri_of_its_own_reattaches_and_lands_its_job(
    fake_hook: FakeBatchHook, tmp_path: Path, output_uri: str
):
    monday_input, store = write_input(tmp_path / "monday.jsonl", "abc"), DictStateStore()
    monday = run_submit(monday_input, output_uri, "scheduled__monday", store)
    run_submit(write_input(tmp_path / "tuesday.jsonl", "wxyz"), output_uri, "scheduled__tuesday")
    finish(fake_hook, monday, "abc")

    again = run_submit(monday_input, str(tmp_path / "monday-out"), "scheduled__monday", store)
    manifest = wait(again)

    assert again["job_name"] == monday["job_name"]
    assert len(fake_hook.created) == 2
    assert manifest["counts"]["total"] == manifest["counts"]["succeeded"] == 3


def test_two_mapped_task_instances_with_the_same_input_make_a_job_each(fake_hook: FakeBatchHook, five_lines: Path):
    refs = [
        submit_op(str(five_lines)).execute(make_context(FakeTI(map_index=index), store=DictStateStore()))
        for index in (0, 1)
    ]

    assert [c["job_name"] for c in fake_hook.created] == [ref["job_name"] for ref in refs]
    assert refs[0]["idempotency_key"] != refs[1]["idempotency_key"]
    assert refs[0]["input_fingerprint"] == refs[1]["input_fingerprint"]


def test_a_job_landing_where_another_job_landed_moves_those_results_aside_whole(
    fake_hook: FakeBatchHook, five_lines: Path, output_uri: str
):
    first, second = (
        submit_op(str(five_lines), output_uri=output_uri).execute(
            make_context(FakeTI(map_index=index), store=DictStateStore())
        )
        for index in (0, 1)
    )
    finish(fake_hook, first, "abcde")
    finish(fake_hook, second, "abcde")
    first_manifest = wait(first)
    landed = {name: (Path(output_uri) / name).read_text() for name in (KEYS_FILE, RESULTS_FILE)}

    second_manifest = wait(second)

    (kept,) = (Path(output_uri) / SUPERSEDED_DIR).iterdir()
    assert {name: (kept / name).read_text() for name in landed} == landed
    moved = json.loads((kept / MANIFEST_FILE).read_text())
    assert (moved["job_ref"], moved["counts"]) == (first, first_manifest["counts"])
    assert moved["results_uri"] == str(kept / RESULTS_FILE)
    assert json.loads((Path(output_uri) / MANIFEST_FILE).read_text()) == second_manifest
    assert second_manifest["job_ref"]["job_name"] == second["job_name"]
    assert (Path(output_uri) / KEYS_FILE).read_text() == landed[KEYS_FILE]
