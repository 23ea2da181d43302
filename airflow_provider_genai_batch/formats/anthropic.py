"""Anthropic Message Batches wire format: canonical Gemini lines to batch requests, MessageBatch and result lines.

As for OpenAI, every Gemini field that maps is listed here and any other raises ValueError naming it; the
Gemini-reading helpers come from ``translate.py``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_provider_genai_batch.formats.anthropic_content import check_message_content, check_system
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.dialect import ProviderCapabilities, ProviderLimits
from airflow_provider_genai_batch.formats.gemini_schema import json_type
from airflow_provider_genai_batch.formats.keys import PORTABLE_ID, portable_id
from airflow_provider_genai_batch.formats.results import (
    CONTEXT_ADVICE,
    NO_OUTCOME,
    ResultRow,
    RowError,
    RowStatus,
    Usage,
    blocked_row,
    counted_usage,
    job_count,
    no_answer_row,
    output_limit_row,
)
from airflow_provider_genai_batch.formats.times import parse_rfc3339
from airflow_provider_genai_batch.formats.translate import (
    IMAGE_TYPES,
    REQUEST_REASONS,
    CallIds,
    Declaration,
    Part,
    check_fields,
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
    line_parts,
    number,
    read_parts,
    standard_base64,
    system_texts,
    text_turn,
    tool_choice,
    unsupported,
)
from airflow_provider_genai_batch.models import BatchJob, BatchStats, JobState

PROVIDER = "anthropic"
DEFAULT_MAX_TOKENS = 4096
PINNED_VERSION = "2023-06-01"
SAMPLING_REJECTED_FROM = "2026-10-21"
SAMPLING_PARAMS = frozenset({"temperature", "top_p", "top_k"})
PARAMS_FIELDS = frozenset(
    {
        "max_tokens",
        "messages",
        "model",
        "cache_control",
        "container",
        "diagnostics",
        "inference_geo",
        "metadata",
        "output_config",
        "service_tier",
        "speed",
        "stop_sequences",
        "stream",
        "system",
        "thinking",
        "tool_choice",
        "tools",
        "user_profile_id",
    }
)
"""What a batch request's params may hold besides the sampling parameters: the Messages API rejects any other field."""
REQUEST_FIELDS = frozenset({"custom_id", "params"})
"""What one request of a Message Batches create body holds (anthropic ``batch_create_params.Request``)."""
MESSAGE_FIELDS = frozenset({"role", "content"})
MESSAGE_ROLES = ("user", "assistant")
"""The roles of a message (anthropic ``MessageParam``)."""
STRICT_MESSAGE_ROLES = (*MESSAGE_ROLES, "system")
"""The roles of a message under API version 2026-10-21 and later (the 2.x SDK's ``MessageParam`` adds a system one)."""
EMBEDDINGS_UNSUPPORTED = "anthropic has no embeddings batch API"
MAX_TEMPERATURE = 1.0
DOCUMENT_TYPES = frozenset({"application/pdf"})

