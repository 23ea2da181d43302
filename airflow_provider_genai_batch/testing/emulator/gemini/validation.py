"""What the Gemini API rejects, and with which error: API keys, unknown fields, paging, file names, batch bodies.

Unknown fields are rejected as the proto-JSON parser rejects them, under either spelling of a name.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from airflow_provider_genai_batch.testing.emulator.common import (
    IntParam,
    JsonBodyErrors,
    read_json_object,
    rejects_key,
)
from airflow_provider_genai_batch.testing.emulator.gemini.wire import (
    MAX_FILE_ID_LENGTH,
    GeminiError,
    camel_case,
    get_field,
    invalid_argument,
    snake_case,
)
from airflow_provider_genai_batch.testing.emulator.store import JobKind, StateDep, decode_page_token

logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
MAX_PAYLOAD_BYTES = 20 * 1024 * 1024
"""The most one JSON request body may hold at Google's front end (uploaded bytes go to the upload server)."""
MAX_DISPLAY_NAME = 512
"""The most characters a File's display name may have."""
FILE_ID_PATTERN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
"""A file id, matched whole (a trailing newline is no more an id character than any other)."""
BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
BASE64_URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")

MISSING_KEY_MESSAGE = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
INVALID_KEY_MESSAGE = "API key not valid. Please pass a valid API key."
FILE_ID_TOO_LONG_MESSAGE = "File ID (name excluding 'files/') cannot be more than 40 characters"
DELETE_FILE_ID_TOO_LONG_MESSAGE = f"* DeleteFileRequest.name: {FILE_ID_TOO_LONG_MESSAGE}.\n"
GET_FILE_ID_TOO_LONG_MESSAGE = f"* GetFileRequest.name: {FILE_ID_TOO_LONG_MESSAGE}.\n"

GENERATE_REQUEST_FIELDS = frozenset(
    {
        "model",
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "safetySettings",
        "generationConfig",
        "cachedContent",
        "labels",
        "serviceTier",
        "store",
        "continuationToken",
    }
)
GENERATION_CONFIG_FIELDS = frozenset(
    {
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "candidateCount",
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseLogprobs",
        "logprobs",
        "enableEnhancedCivicAnswers",
        "speechConfig",
        "thinkingConfig",
        "imageConfig",
        "mediaResolution",
        "audioTranscriptionConfig",
    }
)
EMBED_REQUEST_FIELDS = frozenset({"model", "content", "taskType", "title", "outputDimensionality"})
INLINED_REQUEST_FIELDS = frozenset({"request", "metadata"})
BATCH_FIELDS = frozenset(
    {
        "displayName",
        "inputConfig",
        "priority",
        "webhookConfig",
        "name",
        "model",
        "output",
        "createTime",
        "endTime",
        "updateTime",
        "batchStats",
        "state",
    }
)
INPUT_CONFIG_FIELDS = frozenset({"fileName", "requests"})
FILE_FIELDS = frozenset(
    {
        "name",
        "displayName",
        "mimeType",
        "sizeBytes",
        "createTime",
        "updateTime",
        "expirationTime",
        "sha256Hash",
        "uri",
        "downloadUri",
        "state",
        "source",
        "error",
        "videoMetadata",
    }
)


# Request bodies and fields


def unparseable_json(exc: Exception) -> GeminiError:
    """The parser's complaint about a body that is not JSON."""
    return invalid_argument(f"Invalid JSON payload received. {exc}")


def not_a_json_object() -> GeminiError:
    """The parser's complaint about a JSON body that is not an object."""
    return invalid_argument("Invalid JSON payload received. Expected a JSON object.")


JSON_BODY = JsonBodyErrors(unparseable=unparseable_json, not_an_object=not_a_json_object)


def payload_too_large() -> GeminiError:
    """Google's front end on a request body over :data:`MAX_PAYLOAD_BYTES` (an inline batch over 20 MB among them)."""
    return invalid_argument(f"Request payload size exceeds the limit: {MAX_PAYLOAD_BYTES} bytes.")


async def read_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; an empty body counts as {}; one over :data:`MAX_PAYLOAD_BYTES` is refused
    (before it is read when its declared length says so)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_PAYLOAD_BYTES:
        raise payload_too_large()
    if len(await request.body()) > MAX_PAYLOAD_BYTES:
        raise payload_too_large()
    return await read_json_object(request, JSON_BODY)


def unknown_field(obj: Mapping[str, Any], allowed: frozenset[str]) -> str | None:
    """The first key that is not a known field under either spelling, or None."""
    for key in obj:
        if key not in allowed and camel_case(key) not in allowed:
            return key
    return None


def unknown_name_error(name: str, path: str) -> GeminiError:
    """The proto-JSON parser's complaint about a field that does not exist."""
    return invalid_argument(f"Invalid JSON payload received. Unknown name \"{name}\" at '{path}': Cannot find field.")


