"""What the OpenAI API rejects, and with which error: keys, query and form parameters, batch bodies, input files.

A batch's input file is checked while the batch is `validating`: a bad file does not fail the create
call, it ends the batch `failed` with the problems listed in `errors.data`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from fastapi import Request
from starlette.datastructures import FormData, UploadFile

from airflow_provider_genai_batch.testing.emulator.common import (
    IntParam,
    JsonBodyErrors,
    bearer_token,
    read_json_object,
    rejects_key,
)
from airflow_provider_genai_batch.testing.emulator.openai.wire import (
    OpenAIError,
    bad_request,
    invalid_value,
    missing_parameter,
)
from airflow_provider_genai_batch.testing.emulator.store import JobKind, StateDep

BATCH_FILE_TTL_SECONDS = 30 * 24 * 3600
MIN_EXPIRY_SECONDS = 3600
MAX_EXPIRY_SECONDS = 30 * 24 * 3600
MAX_BATCH_REQUESTS = 50_000
MAX_EMBEDDING_INPUTS = 50_000
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_REPORTED_ERRORS = 100
"""Validation errors listed on a failed batch; the rest are counted in a last entry."""
DEFAULT_FILE_PAGE = 10_000
MAX_FILE_PAGE = 10_000
DEFAULT_BATCH_PAGE = 20
MAX_BATCH_PAGE = 100

UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
"""`FilePurpose`: what an upload may declare."""
BATCH_ENDPOINTS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
"""Every endpoint the API accepts for a batch."""
EMULATED_ENDPOINTS: dict[str, JobKind] = {
    "/v1/responses": "generate",
    "/v1/chat/completions": "generate",
    "/v1/embeddings": "embed",
    "/v1/completions": "generate",
    "/v1/moderations": "generate",
}
"""The endpoints whose requests the emulator can answer (image and video generation it cannot)."""
BATCH_CREATE_FIELDS = frozenset({"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after"})
UPLOAD_FIELDS = frozenset({"file", "purpose", "expires_after"})
"""The fields of an upload form (the API's CreateFileRequest allows no others); nested ones are sent as `name[key]`."""
UNDOWNLOADABLE_PURPOSES = frozenset({"assistants", "user_data"})
"""Purposes whose content the API refuses to return (batch input and output files download fine)."""

MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if "
    "you're accessing the API from your browser and are prompted for a username. You can obtain an API key "
    "from https://platform.openai.com/account/api-keys."
)


# Auth


def masked(key: str) -> str:
    """A key as the API echoes it in errors: its start and end, the rest starred."""
    if len(key) <= 8:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