# generationConfig fields carried under Anthropic's name, each read as the JSON value Anthropic takes.
GENERATION_PARAMS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "temperature": ("temperature", number),
    "topP": ("top_p", number),
    "topK": ("top_k", integer),
    "stopSequences": ("stop_sequences", lambda value, path: value),
}
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""A tool name Anthropic takes (the Messages API's ``^[a-zA-Z0-9_-]{1,128}$``)."""
_TOOL_NAME_RULE = "1 to 128 of a-z, A-Z, 0-9, _ and -"
_GENERATION_HANDLED = ("maxOutputTokens", "candidateCount", "responseMimeType", "responseModalities")


def _structured(provider: str) -> str:
    """Why a response schema or JSON output is refused, naming the provider the request goes to."""
    article = "an" if provider[0] in "aeiou" else "a"
    return f"structured output cannot be expressed in {article} {provider} batch request"


_THINKING_FIELD = {
    "bedrock": "'thinking' in modelInput (InvokeModel) or modelInput.additionalModelRequestFields (Converse)"
}
"""Where a native line of a provider other than Anthropic sets extended thinking."""


@functools.cache
def _generation_reasons(provider: str) -> dict[str, str]:
    """Why each Gemini setting the Messages API has no place for is refused, naming the provider it goes to."""
    thinking = _THINKING_FIELD.get(provider, "'thinking'")
    return {
        "seed": f"{provider} has no sampling seed",
        "presencePenalty": f"{provider} has no presence penalty",
        "frequencyPenalty": f"{provider} has no frequency penalty",
        "responseSchema": _structured(provider),
        "responseJsonSchema": _structured(provider),
        "responseLogprobs": f"{provider} returns no log-probabilities",
        "logprobs": f"{provider} returns no log-probabilities",
        "thinkingConfig": f"Gemini thinking settings do not map (use a native {provider} line with {thinking})",
        "speechConfig": "speech output is Gemini-only",
        "imageConfig": "image output is Gemini-only",
        "mediaResolution": "media resolution is Gemini-only",
    }


_CHAT_FIELDS = frozenset({"model", "contents", "systemInstruction", "generationConfig", "tools", "toolConfig"})
_GENERATION_FIELDS = frozenset({*GENERATION_PARAMS, *_GENERATION_HANDLED})
_COUNTS = ("processing", "succeeded", "errored", "canceled", "expired")
_EVENT_TIMES = ("created_at", "ended_at", "cancel_initiated_at", "archived_at")


# --- canonical line -> Anthropic batch request ---------------------------------------------------------


def from_gemini(
    line: Mapping[str, Any], *, model: str, max_tokens: int = DEFAULT_MAX_TOKENS, provider: str = PROVIDER
) -> dict[str, Any]:
    """One canonical ``{"key", "request"}`` line as a Message Batches request; ValueError for what cannot map, naming
    ``provider``, the one the params go to (Bedrock sends them too, as InvokeModel bodies or rewritten for Converse)."""
    key, request = line_parts(line)
    check_metadata_carried(line, provider)
    if "content" in request and "contents" not in request:
        raise ValueError(EMBEDDINGS_UNSUPPORTED)
    check_model(request, model, provider)
    check_fields(request, _CHAT_FIELDS, "request", provider, REQUEST_REASONS)
    params = request_params(
        request,
        model=model,
        max_tokens=max_tokens,
        provider=provider,
        messages=lambda: _messages(request.get("contents"), provider),
        sampling=sampling_params,
        declare=function_declarations,
        tools=lambda declarations: tool_list(declarations, provider),
    )
    return {"custom_id": portable_id(key), "params": params}


def request_params(
    request: Mapping[str, Any],
    *,
    model: str,
    max_tokens: int,
    provider: str,
    messages: Callable[[], list[dict[str, Any]]],
    sampling: Callable[[Mapping[str, Any], str], dict[str, Any]],
    declare: Callable[[Any, str], list[Declaration]],
    tools: Callable[[list[Declaration]], list[dict[str, Any]]],
) -> dict[str, Any]:
    """The Message Batches ``params`` of a request whose fields are checked, for ``provider``: ``messages`` builds its
    messages (after the token limit is read, so the first problem is reported first), ``sampling`` reads its
    settings (:func:`sampling_params`), ``declare`` its tools and ``tools`` writes them (:func:`tool_list`); shared
    with the translation of :mod:`.common_translate`, which reads a run of lines repeating their settings and tools
    once."""
    config = request.get("generationConfig")
    gen = fields(config if config is not None else {}, "generationConfig")
    params: dict[str, Any] = {"model": model, "max_tokens": _max_tokens(gen, max_tokens), "messages": messages()}
    for index, message in enumerate(params["messages"]):
        if _has_blank_text(message["content"]):
            raise unsupported(f"contents[{index}].parts", provider, BLANK_TEXT)
    if "systemInstruction" in request:
        params["system"] = message_content(
            [_text_block(t) for t in system_texts(request["systemInstruction"], provider)]
        )
        if _has_blank_text(params["system"]):
            raise unsupported("systemInstruction.parts", provider, BLANK_TEXT)
    if gen:  # no settings: no sampling parameters, nothing to check
        params.update(sampling(gen, provider))
    declarations = declare(request["tools"], provider) if "tools" in request else []
    if declarations:
        params["tools"] = tools(declarations)
    if "toolConfig" in request:
        params["tool_choice"] = _tool_choice(*tool_choice(request["toolConfig"], provider, declarations))
    return params


BLANK_TEXT = "it refuses a text part of only whitespace"
"""Why a text of only whitespace is refused: the Messages API refuses it (an empty one Gemini refuses too), which
Gemini takes."""


def _has_blank_text(content: str | list[dict[str, Any]]) -> bool:
    """Whether message content holds a text that is empty or only whitespace (one loop, no list: every line pays it)."""
    if isinstance(content, str):
        return not content or content.isspace()
    for block in content:
        if block["type"] == "text":
            text = block["text"]
            if not text or text.isspace():
                return True
    return False


def _max_tokens(gen: Mapping[str, Any], default: int) -> int:
    if "maxOutputTokens" not in gen:
        if isinstance(default, bool) or not isinstance(default, int) or default < 1:
            raise ValueError(f"the default max_tokens must be a positive integer, got {default!r}")
        return default
    value = integer(gen["maxOutputTokens"], "generationConfig.maxOutputTokens")
    if value < 1:
        raise ValueError(f"generationConfig.maxOutputTokens must be a positive integer, got {value!r}")
    return value


def sampling_params(gen: Mapping[str, Any], provider: str) -> dict[str, Any]:
    """The sampling parameters of non-empty generation settings, checked for what Anthropic takes; errors name
    ``provider``, the one the params go to."""
    check_fields(gen, _GENERATION_FIELDS, "generationConfig", provider, _generation_reasons(provider))
    if integer(gen.get("candidateCount", 1), "generationConfig.candidateCount") != 1:
        raise unsupported("generationConfig.candidateCount", provider, "it returns one answer per request")
    check_text_modality(gen, provider)
    mime = gen.get("responseMimeType")
    if mime not in (None, "", "text/plain"):
        why = _structured(provider) if mime == "application/json" else f"{mime} has no equivalent there"
        raise unsupported("generationConfig.responseMimeType", provider, why)
    params = {
        param: read(gen[name], f"generationConfig.{name}")
        for name, (param, read) in GENERATION_PARAMS.items()
        if name in gen
    }
    if "temperature" in params:
        check_range(params["temperature"], "generationConfig.temperature", provider, 0, MAX_TEMPERATURE)
    return params


def _messages(contents: Any, provider: str) -> list[dict[str, Any]]:
    if not isinstance(contents, list) or not contents:
        raise ValueError("request.contents must be a non-empty list")
    ids = CallIds(provider)
    messages = []
    for i, content in enumerate(contents):
        path = f"contents[{i}]"
        turn = text_turn(content)
        if turn is not None:
            role, texts = turn
            ids.turn(role, path)
            ids.end_turn(role, path)
            content_of = message_content([_text_block(text) for text in texts])
            messages.append({"role": "assistant" if role == "model" else "user", "content": content_of})
            continue
        role, parts = read_parts(content, path, provider)
        ids.turn(role, path)
        blocks = [content_block(part, role, ids, path, provider) for part in parts]
        ids.end_turn(role, path)
        # Anthropic wants a user turn's tool results before anything else in it; the sort is stable.
        blocks.sort(key=lambda block: block["type"] != "tool_result")
        messages.append({"role": "assistant" if role == "model" else "user", "content": message_content(blocks)})
    ids.finish("contents")
    return messages


def content_block(part: Part, role: str, ids: CallIds, path: str, provider: str) -> dict[str, Any]:
    """One Gemini part as an Anthropic content block, checked against the turn it is in; errors name ``provider``."""
    if part.kind == "text":
        return _text_block(part.value)
    if part.kind == "functionCall":
        if role != "model":
            raise ValueError(f"{part.path}.functionCall must be in a model turn")
        return {
            "type": "tool_use",
            "id": ids.call(part.value, path),
            "name": part.value["name"],
            "input": part.value.get("args", {}),
        }
    if part.kind == "functionResponse":
        if role != "user":
            raise ValueError(f"{part.path}.functionResponse must be in a user turn")
        result = compact_json(part.value.get("response", {}), part.path, "functionResponse.response")
        return {"type": "tool_result", "tool_use_id": ids.answer(part.value, part.path), "content": result}
    if role == "model":
        raise unsupported(f"{part.path}.inlineData", provider, "a model turn can hold only text and function calls")
    return _media_block(part, provider)


def _media_block(part: Part, provider: str) -> dict[str, Any]:
    mime = part.value["mimeType"]
    if mime not in IMAGE_TYPES and mime not in DOCUMENT_TYPES:
        accepted = ", ".join(sorted(IMAGE_TYPES | DOCUMENT_TYPES))
        raise unsupported(f"{part.path}.inlineData", provider, f"{mime} is not one of the types it takes ({accepted})")
    data = standard_base64(part.value["data"], f"{part.path}.inlineData.data")
    source = {"type": "base64", "media_type": mime, "data": data}
    return {"type": "document" if mime in DOCUMENT_TYPES else "image", "source": source}


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def message_content(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """A lone text block as a plain string, anything else as the list of blocks."""
    if len(blocks) == 1 and blocks[0]["type"] == "text":
        text: str = blocks[0]["text"]
        return text
    return blocks


def tool_list(declarations: list[Declaration], provider: str) -> list[dict[str, Any]]:
    """Function declarations as Message Batches tools, their names and schemas checked for what Anthropic takes;
    errors name ``provider``."""
    return [_tool(declaration, provider) for declaration in declarations]


def _tool(declaration: Declaration, provider: str) -> dict[str, Any]:
    check_name(declaration.name, f"{declaration.path}.name", provider, TOOL_NAME, _TOOL_NAME_RULE)
    tool: dict[str, Any] = {"name": declaration.name}
    if declaration.description is not None:
        tool["description"] = declaration.description
    if declaration.parameters is None:
        tool["input_schema"] = {"type": "object", "properties": {}}
    else:
        check_object_schema(declaration.parameters, f"{declaration.path}.parameters", provider)
        tool["input_schema"] = declaration.parameters
    return tool


def _tool_choice(mode: str, forced: str | None) -> dict[str, Any]:
    if forced is not None:
        return {"type": "tool", "name": forced}
    return {"type": mode}


# --- native lines --------------------------------------------------------------------------------------


def check_native(line: Mapping[str, Any], roles: tuple[str, ...] = MESSAGE_ROLES) -> None:
    """Check an Anthropic-native batch request (``custom_id`` + ``params``), its messages of ``roles``;
    ValueError(reason) if bad."""
    extra = sorted(line.keys() - REQUEST_FIELDS)
    if extra:
        raise ValueError(
            f"the line has {', '.join(extra)}: a batch request holds only custom_id and params, and the Message "
            "Batches API refuses the whole batch for any other field"
        )
    custom_id = line.get("custom_id")
    if not isinstance(custom_id, str) or not PORTABLE_ID.match(custom_id):
        raise ValueError(f"'custom_id' {custom_id!r} must match [A-Za-z0-9_-]{{1,64}}")
    params = line.get("params")
    if not isinstance(params, Mapping):
        raise ValueError("'params' must be a JSON object")
    if not isinstance(params.get("model"), str) or not params["model"]:
        raise ValueError("'params.model' must be a non-empty string")
    max_tokens = params.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"'params.max_tokens' must be a positive integer, got {max_tokens!r}")
    messages = params.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("'params.messages' must be a non-empty list")
    unknown = sorted(params.keys() - PARAMS_FIELDS - SAMPLING_PARAMS)
    if unknown:
        raise ValueError(f"'params' has {', '.join(unknown)}, which the Messages API does not take")
    if "stream" in params and params["stream"] is not False:
        raise ValueError(
            "'params.stream' must be false or absent: a batch request is never streamed, and the Message Batches "
            "API errors a request asking for a stream once the batch runs"
        )
    for index, message in enumerate(messages):
        check_native_message(message, f"params.messages[{index}]", roles, final=index == len(messages) - 1)
    check_system(params.get("system"), "params.system")
    check_native_sampling(params, "params")
    _check_native_tools(params.get("tools"))
    _check_native_tool_choice(params.get("tool_choice"))


def check_native_sampling(params: Mapping[str, Any], where: str) -> None:
    """Native sampling params (at ``where`` in the line) of the API's types, null being unset: ``temperature`` and
    ``top_p`` numbers from 0 to 1, ``top_k`` an integer of at least 0, ``stop_sequences`` a list of strings; the API
    errors any other request."""
    for name in ("temperature", "top_p"):
        value = params.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1
        ):
            raise ValueError(f"'{where}.{name}' must be a number from 0 to 1, got {value!r}")
    top_k = params.get("top_k")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0):
        raise ValueError(f"'{where}.top_k' must be an integer of at least 0, got {top_k!r}")
    stops = params.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(stop, str) for stop in stops)):
        raise ValueError(f"'{where}.stop_sequences' must be a list of strings, got {stops!r}")


