"""The gateway's formats: inline requests are Gemini requests for every target, checked against what the
gateway keeps (contents, generationConfig, safetySettings, systemInstruction) and, for OpenAI and Anthropic,
against its translation; files hold the target's own lines. Every refusal names the line and the field,
before anything is uploaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import InputValidationError, ProviderAPIError
from airflow_provider_genai_batch.formats import gateway
from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.bedrock import BedrockDialect
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.dialect import ProviderLimits
from airflow_provider_genai_batch.formats.gateway import GatewayInlineDialect, known_state, target_dialect
from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.formats.results import (
    CONTENT_BLOCKED,
    NO_ANSWER,
    RowStatus,
    Usage,
)
from airflow_provider_genai_batch.formats.validate import INLINE_SOURCE
from airflow_provider_genai_batch.inputs import PreparedInput, prepare_input
from airflow_provider_genai_batch.models import BatchJob, JobState
from airflow_provider_genai_batch.testing.emulator.gateway.targets import gemini_result_item

MODEL = "m"
TEXT = [{"role": "user", "parts": [{"text": "Why is the sky blue?"}]}]
PNG = {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
FIRST = {"key": "first", "request": {"contents": TEXT}}


def line(**request: Any) -> dict[str, Any]:
    """A canonical line keyed ``late`` whose request is ``contents`` (a text turn) plus ``request``."""
    return {"key": "late", "request": {"contents": TEXT, **request}}


def prepare(requests: Any, target: str, **options: Any) -> PreparedInput:
    return prepare_input(requests, target_dialect(target, **options), model=MODEL, embeddings=False)


def sent(prepared: PreparedInput) -> list[dict[str, Any]]:
    assert prepared.inline is not None
    try:
        return list(prepared.inline)
    finally:
        prepared.cleanup()


# --- which dialect reads which requests ----------------------------------------------------------------


@pytest.mark.parametrize("dialect", [GeminiDialect(), OpenAIDialect(), AnthropicDialect(), BedrockDialect()])
def test_a_provider_takes_inline_requests_in_its_own_format(dialect):
    assert dialect.inline is dialect


@pytest.mark.parametrize(
    ("target", "file_format"),
    [("gemini", InputFormat.GEMINI), ("openai", InputFormat.OPENAI), ("anthropic", InputFormat.ANTHROPIC)],
)
def test_a_gateway_uploads_the_targets_lines_but_takes_inline_requests_in_the_gemini_format(target, file_format):
    dialect = target_dialect(target)
    assert (dialect.provider, dialect.native_format) == ("gateway", file_format)
    assert isinstance(dialect.inline, GatewayInlineDialect)
    assert (dialect.inline.provider, dialect.inline.native_format) == ("gateway", InputFormat.GEMINI)
    assert dialect.inline.capabilities == dialect.capabilities


@pytest.mark.parametrize(("target", "hashed"), [("gemini", False), ("openai", True), ("anthropic", True)])
def test_the_key_becomes_the_targets_custom_id(target, hashed):
    inline = target_dialect(target).inline
    assert inline.provider_key("ok_key-1") == "ok_key-1"
    assert inline.provider_key("a key/with spaces").startswith("k-") is hashed


# --- what goes inline ---------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["gemini", "openai", "anthropic"])
def test_the_documented_keyless_sdk_style_requests_go_inline_as_rest_gemini_requests(target):
    documented = [
        {
            "contents": [{"parts": [{"text": "What is 2+2?"}], "role": "user"}],
            "config": {"response_modalities": ["TEXT"]},
        }
    ]

    [request] = sent(prepare(documented, target, default_max_tokens=99))

    expected_config: dict[str, Any] = {"responseModalities": ["TEXT"]}
    if target == "anthropic":
        expected_config["maxOutputTokens"] = 99
    assert request == {
        "key": "0",
        "request": {
            "contents": [{"parts": [{"text": "What is 2+2?"}], "role": "user"}],
            "generationConfig": expected_config,
        },
    }


def test_a_request_written_with_sdk_spellings_goes_in_rest_spelling():
    written = line(generation_config={"max_output_tokens": 12}, system_instruction={"parts": [{"text": "Be brief."}]})

    [request] = sent(prepare([written], "openai"))

    assert request["request"] == {
        "contents": TEXT,
        "generationConfig": {"maxOutputTokens": 12},
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }


def test_an_anthropic_request_keeps_its_own_max_output_tokens():
    [request] = sent(prepare([line(generationConfig={"maxOutputTokens": 64, "topK": 5})], "anthropic"))
    assert request["request"]["generationConfig"] == {"maxOutputTokens": 64, "topK": 5}


def test_translatable_openai_requests_go_whole():
    request = line(
        systemInstruction={"parts": [{"text": "Answer in JSON."}]},
        contents=[
            {"role": "user", "parts": [{"text": "Describe it."}, PNG]},
            {"role": "model", "parts": [{"text": "A dot."}]},
        ],
        generationConfig={
            "temperature": 0.2,
            "topP": 0.9,
            "stopSequences": ["END"],
            "seed": 7,
            "responseMimeType": "application/json",
        },
    )
    [prepared] = sent(prepare([request], "openai"))
    assert prepared["request"] == request["request"]


@pytest.mark.parametrize("target", ["openai", "anthropic"])
def test_inline_bytes_go_to_a_translated_target_in_standard_padded_base64(target):
    image = {"inlineData": {"mimeType": "image/png", "data": "-_8"}}
    request = line(contents=[{"role": "user", "parts": [{"text": "Describe it."}, image]}])
    [prepared] = sent(prepare([request], target))
    assert prepared["request"]["contents"][0]["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": "+/8="}}


def test_inline_bytes_go_to_a_gemini_target_as_written():
    request = line(contents=[{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "-_8"}}]}])
    [prepared] = sent(prepare([request], "gemini"))
    assert prepared["request"] == request["request"]


@pytest.mark.parametrize("target", ["openai", "anthropic"])
def test_an_empty_response_modalities_list_is_text_for_a_translated_target(target):
    [prepared] = sent(prepare([line(generationConfig={"responseModalities": []})], target))
    assert prepared["request"]["generationConfig"]["responseModalities"] == []


def test_a_gemini_target_refuses_function_calls_the_gemini_api_would_refuse():
    call = {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}
    with pytest.raises(InputValidationError, match=r"request\.contents\[0\] has functionCall parts but is the first"):
        prepare([line(contents=[call])], "gemini")


def test_a_gemini_target_keeps_safety_settings_and_any_part():
    request = line(
        contents=[
            {"role": "user", "parts": [{"fileData": {"fileUri": "https://x/y.pdf", "mimeType": "application/pdf"}}]}
        ],
        safetySettings=[{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        generationConfig={"topK": 3},
    )
    [prepared] = sent(prepare([request], "gemini"))
    assert prepared["request"] == request["request"]


def test_a_model_naming_the_batch_model_is_no_loss():
    [prepared] = sent(prepare([line(model=f"models/{MODEL}")], "openai"))
    assert prepared["request"] == {"contents": TEXT}


# --- what the gateway would drop or cannot translate: refused, naming line and field ------------------

REFUSED = [
    ("gemini", line(tools=[{"googleSearch": {}}]), "request.tools would be dropped by the gateway"),
    ("gemini", line(toolConfig={"functionCallingConfig": {"mode": "AUTO"}}), "request.toolConfig would be dropped"),
    ("gemini", line(cachedContent="cachedContents/c1"), "request.cachedContent would be dropped"),
    ("gemini", line(labels={"team": "a"}), "request.labels would be dropped"),
    ("gemini", {**line(), "metadata": {"source": "crm"}}, "metadata.source would be dropped by the gateway"),
    ("openai", line(tools=[{"functionDeclarations": [{"name": "f"}]}]), "request.tools would be dropped"),
    ("openai", line(generationConfig={"topK": 3}), "request.generationConfig.topK cannot go through the gateway"),
    (
        "openai",
        line(generationConfig={"thinkingConfig": {"thinkingBudget": 0}}),
        "request.generationConfig.thinkingConfig",
    ),
    ("openai", line(generationConfig={"responseLogprobs": True}), "request.generationConfig.responseLogprobs"),
    ("openai", line(generationConfig={"responseMimeType": "text/x.enum"}), "request.generationConfig.responseMimeType"),
    ("openai", line(generationConfig={"responseModalities": ["IMAGE"]}), "request.generationConfig.responseModalities"),
    (
        "openai",
        line(generationConfig={"responseSchema": {"type": "OBJECT"}}),
        "request.generationConfig.responseSchema cannot go through the gateway to openai: a schema needs",
    ),
    (
        "openai",
        line(safetySettings=[{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]),
        "request.safetySettings would be dropped by the gateway",
    ),
    (
        "openai",
        line(
            contents=[
                {
                    "parts": [
                        {"text": "Read this."},
                        {"fileData": {"fileUri": "https://x/y.png", "mimeType": "image/png"}},
                    ]
                }
            ]
        ),
        "request.contents[0].parts[1].fileData cannot go through the gateway to openai",
    ),
    (
        "openai",
        line(contents=[{"parts": [{"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}}]}]),
        "request.contents[0].parts[0].inlineData cannot go through the gateway to openai: it translates image data",
    ),
    (
        "openai",
        line(contents=[{"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}, TEXT[0]]),
        "request.contents[0].parts[0].functionCall cannot go through the gateway",
    ),
    (
        "openai",
        line(generationConfig={"presencePenalty": 2.5}),
        "generationConfig.presencePenalty cannot be sent to openai",
    ),
    ("anthropic", line(generationConfig={"seed": 1}), "request.generationConfig.seed cannot go through the gateway"),
    ("anthropic", line(generationConfig={"candidateCount": 2}), "request.generationConfig.candidateCount"),
    (
        "anthropic",
        line(generationConfig={"responseMimeType": "application/json"}),
        "request.generationConfig.responseMimeType",
    ),
    (
        "anthropic",
        line(generationConfig={"temperature": 1.5}),
        "generationConfig.temperature cannot be sent to anthropic",
    ),
    (
        "anthropic",
        line(safetySettings=[{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]),
        "request.safetySettings would be dropped",
    ),
]


@pytest.mark.parametrize(("target", "bad", "reason"), REFUSED, ids=[f"{t}-{r.split()[0]}" for t, _, r in REFUSED])
def test_what_the_gateway_cannot_carry_is_refused_naming_the_line_and_the_field(target, bad, reason):
    with pytest.raises(InputValidationError) as raised:
        prepare([FIRST, bad], target)

    assert (raised.value.source, raised.value.line) == (INLINE_SOURCE, 2)
    assert reason in raised.value.reason


TOOLS = {"gemini": [{"googleSearch": {}}], "openai": [{"functionDeclarations": [{"name": "lookup"}]}]}


@pytest.mark.parametrize("target", ["gemini", "openai"])
def test_a_jsonl_file_goes_up_in_the_targets_own_lines_with_what_inline_requests_cannot_carry(tmp_path, target):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(item) + "\n" for item in (FIRST, line(tools=TOOLS[target]))))

    prepared = prepare(str(source), target)
    try:
        assert prepared.inline is None
        assert prepared.upload_source is not None
    finally:
        prepared.cleanup()


def test_a_jsonl_file_for_an_anthropic_target_goes_inline_and_is_checked_the_same_way(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(item) + "\n" for item in (FIRST, line(tools=TOOLS["openai"]))))

    with pytest.raises(InputValidationError) as raised:
        prepare(str(source), "anthropic")

    assert (raised.value.source, raised.value.line) == (str(source), 2)
    assert "request.tools would be dropped by the gateway" in raised.value.reason


def test_the_default_max_tokens_is_part_of_what_the_anthropic_target_receives(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(FIRST) + "\n")
    assert sent(prepare(str(source), "anthropic", default_max_tokens=77)) == [
        {"key": "first", "request": {"contents": TEXT, "generationConfig": {"maxOutputTokens": 77}}}
    ]


@pytest.mark.parametrize(
    ("target", "native", "hint"),
    [
        (
            "openai",
            {
                "custom_id": "a",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": MODEL, "messages": []},
            },
            "openai lines can go up as a JSONL file",
        ),
        ("anthropic", {"custom_id": "a", "params": {"model": MODEL, "max_tokens": 5, "messages": []}}, ""),
    ],
)
def test_target_native_lines_sent_inline_are_refused_saying_inline_requests_are_gemini_requests(target, native, hint):
    with pytest.raises(InputValidationError) as raised:
        prepare([FIRST, native], target)

    assert raised.value.line == 2
    assert raised.value.reason.startswith(
        f"the line is in the {target} batch format, but requests sent inline to a gateway are Gemini requests"
    )
    assert hint in raised.value.reason


def test_an_anthropic_native_file_for_an_anthropic_target_is_refused(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"custom_id": "a", "params": {"model": MODEL, "max_tokens": 5, "messages": []}}) + "\n"
    )
    with pytest.raises(InputValidationError, match="requests sent inline to a gateway are Gemini requests") as raised:
        prepare(str(source), "anthropic")
    assert (raised.value.source, raised.value.line) == (str(source), 1)


# --- over the inline byte limit ------------------------------------------------------------------------


def test_a_list_too_big_to_go_inline_to_an_openai_target_asks_for_a_jsonl_file(monkeypatch, spool_dir):
    monkeypatch.setitem(gateway.INLINE_LIMITS, "openai", ProviderLimits(max_file_bytes=10_000, max_inline_bytes=100))

    with pytest.raises(InputValidationError) as raised:
        prepare([FIRST, line()], "openai")

    assert raised.value.source == INLINE_SOURCE
    assert "over the 100 bytes one gateway batch takes inline" in raised.value.reason
    assert raised.value.reason.endswith("give the requests as a JSONL file instead")
    assert list(spool_dir.iterdir()) == []


def test_a_list_too_big_to_go_inline_to_a_gemini_target_is_uploaded_as_gemini_lines(monkeypatch):
    monkeypatch.setitem(gateway.INLINE_LIMITS, "gemini", ProviderLimits(max_file_bytes=10_000, max_inline_bytes=100))

    prepared = prepare([FIRST, line()], "gemini")
    try:
        assert prepared.inline is None
        assert isinstance(prepared.upload_source, Path)
        with prepared.open_upload() as stream:
            assert [json.loads(raw)["key"] for raw in stream] == ["first", "late"]
    finally:
        prepared.cleanup()


# --- states --------------------------------------------------------------------------------------------


def test_every_documented_state_is_known_and_unspecified_is_not():
    documented = (
        [
            f"BATCH_STATE_{s}"
            for s in ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLING", "CANCELLED", "EXPIRED")
        ]
        + [f"JOB_STATE_{s}" for s in ("QUEUED", "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLING", "CANCELLED")]
        + ["JOB_STATE_EXPIRED"]
        + ["validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled"]
        + ["canceling", "ended"]
    )
    assert set(documented) <= set(gateway.STATES)
    assert "BATCH_STATE_UNSPECIFIED" not in gateway.STATES
    assert "JOB_STATE_UNSPECIFIED" not in gateway.STATES
    assert not {"JOB_STATE_PAUSED", "JOB_STATE_UPDATING", "JOB_STATE_PARTIALLY_SUCCEEDED"} & set(gateway.STATES)
    assert gateway.STATES["ended"] is JobState.SUCCEEDED


def test_a_done_batch_in_a_raw_target_status_reads_as_that_status_without_an_error():
    job = gateway.parse_operation({"name": "batches/b1", "metadata": {"state": "ended"}, "done": True})
    assert (job.state, job.provider, job.error_message) == (JobState.SUCCEEDED, "gateway", None)


def test_an_undocumented_state_is_a_provider_error_naming_it():
    job = BatchJob(name="batches/b1", provider="gateway", provider_state="BATCH_STATE_UNSPECIFIED")
    with pytest.raises(ProviderAPIError, match="'BATCH_STATE_UNSPECIFIED', which is not a state the gateway documents"):
        known_state(job)
    running = job.model_copy(update={"state": JobState.RUNNING})
    assert known_state(running) is running


# --- a Gemini target's results, as the gateway flattens them ---------------------------------------------


def flattened(response: dict[str, Any]) -> dict[str, Any]:
    return gemini_result_item({"key": "k", "response": response}, "request-0")


def test_a_blocked_prompt_flattened_to_no_text_and_no_finish_reason_is_a_failed_row():
    item = flattened({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 8}})
    row = gateway.result_row(item, "gemini")

    assert (row.key, row.status, row.text) == ("k", RowStatus.FAILED, None)
    assert row.error.message.startswith("the result holds no answer: no text and no finish_reason")
    assert row.usage == Usage(input_tokens=8, output_tokens=0, total_tokens=0)


def test_a_candidate_a_filter_emptied_is_a_blocked_row_naming_its_finish_reason():
    row = gateway.result_row(flattened({"candidates": [{"finishReason": "RECITATION"}]}), "gemini")
    assert (row.status, row.error.code, row.error.status) == (RowStatus.FAILED, CONTENT_BLOCKED, "RECITATION")


def test_a_candidate_without_text_that_stopped_normally_is_a_no_answer_row_the_gateway_could_not_carry():
    call = {"content": {"parts": [{"functionCall": {"name": "f", "args": {}}}]}, "finishReason": "STOP"}
    row = gateway.result_row(flattened({"candidates": [call]}), "gemini")

    assert (row.status, row.text, row.response) == (RowStatus.FAILED, None, {"finish_reason": "STOP"})
    assert (row.error.code, row.error.status) == (NO_ANSWER, "STOP")
    assert row.error.message == (
        "the answer holds nothing: finish_reason STOP, and the gateway's result holds no text, call or other content"
    )


@pytest.mark.parametrize("target", ["openai", "anthropic"])
@pytest.mark.parametrize(
    ("setting", "kind"),
    [({"temperature": "0.5"}, "a number"), ({"topP": True}, "a number"), ({"maxOutputTokens": "64"}, "an integer")],
)
def test_an_inline_setting_written_as_text_is_refused_for_a_target_the_gateway_translates_to(
    setting: dict[str, Any], kind: str, target: str
) -> None:
    request = {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": setting}
    with pytest.raises(ValueError) as raised:
        gateway.GatewayInlineDialect(target).to_native({"key": "a", "request": request}, model="m", embeddings=False)
    ((name, value),) = setting.items()
    assert str(raised.value) == (
        f"request.generationConfig.{name} cannot go through the gateway to {target}: it is written {value!r}, which "
        f"the gateway hands on as it is, and {target} takes only {kind} there"
    )


def test_an_inline_setting_written_as_text_goes_to_gemini_which_reads_it() -> None:
    request = {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"temperature": "0.5"}}
    native = gateway.GatewayInlineDialect("gemini").to_native(
        {"key": "a", "request": request}, model="m", embeddings=False
    )
    assert native["request"]["generationConfig"] == {"temperature": "0.5"}
