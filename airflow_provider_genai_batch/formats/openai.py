"""OpenAI Batch wire format: canonical Gemini lines to batch lines, Batch and File objects, output lines to rows.

Translation is explicit: every Gemini field with an OpenAI equivalent is listed here, and any other field
raises ValueError naming it and the provider, so nothing is dropped silently. Reading the Gemini
request (parts, schemas, tools, tool config) is shared with the other translators in ``translate.py``.
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.dialect import ProviderCapabilities, ProviderLimits
from airflow_provider_genai_batch.formats.gemini_schema import json_type
from airflow_provider_genai_batch.formats.keys import portable_id
from airflow_provider_genai_batch.formats.results import (
    NO_OUTCOME,
    ResultRow,
    RowError,
    RowStatus,
    Usage,
    blocked_row,
    counted_usage,
    embedding_values,
    job_count,
    no_answer_row,
    output_limit_row,
)
from airflow_provider_genai_batch.formats.times import parse_unix
from airflow_provider_genai_batch.formats.translate import (
    REQUEST_REASONS,
    CallIds,
    Declaration,
    Part,
    check_fields,
    check_image,
    check_kind,
    check_metadata_carried,
    check_model,
    check_name,
    check_object_schema,
    check_range,
    check_text_modality,
    compact_json,
    fields,
    function_declarations,
    integer,
    json_schema,
    line_parts,
    number,
    read_parts,
    standard_base64,
    system_texts,
    text_turn,
    tool_choice,
    unsupported,
    verbatim_schema,
)
from airflow_provider_genai_batch.models import BatchJob, BatchStats, FileInfo, JobState

PROVIDER = "openai"
CHAT_URL = "/v1/chat/completions"
EMBEDDINGS_URL = "/v1/embeddings"
RESPONSES_URL = "/v1/responses"
BATCH_URLS = frozenset(
    {
        "/v1/responses",
        CHAT_URL,
        EMBEDDINGS_URL,
        "/v1/completions",
        "/v1/moderations",
        "/v1/images/generations",
        "/v1/images/edits",
        "/v1/videos",
    }
)

STATUSES: dict[str, JobState] = {
    "validating": JobState.PENDING,
    "in_progress": JobState.RUNNING,
    "finalizing": JobState.RUNNING,
    "cancelling": JobState.CANCELLING,
    "completed": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "expired": JobState.EXPIRED,
    "cancelled": JobState.CANCELLED,
}

# --- canonical line -> OpenAI batch line ---------------------------------------------------------------

_CHAT_FIELDS = frozenset({"model", "contents", "systemInstruction", "generationConfig", "tools", "toolConfig"})
_EMBED_FIELDS = frozenset({"model", "content", "outputDimensionality"})
_EMBED_REASONS = {
    "taskType": "openai embeddings have no task type",
    "title": "openai embeddings have no document title",
}
# generationConfig fields carried under OpenAI's name (numbers written as JSON numbers).
GENERATION_PARAMS = {
    "temperature": "temperature",
    "topP": "top_p",
    "maxOutputTokens": "max_completion_tokens",
    "stopSequences": "stop",
    "candidateCount": "n",
    "seed": "seed",
    "presencePenalty": "presence_penalty",
    "frequencyPenalty": "frequency_penalty",
    "responseLogprobs": "logprobs",
    "logprobs": "top_logprobs",
}
_GENERATION_HANDLED = ("responseMimeType", "responseSchema", "responseJsonSchema", "responseModalities")
_GENERATION_REASONS = {
    "topK": "openai has no top-k sampling",
    "thinkingConfig": "openai has no thinking budget (use a native openai line with reasoning_effort)",
    "speechConfig": "speech output is Gemini-only",
    "imageConfig": "image output is Gemini-only",
    "mediaResolution": "media resolution is Gemini-only",
}
_GENERATION_FIELDS = frozenset({*GENERATION_PARAMS, *_GENERATION_HANDLED})
_INTEGER_PARAMS = frozenset({"max_completion_tokens", "n", "seed", "top_logprobs"})
_NUMBER_PARAMS = frozenset({"temperature", "top_p", "presence_penalty", "frequency_penalty"})
_NATIVE_INTEGER_PARAMS = _INTEGER_PARAMS | {"max_tokens"}
# Chat completions ranges a Gemini-valid value can fall outside: the penalties as the openai SDK's parameter docs
# give them, n as OpenAI's API reference bounds it.
PARAM_RANGES: dict[str, tuple[float | None, float | None]] = {
    "n": (1, 128),
    "presence_penalty": (-2, 2),
    "frequency_penalty": (-2, 2),
}
MAX_STOP_SEQUENCES = 4
FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A function name OpenAI takes: a-z, A-Z, 0-9, underscores and dashes, at most 64 (openai FunctionDefinition)."""
IDEMPOTENCY_METADATA_KEY = "idempotency_key"
FINGERPRINT_METADATA_KEY = "input_fingerprint"
DISPLAY_NAME_METADATA_KEY = "display_name"
RESERVED_METADATA_KEYS = frozenset({DISPLAY_NAME_METADATA_KEY, IDEMPOTENCY_METADATA_KEY, FINGERPRINT_METADATA_KEY})
"""Metadata names this package writes itself; a label may not take them."""
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_LABELS = MAX_METADATA_PAIRS - len(RESERVED_METADATA_KEYS)
"""User labels that fit in a batch's metadata beside the display name, idempotency key and input fingerprint."""