async def require_bearer(request: Request, state: StateDep) -> None:
    """`Authorization: Bearer <key>`: missing → 401; a key other than the configured one → 401 invalid_api_key.

    Async only so that FastAPI runs it in the event loop rather than a worker thread; it never waits.
    """
    key = bearer_token(request)
    if key is None:
        raise OpenAIError(401, MISSING_KEY_MESSAGE)
    if rejects_key(state.config.api_key, key):
        raise OpenAIError(
            401,
            f"Incorrect API key provided: {masked(key)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )


# Request bodies and parameters


def unparseable_json(exc: Exception) -> OpenAIError:
    """The complaint about a body that is not JSON."""
    return bad_request(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
        "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
    )


def not_a_json_object() -> OpenAIError:
    """The complaint about an empty body or one that is not a JSON object."""
    return bad_request("The body of your request must be a JSON object.")


JSON_BODY = JsonBodyErrors(unparseable=unparseable_json, not_an_object=not_a_json_object, empty_is_object=False)


async def read_body(request: Request) -> dict[str, Any]:
    """The JSON object body of a request."""
    return await read_json_object(request, JSON_BODY)


def limit_param(default: int, maximum: int) -> IntParam:
    """`limit`: an integer in 1..maximum."""
    return IntParam(
        default=default,
        minimum=1,
        maximum=maximum,
        not_an_integer=lambda raw: bad_request(
            f"Invalid 'limit': expected an integer, but got '{raw}' instead.", param="limit", code="invalid_type"
        ),
        too_small=lambda value: bad_request(
            f"Invalid 'limit': integer below minimum value. Expected a value >= 1, but got {value} instead.",
            param="limit",
            code="integer_below_min_value",
        ),
        too_large=lambda value: bad_request(
            f"Invalid 'limit': integer above maximum value. Expected a value <= {maximum}, but got {value} instead.",
            param="limit",
            code="integer_above_max_value",
        ),
    )


FILE_LIMIT = limit_param(DEFAULT_FILE_PAGE, MAX_FILE_PAGE)
BATCH_LIMIT = limit_param(DEFAULT_BATCH_PAGE, MAX_BATCH_PAGE)


def parse_order(request: Request) -> str:
    """`order`: asc or desc (the default)."""
    order = request.query_params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid_value("order", order, ("asc", "desc"))
    return order


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value, as the API names it in type errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def invalid_type(name: str, expected: str, value: Any) -> OpenAIError:
    """The error for a parameter of the wrong JSON type."""
    return bad_request(
        f"Invalid type for '{name}': expected {expected}, but got {json_type(value)} instead.",
        param=name,
        code="invalid_type",
    )


def json_integer(value: Any, name: str) -> int:
    """A JSON body's integer (a decimal with no fraction is one too; a string or a boolean is not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_type(name, "an integer", value)
    if isinstance(value, float) and not value.is_integer():
        raise invalid_type(name, "an integer", value)
    return int(value)


def form_integer(value: Any, name: str) -> int:
    """A multipart field's integer: the decimal digits of one."""
    text = str(value)
    if text.isascii() and text.removeprefix("-").isdigit():
        return int(text)
    raise bad_request(f"Invalid '{name}': expected an integer, but got '{text}' instead.", param=name)


def parse_expires_after(anchor: Any, seconds: Any, prefix: str, integer: Callable[[Any, str], int]) -> int:
    """Validate an `{anchor: "created_at", seconds}` expiry policy (both required) and return its seconds."""
    if anchor is None:
        raise missing_parameter(f"{prefix}.anchor")
    if seconds is None:
        raise missing_parameter(f"{prefix}.seconds")
    if anchor != "created_at":
        raise invalid_value(f"{prefix}.anchor", anchor, ("created_at",))
    value = integer(seconds, f"{prefix}.seconds")
    if not MIN_EXPIRY_SECONDS <= value <= MAX_EXPIRY_SECONDS:
        raise bad_request(
            f"Invalid '{prefix}.seconds': must be between {MIN_EXPIRY_SECONDS} and {MAX_EXPIRY_SECONDS}.",
            param=f"{prefix}.seconds",
            code="invalid_value",
        )
    return value


@dataclass(frozen=True)
class UploadForm:
    """The fields of an upload form that passed validation."""

    upload: UploadFile
    purpose: str
    filename: str
    ttl: int | None


def parse_upload_form(form: FormData) -> UploadForm:
    """Check an upload form: no unknown fields, `purpose`, a `file`, a .jsonl name for batch files, `expires_after`."""
    for key in form:
        if key.partition("[")[0] not in UPLOAD_FIELDS:
            raise bad_request(f"Additional properties are not allowed ('{key}' was unexpected)")
    upload = form.get("file")
    purpose = form.get("purpose")
    if purpose is None:
        raise missing_parameter("purpose")
    if purpose not in UPLOAD_PURPOSES:
        raise invalid_value("purpose", purpose, UPLOAD_PURPOSES)
    if not isinstance(upload, UploadFile):
        raise missing_parameter("file")
    filename = upload.filename or "upload"
    if purpose == "batch" and not filename.endswith(".jsonl"):
        raise bad_request("Invalid file format for Batch API. Must be .jsonl")
    if "expires_after" in form:
        raise invalid_type("expires_after", "an object", form["expires_after"])
    anchor, seconds = form.get("expires_after[anchor]"), form.get("expires_after[seconds]")
    ttl = None
    if anchor is not None or seconds is not None:
        ttl = parse_expires_after(anchor, seconds, "expires_after", form_integer)
    elif purpose == "batch":
        ttl = BATCH_FILE_TTL_SECONDS
    return UploadForm(upload=upload, purpose=str(purpose), filename=filename, ttl=ttl)


def parse_metadata(value: Any) -> dict[str, str] | None:
    """Validate batch metadata: at most 16 string pairs, keys ≤ 64 and values ≤ 512 characters."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("Invalid type for 'metadata': expected an object.", param="metadata", code="invalid_type")
    if len(value) > MAX_METADATA_PAIRS:
        raise bad_request(
            f"Invalid 'metadata': too many properties. Expected an object with at most {MAX_METADATA_PAIRS} "
            f"properties, but got an object with {len(value)} properties instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY:
            raise bad_request(
                f"Invalid 'metadata': key '{key[:20]}…' is too long. Expected a key with at most "
                f"{MAX_METADATA_KEY} characters, but got {len(key)} characters instead.",
                param="metadata",
                code="string_above_max_length",
            )
        if not isinstance(item, str):
            raise bad_request(
                f"Invalid type for 'metadata.{key}': expected a string.",
                param=f"metadata.{key}",
                code="invalid_type",
            )
        if len(item) > MAX_METADATA_VALUE:
            raise bad_request(
                f"Invalid 'metadata.{key}': string too long. Expected a string with maximum length "
                f"{MAX_METADATA_VALUE}, but got a string with length {len(item)} instead.",
                param=f"metadata.{key}",
                code="string_above_max_length",
            )
    return dict(value)


@dataclass(frozen=True)
class BatchCreate:
    """A batch create body that passed validation; its input file is looked up next."""

    input_file_id: str
    endpoint: str
    metadata: dict[str, str] | None
    output_ttl: int | None


def parse_batch_create(body: dict[str, Any]) -> BatchCreate:
    """Check a batch create body: known fields, the required ones, endpoint, window, metadata, output expiry."""
    for key in body:
        if key not in BATCH_CREATE_FIELDS:
            raise bad_request(f"Unrecognized request argument supplied: {key}")
    for name in ("input_file_id", "endpoint", "completion_window"):
        if body.get(name) is None:
            raise missing_parameter(name)
    if not isinstance(body["input_file_id"], str):
        raise invalid_type("input_file_id", "a string", body["input_file_id"])
    endpoint = body["endpoint"]
    if endpoint not in BATCH_ENDPOINTS:
        raise invalid_value("endpoint", endpoint, BATCH_ENDPOINTS)
    if endpoint not in EMULATED_ENDPOINTS:
        raise bad_request(
            f"The emulator does not implement batches for endpoint '{endpoint}'; it emulates "
            f"{', '.join(EMULATED_ENDPOINTS)}.",
            param="endpoint",
        )
    if body["completion_window"] != "24h":
        raise invalid_value("completion_window", body["completion_window"], ("24h",))
    metadata = parse_metadata(body.get("metadata"))
    expiry = body.get("output_expires_after")
    output_ttl = None
    if expiry is not None:
        if not isinstance(expiry, dict):
            raise invalid_type("output_expires_after", "an object", expiry)
        output_ttl = parse_expires_after(
            expiry.get("anchor"), expiry.get("seconds"), "output_expires_after", json_integer
        )
    return BatchCreate(input_file_id=body["input_file_id"], endpoint=endpoint, metadata=metadata, output_ttl=output_ttl)


# Chat completion bodies (checked when a request is answered: a bad one fails on its own line)

CHAT_FIELDS = frozenset(
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
"""The body fields of a chat completion (the openai SDK's `CompletionCreateParams`)."""
EMBEDDINGS_FIELDS = frozenset({"input", "model", "dimensions", "encoding_format", "user"})
"""The body fields of an embeddings request (the openai SDK's `EmbeddingCreateParams`)."""
COMPLETIONS_FIELDS = frozenset(
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
)
"""The body fields of a legacy completion (the openai SDK's `completion_create_params.CompletionCreateParams`)."""
MODERATIONS_FIELDS = frozenset({"input", "model"})
"""The body fields of a moderation (the openai SDK's `ModerationCreateParams`)."""
CHAT_NUMBER_BOUNDS: dict[str, tuple[int, int]] = {
    "temperature": (0, 2),
    "frequency_penalty": (-2, 2),
    "presence_penalty": (-2, 2),
    "top_logprobs": (0, 20),
}
"""The documented bounds of the chat completion's bounded numbers."""
MAX_STOP_SEQUENCES = 4


@dataclass(frozen=True)
class ParamProblem:
    """Why an endpoint refuses one parameter of a request: the error's message, param and code."""

    message: str
    param: str | None = None
    code: str | None = None


def bound_problem(name: str, value: Any, low: int, high: int) -> ParamProblem | None:
    """The API's complaint about a number outside [low, high] (worded for a decimal or an integer), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    kind = "integer" if isinstance(value, int) else "decimal"
    if value > high:
        return ParamProblem(
            f"Invalid '{name}': {kind} above maximum value. Expected a value <= {high}, but got {value} instead.",
            name,
            f"{kind}_above_max_value",
        )
    if value < low:
        return ParamProblem(
            f"Invalid '{name}': {kind} below minimum value. Expected a value >= {low}, but got {value} instead.",
            name,
            f"{kind}_below_min_value",
        )
    return None


CHAT_DECIMALS = frozenset({"temperature", "top_p", "frequency_penalty", "presence_penalty"})
CHAT_INTEGERS = frozenset({"n", "max_completion_tokens", "max_tokens", "seed", "top_logprobs"})
"""The chat completion's numbers (the openai SDK's `Optional[float]` and `Optional[int]` parameters)."""


def type_problem(name: str, value: Any, *, integer: bool) -> ParamProblem | None:
    """The API's complaint about a number parameter of another JSON type (null is unset), or None; a decimal with
    no fraction is an integer."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and isinstance(value, float) and not value.is_integer())
    ):
        expected = "an integer" if integer else "a decimal"
        message = f"Invalid type for '{name}': expected {expected}, but got {json_type(value)} instead."
        return ParamProblem(message, name, "invalid_type")
    return None


