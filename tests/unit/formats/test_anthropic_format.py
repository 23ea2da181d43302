"""Anthropic Message Batches wire format: canonical Gemini lines to batch requests, MessageBatch, result lines.

The MessageBatch and the four result lines use the shapes quoted in shared/reference/openai_anthropic.md
§2.1-2.2, and are checked against the anthropic SDK's own models, so they are real wire shapes.
"""

from __future__ import annotations

import importlib
import json
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.anthropic import (
    DEFAULT_MAX_TOKENS,
    EMBEDDINGS_UNSUPPORTED,
    AnthropicDialect,
    check_native,
    from_gemini,
    parse_batch,
    result_row,
    state_of,
)
from airflow_provider_genai_batch.formats.results import CONTENT_BLOCKED, ResultRow, RowError, RowStatus, Usage
from airflow_provider_genai_batch.inputs import prepare_input
from airflow_provider_genai_batch.models import BatchStats, JobState

MODEL = "claude-sonnet-4-5"
PNG = "iVBORw0KGgo="


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def translate(request: dict[str, Any], key: str = "request-1", **kwargs: Any) -> dict[str, Any]:
    return from_gemini({"key": key, "request": request}, model=MODEL, **kwargs)


def params(**request: Any) -> dict[str, Any]:
    """The params for a request with one user text turn plus the given fields."""
    return translate({"contents": [user({"text": "hi"})], **request})["params"]


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "parts": list(parts)}


def model_turn(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "model", "parts": list(parts)}


# --- canonical line -> batch request ------------------------------------------------------------------


def test_a_single_text_turn_becomes_a_request_with_the_default_max_tokens():
    assert translate({"contents": [user({"text": "Say hello."})]}) == {
        "custom_id": "request-1",
        "params": {
            "model": "claude-sonnet-4-5",
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": "Say hello."}],
        },
    }
    assert DEFAULT_MAX_TOKENS == 4096


def test_a_key_anthropic_would_refuse_becomes_a_hashed_custom_id():
    assert translate({"contents": [user({"text": "hi"})]}, key="doc 1")["custom_id"].startswith("k-")


def test_max_output_tokens_becomes_max_tokens():
    assert params(generationConfig={"maxOutputTokens": 300})["max_tokens"] == 300


def test_the_default_max_tokens_can_be_changed():
    assert translate({"contents": [user({"text": "hi"})]}, max_tokens=1024)["params"]["max_tokens"] == 1024


def test_a_max_output_tokens_that_is_not_a_positive_integer_raises():
    with pytest.raises(ValueError, match="maxOutputTokens must be a positive integer"):
        params(generationConfig={"maxOutputTokens": 0})


def test_system_instruction_becomes_the_system_string():
    assert params(systemInstruction={"role": "user", "parts": [{"text": "Be brief."}]}) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "hi"}],
        "system": "Be brief.",
    }


def test_a_system_instruction_of_several_parts_becomes_text_blocks():
    assert params(systemInstruction={"parts": [{"text": "Be brief."}, {"text": "Be kind."}]})["system"] == [
        {"type": "text", "text": "Be brief."},
        {"type": "text", "text": "Be kind."},
    ]


def test_sampling_parameters_map_to_anthropic_names():
    config = {"temperature": 0.2, "topP": 0.9, "topK": 40, "stopSequences": ["END"], "candidateCount": 1}
    assert params(generationConfig=config) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["END"],
    }


def test_a_temperature_above_one_raises():
    with pytest.raises(
        ValueError, match=r"temperature cannot be sent to anthropic: 1.5 is outside its range \(from 0 to 1"
    ):
        params(generationConfig={"temperature": 1.5})


def test_model_turns_become_assistant_messages():
    request = {"contents": [user({"text": "2+2?"}), model_turn({"text": "4"}), user({"text": "and 3+3?"})]}
    assert translate(request)["params"]["messages"] == [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "and 3+3?"},
    ]


def test_text_image_and_pdf_parts_become_content_blocks():
    request = {
        "contents": [
            user(
                {"text": "Compare these."},
                {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}},
            )
        ]
    }
    assert translate(request)["params"]["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare these."},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}},
            ],
        }
    ]


@pytest.mark.parametrize("mime", ["image/png", "application/pdf"])
@pytest.mark.parametrize(("written", "sent"), [("__79", "//79"), ("YWI", "YWI="), ("-_8", "+/8="), (PNG, PNG)])
def test_inline_bytes_go_as_standard_padded_base64_whatever_alphabet_and_padding_gemini_read(mime, written, sent):
    request = {"contents": [user({"text": "Look."}, {"inlineData": {"mimeType": mime, "data": written}})]}
    [message] = translate(request)["params"]["messages"]
    assert message["content"][1]["source"] == {"type": "base64", "media_type": mime, "data": sent}


