"""A corpus of Gemini REST requests: real shapes the API takes, and requests it refuses, each with where and why.

Used by the schema tests (each bad request must be refused naming its JSON path) and by the translation tests
(each valid request either translates to a body the target's own SDK types accept, or is refused naming a field).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

PNG = base64.b64encode(bytes(range(256))).decode()
PNG_URL_SAFE = base64.urlsafe_b64encode(bytes(range(250, 256)) * 3).decode().rstrip("=")
PDF = base64.b64encode(b"%PDF-1.4 minimal").decode()


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "parts": list(parts)}


def model(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "model", "parts": list(parts)}


def text(value: str = "hi") -> dict[str, Any]:
    return {"text": value}


HI = [user(text())]
WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "OBJECT",
        "properties": {"city": {"type": "STRING"}, "unit": {"type": "STRING", "enum": ["C", "F"], "format": "enum"}},
        "required": ["city"],
    },
}

VALID_GENERATE: dict[str, dict[str, Any]] = {
    "plain_text_without_role": {"contents": [{"parts": [text("Write a haiku about the sea.")]}]},
    "chat_turns": {"contents": [user(text("2+2?")), model(text("4")), user(text("and 3+3?"))]},
    "system_and_all_sampling": {
        "contents": HI,
        "systemInstruction": {"parts": [text("Be terse."), text("Answer in English.")], "role": "user"},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.95,
            "topK": 40,
            "candidateCount": 1,
            "maxOutputTokens": 256,
            "stopSequences": ["\n\n", "END", "STOP", "###", "---"],
            "seed": 7,
            "presencePenalty": 0.5,
            "frequencyPenalty": -0.5,
            "responseLogprobs": True,
            "logprobs": 5,
        },
    },
    "temperature_bounds": {"contents": HI, "generationConfig": {"temperature": 0, "topP": 1}},
    "response_schema": {
        "contents": HI,
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseSchema": {
                "type": "OBJECT",
                "title": "Recipe",
                "properties": {
                    "name": {"type": "STRING", "description": "the dish"},
                    "servings": {"type": "INTEGER", "minimum": 1, "maximum": 12},
                    "steps": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": "1", "maxItems": 20},
                    "difficulty": {"type": "STRING", "enum": ["easy", "hard"], "format": "enum", "nullable": True},
                    "calories": {"anyOf": [{"type": "INTEGER"}, {"type": "NULL"}]},
                },
                "required": ["name", "steps"],
                "propertyOrdering": ["name", "steps", "servings", "difficulty", "calories"],
            },
        },
    },
    "response_json_schema": {
        "contents": HI,
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseJsonSchema": {
                "type": "object",
                "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
                "additionalProperties": False,
            },
        },
    },
    "enum_output": {
        "contents": HI,
        "generationConfig": {
            "responseMimeType": "text/x.enum",
            "responseSchema": {"type": "STRING", "format": "enum", "enum": ["yes", "no"]},
        },
    },
    "function_declarations_and_forced_call": {
        "contents": [user(text("Weather in Paris?"))],
        "tools": [
            {
                "functionDeclarations": [
                    WEATHER,
                    {
                        "name": "lookup_order",
                        "description": "Find an order",
                        "parametersJsonSchema": {"type": "object", "properties": {"id": {"type": "string"}}},
                    },
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
    },
    "function_call_and_response_turns": {
        "contents": [
            user(text("Weather in Paris and Rome?")),
            model(
                {"functionCall": {"id": "call-1", "name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"id": "call-2", "name": "get_weather", "args": {"city": "Rome"}}},
            ),
            user(
                {"functionResponse": {"id": "call-2", "name": "get_weather", "response": {"temp_c": 25}}},
                {"functionResponse": {"id": "call-1", "name": "get_weather", "response": {"temp_c": 18}}},
            ),
        ],
        "tools": [{"functionDeclarations": [WEATHER]}],
    },
    "function_calls_without_ids": {
        "contents": [
            user(text("Weather?")),
            model(text("Let me check."), {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}),
            user({"functionResponse": {"name": "get_weather", "response": {"output": "rain"}}}, text("Thanks")),
        ],
        "tools": [{"functionDeclarations": [WEATHER]}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    },
    "gemini_tools": {
        "contents": HI,
        "tools": [{"googleSearch": {}}, {"codeExecution": {}}, {"urlContext": {}}],
    },
    "file_data_with_video_metadata": {
        "contents": [
            user(
                {
                    "fileData": {
                        "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc",
                        "mimeType": "video/mp4",
                    },
                    "videoMetadata": {"startOffset": "1.5s", "endOffset": "10s", "fps": 1},
                },
                text("Summarise the clip."),
            )
        ]
    },
    "inline_images": {
        "contents": [
            user(
                {"inlineData": {"mimeType": "image/png", "data": PNG}},
                {"inlineData": {"mimeType": "image/jpeg", "data": PNG_URL_SAFE}},
                text("What differs?"),
            )
        ]
    },
    "inline_pdf": {
        "contents": [user({"inlineData": {"mimeType": "application/pdf", "data": PDF}}, text("Summarise."))]
    },
    "thinking_budget": {
        "contents": HI,
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}},
    },
    "thinking_level": {"contents": HI, "generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}},
    "safety_settings": {
        "contents": HI,
        "safetySettings": [
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
            {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_LOW_AND_ABOVE"},
            {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "threshold": "BLOCK_MEDIUM_AND_ABOVE"},
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_ONLY_HIGH"},
            {"category": "HARM_CATEGORY_CIVIC_INTEGRITY", "threshold": "OFF"},
        ],
    },
    "snake_case_spelling": {
        "contents": [
            {"role": "user", "parts": [{"inline_data": {"mime_type": "image/png", "data": PNG}}, text("what is it?")]}
        ],
        "system_instruction": {"parts": [text("Be terse.")]},
        "generation_config": {
            "max_output_tokens": 64,
            "response_mime_type": "text/plain",
            "thinking_config": {"thinking_budget": 0},
        },
        "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    },
    "proto_json_scalars": {
        "contents": HI,
        "generationConfig": {"maxOutputTokens": "256", "temperature": "0.5", "seed": -3, "topK": 2.0},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": 4}],
    },
    "null_fields_are_unset": {"contents": HI, "generationConfig": None, "systemInstruction": None, "tools": None},
    "thought_replay": {
        "contents": [
            user(text("Solve it.")),
            model(
                {"text": "Let me think.", "thought": True},
                {"text": "The answer is 4.", "thoughtSignature": "EjQKMgpA"},
            ),
            user(text("Why?")),
        ]
    },
    "code_execution_turn": {
        "contents": [
            user(text("Sum 1..10 in Python.")),
            model(
                {"executableCode": {"language": "PYTHON", "code": "print(sum(range(11)))"}},
                {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "55\n"}},
                text("55"),
            ),
            user(text("Thanks")),
        ],
        "tools": [{"codeExecution": {}}],
    },
    "image_and_speech_output": {
        "contents": HI,
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
            "mediaResolution": "MEDIA_RESOLUTION_LOW",
        },
    },
    "speech_output": {
        "contents": HI,
        "generationConfig": {
            "responseModalities": ["AUDIO"],
            "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}, "languageCode": "en-US"},
        },
    },
    "cache_labels_tier_store": {
        "contents": HI,
        "cachedContent": "cachedContents/abc123",
        "labels": {"team": "ml", "run": "nightly"},
        "serviceTier": "flex",
        "store": False,
        "model": "models/gemini-2.5-flash",
    },
    "continued": {"contents": HI, "store": True, "continuationToken": "Y29udGludWU-X19fXw"},
    "function_response_with_media_parts": {
        "contents": [
            user(text("Show the chart.")),
            model({"functionCall": {"name": "render_chart", "args": {}}}),
            user(
                {
                    "functionResponse": {
                        "name": "render_chart",
                        "response": {"status": "ok"},
                        "parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}],
                        "willContinue": False,
                        "scheduling": "WHEN_IDLE",
                    }
                }
            ),
        ],
        "tools": [{"functionDeclarations": [{"name": "render_chart", "description": "Draw the chart"}]}],
    },
    "retrieval_and_search_config": {
        "contents": HI,
        "tools": [
            {
                "googleSearch": {
                    "timeRangeFilter": {"startTime": "2025-01-01T00:00:00Z", "endTime": "2025-06-30T23:59:59.5Z"}
                }
            },
            {"googleMaps": {}},
        ],
        "toolConfig": {"retrievalConfig": {"latLng": {"latitude": 48.85, "longitude": 2.35}, "languageCode": "fr"}},
    },
    "part_media_resolution": {
        "contents": [
            user(
                {
                    "inlineData": {"mimeType": "image/png", "data": PNG},
                    "mediaResolution": {"level": "MEDIA_RESOLUTION_HIGH"},
                }
            )
        ]
    },
}

VALID_EMBED: dict[str, dict[str, Any]] = {
    "retrieval_document": {
        "content": {"parts": [text("The sea is wide.")], "role": "user"},
        "taskType": "RETRIEVAL_DOCUMENT",
        "title": "Sea facts",
        "outputDimensionality": 768,
    },
    "semantic_similarity": {"content": {"parts": [text("a"), text("b")]}, "taskType": "SEMANTIC_SIMILARITY"},
    "with_model_and_snake_case": {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [text("query")]},
        "task_type": "RETRIEVAL_QUERY",
        "output_dimensionality": "256",
    },
}


@dataclass(frozen=True)
class Bad:
    """A request the API refuses: ``path`` is where, ``reason`` a fragment of why."""

    name: str
    request: dict[str, Any]
    path: str
    reason: str
    embed: bool = False


def gen(**fields: Any) -> dict[str, Any]:
    return {"contents": HI, **fields}


def config(**fields: Any) -> dict[str, Any]:
    return gen(generationConfig=fields)


def part(value: Any) -> dict[str, Any]:
    return {"contents": [user(value)]}


def inline(**blob: Any) -> dict[str, Any]:
    return part({"inlineData": blob})


def safety(*settings: dict[str, Any]) -> dict[str, Any]:
    return gen(safetySettings=list(settings))


def declare(*declarations: dict[str, Any]) -> dict[str, Any]:
    return gen(tools=[{"functionDeclarations": list(declarations)}])


def schema(value: dict[str, Any]) -> dict[str, Any]:
    return config(responseMimeType="application/json", responseSchema=value)


HARASSMENT = {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}
P0 = "request.contents[0].parts[0]"
CFG = "request.generationConfig"
ONE_OF = "a part needs exactly one of text, inlineData, functionCall, functionResponse, fileData"

INVALID: tuple[Bad, ...] = (
    # --- contents and parts -------------------------------------------------------------------------------
    Bad("no_contents", {"generationConfig": {"temperature": 0}}, "request", "contents is required"),
    Bad("empty_contents", {"contents": []}, "request.contents", "must not be empty"),
    Bad("null_content", {"contents": [None]}, "request.contents[0]", "null is not allowed"),
    Bad("contents_is_a_string", {"contents": "hi"}, "request.contents", "must be a JSON array, got string"),
    Bad("content_is_a_string", {"contents": ["hi"]}, "request.contents[0]", "must be a JSON object (Content)"),
    Bad("empty_parts", {"contents": [{"role": "user", "parts": []}]}, "request.contents[0].parts", "must not be empty"),
    Bad("no_parts", {"contents": [{"role": "user"}]}, "request.contents[0]", "parts is required"),
    Bad(
        "part_with_no_data",
        part({}),
        P0,
        f"{ONE_OF}, executableCode, codeExecutionResult, toolCall, toolResponse (it has none)",
    ),
    Bad("part_with_only_a_signature", part({"thoughtSignature": "EjQK"}), P0, "(it has none)"),
    Bad("empty_text", part(text("")), P0, "(it has an empty text)"),
    Bad(
        "two_data_fields",
        part({"text": "a", "inlineData": {"mimeType": "image/png", "data": PNG}}),
        P0,
        "text and inlineData are both set",
    ),
    Bad("null_part", {"contents": [{"parts": [None]}]}, P0, "null is not allowed as an array item"),
    Bad(
        "role_system",
        {"contents": [{"role": "system", "parts": [text()]}]},
        "request.contents[0].role",
        "'system' is not allowed here",
    ),
    Bad(
        "role_assistant",
        {"contents": [{"role": "assistant", "parts": [text()]}]},
        "request.contents[0].role",
        'use "user" or "model"',
    ),
    Bad(
        "role_number",
        {"contents": [{"role": 1, "parts": [text()]}]},
        "request.contents[0].role",
        "must be a string, got number",
    ),
    Bad("text_is_a_number", part({"text": 5}), f"{P0}.text", "must be a string, got number"),
    Bad("text_is_a_list", part({"text": ["a", "b"]}), f"{P0}.text", "must be a string, got array"),
    Bad("thought_is_a_string", part({"text": "x", "thought": "yes"}), f"{P0}.thought", "must be true or false"),
    Bad(
        "part_metadata_not_object",
        part({"text": "x", "partMetadata": "tag"}),
        f"{P0}.partMetadata",
        "must be a JSON object",
    ),
    Bad("unknown_part_field", part({"image": "cat.png"}), f"{P0}.image", "Part has no field 'image'"),
    # --- system instruction -------------------------------------------------------------------------------
    Bad(
        "system_instruction_bare_string", gen(systemInstruction="Be terse."), "request.systemInstruction", "bare string"
    ),
    Bad(
        "system_instruction_with_an_image",
        gen(systemInstruction={"parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}]}),
        "request.systemInstruction.parts[0]",
        "text parts only, got inlineData",
    ),
    Bad(
        "system_instruction_no_parts",
        gen(systemInstruction={"parts": []}),
        "request.systemInstruction.parts",
        "must not be empty",
    ),
    Bad(
        "system_instruction_empty_text",
        gen(systemInstruction={"parts": [text("")]}),
        "request.systemInstruction.parts[0]",
        "an empty text",
    ),
    # --- inline data and files ----------------------------------------------------------------------------
    Bad(
        "base64_with_bad_characters",
        inline(mimeType="image/png", data="not base64!"),
        f"{P0}.inlineData.data",
        "not valid base64",
    ),
    Bad(
        "base64_with_a_line_break",
        inline(mimeType="image/png", data=PNG[:76] + "\n" + PNG[76:]),
        f"{P0}.inlineData.data",
        "not valid base64",
    ),
    Bad(
        "base64_mixing_alphabets",
        inline(mimeType="image/png", data="ab+_"),
        f"{P0}.inlineData.data",
        "not valid base64",
    ),
    Bad(
        "base64_impossible_length",
        inline(mimeType="image/png", data="abcde"),
        f"{P0}.inlineData.data",
        "not valid base64",
    ),
    Bad(
        "base64_wrong_padding", inline(mimeType="image/png", data="abc=="), f"{P0}.inlineData.data", "not valid base64"
    ),
    Bad(
        "base64_data_url_prefix",
        inline(mimeType="image/png", data="data:image/png;base64," + PNG),
        f"{P0}.inlineData.data",
        "not valid base64",
    ),
    Bad(
        "inline_data_number", inline(mimeType="image/png", data=12), f"{P0}.inlineData.data", "must be a base64 string"
    ),
    Bad("inline_data_without_mime_type", inline(data=PNG), f"{P0}.inlineData", "mimeType is required"),
    Bad("inline_data_without_data", inline(mimeType="image/png"), f"{P0}.inlineData", "data is required"),
    Bad(
        "file_data_without_uri", part({"fileData": {"mimeType": "video/mp4"}}), f"{P0}.fileData", "fileUri is required"
    ),
    Bad(
        "video_offset_not_a_duration",
        part({"fileData": {"fileUri": "files/a", "mimeType": "video/mp4"}, "videoMetadata": {"startOffset": "1.5"}}),
        f"{P0}.videoMetadata.startOffset",
        'a duration such as "1.5s"',
    ),
    # --- function calling turns ---------------------------------------------------------------------------
    Bad(
        "function_call_without_name",
        {"contents": [model({"functionCall": {"args": {}}})]},
        "request.contents[0].parts[0].functionCall",
        "name is required",
    ),
    Bad(
        "function_call_args_a_list",
        {"contents": [model({"functionCall": {"name": "f", "args": [1]}})]},
        "request.contents[0].parts[0].functionCall.args",
        "must be a JSON object",
    ),
    Bad(
        "function_response_a_string",
        part({"functionResponse": {"name": "f", "response": "sunny"}}),
        f"{P0}.functionResponse.response",
        "must be a JSON object",
    ),
    Bad(
        "function_response_without_name",
        part({"functionResponse": {"response": {}}}),
        f"{P0}.functionResponse",
        "name is required",
    ),
    Bad(
        "function_response_scheduling",
        part({"functionResponse": {"name": "f", "response": {}, "scheduling": "LATER"}}),
        f"{P0}.functionResponse.scheduling",
        "'LATER' is not one of",
    ),
    Bad(
        "function_call_partial_args_vertex_only",
        {"contents": [model({"functionCall": {"name": "f", "partialArgs": []}})]},
        "request.contents[0].parts[0].functionCall.partialArgs",
        "Vertex-only",
    ),
    # --- generation config --------------------------------------------------------------------------------
    Bad(
        "temperature_too_high",
        config(temperature=3.5),
        f"{CFG}.temperature",
        "3.5 is out of range: must be between 0 and 2",
    ),
    Bad("temperature_negative", config(temperature=-0.1), f"{CFG}.temperature", "out of range"),
    Bad("temperature_a_word", config(temperature="hot"), f"{CFG}.temperature", "must be a number, got string"),
    Bad("temperature_a_boolean", config(temperature=True), f"{CFG}.temperature", "must be a number, got boolean"),
    Bad("top_p_above_one", config(topP=1.5), f"{CFG}.topP", "must be between 0 and 1"),
    Bad("top_k_zero", config(topK=0), f"{CFG}.topK", "must be at least 1"),
    Bad("candidate_count_zero", config(candidateCount=0), f"{CFG}.candidateCount", "must be at least 1"),
    Bad(
        "max_output_tokens_zero",
        config(maxOutputTokens=0),
        f"{CFG}.maxOutputTokens",
        "0 is out of range: must be at least 1",
    ),
    Bad("max_output_tokens_fraction", config(maxOutputTokens=1.5), f"{CFG}.maxOutputTokens", "must be an integer"),
    Bad("max_output_tokens_a_word", config(maxOutputTokens="ten"), f"{CFG}.maxOutputTokens", "must be an integer"),
    Bad(
        "max_output_tokens_over_int32",
        config(maxOutputTokens=2**31),
        f"{CFG}.maxOutputTokens",
        "out of the int32 range",
    ),
    Bad("max_output_tokens_boolean", config(maxOutputTokens=True), f"{CFG}.maxOutputTokens", "must be an integer"),
    Bad("logprobs_over_twenty", config(responseLogprobs=True, logprobs=21), f"{CFG}.logprobs", "between 0 and 20"),
    Bad("six_stop_sequences", config(stopSequences=list("abcdef")), f"{CFG}.stopSequences", "at most 5 items, got 6"),
    Bad("stop_sequences_a_string", config(stopSequences="STOP"), f"{CFG}.stopSequences", "must be a JSON array"),
    Bad("stop_sequence_a_number", config(stopSequences=[1]), f"{CFG}.stopSequences[0]", "must be a string"),
    Bad("seed_a_word", config(seed="abc"), f"{CFG}.seed", "must be an integer"),
    Bad("response_mime_type_number", config(responseMimeType=5), f"{CFG}.responseMimeType", "must be a string"),
    Bad(
        "modality_video", config(responseModalities=["VIDEO"]), f"{CFG}.responseModalities[0]", "'VIDEO' is not one of"
    ),
    Bad("media_resolution_lowercase", config(mediaResolution="low"), f"{CFG}.mediaResolution", "'low' is not one of"),
    Bad(
        "misspelt_config_field", config(temprature=1), f"{CFG}.temprature", "GenerationConfig has no field 'temprature'"
    ),
    Bad(
        "field_in_both_spellings",
        config(maxOutputTokens=5, max_output_tokens=5),
        CFG,
        "maxOutputTokens and max_output_tokens are one field",
    ),
    Bad(
        "config_in_both_spellings",
        gen(generationConfig={}, generation_config={}),
        "request",
        "generationConfig and generation_config are one field",
    ),
    Bad(
        "generation_config_a_list",
        gen(generationConfig=[{"temperature": 1}]),
        CFG,
        "must be a JSON object (GenerationConfig)",
    ),
    Bad("routing_config_vertex_only", config(routingConfig={}), f"{CFG}.routingConfig", "Vertex-only"),
    Bad(
        "thinking_level_unknown",
        config(thinkingConfig={"thinkingLevel": "EXTREME"}),
        f"{CFG}.thinkingConfig.thinkingLevel",
        "'EXTREME' is not one of",
    ),
    Bad(
        "thinking_budget_a_word",
        config(thinkingConfig={"thinkingBudget": "lots"}),
        f"{CFG}.thinkingConfig.thinkingBudget",
        "must be an integer",
    ),
    Bad(
        "image_config_person_generation_vertex_only",
        config(imageConfig={"personGeneration": "ALLOW_ALL"}),
        f"{CFG}.imageConfig.personGeneration",
        "Vertex-only",
    ),
    Bad(
        "voice_name_a_number",
        config(speechConfig={"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": 3}}}),
        f"{CFG}.speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName",
        "must be a string",
    ),
    # --- response schema ----------------------------------------------------------------------------------
    Bad("schema_type_lowercase", schema({"type": "object"}), f"{CFG}.responseSchema.type", "case-sensitive: OBJECT"),
    Bad(
        "schema_property_not_an_object",
        schema({"type": "OBJECT", "properties": {"name": "STRING"}}),
        f"{CFG}.responseSchema.properties.name",
        "must be a JSON object (Schema)",
    ),
    Bad(
        "schema_additional_properties_vertex_only",
        schema({"type": "OBJECT", "additionalProperties": False}),
        f"{CFG}.responseSchema.additionalProperties",
        "Vertex-only",
    ),
    Bad("schema_ref", schema({"$ref": "#/$defs/x"}), f"{CFG}.responseSchema.$ref", "Schema has no field '$ref'"),
    Bad(
        "schema_max_items_a_word",
        schema({"type": "ARRAY", "maxItems": "x", "items": {"type": "STRING"}}),
        f"{CFG}.responseSchema.maxItems",
        "must be an integer",
    ),
    Bad(
        "schema_nested_type_unknown",
        schema({"type": "ARRAY", "items": {"type": "DATE"}}),
        f"{CFG}.responseSchema.items.type",
        "'DATE' is not one of",
    ),
    # --- safety settings ----------------------------------------------------------------------------------
    Bad(
        "safety_category_palm_only",
        safety({"category": "HARM_CATEGORY_TOXICITY", "threshold": "BLOCK_NONE"}),
        "request.safetySettings[0].category",
        "'HARM_CATEGORY_TOXICITY' is not one of",
    ),
    Bad(
        "safety_threshold_unknown",
        safety({"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_SOME"}),
        "request.safetySettings[0].threshold",
        "'BLOCK_SOME' is not one of",
    ),
    Bad(
        "safety_category_twice",
        safety(HARASSMENT, {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}),
        "request.safetySettings[1]",
        "already set by item [0]",
    ),
    Bad(
        "safety_category_twice_as_number",
        safety(HARASSMENT, {"category": 7, "threshold": "OFF"}),
        "request.safetySettings[1]",
        "already set by item [0]",
    ),
    Bad(
        "safety_method_vertex_only",
        safety({**HARASSMENT, "method": "SEVERITY"}),
        "request.safetySettings[0].method",
        "Vertex-only",
    ),
    Bad(
        "safety_without_threshold",
        safety({"category": "HARM_CATEGORY_HARASSMENT"}),
        "request.safetySettings[0]",
        "threshold is required",
    ),
    Bad("safety_settings_an_object", gen(safetySettings=HARASSMENT), "request.safetySettings", "must be a JSON array"),
    # --- tools and tool config ----------------------------------------------------------------------------
    Bad(
        "declaration_name_with_a_space",
        declare({"name": "get weather"}),
        "request.tools[0].functionDeclarations[0].name",
        "does not match",
    ),
    Bad(
        "declaration_name_too_long",
        declare({"name": "f" * 65}),
        "request.tools[0].functionDeclarations[0].name",
        "does not match",
    ),
    Bad(
        "declaration_without_name",
        declare({"description": "x"}),
        "request.tools[0].functionDeclarations[0]",
        "name is required",
    ),
    Bad(
        "declaration_parameters_lowercase_type",
        declare({"name": "f", "parameters": {"type": "object"}}),
        "request.tools[0].functionDeclarations[0].parameters.type",
        "case-sensitive",
    ),
    Bad("tool_retrieval_vertex_only", gen(tools=[{"retrieval": {}}]), "request.tools[0].retrieval", "Vertex-only"),
    Bad(
        "tool_enterprise_search_vertex_only",
        gen(tools=[{"enterpriseWebSearch": {}}]),
        "request.tools[0].enterpriseWebSearch",
        "Vertex-only",
    ),
    Bad(
        "tool_unknown", gen(tools=[{"webBrowser": {}}]), "request.tools[0].webBrowser", "Tool has no field 'webBrowser'"
    ),
    Bad(
        "search_exclude_domains_vertex_only",
        gen(tools=[{"googleSearch": {"excludeDomains": ["x.com"]}}]),
        "request.tools[0].googleSearch.excludeDomains",
        "Vertex-only",
    ),
    Bad(
        "dynamic_retrieval_mode_unknown",
        gen(tools=[{"googleSearchRetrieval": {"dynamicRetrievalConfig": {"mode": "ALWAYS"}}}]),
        "request.tools[0].googleSearchRetrieval.dynamicRetrievalConfig.mode",
        "'ALWAYS' is not one of",
    ),
    Bad(
        "search_time_not_a_timestamp",
        gen(tools=[{"googleSearch": {"timeRangeFilter": {"startTime": "yesterday"}}}]),
        "request.tools[0].googleSearch.timeRangeFilter.startTime",
        "RFC 3339",
    ),
    Bad(
        "tool_config_mode_unknown",
        gen(toolConfig={"functionCallingConfig": {"mode": "SOMETIMES"}}),
        "request.toolConfig.functionCallingConfig.mode",
        "'SOMETIMES' is not one of",
    ),
    Bad(
        "allowed_names_a_string",
        gen(toolConfig={"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": "f"}}),
        "request.toolConfig.functionCallingConfig.allowedFunctionNames",
        "must be a JSON array",
    ),
    Bad(
        "latitude_a_word",
        gen(toolConfig={"retrievalConfig": {"latLng": {"latitude": "north"}}}),
        "request.toolConfig.retrievalConfig.latLng.latitude",
        "must be a number",
    ),
    # --- request-level fields -----------------------------------------------------------------------------
    Bad(
        "metadata_inside_the_request",
        gen(metadata={"key": "a"}),
        "request.metadata",
        "GenerateContentRequest has no field 'metadata'",
    ),
    Bad("sdk_config_inside_the_request", gen(config={"temperature": 1}), "request.config", "has no field 'config'"),
    Bad("model_a_number", gen(model=4), "request.model", "must be a string"),
    Bad("cached_content_a_number", gen(cachedContent=1), "request.cachedContent", "must be a string"),
    Bad("label_value_a_number", gen(labels={"team": 1}), "request.labels.team", "must be a string"),
    Bad("labels_a_list", gen(labels=["team"]), "request.labels", "must be a JSON object (a map)"),
    Bad("store_a_string", gen(store="yes"), "request.store", "must be true or false"),
    Bad("continuation_token_not_base64", gen(continuationToken="not base64!"), "request.continuationToken", "base64"),
    Bad("model_armor_vertex_only", gen(modelArmorConfig={}), "request.modelArmorConfig", "Vertex-only"),
    # --- embeddings ---------------------------------------------------------------------------------------
    Bad(
        "embed_task_type_unknown",
        {"content": {"parts": [text()]}, "taskType": "SEARCH"},
        "request.taskType",
        "'SEARCH' is not one of",
        embed=True,
    ),
    Bad(
        "embed_dimensionality_zero",
        {"content": {"parts": [text()]}, "outputDimensionality": 0},
        "request.outputDimensionality",
        "at least 1",
        embed=True,
    ),
    Bad("embed_without_content", {"taskType": "CLUSTERING"}, "request", "content is required", embed=True),
    Bad(
        "embed_empty_text", {"content": {"parts": [text("")]}}, "request.content.parts[0]", "an empty text", embed=True
    ),
    Bad(
        "embed_mime_type_vertex_only",
        {"content": {"parts": [text()]}, "mimeType": "text/plain"},
        "request.mimeType",
        "Vertex-only",
        embed=True,
    ),
    Bad(
        "embed_with_contents",
        {"content": {"parts": [text()]}, "contents": HI},
        "request.contents",
        "EmbedContentRequest has no field 'contents'",
        embed=True,
    ),
)
