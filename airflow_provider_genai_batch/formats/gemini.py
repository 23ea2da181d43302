"""Gemini batch wire format: SDK-style requests to REST, Operations to BatchJob, result lines to rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.dialect import ProviderCapabilities, ProviderLimits
from airflow_provider_genai_batch.formats.gemini_line import check_api_rules, check_metadata
from airflow_provider_genai_batch.formats.gemini_schema import FieldSpec, enum_names, message_fields
from airflow_provider_genai_batch.formats.results import (
    NO_OUTCOME,
    ResultRow,
    RowError,
    RowStatus,
    Usage,
    blocked_row,
    counted_usage,
    embedding_values,
    int64_count,
    no_answer_row,
    output_limit_row,
)
from airflow_provider_genai_batch.formats.times import parse_rfc3339
from airflow_provider_genai_batch.formats.validate import INLINE_SOURCE
from airflow_provider_genai_batch.idempotency import DISPLAY_NAME_MAX
from airflow_provider_genai_batch.models import BatchJob, BatchStats, FileInfo, JobState

PROVIDER = "gemini"

_WIRE_STATES = ("UNSPECIFIED", "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED")
BATCH_STATES: dict[str, JobState] = {
    **{f"BATCH_STATE_{name}": JobState[name] for name in _WIRE_STATES},
    **{state.value: state for state in JobState},
}
"""The batch's ``metadata.state``: a ``BatchState`` on the wire, or one of google-genai's ``JOB_STATE_*`` names (the
batch guide's own REST sample compares the state with ``JOB_STATE_SUCCEEDED``), each read as that state."""

INLINE_OUTPUT_FIELDS = ("inlinedResponses", "inlinedEmbedContentResponses")
"""The output fields that hold a batch's inline responses (each as ``{"inlinedResponses": [...]}``)."""
FILE_DISPLAY_NAME_MAX = 512
"""The most characters the Files API takes in a file's display name."""

# SDK GenerateContentConfig fields google-genai puts at the top of the GenerateContentRequest (the others go under
# generationConfig, under their camelCase name).
_HOISTED = frozenset(
    {"system_instruction", "safety_settings", "tools", "tool_config", "labels", "cached_content", "service_tier",
     "continuation_token", "store"}
)  # fmt: skip
_GENERATION = frozenset(
    {
        "temperature", "top_p", "top_k", "candidate_count", "max_output_tokens", "stop_sequences",
        "response_logprobs", "logprobs", "presence_penalty", "frequency_penalty", "seed", "response_mime_type",
        "response_schema", "response_json_schema", "response_modalities", "media_resolution", "speech_config",
        "thinking_config", "image_config", "enable_enhanced_civic_answers", "audio_transcription_config",
    }
)  # fmt: skip
_VERTEX_ONLY = frozenset(
    {"routing_config", "model_selection_config", "audio_timestamp", "model_armor_config", "generation_output_config"}
)
# Where google-genai puts each Vertex-only config field on Vertex's wire: (under generationConfig, REST name).
_VERTEX_WIRE = {
    "routing_config": (True, "routingConfig"),
    "model_selection_config": (True, "modelConfig"),
    "audio_timestamp": (True, "audioTimestamp"),
    "model_armor_config": (False, "modelArmorConfig"),
    "generation_output_config": (False, "outputConfig"),
}
_EMBED_CONFIG = frozenset({"task_type", "title", "output_dimensionality"})
CANONICAL_ITEM_FIELDS = frozenset({"key", "request", "metadata"})
SDK_ITEM_FIELDS = frozenset({"key", "metadata", "model", "contents", "config"})
SDK_EMBED_ITEM_FIELDS = frozenset({"key", "metadata", "model", "content", "config"})
_CONTENT_FIELDS = frozenset({"parts", "role"})


def camel(name: str) -> str:
    """``snake_case`` to ``camelCase``; camelCase names pass through."""
    if "_" not in name:
        return name
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def rest_message(value: Any, message: str) -> Any:
    """A message written with SDK (snake_case) or REST names, in REST spelling, as the schema names its fields.

    User data (function arguments and results, JSON schemas, map keys such as schema property names and labels)
    is kept as written; enum values are matched case-insensitively as google-genai matches them; a field the
    schema does not know is kept as written, for the request check to name. ValueError when one field is given
    under both spellings.
    """
    if not isinstance(value, Mapping):
        return value
    fields = message_fields(message)
    out: dict[str, Any] = {}
    written: dict[str, str] = {}
    for name, item in value.items():
        spec = fields.get(name)
        target = spec.json_name if spec is not None else name
        if target in written:
            raise ValueError(f"{message} sets {written[target]!r} and {name!r}, one field twice")
        written[target] = name
        out[target] = _rest_value(item, spec) if spec is not None else item
    return out


def _rest_value(value: Any, spec: FieldSpec) -> Any:
    if spec.kind == "map":
        inner = spec.map_value
        if inner is not None and inner.kind == "message" and isinstance(value, Mapping):
            return {key: rest_message(item, str(inner.message)) for key, item in value.items()}
        return value
    if spec.repeated and isinstance(value, list):
        return [_rest_item(item, spec) for item in value]
    return _rest_item(value, spec)


def _rest_item(value: Any, spec: FieldSpec) -> Any:
    if spec.kind == "message":
        return rest_message(value, str(spec.message))
    if spec.kind == "enum" and isinstance(value, str):
        names = enum_names(str(spec.enum))
        return value.upper() if value not in names and value.upper() in names else value
    return value


def to_part(value: Any) -> dict[str, Any]:
    """An SDK part (a string or a Part dict) as a REST Part."""
    if not _is_part(value):
        raise ValueError(f"cannot read {_describe(value)} as a content part")
    if isinstance(value, str):
        return {"text": value}
    part: dict[str, Any] = rest_message(value, "Part")
    return part


def _is_part(value: Any) -> bool:
    """A string, or a non-empty dict of Part fields (google-genai reads any other dict as a Content)."""
    if isinstance(value, str):
        return True
    return isinstance(value, Mapping) and bool(value) and set(value) <= message_fields("Part").keys()


def _content_of(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Parts as one turn: the model's when any is a function call (google-genai's ModelContent), else the user's."""
    role = "model" if any("functionCall" in part for part in parts) else "user"
    return {"parts": parts, "role": role}


def to_content(value: Any) -> dict[str, Any]:
    """One SDK content (a string, a list of parts, a Content dict or a Part dict) as a REST Content (``t_content``)."""
    if isinstance(value, str):
        return {"parts": [{"text": value}], "role": "user"}
    if isinstance(value, list):
        return {"parts": [to_part(item) for item in value], "role": "user"}
    if isinstance(value, Mapping):
        if set(value) <= _CONTENT_FIELDS:
            content: dict[str, Any] = rest_message(value, "Content")
            return content
        return _content_of([to_part(value)])
    raise ValueError(f"cannot read {_describe(value)} as content")


def to_contents(value: Any) -> list[dict[str, Any]]:
    """SDK ``contents`` as REST ``contents``, as google-genai's ``t_contents`` groups them.

    Consecutive parts (strings, Part dicts) become one turn, the user's, or the model's for function calls; a
    Content dict is a turn of its own; a nested list is one user turn.
    """
    if value is None or (isinstance(value, list) and not value):
        raise ValueError("contents must not be empty")
    if not isinstance(value, list):
        return [to_content(value)]
    turns: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for item in value:
        if isinstance(item, list) or not _is_part(item):
            if pending:
                turns.append(_content_of(pending))
                pending = []
            turns.append(to_content(item) if isinstance(item, list) else _turn(item))
            continue
        part = to_part(item)
        if pending and ("functionCall" in part) != ("functionCall" in pending[0]):
            turns.append(_content_of(pending))
            pending = []
        pending.append(part)
    if pending:
        turns.append(_content_of(pending))
    return turns


def _turn(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"cannot read {_describe(value)} as content")
    content: dict[str, Any] = rest_message(value, "Content")
    return content


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return f"an object with {', '.join(map(repr, value)) or 'no fields'}"
    return type(value).__name__


def sdk_model(model: Any) -> str:
    """An SDK model name as the REST ``model`` (``models/`` prepended, as google-genai's ``t_model`` does)."""
    if not isinstance(model, str) or not model:
        raise ValueError(f"'model' must be a non-empty string, got {model!r}")
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


def _config(item: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """An item's ``config`` fields as ``snake_case name -> (name as written, value)``, each field once; a None
    value is unset, as google-genai skips it. A name that is no text (None, a number, bytes) names no field."""
    config = item.get("config")
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise ValueError(f"'config' must be an object of config fields, got {type(config).__name__}")
    fields: dict[str, tuple[str, Any]] = {}
    written: dict[str, str] = {}
    for name, value in config.items():
        if not isinstance(name, str):
            raise ValueError(f"config field names are text, not {name!r}")
        snake = _snake(name)
        if snake in written:
            raise ValueError(f"config sets {written[snake]!r} and {name!r}, one field twice")
        written[snake] = name
        if value is not None:
            fields[snake] = (name, value)
    return fields


def generate_request_from_sdk(item: Mapping[str, Any], *, vertex: bool = False) -> dict[str, Any]:
    """An SDK-style inlined request (``contents`` + snake_case ``config``) as a REST GenerateContentRequest; with
    ``vertex``, for Vertex AI, whose own config fields go where google-genai puts them (their values as written)."""
    request: dict[str, Any] = {"contents": to_contents(item["contents"])}
    if "model" in item:
        request["model"] = sdk_model(item["model"])
    request_fields = message_fields("GenerateContentRequest")
    generation_fields = message_fields("GenerationConfig")
    generation: dict[str, Any] = {}
    for snake, (name, value) in _config(item).items():
        if snake in _VERTEX_ONLY and not vertex:
            raise ValueError(f"config field {name!r} is only supported on Vertex AI, not the Gemini API")
        if snake in _VERTEX_ONLY:
            generation_field, wire_name = _VERTEX_WIRE[snake]
            (generation if generation_field else request)[wire_name] = value
        elif snake == "system_instruction":
            request["systemInstruction"] = to_content(value)
        elif snake == "cached_content":
            request["cachedContent"] = _cached_content_name(value)
        elif snake in _HOISTED:
            request[camel(snake)] = _rest_value(value, request_fields[snake])
        elif snake == "speech_config" and isinstance(value, str):
            generation["speechConfig"] = {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": value}}}
        elif snake in _GENERATION:
            generation[camel(snake)] = _rest_value(value, generation_fields[snake])
        else:
            raise ValueError(f"unknown config field {name!r}")
    if generation:
        request["generationConfig"] = generation
    return request


def _cached_content_name(value: Any) -> Any:
    """A bare cache id gets the ``cachedContents/`` collection, as google-genai completes it."""
    return f"cachedContents/{value}" if isinstance(value, str) and value and "/" not in value else value


def embed_request_from_sdk(item: Mapping[str, Any]) -> dict[str, Any]:
    """An SDK-style embedding item (``content`` + snake_case ``config``) as a REST EmbedContentRequest."""
    request: dict[str, Any] = {"content": to_content(item["content"])}
    if "model" in item:
        request["model"] = sdk_model(item["model"])
    fields = message_fields("EmbedContentRequest")
    for snake, (name, value) in _config(item).items():
        if snake not in _EMBED_CONFIG:
            raise ValueError(f"config field {name!r} is not supported for Gemini API embeddings")
        request[camel(snake)] = _rest_value(value, fields[snake])
    return request


def canonical_line(item: Mapping[str, Any], index: int, *, embeddings: bool, vertex: bool = False) -> dict[str, Any]:
    """One inline request dict as a canonical ``{"key", "request"}`` line; InputValidationError naming the item.
    ``vertex``: the requests go to Vertex AI, so an SDK-style item may set its own config fields.

    Accepts the canonical shape itself or an SDK-style item, and nothing beside their fields. The key comes from
    ``key``, then ``metadata.key`` (each a non-empty string), and otherwise is the item's position (``"0"``, ...).
    """
    try:
        return _canonical_line(item, index, embeddings, vertex)
    except (KeyError, ValueError) as err:
        reason = f"missing {err}" if isinstance(err, KeyError) else str(err)
        raise InputValidationError(reason, source=INLINE_SOURCE, line=index + 1) from None


def _canonical_line(item: Mapping[str, Any], index: int, embeddings: bool, vertex: bool) -> dict[str, Any]:
    metadata = item.get("metadata")
    key = _item_key(item, metadata, index)
    check_metadata(metadata, key)
    if "request" in item:
        _check_item_fields(item, CANONICAL_ITEM_FIELDS, "an item with 'request'", "generation settings go in request")
        request = item["request"]
    elif embeddings:
        _check_item_fields(item, SDK_EMBED_ITEM_FIELDS, "an SDK-style embedding item", _SDK_HINT)
        request = embed_request_from_sdk(item)
    else:
        _check_item_fields(item, SDK_ITEM_FIELDS, "an SDK-style item", _SDK_HINT)
        request = generate_request_from_sdk(item, vertex=vertex)
    line = {"key": key, "request": request}
    if metadata is not None:
        line["metadata"] = metadata
    return line


_SDK_HINT = (
    "settings go in 'config' with google-genai's names, or give the REST request as {'key': ..., 'request': {...}}"
)


def _check_item_fields(item: Mapping[str, Any], allowed: frozenset[str], what: str, hint: str) -> None:
    unknown = [name for name in item if name not in allowed]
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(map(repr, unknown))}: {what} holds {', '.join(sorted(allowed))}; {hint}"
        )


def _item_key(item: Mapping[str, Any], metadata: Any, index: int) -> str:
    if "key" in item:
        return _non_empty_key(item["key"], "key")
    if isinstance(metadata, Mapping) and "key" in metadata:
        return _non_empty_key(metadata["key"], "metadata.key")
    return str(index)


def keyed_by_position(item: Mapping[str, Any]) -> bool:
    """Whether an inline item has no key of its own (neither ``key`` nor ``metadata.key``): its key is its position."""
    metadata = item.get("metadata")
    return "key" not in item and not (isinstance(metadata, Mapping) and "key" in metadata)


def _non_empty_key(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field!r} must be a non-empty string, got {value!r}")
    return value


def inline_request(line: Mapping[str, Any]) -> dict[str, Any]:
    """A canonical line as a Gemini ``InlinedRequest`` (the key travels in ``metadata``)."""
    metadata = {**(line.get("metadata") or {}), "key": line["key"]}
    return {"request": line["request"], "metadata": metadata}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


# --- responses ---------------------------------------------------------------------------------------


def parse_file(data: Mapping[str, Any]) -> FileInfo:
    """A Gemini File resource."""
    size = data.get("sizeBytes")
    return FileInfo(
        name=data["name"],
        display_name=data.get("displayName"),
        mime_type=data.get("mimeType"),
        size_bytes=int(size) if size is not None else None,
        create_time=parse_rfc3339(data.get("createTime")),
        expiration_time=parse_rfc3339(data.get("expirationTime")),
        state=data.get("state"),
        uri=data.get("uri"),
        raw=dict(data),
    )


def parse_operation(op: Mapping[str, Any]) -> BatchJob:
    """A batch Operation (``metadata`` holds the batch) as a BatchJob; zero stats are omitted on the wire.

    An Operation that is ``done`` never changes again, so one whose state is unknown (or unspecified) has ended
    FAILED, naming that state: neither waited on until the deadline nor taken for a success.
    """
    meta = op.get("metadata") or {}
    stats = meta.get("batchStats") or {}
    output = meta.get("output") or op.get("response") or {}
    provider_state = meta.get("state", "BATCH_STATE_UNSPECIFIED")
    state = BATCH_STATES.get(provider_state, JobState.UNSPECIFIED)
    error_message = (op.get("error") or {}).get("message")
    if state is JobState.UNSPECIFIED and op.get("done") is True:
        state = JobState.FAILED
        error_message = error_message or f"the batch is done in state {provider_state!r}, which is not a known state"
    return BatchJob(
        name=op.get("name") or meta.get("name", ""),
        provider=PROVIDER,
        display_name=meta.get("displayName"),
        model=meta.get("model"),
        state=state,
        provider_state=provider_state,
        create_time=parse_rfc3339(meta.get("createTime")),
        update_time=parse_rfc3339(meta.get("updateTime")),
        end_time=parse_rfc3339(meta.get("endTime")),
        stats=BatchStats(
            total=int64_count(stats, "requestCount"),
            succeeded=int64_count(stats, "successfulRequestCount"),
            failed=int64_count(stats, "failedRequestCount"),
            pending=int64_count(stats, "pendingRequestCount"),
        ),
        input_file=(meta.get("inputConfig") or {}).get("fileName"),
        output_file=output.get("responsesFile"),
        has_inline_output=any(field in output for field in INLINE_OUTPUT_FIELDS),
        error_message=error_message,
        raw=dict(op),
    )


def inline_responses(op: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The double-nested inline responses of a finished inline job, under either output field.

    The service answers ``inlinedResponses.inlinedResponses`` for generation and embedding batches alike;
    google-genai also reads an embedding batch's ``inlinedEmbedContentResponses.inlinedResponses``.
    """
    output = (op.get("metadata") or {}).get("output") or op.get("response") or {}
    for field in INLINE_OUTPUT_FIELDS:
        if field in output:
            return list((output.get(field) or {}).get("inlinedResponses") or [])
    return []


def result_row(line: Mapping[str, Any]) -> ResultRow:
    """One result: a results-file line (``key``) or an inlined response (``metadata.key``).

    Landing reads every row through here, so the common shapes take the shortest way: no embedding looked
    for where the response names none, and one text part taken as it is (see :func:`response_text`).
    """
    key = line.get("key")
    if key is None:
        key = (line.get("metadata") or {}).get("key")
    error = line.get("error") or line.get("status")
    if error:
        return ResultRow(key=key, status=RowStatus.FAILED, error=_row_error(error))
    response = line.get("response")
    if not response:
        return ResultRow(key=key, status=RowStatus.FAILED, error=RowError(message=NO_OUTCOME))
    text = response_text(response)
    embedded = "embedding" in response or "embeddings" in response
    if not text and not embedded and (unanswered := _unanswered(key, response)) is not None:
        return unanswered
    usage = _embed_usage(response) if embedded and "tokenCount" in response else _usage(response.get("usageMetadata"))
    return ResultRow(
        key=key,
        status=_SUCCEEDED,
        text=text,
        embedding=response_embedding(response) if embedded else None,
        response=response,
        usage=usage,
    )


_SUCCEEDED = RowStatus.SUCCEEDED


BLOCK_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "LANGUAGE",
        "ESCALATION",
        "PUP_LIMITED_DISABLED",
        "MODEL_ARMOR",
    }
)
"""A candidate's ``finishReason`` values that say its content was withheld by a filter, a policy or a rule, not
generated: a ``content_blocked`` row when it holds nothing else."""
MAX_TOKENS = "MAX_TOKENS"
"""A candidate's ``finishReason`` when it reached ``maxOutputTokens`` (thoughts count against it)."""
LIMIT_FINISH_REASONS = frozenset({MAX_TOKENS, "CONTINUATION"})
"""``finishReason`` values that say a token limit ended the answer (``CONTINUATION``: the per-request one, the
answer to be continued by another request): an ``output_limit`` row when it holds nothing else."""
MALFORMED_FINISH_REASONS = frozenset({"MALFORMED_FUNCTION_CALL", "MALFORMED_RESPONSE", "UNEXPECTED_TOOL_CALL"})
"""``finishReason`` values that say the model wrote a call or a response the service could not use: a
``malformed_output`` row (sent again by a follow-up round) when it holds nothing else."""
UNANSWERED_FINISH_REASONS = frozenset(
    {
        "FINISH_REASON_UNSPECIFIED",
        "STOP",
        "OTHER",
        "TOO_MANY_TOOL_CALLS",
        "MISSING_THOUGHT_SIGNATURE",
        "NO_IMAGE",
        "IMAGE_OTHER",
    }
)
"""The other ``finishReason`` values: a ``no_answer`` row when the candidate holds nothing (as is any reason not
listed here, one added after this version)."""


def _unanswered(key: Any, response: Mapping[str, Any]) -> ResultRow | None:
    """The failed row of a response without text that holds no other answer (a function call, an image, code), else
    None.

    A blocked prompt has ``promptFeedback.blockReason`` and no candidates; a response without candidates otherwise
    holds no answer. A first candidate holding nothing but thoughts is judged by its ``finishReason`` (see
    :func:`unanswered_by_reason`).
    """
    candidates = response.get("candidates")
    usage = _usage(response.get("usageMetadata"))
    if not candidates:
        feedback = response.get("promptFeedback")
        reason = feedback.get("blockReason") if isinstance(feedback, Mapping) else None
        if not reason:
            return no_answer_row(key, None, "the response holds no candidate and no block reason", response, usage)
        said = feedback.get("blockReasonMessage") if isinstance(feedback, Mapping) else None
        message = f"the prompt was blocked: promptFeedback.blockReason {reason}" + (f" ({said})" if said else "")
        return blocked_row(key, str(reason), message, response, usage)
    first = candidates[0]
    if _has_content(first):
        return None
    return unanswered_by_reason(key, first.get("finishReason"), "finishReason", "the candidate", response, usage)


def unanswered_by_reason(
    key: Any, reason: Any, field: str, holder: str, response: Any, usage: Usage | None
) -> ResultRow:
    """The failed row of an answer with nothing in it, by its finish ``reason`` (given in ``field``; ``holder`` is what
    holds no text): blocked, cut off by the output limit, malformed, or no answer."""
    if reason in LIMIT_FINISH_REASONS:
        message = f"the answer reached the output token limit: {field} {reason}, and {holder} holds no text"
        return output_limit_row(key, reason, message, response, usage)
    if reason in BLOCK_FINISH_REASONS:
        message = f"the answer was blocked: {field} {reason}, and {holder} holds no content"
        return blocked_row(key, reason, message, response, usage)
    if reason in MALFORMED_FINISH_REASONS:
        message = f"the model wrote an answer the service could not use: {field} {reason}, and {holder} holds nothing"
        return no_answer_row(key, reason, message, response, usage, malformed=True)
    status = reason if isinstance(reason, str) and reason else None
    said = f"{field} {status}" if status else f"no {field}"
    message = f"the answer holds nothing: {said}, and {holder} holds no text, call or other content"
    return no_answer_row(key, status, message, response, usage)


def _has_content(candidate: Mapping[str, Any]) -> bool:
    """Whether a candidate holds a part that is more than a thought (or a thought's signature)."""
    parts = (candidate.get("content") or {}).get("parts") or []
    return any(not part.get("thought") and part.keys() - {"thoughtSignature"} for part in parts)


def response_text(response: Mapping[str, Any]) -> str | None:
    """The text of the first candidate, thoughts left out; None when there is no text.

    A candidate of one text part (most are) gives that text as it is; any other shape goes through the parts.
    """
    candidates = response.get("candidates") or []
    if not candidates:
        return None
    parts = (candidates[0].get("content") or {}).get("parts") or []
    if type(parts) is list and len(parts) == 1:
        part = parts[0]
        if type(part) is dict and type(text := part.get("text")) is str and not part.get("thought"):
            return text
    texts = [p["text"] for p in parts if "text" in p and not p.get("thought")]
    return "".join(texts) if texts else None


def response_embedding(response: Mapping[str, Any]) -> list[float]:
    """The embedding vector of an embed response (single or first of several); ValueError when it holds none, or
    values that are not numbers."""
    if "embedding" in response:
        embedding, where = response["embedding"], "embedding"
    else:
        embeddings = response["embeddings"]
        if type(embeddings) is not list or not embeddings:
            raise ValueError("embeddings must be a non-empty list of embeddings")
        embedding, where = embeddings[0], "embeddings[0]"
    if not isinstance(embedding, Mapping):
        raise ValueError(f"{where} must be an object holding values")
    return embedding_values(embedding.get("values"), f"{where}.values")


def _usage(meta: Mapping[str, Any] | None) -> Usage | None:
    """The row's usage from ``usageMetadata``, in the manifest's meanings: input with the tool-use prompt, output with
    the thoughts (``candidatesTokenCount`` leaves them out; they are billed as output). None for none, or for one
    that cannot be read (the answer it came with is landed all the same)."""
    if not meta:
        return None
    try:
        get = meta.get
        given, made = get("promptTokenCount"), get("candidatesTokenCount")
        thoughts, tool_prompt = get("thoughtsTokenCount"), get("toolUsePromptTokenCount")
        if thoughts:
            made = (made or 0) + thoughts
        if tool_prompt:
            given = (given or 0) + tool_prompt
    except (AttributeError, TypeError):
        return None
    return counted_usage(given, made, get("totalTokenCount"))


def embed_token_count(response: Mapping[str, Any]) -> Any:
    """A batch embedding's ``tokenCount`` (a ``SingleEmbedContentResponse``'s only count: its input tokens), an int64
    that proto JSON writes as a decimal string, as an integer; any other value as it came, for the count check to
    refuse."""
    tokens = response.get("tokenCount")
    if type(tokens) is str and tokens.isascii() and tokens.isdigit():
        return int(tokens)
    return tokens


def _embed_usage(response: Mapping[str, Any]) -> Usage | None:
    """A batch embedding's usage: its ``tokenCount`` input tokens and no output; None when it cannot be read."""
    tokens = embed_token_count(response)
    return counted_usage(tokens, None, tokens)


def _row_error(error: Any) -> RowError:
    if not isinstance(error, Mapping):
        return RowError(message=str(error))
    return RowError(message=str(error.get("message") or ""), code=error.get("code"), status=error.get("status"))


# --- dialect -----------------------------------------------------------------------------------------


INLINE_REQUEST_OVERHEAD = len(b'{"request":,"metadata":{"key":}}') - len(b'{"key":,"request":}')
"""What a ``{"key", "request"}`` line grows by as an ``InlinedRequest`` (13 bytes; a line's own ``metadata`` adds
nothing more, its key going inside it); its LF stands for the comma after it."""

INLINE_ENVELOPE_BYTES = (
    len(b'{"batch":{"displayName":"","inputConfig":{"requests":{"requests":[]}}}}') + 6 * DISPLAY_NAME_MAX
)
"""The most an inline ``batchGenerateContent`` body holds besides its requests: the JSON around them and a display
name of at most :data:`DISPLAY_NAME_MAX` characters, each escaped in at most 6 bytes (the model is in the URL)."""


@dataclass(frozen=True)
class GeminiDialect:
    """The Gemini Developer API's format policy: the canonical format is its own, keys travel as they are."""

    provider: ClassVar[str] = PROVIDER
    vertex_fields: ClassVar[bool] = False
    native_format: ClassVar[InputFormat] = InputFormat.GEMINI
    limits: ClassVar[ProviderLimits] = ProviderLimits(
        max_file_bytes=2 * 1024**3,
        max_inline_bytes=20 * 1024**2,
        inline_request_overhead=INLINE_REQUEST_OVERHEAD,
        inline_envelope_bytes=INLINE_ENVELOPE_BYTES,
    )
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities(
        file_input=True, inline_input=True, embeddings=True
    )

    @property
    def inline(self) -> GeminiDialect:
        """Inline requests are in the same format as files."""
        return self

    def to_native(self, line: Mapping[str, Any], *, model: str, embeddings: bool) -> dict[str, Any]:
        return dict(line)

    def check_native(self, line: Mapping[str, Any], *, model: str) -> str | None:
        check_api_rules(line["request"])
        return None

    def passes_through(self, *, model: str, embeddings: bool) -> bool:
        return True

    def provider_key(self, key: str) -> str:
        return key

    def result_row(self, line: Mapping[str, Any]) -> ResultRow:
        return result_row(line)