def test_function_call_and_response_become_tool_use_and_tool_result_with_paired_ids():
    request = {
        "contents": [
            user({"text": "Weather in Paris?"}),
            model_turn({"text": "Checking."}, {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}),
            user({"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}}),
        ]
    }
    assert translate(request)["params"]["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": '{"temp_c":21}'}]},
    ]


def test_tool_results_come_first_in_their_user_turn():
    request = {
        "contents": [
            user({"text": "Time?"}),
            model_turn({"functionCall": {"id": "t-1", "name": "now"}}),
            user({"text": "Thanks."}, {"functionResponse": {"id": "t-1", "name": "now", "response": {"t": "12:00"}}}),
        ]
    }
    assert translate(request)["params"]["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "t-1", "content": '{"t":"12:00"}'},
            {"type": "text", "text": "Thanks."},
        ],
    }


def test_function_declarations_become_tools_with_an_input_schema():
    tools = [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather in a city.",
                    "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]},
                },
                {"name": "now"},
            ]
        }
    ]
    assert params(tools=tools)["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather in a city.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]


@pytest.mark.parametrize(
    ("config", "choice"),
    [
        ({"mode": "AUTO"}, {"type": "auto"}),
        ({"mode": "NONE"}, {"type": "none"}),
        ({"mode": "ANY"}, {"type": "any"}),
        ({"mode": "ANY", "allowedFunctionNames": ["now"]}, {"type": "tool", "name": "now"}),
    ],
)
def test_function_calling_config_becomes_tool_choice(config, choice):
    tools = [{"functionDeclarations": [{"name": "now"}]}]
    assert params(tools=tools, toolConfig={"functionCallingConfig": config})["tool_choice"] == choice


# --- what anthropic cannot express --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("candidateCount", 2, "it returns one answer per request"),
        ("seed", 7, "anthropic has no sampling seed"),
        ("presencePenalty", 0.1, "anthropic has no presence penalty"),
        ("frequencyPenalty", 0.1, "anthropic has no frequency penalty"),
        ("responseMimeType", "application/json", "structured output cannot be expressed"),
        ("responseSchema", {"type": "STRING"}, "structured output cannot be expressed"),
        ("responseJsonSchema", {"type": "string"}, "structured output cannot be expressed"),
        ("thinkingConfig", {"thinkingBudget": 1024}, "Gemini thinking settings do not map"),
        ("responseLogprobs", True, "anthropic returns no log-probabilities"),
        ("temperatur", 0.1, "it is unknown or Gemini-only"),
    ],
)
def test_a_generation_field_anthropic_cannot_express_raises(field, value, reason):
    with pytest.raises(ValueError, match=f"generationConfig.{field} cannot be sent to anthropic: {reason}"):
        params(generationConfig={field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("safetySettings", [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]),
        ("cachedContent", "cachedContents/abc"),
        ("labels", {"team": "ml"}),
    ],
)
def test_a_request_field_anthropic_cannot_express_raises(field, value):
    with pytest.raises(ValueError, match=f"request.{field} cannot be sent to anthropic"):
        params(**{field: value})


@pytest.mark.parametrize("tool", ["googleSearch", "codeExecution", "urlContext", "googleMaps", "fileSearch"])
def test_a_gemini_only_tool_raises_naming_it(tool):
    with pytest.raises(ValueError, match=f"^{tool} is a Gemini-only tool and cannot be sent to anthropic$"):
        params(tools=[{tool: {}}])


def test_a_file_data_part_raises():
    part = {
        "fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc", "mimeType": "image/png"}
    }
    with pytest.raises(ValueError, match=r"fileData cannot be sent to anthropic: file URIs are Gemini-only"):
        translate({"contents": [user(part)]})


def test_an_inline_type_other_than_image_or_pdf_raises():
    part = {"inlineData": {"mimeType": "audio/wav", "data": "UklGR"}}
    with pytest.raises(ValueError, match="audio/wav is not one of the types it takes"):
        translate({"contents": [user(part)]})


def test_an_image_in_a_model_turn_raises():
    request = {"contents": [user({"text": "hi"}), model_turn({"inlineData": {"mimeType": "image/png", "data": PNG}})]}
    with pytest.raises(ValueError, match="a model turn can hold only text and function calls"):
        translate(request)


