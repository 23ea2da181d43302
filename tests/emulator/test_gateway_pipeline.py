"""The gateway path end to end, through the real submit operator against the emulated gateway.

Each target (gemini, openai, anthropic) behind the emulator's GenAI facade: keys that no custom id can
be, inputs the gateway cannot carry, SDK-style configs, files and inline lists, a job whose every row
fails, raw passthrough states, cancel, and re-running a submit with the same or an edited input.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError, InputValidationError, JobFailedError
from airflow_provider_genai_batch.hooks.gateway import GatewayBatchHook
from airflow_provider_genai_batch.models import BatchJob, JobState
from airflow_provider_genai_batch.operators.jobs import GenAIBatchCancelJobOperator, GenAIBatchDeleteJobOperator
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor
from airflow_provider_genai_batch.testing.emulator import FAIL_MARKER, EmulatorServer
from tests.unit.pipeline.fakes import DictStateStore, FakeTI, make_context, write_jsonl

API_KEY = "gateway-break-key"
TARGETS = ("gemini", "openai", "anthropic")
MODELS = {"gemini": "gemini-2.5-flash", "openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5"}
ODD_KEYS = (
    "ticket 103/escalated",
    "clé-ünïcødé-日本語",
    "a/b/c:d?e#f%20g",
    "k" * 200,
    "line\nbreak \U0001f642",
)
"""Keys no OpenAI or Anthropic custom id can be: a space and slashes, non-ASCII, URL syntax, 200 characters."""


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(pending_seconds=0.1, running_seconds=0.2, api_key=API_KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(emulator: EmulatorServer) -> None:
    emulator.reset()


@pytest.fixture(autouse=True)
def _connections(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer) -> None:
    """One genaigateway connection per target, as a deployment would define them."""
    for target in TARGETS:
        conn = {
            "conn_type": "genaigateway",
            "host": f"{emulator.base_url}/genai",
            "password": API_KEY,
            "extra": {"model_provider": target, "retry_max_wait": 0.1},
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_GATEWAY_{target.upper()}", json.dumps(conn))


def conn(target: str) -> str:
    return f"gateway_{target}"


def line(key: str, text: str = "hello", **request: Any) -> dict[str, Any]:
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}], **request}}


def submit(target: str, input: Any, output: Path | None, **kwargs: Any) -> GenAIBatchSubmitOperator:
    if output is not None:
        kwargs.setdefault("output_uri", str(output))
        kwargs.setdefault("wait_for_completion", True)
    return GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=conn(target),
        model=MODELS[target],
        input=input,
        deferrable=False,
        poll_interval=0.05,
        **kwargs,
    )


def landed(output: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(raw) for raw in (output / "results.jsonl").read_bytes().split(b"\n") if raw.strip()]
    return {row["key"]: row for row in rows}


def gateway_calls(emulator: EmulatorServer) -> list[dict[str, Any]]:
    """Every request that reached the gateway (facade or native routes), not the in-process forwards."""
    return [
        r
        for r in emulator.requests()
        if r["path"].startswith("/genai/") or "provider=" in r.get("query", "") or r["path"].startswith("/v1/")
    ]


def creates(emulator: EmulatorServer) -> list[dict[str, Any]]:
    return [
        r
        for r in emulator.requests()
        if r["path"].startswith("/genai/") and r["path"].endswith(":batchGenerateContent")
    ]


def wait_until_ended(hook: GatewayBatchHook, name: str, timeout: float = 15.0) -> BatchJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = hook.get_batch(name)
        if job.state.is_terminal:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{name} did not end within {timeout} s")


# --- keys no custom id can be ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_odd_keys_sent_inline_land_under_the_keys_the_user_wrote(target, tmp_path, emulator):
    requests = [line(key, f"question {i}") for i, key in enumerate(ODD_KEYS)]

    manifest = submit(target, requests, tmp_path / "out").execute(make_context(FakeTI()))

    rows = landed(tmp_path / "out")
    assert sorted(rows) == sorted(ODD_KEYS)
    assert all(row["status"] == "succeeded" for row in rows.values())
    assert rows["a/b/c:d?e#f%20g"]["text"] == "Answer to: question 2"
    assert manifest["counts"]["unmatched"] == manifest["counts"]["missing"] == 0


@pytest.mark.parametrize("target", ["gemini", "openai"])
def test_odd_keys_in_an_uploaded_file_land_under_the_keys_the_user_wrote(target, tmp_path, emulator):
    source = write_jsonl(tmp_path / "in.jsonl", [line(key, f"question {i}") for i, key in enumerate(ODD_KEYS)])

    submit(target, str(source), tmp_path / "out").execute(make_context(FakeTI()))

    rows = landed(tmp_path / "out")
    assert sorted(rows) == sorted(ODD_KEYS)
    assert all(row["status"] == "succeeded" for row in rows.values())
    assert creates(emulator)[0]["json"]["batch"]["inputConfig"]["fileName"].startswith("files/")


def test_gemini_inline_results_without_metadata_still_land_under_their_keys(tmp_path, emulator):
    """The gateway names a Gemini inline response that lost its metadata ``request-<index>``: placed by order."""
    emulator.config(gemini_drop_inline_metadata=True)
    requests = [line(key, f"question {i}") for i, key in enumerate(("sky", "tides", "seasons"))]

    manifest = submit("gemini", requests, tmp_path / "out", max_failed_ratio=1.0).execute(make_context(FakeTI()))

    rows = landed(tmp_path / "out")
    assert {key: row["status"] for key, row in rows.items()} == {
        "sky": "succeeded",
        "tides": "succeeded",
        "seasons": "succeeded",
    }
    assert rows["tides"]["text"] == "Answer to: question 1"
    assert (manifest["counts"]["missing"], manifest["counts"]["unmatched"]) == (0, 0)


# --- what the gateway cannot carry: refused before any request ----------------------------------------------

UNCARRIABLE = [
    ("gemini", {"tools": [{"google_search": {}}]}, "request.tools"),
    ("gemini", {"cached_content": "cachedContents/abc"}, "request.cachedContent"),
    ("openai", {"top_k": 3}, "request.generationConfig.topK"),
    ("openai", {"thinking_config": {"thinking_budget": 0}}, "request.generationConfig.thinkingConfig"),
    ("openai", {"safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]},
     "request.safetySettings"),
    ("anthropic", {"response_mime_type": "application/json"}, "request.generationConfig.responseMimeType"),
    ("anthropic", {"seed": 7}, "request.generationConfig.seed"),
    ("anthropic", {"tools": [{"function_declarations": [{"name": "f"}]}]}, "request.tools"),
]  # fmt: skip


@pytest.mark.parametrize(("target", "config", "field"), UNCARRIABLE)
def test_a_config_the_gateway_cannot_carry_is_refused_naming_line_and_field_before_any_request(
    target, config, field, tmp_path, emulator
):
    requests = [
        {"key": "fine", "contents": "Why is the sky blue?"},
        {"key": "bad", "contents": "What causes tides?", "config": config},
    ]

    with pytest.raises(InputValidationError) as raised:
        submit(target, requests, tmp_path / "out").execute(make_context(FakeTI()))

    assert raised.value.line == 2
    assert field in raised.value.reason
    assert emulator.requests() == []


# --- SDK-style configs ---------------------------------------------------------------------------------------

SDK_ITEM = {
    "key": "sky",
    "contents": "Why is the sky blue?",
    "config": {"max_output_tokens": 32, "system_instruction": "Be terse.", "temperature": 0.5},
}


@pytest.mark.parametrize("target", TARGETS)
def test_sdk_snake_case_config_goes_inline_in_rest_spelling(target, tmp_path, emulator):
    submit(target, [SDK_ITEM], tmp_path / "out").execute(make_context(FakeTI()))

    [sent] = creates(emulator)[0]["json"]["batch"]["inputConfig"]["requests"]["requests"]
    assert sent["metadata"] == {"key": "sky"}
    assert sent["request"]["generationConfig"] == {"maxOutputTokens": 32, "temperature": 0.5}
    assert sent["request"]["systemInstruction"]["parts"] == [{"text": "Be terse."}]
    assert landed(tmp_path / "out")["sky"]["status"] == "succeeded"


@pytest.mark.parametrize("target", ["gemini", "openai"])
def test_sdk_response_mime_type_json_goes_inline_in_rest_spelling(target, tmp_path, emulator):
    item = {
        "key": "sky",
        "contents": "Why is the sky blue? Answer in JSON.",
        "config": {"response_mime_type": "application/json"},
    }

    submit(target, [item], tmp_path / "out").execute(make_context(FakeTI()))

    [sent] = creates(emulator)[0]["json"]["batch"]["inputConfig"]["requests"]["requests"]
    assert sent["request"]["generationConfig"] == {"responseMimeType": "application/json"}
    assert landed(tmp_path / "out")["sky"]["status"] == "succeeded"


def test_a_canonical_line_with_snake_case_fields_goes_inline_in_rest_spelling(tmp_path, emulator):
    item = {
        "key": "sky",
        "request": {
            "contents": [{"role": "user", "parts": [{"text": "Why?"}]}],
            "generation_config": {"max_output_tokens": 16},
            "system_instruction": {"parts": [{"text": "Be terse."}]},
        },
    }

    submit("anthropic", [item], tmp_path / "out").execute(make_context(FakeTI()))

    [sent] = creates(emulator)[0]["json"]["batch"]["inputConfig"]["requests"]["requests"]
    assert set(sent["request"]) == {"contents", "generationConfig", "systemInstruction"}
    assert sent["request"]["generationConfig"] == {"maxOutputTokens": 16}


def test_an_anthropic_request_without_max_tokens_gets_the_connection_default(tmp_path, emulator):
    submit("anthropic", [{"key": "sky", "contents": "Why?"}], tmp_path / "out").execute(make_context(FakeTI()))

    [sent] = creates(emulator)[0]["json"]["batch"]["inputConfig"]["requests"]["requests"]
    assert "maxOutputTokens" in sent["request"]["generationConfig"]
    assert landed(tmp_path / "out")["sky"]["status"] == "succeeded"


# --- files -------------------------------------------------------------------------------------------------


def test_a_gemini_jsonl_file_for_an_anthropic_target_goes_inline(tmp_path, emulator):
    source = write_jsonl(tmp_path / "in.jsonl", [line("sky", "Why?"), line("tides", "Tides?")])

    submit("anthropic", str(source), tmp_path / "out").execute(make_context(FakeTI()))

    inline = creates(emulator)[0]["json"]["batch"]["inputConfig"]["requests"]["requests"]
    assert [item["metadata"]["key"] for item in inline] == ["sky", "tides"]
    assert not [r for r in emulator.requests() if "/upload/" in r["path"]]
    assert {key: row["status"] for key, row in landed(tmp_path / "out").items()} == {
        "sky": "succeeded",
        "tides": "succeeded",
    }


def openai_line(custom_id: str, text: str) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": MODELS["openai"], "messages": [{"role": "user", "content": text}], "max_tokens": 16},
    }


def test_an_openai_native_jsonl_for_the_openai_target_is_uploaded_and_lands(tmp_path, emulator):
    source = write_jsonl(tmp_path / "in.jsonl", [openai_line("sky", "Why?"), openai_line("tides", "Tides?")])

    submit("openai", str(source), tmp_path / "out").execute(make_context(FakeTI()))

    assert creates(emulator)[0]["json"]["batch"]["inputConfig"]["fileName"].startswith("files/file-")
    rows = landed(tmp_path / "out")
    assert {key: row["status"] for key, row in rows.items()} == {"sky": "succeeded", "tides": "succeeded"}
    assert rows["sky"]["text"] == "Answer to: Why?"


def test_an_openai_native_jsonl_for_the_anthropic_target_is_refused_before_any_request(tmp_path, emulator):
    source = write_jsonl(tmp_path / "in.jsonl", [openai_line("sky", "Why?")])

    with pytest.raises(InputValidationError) as raised:
        submit("anthropic", str(source), tmp_path / "out").execute(make_context(FakeTI()))

    assert raised.value.line == 1
    assert emulator.requests() == []


# --- every row failed ------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_a_job_whose_every_row_failed_lands_every_key_as_failed(target, tmp_path, emulator):
    requests = [line(key, f"question {i} {FAIL_MARKER}") for i, key in enumerate(("sky", "tides", "seasons"))]

    manifest = submit(target, requests, tmp_path / "out", max_failed_ratio=1.0).execute(make_context(FakeTI()))

    rows = landed(tmp_path / "out")
    assert sorted(rows) == ["seasons", "sky", "tides"]
    assert all(row["status"] == "failed" and row["error"]["message"] for row in rows.values())
    assert manifest["counts"]["failed"] == 3
    assert manifest["counts"]["missing"] == 0


def test_an_openai_job_that_succeeds_with_every_row_failed_lands_the_error_file(tmp_path, emulator):
    emulator.config(job_outcome="fail_rows")

    manifest = submit("openai", [line("sky"), line("tides")], tmp_path / "out", max_failed_ratio=1.0).execute(
        make_context(FakeTI())
    )

    assert manifest["state"] == JobState.SUCCEEDED.value
    assert {key: row["status"] for key, row in landed(tmp_path / "out").items()} == {
        "sky": "failed",
        "tides": "failed",
    }


@pytest.mark.parametrize("target", ["gemini", "openai"])
def test_an_expired_job_seen_in_raw_states_lands_every_key_and_fails_the_task(target, tmp_path, emulator):
    emulator.config(gateway_raw_states=True, job_outcome="expire")

    with pytest.raises(JobFailedError, match="JOB_STATE_EXPIRED"):
        submit(target, [line("sky"), line("tides")], tmp_path / "out").execute(make_context(FakeTI()))

    assert sorted(landed(tmp_path / "out")) == ["sky", "tides"]


def test_an_openai_job_with_some_failed_rows_lands_both_files(tmp_path, emulator):
    requests = [line("sky", "Why?"), line("tides", f"Tides? {FAIL_MARKER}")]

    submit("openai", requests, tmp_path / "out", max_failed_ratio=1.0).execute(make_context(FakeTI()))

    rows = landed(tmp_path / "out")
    assert rows["sky"]["status"] == "succeeded"
    assert rows["tides"]["status"] == "failed"
    assert FAIL_MARKER in rows["tides"]["error"]["message"]


# --- raw passthrough states ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_raw_provider_states_are_waited_through_and_the_job_lands(target, tmp_path, emulator):
    emulator.config(gateway_raw_states=True)

    manifest = submit(target, [line("sky", "Why?")], tmp_path / "out").execute(make_context(FakeTI()))

    assert manifest["state"] == JobState.SUCCEEDED.value
    assert landed(tmp_path / "out")["sky"]["status"] == "succeeded"


# --- cancel while running -------------------------------------------------------------------------------------


def cancel_while_running(target: str, tmp_path: Path, emulator: EmulatorServer) -> tuple[BatchJob, dict[str, Any]]:
    """Submit two requests, cancel the job once it runs, wait for it to end; the job and its reference."""
    emulator.config(pending_seconds=0.1, running_seconds=30)
    requests = [line("sky", "Why?"), line("tides", "Tides?")]
    ref = submit(target, requests, None, output_uri=str(tmp_path / "out")).execute(make_context(FakeTI()))
    hook = GatewayBatchHook(conn_id=conn(target))
    while hook.get_batch(ref["job_name"]).state is not JobState.RUNNING:
        time.sleep(0.05)
    GenAIBatchCancelJobOperator(task_id="cancel", conn_id=conn(target), job=ref).execute(make_context(FakeTI()))
    return wait_until_ended(hook, ref["job_name"]), ref


def land(ref: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return GenAIBatchSensor(task_id="wait", job_ref=ref, **kwargs).execute_complete(
        make_context(FakeTI(task_id="wait")), event={"status": "terminal", "job_ref": ref}
    )


@pytest.mark.parametrize("target", ["gemini", "openai"])
def test_a_job_cancelled_while_running_lands_every_key_as_cancelled_and_fails_the_task(target, tmp_path, emulator):
    job, ref = cancel_while_running(target, tmp_path, emulator)

    with pytest.raises(JobFailedError, match="ended JOB_STATE_CANCELLED"):
        land(ref)

    assert job.state is JobState.CANCELLED
    assert {key: row["status"] for key, row in landed(tmp_path / "out").items()} == {
        "sky": "cancelled",
        "tides": "cancelled",
    }


def test_an_anthropic_job_cancelled_while_running_lands_every_key_as_cancelled_and_fails_the_task(tmp_path, emulator):
    job, ref = cancel_while_running("anthropic", tmp_path, emulator)

    with pytest.raises(JobFailedError, match="2 of 2 rows did not succeed"):
        land(ref)

    assert job.state is JobState.SUCCEEDED  # the gateway maps Anthropic's "ended" to succeeded, cancelled or not
    assert {key: row["status"] for key, row in landed(tmp_path / "out").items()} == {
        "sky": "cancelled",
        "tides": "cancelled",
    }


# --- re-running a submit -------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_a_rerun_with_the_same_input_reattaches_through_the_state_store(target, tmp_path, emulator):
    store = DictStateStore()
    requests = [line("sky", "Why?"), line("tides", "Tides?")]
    out = tmp_path / "out"

    first = submit(target, requests, None, output_uri=str(out)).execute(make_context(FakeTI(), store=store))
    again = submit(target, requests, None, output_uri=str(out)).execute(make_context(FakeTI(try_number=2), store=store))

    assert again == first
    assert len(creates(emulator)) == 1


@pytest.mark.parametrize("target", TARGETS)
def test_a_rerun_with_an_edited_input_submits_a_new_job(target, tmp_path, emulator):
    store = DictStateStore()
    out = tmp_path / "out"

    first = submit(target, [line("sky", "Why?")], None, output_uri=str(out)).execute(
        make_context(FakeTI(), store=store)
    )
    again = submit(target, [line("sky", "Why is it blue?")], None, output_uri=str(out)).execute(
        make_context(FakeTI(try_number=2), store=store)
    )

    assert again["job_name"] != first["job_name"]
    assert again["input_fingerprint"] != first["input_fingerprint"]
    assert len(creates(emulator)) == 2


@pytest.mark.parametrize("target", ["gemini", "openai"])  # an Anthropic batch never fails as a whole
def test_a_rerun_after_the_job_failed_submits_a_new_job(target, tmp_path, emulator):
    store = DictStateStore()
    out = tmp_path / "out"
    emulator.config(job_outcome="fail")
    first = submit(target, [line("sky", "Why?")], None, output_uri=str(out)).execute(
        make_context(FakeTI(), store=store)
    )
    wait_until_ended(GatewayBatchHook(conn_id=conn(target)), first["job_name"])
    emulator.config(job_outcome="succeed")

    again = submit(target, [line("sky", "Why?")], out).execute(make_context(FakeTI(try_number=2), store=store))

    assert again["job_ref"]["job_name"] != first["job_name"]
    assert landed(out)["sky"]["status"] == "succeeded"


# --- connections and job actions ---------------------------------------------------------------------------


def test_a_bedrock_target_is_refused_before_any_request(monkeypatch, tmp_path, emulator):
    conn_json = {
        "conn_type": "genaigateway",
        "host": f"{emulator.base_url}/genai",
        "password": API_KEY,
        "extra": {"model_provider": "bedrock"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_GATEWAY_BEDROCK", json.dumps(conn_json))
    op = GenAIBatchSubmitOperator(
        task_id="submit", conn_id="gateway_bedrock", model="anthropic.claude-3-haiku", input=[line("sky")]
    )

    with pytest.raises(GenAIBatchError, match="Bedrock"):
        op.execute(make_context(FakeTI()))

    assert emulator.requests() == []


@pytest.mark.parametrize("target", TARGETS)
def test_the_v1_api_version_runs_a_job_end_to_end(target, monkeypatch, tmp_path, emulator):
    conn_json = {
        "conn_type": "genaigateway",
        "host": f"{emulator.base_url}/genai",
        "password": API_KEY,
        "extra": {"model_provider": target, "api_version": "v1"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_GATEWAY_{target.upper()}", json.dumps(conn_json))
    source = write_jsonl(tmp_path / "in.jsonl", [line("sky", "Why?")])

    submit(target, str(source), tmp_path / "out").execute(make_context(FakeTI()))

    assert landed(tmp_path / "out")["sky"]["status"] == "succeeded"
    assert all(r["path"].startswith(("/genai/v1/", "/genai/upload/v1/")) for r in creates(emulator))


def test_a_display_name_with_slashes_and_unicode_uploads_through_the_openai_target(tmp_path, emulator):
    source = write_jsonl(tmp_path / "in.jsonl", [line("sky", "Why?")])

    submit("openai", str(source), tmp_path / "out", display_name="reports/2026-11 überblick 🙂").execute(
        make_context(FakeTI())
    )

    assert landed(tmp_path / "out")["sky"]["status"] == "succeeded"


def test_a_line_of_a_jsonl_file_the_gateway_cannot_carry_is_refused_naming_file_and_line(tmp_path, emulator):
    source = write_jsonl(
        tmp_path / "in.jsonl", [line("sky", "Why?"), line("tides", "Tides?", tools=[{"codeExecution": {}}])]
    )

    with pytest.raises(InputValidationError) as raised:
        submit("anthropic", str(source), tmp_path / "out").execute(make_context(FakeTI()))

    assert (raised.value.source, raised.value.line) == (str(source), 2)
    assert "request.tools" in raised.value.reason
    assert emulator.requests() == []


def test_deleting_an_openai_target_job_is_refused_clearly(tmp_path, emulator):
    ref = submit("openai", [line("sky", "Why?")], None).execute(make_context(FakeTI()))

    with pytest.raises(GenAIBatchError, match=r"(?i)delet"):
        GenAIBatchDeleteJobOperator(task_id="delete", conn_id=conn("openai"), job=ref).execute(make_context(FakeTI()))


# --- re-running a submit with no task state store (Airflow before 3.3, or a store emptied on success) -----------


@pytest.mark.parametrize("target", TARGETS)
def test_clearing_a_landed_submit_without_a_state_store_reattaches_to_its_job(target, tmp_path, emulator):
    requests = [line("sky", "Why?"), line("tides", "Tides?")]
    out = tmp_path / "out"
    first = submit(target, requests, out).execute(make_context(FakeTI()))

    again = submit(target, requests, out).execute(make_context(FakeTI(try_number=2)))

    assert again["job_ref"]["job_name"] == first["job_ref"]["job_name"]
    assert len(creates(emulator)) == 1
    assert landed(out)["sky"]["status"] == "succeeded"


@pytest.mark.parametrize("target", TARGETS)
def test_a_retry_without_a_state_store_whose_earlier_job_is_listed_is_refused_before_any_upload(
    target, tmp_path, emulator
):
    requests = [line("sky", "Why?"), line("tides", "Tides?")]
    first = submit(target, requests, None).execute(make_context(FakeTI()))
    sent = len(gateway_calls(emulator))

    with pytest.raises(GenAIBatchError) as err:
        submit(target, requests, None).execute(make_context(FakeTI(try_number=2)))

    assert first["job_name"] in str(err.value)
    assert "force_resubmit=True" in str(err.value)
    assert len(creates(emulator)) == 1
    assert not [r for r in gateway_calls(emulator)[sent:] if r["method"] != "GET"]  # nothing uploaded or created


@pytest.mark.parametrize("target", TARGETS)
def test_a_retry_without_a_state_store_with_force_resubmit_creates_a_new_job(target, tmp_path, emulator):
    requests = [line("sky", "Why?"), line("tides", "Tides?")]
    first = submit(target, requests, None).execute(make_context(FakeTI()))

    again = submit(target, requests, None, force_resubmit=True).execute(make_context(FakeTI(try_number=2)))

    assert again["job_name"] != first["job_name"]
    assert len(creates(emulator)) == 2


@pytest.mark.parametrize("target", TARGETS)
def test_a_retry_without_a_state_store_creates_when_no_listed_job_has_this_inputs_size(target, tmp_path, emulator):
    other = submit(target, [line("other", "One request")], None).execute(make_context(FakeTI(task_id="other")))
    wait_until_ended(GatewayBatchHook(conn_id=conn(target)), other["job_name"])  # OpenAI shows its size once run

    again = submit(target, [line("sky", "Why?"), line("tides", "Tides?")], None).execute(
        make_context(FakeTI(try_number=2))
    )

    assert again["request_count"] == 2
    assert len(creates(emulator)) == 2


@pytest.mark.parametrize("target", ["gemini", "openai"])  # an Anthropic batch never fails as a whole
def test_a_retry_without_a_state_store_after_the_job_failed_creates_a_new_job(target, tmp_path, emulator):
    requests = [line("sky", "Why?")]
    emulator.config(job_outcome="fail")
    first = submit(target, requests, None).execute(make_context(FakeTI()))
    wait_until_ended(GatewayBatchHook(conn_id=conn(target)), first["job_name"])
    emulator.config(job_outcome="succeed")

    again = submit(target, requests, None).execute(make_context(FakeTI(try_number=2)))

    assert again["job_name"] != first["job_name"]


@pytest.mark.parametrize("target", TARGETS)
def test_a_retry_after_a_create_whose_answer_was_lost_is_refused_not_paid_twice(target, tmp_path, emulator):
    requests = [line("sky", "Why?"), line("tides", "Tides?")]
    emulator.config(faults={"lost_rate": 1.0, "lost_mode": "error", "paths": ":batchGenerateContent$", "max_faults": 1})
    with pytest.raises(GenAIBatchError):
        submit(target, requests, None).execute(make_context(FakeTI()))  # the gateway made the job; the answer is lost
    made = [job["name"] for job in emulator.jobs()]

    with pytest.raises(GenAIBatchError, match="force_resubmit=True"):
        submit(target, requests, None).execute(make_context(FakeTI(try_number=2)))

    assert len(creates(emulator)) == 1
    assert len(made) >= 1
