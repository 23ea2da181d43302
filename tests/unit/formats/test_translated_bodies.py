"""Every translated body is one its target accepts, judged by the target's own SDK types.

Each valid Gemini request of the corpus either translates to a body that the official SDK's request types
accept (openai ``CompletionCreateParamsNonStreaming`` / ``EmbeddingCreateParams``, anthropic
``MessageCreateParamsNonStreaming``, botocore's ``Converse`` input shape), or is refused with a ValueError that
names the Gemini field the target cannot take. Which requests translate is pinned, so a change either way shows.

anthropic 2.x types no longer list ``temperature``/``top_p``/``top_k`` (the newest API versions refuse them in
batches); under the pinned ``2023-06-01`` they are valid and their ranges are checked by the translator, so they
are taken out before the body is checked against the SDK type.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from anthropic.types.messages.batch_create_params import Request as AnthropicBatchRequest
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming
from openai.types.embedding_create_params import EmbeddingCreateParams

from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.bedrock import ANTHROPIC_VERSION, BedrockDialect
from airflow_provider_genai_batch.formats.gemini_schema import check_request
from airflow_provider_genai_batch.formats.openai import OpenAIDialect

from .gemini_requests import HI, PNG, VALID_GENERATE, WEATHER, model, text, user
from .sdk_types import check_converse, check_typed

OPENAI_MODEL = "gpt-4o-mini"
CLAUDE = "claude-sonnet-4-5"
BEDROCK_CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
NOVA = "amazon.nova-pro-v1:0"
SAMPLING = ("temperature", "top_p", "top_k")

# Requests of the corpus shaped for the translated targets (no Gemini-only field), on top of the shared ones.
PORTABLE: dict[str, dict[str, Any]] = {
    "openai_sampling": {
        "contents": HI,
        "systemInstruction": {"parts": [text("Be terse.")]},
        "generationConfig": {
            "temperature": "0.7",
            "topP": 0.9,
            "maxOutputTokens": "512",
            "stopSequences": ["END", "STOP"],
            "seed": "42",
            "presencePenalty": 0.5,
            "frequencyPenalty": -1.5,
            "candidateCount": 2,
            "responseLogprobs": True,
            "logprobs": 3,
        },
    },
    "claude_sampling": {
        "contents": HI,
        "generationConfig": {
            "temperature": 1,
            "topP": "0.5",
            "topK": "40",
            "maxOutputTokens": 100,
            "stopSequences": ["X"],
        },
    },
    "snake_case_chat": {
        "contents": [
            {"role": "user", "parts": [{"inline_data": {"mime_type": "image/webp", "data": PNG}}, text("what?")]}
        ],
        "system_instruction": {"parts": [text("Be terse.")]},
        "generation_config": {"max_output_tokens": 64, "response_modalities": []},
    },
    "enum_numbers_and_ordering": {
        "contents": HI,
        "tools": [{"functionDeclarations": [WEATHER]}],
        "toolConfig": {"functionCallingConfig": {"mode": 2}},
    },
    "long_tool_conversation": {
        "contents": [
            user(text("Plan a trip.")),
            model({"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}),
            user({"functionResponse": {"name": "get_weather", "response": {"sky": "clear"}}}),
            model(text("Clear skies."), {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}),
            user({"functionResponse": {"name": "get_weather", "response": {"sky": "rain"}}}, text("And now?")),
        ],
        "tools": [{"functionDeclarations": [WEATHER]}],
        "toolConfig": {"functionCallingConfig": {"mode": "NONE"}},
    },
}
CORPUS = {**VALID_GENERATE, **PORTABLE}

COMMON = {
    "plain_text_without_role",
    "chat_turns",
    "temperature_bounds",
    "function_declarations_and_forced_call",
    "function_call_and_response_turns",
    "function_calls_without_ids",
    "inline_images",
    "null_fields_are_unset",
    "snake_case_chat",
    "long_tool_conversation",
    "enum_numbers_and_ordering",
}
TOOLS = {
    "function_declarations_and_forced_call",
    "function_call_and_response_turns",
    "function_calls_without_ids",
    "long_tool_conversation",
    "enum_numbers_and_ordering",
}
"""The requests of ``COMMON`` that declare tools or hold function turns."""
TRANSLATES = {
    "openai": COMMON | {"response_schema", "response_json_schema", "openai_sampling"},
    "anthropic": COMMON | {"inline_pdf", "claude_sampling"},
    "bedrock_invoke": COMMON | {"inline_pdf", "claude_sampling"},
    # Batch inference fails Converse records that call tools, and Converse takes top-k only for Anthropic models.
    "bedrock_converse": (COMMON - TOOLS) | {"inline_pdf", "claude_sampling"},
    "bedrock_converse_nova": (COMMON - TOOLS) | {"inline_pdf"},
}
TARGETS = {
    "openai": (OpenAIDialect(), OPENAI_MODEL),
    "anthropic": (AnthropicDialect(), CLAUDE),
    "bedrock_invoke": (BedrockDialect(), BEDROCK_CLAUDE),
    "bedrock_converse": (BedrockDialect(invocation_type="Converse"), BEDROCK_CLAUDE),
    "bedrock_converse_nova": (BedrockDialect(invocation_type="Converse"), NOVA),
}
NAMES_A_FIELD = re.compile(
    r"(request|contents\[\d+\]|generationConfig|systemInstruction|tools|toolConfig)[\w.\[\]]*|\w+ is a Gemini-only tool"
)


def body_problems(target: str, line: dict[str, Any], model_name: str) -> list[str]:
    """What the target's SDK types find wrong with a translated line."""
    if target == "openai":
        return check_typed(line["body"], CompletionCreateParamsNonStreaming)
    if target == "anthropic":
        params = {name: value for name, value in line["params"].items() if name not in SAMPLING}
        problems = check_typed({**line, "params": params}, AnthropicBatchRequest)
        return problems + check_typed(params, MessageCreateParamsNonStreaming)
    model_input = line["modelInput"]
    if target == "bedrock_invoke":
        assert model_input["anthropic_version"] == ANTHROPIC_VERSION
        claude = {k: v for k, v in model_input.items() if k not in (*SAMPLING, "anthropic_version")}
        return check_typed({**claude, "model": model_name}, MessageCreateParamsNonStreaming)
    return check_converse(model_input, model_name)