@pytest.mark.parametrize(
    ("request_", "path"),
    [
        ({"contents": [user({"text": " "})]}, "contents[0].parts"),
        ({"contents": [user({"text": "hi"}, {"text": "\n\t"})]}, "contents[0].parts"),
        ({"contents": [user({"text": "hi"}), model_turn({"text": " "}), user({"text": "go"})]}, "contents[1].parts"),
        (
            {"contents": [user({"text": "hi"})], "systemInstruction": {"parts": [{"text": " "}]}},
            "systemInstruction.parts",
        ),
    ],
    ids=["lone-part", "one-of-two", "model-turn", "system"],
)
def test_a_text_part_of_only_whitespace_raises_as_the_messages_api_refuses_it(request_, path):
    with pytest.raises(ValueError) as raised:
        translate(request_)
    assert str(raised.value) == f"{path} cannot be sent to anthropic: it refuses a text part of only whitespace"


def test_a_text_part_of_only_whitespace_is_refused_by_line_when_a_file_is_translated(tmp_path):
    source = tmp_path / "in.jsonl"
    line = {"key": "a", "request": {"contents": [{"role": "user", "parts": [{"text": " "}]}]}}
    source.write_text(
        json.dumps({"key": "ok", "request": {"contents": [user({"text": "hi"})]}}) + "\n" + json.dumps(line) + "\n"
    )
    with pytest.raises(InputValidationError) as raised:
        prepare_input(str(source), AnthropicDialect(), model=MODEL, embeddings=False)
    assert "line 2" in str(raised.value)
    assert "contents[0].parts cannot be sent to anthropic: it refuses a text part of only whitespace" in str(
        raised.value
    )


def test_an_embeddings_request_raises_because_anthropic_has_no_embeddings():
    with pytest.raises(ValueError, match=f"^{EMBEDDINGS_UNSUPPORTED}$"):
        translate({"content": {"parts": [{"text": "embed me"}]}})


def test_a_per_line_model_other_than_the_batch_model_raises():
    with pytest.raises(ValueError, match="differs from the batch model 'claude-sonnet-4-5'"):
        translate({"model": "models/gemini-2.5-flash", "contents": [user({"text": "hi"})]})


def test_every_translated_field_is_a_message_parameter_apart_from_sampling():
    # temperature/top_p/top_k exist under the pinned anthropic-version 2023-06-01; SDK 2.x (2026-10-21) dropped them.
    create = importlib.import_module("anthropic.types.message_create_params").MessageCreateParamsNonStreaming
    tools = [{"functionDeclarations": [{"name": "now"}]}]
    translated = params(
        systemInstruction={"parts": [{"text": "Be brief."}]},
        generationConfig={"maxOutputTokens": 10, "stopSequences": ["END"]},
        tools=tools,
        toolConfig={"functionCallingConfig": {"mode": "ANY"}},
    )
    assert set(translated) <= create.__required_keys__ | create.__optional_keys__


# --- native lines -------------------------------------------------------------------------------------

NATIVE = {
    "custom_id": "request-1",
    "params": {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": [{"role": "user", "content": "hi"}]},
}


def test_a_valid_native_line_passes():
    assert check_native(NATIVE) is None


@pytest.mark.parametrize(
    ("params_value", "match"),
    [
        ("{}", "'params' must be a JSON object"),
        ({"max_tokens": 1, "messages": [{}]}, "'params.model' must be a non-empty string"),
        ({"model": "m", "messages": [{}]}, "'params.max_tokens' must be a positive integer, got None"),
        ({"model": "m", "max_tokens": "1024", "messages": [{}]}, "'params.max_tokens' must be a positive integer"),
        ({"model": "m", "max_tokens": True, "messages": [{}]}, "'params.max_tokens' must be a positive integer"),
        ({"model": "m", "max_tokens": 1, "messages": []}, "'params.messages' must be a non-empty list"),
    ],
)
def test_a_bad_native_line_raises_with_the_reason(params_value, match):
    with pytest.raises(ValueError, match=match):
        check_native({"custom_id": "request-1", "params": params_value})


def test_a_native_line_with_a_field_the_messages_api_does_not_take_raises_naming_it():
    line = {"custom_id": "request-1", "params": {**NATIVE["params"], "response_format": {"type": "json_object"}}}
    with pytest.raises(ValueError, match="'params' has response_format, which the Messages API does not take"):
        check_native(line)


def test_a_native_line_with_a_field_besides_custom_id_and_params_raises_naming_it():
    with pytest.raises(ValueError) as raised:
        check_native({**NATIVE, "metadata": {"team": "a"}})
    assert str(raised.value) == (
        "the line has metadata: a batch request holds only custom_id and params, and the Message Batches API "
        "refuses the whole batch for any other field"
    )


def test_a_native_message_with_a_field_besides_role_and_content_raises_naming_it():
    params = {**NATIVE["params"], "messages": [{"role": "user", "content": "hi", "name": "me"}]}
    with pytest.raises(ValueError, match=r"'params.messages\[0\]' has name: a message holds only role and content"):
        check_native({"custom_id": "request-1", "params": params})


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"role": "model", "content": "hi"}, "'params.messages[0].role' 'model' is not one of user, assistant"),
        ({"content": "hi"}, "'params.messages[0].role' is missing: a message requires it"),
        ({"role": "user"}, "'params.messages[0].content' is missing: a message requires it"),
        (
            {"role": "user", "content": {"type": "text", "text": "hi"}},
            "'params.messages[0].content' must be a string or a list of content blocks, got object",
        ),
    ],
)
def test_a_native_message_without_a_role_and_content_the_messages_api_takes_raises_naming_it(message, reason):
    params = {**NATIVE["params"], "messages": [message]}
    with pytest.raises(ValueError) as raised:
        check_native({"custom_id": "request-1", "params": params})
    assert str(raised.value) == reason


