"""Inputs for Vertex AI: which canonical lines pass through and which are translated, and the request fields only
Vertex reads (accepted for Vertex, refused with the same messages everywhere else)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.bedrock import BedrockDialect
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.dialect import Dialect
from airflow_provider_genai_batch.formats.gateway import GatewayInlineDialect, target_dialect
from airflow_provider_genai_batch.formats.gemini import GeminiDialect, canonical_line, generate_request_from_sdk
from airflow_provider_genai_batch.formats.gemini_line import check_line
from airflow_provider_genai_batch.formats.gemini_schema import RequestShapeError, check_request
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.formats.validate import InputLimits, validate_lines
from airflow_provider_genai_batch.formats.vertex import VertexDialect
from airflow_provider_genai_batch.inputs import PreparedInput, prepare_input
from tests.unit.pipeline.storage_fakes import FakeStorage

STORED = "gs://bkt/in/requests.jsonl"
CONTENTS = [{"role": "user", "parts": [{"text": "hi"}]}]
OTHER_DIALECTS: list[Dialect] = [
    GeminiDialect(),
    OpenAIDialect(),
    AnthropicDialect(),
    BedrockDialect(),
    target_dialect("gemini"),
    target_dialect("openai"),
    GatewayInlineDialect("anthropic"),
]
# A Vertex-only field at each level the schema lists one: (the request, the JSON path the Gemini API refuses).
VERTEX_ONLY_REQUESTS = {
    "model_armor": ({"contents": CONTENTS, "modelArmorConfig": {"promptTemplateName": "t"}}, "modelArmorConfig"),
    "routing": (
        {"contents": CONTENTS, "generationConfig": {"routingConfig": {"autoMode": {}}}},
        "generationConfig.routingConfig",
    ),
    "model_selection": (
        {"contents": CONTENTS, "generationConfig": {"modelSelectionConfig": {}}},
        "generationConfig.modelSelectionConfig",
    ),
    "audio_timestamp": (
        {"contents": CONTENTS, "generationConfig": {"audio_timestamp": True}},
        "generationConfig.audio_timestamp",
    ),
    "retrieval_tool": ({"contents": CONTENTS, "tools": [{"retrieval": {"vertexAiSearch": {}}}]}, "tools[0].retrieval"),
}


def lines_of(prepared: PreparedInput) -> list[dict[str, Any]]:
    with prepared.open_upload() as stream:
        return [json.loads(line) for line in stream]


def jsonl(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def embed_line(key: str, text: str) -> dict[str, Any]:
    return {"key": key, "request": {"content": {"parts": [{"text": text}]}, "taskType": "RETRIEVAL_DOCUMENT"}}


def prepare_stored(data: bytes, *, model: str, embeddings: bool) -> PreparedInput:
    return prepare_input(
        STORED, VertexDialect(), model=model, embeddings=embeddings, storage=FakeStorage(objects={STORED: data})
    )


# --- which canonical lines pass through ----------------------------------------------------------------


@pytest.mark.parametrize("dialect", OTHER_DIALECTS, ids=lambda d: type(d).__name__)
def test_every_other_dialect_passes_canonical_lines_through_and_takes_no_vertex_fields(dialect: Dialect) -> None:
    assert dialect.passes_through(model="text-embedding-005", embeddings=True)
    assert dialect.passes_through(model="gemini-2.5-flash", embeddings=False)
    assert dialect.vertex_fields is False


def test_vertex_takes_its_own_fields() -> None:
    assert VertexDialect().vertex_fields is True


def test_a_stored_text_embedding_input_is_translated_to_instances_and_uploaded() -> None:
    prepared = prepare_stored(
        jsonl(embed_line("a", "a cat"), embed_line("b", "a dog")), model="text-embedding-005", embeddings=True
    )

    assert prepared.in_place_uri is None
    assert lines_of(prepared) == [
        {"key": "a", "content": "a cat", "task_type": "RETRIEVAL_DOCUMENT"},
        {"key": "b", "content": "a dog", "task_type": "RETRIEVAL_DOCUMENT"},
    ]
    assert list(prepared.iter_keys()) == ["a", "b"]


def test_a_local_text_embedding_file_is_uploaded_as_instances_not_as_written(tmp_path: Path) -> None:
    source = tmp_path / "embed.jsonl"
    source.write_bytes(jsonl(embed_line("a", "a cat")))

    prepared = prepare_input(str(source), VertexDialect(), model="text-embedding-005", embeddings=True)

    assert prepared.upload_source != source
    assert lines_of(prepared) == [{"key": "a", "content": "a cat", "task_type": "RETRIEVAL_DOCUMENT"}]


def test_a_text_embedding_line_vertex_cannot_hold_is_refused_with_its_line() -> None:
    line = {"key": "a", "request": {"content": {"parts": [{"text": "x"}]}, "outputDimensionality": 64}}

    with pytest.raises(InputValidationError, match="outputDimensionality") as raised:
        prepare_stored(jsonl(line), model="text-embedding-005", embeddings=True)

    assert raised.value.line == 1


def test_a_stored_generation_input_still_passes_through_in_place() -> None:
    data = jsonl({"key": "a", "request": {"contents": CONTENTS}})

    prepared = prepare_stored(data, model="gemini-2.5-flash", embeddings=False)

    assert prepared.in_place_uri == STORED
    assert prepared.upload_source is None
    assert prepared.summary.format is InputFormat.GEMINI


def test_a_stored_gemini_embedding_input_passes_through_in_place() -> None:
    prepared = prepare_stored(jsonl(embed_line("a", "a cat")), model="gemini-embedding-001", embeddings=True)

    assert prepared.in_place_uri == STORED


def test_a_text_embedding_input_and_its_translation_have_their_own_fingerprint() -> None:
    data = jsonl(embed_line("a", "a cat"))

    translated = prepare_stored(data, model="text-embedding-005", embeddings=True)
    as_written = prepare_stored(data, model="gemini-embedding-001", embeddings=True)

    assert translated.fingerprint != as_written.fingerprint


# --- Vertex-only request fields ------------------------------------------------------------------------


@pytest.mark.parametrize("name", VERTEX_ONLY_REQUESTS)
def test_vertex_only_fields_are_accepted_for_vertex(name: str) -> None:
    request, _ = VERTEX_ONLY_REQUESTS[name]
    check_request(request, vertex=True)
    check_line({"key": "k", "request": request}, embeddings=False, vertex=True)


@pytest.mark.parametrize("name", VERTEX_ONLY_REQUESTS)
def test_vertex_only_fields_are_still_refused_for_the_gemini_api(name: str) -> None:
    request, path = VERTEX_ONLY_REQUESTS[name]
    field = path.rsplit(".", 1)[-1].split("[")[0]

    with pytest.raises(RequestShapeError, match=f"Vertex-only: the Gemini Developer API has no .*{field}") as raised:
        check_request(request)

    assert raised.value.path == f"request.{path}"


def test_vertex_embedding_fields_are_accepted_for_vertex_only() -> None:
    request = {"content": {"parts": [{"text": "x"}]}, "autoTruncate": False}

    check_request(request, "EmbedContentRequest", vertex=True)
    with pytest.raises(RequestShapeError, match="Vertex-only"):
        check_request(request, "EmbedContentRequest")


def test_vertex_checks_everything_else_as_strictly() -> None:
    with pytest.raises(RequestShapeError, match="unknown field: GenerationConfig has no field 'temprature'"):
        check_request({"contents": CONTENTS, "generationConfig": {"temprature": 1}}, vertex=True)
    with pytest.raises(RequestShapeError, match="out of range"):
        check_request({"contents": CONTENTS, "generationConfig": {"topP": 2}, "modelArmorConfig": {}}, vertex=True)


def test_a_vertex_only_field_given_under_both_spellings_is_refused() -> None:
    request = {"contents": CONTENTS, "modelArmorConfig": {}, "model_armor_config": {}}

    with pytest.raises(RequestShapeError, match="modelArmorConfig and model_armor_config are one field"):
        check_request(request, vertex=True)


def test_validation_takes_vertex_fields_only_when_asked() -> None:
    request, _ = VERTEX_ONLY_REQUESTS["routing"]
    records = [(1, {"key": "a", "request": request}, 10)]
    limits = InputLimits(provider="p")
    accepted = frozenset({InputFormat.GEMINI})

    summary = validate_lines(records, source="in.jsonl", accepted=accepted, limits=limits, vertex_fields=True)

    assert summary.count == 1
    with pytest.raises(InputValidationError, match="Vertex-only"):
        validate_lines(records, source="in.jsonl", accepted=accepted, limits=limits)


def test_a_file_with_vertex_only_fields_goes_to_vertex_as_it_is() -> None:
    request, _ = VERTEX_ONLY_REQUESTS["retrieval_tool"]

    prepared = prepare_stored(jsonl({"key": "a", "request": request}), model="gemini-2.5-flash", embeddings=False)

    assert prepared.in_place_uri == STORED


@pytest.mark.parametrize("dialect", [GeminiDialect(), OpenAIDialect(), AnthropicDialect()], ids=lambda d: d.provider)
def test_every_other_provider_refuses_vertex_only_fields_before_upload(dialect: Dialect, tmp_path: Path) -> None:
    request, _ = VERTEX_ONLY_REQUESTS["model_armor"]
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl({"key": "a", "request": request}))

    with pytest.raises(InputValidationError, match="Vertex-only: the Gemini Developer API has no") as raised:
        prepare_input(str(source), dialect, model="m", embeddings=False)

    assert raised.value.line == 1


# --- SDK-style items with Vertex-only config -----------------------------------------------------------

SDK_VERTEX_CONFIG = {
    "routing_config": {"auto_mode": {"model_routing_preference": "BALANCED"}},
    "model_selection_config": {"feature_selection_preference": "PRIORITIZE_QUALITY"},
    "audio_timestamp": True,
    "model_armor_config": {"prompt_template_name": "t"},
    "generation_output_config": {"mime_type": "text/plain"},
    "temperature": 0.5,
}


def test_sdk_vertex_config_goes_where_google_genai_puts_it_on_vertex() -> None:
    request = generate_request_from_sdk({"contents": "hi", "config": SDK_VERTEX_CONFIG}, vertex=True)

    assert request == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "modelArmorConfig": {"prompt_template_name": "t"},
        "outputConfig": {"mime_type": "text/plain"},
        "generationConfig": {
            "routingConfig": {"auto_mode": {"model_routing_preference": "BALANCED"}},
            "modelConfig": {"feature_selection_preference": "PRIORITIZE_QUALITY"},
            "audioTimestamp": True,
            "temperature": 0.5,
        },
    }
    check_request(request, vertex=True)


@pytest.mark.parametrize("name", sorted(set(SDK_VERTEX_CONFIG) - {"temperature"}))
def test_sdk_vertex_config_is_refused_for_the_gemini_api_with_the_same_message(name: str) -> None:
    item = {"contents": "hi", "config": {name: SDK_VERTEX_CONFIG[name]}}

    with pytest.raises(ValueError, match=f"config field '{name}' is only supported on Vertex AI, not the Gemini API"):
        generate_request_from_sdk(item)
    with pytest.raises(InputValidationError, match="only supported on Vertex AI"):
        canonical_line(item, 0, embeddings=False)


def test_an_sdk_style_list_with_vertex_config_is_prepared_for_vertex() -> None:
    items = [{"key": "a", "contents": "hi", "config": {"routing_config": {"auto_mode": {}}, "audio_timestamp": True}}]

    prepared = prepare_input(items, VertexDialect(), model="gemini-2.5-flash", embeddings=False)

    assert lines_of(prepared) == [
        {
            "key": "a",
            "request": {
                "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                "generationConfig": {"routingConfig": {"auto_mode": {}}, "audioTimestamp": True},
            },
        }
    ]


def test_an_sdk_style_list_with_vertex_config_is_refused_for_gemini() -> None:
    items = [{"key": "a", "contents": "hi", "config": {"routing_config": {"auto_mode": {}}}}]

    with pytest.raises(InputValidationError, match="'routing_config' is only supported on Vertex AI") as raised:
        prepare_input(items, GeminiDialect(), model="gemini-2.5-flash", embeddings=False)

    assert raised.value.line == 1


# --- context caches -------------------------------------------------------------------------------------


def test_a_stored_line_naming_a_gemini_api_cache_is_refused_with_its_line() -> None:
    lines = [
        {"key": "a", "request": {"contents": CONTENTS}},
        {"key": "b", "request": {"contents": CONTENTS, "cachedContent": "cachedContents/abc"}},
    ]

    with pytest.raises(
        InputValidationError, match=r"request\.cachedContent 'cachedContents/abc' is not a Vertex"
    ) as raised:
        prepare_stored(jsonl(*lines), model="gemini-2.5-flash", embeddings=False)

    assert raised.value.line == 2


def test_an_inline_item_naming_its_cache_by_id_is_refused_naming_the_item() -> None:
    items = [{"key": "a", "contents": "hi", "config": {"cached_content": "abc"}}]

    with pytest.raises(
        InputValidationError, match=r"request\.cachedContent 'cachedContents/abc' is not a Vertex"
    ) as raised:
        prepare_input(items, VertexDialect(), model="gemini-2.5-flash", embeddings=False)

    assert (raised.value.source, raised.value.line) == ("inline requests", 1)