def check_fields(obj: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
    """Reject an object with a field proto-JSON would not know, as the API does for request bodies."""
    name = unknown_field(obj, allowed)
    if name is not None:
        raise unknown_name_error(name, path)


def split_action(ref: str) -> tuple[str, str | None]:
    """Split a path segment like `abc:download` into ("abc", "download")."""
    resource, sep, action = ref.partition(":")
    return resource, (action if sep else None)


# Auth


async def require_api_key(request: Request, state: StateDep) -> None:
    """Check `x-goog-api-key` (or `?key=`, accepted but logged): missing → 403, wrong → 400.

    Async only so that FastAPI runs it in the event loop rather than a worker thread; it never waits.
    """
    key = request.headers.get("x-goog-api-key")
    if not key and request.query_params.get("key"):
        key = request.query_params["key"]
        logger.warning("API key passed as ?key= in the URL of %s %s", request.method, request.url.path)
    if not key:
        raise GeminiError(403, "PERMISSION_DENIED", MISSING_KEY_MESSAGE)
    if rejects_key(state.config.api_key, key):
        raise GeminiError(
            400,
            "INVALID_ARGUMENT",
            INVALID_KEY_MESSAGE,
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ],
        )


# Query parameters

SYSTEM_PARAMETERS = frozenset(
    {"key", "alt", "$alt", "prettyPrint", "fields", "quotaUser", "userIp", "callback", "access_token", "$.xgafv"}
)
"""Query parameters every Google REST method takes besides its own (`fields` is accepted but not applied)."""
LIST_FILES_PARAMETERS = frozenset({"pageSize", "pageToken"})
LIST_BATCHES_PARAMETERS = frozenset({"pageSize", "pageToken", "filter", "returnPartialSuccess"})


def check_query(request: Request, method_fields: frozenset[str] = frozenset()) -> None:
    """Refuse a query parameter that is neither a system parameter nor a field of the method's request (under
    either spelling), as Google's front end refuses it."""
    for name in request.query_params:
        if name not in SYSTEM_PARAMETERS and name not in method_fields and camel_case(name) not in method_fields:
            raise invalid_argument(
                f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter. '
                f"Field '{name}' could not be found in request message."
            )


# Paging

PAGE_SIZE = IntParam(
    default=DEFAULT_PAGE_SIZE,
    minimum=0,
    maximum=MAX_PAGE_SIZE,
    not_an_integer=lambda raw: invalid_argument(f"Invalid value at 'page_size' (TYPE_INT32), \"{raw}\""),
    too_small=lambda value: invalid_argument("page_size must not be negative."),
)
"""pageSize: capped at 100, negative values rejected."""


def proto_query_param(request: Request, camel: str) -> str | None:
    """A query parameter under its camelCase name, else under its snake_case one."""
    return request.query_params.get(camel, request.query_params.get(snake_case(camel)))


def parse_page_size(request: Request) -> int:
    """pageSize (or page_size): default 10 (also for 0), capped at 100; negative values are rejected."""
    return PAGE_SIZE.parse(proto_query_param(request, "pageSize")) or DEFAULT_PAGE_SIZE


def page_token_checked(request: Request, listing: str) -> str | None:
    """pageToken (or page_token), rejected up front when it is not one the emulator issued for ``listing``."""
    token = proto_query_param(request, "pageToken") or None
    if token is not None:
        try:
            decode_page_token(token, listing)
        except ValueError as exc:
            raise invalid_argument(f"Invalid page token: {token}") from exc
    return token


FILES_LISTING = "gemini files"
"""The listing a files page token resumes (the method takes no filter)."""


def batches_listing(request: Request) -> str:
    """The listing a batches page token resumes: the collection and the filter it was asked with."""
    return f"gemini batches {proto_query_param(request, 'filter') or ''}"


# Files


def check_file_id_length(file_id: str, message: str = FILE_ID_TOO_LONG_MESSAGE) -> None:
    """Ids over 40 characters fail as the real API fails them (result files `batch-<id>` among them)."""
    if len(file_id) > MAX_FILE_ID_LENGTH:
        raise invalid_argument(message)


def parse_new_file_id(name: str | None) -> str | None:
    """Validate a client-chosen file name (`files/<id>`) and return its id."""
    if not name:
        return None
    file_id = name.removeprefix("files/")
    check_file_id_length(file_id)
    if not FILE_ID_PATTERN.fullmatch(file_id):
        raise invalid_argument(
            f"Invalid file name {name!r}: the id may contain only lowercase letters, digits and dashes, "
            "and may not start or end with a dash."
        )
    return file_id


