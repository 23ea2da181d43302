"""What Anthropic's Message Batches API rejects, and with which error.

At creation: auth, version and beta headers, a malformed body, unknown fields, an empty or oversized
list, a bad or repeated custom_id, params that are not an object. A request's params (unknown fields
included) are checked only while the batch runs, and a bad one ends `errored`: a batch as a whole
never fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from fastapi import Request

from airflow_provider_genai_batch.testing.emulator.anthropic.betas import check_betas
from airflow_provider_genai_batch.testing.emulator.anthropic.blocks import message_content_problem, system_problem
from airflow_provider_genai_batch.testing.emulator.anthropic.jsonstream import JsonStream
from airflow_provider_genai_batch.testing.emulator.anthropic.wire import AnthropicError, invalid_request
from airflow_provider_genai_batch.testing.emulator.common import IntParam, bearer_token, rejects_key
from airflow_provider_genai_batch.testing.emulator.store import LineWriter, StateDep

MAX_REQUESTS = 100_000
MAX_BODY_BYTES = 256 * 1024 * 1024
DEFAULT_PAGE = 20
MAX_PAGE = 1000
CUSTOM_ID_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,64}")
"""The API's `^[a-zA-Z0-9_-]{1,64}$`, matched whole: its `$` is the end of the text, not of a last line."""
KNOWN_VERSIONS = frozenset({"2023-01-01", "2023-06-01", "2026-10-21"})
STRICT_BATCH_VERSION = "2026-10-21"
"""From this version on, requests inside a batch may not set sampling parameters."""
SAMPLING_PARAMS = ("temperature", "top_p", "top_k")
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
"""The body fields of a Messages request (as the SDK sends them), plus a batch request's `user_profile_id`."""
MESSAGE_FIELDS = frozenset({"role", "content"})
TOOL_CHOICE_TYPES = ("auto", "any", "tool", "none")
"""The tags of the SDK's `ToolChoiceParam` union."""
TOOL_NAME_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,128}")
"""A custom tool's name: the API's `^[a-zA-Z0-9_-]{1,128}$`, matched whole."""
MAX_MESSAGES = 100_000
"""The Messages API takes at most this many messages in one request."""


# Auth and version


async def require_auth(request: Request, state: StateDep) -> None:
    """`x-api-key` or `Authorization: Bearer` (SDK 2.x) must carry the key; `anthropic-version` is required.

    Any `anthropic-beta` header must name only betas the API knows. Async only so that FastAPI runs it in
    the event loop rather than a worker thread; it never waits.
    """
    key = request.headers.get("x-api-key")
    via_bearer = False
    if not key:
        key = bearer_token(request)
        via_bearer = key is not None
    if not key:
        raise AnthropicError(401, "authentication_error", "x-api-key header is required")
    if rejects_key(state.config.api_key, key):
        message = "invalid bearer token" if via_bearer else "invalid x-api-key"
        raise AnthropicError(401, "authentication_error", message)
    version = request.headers.get("anthropic-version")
    if not version:
        raise invalid_request("anthropic-version: header is required")
    if version not in KNOWN_VERSIONS:
        raise invalid_request(f"anthropic-version: unknown version '{version}'")
    check_betas(request)


LIMIT = IntParam(
    default=DEFAULT_PAGE,
    minimum=1,
    maximum=MAX_PAGE,
    not_an_integer=lambda raw: invalid_request("limit: Input should be a valid integer"),
    too_small=lambda value: invalid_request("limit: Input should be greater than or equal to 1"),
    too_large=lambda value: invalid_request(f"limit: Input should be less than or equal to {MAX_PAGE}"),
)
"""`limit`: 1..1000, default 20."""


# The create body, streamed from disk


@dataclass
class RequestsSummary:
    """What the create body held: how many requests, and their model (the first one's, "" for none)."""

    count: int = 0
    model: str = ""


