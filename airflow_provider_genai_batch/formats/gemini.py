"""Gemini batch wire format: SDK-style requests to REST, Operations to BatchJob, result lines to rows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.dialect import ProviderCapabilities, ProviderLimits
from airflow_provider_genai_batch.formats.results import ResultRow, RowError, RowStatus, Usage
from airflow_provider_genai_batch.formats.times import parse_rfc3339
from airflow_provider_genai_batch.formats.validate import INLINE_SOURCE
from airflow_provider_genai_batch.models import BatchJob, BatchStats, FileInfo, JobState

PROVIDER = "gemini"

BATCH_STATES: dict[str, JobState] = {
    "BATCH_STATE_UNSPECIFIED": JobState.UNSPECIFIED,
    "BATCH_STATE_PENDING": JobState.PENDING,
    "BATCH_STATE_RUNNING": JobState.RUNNING,
    "BATCH_STATE_SUCCEEDED": JobState.SUCCEEDED,
    "BATCH_STATE_FAILED": JobState.FAILED,
    "BATCH_STATE_CANCELLED": JobState.CANCELLED,
    "BATCH_STATE_EXPIRED": JobState.EXPIRED,
}

# SDK GenerateContentConfig fields that google-genai hoists to the top of GenerateContentRequest.
_HOISTED = {
    "system_instruction": "systemInstruction",
    "safety_settings": "safetySettings",
    "tools": "tools",
    "tool_config": "toolConfig",
    "labels": "labels",
    "cached_content": "cachedContent",
    "service_tier": "serviceTier",
}
# SDK fields that go under generationConfig; values are passed as given except where noted in _VERBATIM.
_GENERATION = frozenset(
    {
        "temperature", "top_p", "top_k", "candidate_count", "max_output_tokens", "stop_sequences",
        "response_logprobs", "logprobs", "presence_penalty", "frequency_penalty", "seed", "response_mime_type",
        "response_schema", "response_json_schema", "response_modalities", "media_resolution", "speech_config",
        "thinking_config", "image_config", "enable_enhanced_civic_answers", "audio_transcription_config",
    }
)  # fmt: skip
_VERBATIM = {"thinking_config", "response_json_schema", "labels"}
_VERTEX_ONLY = {
    "routing_config",
    "model_selection_config",
    "audio_timestamp",
    "model_armor_config",
    "generation_output_config",
}
_EMBED_CONFIG = {"task_type": "taskType", "title": "title", "output_dimensionality": "outputDimensionality"}


def camel(name: str) -> str:
    """``snake_case`` to ``camelCase``; camelCase names pass through."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# Values under these keys are user data (function arguments and results, schema values): kept verbatim.
_VERBATIM_VALUES = frozenset(
    {"args", "response", "default", "example", "parametersJsonSchema", "parameters_json_schema",
     "responseJsonSchema", "response_json_schema"}
)  # fmt: skip
# Under these keys, the dict keys are names the user chose (schema properties, definitions): kept as written.
_NAMED_CHILDREN = frozenset({"properties", "$defs", "defs", "definitions"})


def camelize(value: Any, *, names: bool = False) -> Any:
    """Recursively camelCase dict keys, as proto-JSON names them, leaving user data as written.

    Function-call arguments, function responses and schema default/example values are copied verbatim;
    the names under ``properties``/``$defs`` are kept while each named schema is itself camelized.
    """
    if isinstance(value, list):
        return [camelize(v) for v in value]
    if not isinstance(value, dict):
        return value
    if names:
        return {k: camelize(v) for k, v in value.items()}
    return {camel(k): v if k in _VERBATIM_VALUES else camelize(v, names=k in _NAMED_CHILDREN) for k, v in value.items()}