def parse_upload_start(body: dict[str, Any]) -> dict[str, Any]:
    """The `file` object of an upload start body ({} when absent), its fields checked."""
    check_fields(body, frozenset({"file"}), "")
    file_obj = body.get("file") or {}
    if not isinstance(file_obj, dict):
        raise invalid_argument("Invalid JSON payload received. 'file' must be an object.")
    check_fields(file_obj, FILE_FIELDS, "file")
    display_name = get_field(file_obj, "displayName")
    if display_name is not None and (not isinstance(display_name, str) or len(display_name) > MAX_DISPLAY_NAME):
        raise invalid_argument(
            f"* CreateFileRequest.file.display_name: The display name must be no more than {MAX_DISPLAY_NAME} "
            "characters in length.\n"
        )
    return file_obj


# Batches


@dataclass(frozen=True)
class BatchCreate:
    """A batch create body that passed the envelope checks; its input is checked next."""

    batch: dict[str, Any]
    file_name: Any
    inline: Any
    priority: int
    display_name: str | None


INT64_TEXT = re.compile(r"-?[0-9]+")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def parse_priority(value: Any) -> int:
    """priority is an int64: a JSON integer, or a string of decimal digits, within int64 (proto-JSON refuses
    a boolean, a fraction and any other string)."""
    if value is None:
        return 0
    integral = (
        (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, float) and value.is_integer())
        or (isinstance(value, str) and INT64_TEXT.fullmatch(value) is not None)
    )
    number = int(value) if integral else None
    if number is None or not INT64_MIN <= number <= INT64_MAX:
        raise invalid_argument(f"Invalid value at 'batch.priority' (TYPE_INT64), {json_text(value)}")
    return number


def parse_display_name(value: Any) -> str | None:
    """displayName is a string: proto-JSON refuses any other value."""
    if value is not None and not isinstance(value, str):
        raise invalid_argument(f"Invalid value at 'batch.display_name' (TYPE_STRING), {json_text(value)}")
    return value


def parse_batch_create(body: dict[str, Any]) -> BatchCreate:
    """Check a batch create body's envelope: the batch, its inputConfig (one source), its priority."""
    check_fields(body, frozenset({"batch", "model"}), "")
    batch = body.get("batch")
    if not isinstance(batch, dict):
        raise invalid_argument("* BatchGenerateContentRequest.batch: batch is not specified.")
    check_fields(batch, BATCH_FIELDS, "batch")
    input_config = get_field(batch, "inputConfig")
    if not isinstance(input_config, dict):
        raise invalid_argument("* batch.input_config: input_config is not specified.")
    check_fields(input_config, INPUT_CONFIG_FIELDS, "batch.input_config")
    file_name = get_field(input_config, "fileName")
    inline = get_field(input_config, "requests")
    if file_name is not None and inline is not None:
        raise invalid_argument(
            "Invalid JSON payload received. Oneof field 'source' is already set. Cannot set 'requests'."
        )
    if file_name is None and inline is None:
        raise invalid_argument("* batch.input_config: either file_name or requests must be set.")
    priority = parse_priority(get_field(batch, "priority"))
    display_name = parse_display_name(get_field(batch, "displayName"))
    return BatchCreate(batch=batch, file_name=file_name, inline=inline, priority=priority, display_name=display_name)


def check_input_file_name(file_name: Any) -> str:
    """A batch's input file name must be `files/<id>`; its id is returned."""
    if not isinstance(file_name, str) or not file_name.startswith("files/"):
        raise invalid_argument(f"Invalid input file name {file_name!r}: expected 'files/<id>'.")
    return file_name.removeprefix("files/")


def parse_inline_requests(requests: Any, kind: JobKind) -> list[dict[str, Any]]:
    """Validate `inputConfig.requests` ({"requests": [InlinedRequest]}) as the proto parser would."""
    base_path = "batch.input_config.requests"
    if not isinstance(requests, dict):
        raise invalid_argument(f"Invalid JSON payload received. '{base_path}' must be an object.")
    check_fields(requests, frozenset({"requests"}), base_path)
    entries = requests.get("requests")
    if not isinstance(entries, list) or not entries:
        raise invalid_argument("* BatchGenerateContentRequest.batch.input_config.requests: requests is empty.")
    allowed = GENERATE_REQUEST_FIELDS if kind == "generate" else EMBED_REQUEST_FIELDS
    for index, entry in enumerate(entries):
        path = f"{base_path}.requests[{index}]"
        if not isinstance(entry, dict):
            raise invalid_argument(f"Invalid JSON payload received. '{path}' must be an object.")
        check_fields(entry, INLINED_REQUEST_FIELDS, path)
        metadata = get_field(entry, "metadata")
        if metadata is not None and not isinstance(metadata, dict):
            struct = "type.googleapis.com/google.protobuf.Struct"
            raise invalid_argument(f"Invalid value at '{path}.metadata' ({struct}), {json_text(metadata)}")
        request = get_field(entry, "request")
        if not isinstance(request, dict):
            raise invalid_argument(f"* {path}.request: request is not specified.")
        check_fields(request, allowed, f"{path}.request")
        problem = scalar_problem(request, f"{path}.request") if kind == "generate" else None
        if problem is not None:
            raise invalid_argument(problem)
        config = get_field(request, "generationConfig") if kind == "generate" else None
        if isinstance(config, dict):
            check_fields(config, GENERATION_CONFIG_FIELDS, f"{path}.request.generation_config")
    return entries


