"""The GenAI-gateway wire format (Bifrost and its forks, GenAI facade at ``/genai``).

A gateway speaks the Gemini Files/Batch surface and routes every call to the provider named in the
``x-model-provider`` header. It translates the batch envelope and the job state, never the request
bodies: those travel inside the Gemini envelope in the target provider's own format. Its inline
converter drops ``tools``, ``toolConfig`` and ``cachedContent``, so a request carrying them is refused
here rather than silently changed. Results come from the gateway's native routes as Bifrost result items.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.formats import anthropic, gemini, openai
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.dialect import Dialect, ProviderCapabilities, ProviderLimits
from airflow_provider_genai_batch.formats.results import ResultRow, RowError, RowStatus, Usage
from airflow_provider_genai_batch.models import BatchJob, JobState

PROVIDER = "gateway"
STATES: dict[str, JobState] = {**gemini.BATCH_STATES, "BATCH_STATE_CANCELLING": JobState.CANCELLING}
"""Wire states a gateway emits: the Gemini set (PENDING only from a raw Gemini passthrough) plus CANCELLING."""

DROPPED_FIELDS: dict[str, str] = {
    "tools": "tools",
    "toolConfig": "tool configuration",
    "tool_config": "tool configuration",
    "cachedContent": "a context cache",
    "cached_content": "a context cache",
}
"""Request fields the gateway's inline converter does not carry, and what they are."""

BEDROCK_UNSUPPORTED = (
    "bedrock batches cannot be created through a gateway's GenAI facade: it has no way to pass the "
    "role_arn and output_s3_uri Bedrock needs; connect to Amazon Bedrock directly"
)
_BODY_FIELDS = {InputFormat.OPENAI: "body", InputFormat.ANTHROPIC: "params"}


def parse_operation(operation: Mapping[str, Any]) -> BatchJob:
    """A gateway batch (a Gemini-shaped Operation whose ``name`` is the bare provider id) as a BatchJob."""
    job = gemini.parse_operation(operation)
    return job.model_copy(
        update={
            "provider": PROVIDER,
            "state": STATES.get(job.provider_state or "", JobState.UNSPECIFIED),
            "output_file": job.output_file or (operation.get("dest") or {}).get("fileName"),
        }
    )


def inline_request(line: Mapping[str, Any], fmt: InputFormat) -> dict[str, Any]:
    """A line in the target provider's format as the Gemini ``{"request", "metadata": {"key"}}`` envelope.

    The body inside is the target's own (an OpenAI chat body, Anthropic ``params``); ValueError when it
    holds a field the gateway would drop.
    """
    if fmt is InputFormat.GEMINI:
        envelope = gemini.inline_request(line)
    elif fmt in _BODY_FIELDS:
        envelope = {"request": line[_BODY_FIELDS[fmt]], "metadata": {"key": line[fmt.key_field]}}
    else:
        raise ValueError(f"{fmt.value} requests cannot be sent inline through a gateway")
    check_carried(envelope["request"])
    return envelope


def check_carried(request: Mapping[str, Any]) -> None:
    """Raise for the first field the gateway's inline converter would silently drop."""
    for name in request:
        if name in DROPPED_FIELDS:
            raise ValueError(
                f"request.{name} would be dropped by the gateway: its inline batch converter does not carry "
                f"{DROPPED_FIELDS[name]}; remove it or send the input as a file"
            )


def result_row(item: Mapping[str, Any], target: str) -> ResultRow:
    """One Bifrost result item (``custom_id`` with ``response``, ``result`` or ``error``), normalised."""
    if target == openai.PROVIDER:
        return openai.result_row(item)
    if target == anthropic.PROVIDER:
        return anthropic.result_row(_anthropic_line(item))
    return _flattened_gemini_row(item)


def _anthropic_line(item: Mapping[str, Any]) -> dict[str, Any]:
    """An Anthropic result item with the gateway's ``error`` folded back into the errored result."""
    result = dict(item.get("result") or {})
    error = item.get("error")
    if error and result.get("type", "errored") == "errored":
        detail = {"type": error.get("code") or "error", "message": error.get("message") or ""}
        result = {"type": "errored", "error": {"type": "error", "error": detail}}
    return {"custom_id": item.get("custom_id"), "result": result}


def _flattened_gemini_row(item: Mapping[str, Any]) -> ResultRow:
    """A Gemini result as the gateway flattens it: ``{"text", "finish_reason", "usage"}`` in ``response.body``."""
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
    usage = body.get("usage")
    return ResultRow(
        key=key,
        status=RowStatus.SUCCEEDED,
        text=body.get("text"),
        response=body,
        usage=Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens"))
        if usage
        else None,
    )


# --- dialect -----------------------------------------------------------------------------------------

TARGET_CAPABILITIES: dict[str, ProviderCapabilities] = {
    gemini.PROVIDER: ProviderCapabilities(file_input=True, inline_input=True, embeddings=False, find_by_key=False),
    openai.PROVIDER: ProviderCapabilities(
        file_input=True, inline_input=True, embeddings=False, delete=False, find_by_key=False
    ),
    anthropic.PROVIDER: ProviderCapabilities(file_input=False, inline_input=True, embeddings=False, find_by_key=False),
}
"""What each target can do through the facade: its batch route makes generation batches only."""


@dataclass(frozen=True)
class GatewayDialect:
    """A gateway's format policy: the target's own lines, ids and limits, less what the facade cannot carry."""

    target: Dialect

    provider: ClassVar[str] = PROVIDER

    @property
    def native_format(self) -> InputFormat:
        """The target's batch format: the bodies travel in it, the gateway does not translate them."""
        return self.target.native_format

    @property
    def limits(self) -> ProviderLimits:
        """The target's limits; the gateway adds none of its own that are known."""
        return self.target.limits

    @property
    def capabilities(self) -> ProviderCapabilities:
        """What the target can do through the facade (never embeddings; never found again by key)."""
        return TARGET_CAPABILITIES[self.target.provider]

    def to_native(self, line: Mapping[str, Any], *, model: str, embeddings: bool) -> dict[str, Any]:
        return self.target.to_native(line, model=model, embeddings=embeddings)

    def check_native(self, line: Mapping[str, Any], *, model: str) -> str | None:
        """The target's own check; an OpenAI line must target chat completions, the one endpoint the facade implies."""
        endpoint = self.target.check_native(line, model=model)
        if endpoint not in (None, openai.CHAT_URL):
            raise ValueError(f"'url' {endpoint!r} cannot go through the gateway: its batch route names no endpoint")
        return endpoint

    def provider_key(self, key: str) -> str:
        return self.target.provider_key(key)

    def result_row(self, line: Mapping[str, Any]) -> ResultRow:
        """One result item of the gateway's native results route."""
        return result_row(line, self.target.provider)


def target_dialect(target: str, *, default_max_tokens: int = anthropic.DEFAULT_MAX_TOKENS) -> GatewayDialect:
    """The dialect of batches the gateway makes at ``target``; Bedrock cannot be reached through the facade."""
    if target == gemini.PROVIDER:
        return GatewayDialect(gemini.GeminiDialect())
    if target == openai.PROVIDER:
        return GatewayDialect(openai.OpenAIDialect())
    if target == anthropic.PROVIDER:
        return GatewayDialect(anthropic.AnthropicDialect(default_max_tokens=default_max_tokens))
    raise GenAIBatchError(BEDROCK_UNSUPPORTED if target == "bedrock" else f"unknown gateway target {target!r}")
