"""Redirects: a GET or HEAD follows one, any other call does not, and a 3xx that is not followed is an error.

A create, an upload or a cancel redirected with a 301, 302 or 303 was sent again as a GET (as httpx, like browsers,
does), and the GET's answer taken for the call's: a create redirected to a job's page took that job for the one it
made. A 3xx with no Location to follow (a proxy's, S3's PermanentRedirect) was taken for a success: a download landed
the redirect's page as the results file.
"""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError, ProviderAPIError, UnreadableAnswerError
from airflow_provider_genai_batch.spec import BatchSpec, FileSource, InlineSource

OPENAI_BATCH = {"id": "batch_other", "object": "batch", "status": "in_progress", "created_at": 1, "input_file_id": "f"}
CREATES = {
    "gemini": (BatchSpec(model="gemini-2.5-flash", display_name="d", source=FileSource("files/in")), "operations"),
    "openai": (BatchSpec(model="gpt-4o-mini", display_name="d", source=FileSource("file-in")), "batches"),
    "anthropic": (
        BatchSpec(
            model="claude-sonnet-4-5",
            display_name="d",
            source=InlineSource([{"custom_id": "a", "params": {"max_tokens": 8, "messages": []}}]),
        ),
        "messages/batches",
    ),
}
PAGE = "<html><body>Moved</body></html>"