def test_the_extra_corpus_requests_are_valid_gemini_requests_too():
    for request in PORTABLE.values():
        check_request(request)


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("name", list(CORPUS))
def test_a_valid_request_translates_to_a_body_the_targets_sdk_accepts_or_is_refused_naming_a_field(target, name):
    dialect, model_name = TARGETS[target]
    try:
        line = dialect.to_native({"key": "k1", "request": CORPUS[name]}, model=model_name, embeddings=False)
    except ValueError as err:
        assert name not in TRANSLATES[target], f"{name} should translate for {target}: {err}"
        assert NAMES_A_FIELD.search(str(err)), str(err)
        return
    assert name in TRANSLATES[target], f"{name} should be refused for {target}"
    assert body_problems(target, line, model_name) == []


EMBEDDABLE = {
    "plain": {"content": {"parts": [text("The sea is wide.")]}},
    "dimensions_as_text": {"content": {"parts": [text("a"), text("b")], "role": "user"}, "outputDimensionality": "256"},
    "snake_case": {"content": {"parts": [text("q")]}, "output_dimensionality": 64},
}


@pytest.mark.parametrize("name", list(EMBEDDABLE))
def test_an_embedding_request_translates_to_an_openai_body_the_sdk_accepts(name):
    check_request(EMBEDDABLE[name], "EmbedContentRequest")
    line = OpenAIDialect().to_native(
        {"key": "k", "request": EMBEDDABLE[name]}, model="text-embedding-3-small", embeddings=True
    )
    assert check_typed(line["body"], EmbeddingCreateParams) == []
    assert isinstance(line["body"].get("dimensions", 1), int)


def test_the_corpus_exercises_every_target_both_ways():
    for target in TARGETS:
        assert 5 <= len(TRANSLATES[target]) < len(CORPUS), target