PNG_SOURCE = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            "",
            "'params.messages[0].content' is empty: the Messages API takes empty content only in a final assistant "
            "message",
        ),
        (
            [],
            "'params.messages[0].content' is empty: the Messages API takes empty content only in a final assistant "
            "message",
        ),
        (
            [{"type": "text", "text": ""}],
            "'params.messages[0].content[0].text' is empty: the Messages API refuses a text block without other "
            "characters",
        ),
        (
            " \n",
            "'params.messages[0].content' is only whitespace: the Messages API refuses a text block without other "
            "characters",
        ),
        ([{"text": "hi"}], "'params.messages[0].content[0]' has no type"),
        (["hi"], "'params.messages[0].content[0]' must be a content block (a JSON object), got string"),
        ([{"type": "text"}], "'params.messages[0].content[0].text' is missing: a text block requires it"),
        ([{"type": "image"}], "'params.messages[0].content[0].source' is missing: a image block requires it"),
        (
            [{"type": "image", "source": {**PNG_SOURCE, "media_type": "image/tiff"}}],
            "'params.messages[0].content[0].source.media_type' 'image/tiff' is not one of image/jpeg, image/png, "
            "image/gif, image/webp",
        ),
        (
            [{"type": "image", "source": {"type": "path", "path": "a.png"}}],
            "'params.messages[0].content[0].source' must be an object whose type is one of base64, url, file",
        ),
        (
            [{"type": "tool_result", "content": "42"}],
            "'params.messages[0].content[0].tool_use_id' is missing: a tool_result block requires it",
        ),
        (
            [{"type": "tool_use", "id": "t", "name": "f", "input": "{}"}],
            "'params.messages[0].content[0].input' must be a JSON object, got string",
        ),
    ],
)
def test_a_native_message_content_the_messages_api_refuses_raises_naming_the_block(content, reason):
    params = {**NATIVE["params"], "messages": [{"role": "user", "content": content}]}
    with pytest.raises(ValueError) as raised:
        check_native({"custom_id": "request-1", "params": params})
    assert str(raised.value) == reason


def test_a_native_block_of_a_type_the_messages_api_does_not_know_raises_naming_it():
    params = {**NATIVE["params"], "messages": [{"role": "user", "content": [{"type": "video", "source": {}}]}]}
    with pytest.raises(ValueError, match=r"'params.messages\[0\].content\[0\]' type 'video' is not one of text, image"):
        check_native({"custom_id": "request-1", "params": params})


def test_a_native_system_prompt_of_an_empty_text_block_raises():
    params = {**NATIVE["params"], "system": [{"type": "text", "text": ""}]}
    with pytest.raises(ValueError, match=r"'params.system\[0\].text' is empty"):
        check_native({"custom_id": "request-1", "params": params})


def test_a_native_final_assistant_message_may_be_empty():
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]
    assert check_native({"custom_id": "request-1", "params": {**NATIVE["params"], "messages": messages}}) is None


def test_native_content_blocks_the_messages_api_takes_pass():
    call = {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}}
    blocks = [
        {"type": "text", "text": "look"},
        {"type": "image", "source": PNG_SOURCE},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}},
        {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "a"}]}},
        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "42"}]},
    ]
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": blocks},
    ]
    assert check_native({"custom_id": "request-1", "params": {**NATIVE["params"], "messages": messages}}) is None


