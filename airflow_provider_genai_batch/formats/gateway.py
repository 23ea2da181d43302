"""The GenAI-gateway wire format (Bifrost and its forks, GenAI facade at ``/genai``), as its documentation shows it.

A gateway speaks the Gemini Files/Batch surface and routes every call to the provider named in the
``x-model-provider`` header. Uploaded files hold the target's own batch lines (our translation); inline
requests are Gemini requests for every target, of which the gateway keeps only ``contents``,
``generationConfig``, ``safetySettings`` and ``systemInstruction``, translating them itself for OpenAI and
Anthropic. Whatever it would drop, or cannot translate, is refused here naming the field: never silently
lost. Batches are named ``batches/<id>`` and files ``files/<id>``; results come from its native routes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_provider_genai_batch.errors import GenAIBatchError, ProviderAPIError
from airflow_provider_genai_batch.formats import anthropic, bedrock, gemini, openai
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.dialect import Dialect, ProviderCapabilities, ProviderLimits
from airflow_provider_genai_batch.formats.gemini_line import check_api_rules
from airflow_provider_genai_batch.formats.gemini_schema import json_type
from airflow_provider_genai_batch.formats.keys import portable_id
from airflow_provider_genai_batch.formats.results import (
    ResultRow,
    RowError,
    RowStatus,
    Usage,
    blocked_row,
    counted_usage,
    output_limit_row,
)
from airflow_provider_genai_batch.formats.translate import check_model, standard_base64
from airflow_provider_genai_batch.models import BatchJob, JobState

PROVIDER = "gateway"
BATCHES = "batches/"
FILES = "files/"
KEYLESS_PREFIX = "request-"
"""How the gateway names a result whose request carried no key: ``request-<index>``."""

_BATCH_STATES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLING", "CANCELLED", "EXPIRED")
_JOB_STATES = ("QUEUED", *_BATCH_STATES)
"""The ``JOB_STATE_*`` names the gateway's documentation lists (QUEUED ... CANCELLED), and EXPIRED, google-genai's
name for the ``BATCH_STATE_EXPIRED`` it sends. Not PAUSED, UPDATING or PARTIALLY_SUCCEEDED: Vertex's, which no
gateway target has (one would be waited on until the deadline, the last taken for a success)."""
STATES: dict[str, JobState] = {
    **{f"BATCH_STATE_{name}": JobState[name] for name in _BATCH_STATES},
    **{f"JOB_STATE_{name}": JobState[name] for name in _JOB_STATES},
    **openai.STATUSES,
    "ended": JobState.SUCCEEDED,
    "canceling": JobState.CANCELLING,
    **bedrock.STATUSES,
}
"""Every state a gateway may report: its ``BATCH_STATE_*``, the ``JOB_STATE_*`` of :data:`_JOB_STATES`, and
the raw statuses of its targets that leak through (OpenAI/Bifrost ``validating`` ... ``cancelled``, Anthropic
``in_progress``/``canceling``/``ended``, Bedrock's). ``UNSPECIFIED`` is not among them: it is the gateway
saying it did not know the target's status, which no wait would ever see end."""

KEPT_FIELDS = ("contents", "generationConfig", "safetySettings", "systemInstruction")
"""The fields of an inline request the gateway's converter keeps; it drops every other one silently."""

GATEWAY_BODY_BYTES = 100 * 1024**2
"""The gateway's default limit on one request body (``max_request_body_size_mb``: 100)."""

BEDROCK_UNSUPPORTED = (
    "bedrock batches cannot be created through a gateway's GenAI facade: it has no way to pass the "
    "role_arn and output_s3_uri Bedrock needs (the gateway's documentation says to use the Bedrock SDK); "
    "connect to Amazon Bedrock directly"
)


# --- names -------------------------------------------------------------------------------------------


def batch_id(name: str) -> str:
    """The provider's id inside a batch name (``batches/<id>``); a bare id from an older reference as it is."""
    return name.removeprefix(BATCHES)


def file_id(name: str) -> str:
    """The provider's id inside a file name (``files/<id>``); a bare id as it is."""
    return name.removeprefix(FILES)


def file_name(name: str) -> str:
    """A file as the facade names it: ``files/<id>``."""
    return FILES + file_id(name)


# --- batches -----------------------------------------------------------------------------------------


def parse_operation(operation: Mapping[str, Any]) -> BatchJob:
    """A gateway batch (a Gemini-shaped Operation named ``batches/<id>``) as a BatchJob.

    A state the gateway does not document reads as UNSPECIFIED here (a listing shows it), ``done`` or not;
    :func:`known_state` refuses it where the job is waited on. The error message is the Operation's own only.
    An answer that names no batch (an error body sent with HTTP 200, another API's batch object) is not one: a
    LookupError, read as an unreadable answer, never a job named ``""`` that a ref would keep and a poll list.
    """
    job = gemini.parse_operation(operation)
    if not job.name:
        raise LookupError("the answer names no batch: it is not a batch Operation")
    return job.model_copy(
        update={
            "provider": PROVIDER,
            "state": STATES.get(job.provider_state or "", JobState.UNSPECIFIED),
            "error_message": (operation.get("error") or {}).get("message"),
            "output_file": job.output_file or (operation.get("dest") or {}).get("fileName"),
        }
    )


def known_state(job: BatchJob) -> BatchJob:
    """``job`` itself when its state is one the gateway documents; otherwise a clear error naming the raw state.

    An unknown state is never waited on: nothing says it would ever end.
    """
    if job.state is JobState.UNSPECIFIED:
        raise ProviderAPIError(
            f"batch {job.name} is in state {job.provider_state!r}, which is not a state the gateway documents, so "
            "there is no telling whether it will ever end; look the job up at the target provider",
            provider_status=job.provider_state,
            provider=PROVIDER,
        )
    return job


# --- results -----------------------------------------------------------------------------------------


def result_row(item: Mapping[str, Any], target: str) -> ResultRow:
    """One result of a ``target`` batch: an OpenAI output or error file line, an Anthropic result item, or a
    Gemini result item as the gateway flattens it."""
    if target == openai.PROVIDER:
        return openai.result_row(item)
    if target == anthropic.PROVIDER:
        return anthropic.result_row(_anthropic_line(item))
    return _flattened_gemini_row(item)


def without_stand_in_keys(rows: Iterable[ResultRow]) -> Iterator[ResultRow]:
    """Rows of an inline Gemini job, the key the gateway makes up for a response without one removed.

    The gateway names a response whose ``metadata.key`` the backend left out ``request-<index>``; we always
    send a key, so that name at that index means the key was lost, and the row is placed by its order.
    """
    for index, row in enumerate(rows):
        if row.key == f"{KEYLESS_PREFIX}{index}":
            row.key = None
        yield row


def _anthropic_line(item: Mapping[str, Any]) -> dict[str, Any]:
    """An Anthropic result item with the gateway's ``error`` folded back into the errored result."""
    result = dict(item.get("result") or {})
    error = item.get("error")
    if error and result.get("type", "errored") == "errored":
        detail = {"type": error.get("code") or "error", "message": error.get("message") or ""}
        result = {"type": "errored", "error": {"type": "error", "error": detail}}
    return {"custom_id": item.get("custom_id"), "result": result}


_NATIVE_GEMINI_FIELDS = ("candidates", "promptFeedback")
"""Fields of a GenerateContentResponse that a flattened result never holds: a body with one is Gemini's own."""


def _flattened_gemini_row(item: Mapping[str, Any]) -> ResultRow:
    """A Gemini result as the gateway flattens it: ``{"text", "finish_reason", "usage"}`` in ``response.body``; a
    body the gateway passed on unflattened (Gemini's own GenerateContentResponse) is read as Gemini's, not taken for
    a result holding no answer."""
    key = item.get("custom_id")
    response = item.get("response") or {}
    status = response.get("status_code")
    if item.get("error") or not response or (status is not None and not 200 <= status < 300):
        error = item.get("error") or {
            "message": f"HTTP {status}" if response else "no outcome returned",
            "code": status,
        }
        return ResultRow(key=key, status=RowStatus.FAILED, error=RowError(str(error.get("message")), error.get("code")))
    body = response.get("body") or {}
    if "text" not in body and any(field in body for field in _NATIVE_GEMINI_FIELDS):
        return gemini.result_row({"key": key, "response": body})
    text = body.get("text")
    if text is not None and type(text) is not str:
        raise ValueError(f"the result's text must be a string, got {json_type(text)}")
    row_usage = _flattened_usage(body.get("usage"))
    reason = body.get("finish_reason")
    if not text and reason in gemini.BLOCK_FINISH_REASONS:
        message = f"the answer was blocked: finish_reason {reason}, and it holds no text"
        return blocked_row(key, reason, message, body, row_usage)
    if not text and reason == gemini.MAX_TOKENS:
        message = f"the answer reached the output token limit: finish_reason {reason}, and it holds no text"
        return output_limit_row(key, reason, message, body, row_usage)
    if not text and not reason:
        return ResultRow(key=key, status=RowStatus.FAILED, response=body or None, error=_NO_CANDIDATE, usage=row_usage)
    if text is None:  # the gateway keeps a candidate's text alone: an answer of a call or an image cannot be read
        return gemini.unanswered_by_reason(key, reason, "finish_reason", "the gateway's result", body, row_usage)
    return ResultRow(key=key, status=RowStatus.SUCCEEDED, text=text, response=body, usage=row_usage)


_NO_CANDIDATE = RowError(
    message="the result holds no answer: no text and no finish_reason (the gateway flattens a response without "
    "candidates, a blocked prompt's among them, to nothing)"
)
"""The error of a flattened Gemini result that says nothing of an answer: the gateway keeps no candidate's text or
finish reason, and no blocked prompt's reason."""


def _flattened_usage(usage: Any) -> Usage | None:
    """A flattened Gemini result's usage; None for none, or for one that is not an object (the answer lands all the
    same)."""
    if not usage:
        return None
    try:
        get = usage.get
    except AttributeError:
        return None
    return counted_usage(get("prompt_tokens"), get("completion_tokens"), get("total_tokens"))


# --- inline requests: what the gateway keeps and translates --------------------------------------------

_TRANSLATED = (openai.PROVIDER, anthropic.PROVIDER)
_OPENAI_GENERATION = frozenset(
    {"temperature", "topP", "maxOutputTokens", "stopSequences", "candidateCount", "presencePenalty",
     "frequencyPenalty", "seed", "responseMimeType", "responseJsonSchema", "responseSchema", "responseModalities"}
)  # fmt: skip
_ANTHROPIC_GENERATION = frozenset(
    {"maxOutputTokens", "temperature", "topP", "topK", "stopSequences", "responseMimeType", "responseModalities"}
)
_GENERATION = {openai.PROVIDER: _OPENAI_GENERATION, anthropic.PROVIDER: _ANTHROPIC_GENERATION}
"""The generationConfig fields the gateway translates for each target; any other it cannot."""
_MIME_TYPES = {openai.PROVIDER: ("text/plain", "application/json"), anthropic.PROVIDER: ("text/plain",)}
_SCHEMAS = ("responseSchema", "responseJsonSchema")


_ELSEWHERE = {
    gemini.PROVIDER: "give the requests as a JSONL file instead (uploaded as Gemini lines, which keep it)",
    openai.PROVIDER: "give the requests as a JSONL file instead (translated to OpenAI lines here, not by the gateway)",
    anthropic.PROVIDER: "connect to Anthropic directly",
}
"""Where a request the gateway would cut can go whole."""


def _dropped(path: str, why: str, remedy: str) -> ValueError:
    return ValueError(f"{path} would be dropped by the gateway: {why}; {remedy}")


def _untranslatable(path: str, target: str, why: str) -> ValueError:
    return ValueError(f"{path} cannot go through the gateway to {target}: {why}")


def _set_fields(value: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a REST object that are set (a ``null`` field is unset, as proto JSON reads it)."""
    return {name: item for name, item in value.items() if item is not None}


def gateway_request(line: Mapping[str, Any], target: str, *, model: str) -> dict[str, Any]:
    """The request of a canonical line as the gateway will carry it (REST spelling, only the fields it keeps).

    ValueError naming the first field it would drop, or could not translate for ``target``. ``line`` has
    passed the Gemini line check, so its shape is sound.
    """
    extra = sorted(set(line.get("metadata") or {}) - {"key"})
    if extra:
        raise _dropped(
            f"metadata.{extra[0]}",
            "it keeps only metadata.key of an inline request",
            "remove it, or " + _ELSEWHERE[target],
        )
    request = _set_fields(gemini.rest_message(line["request"], "GenerateContentRequest"))
    check_model(request, model, target)
    for name in request:
        if name not in KEPT_FIELDS and name != "model":
            keeps = f"it keeps only {', '.join(KEPT_FIELDS)} of an inline request"
            raise _dropped(f"request.{name}", keeps, "remove it, or " + _ELSEWHERE[target])
    kept = {name: value for name, value in request.items() if name in KEPT_FIELDS}
    if target in _TRANSLATED:
        _check_translatable(kept, target)
        kept["contents"] = [
            _standard_inline_data(content, f"request.contents[{i}]") for i, content in enumerate(kept["contents"])
        ]
    return kept


def _standard_inline_data(content: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    """A turn (at ``path``) with its inline bytes in standard, padded base64: the gateway hands them on to OpenAI or
    Anthropic, which take no other form (:func:`.translate.standard_base64`); a turn without them is returned
    itself."""
    parts = content.get("parts") or []
    if not any(isinstance((part or {}).get("inlineData"), Mapping) for part in parts):
        return content
    return {**content, "parts": [_standard_part(part, f"{path}.parts[{j}]") for j, part in enumerate(parts)]}


def _standard_part(part: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    blob = part.get("inlineData")
    if not isinstance(blob, Mapping) or not isinstance(blob.get("data"), str):
        return part
    return {**part, "inlineData": {**blob, "data": standard_base64(blob["data"], f"{path}.inlineData.data")}}


def _check_translatable(request: Mapping[str, Any], target: str) -> None:
    """Raise for the first part of ``request`` outside the gateway's Gemini-to-``target`` translation."""
    if "safetySettings" in request:
        raise _dropped("request.safetySettings", f"{target} has no safety settings to translate them to", "remove it")
    for i, content in enumerate(request["contents"]):
        path = f"request.contents[{i}]"
        _check_content(_set_fields(content), path, target)
    if "systemInstruction" in request:
        instruction = _set_fields(request["systemInstruction"])
        _check_content(instruction, "request.systemInstruction", target, text_only=True)
    if "generationConfig" in request:
        _check_generation(_set_fields(request["generationConfig"]), target)


def _check_content(content: Mapping[str, Any], path: str, target: str, *, text_only: bool = False) -> None:
    for name in content:
        if name not in ("role", "parts"):
            raise _untranslatable(f"{path}.{name}", target, "a content holds only role and parts")
    for j, raw in enumerate(content.get("parts") or []):
        part_path = f"{path}.parts[{j}]"
        part = _set_fields(raw)
        for name in part:
            if name == "text" or (name == "inlineData" and not text_only):
                continue
            what = "text parts" if text_only else "text and image inlineData parts"
            raise _untranslatable(f"{part_path}.{name}", target, f"its translation carries only {what}")
        if "inlineData" in part:
            data = _set_fields(part["inlineData"])
            for name in data:
                if name not in ("mimeType", "data"):
                    raise _untranslatable(f"{part_path}.inlineData.{name}", target, "it translates mimeType and data")
            if not str(data.get("mimeType", "")).startswith("image/"):
                raise _untranslatable(
                    f"{part_path}.inlineData", target, f"it translates image data only, not {data.get('mimeType')!r}"
                )


_INTEGER_SETTINGS = frozenset({"maxOutputTokens", "candidateCount", "seed", "topK"})
_NUMBER_SETTINGS = frozenset({"temperature", "topP", "presencePenalty", "frequencyPenalty"})


def _check_generation(gen: Mapping[str, Any], target: str) -> None:
    for name in gen:
        if name not in _GENERATION[target]:
            raise _untranslatable(f"request.generationConfig.{name}", target, "the gateway has no translation for it")
        value = gen[name]
        integer = name in _INTEGER_SETTINGS
        if (integer or name in _NUMBER_SETTINGS) and (
            isinstance(value, bool) or not isinstance(value, int if integer else (int, float))
        ):
            kind = "an integer" if integer else "a number"
            raise _untranslatable(
                f"request.generationConfig.{name}",
                target,
                f"it is written {value!r}, which the gateway hands on as it is, and {target} takes only {kind} there",
            )
    mime = gen.get("responseMimeType") or None  # an empty string is unset, as proto JSON reads it
    if mime is not None and mime not in _MIME_TYPES[target]:
        raise _untranslatable(
            "request.generationConfig.responseMimeType", target, f"it translates {' and '.join(_MIME_TYPES[target])}"
        )
    for schema in _SCHEMAS:
        if schema in gen and mime != "application/json":
            raise _untranslatable(
                f"request.generationConfig.{schema}", target, "a schema needs responseMimeType application/json"
            )
    modalities = gen.get("responseModalities")
    if modalities and [str(m).upper() for m in modalities] != ["TEXT"]:  # an empty list is unset: text
        raise _untranslatable(
            "request.generationConfig.responseModalities", target, f"it answers in text only, not {modalities!r}"
        )


# --- dialects ----------------------------------------------------------------------------------------

TARGET_CAPABILITIES: dict[str, ProviderCapabilities] = {
    gemini.PROVIDER: ProviderCapabilities(file_input=True, inline_input=True, embeddings=False, find_by_key=False),
    openai.PROVIDER: ProviderCapabilities(
        file_input=True, inline_input=True, embeddings=False, delete=False, find_by_key=False
    ),
    anthropic.PROVIDER: ProviderCapabilities(file_input=False, inline_input=True, embeddings=False, find_by_key=False),
}
"""What each target can do through the facade: its batch route makes generation batches only."""

_INLINE_BODY = {
    "max_inline_bytes": GATEWAY_BODY_BYTES,
    "inline_request_overhead": gemini.INLINE_REQUEST_OVERHEAD,
    "inline_envelope_bytes": gemini.INLINE_ENVELOPE_BYTES,
}
"""The gateway's request-body limit, on a body shaped as Gemini's (the same envelope, each request wrapped alike)."""

INLINE_LIMITS: dict[str, ProviderLimits] = {
    gemini.PROVIDER: gemini.GeminiDialect.limits.model_copy(update={"max_file_bytes": GATEWAY_BODY_BYTES}),
    openai.PROVIDER: ProviderLimits(
        max_requests=openai.OpenAIDialect.limits.max_requests,
        max_file_bytes=min(openai.OpenAIDialect.limits.max_file_bytes or GATEWAY_BODY_BYTES, GATEWAY_BODY_BYTES),
        **_INLINE_BODY,
    ),
    anthropic.PROVIDER: ProviderLimits(max_requests=anthropic.AnthropicDialect.limits.max_requests, **_INLINE_BODY),
}
"""Limits of inline input per target: Gemini's own (the gateway passes inline requests on to it), else the
target's count limit and the gateway's request-body limit; a file they fall back to goes up in one request body."""


@dataclass(frozen=True)
class GatewayInlineDialect:
    """Requests sent inline through the facade: Gemini lines for every target, less nothing the user wrote.

    Each line is checked against what the gateway keeps and, for OpenAI and Anthropic, against its
    translation and the target's own rules; the key becomes the target's custom id. An Anthropic request
    without ``maxOutputTokens`` gets ``default_max_tokens`` there (Anthropic requires one).
    """

    target: str
    default_max_tokens: int = anthropic.DEFAULT_MAX_TOKENS

    provider: ClassVar[str] = PROVIDER
    vertex_fields: ClassVar[bool] = False
    native_format: ClassVar[InputFormat] = InputFormat.GEMINI

    @property
    def limits(self) -> ProviderLimits:
        return INLINE_LIMITS[self.target]

    @property
    def capabilities(self) -> ProviderCapabilities:
        return TARGET_CAPABILITIES[self.target]

    @property
    def inline(self) -> GatewayInlineDialect:
        return self

    def to_native(self, line: Mapping[str, Any], *, model: str, embeddings: bool) -> dict[str, Any]:
        """The line as the gateway receives it: its key as the target's id, its request as the gateway keeps it."""
        if embeddings:
            raise ValueError("the gateway makes generation batches only")
        request = gateway_request(line, self.target, model=model)
        if self.target == anthropic.PROVIDER and "maxOutputTokens" not in request.get("generationConfig", {}):
            request["generationConfig"] = {
                **request.get("generationConfig", {}),
                "maxOutputTokens": self.default_max_tokens,
            }
        native = {"key": self.provider_key(line["key"]), "request": request}
        self._check_target_accepts(native, model)
        return native

    def check_native(self, line: Mapping[str, Any], *, model: str) -> str | None:
        self.to_native(line, model=model, embeddings=False)
        return None

    def _check_target_accepts(self, line: Mapping[str, Any], model: str) -> None:
        """What the gateway translates must still be a request the target takes (ranges, image types, JSON mode), and
        what it passes on to Gemini a conversation the Gemini API takes."""
        if self.target == gemini.PROVIDER:
            check_api_rules(line["request"])
        elif self.target == openai.PROVIDER:
            openai.from_gemini(line, model=model, embeddings=False)
        elif self.target == anthropic.PROVIDER:
            anthropic.AnthropicDialect(default_max_tokens=self.default_max_tokens).to_native(
                line, model=model, embeddings=False
            )

    def passes_through(self, *, model: str, embeddings: bool) -> bool:
        return True

    def provider_key(self, key: str) -> str:
        """The target's id for a key (the gateway makes ``metadata.key`` the target's custom id)."""
        return key if self.target == gemini.PROVIDER else portable_id(key)

    def result_row(self, line: Mapping[str, Any]) -> ResultRow:
        return result_row(line, self.target)


@dataclass(frozen=True)
class GatewayDialect:
    """Files uploaded through the facade: the target's own lines, ids and limits (Gemini and OpenAI targets).

    Requests sent inline are another format, Gemini's, whichever the target: :attr:`inline`.
    """

    target: Dialect
    default_max_tokens: int = anthropic.DEFAULT_MAX_TOKENS

    provider: ClassVar[str] = PROVIDER
    vertex_fields: ClassVar[bool] = False

    @property
    def native_format(self) -> InputFormat:
        """The target's batch format: an uploaded file holds the target's own lines."""
        return self.target.native_format

    @property
    def limits(self) -> ProviderLimits:
        """The target's limits, a file held to the gateway's body limit too: it goes up in one request."""
        limits = self.target.limits
        if limits.max_file_bytes is None or limits.max_file_bytes <= GATEWAY_BODY_BYTES:
            return limits
        return limits.model_copy(update={"max_file_bytes": GATEWAY_BODY_BYTES})

    @property
    def capabilities(self) -> ProviderCapabilities:
        """What the target can do through the facade (never embeddings; never found again by key)."""
        return TARGET_CAPABILITIES[self.target.provider]

    @property
    def inline(self) -> GatewayInlineDialect:
        """Inline requests: Gemini lines, checked against what the gateway keeps and translates."""
        return GatewayInlineDialect(self.target.provider, self.default_max_tokens)

    def to_native(self, line: Mapping[str, Any], *, model: str, embeddings: bool) -> dict[str, Any]:
        return self.target.to_native(line, model=model, embeddings=embeddings)

    def check_native(self, line: Mapping[str, Any], *, model: str) -> str | None:
        """The target's own check; an OpenAI line must target chat completions, the one endpoint the facade implies."""
        endpoint = self.target.check_native(line, model=model)
        if endpoint not in (None, openai.CHAT_URL):
            raise ValueError(f"'url' {endpoint!r} cannot go through the gateway: its batch route names no endpoint")
        return endpoint

    def passes_through(self, *, model: str, embeddings: bool) -> bool:
        return True

    def provider_key(self, key: str) -> str:
        return self.target.provider_key(key)

    def result_row(self, line: Mapping[str, Any]) -> ResultRow:
        """One result of the target: an OpenAI output or error file line, or one of the gateway's result items."""
        return result_row(line, self.target.provider)


def target_dialect(target: str, *, default_max_tokens: int = anthropic.DEFAULT_MAX_TOKENS) -> GatewayDialect:
    """The dialect of batches the gateway makes at ``target``; Bedrock cannot be reached through the facade."""
    if target == gemini.PROVIDER:
        return GatewayDialect(gemini.GeminiDialect(), default_max_tokens)
    if target == openai.PROVIDER:
        return GatewayDialect(openai.OpenAIDialect(), default_max_tokens)
    if target == anthropic.PROVIDER:
        return GatewayDialect(anthropic.AnthropicDialect(default_max_tokens=default_max_tokens), default_max_tokens)
    raise GenAIBatchError(BEDROCK_UNSUPPORTED if target == "bedrock" else f"unknown gateway target {target!r}")