def unknown_argument(body: Mapping[str, Any], known: frozenset[str]) -> ParamProblem | None:
    """The API's complaint about the first body field outside ``known`` (the endpoint's arguments), or None."""
    for name in body:
        if name not in known:
            return ParamProblem(f"Unrecognized request argument supplied: {name}")
    return None


def chat_problem(body: Mapping[str, Any]) -> ParamProblem | None:
    """Why the chat completions endpoint refuses this body's parameters, or None: an argument it does not
    take, a number outside its documented bounds, more than four stop sequences."""
    unknown = unknown_argument(body, CHAT_FIELDS)
    if unknown is not None:
        return unknown
    for name in sorted(CHAT_DECIMALS | CHAT_INTEGERS):
        problem = type_problem(name, body.get(name), integer=name in CHAT_INTEGERS)
        if problem is not None:
            return problem
    for name, (low, high) in CHAT_NUMBER_BOUNDS.items():
        problem = bound_problem(name, body.get(name), low, high)
        if problem is not None:
            return problem
    stop = body.get("stop")
    if isinstance(stop, list) and len(stop) > MAX_STOP_SEQUENCES:
        return ParamProblem(
            f"Invalid 'stop': array too long. Expected an array with maximum length {MAX_STOP_SEQUENCES}, "
            f"but got an array with length {len(stop)} instead.",
            "stop",
            "array_above_max_length",
        )
    return None