def from_gemini(line: Mapping[str, Any], *, model: str, embeddings: bool) -> dict[str, Any]:
    """One canonical ``{"key", "request"}`` line as an OpenAI batch input line; ValueError for what cannot map."""
    key, request = line_parts(line)
    check_metadata_carried(line, PROVIDER)
    check_kind(request, embeddings=embeddings)
    check_model(request, model, PROVIDER)
    if embeddings:
        return {
            "custom_id": portable_id(key),
            "method": "POST",
            "url": EMBEDDINGS_URL,
            "body": _embed_body(request, model),
        }
    return {"custom_id": portable_id(key), "method": "POST", "url": CHAT_URL, "body": _chat_body(request, model)}


def _embed_body(request: Mapping[str, Any], model: str) -> dict[str, Any]:
    check_fields(request, _EMBED_FIELDS, "request", PROVIDER, _EMBED_REASONS)
    _, parts = read_parts(request.get("content"), "request.content", PROVIDER)
    for part in parts:
        if part.kind != "text":
            raise unsupported(f"{part.path}.{part.kind}", PROVIDER, "openai embeds text only")
    body: dict[str, Any] = {"model": model, "input": "\n".join(p.value for p in parts), "encoding_format": "float"}
    if "outputDimensionality" in request:
        body["dimensions"] = integer(request["outputDimensionality"], "request.outputDimensionality")
    return body


def _chat_body(request: Mapping[str, Any], model: str) -> dict[str, Any]:
    check_fields(request, _CHAT_FIELDS, "request", PROVIDER, REQUEST_REASONS)
    return chat_body(
        request, model, _messages(request), settings=generation_params, declare=function_declarations, tools=tool_list
    )


def chat_body(
    request: Mapping[str, Any],
    model: str,
    messages: list[dict[str, Any]],
    *,
    settings: Callable[[Any], dict[str, Any]],
    declare: Callable[[Any, str], list[Declaration]],
    tools: Callable[[list[Declaration]], list[dict[str, Any]]],
) -> dict[str, Any]:
    """The chat completions body of a request whose fields are checked and whose ``messages`` are built: settings
    (read by ``settings``), tools (read by ``declare``, written by ``tools``: :func:`tool_list`) and tool choice
    added; shared with the translation of :mod:`.common_translate`, which reads a run of lines repeating their
    settings and tools once."""
    body: dict[str, Any] = {"model": model, "messages": messages}
    config = request.get("generationConfig")
    if config is not None:  # no settings: no parameters (what ``settings`` gives for None)
        body.update(settings(config))
    if body.get("response_format") == {"type": "json_object"} and not _mentions_json(body["messages"]):
        raise ValueError(
            "generationConfig.responseMimeType application/json without a schema becomes openai JSON mode, "
            "which requires the word 'JSON' in the messages; add it to the prompt or give a responseSchema"
        )
    declarations = declare(request["tools"], PROVIDER) if "tools" in request else []
    if declarations:
        body["tools"] = tools(declarations)
    if "toolConfig" in request:
        body["tool_choice"] = _tool_choice(*tool_choice(request["toolConfig"], PROVIDER, declarations))
    return body


def _messages(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if "systemInstruction" in request:
        texts = system_texts(request["systemInstruction"], PROVIDER)
        messages.append({"role": "system", "content": _content([_text_block(t) for t in texts])})
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        raise ValueError("request.contents must be a non-empty list")
    ids = CallIds(PROVIDER)
    for i, content in enumerate(contents):
        path = f"contents[{i}]"
        turn = text_turn(content)
        if turn is not None:
            role, texts = turn
            ids.turn(role, path)
            content_of = _content([_text_block(text) for text in texts])
            messages.append({"role": "assistant" if role == "model" else "user", "content": content_of})
            ids.end_turn(role, path)
            continue
        role, parts = read_parts(content, path, PROVIDER)
        ids.turn(role, path)
        if role == "model":
            messages.append(assistant_message(parts, ids, path))
        else:
            messages.extend(user_messages(parts, ids))
        ids.end_turn(role, path)
    ids.finish("contents")
    return messages


def user_messages(parts: list[Part], ids: CallIds) -> list[dict[str, Any]]:
    """Tool results first (each its own ``tool`` message, right after the calls), then one user message."""
    messages: list[dict[str, Any]] = []
    blocks: list[dict[str, Any]] = []
    for part in parts:
        if part.kind == "functionResponse":
            response = part.value.get("response", {})
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": ids.answer(part.value, part.path),
                    "content": compact_json(response, part.path, "functionResponse.response"),
                }
            )
        elif part.kind == "functionCall":
            raise ValueError(f"{part.path}.functionCall must be in a model turn")
        elif part.kind == "inlineData":
            check_image(part, PROVIDER)
            data = standard_base64(part.value["data"], f"{part.path}.inlineData.data")
            url = f"data:{part.value['mimeType']};base64,{data}"
            blocks.append({"type": "image_url", "image_url": {"url": url}})
        else:
            blocks.append(_text_block(part.value))
    if blocks:
        messages.append({"role": "user", "content": _content(blocks)})
    return messages