TOOL_CHOICE_TYPES = ("auto", "any", "tool", "none")
"""The tags of a ``tool_choice`` (anthropic ``ToolChoiceParam``)."""


def _check_native_tools(tools: Any) -> None:
    """Native ``params.tools``: a list whose custom tools (no ``type``, or ``custom``) each have a name the API takes
    and an ``input_schema`` of type object; server tools (a versioned ``type``) are the API's to check."""
    if tools is None:
        return
    if not isinstance(tools, list):
        raise ValueError(f"'params.tools' must be a list, got {json_type(tools)}")
    for index, tool in enumerate(tools):
        path = f"params.tools[{index}]"
        if not isinstance(tool, Mapping):
            raise ValueError(f"'{path}' must be a JSON object, got {json_type(tool)}")
        if tool.get("type") not in (None, "custom"):
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
            raise ValueError(f"'{path}.name' {name!r} is not {_TOOL_NAME_RULE}")
        schema = tool.get("input_schema")
        if not isinstance(schema, Mapping) or schema.get("type") != "object":
            raise ValueError(f"'{path}.input_schema' must be a JSON schema of type object")


def _check_native_tool_choice(choice: Any) -> None:
    """Native ``params.tool_choice``: an object of one of the API's types, a ``tool`` one naming its tool."""
    if choice is None:
        return
    if not isinstance(choice, Mapping) or choice.get("type") not in TOOL_CHOICE_TYPES:
        raise ValueError(f"'params.tool_choice' must be an object whose type is one of {', '.join(TOOL_CHOICE_TYPES)}")
    if choice["type"] == "tool" and not isinstance(choice.get("name"), str):
        raise ValueError("'params.tool_choice.name' is missing: a tool choice of type tool names its tool")


