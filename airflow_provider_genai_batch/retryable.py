"""Whether a landed row is worth sending again in a follow-up batch: the one place that decides it.

Worth it: a row that expired or went missing (it never ran), and a row that failed with an error the provider
gives for a passing condition (overload, rate limit, timeout, an internal error). Not worth it: a cancelled
row (someone stopped the job), a success, and every other failure: an invalid request, a safety or content
block, a line the provider returned that could not be read, or an error that names no retryable condition.
A block or refusal the provider answered in place of an answer lands failed with ``code`` ``content_blocked``
(:data:`~.formats.results.CONTENT_BLOCKED`): the same request is blocked again, so it is never sent again; so are an
answer cut off by the output limit before any text (``output_limit``) and one that holds nothing to use for another
reason (``no_answer``). An answer the model wrote unparseably (``malformed_output``: Bedrock's
``malformed_model_output``, Gemini's ``MALFORMED_FUNCTION_CALL``) is a sampling failure, sent again.

How each provider's row error lands (``RowError.code`` / ``RowError.status``), and what is retryable in it:

* Gemini (file and inline results): ``code`` the error's code (an HTTP status such as 429 or 503, or a gRPC
  code number: 4 DEADLINE_EXCEEDED, 8 RESOURCE_EXHAUSTED, 10 ABORTED, 13 INTERNAL, 14 UNAVAILABLE), ``status``
  its gRPC name, which decides where given (HTTP 409 is ABORTED, retryable, or ALREADY_EXISTS, not).
* Vertex: the row's ``status`` text becomes the message only, e.g. ``Too Many Requests: {"error": {"code":
  429, ..., "status": "RESOURCE_EXHAUSTED"}}``: the leading HTTP reason phrase and the code and status in
  the embedded error are read from it.
* OpenAI: an HTTP failure's ``code`` is the body's ``error.code``, else its ``error.type``, else the HTTP
  status; ``status`` is ``error.type``. Retryable: ``rate_limit_exceeded``, ``server_error``,
  ``service_unavailable``, ``timeout``, the rate-limit types ``requests`` and ``tokens``, and the HTTP
  statuses below. A row the batch never ran (``batch_expired``, ``batch_cancelled``) lands expired or cancelled.
* Anthropic: an errored result's ``code`` is its error type: ``rate_limit_error``, ``overloaded_error``,
  ``api_error`` and ``timeout_error`` are retryable; ``expired`` and ``canceled`` results land expired
  and cancelled.
* Bedrock: ``code`` is the record's ``errorCode``, an HTTP status (429, 5xx) or an exception name
  (``ThrottlingException``, ``InternalServerException``, ``ServiceUnavailableException``,
  ``ModelTimeoutException``, ``ModelNotReadyException``).
* The gateway: its OpenAI and Anthropic rows as those providers'; a Gemini row's ``code`` is the error's
  code or the HTTP status, possibly as text (``"503"``).

Retryable HTTP statuses: 408, 409, 429 and every 5xx (Anthropic's 529 overload among them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any, Protocol

import msgspec
from airflow.sdk import ObjectStoragePath

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.formats.results import (
    CONTENT_BLOCKED,
    MALFORMED_OUTPUT,
    NO_ANSWER,
    OUTPUT_LIMIT,
    UNPARSEABLE,
    RowStatus,
)

RETRYABLE_HTTP = frozenset({408, 409, 429, *range(500, 600)})
"""HTTP statuses of conditions that pass: request timeout, conflict, too many requests, server errors."""

RETRYABLE_GRPC = {
    4: "DEADLINE_EXCEEDED",
    8: "RESOURCE_EXHAUSTED",
    10: "ABORTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
}
"""gRPC status codes (numbers below 100) of conditions that pass, by number."""

GRPC_NAMES = frozenset(
    [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ]
)
"""Every gRPC status name: a Google error's ``status`` decides alone (409 is ABORTED or ALREADY_EXISTS)."""

RETRYABLE_NAMES = frozenset(
    name.lower()
    for name in (
        *RETRYABLE_GRPC.values(),
        # OpenAI error codes and types
        "rate_limit_exceeded",
        "server_error",
        "service_unavailable",
        "timeout",
        "requests",
        "tokens",
        # Anthropic error types
        "rate_limit_error",
        "overloaded_error",
        "api_error",
        "timeout_error",
        # Bedrock exception names
        "ThrottlingException",
        "InternalServerException",
        "ServiceUnavailableException",
        "ModelTimeoutException",
        "ModelNotReadyException",
    )
)
"""Error codes, types and status names (compared case-blind) of conditions that pass."""