def assistant_message(parts: list[Part], ids: CallIds, path: str) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for part in parts:
        if part.kind == "text":
            blocks.append(_text_block(part.value))
        elif part.kind == "functionCall":
            name = part.value["name"]
            check_name(name, f"{part.path}.functionCall.name", PROVIDER, FUNCTION_NAME, _NAME_RULE)
            function = {
                "name": name,
                "arguments": compact_json(part.value.get("args", {}), part.path, "functionCall.args"),
            }
            calls.append({"id": ids.call(part.value, path), "type": "function", "function": function})
        else:
            raise unsupported(
                f"{part.path}.{part.kind}", PROVIDER, "a model turn can hold only text and function calls"
            )
    message: dict[str, Any] = {"role": "assistant"}
    if blocks:
        message["content"] = _content(blocks)
    if calls:
        message["tool_calls"] = calls
    return message


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _content(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """A lone text block as a plain string, anything else as the list of content parts."""
    if len(blocks) == 1 and blocks[0]["type"] == "text":
        text: str = blocks[0]["text"]
        return text
    return blocks


def generation_params(config: Any) -> dict[str, Any]:
    """A ``generationConfig`` (or None) as chat completions parameters, checked for what OpenAI takes."""
    if config is None:
        return {}
    gen = fields(config, "generationConfig")
    check_fields(gen, _GENERATION_FIELDS, "generationConfig", PROVIDER, _GENERATION_REASONS)
    params: dict[str, Any] = {}
    for name, value in gen.items():
        param = GENERATION_PARAMS.get(name)
        path = f"generationConfig.{name}"
        if param in _INTEGER_PARAMS:
            params[param] = integer(value, path)
        elif param in _NUMBER_PARAMS:
            params[param] = number(value, path)
        elif param is not None:
            params[param] = value
        if param in PARAM_RANGES:
            check_range(params[param], path, PROVIDER, *PARAM_RANGES[param])
    if len(params.get("stop") or ()) > MAX_STOP_SEQUENCES:
        raise unsupported("generationConfig.stopSequences", PROVIDER, f"it takes at most {MAX_STOP_SEQUENCES}")
    if "top_logprobs" in params and params.get("logprobs") is not True:
        raise unsupported(
            "generationConfig.logprobs", PROVIDER, "it returns top log-probabilities only with responseLogprobs true"
        )
    check_text_modality(gen, PROVIDER)
    response_format = _response_format(gen)
    if response_format is not None:
        params["response_format"] = response_format
    return params


def _response_format(gen: Mapping[str, Any]) -> dict[str, Any] | None:
    mime = gen.get("responseMimeType")
    has_schema = "responseSchema" in gen or "responseJsonSchema" in gen
    if "responseSchema" in gen and "responseJsonSchema" in gen:
        raise ValueError("generationConfig sets both responseSchema and responseJsonSchema; set one")
    if mime in (None, "", "text/plain"):
        if has_schema:
            raise ValueError("generationConfig.responseSchema needs responseMimeType application/json")
        return None
    if mime != "application/json":
        raise unsupported("generationConfig.responseMimeType", PROVIDER, f"{mime} has no equivalent there")
    if "responseSchema" in gen:
        schema = json_schema(gen["responseSchema"], "generationConfig.responseSchema", PROVIDER)
    elif "responseJsonSchema" in gen:
        schema = verbatim_schema(gen["responseJsonSchema"], "generationConfig.responseJsonSchema")
    else:
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


def _mentions_json(messages: list[dict[str, Any]]) -> bool:
    """Whether any message text says "json", which OpenAI's JSON mode requires."""
    for message in messages:
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        if any("json" in block.get("text", "").lower() for block in blocks if block["type"] == "text"):
            return True
    return False


_NAME_RULE = "1 to 64 of a-z, A-Z, 0-9, _ and -"


def tool_list(declarations: list[Declaration]) -> list[dict[str, Any]]:
    """Function declarations as chat completions tools, their names and parameters checked for OpenAI."""
    return [_tool(declaration) for declaration in declarations]


def _tool(declaration: Declaration) -> dict[str, Any]:
    check_name(declaration.name, f"{declaration.path}.name", PROVIDER, FUNCTION_NAME, _NAME_RULE)
    function: dict[str, Any] = {"name": declaration.name}
    if declaration.description is not None:
        function["description"] = declaration.description
    if declaration.parameters is not None:
        check_object_schema(declaration.parameters, f"{declaration.path}.parameters", PROVIDER)
        function["parameters"] = declaration.parameters
    return {"type": "function", "function": function}


def _tool_choice(mode: str, forced: str | None) -> str | dict[str, Any]:
    if forced is not None:
        return {"type": "function", "function": {"name": forced}}
    return {"auto": "auto", "none": "none", "any": "required"}[mode]


# --- native lines --------------------------------------------------------------------------------------


def check_native(line: Mapping[str, Any]) -> str:
    """Check an OpenAI-native batch line and return its ``url``, the batch endpoint; ValueError(reason) if bad."""
    if line.get("method") != "POST":
        raise ValueError(f"'method' must be \"POST\", got {line.get('method')!r}")
    url = line.get("url")
    if not isinstance(url, str) or url not in BATCH_URLS:
        raise ValueError(f"'url' {url!r} is not a batchable openai endpoint ({', '.join(sorted(BATCH_URLS))})")
    body = line.get("body")
    if not isinstance(body, Mapping):
        raise ValueError("'body' must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise ValueError("'body.model' must be a non-empty string")
    for name, (valid, what) in _REQUIRED_BODY_FIELDS.get(url, {}).items():
        if name not in body:
            raise ValueError(f"'body.{name}' is missing: {url} requires it")
        value = body[name]
        if not valid(value):
            found = "an empty list" if value == [] else json_type(value)
            raise ValueError(f"'body.{name}' must be {what} for {url}, got {found}")
    unknown = sorted(body.keys() - BODY_FIELDS[url]) if url in BODY_FIELDS else []
    if unknown:
        raise ValueError(f"'body' has {', '.join(unknown)}, which {url} does not take")
    if url in STREAMING_URLS and body.get("stream", False) is not False:
        raise ValueError("'body.stream' must be false or absent: a batch answers each request whole, not as a stream")
    if url == CHAT_URL:
        _check_messages(body["messages"])
        _check_chat_bounds(body)
    if url == EMBEDDINGS_URL:
        _check_embedding_input(body["input"])
        _check_embedding_options(body)
    if url == RESPONSES_URL and body.get("input") is not None and not isinstance(body["input"], (str, list)):
        raise ValueError(
            f"'body.input' must be a string or a list of input items for {url}, got {json_type(body['input'])}"
        )
    return url


CHAT_BOUNDS: dict[str, tuple[float, float]] = {
    "temperature": (0, 2),
    "presence_penalty": (-2, 2),
    "frequency_penalty": (-2, 2),
    "top_logprobs": (0, 20),
    "n": (1, 128),
}
"""The chat completions numbers a native body may set only within bounds (the openai SDK's parameter docs; n as
OpenAI's API reference bounds it)."""


def _check_chat_bounds(body: Mapping[str, Any]) -> None:
    """A native chat body's numbers of their JSON type (null is unset), its bounded numbers within their bounds and
    at most four stop sequences; the API answers a request outside them with a 400 once the batch runs."""
    for name in sorted(_NUMBER_PARAMS | _NATIVE_INTEGER_PARAMS):
        value = body.get(name)
        if value is None:
            continue
        integer = name in _NATIVE_INTEGER_PARAMS
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (integer and isinstance(value, float) and not value.is_integer())
        ):
            expected = "an integer" if integer else "a number"
            raise ValueError(f"'body.{name}' must be {expected} for {CHAT_URL}, got {json_type(value)} {value!r}")
    for name, (low, high) in CHAT_BOUNDS.items():
        value = body.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not low <= value <= high:
            raise ValueError(f"'body.{name}' is {value}: /v1/chat/completions takes it from {low} to {high}")
    stop = body.get("stop")
    if isinstance(stop, list) and len(stop) > MAX_STOP_SEQUENCES:
        raise ValueError(
            f"'body.stop' holds {len(stop)} sequences: /v1/chat/completions takes at most {MAX_STOP_SEQUENCES}"
        )


MAX_EMBEDDING_ARRAY = 2048
"""The most texts or token lists one embeddings request's ``input`` list holds (the openai SDK's ``input`` doc)."""


def _check_embedding_input(value: Any) -> None:
    """An embeddings ``input`` within the API's bounds: no empty text, at most 2048 texts or token lists; the API
    answers a request outside them with a 400 once the batch runs."""
    if value == "" or (isinstance(value, list) and "" in value):
        raise ValueError("'body.input' holds an empty text, which /v1/embeddings refuses")
    if isinstance(value, list) and not all(_token(item) for item in value) and len(value) > MAX_EMBEDDING_ARRAY:
        raise ValueError(
            f"'body.input' holds {len(value)} inputs: /v1/embeddings takes at most {MAX_EMBEDDING_ARRAY} in one request"
        )


MAX_EMBEDDING_DIMENSIONS = 3072
"""The largest embedding an OpenAI model returns (text-embedding-3-large's); the API refuses larger ``dimensions``."""
ENCODING_FORMATS = ("float", "base64")
"""The ``encoding_format`` values an embeddings request takes (the openai SDK's ``Literal["float", "base64"]``)."""


def _check_embedding_options(body: Mapping[str, Any]) -> None:
    """An embeddings body's ``dimensions`` a positive integer and its ``encoding_format`` one the API knows; the API
    answers a request with any other with a 400 once the batch runs."""
    dimensions = body.get("dimensions")
    if dimensions is not None and (isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1):
        raise ValueError(f"'body.dimensions' must be a positive integer for {EMBEDDINGS_URL}, got {dimensions!r}")
    if dimensions is not None and dimensions > MAX_EMBEDDING_DIMENSIONS:
        raise ValueError(
            f"'body.dimensions' is {dimensions}: no openai embedding model returns more than {MAX_EMBEDDING_DIMENSIONS}"
        )
    encoding = body.get("encoding_format", ENCODING_FORMATS[0])
    if encoding not in ENCODING_FORMATS:
        raise ValueError(
            f"'body.encoding_format' {encoding!r} is not one of {', '.join(ENCODING_FORMATS)} for {EMBEDDINGS_URL}"
        )


def _text_or_tokens(value: Any) -> bool:
    """A text, or a non-empty list of texts, of token ids or of lists of token ids (the embeddings ``input``)."""
    if isinstance(value, str):
        return True
    if not isinstance(value, list) or not value:
        return False
    return (
        all(isinstance(item, str) for item in value)
        or all(_token(item) for item in value)
        or all(isinstance(item, list) and all(_token(token) for token in item) for item in value)
    )


def embedding_inputs(line: Mapping[str, Any]) -> int:
    """The embedding inputs a checked OpenAI line counts toward a batch's cap: the items of a ``/v1/embeddings``
    body's ``input`` list (a text, or one list of token ids, is one input); none for another endpoint."""
    if line.get("url") != EMBEDDINGS_URL:
        return 0
    value = line["body"].get("input")
    if isinstance(value, list) and value and not all(_token(item) for item in value):
        return len(value)
    return 1


def _token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_TEXT_OR_TOKENS = "a string or a non-empty list of strings, of token ids or of lists of token ids"
_REQUIRED_BODY_FIELDS: dict[str, dict[str, tuple[Callable[[Any], bool], str]]] = {
    CHAT_URL: {"messages": (lambda value: isinstance(value, list) and bool(value), "a non-empty list")},
    EMBEDDINGS_URL: {"input": (_text_or_tokens, _TEXT_OR_TOKENS)},
    "/v1/completions": {
        "prompt": (lambda value: value is None or isinstance(value, (str, list)), "a string or a list")
    },
    "/v1/moderations": {"input": (lambda value: isinstance(value, (str, list)), "a string or a list")},
    "/v1/images/generations": {"prompt": (lambda value: isinstance(value, str), "a string")},
    "/v1/images/edits": {"prompt": (lambda value: isinstance(value, str), "a string")},
    "/v1/videos": {"prompt": (lambda value: isinstance(value, str), "a string")},
}
"""What each endpoint's body requires besides the model, and the JSON it takes there (the openai SDK's create
params: ``ChatCompletion``'s ``messages``, ``Embedding``'s ``input``, ``Completion``'s and the image and video
``prompt``, ``Moderation``'s ``input``). The API answers a request without one, or with one of another type, with
a 400 for that request once the batch runs."""
_CHAT_BODY_FIELDS = frozenset(
    {
        "messages",
        "model",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "moderation",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
BODY_FIELDS: dict[str, frozenset[str]] = {
    CHAT_URL: _CHAT_BODY_FIELDS,
    EMBEDDINGS_URL: frozenset({"input", "model", "dimensions", "encoding_format", "user"}),
    "/v1/completions": frozenset(
        {
            "model",
            "prompt",
            "best_of",
            "echo",
            "frequency_penalty",
            "logit_bias",
            "logprobs",
            "max_tokens",
            "n",
            "presence_penalty",
            "seed",
            "stop",
            "stream",
            "stream_options",
            "suffix",
            "temperature",
            "top_p",
            "user",
        }
    ),
    "/v1/moderations": frozenset({"input", "model"}),
}
"""The body fields each of these endpoints takes (the openai SDK's create params, ``stream`` included); the API
answers a request with any other field with a 400 'Unrecognized request argument supplied' once the batch runs."""
STREAMING_URLS = frozenset({CHAT_URL, "/v1/completions", "/v1/responses"})
"""The batch endpoints whose body may say ``stream``: a batch answers each request whole, so only false is taken."""
_MESSAGE_REQUIRED: dict[str, tuple[str, ...]] = {
    "system": ("content",),
    "developer": ("content",),
    "user": ("content",),
    "assistant": (),
    "tool": ("content", "tool_call_id"),
    "function": ("content", "name"),
}
"""The chat message roles and what a message of each requires besides its role (the SDK's message params)."""


def _check_messages(messages: list[Any]) -> None:
    """Each chat message an object of a known role holding what that role requires."""
    for index, message in enumerate(messages):
        path = f"body.messages[{index}]"
        if not isinstance(message, Mapping):
            raise ValueError(f"'{path}' must be a JSON object, got {json_type(message)}")
        if "role" not in message:
            raise ValueError(f"'{path}.role' is missing: a message requires it")
        role = message["role"]
        if not isinstance(role, str) or role not in _MESSAGE_REQUIRED:
            raise ValueError(f"'{path}.role' {role!r} is not one of {', '.join(_MESSAGE_REQUIRED)}")
        for name in _MESSAGE_REQUIRED[role]:
            if name not in message:
                raise ValueError(f"'{path}.{name}' is missing: a {role} message requires it")


def batch_metadata(
    display_name: str, idempotency_key: str | None, input_fingerprint: str | None, labels: Mapping[str, str]
) -> dict[str, str]:
    """A batch's ``metadata``: display name, idempotency key, input fingerprint and the user's labels.

    Key and fingerprint are stored whole, each under its own name, so a lookup compares them exactly;
    labels are checked against OpenAI's limits (pairs, key and value lengths) and the reserved names.
    """
    reserved = sorted(RESERVED_METADATA_KEYS & labels.keys())
    if reserved:
        raise ValueError(f"label(s) {', '.join(reserved)} are reserved: this provider keeps its own values there")
    if len(labels) > MAX_LABELS:
        raise ValueError(
            f"{len(labels)} labels: openai keeps {MAX_LABELS} at most next to the display name, key and fingerprint"
        )
    metadata = {DISPLAY_NAME_METADATA_KEY: display_name[:MAX_METADATA_VALUE]}
    for name, value in ((IDEMPOTENCY_METADATA_KEY, idempotency_key), (FINGERPRINT_METADATA_KEY, input_fingerprint)):
        if value is not None:
            if not value or len(value) > MAX_METADATA_VALUE:
                raise ValueError(f"metadata {name} must be 1 to {MAX_METADATA_VALUE} characters, got {value!r}")
            metadata[name] = value
    for name, value in labels.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValueError(f"label {name!r}: labels are strings to strings")
        if len(name) > MAX_METADATA_KEY or len(value) > MAX_METADATA_VALUE:
            raise ValueError(
                f"label {name!r}: keys are at most {MAX_METADATA_KEY} characters and values {MAX_METADATA_VALUE}"
            )
        metadata[name] = value
    return metadata


# --- Batch and File objects ----------------------------------------------------------------------------

_END_TIMES = ("completed_at", "failed_at", "expired_at", "cancelled_at")
_EVENT_TIMES = ("created_at", "in_progress_at", "finalizing_at", "cancelling_at", *_END_TIMES)


def parse_batch(data: Mapping[str, Any]) -> BatchJob:
    """An OpenAI Batch object as a BatchJob."""
    status = data.get("status")
    events = [t for t in (parse_unix(data.get(name)) for name in _EVENT_TIMES) if t is not None]
    return BatchJob(
        name=data["id"],
        provider=PROVIDER,
        display_name=(data.get("metadata") or {}).get("display_name"),
        model=data.get("model"),
        state=STATUSES.get(status or "", JobState.UNSPECIFIED),
        provider_state=status,
        create_time=parse_unix(data.get("created_at")),
        update_time=max(events, default=None),
        end_time=next((parse_unix(data[name]) for name in _END_TIMES if data.get(name) is not None), None),
        stats=_stats(data.get("request_counts") or {}),
        input_file=data.get("input_file_id"),
        output_file=data.get("output_file_id"),
        error_file=data.get("error_file_id"),
        error_message=_batch_errors(data.get("errors")),
        raw=dict(data),
    )


def _stats(counts: Mapping[str, Any]) -> BatchStats:
    total, succeeded, failed = (job_count(counts, name) for name in ("total", "completed", "failed"))
    return BatchStats(total=total, succeeded=succeeded, failed=failed, pending=max(total - succeeded - failed, 0))


def _batch_errors(errors: Mapping[str, Any] | None) -> str | None:
    """Job-level errors (a failed validation) as ``line N: message (code)``, joined with ``; ``."""
    items = (errors or {}).get("data") or []
    messages = []
    for item in items:
        text = str(item.get("message") or "")
        if item.get("line") is not None:
            text = f"line {item['line']}: {text}"
        if item.get("code"):
            text = f"{text} ({item['code']})"
        messages.append(text)
    return "; ".join(messages) or None


def parse_file(data: Mapping[str, Any]) -> FileInfo:
    """An OpenAI FileObject as a FileInfo."""
    return FileInfo(
        name=data["id"],
        display_name=data.get("filename"),
        size_bytes=data.get("bytes"),
        create_time=parse_unix(data.get("created_at")),
        expiration_time=parse_unix(data.get("expires_at")),
        state=data.get("status"),
        raw=dict(data),
    )


# --- output and error file lines -----------------------------------------------------------------------

_ROW_ERRORS = {"batch_expired": RowStatus.EXPIRED, "batch_cancelled": RowStatus.CANCELLED}


def result_row(line: Mapping[str, Any]) -> ResultRow:
    """One ``BatchRequestOutput`` line, from the output file or the error file.

    Landing reads every row through here, so a decoded body (a ``dict``) skips the ``Mapping`` check and a
    body without ``data`` is not looked at for an embedding.
    """
    key = line.get("custom_id")
    error = line.get("error")
    if error:
        err = error if isinstance(error, Mapping) else {"message": str(error)}
        status = _ROW_ERRORS.get(str(err.get("code")), RowStatus.FAILED)
        return ResultRow(
            key=key, status=status, error=RowError(message=str(err.get("message") or ""), code=err.get("code"))
        )
    response = line.get("response") or {}
    body = response.get("body")
    if type(body) is not dict and not isinstance(body, Mapping):
        body = {}
    if response.get("status_code") != 200:
        return ResultRow(key=key, status=RowStatus.FAILED, error=_http_error(response.get("status_code"), body))
    if not body:
        return ResultRow(key=key, status=RowStatus.FAILED, error=RowError(message=NO_OUTCOME))
    if body.get("error") or body.get("status") == "failed":
        return _failed_answer(key, body)
    text = response_text(body)
    embedded = "data" in body or body.get("object") == _EMBEDDINGS_OBJECT
    if not text and not embedded and (unanswered := _unanswered(key, body, text)) is not None:
        return unanswered
    if embedded and (type(body.get("data")) is not list or not body["data"]):
        said = "the answer holds no data (no embedding, no image)"
        return no_answer_row(key, None, said, body, _usage(body.get("usage")))
    return ResultRow(
        key=key,
        status=_SUCCEEDED,
        text=text,
        embedding=response_embedding(body) if embedded else None,
        response=body,
        usage=_usage(body.get("usage")),
    )


_SUCCEEDED = RowStatus.SUCCEEDED


def _failed_answer(key: Any, body: Mapping[str, Any]) -> ResultRow:
    """The failed row of an answer sent with status 200 whose body says it failed: an ``error`` set (a Responses
    API answer that failed carries one, with ``status: failed``). The body and its usage are kept (what it used
    was billed); the error reads as a non-200 answer's does, so a passing condition is retried."""
    err = body.get("error")
    err = err if isinstance(err, Mapping) else {"message": str(err)} if err else {}
    message = str(err.get("message") or f"the answer's status is {body.get('status')}, and it holds no error")
    error = RowError(message=message, code=err.get("code") or err.get("type"), status=err.get("type"))
    return ResultRow(key=key, status=RowStatus.FAILED, response=body, error=error, usage=_usage(body.get("usage")))


def _http_error(status_code: int | None, body: Mapping[str, Any]) -> RowError:
    err = body.get("error") or {}
    if status_code is None:
        return RowError(message=str(err.get("message") or "no response and no error"))
    message = str(err.get("message") or f"HTTP {status_code}")
    return RowError(message=message, code=err.get("code") or err.get("type") or status_code, status=err.get("type"))


def response_text(body: Mapping[str, Any]) -> str | None:
    """The text of a chat or legacy completion's first choice, or of a Responses API answer; None when there is none.
    ValueError for a choice's text that is neither a string nor null, or a Responses ``output_text`` block whose text
    is not a string (absent, null): an answer that cannot be read, never one landed with that block's text left out."""
    choices = body.get("choices")
    if choices:
        first = choices[0]
        field = "message.content" if "message" in first else "text"
        text = (first.get("message") or {}).get("content") if "message" in first else first.get("text")
        if text is not None and type(text) is not str:
            raise ValueError(f"choices[0].{field} must be a string or null, got {json_type(text)}")
        return text
    texts: list[str] = []
    for place, item in enumerate(body.get("output") or []):
        if item.get("type") != "message":
            continue
        for index, block in enumerate(item.get("content") or []):
            if block.get("type") != "output_text":
                continue
            text = block.get("text")
            if type(text) is not str:
                kind = json_type(text) if "text" in block else "nothing"
                raise ValueError(f"output[{place}].content[{index}].text must be a string, got {kind}")
            texts.append(text)
    return "".join(texts) if texts else None


FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})
"""Every ``finish_reason`` of a chat or legacy completion's choice: ``length`` is the output limit's,
``content_filter`` a block's, the others a natural end (an answer without text under one is a ``no_answer`` row
unless it made a call)."""
INCOMPLETE_REASONS = frozenset({"max_output_tokens", "max_messages", "content_filter", "steered"})
"""Every ``incomplete_details.reason`` of a Responses answer: ``max_output_tokens`` is the output limit's,
``content_filter`` a block's; the others stopped it before an answer (a ``no_answer`` row when it holds none)."""
_LIMIT_REASONS = frozenset({"length", "max_output_tokens"})
"""A choice's ``finish_reason`` and a Responses answer's ``incomplete_details.reason`` when the limit ended it."""
_EMBEDDINGS_OBJECT = "list"
"""The ``object`` of an embeddings answer, whose ``data`` must hold the embedding."""
_COMPLETION_OBJECTS = frozenset({"chat.completion", "text_completion"})
"""The ``object`` of a chat and a legacy completion: such a body answers in its ``choices``."""
_NOT_ACTIONS = frozenset({"message", "reasoning"})
"""Responses output items that are not a call the model made (a function call is an answer without text)."""


def _unanswered(key: Any, body: Mapping[str, Any], text: str | None) -> ResultRow | None:
    """The failed row of an answer without text (``text`` is empty or None) that was filtered (a choice's
    ``finish_reason`` or a Responses answer's ``incomplete_details.reason`` ``content_filter``), that the model
    refused (a ``refusal`` in place of its content), that reached the output token limit with nothing else to show
    (``length``, Responses ``max_output_tokens``: see ``OUTPUT_LIMIT``) or that holds nothing at all (``no_answer``);
    None for an answer without text (a tool call, audio) or of an endpoint that gives none (images, moderations)."""
    choices = body.get("choices")
    if "choices" in body or body.get("object") in _COMPLETION_OBJECTS:
        if type(choices) is not list or not choices:
            return no_answer_row(key, None, "the answer holds no choice", body, _usage(body.get("usage")))
        first = choices[0]
        said = first.get("message") or {}
        refusal = said.get("refusal")
        reason, field = first.get("finish_reason"), "finish_reason"
        acted = bool(said.get("tool_calls") or said.get("function_call") or said.get("audio"))
    elif "output" in body or body.get("object") == "response":
        refusals = [
            block.get("refusal")
            for item in body.get("output") or []
            if item.get("type") == "message"
            for block in item.get("content") or []
            if block.get("type") == "refusal"
        ]
        refusal = " ".join(text for text in refusals if isinstance(text, str)) if refusals else None
        reason, field = (body.get("incomplete_details") or {}).get("reason"), "incomplete_details.reason"
        kinds = [item.get("type") for item in body.get("output") or []]
        acted = any(type(kind) is str and kind not in _NOT_ACTIONS for kind in kinds)
        if reason is None:
            reason, field = body.get("status"), "status"
    else:
        return None
    if refusal is not None:
        message = f"the model refused: {refusal}" if refusal else "the model refused, and it holds no content"
        return blocked_row(key, "refusal", message, body, _usage(body.get("usage")))
    if reason in _LIMIT_REASONS and not acted:
        message = f"the answer reached the output token limit: {field} {reason}, and it holds no text"
        return output_limit_row(key, reason, message, body, _usage(body.get("usage")))
    if reason == "content_filter":
        message = f"the answer was blocked: {field} content_filter, and it holds no content"
        return blocked_row(key, reason, message, body, _usage(body.get("usage")))
    if acted or text is not None:  # an empty text the model wrote is its answer
        return None
    status = reason if isinstance(reason, str) and reason else None
    said = f"{field} {status}" if status else f"no {field}"
    message = f"the answer holds nothing: {said}, and it holds no text and no call"
    return no_answer_row(key, status, message, body, _usage(body.get("usage")))


def response_embedding(body: Mapping[str, Any]) -> list[float] | None:
    """The first embedding of an embeddings response, floats or base64 little-endian float32; None for a body of
    another endpoint (images). ValueError for an embedding that holds no numbers or something else."""
    data = body.get("data") or []
    if not data:
        return None
    if not isinstance(data[0], Mapping):
        raise ValueError(f"data[0] must be an object, got {json_type(data[0])}")
    if "embedding" not in data[0]:
        if body.get("object") == _EMBEDDINGS_OBJECT:
            raise ValueError("data[0] holds no embedding")
        return None
    embedding = data[0]["embedding"]
    if isinstance(embedding, str):
        raw = base64.b64decode(embedding, validate=True)
        if not raw or len(raw) % 4:
            raise ValueError(f"data[0].embedding holds {len(raw)} bytes, not a whole number of float32 values")
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return [float(v) for v in embedding_values(embedding, "data[0].embedding")]


def _usage(usage: Mapping[str, Any] | None) -> Usage | None:
    """The row's usage; None for none, or for one that is not an object (the answer is landed all the same)."""
    if not usage:
        return None
    try:
        get = usage.get
    except AttributeError:
        return None
    return counted_usage(
        get("prompt_tokens", get("input_tokens")), get("completion_tokens", get("output_tokens")), get("total_tokens")
    )


# --- dialect -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenAIDialect:
    """OpenAI's format policy: ``custom_id/method/url/body`` lines, uploaded as a file, portable ids."""

    provider: ClassVar[str] = PROVIDER
    vertex_fields: ClassVar[bool] = False
    native_format: ClassVar[InputFormat] = InputFormat.OPENAI
    limits: ClassVar[ProviderLimits] = ProviderLimits(
        max_requests=50_000, max_embedding_inputs=50_000, max_file_bytes=200_000_000
    )
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities(
        file_input=True, inline_input=False, embeddings=True, delete=False, labels=True
    )

    @property
    def inline(self) -> OpenAIDialect:
        """OpenAI takes no inline requests: this same dialect."""
        return self

    def to_native(self, line: Mapping[str, Any], *, model: str, embeddings: bool) -> dict[str, Any]:
        return from_gemini(line, model=model, embeddings=embeddings)

    def check_native(self, line: Mapping[str, Any], *, model: str) -> str | None:
        endpoint = check_native(line)
        line_model = line["body"].get("model")
        if line_model != model:
            raise ValueError(f"body.model {line_model!r} differs from the batch model {model!r}")
        return endpoint

    def passes_through(self, *, model: str, embeddings: bool) -> bool:
        return True

    def provider_key(self, key: str) -> str:
        return portable_id(key)

    def result_row(self, line: Mapping[str, Any]) -> ResultRow:
        return result_row(line)