def check_native_message(message: Any, path: str, roles: tuple[str, ...], *, final: bool) -> None:
    """One message of native Messages API params (``MessageParam``), the last one when ``final``: an object of only a
    role of ``roles`` and its content, a text or a list of content blocks the API takes (see
    :mod:`.anthropic_content`); the API answers any other with a 400 for the request."""
    if not isinstance(message, Mapping):
        raise ValueError(f"'{path}' must be a JSON object")
    extra = sorted(message.keys() - MESSAGE_FIELDS)
    if extra:
        raise ValueError(f"'{path}' has {', '.join(extra)}: a message holds only role and content")
    if "role" not in message:
        raise ValueError(f"'{path}.role' is missing: a message requires it")
    role = message["role"]
    if role not in roles:
        raise ValueError(f"'{path}.role' {role!r} is not one of {', '.join(roles)}")
    if "content" not in message:
        raise ValueError(f"'{path}.content' is missing: a message requires it")
    check_message_content(message["content"], f"{path}.content", role, final=final)


# --- MessageBatch objects ------------------------------------------------------------------------------


def _counts(data: Mapping[str, Any]) -> dict[str, int]:
    counts = data.get("request_counts") or {}
    return {name: job_count(counts, name) for name in _COUNTS}


def state_of(data: Mapping[str, Any]) -> JobState:
    """The job state of a MessageBatch: an ``ended`` batch is judged from its counts and cancel time."""
    status = data.get("processing_status")
    if status == "in_progress":
        return JobState.RUNNING
    if status == "canceling":
        return JobState.CANCELLING
    if status != "ended":
        return JobState.UNSPECIFIED
    counts = _counts(data)
    total = sum(counts.values())
    if data.get("cancel_initiated_at"):
        return JobState.CANCELLED
    if total and counts["expired"] == total:
        return JobState.EXPIRED
    unsuccessful = counts["errored"] + counts["expired"] + counts["canceled"]
    if counts["succeeded"] == 0 and counts["errored"] > 0 and unsuccessful == total:
        return JobState.FAILED
    return JobState.SUCCEEDED


