"""Shared HTTP plumbing: line splitting of streamed bytes, error bodies of every provider shape, redaction,
and the guard that keeps auth headers on the connection's origin."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_genai_batch.errors import NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.hooks.http import (
    MAX_ERROR_CHARS,
    ForeignHostGuard,
    Redactor,
    error_from_response,
    iter_byte_lines,
    origin_of,
)

# --- iter_byte_lines -----------------------------------------------------------------------------------


def test_lines_split_across_chunks_are_joined():
    assert list(iter_byte_lines(iter([b'{"a"', b': 1}\n{"b', b'": 2}\n']))) == [b'{"a": 1}', b'{"b": 2}']


def test_crlf_split_between_chunks_is_removed():
    assert list(iter_byte_lines(iter([b"one\r", b"\ntwo\r\n"]))) == [b"one", b"two"]


def test_last_line_without_newline_is_yielded():
    assert list(iter_byte_lines(iter([b"one\ntwo"]))) == [b"one", b"two"]


def test_blank_lines_inside_are_kept_for_line_numbering_but_trailing_whitespace_is_not_a_line():
    assert list(iter_byte_lines(iter([b"one\n\nthree\n", b"  "]))) == [b"one", b"", b"three"]


def test_lines_are_yielded_as_soon_as_their_chunk_arrives():
    def chunks():
        yield b"first\nsec"
        raise AssertionError("read past the first chunk")

    assert next(iter_byte_lines(chunks())) == b"first"


# --- error_from_response ---------------------------------------------------------------------------------

NO_SECRET = Redactor()


@pytest.mark.parametrize(
    ("status", "payload", "message", "provider_status"),
    [
        (
            400,
            {"error": {"code": 400, "message": "bad field", "status": "INVALID_ARGUMENT"}},
            "bad field",
            "INVALID_ARGUMENT",
        ),
        (
            401,
            {"error": {"message": "Incorrect API key", "type": "invalid_request_error"}},
            "Incorrect API key",
            "invalid_request_error",
        ),
        (429, {"error": {"message": "slow down", "code": 429}}, "slow down", "429"),
        (400, {"error": "plain text error"}, "plain text error", None),
        (
            400,
            {"message": "The security token included in the request is invalid."},
            "The security token included in the request is invalid.",
            None,
        ),
        (500, {"unexpected": True}, "Internal Server Error", None),
    ],
    ids=["google", "openai-anthropic", "code-only", "string", "aws", "unknown-shape"],
)
def test_error_bodies_of_every_shape_give_message_and_status(status, payload, message, provider_status):
    error = error_from_response(httpx.Response(status, json=payload), "p", NO_SECRET)
    assert type(error) is ProviderAPIError
    assert (error.http_status, error.message, error.provider_status, error.provider) == (
        status,
        message,
        provider_status,
        "p",
    )


def test_404_is_not_found():
    error = error_from_response(httpx.Response(404, json={"error": {"message": "gone"}}), "p", NO_SECRET)
    assert isinstance(error, NotFoundError)


def test_a_long_error_body_is_cut_to_max_error_chars_after_redaction():
    redact = Redactor("sk-secret-at-the-cut")
    body = "x" * (MAX_ERROR_CHARS - 5) + "sk-secret-at-the-cut" + "y" * 100
    error = error_from_response(httpx.Response(503, text=body), "p", redact)
    assert error.message == ("x" * (MAX_ERROR_CHARS - 5) + "***" + "y" * 100)[:MAX_ERROR_CHARS]
    assert "sk-se" not in error.message


def test_every_secret_is_redacted_from_the_message():
    redact = Redactor("sk-one-secret", None, "", "second-secret")
    response = httpx.Response(400, json={"error": {"message": "sk-one-secret and second-secret, sk-one-secret"}})
    assert error_from_response(response, "p", redact).message == "*** and ***, ***"


# --- origin_of and ForeignHostGuard ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://api.example.com/v1", ("https", "api.example.com", 443)),
        ("https://API.Example.COM:443/v1", ("https", "api.example.com", 443)),
        ("HTTPS://api.example.com", ("https", "api.example.com", 443)),
        ("http://api.example.com/x", ("http", "api.example.com", 80)),
        ("http://api.example.com:80", ("http", "api.example.com", 80)),
        ("http://api.example.com:8080/x", ("http", "api.example.com", 8080)),
        ("https://api.example.com:80/x", ("https", "api.example.com", 80)),
        ("http://127.0.0.1:9000/genai", ("http", "127.0.0.1", 9000)),
    ],
)
def test_origin_is_scheme_host_and_port_with_default_ports_filled_in(url, origin):
    assert origin_of(url) == origin


def guarded(base_url: str, url: str, auth: dict[str, str], **other: str) -> httpx.Headers:
    """The headers a request to ``url`` leaves with, from a client on ``base_url`` whose auth headers are ``auth``."""
    request = httpx.Request("GET", url, headers={**auth, **other})
    ForeignHostGuard(base_url, auth.keys())(request)
    return request.headers


PROVIDER_HEADERS = {
    "gemini": {"x-goog-api-key": "g-secret"},
    "openai": {"Authorization": "Bearer o-secret", "OpenAI-Organization": "org-1", "OpenAI-Project": "proj-1"},
    "anthropic": {"x-api-key": "a-secret", "anthropic-version": "2023-06-01"},
    "gateway": {"x-goog-api-key": "gw-secret", "x-model-provider": "openai"},
}


@pytest.mark.parametrize("headers", list(PROVIDER_HEADERS.values()), ids=list(PROVIDER_HEADERS))
@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/v1/batches",
        "https://API.EXAMPLE.com/v1/batches",
        "https://api.example.com:443/v1/batches",
        "https://api.example.com/upload/other/path?x=1",
    ],
    ids=["same", "uppercase-host", "explicit-default-port", "other-path"],
)
def test_a_request_to_the_connections_origin_keeps_every_auth_header(headers, url):
    kept = guarded("https://api.example.com", url, headers)
    assert {name: kept.get(name) for name in headers} == headers


@pytest.mark.parametrize("headers", list(PROVIDER_HEADERS.values()), ids=list(PROVIDER_HEADERS))
@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com:8443/v1/batches",
        "http://api.example.com/v1/batches",
        "http://api.example.com:443/v1/batches",
        "https://elsewhere.example.com/v1/batches",
        "https://api.example.com.evil.test/v1/batches",
    ],
    ids=["other-port", "other-scheme", "other-scheme-same-port", "other-host", "host-suffix"],
)
def test_a_request_outside_the_connections_origin_carries_no_auth_header(headers, url):
    sent = guarded("https://api.example.com", url, headers, accept="application/json")
    assert not {name.lower() for name in headers} & set(sent.keys())
    assert sent["accept"] == "application/json"  # only the auth headers go


def test_an_http_base_url_on_a_custom_port_is_its_own_origin():
    headers = {"x-goog-api-key": "g-secret"}
    assert guarded("http://127.0.0.1:9000/genai", "http://127.0.0.1:9000/v1/files/x", headers).get("x-goog-api-key")
    assert "x-goog-api-key" not in guarded("http://127.0.0.1:9000/genai", "http://127.0.0.1:9001/x", headers)
    assert "x-goog-api-key" not in guarded("http://127.0.0.1:9000/genai", "http://127.0.0.1/x", headers)


async def test_the_async_guard_drops_the_same_headers():
    request = httpx.Request("GET", "https://api.example.com:8443/x", headers={"x-api-key": "a-secret"})
    await ForeignHostGuard("https://api.example.com", ["x-api-key"]).on_async_request(request)
    assert "x-api-key" not in request.headers