def test_a_native_system_message_is_taken_only_from_api_version_2026_10_21():
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}]
    line = {"custom_id": "request-1", "params": {**NATIVE["params"], "messages": messages}}
    assert AnthropicDialect(anthropic_version="2026-10-21").check_native(line, model="claude-sonnet-4-5") is None
    with pytest.raises(ValueError, match=r"'params.messages\[0\].role' 'system' is not one of user, assistant"):
        AnthropicDialect().check_native(line, model="claude-sonnet-4-5")


def test_a_native_line_may_carry_every_field_of_a_messages_request():
    params = {
        **NATIVE["params"],
        "system": "be brief",
        "metadata": {"user_id": "u1"},
        "stop_sequences": ["END"],
        "temperature": 0.2,
        "tools": [],
        "thinking": {"type": "disabled"},
        "service_tier": "auto",
    }
    assert check_native({"custom_id": "request-1", "params": params}) is None


PDF = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}


@pytest.mark.parametrize(
    ("messages", "refusal"),
    [
        (
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": [PDF]}],
            r"rejects a document in an assistant message \(params.messages\[1\].content\[0\]\)",
        ),
        (
            [{"role": "user", "content": [{"type": "text", "text": "q", "citations": []}]}],
            r"rejects citations on a user text block \(params.messages\[0\].content\[0\]\)",
        ),
    ],
)
def test_the_2026_version_refuses_assistant_documents_and_user_text_citations(messages, refusal):
    line = {"custom_id": "request-1", "params": {**NATIVE["params"], "messages": messages}}
    with pytest.raises(ValueError, match=refusal):
        AnthropicDialect(anthropic_version="2026-10-21").check_native(line, model="claude-sonnet-4-5")
    assert AnthropicDialect().check_native(line, model="claude-sonnet-4-5") is None


def test_a_native_line_for_the_batch_model_passes_the_dialect_check():
    assert AnthropicDialect().check_native(NATIVE, model="claude-sonnet-4-5") is None


def test_a_native_line_naming_another_model_is_refused_as_openai_native_lines_are():
    with pytest.raises(ValueError) as raised:
        AnthropicDialect().check_native(NATIVE, model="claude-opus-4-1")
    assert str(raised.value) == (
        "params.model 'claude-sonnet-4-5' differs from the batch model 'claude-opus-4-1': "
        "a native line must name the model the batch is submitted for"
    )


# --- what the Messages API would refuse ---------------------------------------------------------------


def test_sampling_numbers_given_as_text_are_written_as_json_numbers():
    sent = params(generationConfig={"temperature": "0.5", "topP": "0.9", "topK": "40", "maxOutputTokens": "100"})
    assert (sent["temperature"], sent["top_p"], sent["top_k"], sent["max_tokens"]) == (0.5, 0.9, 40, 100)
    assert type(sent["top_k"]) is int and type(sent["max_tokens"]) is int


def test_a_temperature_of_exactly_one_is_accepted():
    assert params(generationConfig={"temperature": 1})["temperature"] == 1


def test_an_invalid_default_max_tokens_is_named_as_the_default():
    with pytest.raises(ValueError, match="the default max_tokens must be a positive integer, got 0"):
        translate({"contents": [user({"text": "hi"})]}, max_tokens=0)


def test_a_tool_name_gemini_allows_but_anthropic_does_not_raises_naming_it():
    tools = [{"functionDeclarations": [{"name": "crm.lookup"}]}]
    with pytest.raises(ValueError) as raised:
        params(tools=tools)
    assert str(raised.value) == (
        "tools[0].functionDeclarations[0].name cannot be sent to anthropic: "
        "function name 'crm.lookup' is not 1 to 128 of a-z, A-Z, 0-9, _ and -"
    )


