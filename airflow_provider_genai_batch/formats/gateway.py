"""The GenAI-gateway wire format (Bifrost and its forks, GenAI facade at ``/genai``).

A gateway speaks the Gemini Files/Batch surface and routes every call to the provider named in the
``x-model-provider`` header. It translates the batch envelope and the job state, never the request
bodies: those travel inside the Gemini envelope in the target provider's own format. Its inline
converter drops ``tools``, ``toolConfig`` and ``cachedContent``, so a request carrying them is refused
here rather than silently changed. Results come from the gateway's native routes as Bifrost result items.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_genai_batch.formats import anthropic, gemini, openai
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.results import ResultRow, RowError, RowStatus, Usage
from airflow_provider_genai_batch.models import BatchJob, JobState

PROVIDER = "gateway"
MODEL_PROVIDERS = ("gemini", "openai", "anthropic", "bedrock")
"""The ``x-model-provider`` values a gateway routes on; an empty header means gemini."""

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