def read_requests(body_path: Path, input_path: Path) -> RequestsSummary:
    """Validate a create body `{"requests": [...]}` streamed from disk; write its requests as JSONL.

    Raises AnthropicError (400) for the problems the API rejects at creation.
    """
    summary = RequestsSummary()
    seen: set[str] = set()
    found_requests = False
    try:
        with body_path.open("rb") as handle, LineWriter(input_path) as writer:
            stream = JsonStream(handle)
            stream.take("{")
            if stream.peek() == "}":
                stream.take("}")
            else:
                while True:
                    key = stream.value()
                    stream.take(":")
                    if key != "requests":
                        raise invalid_request(f"{key}: Extra inputs are not permitted")
                    if found_requests:
                        raise invalid_request("requests: the field is given more than once")
                    found_requests = True
                    read_request_list(stream, writer, seen, summary)
                    if stream.peek() != ",":
                        stream.take("}")
                        break
                    stream.take(",")
            if stream.peek() != "":
                raise ValueError("unexpected data after the JSON body")
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_request(f"There was an error parsing the body of your request: {exc}") from exc
    if not found_requests:
        raise invalid_request("requests: Field required")
    if summary.count == 0:
        raise invalid_request("requests: List should have at least 1 item after validation, not 0")
    return summary


def read_request_list(stream: JsonStream, writer: LineWriter, seen: set[str], summary: RequestsSummary) -> None:
    """Read the `requests` array one item at a time, validating and writing each."""
    if stream.peek() != "[":
        raise invalid_request("requests: Input should be a valid list")
    stream.take("[")
    if stream.peek() == "]":
        stream.take("]")
        return
    while True:
        item = stream.value()
        if summary.count >= MAX_REQUESTS:
            raise invalid_request(f"requests: List should have at most {MAX_REQUESTS} items after validation")
        request = check_request(item, summary.count, seen)
        writer.write(msgspec.json.encode(request))
        summary.count += 1
        model = request["params"].get("model")
        if not summary.model and isinstance(model, str):
            summary.model = model
        separator = stream.peek()
        if separator == "]":
            stream.take("]")
            return
        stream.take(",")


def check_request(item: Any, index: int, seen: set[str]) -> dict[str, Any]:
    """Validate one `{custom_id, params}` item at creation time."""
    path = f"requests.{index}"
    if not isinstance(item, dict):
        raise invalid_request(f"{path}: Input should be a valid dictionary")
    for key in item:
        if key not in ("custom_id", "params"):
            raise invalid_request(f"{path}.{key}: Extra inputs are not permitted")
    custom_id = item.get("custom_id")
    if custom_id is None:
        raise invalid_request(f"{path}.custom_id: Field required")
    if not isinstance(custom_id, str) or not CUSTOM_ID_PATTERN.fullmatch(custom_id):
        raise invalid_request(f"{path}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
    if custom_id in seen:
        raise invalid_request(
            f"{path}.custom_id: Duplicate custom_id '{custom_id}'; each request in a batch needs a unique custom_id."
        )
    seen.add(custom_id)
    params = item.get("params")
    if params is None:
        raise invalid_request(f"{path}.params: Field required")
    if not isinstance(params, dict):
        raise invalid_request(f"{path}.params: Input should be a valid dictionary")
    return {"custom_id": custom_id, "params": params}


# A request's params, checked while the batch runs


def params_problem(params: dict[str, Any], version: str) -> str | None:
    """Why the Messages API would reject these params (checked while the batch runs), or None."""
    strict = version >= STRICT_BATCH_VERSION
    if strict:
        for name in SAMPLING_PARAMS:
            if name in params:
                return f"{name}: Extra inputs are not permitted for requests in a Message Batch"
    allowed = PARAMS_FIELDS if strict else PARAMS_FIELDS | set(SAMPLING_PARAMS)
    for key in params:
        if key not in allowed:
            return f"{key}: Extra inputs are not permitted"
    model = params.get("model")
    if model is None:
        return "model: Field required"
    if not isinstance(model, str) or not model:
        return "model: Input should be a valid string"
    max_tokens = params.get("max_tokens")
    if max_tokens is None:
        return "max_tokens: Field required"
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "max_tokens: Input should be a positive integer"
    messages = params.get("messages")
    if messages is None:
        return "messages: Field required"
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if len(messages) > MAX_MESSAGES:
        return f"messages: at most {MAX_MESSAGES} messages are allowed in a single request"
    last = len(messages) - 1
    for index, message in enumerate(messages):
        problem = message_problem(message, f"messages.{index}", strict, final=index == last)
        if problem is not None:
            return problem
    problem = system_problem(params.get("system"))
    if problem is not None:
        return problem
    if params.get("stream"):
        return "stream: Streaming is not supported in Message Batches"
    return (
        sampling_problem(params) or tools_problem(params.get("tools")) or tool_choice_problem(params.get("tool_choice"))
    )


def sampling_problem(params: dict[str, Any]) -> str | None:
    """Why the sampling params would be rejected, or None (null is unset): `temperature` and `top_p` numbers from
    0 to 1, `top_k` an integer of at least 0, `stop_sequences` a list of strings."""
    for name in ("temperature", "top_p"):
        value = params.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{name}: Input should be a valid number"
        if not 0 <= value <= 1:
            bound = "greater than or equal to 0" if value < 0 else "less than or equal to 1"
            return f"{name}: Input should be {bound}"
    top_k = params.get("top_k")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)):
        return "top_k: Input should be a valid integer"
    if top_k is not None and top_k < 0:
        return "top_k: Input should be greater than or equal to 0"
    stops = params.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(stop, str) for stop in stops)):
        return "stop_sequences: Input should be a valid list of strings"
    return None