def parse_batch(data: Mapping[str, Any]) -> BatchJob:
    """A MessageBatch as a BatchJob; expired and canceled requests count as neither succeeded, failed nor pending."""
    counts = _counts(data)
    state = state_of(data)
    events = [t for t in (parse_rfc3339(data.get(name)) for name in _EVENT_TIMES) if t is not None]
    return BatchJob(
        name=data["id"],
        provider=PROVIDER,
        state=state,
        provider_state=data.get("processing_status"),
        create_time=parse_rfc3339(data.get("created_at")),
        update_time=max(events, default=None),
        end_time=parse_rfc3339(data.get("ended_at")),
        stats=BatchStats(
            total=sum(counts.values()),
            succeeded=counts["succeeded"],
            failed=counts["errored"],
            pending=counts["processing"],
        ),
        output_file=data.get("results_url"),
        error_message=_error_message(state, counts, data),
        raw=dict(data),
    )


def _error_message(state: JobState, counts: Mapping[str, int], data: Mapping[str, Any]) -> str | None:
    total = sum(counts.values())
    if state is JobState.CANCELLED:
        return f"cancelled at {data['cancel_initiated_at']}"
    if state is JobState.EXPIRED:
        return f"all {total} requests expired"
    if state is not JobState.FAILED:
        return None
    if counts["errored"] == total:
        return f"all {total} requests errored"
    return (
        f"no request succeeded: {counts['errored']} errored, {counts['expired']} expired, {counts['canceled']} canceled"
    )


