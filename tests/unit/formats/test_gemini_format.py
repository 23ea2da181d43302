"""Gemini wire format: SDK-style requests to REST, and batch Operations to BatchJob.

The Operation samples are the real responses quoted in shared/reference/gemini.md §3.3; the SDK
conversion is checked against google-genai itself, by capturing the body its ``batches.create`` sends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.gemini import (
    BATCH_STATES,
    GeminiDialect,
    camel,
    canonical_line,
    embed_request_from_sdk,
    generate_request_from_sdk,
    inline_request,
    inline_responses,
    parse_file,
    parse_operation,
)
from airflow_provider_genai_batch.formats.gemini_line import check_line
from airflow_provider_genai_batch.models import JobState

USER_HI = [{"parts": [{"text": "hi"}], "role": "user"}]


def config(**fields: Any) -> dict[str, Any]:
    return generate_request_from_sdk({"contents": "hi", "config": fields})


# --- SDK -> REST: contents and hoisted fields --------------------------------------------------------


def test_contents_string_becomes_one_user_content():
    assert generate_request_from_sdk({"contents": "hello"}) == {
        "contents": [{"parts": [{"text": "hello"}], "role": "user"}]
    }


def test_contents_list_of_strings_becomes_one_user_content_with_a_part_each():
    assert generate_request_from_sdk({"contents": ["a", "b"]})["contents"] == [
        {"parts": [{"text": "a"}, {"text": "b"}], "role": "user"}
    ]


def test_contents_list_of_content_dicts_keeps_turns_and_roles():
    turns = [
        {"role": "user", "parts": [{"text": "q"}]},
        {"role": "model", "parts": [{"text": "a"}]},
        {"role": "user", "parts": [{"inline_data": {"mime_type": "image/png", "data": "iVBO"}}]},
    ]
    assert generate_request_from_sdk({"contents": turns})["contents"] == [
        {"role": "user", "parts": [{"text": "q"}]},
        {"role": "model", "parts": [{"text": "a"}]},
        {"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}]},
    ]


def test_contents_of_an_unreadable_type_raises():
    with pytest.raises(ValueError, match="int"):
        generate_request_from_sdk({"contents": 42})


def test_model_gets_the_models_prefix_unless_it_has_one():
    assert generate_request_from_sdk({"contents": "hi", "model": "gemini-2.5-pro"})["model"] == "models/gemini-2.5-pro"
    assert generate_request_from_sdk({"contents": "hi", "model": "tunedModels/t1"})["model"] == "tunedModels/t1"


def test_no_config_gives_no_generation_config():
    assert generate_request_from_sdk({"contents": "hi", "config": {}}) == {"contents": USER_HI}


def test_system_instruction_string_becomes_a_content():
    assert config(system_instruction="be terse")["systemInstruction"] == {
        "parts": [{"text": "be terse"}],
        "role": "user",
    }


def test_generation_parameters_go_under_generation_config_in_camel_case():
    request = config(temperature=0.2, top_p=0.9, max_output_tokens=100, response_mime_type="application/json")
    assert request == {
        "contents": USER_HI,
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "maxOutputTokens": 100,
            "responseMimeType": "application/json",
        },
    }


def test_camel_case_config_names_are_accepted_too():
    assert config(maxOutputTokens=5, systemInstruction="s") == {
        "contents": USER_HI,
        "systemInstruction": {"parts": [{"text": "s"}], "role": "user"},
        "generationConfig": {"maxOutputTokens": 5},
    }


def test_response_schema_keeps_property_names_and_camelizes_schema_keywords():
    schema = {
        "type": "OBJECT",
        "properties": {
            "first_name": {"type": "STRING"},
            "home_address": {"type": "OBJECT", "properties": {"street_name": {"type": "STRING"}}},
            "age_or_label": {"any_of": [{"type": "INTEGER"}, {"type": "STRING"}]},
        },
        "required": ["first_name"],
        "property_ordering": ["first_name", "home_address"],
    }
    assert config(response_schema=schema)["generationConfig"]["responseSchema"] == {
        "type": "OBJECT",
        "properties": {
            "first_name": {"type": "STRING"},
            "home_address": {"type": "OBJECT", "properties": {"street_name": {"type": "STRING"}}},
            "age_or_label": {"anyOf": [{"type": "INTEGER"}, {"type": "STRING"}]},
        },
        "required": ["first_name"],
        "propertyOrdering": ["first_name", "home_address"],
    }


def test_a_property_named_properties_is_kept():
    schema = {"type": "OBJECT", "properties": {"properties": {"type": "OBJECT", "properties": {"max_items": {}}}}}
    assert config(response_schema=schema)["generationConfig"]["responseSchema"] == schema


def test_thinking_config_is_written_with_rest_names():
    request = config(thinking_config={"thinking_budget": 0, "include_thoughts": True, "thinking_level": "low"})
    assert request["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 0, "includeThoughts": True, "thinkingLevel": "LOW"}
    }


def test_response_json_schema_is_passed_verbatim():
    schema = {"type": "object", "properties": {"first_name": {"type": "string"}}, "additional_note": 1}
    assert config(response_json_schema=schema)["generationConfig"] == {"responseJsonSchema": schema}


def test_google_search_tool_is_camelized():
    assert config(tools=[{"google_search": {}}])["tools"] == [{"googleSearch": {}}]


def test_safety_settings_are_hoisted_to_the_request():
    settings = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    request = config(safety_settings=settings, temperature=0)
    assert request["safetySettings"] == settings
    assert request["generationConfig"] == {"temperature": 0}


def test_tool_config_cached_content_and_labels_are_hoisted():
    request = config(
        tool_config={"function_calling_config": {"mode": "ANY"}},
        cached_content="cachedContents/abc",
        labels={"team_name": "ml"},
    )
    assert request == {
        "contents": USER_HI,
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "cachedContent": "cachedContents/abc",
        "labels": {"team_name": "ml"},
    }


@pytest.mark.parametrize(
    "field",
    ["routing_config", "model_selection_config", "audio_timestamp", "model_armor_config", "generation_output_config"],
)
def test_vertex_only_config_field_raises(field):
    with pytest.raises(ValueError, match=f"{field}.*only supported on Vertex AI"):
        config(**{field: {}})


@pytest.mark.parametrize("field", ["temprature", "http_options", "automatic_function_calling"])
def test_unknown_config_field_raises(field):
    with pytest.raises(ValueError, match=f"unknown config field '{field}'"):
        config(**{field: 1})


def test_function_call_args_and_function_response_payloads_are_kept_as_written():
    turns = [
        {"role": "model", "parts": [{"function_call": {"name": "get_weather", "args": {"city_name": "Paris"}}}]},
        {"role": "user", "parts": [{"function_response": {"name": "get_weather", "response": {"temp_c": 20}}}]},
    ]
    contents = generate_request_from_sdk({"contents": turns})["contents"]
    assert contents[0]["parts"][0] == {"functionCall": {"name": "get_weather", "args": {"city_name": "Paris"}}}
    assert contents[1]["parts"][0] == {"functionResponse": {"name": "get_weather", "response": {"temp_c": 20}}}


def test_schema_definition_names_and_default_values_are_kept_as_written():
    parameters = {
        "type": "object",
        "properties": {"home": {"$ref": "#/$defs/postal_address"}},
        "$defs": {"postal_address": {"type": "object", "properties": {"street_name": {"type": "string"}}}},
    }
    request = config(
        tools=[{"function_declarations": [{"name": "f", "parameters_json_schema": parameters}]}],
        response_schema={"type": "OBJECT", "properties": {"who": {"type": "OBJECT", "default": {"first_name": "x"}}}},
    )
    declaration = request["tools"][0]["functionDeclarations"][0]
    assert declaration["parametersJsonSchema"] == parameters
    assert request["generationConfig"]["responseSchema"]["properties"]["who"]["default"] == {"first_name": "x"}


# --- SDK -> REST: embeddings -------------------------------------------------------------------------


def test_embed_request_maps_task_type_title_and_output_dimensionality():
    item = {"content": "a", "config": {"task_type": "RETRIEVAL_DOCUMENT", "title": "t", "output_dimensionality": 768}}
    assert embed_request_from_sdk(item) == {
        "content": {"parts": [{"text": "a"}], "role": "user"},
        "taskType": "RETRIEVAL_DOCUMENT",
        "title": "t",
        "outputDimensionality": 768,
    }


@pytest.mark.parametrize("field", ["mime_type", "auto_truncate", "temperature"])
def test_embed_config_fields_outside_the_gemini_api_raise(field):
    with pytest.raises(ValueError, match=f"'{field}' is not supported for Gemini API embeddings"):
        embed_request_from_sdk({"content": "a", "config": {field: True}})


# --- canonical lines ---------------------------------------------------------------------------------


def test_canonical_line_takes_the_key_field_first():
    line = canonical_line({"key": "k", "metadata": {"source": "m"}, "contents": "hi"}, 4, embeddings=False)
    assert line == {"key": "k", "request": {"contents": USER_HI}, "metadata": {"source": "m"}}


def test_canonical_line_falls_back_to_metadata_key():
    assert canonical_line({"metadata": {"key": "m"}, "contents": "hi"}, 4, embeddings=False)["key"] == "m"


def test_canonical_line_falls_back_to_the_position():
    assert canonical_line({"contents": "hi"}, 4, embeddings=False)["key"] == "4"


def test_canonical_line_passes_a_canonical_request_through_untouched():
    request = {"contents": [{"parts": [{"text": "x"}]}], "generation_config": {"top_k": 2}}
    assert canonical_line({"key": "a", "request": request}, 0, embeddings=False) == {"key": "a", "request": request}


def test_canonical_line_converts_embedding_items():
    line = canonical_line({"content": "doc", "config": {"task_type": "CLUSTERING"}}, 0, embeddings=True)
    assert line == {
        "key": "0",
        "request": {"content": {"parts": [{"text": "doc"}], "role": "user"}, "taskType": "CLUSTERING"},
    }


def test_canonical_line_reports_a_missing_field_as_input_error_with_a_one_based_line():
    with pytest.raises(InputValidationError) as info:
        canonical_line({"key": "a", "config": {}}, 2, embeddings=False)
    assert (info.value.source, info.value.line) == ("inline requests", 3)
    assert info.value.reason == "missing 'contents'"


def test_canonical_line_reports_a_bad_config_as_input_error():
    with pytest.raises(InputValidationError) as info:
        canonical_line({"contents": "hi", "config": {"routing_config": {}}}, 0, embeddings=False)
    assert info.value.line == 1
    assert "Vertex AI" in info.value.reason


def test_canonical_line_keeps_the_item_metadata():
    line = canonical_line({"contents": "hi", "metadata": {"key": "k", "source": "crm"}}, 0, embeddings=False)
    assert inline_request(line)["metadata"] == {"key": "k", "source": "crm"}


def test_inline_request_carries_the_key_in_metadata():
    line = {"key": "k1", "request": {"contents": USER_HI}, "metadata": {"source": "crm"}}
    assert inline_request(line) == {"request": {"contents": USER_HI}, "metadata": {"source": "crm", "key": "k1"}}


# --- function calling turns, as the API takes them -------------------------------------------------------

CALL = {"functionCall": {"name": "lookup", "args": {"q": "a"}}}
ANSWER = {"functionResponse": {"name": "lookup", "response": {"r": 1}}}


def turns(*roles_and_parts: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """A canonical line whose contents are the given turns."""
    contents = [{"role": role, "parts": parts} for role, parts in roles_and_parts]
    return {"key": "k", "request": {"contents": contents}}


def function_turns_refusal(line: dict[str, Any]) -> str:
    with pytest.raises(ValueError) as raised:
        GeminiDialect().check_native(line, model="gemini-2.5-flash")
    return str(raised.value)


def test_calls_answered_one_for_one_in_the_next_turn_pass():
    line = turns(
        ("user", [{"text": "Look a and b up."}]),
        ("model", [{"text": "Looking."}, CALL, CALL]),
        ("user", [ANSWER, ANSWER]),
        ("model", [CALL]),
        ("user", [{"function_response": ANSWER["functionResponse"]}]),
        ("model", [{"text": "Done."}]),
    )
    assert GeminiDialect().check_native(line, model="gemini-2.5-flash") is None


def test_a_turn_answering_fewer_calls_than_the_turn_before_made_is_refused():
    line = turns(("user", [{"text": "Look a and b up."}]), ("model", [CALL, CALL]), ("user", [ANSWER]))
    assert function_turns_refusal(line) == (
        "request.contents[2] has 1 functionResponse parts for the 2 functionCall parts of request.contents[1]: Gemini "
        "needs the turn after function calls to answer each with one functionResponse part"
    )


def test_function_responses_after_a_turn_without_calls_are_refused():
    line = turns(("user", [{"text": "Look a up."}]), ("user", [ANSWER]))
    assert function_turns_refusal(line) == (
        "request.contents[1] has functionResponse parts but follows request.contents[0], which has no functionCall: "
        "Gemini takes function responses only in the turn right after the function calls"
    )


def test_a_conversation_starting_with_function_calls_is_refused():
    line = turns(("model", [CALL]), ("user", [ANSWER]))
    assert function_turns_refusal(line) == (
        "request.contents[0] has functionCall parts but is the first turn: Gemini takes a function call turn only "
        "right after a user turn or a function response turn"
    )


def test_function_calls_right_after_a_model_turn_are_refused():
    line = turns(
        ("user", [{"text": "Look a up."}]), ("model", [{"text": "Sure."}]), ("model", [CALL]), ("user", [ANSWER])
    )
    assert function_turns_refusal(line) == (
        "request.contents[2] has functionCall parts but follows a model turn (request.contents[1]): Gemini takes a "
        "function call turn only right after a user turn or a function response turn"
    )


def test_a_conversation_without_function_calls_passes_whatever_its_roles():
    line = turns(("model", [{"text": "Hello."}]), ("model", [{"text": "Hi?"}]), ("user", [{"text": "hi"}]))
    assert GeminiDialect().check_native(line, model="gemini-2.5-flash") is None


def thinking(**config: Any) -> dict[str, Any]:
    """A canonical line whose generationConfig has the given thinkingConfig."""
    return {"key": "k", "request": {"contents": USER_HI, "generationConfig": {"thinkingConfig": config}}}


def test_a_thinking_budget_and_a_thinking_level_together_are_refused_as_the_api_refuses_them():
    with pytest.raises(ValueError) as raised:
        GeminiDialect().check_native(thinking(thinkingBudget=0, thinkingLevel="LOW"), model="gemini-3-flash")
    assert str(raised.value) == (
        "request.generationConfig.thinkingConfig sets both thinkingBudget and thinkingLevel: the Gemini API takes "
        "only one of them"
    )


@pytest.mark.parametrize(
    "config",
    [{"thinkingBudget": 1024}, {"thinkingLevel": "HIGH"}, {"thinking_budget": 0, "thinking_level": None}],
)
def test_a_thinking_budget_or_a_thinking_level_alone_passes(config):
    assert GeminiDialect().check_native(thinking(**config), model="gemini-3-flash") is None


# --- inline items: every field carried, or refused naming it ------------------------------------------


def inline_error(item: dict[str, Any], *, embeddings: bool = False) -> InputValidationError:
    with pytest.raises(InputValidationError) as raised:
        canonical_line(item, 6, embeddings=embeddings)
    assert (raised.value.source, raised.value.line) == ("inline requests", 7)
    return raised.value


@pytest.mark.parametrize(
    ("key", "shown"), [("", "''"), (0, "0"), (None, "None"), (7.5, "7.5"), (["a"], "['a']"), ({"id": 1}, "{'id': 1}")]
)
def test_a_key_that_is_not_a_non_empty_string_is_refused_naming_it(key, shown):
    error = inline_error({"key": key, "contents": "hi"})
    assert error.reason == f"'key' must be a non-empty string, got {shown}"


def test_a_canonical_item_key_is_checked_the_same_way():
    assert (
        inline_error({"key": 0, "request": {"contents": USER_HI}}).reason == "'key' must be a non-empty string, got 0"
    )


@pytest.mark.parametrize("key", ["", 0, None])
def test_a_metadata_key_that_is_not_a_non_empty_string_is_refused(key):
    error = inline_error({"metadata": {"key": key}, "contents": "hi"})
    assert error.reason == f"'metadata.key' must be a non-empty string, got {key!r}"


def test_a_key_and_a_different_metadata_key_are_refused_rather_than_one_winning():
    error = inline_error({"key": "k", "metadata": {"key": "m"}, "contents": "hi"})
    assert error.reason == "metadata.key 'm' differs from the line's key 'k': the result is joined on one key"


def test_a_key_and_the_same_metadata_key_agree():
    line = canonical_line({"key": "k", "metadata": {"key": "k"}, "contents": "hi"}, 0, embeddings=False)
    assert (line["key"], line["metadata"]) == ("k", {"key": "k"})


@pytest.mark.parametrize("metadata", ["crm", ["k"], 3])
def test_metadata_that_is_not_an_object_is_refused(metadata):
    assert inline_error({"contents": "hi", "metadata": metadata}).reason.startswith("'metadata' must be a JSON object")


@pytest.mark.parametrize("extra", ["config", "contents", "generationConfig", "priority"])
def test_a_field_next_to_a_canonical_request_is_refused_naming_it(extra):
    error = inline_error({"key": "a", "request": {"contents": USER_HI}, extra: {"temperature": 0.1}})
    assert error.reason.startswith(f"unknown field(s) '{extra}': an item with 'request' holds key, metadata, request;")


@pytest.mark.parametrize(
    "field",
    [
        "system_instruction",
        "systemInstruction",
        "generationConfig",
        "generation_config",
        "safetySettings",
        "tools",
        "temperature",
        "request_id",
    ],
)
def test_a_rest_or_config_field_next_to_sdk_contents_is_refused_naming_it(field):
    error = inline_error({"contents": "hi", field: {"temperature": 0.2}})
    assert error.reason.startswith(f"unknown field(s) '{field}': an SDK-style item holds config, contents, key")
    assert "settings go in 'config'" in error.reason


def test_an_embedding_item_refuses_a_generation_field():
    error = inline_error({"content": "doc", "contents": "hi"}, embeddings=True)
    assert error.reason.startswith("unknown field(s) 'contents': an SDK-style embedding item holds config, content")


@pytest.mark.parametrize(
    ("config", "first", "second"),
    [
        ({"max_output_tokens": 5, "maxOutputTokens": 6}, "max_output_tokens", "maxOutputTokens"),
        ({"systemInstruction": "a", "system_instruction": "b"}, "systemInstruction", "system_instruction"),
    ],
)
def test_one_config_field_given_in_both_spellings_is_refused_rather_than_one_winning(config, first, second):
    assert inline_error({"contents": "hi", "config": config}).reason == (
        f"config sets {first!r} and {second!r}, one field twice"
    )


def test_one_field_in_both_spellings_inside_a_config_value_is_refused():
    config = {"thinking_config": {"thinking_budget": 1, "thinkingBudget": 2}}
    assert inline_error({"contents": "hi", "config": config}).reason == (
        "ThinkingConfig sets 'thinking_budget' and 'thinkingBudget', one field twice"
    )


@pytest.mark.parametrize("config", [["temperature", 1], "temperature=1", 3])
def test_a_config_that_is_not_an_object_is_refused(config):
    assert inline_error({"contents": "hi", "config": config}).reason.startswith("'config' must be an object")


@pytest.mark.parametrize("model", [3, "", None])
def test_a_model_that_is_not_a_name_is_refused(model):
    assert (
        inline_error({"contents": "hi", "model": model}).reason == f"'model' must be a non-empty string, got {model!r}"
    )


def test_an_embedding_item_carries_its_model():
    line = canonical_line({"content": "doc", "model": "gemini-embedding-001"}, 0, embeddings=True)
    assert line["request"]["model"] == "models/gemini-embedding-001"


def test_a_config_field_set_to_none_is_unset_as_google_genai_reads_it():
    assert config(temperature=None, top_p=0.5) == {"contents": USER_HI, "generationConfig": {"topP": 0.5}}


def test_part_metadata_keys_are_the_users_and_are_not_renamed():
    contents = [{"role": "user", "parts": [{"text": "x", "part_metadata": {"source_doc": "a", "page_no": 3}}]}]
    part = generate_request_from_sdk({"contents": contents})["contents"][0]["parts"][0]
    assert part == {"text": "x", "partMetadata": {"source_doc": "a", "page_no": 3}}


def test_labels_keys_are_the_users_and_are_not_renamed():
    assert config(labels={"cost_center": "ml_ops"})["labels"] == {"cost_center": "ml_ops"}


def test_a_bare_cache_id_gets_its_collection_as_google_genai_completes_it():
    assert config(cached_content="abc")["cachedContent"] == "cachedContents/abc"
    assert config(cached_content="cachedContents/abc")["cachedContent"] == "cachedContents/abc"


def test_a_voice_name_as_speech_config_becomes_the_prebuilt_voice():
    assert config(speech_config="Kore")["generationConfig"] == {
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}}
    }


def test_enum_values_are_matched_case_insensitively_as_google_genai_matches_them():
    request = config(
        response_mime_type="application/json",
        response_schema={"type": "object", "properties": {"n": {"type": "integer"}}},
        safety_settings=[{"category": "harm_category_harassment", "threshold": "block_none"}],
    )
    assert request["generationConfig"]["responseSchema"] == {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}}
    assert request["safetySettings"] == [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]


def test_an_unknown_field_inside_a_config_value_is_kept_for_the_request_check_to_name():
    assert config(thinking_config={"thinking_budgett": 1})["generationConfig"] == {
        "thinkingConfig": {"thinking_budgett": 1}
    }


def test_a_converted_sdk_item_is_checked_like_any_request(tmp_path):
    from airflow_provider_genai_batch.inputs import prepare_input

    items = [{"contents": "hi"}, {"contents": "hi", "config": {"temperature": 3.5}}]
    with pytest.raises(InputValidationError) as raised:
        prepare_input(items, GeminiDialect(), model="gemini-2.5-flash", embeddings=False)
    assert str(raised.value) == (
        "inline requests, line 2: request.generationConfig.temperature: 3.5 is out of range: must be between 0 and 2"
    )


# --- agreement with google-genai ---------------------------------------------------------------------


@pytest.fixture
def sdk_wire() -> Callable[..., dict[str, Any]]:
    """Sends one item through google-genai's ``batches.create`` and returns the request body it put on the wire."""
    from google import genai
    from google.genai import types

    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"name": "batches/x", "metadata": {"state": "BATCH_STATE_PENDING"}})

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        client = genai.Client(
            api_key="test-key",
            http_options=types.HttpOptions(api_version="v1beta", base_url="http://sdk.test/", httpx_client=http),
        )

        def send(item: dict[str, Any], *, embeddings: bool = False) -> dict[str, Any]:
            if embeddings:
                content, cfg = item["content"], item.get("config")
                src = {"inlined_requests": {"contents": [content], **({"config": cfg} if cfg else {})}}
                client.batches.create_embeddings(model="gemini-embedding-001", src=src)
            else:
                client.batches.create(model="gemini-2.5-flash", src=[item])
            return bodies[-1]["batch"]["inputConfig"]["requests"]["requests"][0]["request"]

        yield send