def to_content(value: Any, role: str = "user") -> dict[str, Any]:
    """A string, a list of strings or a Content dict, as a REST Content."""
    if isinstance(value, str):
        return {"parts": [{"text": value}], "role": role}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {"parts": [{"text": v} for v in value], "role": role}
    if isinstance(value, dict):
        content: dict[str, Any] = camelize(value)
        return content
    raise ValueError(f"cannot read {type(value).__name__} as content")


def to_contents(value: Any) -> list[dict[str, Any]]:
    """SDK ``contents`` (string, list of strings, Content dicts) as REST ``contents``."""
    if isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        return [to_content(value)]
    if isinstance(value, dict):
        return [to_content(value)]
    if isinstance(value, list):
        return [to_content(v) for v in value]
    raise ValueError(f"cannot read {type(value).__name__} as contents")


def generate_request_from_sdk(item: Mapping[str, Any]) -> dict[str, Any]:
    """An SDK-style inlined request (``contents`` + snake_case ``config``) as a REST GenerateContentRequest."""
    request: dict[str, Any] = {"contents": to_contents(item["contents"])}
    if "model" in item:
        model = item["model"]
        request["model"] = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
    generation: dict[str, Any] = {}
    for field, value in (item.get("config") or {}).items():
        snake = _snake(field)
        if snake in _VERTEX_ONLY:
            raise ValueError(f"config field {field!r} is only supported on Vertex AI, not the Gemini API")
        if snake == "system_instruction":
            request["systemInstruction"] = to_content(value)
        elif snake in _HOISTED:
            request[_HOISTED[snake]] = value if snake in _VERBATIM else camelize(value)
        elif snake in _GENERATION:
            generation[camel(snake)] = value if snake in _VERBATIM else camelize(value)
        else:
            raise ValueError(f"unknown config field {field!r}")
    if generation:
        request["generationConfig"] = generation
    return request


def embed_request_from_sdk(item: Mapping[str, Any]) -> dict[str, Any]:
    """An SDK-style embedding item (``content`` + snake_case ``config``) as a REST EmbedContentRequest."""
    request: dict[str, Any] = {"content": to_content(item["content"])}
    for field, value in (item.get("config") or {}).items():
        snake = _snake(field)
        if snake not in _EMBED_CONFIG:
            raise ValueError(f"config field {field!r} is not supported for Gemini API embeddings")
        request[_EMBED_CONFIG[snake]] = value
    return request


def canonical_line(item: Mapping[str, Any], index: int, *, embeddings: bool) -> dict[str, Any]:
    """One inline request dict as a canonical ``{"key", "request"}`` line.

    Accepts the canonical shape itself or an SDK-style item; the key comes from ``key``, then
    ``metadata.key``, and otherwise is the item's position (``"0"``, ``"1"``, ...).
    """
    metadata = item.get("metadata") or {}
    key = item.get("key") or metadata.get("key") or str(index)
    extra = {"metadata": metadata} if metadata else {}
    if "request" in item:
        return {"key": key, "request": item["request"], **extra}
    try:
        request = embed_request_from_sdk(item) if embeddings else generate_request_from_sdk(item)
    except (KeyError, ValueError) as err:
        reason = f"missing {err}" if isinstance(err, KeyError) else str(err)
        raise InputValidationError(reason, source=INLINE_SOURCE, line=index + 1) from None
    return {"key": key, "request": request, **extra}


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
    """A batch Operation (``metadata`` holds the batch) as a BatchJob; zero stats are omitted on the wire."""
    meta = op.get("metadata") or {}
    stats = meta.get("batchStats") or {}
    output = meta.get("output") or op.get("response") or {}
    provider_state = meta.get("state", "BATCH_STATE_UNSPECIFIED")
    error = op.get("error") or {}
    return BatchJob(
        name=op.get("name") or meta.get("name", ""),
        provider=PROVIDER,
        display_name=meta.get("displayName"),
        model=meta.get("model"),
        state=BATCH_STATES.get(provider_state, JobState.UNSPECIFIED),
        provider_state=provider_state,
        create_time=parse_rfc3339(meta.get("createTime")),
        update_time=parse_rfc3339(meta.get("updateTime")),
        end_time=parse_rfc3339(meta.get("endTime")),
        stats=BatchStats(
            total=int(stats.get("requestCount", 0)),
            succeeded=int(stats.get("successfulRequestCount", 0)),
            failed=int(stats.get("failedRequestCount", 0)),
            pending=int(stats.get("pendingRequestCount", 0)),
        ),
        input_file=(meta.get("inputConfig") or {}).get("fileName"),
        output_file=output.get("responsesFile"),
        has_inline_output="inlinedResponses" in output,
        error_message=error.get("message"),
        raw=dict(op),
    )