def tool_choice_problem(choice: Any) -> str | None:
    """Why `tool_choice` would be rejected, or None: its `type` must be one of the SDK's `ToolChoiceParam` tags,
    and `tool` must name the tool."""
    if choice is None:
        return None
    if not isinstance(choice, dict):
        return "tool_choice: Input should be a valid dictionary or object to extract fields from"
    tag = choice.get("type")
    if tag not in TOOL_CHOICE_TYPES:
        expected = ", ".join(f"'{name}'" for name in TOOL_CHOICE_TYPES)
        return f"tool_choice: Input tag '{tag}' found using 'type' does not match any of the expected tags: {expected}"
    if tag == "tool" and not isinstance(choice.get("name"), str):
        return "tool_choice.tool.name: Field required"
    return None


def tools_problem(tools: Any) -> str | None:
    """Why `tools` would be rejected, or None: a custom tool (no `type`, or `custom`) needs a name of 1-128 of
    `[a-zA-Z0-9_-]` and an `input_schema` of type `object`; the server tools (a versioned `type`) are not checked."""
    if tools is None:
        return None
    if not isinstance(tools, list):
        return "tools: Input should be a valid list"
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict):
            return f"tools.{index}: Input should be a valid dictionary"
        if tool.get("type") not in (None, "custom"):
            continue
        path = f"tools.{index}.custom"
        name = tool.get("name")
        if name is None:
            return f"{path}.name: Field required"
        if not isinstance(name, str) or not TOOL_NAME_PATTERN.fullmatch(name):
            return f"{path}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
        schema = tool.get("input_schema")
        if schema is None:
            return f"{path}.input_schema: Field required"
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return f"{path}.input_schema.type: Input should be 'object'"
    return None


def message_problem(message: Any, path: str, strict: bool, *, final: bool = False) -> str | None:
    """Why one entry of `messages` would be rejected, or None (`final` for the last one).

    Messages carry only `role` and `content`, checked block by block (see `blocks`). Under the strict
    version a `system` turn is allowed, an assistant turn may not hold a document, and a user text block
    may not carry citations.
    """
    roles = ("user", "assistant", "system") if strict else ("user", "assistant")
    if not isinstance(message, dict):
        return f"{path}: Input should be a valid dictionary"
    for key in message:
        if key not in MESSAGE_FIELDS:
            return f"{path}.{key}: Extra inputs are not permitted"
    role = message.get("role")
    if role not in roles:
        quoted = ", ".join(f"'{name}'" for name in roles[:-1])
        return f"{path}.role: Input should be {quoted} or '{roles[-1]}'"
    content = message.get("content")
    if content is None:
        return f"{path}.content: Field required"
    problem = message_content_problem(content, path, str(role), final)
    if problem is not None:
        return problem
    if not strict or isinstance(content, str):
        return None
    for number, block in enumerate(content):
        if not isinstance(block, dict):
            continue
        if role == "assistant" and block.get("type") == "document":
            return f"{path}.content.{number}: document blocks are not permitted in assistant messages"
        if role == "user" and block.get("type") == "text" and "citations" in block:
            return f"{path}.content.{number}.text.citations: Extra inputs are not permitted"
    return None