# --- results lines -------------------------------------------------------------------------------------

_ROW_STATUSES = {"canceled": RowStatus.CANCELLED, "expired": RowStatus.EXPIRED}


def result_row(line: Mapping[str, Any]) -> ResultRow:
    """One ``MessageBatchIndividualResponse`` line of the results stream."""
    key = line.get("custom_id")
    result = line.get("result") or {}
    kind = result.get("type")
    if kind == "succeeded":
        message = result.get("message")
        if not message:
            return ResultRow(key=key, status=RowStatus.FAILED, error=RowError(message=NO_OUTCOME))
        text = message_text(message)
        usage = usage_of(message.get("usage"))
        if not text and (unanswered := unanswered_row(key, message, usage)) is not None:
            return unanswered
        return ResultRow(key=key, status=RowStatus.SUCCEEDED, text=text, response=message, usage=usage)
    if kind in _ROW_STATUSES:
        return ResultRow(key=key, status=_ROW_STATUSES[kind])
    if kind == "errored":
        error = (result.get("error") or {}).get("error") or {}
        return ResultRow(
            key=key,
            status=RowStatus.FAILED,
            error=RowError(message=str(error.get("message") or ""), code=error.get("type")),
        )
    return ResultRow(key=key, status=RowStatus.FAILED, error=RowError(message=f"unknown result type {kind!r}"))


REFUSAL = "refusal"
"""The ``stop_reason`` of a Message the model declined to answer."""