def same_modulo_spelling(value: Any, *, in_properties: bool = False) -> Any:
    """Proto-JSON accepts snake_case and camelCase field names: compare in one spelling.

    google-genai sends an empty ``generationConfig`` when a config has none; that is the same request.
    """
    if isinstance(value, list):
        return [same_modulo_spelling(v) for v in value]
    if not isinstance(value, dict):
        return value
    return {
        (k if in_properties else camel(k)): same_modulo_spelling(
            v, in_properties=(k == "properties" and not in_properties)
        )
        for k, v in value.items()
        if not (k == "generationConfig" and v == {})
    }


SDK_ITEMS = {
    "all_sampling": {
        "contents": "hi",
        "config": {
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 3,
            "candidate_count": 1,
            "max_output_tokens": 50,
            "stop_sequences": ["x"],
            "seed": 7,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.2,
            "response_logprobs": True,
            "logprobs": 2,
        },
    },
    "strings": {"contents": ["a", "b"]},
    "turns": {"contents": [{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": [{"text": "a"}]}]},
    "system_str": {"contents": "hi", "config": {"system_instruction": "be terse"}},
    "system_content": {"contents": "hi", "config": {"system_instruction": {"parts": [{"text": "sys"}]}}},
    "structured": {
        "contents": "hi",
        "config": {
            "response_mime_type": "application/json",
            "response_schema": {
                "type": "OBJECT",
                "properties": {
                    "first_name": {"type": "STRING"},
                    "either": {"any_of": [{"type": "STRING"}, {"type": "INTEGER"}]},
                },
                "required": ["first_name"],
                "property_ordering": ["first_name"],
            },
        },
    },
    "json_schema": {
        "contents": "hi",
        "config": {"response_json_schema": {"type": "object", "properties": {"first_name": {"type": "string"}}}},
    },
    "thinking": {"contents": "hi", "config": {"thinking_config": {"thinking_budget": 0, "include_thoughts": True}}},
    "search_and_safety": {
        "contents": "hi",
        "config": {
            "tools": [{"google_search": {}}],
            "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        },
    },
    "functions": {
        "contents": "hi",
        "config": {
            "tools": [
                {
                    "function_declarations": [
                        {
                            "name": "get_w",
                            "description": "d",
                            "parameters": {"type": "OBJECT", "properties": {"city_name": {"type": "STRING"}}},
                        }
                    ]
                }
            ],
            "tool_config": {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["get_w"]}},
        },
    },
    "hoisted": {"contents": "hi", "config": {"labels": {"team_name": "x"}, "cached_content": "cachedContents/a"}},
    "modalities": {
        "contents": "hi",
        "config": {
            "response_modalities": ["TEXT"],
            "media_resolution": "MEDIA_RESOLUTION_LOW",
            "image_config": {"aspect_ratio": "16:9"},
        },
    },
    "speech": {
        "contents": "hi",
        "config": {"speech_config": {"voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}}}},
    },
    "model": {"contents": "hi", "model": "gemini-2.5-pro"},
    "strings_then_a_turn": {"contents": ["a", "b", {"role": "model", "parts": [{"text": "c"}]}, "d"]},
    "part_dicts": {"contents": [{"text": "a"}, {"text": "b", "thought": False}]},
    "function_call_parts": {
        "contents": [
            "weather?",
            {"function_call": {"name": "f", "args": {"city_name": "Oslo"}}},
            {"function_response": {"name": "f", "response": {"temp_c": 2}}},
        ]
    },
    "one_part_dict": {"contents": {"text": "a"}},
    "bare_cache_id": {"contents": "hi", "config": {"cached_content": "abc"}},
    "voice_name": {"contents": "hi", "config": {"speech_config": "Kore"}},
    "lowercase_enums": {
        "contents": "hi",
        "config": {
            "response_mime_type": "application/json",
            "response_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
            "safety_settings": [{"category": "harm_category_harassment", "threshold": "block_none"}],
        },
    },
    "store_and_tier": {"contents": "hi", "config": {"store": True, "service_tier": "flex", "labels": {"a_b": "c"}}},
    "continuation": {"contents": "hi", "config": {"continuation_token": "Y29udA==", "store": False}},
}


@pytest.mark.parametrize("name", list(SDK_ITEMS))
def test_generate_request_matches_what_google_genai_sends(sdk_wire, name):
    item = SDK_ITEMS[name]
    assert same_modulo_spelling(generate_request_from_sdk(item)) == same_modulo_spelling(sdk_wire(item))


@pytest.mark.filterwarnings("ignore:batches.create_embeddings.. is experimental")
def test_embed_request_matches_what_google_genai_sends(sdk_wire):
    item = {"content": "doc", "config": {"task_type": "RETRIEVAL_DOCUMENT", "title": "t", "output_dimensionality": 768}}
    assert embed_request_from_sdk(item) == sdk_wire(item, embeddings=True)


# --- Operations (real samples, reference §3.3) -------------------------------------------------------

SUCCEEDED_OP = {
    "name": "batches/3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge",
    "metadata": {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "model": "models/gemini-2.5-flash",
        "displayName": "lupa-batch",
        "name": "batches/3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge",
        "inputConfig": {"fileName": "files/voe5u4gdj968"},
        "output": {"responsesFile": "files/batch-3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge"},
        "createTime": "2026-08-20T20:08:31.015405218Z",
        "endTime": "2026-08-20T20:13:02.981231Z",
        "updateTime": "2026-08-20T20:13:02.981231Z",
        "batchStats": {"requestCount": "9", "successfulRequestCount": "9"},
        "state": "BATCH_STATE_SUCCEEDED",
    },
    "done": True,
    "response": {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput",
        "responsesFile": "files/batch-3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge",
    },
}

PENDING_OP = {
    "name": "batches/pending1",
    "metadata": {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "model": "models/gemini-2.5-flash",
        "displayName": "nightly",
        "inputConfig": {"fileName": "files/in1"},
        "createTime": "2026-08-20T20:08:31Z",
        "batchStats": {"requestCount": "5", "pendingRequestCount": "5"},
        "state": "BATCH_STATE_PENDING",
    },
}

INLINE_EMBED_OP = {
    "name": "batches/emb1",
    "metadata": {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.EmbedContentBatch",
        "state": "BATCH_STATE_SUCCEEDED",
        "batchStats": {"requestCount": "2", "successfulRequestCount": "2"},
        "output": {
            "inlinedResponses": {
                "inlinedResponses": [
                    {
                        "response": {
                            "embedding": {"values": [0.1, -0.2, 0.3]},
                            "usageMetadata": {"promptTokenCount": 81},
                        },
                        "metadata": {"key": "doc-1"},
                    },
                    {
                        "response": {
                            "embedding": {"values": [0.4, 0.5, -0.6]},
                            "usageMetadata": {"promptTokenCount": 12},
                        },
                        "metadata": {"key": "doc-2"},
                    },
                ]
            }
        },
    },
    "done": True,
}


def test_succeeded_operation_maps_state_names_files_and_times():
    job = parse_operation(SUCCEEDED_OP)
    assert job.name == "batches/3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge"
    assert job.provider == "gemini"
    assert job.display_name == "lupa-batch"
    assert job.model == "models/gemini-2.5-flash"
    assert (job.state, job.provider_state) == (JobState.SUCCEEDED, "BATCH_STATE_SUCCEEDED")
    assert job.input_file == "files/voe5u4gdj968"
    assert job.output_file == "files/batch-3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge"
    assert job.has_inline_output is False
    assert job.error_message is None
    assert job.end_time == datetime(2026, 8, 20, 20, 13, 2, 981231, tzinfo=timezone.utc)
    assert job.raw == SUCCEEDED_OP


def test_succeeded_operation_stats_are_int64_strings_with_omitted_zeros():
    stats = parse_operation(SUCCEEDED_OP).stats
    assert (stats.total, stats.succeeded, stats.failed, stats.pending) == (9, 9, 0, 0)


def test_nanosecond_timestamps_are_cut_to_microseconds_in_utc():
    assert parse_operation(SUCCEEDED_OP).create_time == datetime(2026, 8, 20, 20, 8, 31, 15405, tzinfo=timezone.utc)


def test_pending_operation_with_only_request_and_pending_counts():
    job = parse_operation(PENDING_OP)
    assert job.state is JobState.PENDING
    assert not job.state.is_terminal
    assert (job.stats.total, job.stats.pending, job.stats.succeeded, job.stats.failed) == (5, 5, 0, 0)
    assert job.output_file is None
    assert job.has_inline_output is False


def test_failed_operation_carries_the_top_level_error_message():
    op = {
        "name": "batches/f1",
        "metadata": {"state": "BATCH_STATE_FAILED", "batchStats": {"requestCount": "3", "failedRequestCount": "3"}},
        "done": True,
        "error": {"code": 13, "message": "Internal error encountered.", "details": []},
    }
    job = parse_operation(op)
    assert job.state is JobState.FAILED
    assert job.error_message == "Internal error encountered."
    assert (job.stats.total, job.stats.failed, job.stats.succeeded) == (3, 3, 0)


def test_cancelled_operation_maps_to_cancelled():
    op = {
        "name": "batches/c1",
        "metadata": {"state": "BATCH_STATE_CANCELLED"},
        "done": True,
        "error": {"code": 1, "message": "CANCELLED"},
    }
    job = parse_operation(op)
    assert (job.state, job.error_message) == (JobState.CANCELLED, "CANCELLED")


def test_inline_output_is_detected_through_the_double_nesting():
    job = parse_operation(INLINE_EMBED_OP)
    assert job.has_inline_output is True
    assert job.output_file is None
    assert [item["metadata"]["key"] for item in inline_responses(INLINE_EMBED_OP)] == ["doc-1", "doc-2"]


def test_output_is_read_from_the_operation_response_when_metadata_omits_it():
    op = {
        "name": "batches/b",
        "metadata": {"state": "BATCH_STATE_SUCCEEDED"},
        "done": True,
        "response": {"responsesFile": "files/batch-b"},
    }
    assert parse_operation(op).output_file == "files/batch-b"


def test_unknown_batch_state_maps_to_unspecified_and_keeps_the_provider_value():
    job = parse_operation({"name": "batches/u", "metadata": {"state": "BATCH_STATE_PAUSED_FOR_MAINTENANCE"}})
    assert job.state is JobState.UNSPECIFIED
    assert job.provider_state == "BATCH_STATE_PAUSED_FOR_MAINTENANCE"
    assert not job.state.is_terminal


@pytest.mark.parametrize(
    ("wire", "state"),
    [
        ("BATCH_STATE_PENDING", JobState.PENDING),
        ("BATCH_STATE_RUNNING", JobState.RUNNING),
        ("BATCH_STATE_SUCCEEDED", JobState.SUCCEEDED),
        ("BATCH_STATE_FAILED", JobState.FAILED),
        ("BATCH_STATE_CANCELLED", JobState.CANCELLED),
        ("BATCH_STATE_EXPIRED", JobState.EXPIRED),
        ("BATCH_STATE_UNSPECIFIED", JobState.UNSPECIFIED),
    ],
)
def test_every_batch_state_maps_to_the_job_state_of_the_same_name(wire, state):
    assert BATCH_STATES[wire] is state
    assert parse_operation({"name": "batches/x", "metadata": {"state": wire}}).state is state


@pytest.mark.parametrize("state", list(JobState), ids=[state.value for state in JobState])
def test_a_state_given_under_its_job_state_name_is_read_as_that_state(state):
    """The batch guide's REST sample compares the state with ``JOB_STATE_SUCCEEDED``, google-genai's name for it."""
    job = parse_operation({"name": "batches/x", "metadata": {"state": state.value}})
    assert (job.state, job.provider_state) == (state, state.value)


@pytest.mark.parametrize("wire", ["BATCH_STATE_PARTIALLY_DONE", "BATCH_STATE_UNSPECIFIED", None])
def test_an_operation_done_in_an_unknown_state_has_failed_naming_the_state(wire):
    metadata = {"state": wire} if wire else {}
    job = parse_operation({"name": "batches/u", "metadata": metadata, "done": True})
    shown = wire or "BATCH_STATE_UNSPECIFIED"
    assert (job.state, job.provider_state) == (JobState.FAILED, shown)
    assert job.error_message == f"the batch is done in state {shown!r}, which is not a known state"


def test_an_operation_done_in_an_unknown_state_keeps_the_operations_own_error():
    op = {
        "name": "batches/u",
        "metadata": {"state": "BATCH_STATE_NEW"},
        "done": True,
        "error": {"code": 13, "message": "internal"},
    }
    assert (parse_operation(op).state, parse_operation(op).error_message) == (JobState.FAILED, "internal")


def test_batch_name_falls_back_to_the_metadata_name():
    assert parse_operation({"metadata": {"name": "batches/m", "state": "BATCH_STATE_RUNNING"}}).name == "batches/m"


# --- File resource -----------------------------------------------------------------------------------


def test_file_resource_size_string_and_times_are_parsed():
    data = {
        "name": "files/abc-123",
        "displayName": "in.jsonl",
        "mimeType": "application/jsonl",
        "sizeBytes": "20000000",
        "createTime": "2026-08-20T20:08:31.123456Z",
        "expirationTime": "2026-08-22T20:08:31.123456Z",
        "state": "ACTIVE",
        "uri": "https://generativelanguage.googleapis.com/v1beta/files/abc-123",
    }
    info = parse_file(data)
    assert (info.name, info.display_name, info.mime_type, info.state) == (
        "files/abc-123",
        "in.jsonl",
        "application/jsonl",
        "ACTIVE",
    )
    assert info.size_bytes == 20_000_000
    assert info.expiration_time - info.create_time == (
        datetime(2026, 8, 22, tzinfo=timezone.utc) - datetime(2026, 8, 20, tzinfo=timezone.utc)
    )
    assert info.raw == data


def test_file_resource_without_optional_fields():
    info = parse_file({"name": "files/x"})
    assert (info.size_bytes, info.create_time, info.display_name) == (None, None, None)


@pytest.mark.parametrize(("name", "size"), [("outputDimensionality", 3073), ("output_dimensionality", "256256256")])
def test_an_embedding_size_over_the_largest_a_gemini_model_returns_is_refused(name, size):
    line = {"key": "a", "request": {"content": {"parts": [{"text": "hi"}]}, name: size}}
    with pytest.raises(ValueError) as raised:
        check_line(line, embeddings=True)
    assert str(raised.value) == f"request.{name}: {size!r} is over 3072, the largest embedding a Gemini model returns"


def test_the_largest_embedding_size_a_gemini_model_returns_passes():
    check_line(
        {"key": "a", "request": {"content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 3072}}, embeddings=True
    )