def inline_responses(op: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The double-nested ``inlinedResponses.inlinedResponses`` list of a finished inline job."""
    output = (op.get("metadata") or {}).get("output") or op.get("response") or {}
    return list((output.get("inlinedResponses") or {}).get("inlinedResponses") or [])


def result_row(line: Mapping[str, Any]) -> ResultRow:
    """One result: a results-file line (``key``) or an inlined response (``metadata.key``)."""
    key = line.get("key")
    if key is None:
        key = (line.get("metadata") or {}).get("key")
    error = line.get("error") or line.get("status")
    if error:
        return ResultRow(key=key, status=RowStatus.FAILED, error=_row_error(error))
    response = line.get("response") or {}
    return ResultRow(
        key=key,
        status=RowStatus.SUCCEEDED,
        text=response_text(response),
        embedding=response_embedding(response),
        response=response,
        usage=_usage(response.get("usageMetadata")),
    )


def iter_inline_rows(op: Mapping[str, Any]) -> Iterator[ResultRow]:
    """Rows of a finished job whose output came back inline."""
    for item in inline_responses(op):
        yield result_row(item)


def response_text(response: Mapping[str, Any]) -> str | None:
    """The text of the first candidate, thoughts left out; None when there is no text."""
    candidates = response.get("candidates") or []
    if not candidates:
        return None
    parts = (candidates[0].get("content") or {}).get("parts") or []
    texts = [p["text"] for p in parts if "text" in p and not p.get("thought")]
    return "".join(texts) if texts else None


def response_embedding(response: Mapping[str, Any]) -> list[float] | None:
    """The embedding vector of an embed response (single or first of several)."""
    embedding = response.get("embedding")
    if embedding is None and response.get("embeddings"):
        embedding = response["embeddings"][0]
    return list(embedding["values"]) if embedding else None


def _usage(meta: Mapping[str, Any] | None) -> Usage | None:
    if not meta:
        return None
    return Usage(
        input_tokens=meta.get("promptTokenCount"),
        output_tokens=meta.get("candidatesTokenCount"),
        total_tokens=meta.get("totalTokenCount"),
    )


def _row_error(error: Any) -> RowError:
    if not isinstance(error, Mapping):
        return RowError(message=str(error))
    return RowError(message=str(error.get("message", "")), code=error.get("code"), status=error.get("status"))


# --- dialect -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeminiDialect:
    """The Gemini Developer API's format policy: the canonical format is its own, keys travel as they are."""

    provider: ClassVar[str] = PROVIDER
    native_format: ClassVar[InputFormat] = InputFormat.GEMINI
    limits: ClassVar[ProviderLimits] = ProviderLimits(max_file_bytes=2 * 1024**3, max_inline_bytes=20 * 1024**2)
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities(
        file_input=True, inline_input=True, embeddings=True
    )

    def to_native(self, line: Mapping[str, Any], *, model: str, embeddings: bool) -> dict[str, Any]:
        return dict(line)

    def check_native(self, line: Mapping[str, Any], *, model: str) -> str | None:
        return None

    def provider_key(self, key: str) -> str:
        return key

    def result_row(self, line: Mapping[str, Any]) -> ResultRow:
        return result_row(line)