def test_tool_parameters_that_are_not_an_object_schema_raise():
    tools = [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": {"type": "array"}}]}]
    with pytest.raises(ValueError) as raised:
        params(tools=tools)
    assert str(raised.value) == (
        "tools[0].functionDeclarations[0].parameters cannot be sent to anthropic: "
        'tool parameters must be a schema of "type": "object"'
    )


def test_a_tool_choice_without_tools_raises():
    with pytest.raises(ValueError, match="toolConfig cannot be sent to anthropic: it takes a tool choice only"):
        params(toolConfig={"functionCallingConfig": {"mode": "ANY"}})


def test_a_tool_use_left_without_its_result_in_the_next_turn_raises():
    contents = [
        user({"text": "q"}),
        model_turn({"functionCall": {"name": "f", "args": {}}}),
        user({"text": "forget it"}),
    ]
    with pytest.raises(
        ValueError, match="contents\\[2\\]: functionCall 'f' in contents\\[1\\] gets no functionResponse"
    ):
        translate({"contents": contents, "tools": [{"functionDeclarations": [{"name": "f"}]}]})


def test_a_candidate_count_of_one_given_as_text_is_accepted():
    assert "candidateCount" not in params(generationConfig={"candidateCount": "1"})


# --- MessageBatch -------------------------------------------------------------------------------------

RESULTS_URL = "https://api.anthropic.com/v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF/results"
ENDED_BATCH = {
    "id": "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message_batch",
    "processing_status": "ended",
    "request_counts": {"processing": 0, "succeeded": 95, "errored": 3, "canceled": 0, "expired": 2},
    "created_at": "2024-08-20T18:37:24.100435Z",
    "expires_at": "2024-08-21T18:37:24.100435Z",
    "ended_at": "2024-08-20T19:02:11.518201Z",
    "archived_at": None,
    "cancel_initiated_at": None,
    "results_url": RESULTS_URL,
}
IN_PROGRESS_BATCH = {
    **ENDED_BATCH,
    "processing_status": "in_progress",
    "request_counts": {"processing": 100, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
    "ended_at": None,
    "results_url": None,
}


def ended(**counts: int) -> dict[str, Any]:
    base = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    return {**ENDED_BATCH, "request_counts": {**base, **counts}}


@pytest.mark.parametrize("sample", [ENDED_BATCH, IN_PROGRESS_BATCH])
def test_batch_samples_are_what_the_anthropic_sdk_parses(sample):
    batch_type = importlib.import_module("anthropic.types.messages").MessageBatch
    assert batch_type.model_validate(sample).id == sample["id"]


def test_ended_batch_maps_name_times_counts_results_url_and_keeps_the_raw_object():
    assert parse_batch(ENDED_BATCH).model_dump() == {
        "name": "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF",
        "provider": "anthropic",
        "display_name": None,
        "model": None,
        "state": JobState.SUCCEEDED,
        "provider_state": "ended",
        "create_time": utc(2024, 8, 20, 18, 37, 24, 100435),
        "update_time": utc(2024, 8, 20, 19, 2, 11, 518201),
        "end_time": utc(2024, 8, 20, 19, 2, 11, 518201),
        "stats": {"total": 100, "succeeded": 95, "failed": 3, "pending": 0},
        "input_file": None,
        "output_file": RESULTS_URL,
        "error_file": None,
        "has_inline_output": False,
        "error_message": None,
        "output_location": None,
        "raw": ENDED_BATCH,
    }


def test_in_progress_batch_counts_processing_as_pending():
    job = parse_batch(IN_PROGRESS_BATCH)
    assert (job.state, job.end_time, job.output_file) == (JobState.RUNNING, None, None)
    assert job.stats == BatchStats(total=100, succeeded=0, failed=0, pending=100)


def test_all_errored_batch_is_failed_with_a_message():
    job = parse_batch(ended(errored=4))
    assert (job.state, job.error_message) == (JobState.FAILED, "all 4 requests errored")


def test_a_batch_with_no_success_but_some_expired_is_failed_with_the_breakdown():
    job = parse_batch(ended(errored=3, expired=1))
    assert (job.state, job.error_message) == (JobState.FAILED, "no request succeeded: 3 errored, 1 expired, 0 canceled")


def test_cancelled_batch_says_when_it_was_cancelled():
    data = {**ended(succeeded=2, canceled=8), "cancel_initiated_at": "2024-08-20T18:50:00.000000Z"}
    job = parse_batch(data)
    assert (job.state, job.error_message) == (JobState.CANCELLED, "cancelled at 2024-08-20T18:50:00.000000Z")
    assert job.stats == BatchStats(total=10, succeeded=2, failed=0, pending=0)


def test_all_expired_batch_is_expired():
    job = parse_batch(ended(expired=5))
    assert (job.state, job.error_message) == (JobState.EXPIRED, "all 5 requests expired")


def test_update_time_is_the_latest_event_time():
    data = {**ENDED_BATCH, "archived_at": "2024-09-18T18:37:24.100435Z"}
    assert parse_batch(data).update_time == utc(2024, 9, 18, 18, 37, 24, 100435)


@pytest.mark.parametrize(
    ("data", "state"),
    [
        (IN_PROGRESS_BATCH, JobState.RUNNING),
        ({**IN_PROGRESS_BATCH, "processing_status": "canceling"}, JobState.CANCELLING),
        ({**ended(succeeded=10), "cancel_initiated_at": "2024-08-20T18:50:00Z"}, JobState.CANCELLED),
        (ended(expired=10), JobState.EXPIRED),
        (ended(errored=10), JobState.FAILED),
        (ended(errored=5, expired=3, canceled=2), JobState.FAILED),
        (ended(succeeded=1, errored=9), JobState.SUCCEEDED),
        (ended(succeeded=5, expired=5), JobState.SUCCEEDED),
        (ended(canceled=10), JobState.SUCCEEDED),
        (ended(), JobState.SUCCEEDED),
        ({**ENDED_BATCH, "processing_status": "archiving"}, JobState.UNSPECIFIED),
    ],
)
def test_state_of_judges_an_ended_batch_from_counts_and_cancel_time(data, state):
    assert state_of(data) is state


def test_canceling_is_not_terminal():
    assert not state_of({**IN_PROGRESS_BATCH, "processing_status": "canceling"}).is_terminal


# --- result lines -------------------------------------------------------------------------------------

MESSAGE = {
    "id": "msg_014VwiXbi91y3JMjcpyGBHX5",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "Hello again! How can I assist you today?"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 11, "output_tokens": 36},
}
SUCCEEDED_LINE = {"custom_id": "a", "result": {"type": "succeeded", "message": MESSAGE}}
ERRORED_LINE = {
    "custom_id": "b",
    "result": {
        "type": "errored",
        "error": {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
            "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
        },
    },
}
CANCELED_LINE = {"custom_id": "c", "result": {"type": "canceled"}}
EXPIRED_LINE = {"custom_id": "d", "result": {"type": "expired"}}


@pytest.mark.parametrize("line", [SUCCEEDED_LINE, ERRORED_LINE, CANCELED_LINE, EXPIRED_LINE])
def test_result_samples_are_what_the_anthropic_sdk_parses(line):
    response_type = importlib.import_module("anthropic.types.messages").MessageBatchIndividualResponse
    assert response_type.model_validate(line).result.type == line["result"]["type"]


def test_a_succeeded_line_is_a_row_with_text_message_and_usage():
    assert result_row(SUCCEEDED_LINE) == ResultRow(
        key="a",
        status=RowStatus.SUCCEEDED,
        text="Hello again! How can I assist you today?",
        response=MESSAGE,
        usage=Usage(input_tokens=11, output_tokens=36, total_tokens=47),
    )


@pytest.mark.parametrize(
    "result",
    [{"type": "succeeded"}, {"type": "succeeded", "message": None}, {"type": "succeeded", "message": {}}],
    ids=["no-message", "null", "empty"],
)
def test_a_succeeded_line_without_a_message_is_a_failed_row_not_a_success(result):
    row = result_row({"custom_id": "a", "result": result})
    assert (row.key, row.status) == ("a", RowStatus.FAILED)
    assert row.error == RowError(message="the result holds neither a response nor an error")


def test_an_errored_line_is_a_failed_row_with_the_inner_error():
    assert result_row(ERRORED_LINE) == ResultRow(
        key="b",
        status=RowStatus.FAILED,
        error=RowError(message="max_tokens: Field required", code="invalid_request_error"),
    )


def test_a_canceled_line_is_a_cancelled_row():
    assert result_row(CANCELED_LINE) == ResultRow(key="c", status=RowStatus.CANCELLED)


def test_an_expired_line_is_an_expired_row():
    assert result_row(EXPIRED_LINE) == ResultRow(key="d", status=RowStatus.EXPIRED)


def test_the_text_blocks_of_a_message_are_joined_and_tool_use_blocks_left_out():
    content = [
        {"type": "text", "text": "Let me check. "},
        {"type": "tool_use", "id": "toolu_01", "name": "now", "input": {}},
        {"type": "text", "text": "Done."},
    ]
    line = {"custom_id": "a", "result": {"type": "succeeded", "message": {**MESSAGE, "content": content}}}
    assert result_row(line).text == "Let me check. Done."


def test_a_message_with_only_a_tool_call_has_no_text():
    content = [{"type": "tool_use", "id": "toolu_01", "name": "now", "input": {}}]
    line = {"custom_id": "a", "result": {"type": "succeeded", "message": {**MESSAGE, "content": content}}}
    assert result_row(line).text is None


def test_a_message_the_model_refused_without_text_is_a_failed_row_keeping_the_message():
    refused = {**MESSAGE, "content": [], "stop_reason": "refusal"}
    line = {"custom_id": "a", "result": {"type": "succeeded", "message": refused}}
    assert importlib.import_module("anthropic.types").Message.model_validate(refused).stop_reason == "refusal"
    row = result_row(line)

    assert (row.key, row.status, row.text, row.response) == ("a", RowStatus.FAILED, None, refused)
    assert row.error == RowError(
        message="the model refused: stop_reason refusal, and it gave no text", code=CONTENT_BLOCKED, status="refusal"
    )
    assert row.usage == Usage(input_tokens=11, output_tokens=36, total_tokens=47)


def test_a_refusal_after_some_text_is_a_success_with_that_text():
    partial = {**MESSAGE, "content": [{"type": "text", "text": "Here is"}], "stop_reason": "refusal"}
    row = result_row({"custom_id": "a", "result": {"type": "succeeded", "message": partial}})
    assert (row.status, row.text) == (RowStatus.SUCCEEDED, "Here is")


def test_cache_writes_and_reads_count_as_input_tokens():
    usage = {
        "input_tokens": 10,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 1000,
        "output_tokens": 5,
    }
    line = {"custom_id": "a", "result": {"type": "succeeded", "message": {**MESSAGE, "usage": usage}}}
    assert result_row(line).usage == Usage(input_tokens=1110, output_tokens=5, total_tokens=1115)


def test_an_unknown_result_type_is_a_failed_row_naming_it():
    row = result_row({"custom_id": "e", "result": {"type": "paused"}})
    assert (row.status, row.error) == (RowStatus.FAILED, RowError(message="unknown result type 'paused'"))


def test_a_native_line_asking_for_a_stream_is_refused_before_it_is_sent():
    line = {"custom_id": "request-1", "params": {**NATIVE["params"], "stream": True}}
    with pytest.raises(ValueError) as raised:
        AnthropicDialect().check_native(line, model="claude-sonnet-4-5")
    assert str(raised.value) == (
        "'params.stream' must be false or absent: a batch request is never streamed, and the Message Batches "
        "API errors a request asking for a stream once the batch runs"
    )


def test_a_native_line_saying_stream_false_passes():
    line = {"custom_id": "request-1", "params": {**NATIVE["params"], "stream": False}}
    assert AnthropicDialect().check_native(line, model="claude-sonnet-4-5") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tools": {"name": "f"}}, "'params.tools' must be a list, got object"),
        ({"tools": ["f"]}, "'params.tools[0]' must be a JSON object, got string"),
        (
            {"tools": [{"name": "get weather", "input_schema": {"type": "object"}}]},
            "'params.tools[0].name' 'get weather' is not 1 to 128 of a-z, A-Z, 0-9, _ and -",
        ),
        ({"tools": [{"name": "f"}]}, "'params.tools[0].input_schema' must be a JSON schema of type object"),
        (
            {"tools": [{"name": "f", "input_schema": {"type": "string"}}]},
            "'params.tools[0].input_schema' must be a JSON schema of type object",
        ),
        (
            {"tool_choice": {"type": "function"}},
            "'params.tool_choice' must be an object whose type is one of auto, any, tool, none",
        ),
        (
            {"tool_choice": {"type": "tool"}},
            "'params.tool_choice.name' is missing: a tool choice of type tool names its tool",
        ),
    ],
)
def test_a_native_line_with_tools_or_a_tool_choice_the_api_refuses_is_refused_naming_the_field(change, message):
    with pytest.raises(ValueError) as raised:
        check_native({"custom_id": "request-1", "params": {**NATIVE["params"], **change}})
    assert str(raised.value) == message


