"""OpenAI Batch wire format: canonical Gemini lines to batch lines, Batch/File objects, output and error lines.

The Batch, File and output-line samples use the shapes quoted in shared/reference/openai_anthropic.md §1.4-1.5;
the samples are also checked against the openai SDK's own models, so they are real wire shapes.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import struct
from datetime import datetime, timezone
from typing import Any

import pytest
from openai.types import Completion
from openai.types.responses import Response

from airflow_provider_genai_batch.formats.openai import (
    BODY_FIELDS,
    CHAT_URL,
    EMBEDDINGS_URL,
    STATUSES,
    check_native,
    embedding_inputs,
    from_gemini,
    parse_batch,
    parse_file,
    result_row,
)
from airflow_provider_genai_batch.formats.results import CONTENT_BLOCKED, ResultRow, RowError, RowStatus, Usage
from airflow_provider_genai_batch.models import BatchStats, JobState

MODEL = "gpt-4o-mini"
PNG = "iVBORw0KGgo="


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def chat(request: dict[str, Any], key: str = "request-1") -> dict[str, Any]:
    return from_gemini({"key": key, "request": request}, model=MODEL, embeddings=False)


def body(**request: Any) -> dict[str, Any]:
    """The chat body for a request with one user text turn plus the given fields."""
    return chat({"contents": [{"role": "user", "parts": [{"text": "hi"}]}], **request})["body"]


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "parts": list(parts)}


def model_turn(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "model", "parts": list(parts)}


# --- canonical line -> chat completions line ----------------------------------------------------------


def test_a_single_text_turn_becomes_a_chat_line_with_string_content():
    assert chat({"contents": [user({"text": "Say hello."})]}) == {
        "custom_id": "request-1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}]},
    }


def test_a_key_openai_would_refuse_becomes_a_hashed_custom_id():
    line = chat({"contents": [user({"text": "hi"})]}, key="invoices/00_COM.png")
    assert line["custom_id"] == "k-" + hashlib.sha256(b"invoices/00_COM.png").hexdigest()[:40]


def test_a_content_without_role_is_a_user_message():
    assert chat({"contents": [{"parts": [{"text": "hi"}]}]})["body"]["messages"] == [{"role": "user", "content": "hi"}]


def test_system_instruction_becomes_the_first_message():
    request = {"systemInstruction": {"parts": [{"text": "Be brief."}]}, "contents": [user({"text": "hi"})]}
    assert chat(request)["body"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]


def test_a_system_instruction_of_several_parts_becomes_text_content_parts():
    request = {
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Be kind."}]},
        "contents": [user({"text": "hi"})],
    }
    assert chat(request)["body"]["messages"][0] == {
        "role": "system",
        "content": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
    }


def test_model_turns_become_assistant_messages():
    request = {"contents": [user({"text": "2+2?"}), model_turn({"text": "4"}), user({"text": "and 3+3?"})]}
    assert chat(request)["body"]["messages"] == [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "and 3+3?"},
    ]


def test_text_and_inline_image_become_a_content_array_with_a_data_url():
    request = {"contents": [user({"text": "What is this?"}, {"inlineData": {"mimeType": "image/png", "data": PNG}})]}
    assert chat(request)["body"]["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
        }
    ]


@pytest.mark.parametrize(("written", "sent"), [("__79", "//79"), ("YWI", "YWI="), ("-_8", "+/8="), (PNG, PNG)])
def test_inline_bytes_go_in_the_data_url_in_standard_padded_base64_whatever_alphabet_and_padding_gemini_read(
    written, sent
):
    request = {"contents": [user({"inlineData": {"mimeType": "image/png", "data": written}})]}
    [message] = chat(request)["body"]["messages"]
    assert message["content"] == [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{sent}"}}]


def test_generation_parameters_map_to_chat_parameters():
    config = {
        "temperature": 0.3,
        "topP": 0.9,
        "maxOutputTokens": 256,
        "stopSequences": ["END"],
        "candidateCount": 2,
        "seed": 7,
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.2,
    }
    assert body(generationConfig=config) == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.3,
        "top_p": 0.9,
        "max_completion_tokens": 256,
        "stop": ["END"],
        "n": 2,
        "seed": 7,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
    }


def test_logprob_settings_map_to_logprobs_and_top_logprobs():
    assert body(generationConfig={"responseLogprobs": True, "logprobs": 3}) == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "logprobs": True,
        "top_logprobs": 3,
    }


def test_snake_case_rest_names_are_read_like_camel_case():
    request = {
        "contents": [{"role": "user", "parts": [{"inline_data": {"mime_type": "image/png", "data": PNG}}]}],
        "generation_config": {"max_output_tokens": 10},
    }
    assert chat(request)["body"] == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}
        ],
        "max_completion_tokens": 10,
    }


def test_text_only_modality_and_plain_text_mime_type_add_nothing():
    config = {"responseModalities": ["TEXT"], "responseMimeType": "text/plain"}
    assert body(generationConfig=config) == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def test_json_mime_type_without_schema_becomes_json_object_mode():
    request = {
        "contents": [user({"text": "Reply in JSON."})],
        "generationConfig": {"responseMimeType": "application/json"},
    }
    assert chat(request)["body"]["response_format"] == {"type": "json_object"}


def test_json_object_mode_without_the_word_json_in_the_prompt_raises():
    with pytest.raises(ValueError, match="requires the word 'JSON'"):
        body(generationConfig={"responseMimeType": "application/json"})


def test_response_schema_becomes_a_json_schema_response_format():
    schema = {
        "type": "OBJECT",
        "description": "An invoice.",
        "properties": {
            "company": {"type": "STRING"},
            "total": {"type": "NUMBER", "nullable": True},
            "lines": {"type": "ARRAY", "items": {"type": "OBJECT", "properties": {"qty": {"type": "INTEGER"}}}},
            "currency": {"type": "STRING", "format": "enum", "enum": ["EUR", "USD"]},
        },
        "required": ["company", "total"],
        "propertyOrdering": ["company", "total", "lines", "currency"],
    }
    assert body(generationConfig={"responseMimeType": "application/json", "responseSchema": schema})[
        "response_format"
    ] == {
        "type": "json_schema",
        "json_schema": {
            "name": "response",
            "schema": {
                "type": "object",
                "description": "An invoice.",
                "properties": {
                    "company": {"type": "string"},
                    "total": {"type": ["number", "null"]},
                    "lines": {"type": "array", "items": {"type": "object", "properties": {"qty": {"type": "integer"}}}},
                    "currency": {"type": "string", "format": "enum", "enum": ["EUR", "USD"]},
                },
                "required": ["company", "total"],
            },
        },
    }


def test_a_nullable_enum_also_allows_null_as_a_value():
    schema = {"type": "STRING", "enum": ["a", "b"], "nullable": True}
    converted = body(generationConfig={"responseMimeType": "application/json", "responseSchema": schema})
    assert converted["response_format"]["json_schema"]["schema"] == {
        "type": ["string", "null"],
        "enum": ["a", "b", None],
    }


def test_schema_int64_strings_become_integers_and_example_becomes_examples():
    schema = {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": "1", "maxItems": "3", "example": ["x"]}
    converted = body(generationConfig={"responseMimeType": "application/json", "responseSchema": schema})
    assert converted["response_format"]["json_schema"]["schema"] == {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "maxItems": 3,
        "examples": [["x"]],
    }


def test_a_schema_property_named_like_a_keyword_is_kept_as_a_property():
    schema = {"type": "OBJECT", "properties": {"max_items": {"type": "INTEGER"}}}
    converted = body(generationConfig={"responseMimeType": "application/json", "responseSchema": schema})
    assert converted["response_format"]["json_schema"]["schema"] == {
        "type": "object",
        "properties": {"max_items": {"type": "integer"}},
    }


def test_a_schema_keyword_outside_the_gemini_subset_raises():
    schema = {"type": "OBJECT", "additionalProperties": False}
    with pytest.raises(ValueError, match=r"responseSchema\.additionalProperties cannot be sent to openai"):
        body(generationConfig={"responseMimeType": "application/json", "responseSchema": schema})


def test_response_json_schema_is_sent_as_it_is():
    schema = {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "$defs": {"A": {"type": "string"}}}
    converted = body(generationConfig={"responseMimeType": "application/json", "responseJsonSchema": schema})
    assert converted["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema},
    }


def test_a_response_schema_without_json_mime_type_raises():
    with pytest.raises(ValueError, match="responseSchema needs responseMimeType application/json"):
        body(generationConfig={"responseSchema": {"type": "STRING"}})


def test_both_response_schemas_at_once_raise():
    config = {"responseMimeType": "application/json", "responseSchema": {"type": "STRING"}, "responseJsonSchema": {}}
    with pytest.raises(ValueError, match="both responseSchema and responseJsonSchema"):
        body(generationConfig=config)


def test_a_mime_type_other_than_json_or_text_raises():
    with pytest.raises(ValueError, match=r"responseMimeType cannot be sent to openai: text/x\.enum"):
        body(generationConfig={"responseMimeType": "text/x.enum"})


def test_more_than_four_stop_sequences_raise():
    with pytest.raises(ValueError, match="stopSequences cannot be sent to openai: it takes at most 4"):
        body(generationConfig={"stopSequences": ["a", "b", "c", "d", "e"]})


def test_function_declarations_become_function_tools_with_json_schema_parameters():
    tools = [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather in a city.",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"city": {"type": "STRING"}},
                        "required": ["city"],
                    },
                },
                {"name": "now"},
            ]
        }
    ]
    assert body(tools=tools)["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather in a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        },
        {"type": "function", "function": {"name": "now"}},
    ]


def test_parameters_json_schema_is_sent_as_it_is():
    parameters = {"type": "object", "properties": {"q": {"type": "string"}}, "additionalProperties": False}
    tools = [{"functionDeclarations": [{"name": "search", "parametersJsonSchema": parameters}]}]
    assert body(tools=tools)["tools"] == [
        {"type": "function", "function": {"name": "search", "parameters": parameters}}
    ]


@pytest.mark.parametrize(
    ("config", "choice"),
    [
        ({"mode": "AUTO"}, "auto"),
        ({"mode": "NONE"}, "none"),
        ({"mode": "ANY"}, "required"),
        ({"mode": "ANY", "allowedFunctionNames": ["now"]}, {"type": "function", "function": {"name": "now"}}),
    ],
)
def test_function_calling_config_becomes_tool_choice(config, choice):
    tools = [{"functionDeclarations": [{"name": "now"}]}]
    assert body(tools=tools, toolConfig={"functionCallingConfig": config})["tool_choice"] == choice


def test_restricting_to_several_functions_raises():
    config = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["a", "b"]}}
    tools = [{"functionDeclarations": [{"name": "a"}, {"name": "b"}]}]
    with pytest.raises(ValueError, match="allowedFunctionNames cannot be sent to openai"):
        body(tools=tools, toolConfig=config)


def test_function_call_and_response_become_tool_calls_and_a_tool_message_with_paired_ids():
    request = {
        "contents": [
            user({"text": "Weather in Paris?"}),
            model_turn({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}),
            user({"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}}),
        ]
    }
    assert chat(request)["body"]["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c":21}'},
    ]


def test_gemini_function_call_ids_are_kept_and_answered_by_id():
    request = {
        "contents": [
            user({"text": "Two cities?"}),
            model_turn(
                {"functionCall": {"id": "a", "name": "w", "args": {"city": "Paris"}}},
                {"functionCall": {"id": "b", "name": "w", "args": {"city": "Rome"}}},
            ),
            user(
                {"functionResponse": {"id": "b", "name": "w", "response": {"t": 25}}},
                {"functionResponse": {"id": "a", "name": "w", "response": {"t": 21}}},
            ),
        ]
    }
    messages = chat(request)["body"]["messages"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["a", "b"]
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": "b", "content": '{"t":25}'},
        {"role": "tool", "tool_call_id": "a", "content": '{"t":21}'},
    ]


def test_a_function_response_without_its_call_raises():
    request = {"contents": [user({"functionResponse": {"name": "w", "response": {}}})]}
    with pytest.raises(ValueError, match=r"'w' answers no functionCall of the model turn just before it"):
        chat(request)


# --- what openai cannot express -----------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["googleSearch", "codeExecution", "urlContext", "googleMaps", "fileSearch"])
def test_a_gemini_only_tool_raises_naming_it(tool):
    with pytest.raises(ValueError, match=f"^{tool} is a Gemini-only tool and cannot be sent to openai$"):
        body(tools=[{tool: {}}])


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("topK", 40, "openai has no top-k sampling"),
        ("thinkingConfig", {"thinkingBudget": 0}, "openai has no thinking budget"),
        ("responseModalities", ["TEXT", "IMAGE"], "only text output maps"),
        ("speechConfig", {}, "speech output is Gemini-only"),
        ("temperatur", 0.1, "it is unknown or Gemini-only"),
    ],
)
def test_a_generation_field_openai_cannot_express_raises(field, value, reason):
    with pytest.raises(ValueError, match=f"generationConfig.{field} cannot be sent to openai: {reason}"):
        body(generationConfig={field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("safetySettings", [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]),
        ("cachedContent", "cachedContents/abc"),
        ("labels", {"team": "ml"}),
    ],
)
def test_a_request_field_openai_cannot_express_raises(field, value):
    with pytest.raises(ValueError, match=f"request.{field} cannot be sent to openai"):
        body(**{field: value})


@pytest.mark.parametrize(
    ("part", "match"),
    [
        ({"fileData": {"fileUri": "gs://b/a.pdf", "mimeType": "application/pdf"}}, r"parts\[0\]\.fileData"),
        ({"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}, "application/pdf is not one of the image"),
        ({"text": "x", "thoughtSignature": "El4K"}, "thought signatures are Gemini-only"),
        ({"text": "x", "thought": True}, "model thoughts cannot be replayed"),
        ({"executableCode": {"code": "1"}}, "code execution parts are Gemini-only"),
    ],
)
def test_a_part_openai_cannot_express_raises(part, match):
    with pytest.raises(ValueError, match=match):
        chat({"contents": [user(part)]})


def test_an_image_in_a_model_turn_raises():
    request = {"contents": [user({"text": "hi"}), model_turn({"inlineData": {"mimeType": "image/png", "data": PNG}})]}
    with pytest.raises(ValueError, match="a model turn can hold only text and function calls"):
        chat(request)


def test_a_per_line_model_naming_the_batch_model_is_accepted():
    assert chat({"model": "models/gpt-4o-mini", "contents": [user({"text": "hi"})]})["body"]["model"] == "gpt-4o-mini"


def test_a_per_line_model_other_than_the_batch_model_raises():
    with pytest.raises(ValueError, match=r"request\.model 'models/gemini-2\.5-flash' differs from the batch model"):
        chat({"model": "models/gemini-2.5-flash", "contents": [user({"text": "hi"})]})


def test_an_embeddings_request_in_a_generation_batch_raises():
    with pytest.raises(ValueError, match="an embeddings request"):
        chat({"content": {"parts": [{"text": "hi"}]}})


# --- what the chat completions API would refuse ------------------------------------------------------

WEATHER_TOOL = [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT"}}]}]


@pytest.mark.parametrize(
    ("config", "field", "reason"),
    [
        ({"presencePenalty": 2.5}, "presencePenalty", "2.5 is outside its range (from -2 to 2)"),
        ({"frequencyPenalty": "-3"}, "frequencyPenalty", "-3 is outside its range (from -2 to 2)"),
        ({"candidateCount": 129}, "candidateCount", "129 is outside its range (from 1 to 128)"),
        ({"logprobs": 3}, "logprobs", "it returns top log-probabilities only with responseLogprobs true"),
        (
            {"logprobs": 3, "responseLogprobs": False},
            "logprobs",
            "it returns top log-probabilities only with responseLogprobs true",
        ),
    ],
)
def test_a_value_outside_an_openai_range_raises_naming_the_gemini_field(config, field, reason):
    with pytest.raises(ValueError) as raised:
        body(generationConfig=config)
    assert str(raised.value) == f"generationConfig.{field} cannot be sent to openai: {reason}"


def test_the_edges_of_the_openai_ranges_are_accepted():
    config = {"presencePenalty": -2, "frequencyPenalty": 2, "candidateCount": 128}
    assert body(generationConfig=config) | {"messages": None} == {
        "model": MODEL,
        "messages": None,
        "presence_penalty": -2,
        "frequency_penalty": 2,
        "n": 128,
    }


def test_proto_json_number_text_is_written_as_json_numbers():
    config = {"temperature": "0.5", "maxOutputTokens": "256", "seed": "7", "candidateCount": 2.0, "logprobs": "1"}
    generated = body(generationConfig={**config, "responseLogprobs": True})
    assert (generated["temperature"], generated["max_completion_tokens"], generated["seed"]) == (0.5, 256, 7)
    assert (generated["n"], generated["top_logprobs"]) == (2, 1)
    assert all(type(generated[name]) is int for name in ("max_completion_tokens", "seed", "n", "top_logprobs"))


def test_an_empty_response_modalities_list_means_text():
    assert "modalities" not in body(generationConfig={"responseModalities": []})


def test_a_function_name_gemini_allows_but_openai_does_not_raises_naming_it():
    tools = [{"functionDeclarations": [{"name": "crm.lookup"}]}]
    with pytest.raises(ValueError) as raised:
        body(tools=tools)
    assert str(raised.value) == (
        "tools[0].functionDeclarations[0].name cannot be sent to openai: "
        "function name 'crm.lookup' is not 1 to 64 of a-z, A-Z, 0-9, _ and -"
    )


def test_a_function_call_in_the_conversation_with_such_a_name_raises_too():
    contents = [user({"text": "q"}), model_turn({"functionCall": {"name": "crm:lookup", "args": {}}})]
    with pytest.raises(ValueError, match=r"contents\[1\]\.parts\[0\]\.functionCall\.name cannot be sent to openai"):
        chat({"contents": [*contents, user({"functionResponse": {"name": "crm:lookup", "response": {}}})]})


def test_function_parameters_that_are_not_an_object_schema_raise():
    tools = [{"functionDeclarations": [{"name": "f", "parameters": {"type": "STRING"}}]}]
    with pytest.raises(
        ValueError, match=r"functionDeclarations\[0\]\.parameters cannot be sent to openai: .*\"object\""
    ):
        body(tools=tools)


def test_a_tool_config_without_tools_raises():
    with pytest.raises(ValueError, match="toolConfig cannot be sent to openai: it takes a tool choice only together"):
        body(toolConfig={"functionCallingConfig": {"mode": "NONE"}})


def test_forcing_a_function_that_is_not_declared_raises():
    config = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_wether"]}}
    with pytest.raises(ValueError, match="names 'get_wether', which no functionDeclaration declares"):
        body(tools=WEATHER_TOOL, toolConfig=config)


def test_a_function_declared_twice_raises():
    tools = [{"functionDeclarations": [{"name": "f"}]}, {"functionDeclarations": [{"name": "f"}]}]
    with pytest.raises(ValueError, match="tools cannot be sent to openai: function 'f' is declared twice"):
        body(tools=tools)


def test_a_tool_choice_mode_given_as_its_number_is_read():
    assert body(tools=WEATHER_TOOL, toolConfig={"functionCallingConfig": {"mode": 2}})["tool_choice"] == "required"


def test_an_empty_description_is_no_description():
    tools = [{"functionDeclarations": [{"name": "f", "description": ""}]}]
    assert body(tools=tools)["tools"] == [{"type": "function", "function": {"name": "f"}}]


def test_a_call_left_unanswered_by_the_next_turn_raises():
    contents = [
        user({"text": "q"}),
        model_turn({"functionCall": {"name": "a", "args": {}}}, {"functionCall": {"name": "b", "args": {}}}),
        user({"functionResponse": {"name": "a", "response": {}}}),
    ]
    with pytest.raises(ValueError) as raised:
        chat({"contents": contents})
    assert str(raised.value) == (
        "contents[2]: functionCall 'b' in contents[1] gets no functionResponse in the next turn; "
        "openai needs every call answered in the user turn right after it"
    )


def test_a_conversation_ending_on_a_call_raises():
    with pytest.raises(ValueError, match="contents: functionCall 'a' in contents\\[1\\] gets no functionResponse"):
        chat({"contents": [user({"text": "q"}), model_turn({"functionCall": {"name": "a", "args": {}}})]})


def test_a_model_turn_right_after_unanswered_calls_raises():
    contents = [
        user({"text": "q"}),
        model_turn({"functionCall": {"name": "a", "args": {}}}),
        model_turn({"text": "never mind"}),
    ]
    with pytest.raises(ValueError, match="contents\\[2\\]: functionCall 'a' in contents\\[1\\]"):
        chat({"contents": contents})


def test_a_response_to_a_call_two_turns_back_raises():
    contents = [
        user({"text": "q"}),
        model_turn({"functionCall": {"name": "a", "args": {}}}),
        user({"functionResponse": {"name": "a", "response": {}}}),
        model_turn({"text": "done"}),
        user({"functionResponse": {"name": "a", "response": {}}}),
    ]
    with pytest.raises(ValueError, match="'a' answers no functionCall of the model turn just before it"):
        chat({"contents": contents})


def test_property_ordering_orders_the_json_schema_properties():
    schema = {
        "type": "OBJECT",
        "properties": {"b": {"type": "STRING"}, "a": {"type": "STRING"}, "c": {"type": "STRING"}},
        "propertyOrdering": ["c", "a"],
    }
    config = {"responseMimeType": "application/json", "responseSchema": schema}
    sent = body(generationConfig=config)["response_format"]["json_schema"]["schema"]
    assert list(sent["properties"]) == ["c", "a", "b"]


def test_property_ordering_naming_an_unknown_property_raises():
    schema = {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}, "propertyOrdering": ["z"]}
    with pytest.raises(ValueError, match="propertyOrdering must list names of"):
        body(generationConfig={"responseMimeType": "application/json", "responseSchema": schema})


def test_schema_bounds_given_as_text_become_numbers():
    schema = {"type": "NUMBER", "minimum": "0.5", "maximum": 10}
    sent = body(generationConfig={"responseMimeType": "application/json", "responseSchema": schema})
    assert sent["response_format"]["json_schema"]["schema"] == {"type": "number", "minimum": 0.5, "maximum": 10}


def test_one_field_in_both_spellings_raises():
    with pytest.raises(ValueError, match="generationConfig sets 'topP' and 'top_p', one field twice"):
        body(generationConfig={"topP": 1, "top_p": 1})


def test_a_null_field_is_unset():
    assert body(generationConfig={"temperature": None}, systemInstruction=None)["messages"] == [
        {"role": "user", "content": "hi"}
    ]


# --- embeddings ---------------------------------------------------------------------------------------


def embed(request: dict[str, Any]) -> dict[str, Any]:
    return from_gemini({"key": "chunk-0007", "request": request}, model="text-embedding-3-small", embeddings=True)


def test_an_embed_request_becomes_an_embeddings_line_with_float_encoding_and_dimensions():
    assert embed({"content": {"parts": [{"text": "The cat sat."}], "role": "user"}, "outputDimensionality": 256}) == {
        "custom_id": "chunk-0007",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {
            "model": "text-embedding-3-small",
            "input": "The cat sat.",
            "encoding_format": "float",
            "dimensions": 256,
        },
    }


def test_the_text_parts_of_an_embed_request_are_joined_with_newlines():
    assert embed({"content": {"parts": [{"text": "Title"}, {"text": "Body"}]}})["body"]["input"] == "Title\nBody"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [("taskType", "RETRIEVAL_DOCUMENT", "no task type"), ("title", "Doc", "no document title")],
)
def test_an_embedding_option_openai_cannot_express_raises(field, value, reason):
    with pytest.raises(ValueError, match=f"request.{field} cannot be sent to openai: openai embeddings have {reason}"):
        embed({"content": {"parts": [{"text": "x"}]}, field: value})


def test_an_image_in_an_embed_request_raises():
    with pytest.raises(ValueError, match="openai embeds text only"):
        embed({"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}]}})


def test_a_generation_request_in_an_embeddings_batch_raises():
    with pytest.raises(ValueError, match="the batch is an embeddings batch"):
        embed({"contents": [user({"text": "hi"})]})


# --- the translation matches the SDK's parameter names -------------------------------------------------


def test_every_translated_chat_field_is_a_chat_completions_parameter():
    params = importlib.import_module("openai.types.chat.completion_create_params").CompletionCreateParamsNonStreaming
    config = {
        "temperature": 0.3,
        "topP": 0.9,
        "maxOutputTokens": 256,
        "stopSequences": ["END"],
        "candidateCount": 2,
        "seed": 7,
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.2,
        "responseLogprobs": True,
        "logprobs": 3,
        "responseMimeType": "application/json",
        "responseSchema": {"type": "STRING"},
    }
    translated = body(generationConfig=config, tools=[{"functionDeclarations": [{"name": "f"}]}], toolConfig={})
    assert set(translated) <= params.__required_keys__ | params.__optional_keys__


def test_every_translated_embeddings_field_is_an_embeddings_parameter():
    params = importlib.import_module("openai.types.embedding_create_params").EmbeddingCreateParams
    translated = embed({"content": {"parts": [{"text": "x"}]}, "outputDimensionality": 8})["body"]
    assert set(translated) <= params.__required_keys__ | params.__optional_keys__


# --- native lines -------------------------------------------------------------------------------------

NATIVE = {
    "custom_id": "request-1",
    "method": "POST",
    "url": "/v1/chat/completions",
    "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
}


NATIVE_BODIES = {
    "/v1/chat/completions": {"messages": [{"role": "user", "content": "hi"}]},
    "/v1/embeddings": {"input": ["hi", "there"]},
    "/v1/responses": {"input": "hi"},
    "/v1/completions": {"prompt": "hi"},
    "/v1/moderations": {"input": "hi"},
    "/v1/images/generations": {"prompt": "a red fox"},
    "/v1/images/edits": {"prompt": "make it blue", "image": "file-abc"},
    "/v1/videos": {"prompt": "a red fox running"},
}
"""A body each batch endpoint takes, besides the model."""


@pytest.mark.parametrize("url", sorted(NATIVE_BODIES))
def test_a_native_line_returns_its_endpoint(url):
    body = {"model": "gpt-4o-mini", **NATIVE_BODIES[url]}
    assert check_native({**NATIVE, "url": url, "body": body}) == url


@pytest.mark.parametrize(
    ("url", "body", "message"),
    [
        (
            "/v1/embeddings",
            {"messages": [{"role": "user", "content": "hi"}]},
            "'body.input' is missing: /v1/embeddings requires it",
        ),
        ("/v1/chat/completions", {"input": "hi"}, "'body.messages' is missing: /v1/chat/completions requires it"),
        ("/v1/completions", {"messages": []}, "'body.prompt' is missing: /v1/completions requires it"),
        ("/v1/moderations", {}, "'body.input' is missing: /v1/moderations requires it"),
        ("/v1/images/generations", {}, "'body.prompt' is missing: /v1/images/generations requires it"),
        ("/v1/videos", {}, "'body.prompt' is missing: /v1/videos requires it"),
    ],
)
def test_a_native_body_without_what_its_endpoint_requires_is_refused_naming_the_field(url, body, message):
    with pytest.raises(ValueError) as raised:
        check_native({**NATIVE, "url": url, "body": {"model": "gpt-4o-mini", **body}})
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("url", "body", "message"),
    [
        (
            "/v1/chat/completions",
            {"messages": []},
            "'body.messages' must be a non-empty list for /v1/chat/completions, got an empty list",
        ),
        (
            "/v1/chat/completions",
            {"messages": "hi"},
            "'body.messages' must be a non-empty list for /v1/chat/completions, got string",
        ),
        (
            "/v1/embeddings",
            {"input": {"text": "hi"}},
            "'body.input' must be a string or a non-empty list of strings, of token ids or of lists of token ids for "
            "/v1/embeddings, got object",
        ),
        (
            "/v1/embeddings",
            {"input": ["hi", 3]},
            "'body.input' must be a string or a non-empty list of strings, of token ids or of lists of token ids for "
            "/v1/embeddings, got array",
        ),
        ("/v1/images/generations", {"prompt": ["a fox"]}, "'body.prompt' must be a string for /v1/images/generations"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "model", "content": "hi"}]},
            "'body.messages[0].role' 'model' is not one of system, developer, user, assistant, tool, function",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"content": "hi"}]},
            "'body.messages[0].role' is missing: a message requires it",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "hi"}, "again"]},
            "'body.messages[1]' must be a JSON object, got string",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "text": "hi"}]},
            "'body.messages[0].content' is missing: a user message requires it",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "tool", "content": "42"}]},
            "'body.messages[0].tool_call_id' is missing: a tool message requires it",
        ),
    ],
)
def test_a_native_body_of_the_wrong_shape_for_its_endpoint_is_refused_naming_the_field(url, body, message):
    with pytest.raises(ValueError) as raised:
        check_native({**NATIVE, "url": url, "body": {"model": "gpt-4o-mini", **body}})
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/v1/chat/completions", "max_output_tokens"),
        ("/v1/embeddings", "encoding"),
        ("/v1/completions", "messages"),
        ("/v1/moderations", "dimensions"),
    ],
)
def test_a_native_body_with_a_field_its_endpoint_does_not_take_is_refused_naming_it(url, field):
    body = {"model": "gpt-4o-mini", **NATIVE_BODIES[url], field: 1}
    with pytest.raises(ValueError) as raised:
        check_native({**NATIVE, "url": url, "body": body})
    assert str(raised.value) == f"'body' has {field}, which {url} does not take"


@pytest.mark.parametrize(
    ("url", "module", "params"),
    [
        ("/v1/chat/completions", "openai.types.chat.completion_create_params", "CompletionCreateParamsStreaming"),
        ("/v1/embeddings", "openai.types.embedding_create_params", "EmbeddingCreateParams"),
        ("/v1/completions", "openai.types.completion_create_params", "CompletionCreateParamsStreaming"),
        ("/v1/moderations", "openai.types.moderation_create_params", "ModerationCreateParams"),
    ],
)
def test_a_native_body_may_carry_every_field_of_its_endpoints_create_params(url, module, params):
    params_type = getattr(importlib.import_module(module), params)
    assert BODY_FIELDS[url] == params_type.__required_keys__ | params_type.__optional_keys__


@pytest.mark.parametrize("url", ["/v1/chat/completions", "/v1/completions", "/v1/responses"])
def test_a_native_body_asking_for_a_stream_is_refused(url):
    body = {"model": "gpt-4o-mini", **NATIVE_BODIES[url], "stream": True}
    with pytest.raises(ValueError) as raised:
        check_native({**NATIVE, "url": url, "body": body})
    assert str(raised.value) == (
        "'body.stream' must be false or absent: a batch answers each request whole, not as a stream"
    )
    assert check_native({**NATIVE, "url": url, "body": {**body, "stream": False}}) == url


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "'body.input' holds an empty text, which /v1/embeddings refuses"),
        (["a", ""], "'body.input' holds an empty text, which /v1/embeddings refuses"),
        (["a"] * 2049, "'body.input' holds 2049 inputs: /v1/embeddings takes at most 2048 in one request"),
        ([[1, 2]] * 2049, "'body.input' holds 2049 inputs: /v1/embeddings takes at most 2048 in one request"),
    ],
)
def test_a_native_embeddings_input_outside_the_apis_bounds_is_refused(value, message):
    body = {"model": "text-embedding-3-small", "input": value}
    with pytest.raises(ValueError) as raised:
        check_native({**NATIVE, "url": "/v1/embeddings", "body": body})
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"dimensions": 0}, "'body.dimensions' must be a positive integer for /v1/embeddings, got 0"),
        ({"dimensions": True}, "'body.dimensions' must be a positive integer for /v1/embeddings, got True"),
        ({"dimensions": "64"}, "'body.dimensions' must be a positive integer for /v1/embeddings, got '64'"),
        ({"dimensions": 3073}, "'body.dimensions' is 3073: no openai embedding model returns more than 3072"),
        ({"encoding_format": "FLOAT"}, "'body.encoding_format' 'FLOAT' is not one of float, base64 for /v1/embeddings"),
        ({"encoding_format": None}, "'body.encoding_format' None is not one of float, base64 for /v1/embeddings"),
    ],
)
def test_a_native_embeddings_option_the_api_refuses_is_refused(option, message):
    body = {"model": "text-embedding-3-small", "input": "a", **option}
    with pytest.raises(ValueError) as raised:
        check_native({**NATIVE, "url": "/v1/embeddings", "body": body})
    assert str(raised.value) == message


@pytest.mark.parametrize("value", [{"text": "hi"}, 5, True])
def test_a_native_responses_input_neither_text_nor_items_is_refused(value):
    body = {"model": "gpt-4o-mini", "input": value}
    with pytest.raises(ValueError) as raised:
        check_native({**NATIVE, "url": "/v1/responses", "body": body})
    assert str(raised.value).startswith("'body.input' must be a string or a list of input items for /v1/responses, got")


def test_a_native_responses_body_without_input_passes():
    body = {"model": "gpt-4o-mini", "previous_response_id": "resp_1"}
    assert check_native({**NATIVE, "url": "/v1/responses", "body": body}) == "/v1/responses"


@pytest.mark.parametrize("value", [["a"] * 2048, [[1, 2]] * 2048, [7] * 5000])
def test_a_native_embeddings_input_at_the_apis_bounds_passes(value):
    body = {"model": "text-embedding-3-small", "input": value}
    assert check_native({**NATIVE, "url": "/v1/embeddings", "body": body}) == "/v1/embeddings"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"temperature": 2.5}, "'body.temperature' is 2.5: /v1/chat/completions takes it from 0 to 2"),
        ({"presence_penalty": -3}, "'body.presence_penalty' is -3: /v1/chat/completions takes it from -2 to 2"),
        ({"frequency_penalty": 2.1}, "'body.frequency_penalty' is 2.1: /v1/chat/completions takes it from -2 to 2"),
        ({"top_logprobs": 21}, "'body.top_logprobs' is 21: /v1/chat/completions takes it from 0 to 20"),
        ({"n": 0}, "'body.n' is 0: /v1/chat/completions takes it from 1 to 128"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "'body.stop' holds 5 sequences: /v1/chat/completions takes at most 4"),
    ],
)
def test_a_native_chat_body_outside_the_endpoints_bounds_is_refused_naming_the_field(change, message):
    with pytest.raises(ValueError) as raised:
        check_native({**NATIVE, "body": {**NATIVE["body"], **change}})
    assert str(raised.value) == message


def test_a_native_chat_body_at_the_endpoints_bounds_passes():
    edges = {"temperature": 2, "frequency_penalty": -2, "top_logprobs": 20, "logprobs": True, "stop": ["a"] * 4}
    assert check_native({**NATIVE, "body": {**NATIVE["body"], **edges}}) == "/v1/chat/completions"


def test_an_assistant_message_needs_no_content():
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant"}]}
    assert check_native({**NATIVE, "body": body}) == "/v1/chat/completions"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"method": "GET"}, "'method' must be \"POST\""),
        ({"url": "/v1/chat/completions/"}, "is not a batchable openai endpoint"),
        ({"url": "/v1/audio/speech"}, "is not a batchable openai endpoint"),
        ({"body": "{}"}, "'body' must be a JSON object"),
        ({"body": {"messages": []}}, "'body.model' must be a non-empty string"),
    ],
)
def test_a_bad_native_line_raises_with_the_reason(change, match):
    with pytest.raises(ValueError, match=match):
        check_native({**NATIVE, **change})


def test_endpoint_constants_are_the_batch_endpoints():
    assert (CHAT_URL, EMBEDDINGS_URL) == ("/v1/chat/completions", "/v1/embeddings")


# --- Batch and File objects ---------------------------------------------------------------------------

COMPLETED_BATCH = {
    "id": "batch_abc123",
    "object": "batch",
    "endpoint": "/v1/chat/completions",
    "model": "gpt-4o-mini-2024-07-18",
    "errors": None,
    "input_file_id": "file-abc123",
    "completion_window": "24h",
    "status": "completed",
    "output_file_id": "file-cvaTdG",
    "error_file_id": "file-HOWS94",
    "created_at": 1711471533,
    "in_progress_at": 1711471538,
    "expires_at": 1711557933,
    "finalizing_at": 1711493133,
    "completed_at": 1711493163,
    "failed_at": None,
    "expired_at": None,
    "cancelling_at": None,
    "cancelled_at": None,
    "request_counts": {"total": 100, "completed": 95, "failed": 5},
    "metadata": {"display_name": "nightly-eval", "idempotency_key": "3f2a"},
}
FAILED_BATCH = {
    "id": "batch_def456",
    "object": "batch",
    "endpoint": "/v1/chat/completions",
    "errors": {
        "object": "list",
        "data": [
            {
                "code": "invalid_json_line",
                "line": 3,
                "message": "This line is not parseable as valid JSON.",
                "param": None,
            },
            {"code": "missing_required_parameter", "line": None, "message": "Missing 'model'.", "param": "body.model"},
        ],
    },
    "input_file_id": "file-def456",
    "completion_window": "24h",
    "status": "failed",
    "created_at": 1711471533,
    "failed_at": 1711471538,
    "expires_at": 1711557933,
    "request_counts": {"total": 0, "completed": 0, "failed": 0},
}
FILE = {
    "id": "file-abc123",
    "object": "file",
    "bytes": 120000,
    "created_at": 1711471533,
    "expires_at": 1714063533,
    "filename": "genai-batch-input.jsonl",
    "purpose": "batch",
    "status": "processed",
}


@pytest.mark.parametrize("sample", [COMPLETED_BATCH, FAILED_BATCH])
def test_batch_samples_are_what_the_openai_sdk_parses(sample):
    batch_type = importlib.import_module("openai.types").Batch
    assert batch_type.model_validate(sample).id == sample["id"]


def test_file_sample_is_what_the_openai_sdk_parses():
    assert importlib.import_module("openai.types").FileObject.model_validate(FILE).bytes == 120000


def test_completed_batch_maps_names_files_times_counts_and_keeps_the_raw_object():
    job = parse_batch(COMPLETED_BATCH)
    assert job.model_dump() == {
        "name": "batch_abc123",
        "provider": "openai",
        "display_name": "nightly-eval",
        "model": "gpt-4o-mini-2024-07-18",
        "state": JobState.SUCCEEDED,
        "provider_state": "completed",
        "create_time": utc(2024, 3, 26, 16, 45, 33),
        "update_time": utc(2024, 3, 26, 22, 46, 3),
        "end_time": utc(2024, 3, 26, 22, 46, 3),
        "stats": {"total": 100, "succeeded": 95, "failed": 5, "pending": 0},
        "input_file": "file-abc123",
        "output_file": "file-cvaTdG",
        "error_file": "file-HOWS94",
        "has_inline_output": False,
        "error_message": None,
        "output_location": None,
        "raw": COMPLETED_BATCH,
    }


def test_failed_batch_joins_its_validation_errors_with_line_and_code():
    job = parse_batch(FAILED_BATCH)
    assert (job.state, job.end_time) == (JobState.FAILED, utc(2024, 3, 26, 16, 45, 38))
    assert job.error_message == (
        "line 3: This line is not parseable as valid JSON. (invalid_json_line); "
        "Missing 'model'. (missing_required_parameter)"
    )


def test_in_progress_batch_counts_the_rest_as_pending_and_has_no_end_time():
    data = {
        **COMPLETED_BATCH,
        "status": "in_progress",
        "finalizing_at": None,
        "completed_at": None,
        "output_file_id": None,
        "error_file_id": None,
        "request_counts": {"total": 100, "completed": 40, "failed": 2},
    }
    job = parse_batch(data)
    assert (job.state, job.end_time, job.update_time) == (JobState.RUNNING, None, utc(2024, 3, 26, 16, 45, 38))
    assert job.stats == BatchStats(total=100, succeeded=40, failed=2, pending=58)


def test_pending_count_is_never_negative():
    data = {**COMPLETED_BATCH, "request_counts": {"total": 3, "completed": 3, "failed": 1}}
    assert parse_batch(data).stats.pending == 0


def test_cancelled_batch_ends_at_its_cancel_time():
    data = {
        **COMPLETED_BATCH,
        "status": "cancelled",
        "completed_at": None,
        "cancelling_at": 1711500000,
        "cancelled_at": 1711502000,
    }
    job = parse_batch(data)
    assert (job.state, job.end_time, job.update_time) == (
        JobState.CANCELLED,
        utc(2024, 3, 27, 1, 13, 20),
        utc(2024, 3, 27, 1, 13, 20),
    )


def test_batch_without_metadata_has_no_display_name():
    data = {key: value for key, value in COMPLETED_BATCH.items() if key != "metadata"}
    assert parse_batch(data).display_name is None


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("validating", JobState.PENDING),
        ("in_progress", JobState.RUNNING),
        ("finalizing", JobState.RUNNING),
        ("cancelling", JobState.CANCELLING),
        ("completed", JobState.SUCCEEDED),
        ("failed", JobState.FAILED),
        ("expired", JobState.EXPIRED),
        ("cancelled", JobState.CANCELLED),
    ],
)
def test_every_batch_status_maps_to_its_job_state(status, state):
    assert STATUSES[status] is state
    assert parse_batch({**COMPLETED_BATCH, "status": status}).state is state


def test_cancelling_is_not_terminal_because_partial_output_is_not_final_yet():
    assert not STATUSES["cancelling"].is_terminal


def test_unknown_status_maps_to_unspecified_and_keeps_the_provider_value():
    job = parse_batch({**COMPLETED_BATCH, "status": "paused"})
    assert (job.state, job.provider_state) == (JobState.UNSPECIFIED, "paused")


def test_file_object_maps_to_file_info():
    assert parse_file(FILE).model_dump() == {
        "name": "file-abc123",
        "display_name": "genai-batch-input.jsonl",
        "mime_type": None,
        "size_bytes": 120000,
        "create_time": utc(2024, 3, 26, 16, 45, 33),
        "expiration_time": utc(2024, 4, 25, 16, 45, 33),
        "state": "processed",
        "uri": None,
        "raw": FILE,
    }


# --- output and error file lines ----------------------------------------------------------------------

CHAT_BODY = {
    "id": "chatcmpl-9B8y",
    "object": "chat.completion",
    "created": 1711652795,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help?", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 22, "completion_tokens": 7, "total_tokens": 29},
    "system_fingerprint": "fp_0ba0d124f1",
}
OUTPUT_LINE = {
    "id": "batch_req_wnaDys",
    "custom_id": "request-2",
    "response": {"status_code": 200, "request_id": "req_c187b3", "body": CHAT_BODY},
    "error": None,
}
EMBEDDING_BODY = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.0023, -0.0093, 0.0158]}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 8, "total_tokens": 8},
}
HTTP_ERROR_LINE = {
    "id": "batch_req_Xk3f",
    "custom_id": "request-3",
    "response": {
        "status_code": 400,
        "request_id": "req_5e1a",
        "body": {
            "error": {
                "message": "Invalid 'messages[0].content': string too long.",
                "type": "invalid_request_error",
                "param": "messages[0].content",
                "code": "string_above_max_length",
            }
        },
    },
    "error": None,
}


def expiry_line(code: str, message: str) -> dict[str, Any]:
    return {
        "id": "batch_req_9q",
        "custom_id": "request-4",
        "response": None,
        "error": {"code": code, "message": message},
    }


def test_response_bodies_are_what_the_openai_sdk_parses():
    types = importlib.import_module("openai.types")
    chat_type = importlib.import_module("openai.types.chat").ChatCompletion
    assert chat_type.model_validate(CHAT_BODY).choices[0].message.content == "Hello! How can I help?"
    assert types.CreateEmbeddingResponse.model_validate(EMBEDDING_BODY).data[0].embedding == [0.0023, -0.0093, 0.0158]


def test_a_200_chat_line_is_a_succeeded_row_with_text_body_and_usage():
    assert result_row(OUTPUT_LINE) == ResultRow(
        key="request-2",
        status=RowStatus.SUCCEEDED,
        text="Hello! How can I help?",
        response=CHAT_BODY,
        usage=Usage(input_tokens=22, output_tokens=7, total_tokens=29),
    )


def test_a_200_embeddings_line_is_a_succeeded_row_with_the_vector():
    line = {**OUTPUT_LINE, "response": {"status_code": 200, "request_id": "req_1", "body": EMBEDDING_BODY}}
    assert result_row(line) == ResultRow(
        key="request-2",
        status=RowStatus.SUCCEEDED,
        embedding=[0.0023, -0.0093, 0.0158],
        response=EMBEDDING_BODY,
        usage=Usage(input_tokens=8, total_tokens=8),
    )


def test_a_base64_embedding_is_decoded_as_little_endian_float32():
    vector = [0.5, -1.25, 3.0]
    encoded = base64.b64encode(struct.pack("<3f", *vector)).decode()
    response_body = {**EMBEDDING_BODY, "data": [{"object": "embedding", "index": 0, "embedding": encoded}]}
    line = {**OUTPUT_LINE, "response": {"status_code": 200, "request_id": "req_1", "body": response_body}}
    assert result_row(line).embedding == vector


def test_a_chat_answer_without_content_has_no_text():
    message = {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function"}]}
    response_body = {**CHAT_BODY, "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
    line = {**OUTPUT_LINE, "response": {"status_code": 200, "request_id": "req_1", "body": response_body}}
    row = result_row(line)
    assert (row.status, row.text, row.response) == (RowStatus.SUCCEEDED, None, response_body)


COMPLETION_BODY = {
    "id": "cmpl-7QmVI",
    "object": "text_completion",
    "created": 1711475054,
    "model": "gpt-3.5-turbo-instruct",
    "choices": [{"text": "Paris.", "index": 0, "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 6, "completion_tokens": 2, "total_tokens": 8},
}
RESPONSES_BODY = {
    "id": "resp_67cc",
    "object": "response",
    "created_at": 1741476542,
    "status": "completed",
    "model": "gpt-4.1",
    "output": [
        {
            "type": "message",
            "id": "msg_67cc",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "In a peaceful grove.", "annotations": []}],
        }
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "usage": {
        "input_tokens": 36,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 87,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 123,
    },
}


def test_a_200_legacy_completion_line_is_a_succeeded_row_with_the_choice_text():
    assert Completion.model_validate(COMPLETION_BODY).choices[0].text == "Paris."
    line = {**OUTPUT_LINE, "response": {"status_code": 200, "request_id": "req_1", "body": COMPLETION_BODY}}
    assert result_row(line) == ResultRow(
        key="request-2",
        status=RowStatus.SUCCEEDED,
        text="Paris.",
        response=COMPLETION_BODY,
        usage=Usage(input_tokens=6, output_tokens=2, total_tokens=8),
    )


def test_a_200_responses_line_is_a_succeeded_row_with_the_output_text():
    assert Response.model_validate(RESPONSES_BODY).output_text == "In a peaceful grove."
    line = {**OUTPUT_LINE, "response": {"status_code": 200, "request_id": "req_1", "body": RESPONSES_BODY}}
    assert result_row(line) == ResultRow(
        key="request-2",
        status=RowStatus.SUCCEEDED,
        text="In a peaceful grove.",
        response=RESPONSES_BODY,
        usage=Usage(input_tokens=36, output_tokens=87, total_tokens=123),
    )


def _answered(body: dict[str, Any]) -> dict[str, Any]:
    return {**OUTPUT_LINE, "response": {"status_code": 200, "request_id": "req_1", "body": body}}


def test_a_chat_answer_the_content_filter_emptied_is_a_failed_row_naming_it_and_keeping_the_body():
    choice = {"index": 0, "message": {"role": "assistant", "content": None, "refusal": None}}
    body = {**CHAT_BODY, "choices": [{**choice, "logprobs": None, "finish_reason": "content_filter"}]}
    assert importlib.import_module("openai.types.chat").ChatCompletion.model_validate(body).choices[0].finish_reason
    row = result_row(_answered(body))

    assert (row.key, row.status, row.text, row.response) == ("request-2", RowStatus.FAILED, None, body)
    assert row.error == RowError(
        message="the answer was blocked: finish_reason content_filter, and it holds no content",
        code=CONTENT_BLOCKED,
        status="content_filter",
    )
    assert row.usage == Usage(input_tokens=22, output_tokens=7, total_tokens=29)


def test_a_chat_answer_the_model_refused_is_a_failed_row_with_the_refusal():
    message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    body = {**CHAT_BODY, "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}]}
    row = result_row(_answered(body))

    assert row.status is RowStatus.FAILED
    assert row.error == RowError(
        message="the model refused: I can't help with that.", code=CONTENT_BLOCKED, status="refusal"
    )


def test_a_responses_answer_holding_only_a_refusal_is_a_failed_row_with_the_refusal():
    refusal = {"type": "refusal", "refusal": "I can't help with that."}
    output = [{**RESPONSES_BODY["output"][0], "content": [refusal]}]
    body = {**RESPONSES_BODY, "output": output}
    assert Response.model_validate(body).output_text == ""
    row = result_row(_answered(body))

    assert (row.status, row.error.code, row.error.message) == (
        RowStatus.FAILED,
        CONTENT_BLOCKED,
        "the model refused: I can't help with that.",
    )


def test_a_responses_answer_left_incomplete_by_the_content_filter_is_a_failed_row():
    body = {**RESPONSES_BODY, "status": "incomplete", "incomplete_details": {"reason": "content_filter"}, "output": []}
    row = result_row(_answered(body))

    assert row.error == RowError(
        message="the answer was blocked: incomplete_details.reason content_filter, and it holds no content",
        code=CONTENT_BLOCKED,
        status="content_filter",
    )


def test_a_filtered_chat_answer_that_kept_its_text_is_a_success_with_that_text():
    choice = {"index": 0, "message": {"role": "assistant", "content": "Part of"}, "finish_reason": "content_filter"}
    row = result_row(_answered({**CHAT_BODY, "choices": [choice]}))
    assert (row.status, row.text) == (RowStatus.SUCCEEDED, "Part of")


def test_a_chat_answer_of_tool_calls_only_is_a_success():
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}
    body = {**CHAT_BODY, "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
    assert result_row(_answered(body)).status is RowStatus.SUCCEEDED


def test_a_200_responses_answer_that_failed_is_a_failed_row_with_its_error_body_and_usage():
    failure = {"code": "server_error", "message": "The model failed to generate a response."}
    body = {**RESPONSES_BODY, "status": "failed", "error": failure, "output": []}
    assert Response.model_validate(body).error is not None
    assert result_row(_answered(body)) == ResultRow(
        key="request-2",
        status=RowStatus.FAILED,
        response=body,
        error=RowError(message="The model failed to generate a response.", code="server_error"),
        usage=Usage(input_tokens=36, output_tokens=87, total_tokens=123),
    )


def test_a_200_responses_answer_whose_status_is_failed_without_an_error_is_a_failed_row():
    body = {**RESPONSES_BODY, "status": "failed", "error": None, "output": []}
    row = result_row(_answered(body))
    assert (row.status, row.error) == (
        RowStatus.FAILED,
        RowError(message="the answer's status is failed, and it holds no error"),
    )


def test_a_200_chat_body_holding_only_an_error_is_a_failed_row_not_an_empty_success():
    body = {"error": {"message": "The server had an error.", "type": "server_error", "param": None, "code": None}}
    row = result_row(_answered(body))
    assert (row.key, row.status, row.text) == ("request-2", RowStatus.FAILED, None)
    assert row.error == RowError(message="The server had an error.", code="server_error", status="server_error")


def test_a_200_responses_answer_with_a_null_error_is_a_success():
    assert RESPONSES_BODY.get("error") is None
    assert result_row(_answered({**RESPONSES_BODY, "error": None})).status is RowStatus.SUCCEEDED


@pytest.mark.parametrize("body", [None, {}, "ok"], ids=["null", "empty", "a-string"])
def test_a_200_line_without_a_body_is_a_failed_row_not_a_success(body):
    row = result_row({**OUTPUT_LINE, "response": {"status_code": 200, "request_id": "req_1", "body": body}})
    assert (row.key, row.status) == ("request-2", RowStatus.FAILED)
    assert row.error == RowError(message="the result holds neither a response nor an error")


def test_a_non_200_line_is_a_failed_row_with_the_body_error():
    assert result_row(HTTP_ERROR_LINE) == ResultRow(
        key="request-3",
        status=RowStatus.FAILED,
        error=RowError(
            message="Invalid 'messages[0].content': string too long.",
            code="string_above_max_length",
            status="invalid_request_error",
        ),
    )


def test_a_non_200_line_without_error_code_uses_the_error_type():
    line = {
        **HTTP_ERROR_LINE,
        "response": {"status_code": 500, "body": {"error": {"message": "boom", "type": "server_error"}}},
    }
    assert result_row(line).error == RowError(message="boom", code="server_error", status="server_error")


def test_an_expired_request_is_an_expired_row():
    line = expiry_line("batch_expired", "This request could not be executed before the completion window expired.")
    assert result_row(line) == ResultRow(
        key="request-4",
        status=RowStatus.EXPIRED,
        error=RowError(
            message="This request could not be executed before the completion window expired.", code="batch_expired"
        ),
    )


def test_a_cancelled_request_is_a_cancelled_row():
    line = expiry_line("batch_cancelled", "This request was not executed because the batch was cancelled.")
    assert result_row(line) == ResultRow(
        key="request-4",
        status=RowStatus.CANCELLED,
        error=RowError(
            message="This request was not executed because the batch was cancelled.", code="batch_cancelled"
        ),
    )


def test_any_other_line_error_is_a_failed_row():
    row = result_row(expiry_line("server_error", "The server had an error."))
    assert (row.status, row.error) == (
        RowStatus.FAILED,
        RowError(message="The server had an error.", code="server_error"),
    )


def test_a_line_with_neither_response_nor_error_is_a_failed_row():
    row = result_row({"id": "batch_req_1", "custom_id": "request-5", "response": None, "error": None})
    assert (row.key, row.status, row.error) == (
        "request-5",
        RowStatus.FAILED,
        RowError(message="no response and no error"),
    )


@pytest.mark.parametrize(
    ("url", "body_input", "inputs"),
    [
        (EMBEDDINGS_URL, "one text", 1),
        (EMBEDDINGS_URL, ["a", "b", "c"], 3),
        (EMBEDDINGS_URL, [1, 2, 3], 1),  # one input given as token ids
        (EMBEDDINGS_URL, [[1, 2], [3], [4, 5]], 3),
        (CHAT_URL, None, 0),
    ],
)
def test_a_lines_embedding_inputs_are_the_items_its_input_lists(url, body_input, inputs):
    body: dict[str, Any] = {"model": "text-embedding-3-small", "input": body_input}
    if url == CHAT_URL:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}

    assert embedding_inputs({"custom_id": "r1", "method": "POST", "url": url, "body": body}) == inputs


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ({"temperature": "0.5"}, "'body.temperature' must be a number for /v1/chat/completions, got string '0.5'"),
        ({"top_p": True}, "'body.top_p' must be a number for /v1/chat/completions, got boolean True"),
        ({"max_tokens": 1.5}, "'body.max_tokens' must be an integer for /v1/chat/completions, got number 1.5"),
        ({"seed": [3]}, "'body.seed' must be an integer for /v1/chat/completions, got array [3]"),
    ],
)
def test_a_native_chat_number_of_another_json_type_is_refused(param, message):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **param}
    with pytest.raises(ValueError) as raised:
        check_native({**NATIVE, "body": body})
    assert str(raised.value) == message


def test_a_native_chat_number_set_to_null_or_written_as_a_whole_decimal_passes():
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": None, "n": 2.0}
    assert check_native({**NATIVE, "body": body}) == "/v1/chat/completions"
