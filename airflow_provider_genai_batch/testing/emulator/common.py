"""Helpers every provider router shares: timestamps, ids, error envelopes, request bodies and paging.

Nothing here knows a provider's routes or records; each helper takes the provider's own wording (an
error factory, a default, a bound) as an argument, so the strictness stays with the provider.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, Protocol, TypeVar

from fastapi import Request
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

CONTROL_PREFIX = "/_emulator"
"""Where the emulator's own control plane lives; faults and the request log never touch it."""
FORWARDED_HEADER = "x-emulator-forwarded-by"
"""Marks the gateway's in-process calls to the other routers, so that faults hit only what a client sent."""


class GoogleApiVersionConvertor(Convertor[str]):
    """A path segment naming a Google REST API version the emulator serves (``v1beta``, or ``v1``, google-genai
    3.x's default), so routes built on it never shadow another router's paths."""

    regex = "v1beta|v1"

    def convert(self, value: str) -> str:
        """Path text to value (unchanged)."""
        return value

    def to_string(self, value: str) -> str:
        """Value to path text (unchanged)."""
        return value


register_url_convertor("google_api_version", GoogleApiVersionConvertor())

ID_ALPHABET = string.ascii_lowercase + string.digits
HEX_ALPHABET = string.digits + "abcdef"
BASE62_ALPHABET = string.digits + string.ascii_letters


class EmulatorError(Exception):
    """Base of the errors a provider router raises; each provider renders its own error body."""

    def response(self) -> Response:
        """Render this error the way the provider's API does."""
        raise NotImplementedError


# Timestamps

TimeSpec = Literal["auto", "seconds", "milliseconds", "microseconds"]


def rfc3339(moment: float, timespec: TimeSpec = "microseconds") -> str:
    """Epoch seconds as an RFC 3339 UTC timestamp with a Z suffix, to the given precision."""
    return datetime.fromtimestamp(moment, tz=timezone.utc).isoformat(timespec=timespec).replace("+00:00", "Z")


def optional_rfc3339(moment: float | None, timespec: TimeSpec = "microseconds") -> str | None:
    """Like `rfc3339`, with None for a moment that has not happened."""
    return None if moment is None else rfc3339(moment, timespec)


def parse_rfc3339(text: str) -> float:
    """An RFC 3339 / ISO 8601 timestamp as epoch seconds; ValueError when it is not one."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def unix_seconds(moment: float | None) -> int | None:
    """Epoch seconds as the integer timestamps of OpenAI-style APIs, or None."""
    return None if moment is None else int(moment)


# Ids


def random_token(length: int, alphabet: str = ID_ALPHABET) -> str:
    """`length` random characters from `alphabet` (by default lowercase letters and digits, as Google ids)."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def stable_token(seed: str, length: int, alphabet: str = HEX_ALPHABET) -> str:
    """A deterministic id fragment of `length` characters from `alphabet`, derived from sha256(seed)."""
    value = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    counter = 0
    chars: list[str] = []
    while len(chars) < length:
        if value == 0:
            counter += 1
            value = int.from_bytes(hashlib.sha256(f"{counter}:{seed}".encode()).digest(), "big")
        value, index = divmod(value, len(alphabet))
        chars.append(alphabet[index])
    return "".join(chars)


# Error envelopes (the bodies only: each provider's error class and the fault injector send them)


def google_error_body(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Google's envelope: {"error": {"code", "message", "status"[, "details"]}}."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def openai_error_body(
    message: str, error_type: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's envelope: {"error": {"message", "type", "param", "code"}}."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def anthropic_error_body(error_type: str, message: str) -> dict[str, Any]:
    """Anthropic's envelope: {"type": "error", "error": {"type", "message"}} (the API adds a request_id)."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


def aws_error_body(error_type: str, message: str) -> tuple[dict[str, Any], dict[str, str]]:
    """AWS REST-JSON: the body {"message"} and the error type in the `x-amzn-ErrorType` header."""
    return {"message": message}, {"x-amzn-ErrorType": error_type}


# Requests


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (any case of the scheme), or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def rejects_key(expected: str | None, key: str | None) -> bool:
    """Whether a key is refused: keys are checked only when the emulator is configured with one."""
    return expected is not None and key != expected


@dataclass(frozen=True)
class JsonBodyErrors:
    """How one API answers a request body that is not a JSON object."""

    unparseable: Callable[[Exception], EmulatorError]
    not_an_object: Callable[[], EmulatorError]
    empty_is_object: bool = True
    """Whether an empty (or blank) body reads as {}; otherwise it is not an object."""


async def read_json_object(request: Request, errors: JsonBodyErrors) -> dict[str, Any]:
    """The request body as a JSON object, or the API's error for a body that is not one."""
    body = await request.body()
    if not body.strip():
        if errors.empty_is_object:
            return {}
        raise errors.not_an_object()
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise errors.unparseable(exc) from exc
    if not isinstance(value, dict):
        raise errors.not_an_object()
    return value


@dataclass(frozen=True)
class IntParam:
    """An integer query parameter (a page size, a limit) as one API reads it and words its complaints."""

    default: int
    minimum: int
    maximum: int
    not_an_integer: Callable[[str], EmulatorError]
    too_small: Callable[[int], EmulatorError]
    too_large: Callable[[int], EmulatorError] | None = None
    """None: a larger value is cut down to the maximum instead of being rejected."""

    def parse(self, raw: str | None) -> int:
        """The value of `raw`; the default when it is absent or empty."""
        if raw is None or raw == "":
            return self.default
        try:
            value = int(raw)
        except ValueError as exc:
            raise self.not_an_integer(raw) from exc
        if value < self.minimum:
            raise self.too_small(value)
        if value > self.maximum:
            if self.too_large is None:
                return self.maximum
            raise self.too_large(value)
        return value


# Cursor pages (OpenAI and Anthropic list by object id; the store orders records by `seq`)


class Sequenced(Protocol):
    """A record ordered by its store sequence number."""

    @property
    def seq(self) -> int:
        """Larger for newer records."""
        ...


S = TypeVar("S", bound=Sequenced)
T = TypeVar("T")


def past_cursor(items: Sequence[S], cursor_seq: int, *, older: bool) -> list[S]:
    """The items older (smaller seq) or newer (larger seq) than the cursor's record, in their given order."""
    return [item for item in items if (item.seq < cursor_seq if older else item.seq > cursor_seq)]


def take_page(items: Sequence[T], limit: int, *, from_end: bool = False) -> tuple[list[T], bool]:
    """Up to `limit` items from the start (or the end) of `items`, and whether any were left out."""
    chunk = list(items[-limit:]) if from_end else list(items[:limit])
    return chunk, len(items) > limit


def edge_ids(data: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The `first_id` and `last_id` of a cursor page's objects (None for an empty page)."""
    return {"first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}


# S3 (the local S3-compatible test server; boto3 is imported lazily)

S3_TEST_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
"""The local S3 server accepts any keys; these are the conventional fake ones (nothing here talks to AWS)."""


def s3_client(endpoint_url: str, region: str) -> Any:
    """A boto3 S3 client on a local S3-compatible endpoint."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, **S3_TEST_CREDENTIALS)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` as (bucket, key)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key