def request_field_problem(request: Any, kind: JobKind) -> str | None:
    """Name a field a file-input request must not have (as proto-JSON parsing would), or describe a bad shape."""
    if not isinstance(request, dict):
        return "the request must be a JSON object"
    allowed = GENERATE_REQUEST_FIELDS if kind == "generate" else EMBED_REQUEST_FIELDS
    name = unknown_field(request, allowed)
    if name is not None:
        return f"no such field: '{name}'"
    problem = scalar_problem(request, "request") if kind == "generate" else None
    if problem is not None:
        return problem
    config = get_field(request, "generationConfig") if kind == "generate" else None
    if isinstance(config, dict):
        name = unknown_field(config, GENERATION_CONFIG_FIELDS)
        if name is not None:
            return f"no such field: '{name}'"
    return None


FUNCTION_CALL_TURN = (
    "Please ensure that function call turn comes immediately after a user turn or after a function response turn."
)
FUNCTION_RESPONSE_TURN = "Please ensure that function response turn comes immediately after a function call turn."
FUNCTION_RESPONSE_COUNT = (
    "Please ensure that the number of function response parts is equal to the number of function call parts of the "
    "function call turn."
)
THINKING_BUDGET_AND_LEVEL = "You can only set only one of thinking budget and thinking level."


def api_rule_problem(request: Mapping[str, Any]) -> str | None:
    """The API's 400 message for a generation request its schema allows but the model refuses, or None: function
    calling out of turn (a call turn right after a user turn, each call answered by one functionResponse part in
    the next turn and responses only there) and a thinking budget set beside a thinking level."""
    contents = get_field(request, "contents")
    calls_before = 0
    role_before: str | None = None
    for content in contents if isinstance(contents, list) else ():
        parts = get_field(content, "parts") if isinstance(content, dict) else None
        parts = [part for part in parts if isinstance(part, dict)] if isinstance(parts, list) else []
        calls = sum(get_field(part, "functionCall") is not None for part in parts)
        responses = sum(get_field(part, "functionResponse") is not None for part in parts)
        if calls_before and responses != calls_before:
            return FUNCTION_RESPONSE_COUNT
        if responses and not calls_before:
            return FUNCTION_RESPONSE_TURN
        if calls and role_before != "user":
            return FUNCTION_CALL_TURN
        calls_before, role_before = calls, (content.get("role") if isinstance(content, dict) else None) or "user"
    config = get_field(request, "generationConfig")
    thinking = get_field(config, "thinkingConfig") if isinstance(config, dict) else None
    if not isinstance(thinking, dict) or get_field(thinking, "thinkingBudget") is None:
        return None
    level = get_field(thinking, "thinkingLevel")
    return None if level in (None, "THINKING_LEVEL_UNSPECIFIED", 0) else THINKING_BUDGET_AND_LEVEL


def scalar_problem(request: Mapping[str, Any], path: str) -> str | None:
    """The parser's complaint about a ``store`` that is not a boolean or a ``continuationToken`` that is not
    base64 (a proto ``bytes`` field), or None; null is unset, as proto-JSON reads it."""
    store = get_field(request, "store")
    if store is not None and not isinstance(store, bool):
        return f"Invalid value at '{path}.store' (TYPE_BOOL), {json_text(store)}"
    token = get_field(request, "continuationToken")
    if token is not None and not is_base64(token):
        return (
            f"Invalid value at '{path}.continuation_token' (TYPE_BYTES), Base64 decoding failed for {json_text(token)}"
        )
    return None


def is_base64(value: Any) -> bool:
    """Whether proto-JSON reads ``value`` as bytes: base64 text, standard or URL-safe, padded or not."""
    if not isinstance(value, str) or not (BASE64.fullmatch(value) or BASE64_URL.fullmatch(value)):
        return False
    body = len(value.rstrip("="))
    return body % 4 != 1 and (body == len(value) or len(value) % 4 == 0)


def json_text(value: Any) -> str:
    """A value as the parser quotes it in an error: strings in double quotes, anything else as JSON."""
    return f'"{value}"' if isinstance(value, str) else json.dumps(value)