MAX_TOKENS = "max_tokens"
"""The ``stop_reason`` of a Message that reached its ``max_tokens``."""
CONTEXT_WINDOW = "model_context_window_exceeded"
"""The ``stop_reason`` of a Message that reached the model's context window (its prompt and output together)."""
PAUSE_TURN = "pause_turn"
"""The ``stop_reason`` of a Message whose turn a server tool's loop paused: the answer goes on only when the Message
is sent back, which a batch does not do."""
STOP_REASONS = frozenset(
    {"end_turn", "stop_sequence", "tool_use", PAUSE_TURN, "compaction", REFUSAL, MAX_TOKENS, CONTEXT_WINDOW}
)
"""Every ``stop_reason`` (``compaction`` a beta one): ``refusal`` is a block's, ``max_tokens`` and the context
window's the output limit's; under any other a Message with no text and no tool call is a ``no_answer`` row."""
ANSWER_BLOCKS = frozenset({"text", "tool_use"})
"""Content blocks that are an answer: text, or a call of the user's tool (an answer without text)."""


def unanswered_row(key: Any, message: Mapping[str, Any], usage: Usage | None) -> ResultRow | None:
    """The failed row of a Message without text that the model refused (``stop_reason`` ``refusal``), that reached
    ``max_tokens`` or the model's context window before any text or tool call (see ``OUTPUT_LIMIT``), or that holds
    neither for another reason (a paused turn, a natural end with nothing written: see ``NO_ANSWER``); None for one
    that holds a text block or a tool call."""
    reason = message.get("stop_reason")
    if reason == REFUSAL:
        return blocked_row(key, REFUSAL, "the model refused: stop_reason refusal, and it gave no text", message, usage)
    if any(block.get("type") in ANSWER_BLOCKS for block in message.get("content") or ()):
        return None
    if reason == MAX_TOKENS:
        said = "the answer reached the output token limit: stop_reason max_tokens, and it holds no text"
        return output_limit_row(key, MAX_TOKENS, said, message, usage)
    if reason == CONTEXT_WINDOW:
        said = f"the answer reached the model's context window: stop_reason {CONTEXT_WINDOW}, and it holds no text"
        return output_limit_row(key, CONTEXT_WINDOW, said, message, usage, CONTEXT_ADVICE)
    status = reason if isinstance(reason, str) and reason else None
    if status == PAUSE_TURN:
        said = (
            "the turn was paused: stop_reason pause_turn (a server tool's loop stopped before an answer), and it holds "
            "no text and no tool call; a batch cannot send it back to go on"
        )
    else:
        why = f"stop_reason {status}" if status else "no stop_reason"
        said = f"the answer holds nothing: {why}, and it holds no text and no tool call"
    return no_answer_row(key, status, said, message, usage)


def message_text(message: Mapping[str, Any]) -> str | None:
    """The text blocks of a Message joined; None when it has none (e.g. only a tool call).

    ValueError for content that is not a list of typed blocks, or a text block whose text is not a string: a line
    that cannot be read (an unparseable row), not an answer whose text is left out.
    """
    content = message.get("content")
    if type(content) is not list:
        raise ValueError(f"message.content must be a list of content blocks, got {json_type(content)}")
    texts = []
    for index, block in enumerate(content):
        kind = block.get("type") if type(block) is dict else None
        if type(kind) is not str:
            raise ValueError(f"message.content[{index}] is not a content block: it has no type")
        if kind == "text":
            text = block.get("text")
            if type(text) is not str:
                raise ValueError(f"message.content[{index}].text must be a string, got {json_type(text)}")
            texts.append(text)
    return "".join(texts) if texts else None


def usage_of(usage: Mapping[str, Any] | None) -> Usage | None:
    """Anthropic counts cache writes and reads apart from ``input_tokens``; they are input too.

    A usage that cannot be added up (not an object, a count that is not an integer from 0 to 2**53 - 1) is None: the
    answer it came with was paid for and is landed all the same.
    """
    if not usage:
        return None
    try:
        get = usage.get
        counts = (get("input_tokens"), get("cache_creation_input_tokens"), get("cache_read_input_tokens"))
        made = get("output_tokens")
    except AttributeError:
        return None
    if any(counted_usage(count) is None for count in (*counts, made)):
        return None
    given, made = sum(count or 0 for count in counts), made or 0
    return counted_usage(given, made, given + made)


