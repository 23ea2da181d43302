"""Shared HTTP plumbing: line splitting of streamed bytes, error bodies of every provider shape, redaction."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_genai_batch.errors import NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.hooks.http import MAX_ERROR_CHARS, Redactor, error_from_response, iter_byte_lines

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