@pytest.fixture(params=list(CREATES))
def provider(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_hook(request: pytest.FixtureRequest, provider: str) -> Any:
    """``make_hook(handler)`` -> the provider's hook (from the hooks conftest) talking to ``handler``."""
    return request.getfixturevalue(provider)


def redirect(status: int, location: str | None) -> httpx.Response:
    return httpx.Response(status, html=PAGE, headers={"location": location} if location else {})


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_create_answered_with_a_redirect_is_not_followed_and_fails_naming_where_it_pointed(
    make_hook, provider, status
):
    spec, collection = CREATES[provider]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return redirect(status, f"/v1/{collection}/other?token=abc")
        return httpx.Response(200, json=OPENAI_BATCH)

    hook, wire = make_hook(handler)

    with pytest.raises(ProviderAPIError) as err:
        hook.create_batch(spec)

    assert [request.method for request in wire.requests] == ["POST"]
    assert err.value.http_status == status
    target = f"{wire.requests[0].url.scheme}://{wire.requests[0].url.host}/v1/{collection}/other"
    assert f"was answered HTTP {status}, a redirect to {target}, which is not followed" in str(err.value)
    assert "token=abc" not in str(err.value)


def test_an_upload_answered_with_a_redirect_is_not_sent_again_elsewhere(openai):
    hook, wire = openai(lambda request: redirect(307, "http://elsewhere.test/v1/files"))

    with pytest.raises(ProviderAPIError, match=r"POST /v1/files was answered HTTP 307, a redirect to http://else"):
        hook.upload_file(io.BytesIO(b'{"custom_id": "a"}\n'), display_name="in.jsonl")

    assert [(r.method, r.url.host) for r in wire.requests] == [("POST", "openai.test")]


def test_a_cancel_answered_with_a_redirect_is_not_followed(gemini):
    hook, wire = gemini(lambda request: redirect(302, "/v1beta/batches/abc"))

    with pytest.raises(ProviderAPIError, match="POST /v1beta/batches/abc:cancel was answered HTTP 302"):
        hook.cancel_batch("batches/abc")

    assert len(wire.requests) == 1


def test_a_status_poll_redirected_within_the_origin_follows_the_redirect(openai):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/batches/batch_1":
            return redirect(301, "/v1/batches/batch_other")
        return httpx.Response(200, json=OPENAI_BATCH)

    hook, wire = openai(handler)

    assert hook.get_batch("batch_1").name == "batch_other"
    assert [r.url.path for r in wire.requests] == ["/v1/batches/batch_1", "/v1/batches/batch_other"]


def test_a_download_answered_with_a_redirect_without_a_location_is_an_error_not_the_files_bytes(openai):
    hook, _ = openai(lambda request: redirect(302, None))

    with pytest.raises(ProviderAPIError) as err:
        b"".join(hook.iter_file_bytes("file-out"))

    assert err.value.http_status == 302
    assert "GET /v1/files/file-out/content was answered HTTP 302, a redirect with no Location to follow" in str(
        err.value
    )


async def test_an_async_poll_answered_with_a_redirect_without_a_location_is_an_error(anthropic):
    hook, _ = anthropic(lambda request: redirect(303, None))

    with pytest.raises(ProviderAPIError, match="answered HTTP 303, a redirect with no Location to follow"):
        await hook.aget_batch("msgbatch_1")


def to_https_where_the_key_is_missing(request: httpx.Request) -> httpx.Response:
    """An API that moves ``http://`` to ``https://`` and, there, finds no key (the guard kept it from going)."""
    if request.url.scheme == "http":
        return redirect(301, str(request.url.copy_with(scheme="https")))
    return httpx.Response(401, json={"error": {"message": "You didn't provide an API key.", "type": "invalid_request"}})


def test_an_error_after_a_redirect_to_another_origin_says_the_credentials_were_not_sent_there(openai):
    hook, _ = openai(to_https_where_the_key_is_missing)

    with pytest.raises(ProviderAPIError) as err:
        hook.get_batch("batch_1")

    assert err.value.http_status == 401
    assert str(err.value) == (
        "openai API error (401 invalid_request): GET /v1/batches/batch_1 was redirected to "
        "https://openai.test/v1/batches/batch_1, another origin than the one it was sent to, where the connection's "
        "credentials are not sent (give the connection the base URL the API answers on): You didn't provide an API key."
    )


def test_an_unreadable_answer_after_a_redirect_to_another_origin_says_where_it_came_from(openai):
    def to_a_sign_in_page(request: httpx.Request) -> httpx.Response:
        if request.url.host == "openai.test":
            return redirect(302, "https://sso.example.com/login?next=/v1/batches/batch_1")
        return httpx.Response(200, html="<html><body>Sign in</body></html>")

    hook, _ = openai(to_a_sign_in_page)

    with pytest.raises(UnreadableAnswerError) as err:
        hook.get_batch("batch_1")

    assert str(err.value).startswith(
        "openai API error (200): GET /v1/batches/batch_1 was redirected to https://sso.example.com/login, another "
        "origin than the one it was sent to"
    )
    assert "GET /login answered HTTP 200 with a body that is not the API's answer" in str(err.value)


def test_an_error_after_a_redirect_within_the_origin_says_nothing_of_it(openai):
    def moved_then_missing(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/batches/batch_1":
            return redirect(301, "/v1/batches/batch_2")
        return httpx.Response(404, json={"error": {"message": "No batch found", "type": "invalid_request_error"}})

    hook, _ = openai(moved_then_missing)

    with pytest.raises(ProviderAPIError, match=r"\(404 invalid_request_error\): No batch found$"):
        hook.get_batch("batch_1")


def a_redirect_loop(request: httpx.Request) -> httpx.Response:
    """A proxy sending every call to its sign-in page, which sends it back."""
    return redirect(302, "/login" if request.url.path != "/login" else "/v1/messages/batches/msgbatch_1")


def test_a_poll_redirected_in_a_loop_is_an_error_naming_the_call(anthropic):
    hook, wire = anthropic(a_redirect_loop)

    with pytest.raises(GenAIBatchError) as err:
        hook.get_batch("msgbatch_1")

    assert str(err.value) == (
        "GET v1/messages/batches/msgbatch_1 was redirected more than 20 times, a redirect loop (check the "
        "connection's base URL, its scheme and host, and any proxy in front of the API)"
    )
    assert len(wire.requests) == 21


async def test_an_async_poll_redirected_in_a_loop_is_the_same_error(anthropic):
    hook, _ = anthropic(a_redirect_loop)

    with pytest.raises(GenAIBatchError, match="was redirected more than 20 times, a redirect loop"):
        await hook.aget_batch("msgbatch_1")