def test_a_native_line_with_custom_and_server_tools_and_a_tool_choice_passes():
    tools = [
        {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}},
        {"type": "custom", "name": "f", "input_schema": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search"},
    ]
    params = {**NATIVE["params"], "tools": tools, "tool_choice": {"type": "tool", "name": "get_weather"}}
    assert check_native({"custom_id": "request-1", "params": params}) is None


@pytest.mark.parametrize(
    ("sampling", "message"),
    [
        ({"temperature": "0.5"}, "'params.temperature' must be a number from 0 to 1, got '0.5'"),
        ({"temperature": 1.5}, "'params.temperature' must be a number from 0 to 1, got 1.5"),
        ({"top_p": True}, "'params.top_p' must be a number from 0 to 1, got True"),
        ({"top_k": 2.5}, "'params.top_k' must be an integer of at least 0, got 2.5"),
        ({"stop_sequences": "END"}, "'params.stop_sequences' must be a list of strings, got 'END'"),
    ],
)
def test_a_native_sampling_param_the_api_refuses_is_refused(sampling, message):
    params = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(ValueError) as raised:
        check_native({"custom_id": "a", "params": {**params, **sampling}})
    assert str(raised.value) == message


def test_native_sampling_params_set_to_null_are_unset():
    params = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    check_native({"custom_id": "a", "params": {**params, "temperature": None, "top_k": None, "stop_sequences": None}})