# Batch input files


@dataclass
class Validation:
    """What reading a batch's input file found: its request count, model, and errors if it is invalid."""

    count: int = 0
    model: str | None = None
    embedding_inputs: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0

    def add(self, code: str, message: str, line: int | None, param: str | None = None) -> None:
        """Record one validation error (only the first ones are kept)."""
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"code": code, "line": line, "message": message, "param": param})

    def reported_errors(self) -> list[dict[str, Any]]:
        """The errors a failed batch lists, with a last entry counting those left out."""
        errors = list(self.errors)
        if self.error_count > len(errors):
            errors.append(
                {
                    "code": "too_many_errors",
                    "line": None,
                    "message": f"{self.error_count - len(errors)} more errors were found and not listed.",
                    "param": None,
                }
            )
        return errors


def embedding_texts(value: Any) -> list[str] | None:
    """The texts to embed from `input`: a string, a list of strings, tokens, or lists of tokens."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(item, str) for item in value):
            return list(value)
        if all(isinstance(item, int) for item in value):
            return [" ".join(str(token) for token in value)]
        if all(isinstance(item, list) and all(isinstance(t, int) for t in item) for item in value):
            return [" ".join(str(token) for token in item) for item in value]
    return None


def validate_input(path: Path, endpoint: str, kind: JobKind) -> Validation:
    """Read a batch input file line by line and report what would make the batch fail validation."""
    result = Validation()
    seen: set[str] = set()
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            result.count += 1
            check_input_line(raw, number, endpoint, kind, seen, result)
    if result.count == 0:
        result.add("empty_file", "The batch input file is empty.", None)
    elif result.count > MAX_BATCH_REQUESTS:
        result.add(
            "too_many_tasks",
            f"The batch input file contains {result.count} requests; a batch may contain at most {MAX_BATCH_REQUESTS}.",
            None,
        )
    if result.embedding_inputs > MAX_EMBEDDING_INPUTS:
        result.add(
            "too_many_tasks",
            f"The batch contains {result.embedding_inputs} embedding inputs; an embeddings batch may contain "
            f"at most {MAX_EMBEDDING_INPUTS}.",
            None,
        )
    return result


def check_input_line(raw: bytes, number: int, endpoint: str, kind: JobKind, seen: set[str], out: Validation) -> None:
    """Validate one input line (a BatchRequestInput) and record its errors."""
    try:
        entry = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        out.add("invalid_json_line", "This line is not parseable as valid JSON.", number)
        return
    if not isinstance(entry, dict):
        out.add("invalid_json_line", "This line is not a JSON object.", number)
        return
    custom_id = entry.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        out.add("missing_required_parameter", "Missing required parameter: 'custom_id'.", number, "custom_id")
    elif custom_id in seen:
        out.add(
            "duplicate_custom_id",
            "The custom_id for this request is a duplicate of another request. "
            "The custom_id parameter must be unique for each request in a batch.",
            number,
            "custom_id",
        )
    else:
        seen.add(custom_id)
    method = entry.get("method")
    if method is None:
        out.add("missing_required_parameter", "Missing required parameter: 'method'.", number, "method")
    elif method != "POST":
        out.add("invalid_value", f"Invalid value: '{method}'. Supported values are: 'POST'.", number, "method")
    url = entry.get("url")
    if url is None:
        out.add("missing_required_parameter", "Missing required parameter: 'url'.", number, "url")
    elif url != endpoint:
        out.add(
            "url_mismatch",
            f"The URL provided for this request ('{url}') does not match the batch endpoint ('{endpoint}').",
            number,
            "url",
        )
    body = entry.get("body")
    if not isinstance(body, dict):
        out.add("missing_required_parameter", "Missing required parameter: 'body'.", number, "body")
        return
    model = body.get("model")
    if isinstance(model, str) and model:
        if out.model is None:
            out.model = model
        elif model != out.model:
            out.add(
                "model_mismatch",
                f"The model '{model}' of this request differs from the model '{out.model}' of the batch's "
                "other requests; a batch may use only one model.",
                number,
                "body.model",
            )
    if kind == "embed":
        out.embedding_inputs += len(embedding_texts(body.get("input")) or [None])