_NOT_AGAIN = (UNPARSEABLE, CONTENT_BLOCKED, OUTPUT_LIMIT, NO_ANSWER)
"""Codes of rows the same request would end the same way again: never sent again."""
_HTTP_REASONS = {status.phrase.lower(): status.value for status in HTTPStatus}
_EMBEDDED_CODE = re.compile(r'"code"\s*:\s*"?(\d+)')
_EMBEDDED_STATUS = re.compile(r'"status"\s*:\s*"([A-Za-z_]+)"')


class LandedError(Protocol):
    """What deciding reads of a row's error: its message, and its code and status as the provider gave them (any
    JSON value: landing keeps a provider's code whatever its type)."""

    @property
    def message(self) -> str: ...

    @property
    def code(self) -> object: ...

    @property
    def status(self) -> object: ...


class LandedOutcome(Protocol):
    """What deciding needs of a row: a :class:`~.formats.results.ResultRow`, or a row read back from results."""

    @property
    def status(self) -> RowStatus: ...

    @property
    def error(self) -> LandedError | None: ...


def is_retryable(row: LandedOutcome) -> bool:
    """Whether sending the row's request again may give it another outcome (see the module docstring)."""
    status = row.status
    if status is RowStatus.EXPIRED or status is RowStatus.MISSING:
        return True
    if status is not RowStatus.FAILED or row.error is None:
        return False
    error = row.error
    if error.code in _NOT_AGAIN:
        return False
    if error.code == MALFORMED_OUTPUT:
        return True
    if error.code is None and error.status is None:
        return _retryable_message(error.message)
    if type(error.status) is str and error.status in GRPC_NAMES:
        return _retryable_code(error.status)
    return _retryable_code(error.code) or _retryable_code(error.status)


def _retryable_code(code: object) -> bool:
    """Whether a code or status names a passing condition; a value of another type than a whole number or a text (a
    fraction, a boolean, an object a provider wrote there) names none."""
    if type(code) is str:
        text = code.strip()
        if not (text.isascii() and text.isdigit()):
            return text.lower() in RETRYABLE_NAMES
        code = int(text)
    if type(code) is float and code.is_integer():  # JSON writes 429 and 429.0 alike
        code = int(code)
    if type(code) is not int:
        return False
    return code in RETRYABLE_GRPC if code < 100 else code in RETRYABLE_HTTP


def _retryable_message(message: str) -> bool:
    """An error carried only as text (Vertex's row ``status``): its leading HTTP reason phrase, else the code
    or status of an error embedded in it."""
    reason = message.split(":", 1)[0].strip().lower()
    if reason in _HTTP_REASONS:
        return _HTTP_REASONS[reason] in RETRYABLE_HTTP
    code = _EMBEDDED_CODE.search(message)
    if code is not None:
        return _retryable_code(code.group(1))
    status = _EMBEDDED_STATUS.search(message)
    return status is not None and _retryable_code(status.group(1))


class _LandedError(msgspec.Struct):
    """A landed row's error as deciding reads it: its code and status any JSON, as landing keeps them."""

    message: str
    code: Any = None
    status: Any = None


class _Landed(msgspec.Struct):
    """A landed row as deciding reads it: key, status and error (the response is skipped, not decoded)."""

    key: str | None
    status: RowStatus
    error: _LandedError | None = None


_read_landed = msgspec.json.Decoder(_Landed).decode


def follow_up_keys(results_uri: str, *, missing: bool = True) -> Iterator[str]:
    """The keys of the retryable rows of a landed ``results.jsonl``, streamed in its (the input's) order; without
    ``missing``, not those of rows that landed missing (answers that came under keys not sent may be theirs)."""
    with ObjectStoragePath(results_uri).open("rb") as source:
        for number, line in enumerate(source, start=1):
            if line.isspace():
                continue
            try:
                row = _read_landed(line)
            except msgspec.DecodeError as err:
                raise GenAIBatchError(f"{results_uri}, line {number}: not a landed result row ({err})") from None
            if row.key is not None and is_retryable(row) and (missing or row.status is not RowStatus.MISSING):
                yield row.key