# --- dialect -----------------------------------------------------------------------------------------


INLINE_ENVELOPE_BYTES = len(b'{"requests":[]}')
"""The most a Message Batches create body holds besides its requests, sent as their lines are (each LF standing
for the comma after it): it carries no name, model or metadata."""


@dataclass(frozen=True)
class AnthropicDialect:
    """Anthropic's format policy: ``custom_id/params`` requests sent inline, under a pinned API version.

    ``default_max_tokens`` fills a request that sets no ``maxOutputTokens`` (Anthropic requires one);
    ``anthropic_version`` decides whether sampling parameters are allowed in a batch.
    """

    anthropic_version: str = PINNED_VERSION
    default_max_tokens: int = DEFAULT_MAX_TOKENS

    provider: ClassVar[str] = PROVIDER
    vertex_fields: ClassVar[bool] = False
    native_format: ClassVar[InputFormat] = InputFormat.ANTHROPIC
    limits: ClassVar[ProviderLimits] = ProviderLimits(
        max_requests=100_000, max_inline_bytes=256_000_000, inline_envelope_bytes=INLINE_ENVELOPE_BYTES
    )
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities(
        file_input=False, inline_input=True, embeddings=False, find_by_key=False
    )

    @property
    def inline(self) -> AnthropicDialect:
        """Every request goes inline, in this same format."""
        return self

    def to_native(self, line: Mapping[str, Any], *, model: str, embeddings: bool) -> dict[str, Any]:
        if embeddings:
            raise ValueError(EMBEDDINGS_UNSUPPORTED)
        request = from_gemini(line, model=model, max_tokens=self.default_max_tokens)
        self._check_version_allows(request["params"])
        return request

    def check_native(self, line: Mapping[str, Any], *, model: str) -> str | None:
        check_native(line, STRICT_MESSAGE_ROLES if self.anthropic_version >= SAMPLING_REJECTED_FROM else MESSAGE_ROLES)
        line_model = line["params"]["model"]
        if line_model != model:
            raise ValueError(
                f"params.model {line_model!r} differs from the batch model {model!r}: "
                "a native line must name the model the batch is submitted for"
            )
        self._check_version_allows(line["params"])
        return None

    def _check_version_allows(self, params: Mapping[str, Any]) -> None:
        """API version 2026-10-21 and later reject, inside a batch, sampling parameters, documents in assistant
        turns and citations on user text blocks: say so up front."""
        if self.anthropic_version < SAMPLING_REJECTED_FROM:
            return
        sampling = sorted(SAMPLING_PARAMS & params.keys())
        if sampling:
            raise ValueError(
                f"anthropic-version {self.anthropic_version} rejects {', '.join(sampling)} in batch "
                f"requests; remove them or pin {PINNED_VERSION}"
            )
        for index, message in enumerate(params["messages"]):
            blocks = message.get("content")
            for position, block in enumerate(blocks if isinstance(blocks, list) else []):
                if not isinstance(block, Mapping):
                    continue
                where = f"params.messages[{index}].content[{position}]"
                if message.get("role") == "assistant" and block.get("type") == "document":
                    raise ValueError(
                        f"anthropic-version {self.anthropic_version} rejects a document in an assistant "
                        f"message ({where}); pin {PINNED_VERSION}"
                    )
                if message.get("role") == "user" and block.get("type") == "text" and "citations" in block:
                    raise ValueError(
                        f"anthropic-version {self.anthropic_version} rejects citations on a user text block "
                        f"({where}); pin {PINNED_VERSION}"
                    )

    def passes_through(self, *, model: str, embeddings: bool) -> bool:
        return True

    def provider_key(self, key: str) -> str:
        return portable_id(key)

    def result_row(self, line: Mapping[str, Any]) -> ResultRow:
        return result_row(line)
