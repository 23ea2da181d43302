"""The Gemini request schema check: real request shapes pass, and each refused request names its JSON path.

The corpus (``gemini_requests.py``) holds the shapes the API takes and over a hundred it refuses; the tests
below pin the proto-JSON reading rules one by one (spellings, nulls, numbers as text, enums as numbers, bytes).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from airflow_provider_genai_batch.formats.gemini_schema import (
    EMBED_REQUEST,
    GENERATE_REQUEST,
    RequestShapeError,
    check_base64,
    check_request,
    enum_name,
    message_fields,
    proto_number,
)

from .gemini_requests import HI, INVALID, PNG, VALID_EMBED, VALID_GENERATE, Bad, config, gen

SCHEMA = json.loads(
    resources.files("airflow_provider_genai_batch.formats").joinpath("gemini_schema.json").read_text("utf-8")
)


def rejection(request: Any, message: str = GENERATE_REQUEST) -> RequestShapeError:
    with pytest.raises(RequestShapeError) as raised:
        check_request(request, message)
    return raised.value


# --- the corpus ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(VALID_GENERATE))
def test_a_real_generate_request_shape_passes(name):
    check_request(VALID_GENERATE[name], GENERATE_REQUEST)


@pytest.mark.parametrize("name", list(VALID_EMBED))
def test_a_real_embed_request_shape_passes(name):
    check_request(VALID_EMBED[name], EMBED_REQUEST)


@pytest.mark.parametrize("bad", INVALID, ids=[bad.name for bad in INVALID])
def test_a_refused_request_names_its_path_and_reason(bad: Bad):
    error = rejection(bad.request, EMBED_REQUEST if bad.embed else GENERATE_REQUEST)
    assert error.path == bad.path
    assert bad.reason in error.reason


def test_the_corpus_has_at_least_sixty_distinct_refused_requests():
    assert len({bad.name for bad in INVALID}) == len(INVALID) >= 60


# --- how an error reads --------------------------------------------------------------------------------


def test_the_error_text_is_the_path_then_the_reason():
    error = rejection(config(temperature=3.5))
    assert str(error) == "request.generationConfig.temperature: 3.5 is out of range: must be between 0 and 2"


def test_the_root_of_the_path_is_the_callers():
    with pytest.raises(RequestShapeError) as raised:
        check_request({"contents": []}, GENERATE_REQUEST, path="requests[3].request")
    assert raised.value.path == "requests[3].request.contents"


def test_a_vertex_only_field_is_called_vertex_only_not_unknown():
    error = rejection(gen(safetySettings=[{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF", "method": "X"}]))
    assert error.reason.startswith("Vertex-only: the Gemini Developer API has no SafetySetting.method")


def test_a_lowercase_enum_value_gets_the_right_spelling_as_a_hint():
    error = rejection(config(responseModalities=["text"]))
    assert error.reason.endswith("(enum values are case-sensitive: TEXT)")


# --- proto-JSON reading rules --------------------------------------------------------------------------


def test_a_null_field_is_unset_but_a_null_list_item_is_refused():
    check_request(gen(generationConfig=None, tools=None))
    assert rejection({"contents": [None]}).reason == "null is not allowed as an array item"


def test_a_null_map_value_is_refused():
    assert rejection(gen(labels={"team": None})).path == "request.labels.team"


def test_a_required_field_given_as_null_is_missing():
    assert rejection({"contents": None}).reason == "contents is required"


@pytest.mark.parametrize("value", [256, "256", 256.0, "-0", 2**31 - 1])
def test_an_int32_is_a_json_number_or_its_decimal_text(value):
    check_request(config(seed=value))


@pytest.mark.parametrize("value", ["2.5e1", "1e400", 1.5, "0x10", " 5", "", True])
def test_anything_else_is_not_an_int32(value):
    assert rejection(config(seed=value)).path == "request.generationConfig.seed"


@pytest.mark.parametrize("value", [0.5, 1, "0.5", "1e-1", ".5"])
def test_a_float_is_a_json_number_or_its_decimal_text(value):
    check_request(config(temperature=value))


@pytest.mark.parametrize("value", ["NaN", "Infinity"])
def test_a_special_float_is_read_and_then_out_of_range(value):
    assert "out of range" in rejection(config(temperature=value)).reason


def test_an_int64_schema_bound_may_be_a_string():
    check_request(config(responseMimeType="application/json", responseSchema={"type": "ARRAY", "maxItems": "3"}))


def test_an_enum_may_be_its_number():
    check_request(gen(toolConfig={"functionCallingConfig": {"mode": 2}}))


def test_an_unknown_enum_number_is_refused():
    assert rejection(gen(toolConfig={"functionCallingConfig": {"mode": 99}})).path.endswith(".mode")


def test_a_restricted_enum_refuses_an_allowed_name_by_its_number_too():
    toxicity = 2
    error = rejection(gen(safetySettings=[{"category": toxicity, "threshold": "OFF"}]))
    assert error.path == "request.safetySettings[0].category"


def test_an_empty_role_is_unset_as_proto3_reads_an_empty_string():
    check_request({"contents": [{"role": "", "parts": [{"text": "hi"}]}]})


def test_either_spelling_of_a_field_is_one_field():
    check_request({"contents": [{"parts": [{"inline_data": {"mime_type": "image/png", "data": PNG}}]}]})
    error = rejection({"contents": [{"parts": [{"inlineData": {"mimeType": "a/b", "mime_type": "a/b", "data": PNG}}]}]})
    assert error.reason == "mimeType and mime_type are one field; give it once"


def test_map_keys_are_the_users_names_and_are_not_read_as_fields():
    schema = {"type": "OBJECT", "properties": {"generation_config": {"type": "STRING"}, "type": {"type": "NUMBER"}}}
    check_request(config(responseMimeType="application/json", responseSchema=schema))


def test_struct_fields_hold_any_json_the_user_wrote():
    check_request(
        {"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"x": [None, 1]}}}]}]}
    )


def test_a_deeply_nested_schema_is_checked_to_the_bottom():
    leaf: dict[str, Any] = {"type": "STRING", "format": 5}
    nested: dict[str, Any] = leaf
    for _ in range(30):
        nested = {"type": "ARRAY", "items": nested}
    error = rejection(config(responseMimeType="application/json", responseSchema=nested))
    assert error.path == "request.generationConfig.responseSchema" + ".items" * 30 + ".format"


@pytest.mark.parametrize(
    "data",
    [
        "",
        "QQ==",
        "QQ",
        "QUI=",
        "QUI",
        "QUJD",
        "+/+/",
        "-_-_",
        "-_-",
        PNG,
    ],
)
def test_bytes_are_standard_or_url_safe_base64_padded_or_not(data):
    check_base64(data)


@pytest.mark.parametrize("data", ["Q", "QQ=", "QQ===", "QUJD=", "+/-_", "QQ==QQ==", "QQ ==", "QQ\n==", "é", 5])
def test_anything_else_is_not_base64(data):
    with pytest.raises(RequestShapeError):
        check_base64(data)


def test_proto_number_reads_the_number_a_value_stands_for():
    assert [proto_number(v) for v in (3, "3", 0.5, "0.5", "1e2")] == [3, 3, 0.5, 0.5, 100.0]


def test_enum_name_reads_a_name_or_a_number():
    assert enum_name("FunctionCallingConfig.Mode", "ANY") == "ANY"
    assert enum_name("FunctionCallingConfig.Mode", 2) == "ANY"
    assert enum_name("FunctionCallingConfig.Mode", "any") is None


# --- the shipped schema --------------------------------------------------------------------------------


def test_the_schema_is_rooted_at_the_two_batch_request_types():
    assert SCHEMA["roots"] == [GENERATE_REQUEST, EMBED_REQUEST]
    assert SCHEMA["source"].startswith("google-ai-generativelanguage 0.12.1")


def test_both_spellings_of_a_field_lead_to_one_spec():
    fields = message_fields("GenerationConfig")
    assert fields["max_output_tokens"] is fields["maxOutputTokens"]
    assert fields["maxOutputTokens"].kind == "int32"


def test_no_vertex_only_field_is_also_a_field():
    for name, message in SCHEMA["messages"].items():
        for json_name, proto_name in message.get("vertex_only", {}).items():
            assert json_name not in message["fields"] and proto_name not in message["fields"], (name, json_name)


def test_every_message_and_enum_reference_resolves():
    for message in SCHEMA["messages"].values():
        for spec in message["fields"].values():
            target = spec.get("value", spec)
            assert target.get("message") in (None, *SCHEMA["messages"])
            assert target.get("enum") in (None, *SCHEMA["enums"])


def test_the_bounds_of_each_documented_range_are_inclusive():
    check_request(
        config(temperature=2, topP=0, topK=1, candidateCount=1, maxOutputTokens=1, logprobs=0, stopSequences=["a"] * 5)
    )
    assert rejection(config(temperature=2.0001)).path.endswith("temperature")


def test_a_hi_request_is_the_smallest_valid_one():
    check_request({"contents": HI})
