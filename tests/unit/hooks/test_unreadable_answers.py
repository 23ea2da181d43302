"""A call answered with success but a body that is not the API's answer: a clear error, polled through as transient.

A proxy's HTML page, an empty or cut body, ``null``, or an object without the fields the API always sends used to
surface as ``JSONDecodeError: Expecting value: line 1 column 1 (char 0)`` or ``KeyError: 'id'`` and end a wait at
once. Now every hook raises :class:`UnreadableAnswerError` naming the call, the status, what the body is and how it
begins (redacted), and a wait polls through it as it does a lost answer.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.errors import UnreadableAnswerError
from airflow_provider_genai_batch.hooks.http import BODY_SHOWN
from airflow_provider_genai_batch.polling import PollState, Verdict

from ._wire import API_KEY

HTML = b"<html><head><title>502 Bad Gateway</title></head><body>upstream unavailable</body></html>"

STATUS_CALLS = {
    "gemini": ("batches/abc", "/v1beta/batches/abc"),
    "openai": ("batch_abc", "/v1/batches/batch_abc"),
    "anthropic": ("msgbatch_abc", "/v1/messages/batches/msgbatch_abc"),
}
UNREADABLE_BODIES = {
    "an HTML page": (HTML, "text/html", "JSONDecodeError"),
    "an empty body": (b"", "application/json", "JSONDecodeError"),
    "a cut body": (b'{"id": "batch_abc", "status": "comp', "application/json", "JSONDecodeError"),
    "null": (b"null", "application/json", "AttributeError"),
    "an array": (b"[]", "application/json", "AttributeError"),
}


def answering(body: bytes, content_type: str) -> Any:
    return lambda request: httpx.Response(200, content=body, headers={"content-type": content_type})


@pytest.fixture(params=list(STATUS_CALLS))
def provider(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_hook(request: pytest.FixtureRequest, provider: str) -> Any:
    """``make_hook(handler)`` -> the provider's hook (from the hooks conftest) talking to ``handler``."""
    return request.getfixturevalue(provider)


@pytest.mark.parametrize("shape", list(UNREADABLE_BODIES))
def test_a_status_poll_answered_with_a_body_that_is_not_the_apis_says_what_came_back(
    make_hook: Any, provider: str, shape: str
):
    body, content_type, reason = UNREADABLE_BODIES[shape]
    job_name, path = STATUS_CALLS[provider]
    hook, _ = make_hook(answering(body, content_type))

    with pytest.raises(UnreadableAnswerError) as err:
        hook.get_batch(job_name)

    message = str(err.value)
    assert f"GET {path} answered HTTP 200 with a body that is not the API's answer ({reason}: " in message
    assert f"it is {content_type}, {len(body)} bytes, starting {body.decode()!r}" in message
    assert err.value.provider == provider
    assert err.value.http_status == 200


@pytest.mark.parametrize("provider", ["openai", "anthropic"])  # a Gemini operation without a name reads as unspecified
def test_an_object_without_the_jobs_id_is_named_as_the_field_missing(make_hook: Any, provider: str):
    job_name, path = STATUS_CALLS[provider]
    hook, _ = make_hook(answering(b'{"status": "completed"}', "application/json"))

    with pytest.raises(UnreadableAnswerError, match=rf"GET {path} answered HTTP 200 .* \(KeyError: 'id'\)"):
        hook.get_batch(job_name)


async def test_the_triggers_async_poll_raises_the_same_error(make_hook: Any, provider: str):
    job_name, path = STATUS_CALLS[provider]
    hook, _ = make_hook(answering(HTML, "text/html"))

    with pytest.raises(UnreadableAnswerError, match=f"GET {path} answered HTTP 200"):
        await hook.aget_batch(job_name)


def test_a_long_body_is_shown_cut_and_without_the_connections_key(make_hook: Any, provider: str):
    job_name, _ = STATUS_CALLS[provider]
    body = b"<html>echo: " + API_KEY.encode() + b" " + b"x" * 5000 + b"</html>"
    hook, _ = make_hook(answering(body, "text/html"))

    with pytest.raises(UnreadableAnswerError) as err:
        hook.get_batch(job_name)

    message = str(err.value)
    assert API_KEY not in message
    assert "starting '<html>echo: *** xxx" in message
    assert f"{len(body)} bytes" in message
    assert message.count("x") < BODY_SHOWN + 100


def test_a_wait_polls_through_unreadable_answers_and_gives_up_after_max_poll_failures(make_hook: Any, provider: str):
    job_name, _ = STATUS_CALLS[provider]
    hook, _ = make_hook(answering(HTML, "text/html"))
    poll = PollState(job_name, interval=1.0, max_failures=3)
    decisions = []

    for now in range(3):
        try:
            hook.get_batch(job_name)
        except UnreadableAnswerError as err:
            decisions.append(poll.failed(err, float(now)))

    assert [d.verdict for d in decisions] == [Verdict.WAIT, Verdict.WAIT, Verdict.ERROR]
    assert decisions[-1].message is not None
    assert decisions[-1].message.startswith(
        f"polling {job_name} failed 3 times in a row; last: UnreadableAnswerError: {provider} API error (200): GET "
    )


COUNTED_STATUSES = {
    "gemini": lambda count: {
        "name": "batches/abc",
        "metadata": {"name": "batches/abc", "state": "BATCH_STATE_RUNNING", "batchStats": {"requestCount": count}},
    },
    "anthropic": lambda count: {
        "id": "msgbatch_abc",
        "type": "message_batch",
        "processing_status": "in_progress",
        "request_counts": {"processing": count, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
    },
}
COUNT_FIELDS = {"gemini": "requestCount", "anthropic": "processing"}


@pytest.mark.parametrize("provider", list(COUNTED_STATUSES))
@pytest.mark.parametrize("count", ["many", "-3", 2.5, True], ids=["a-word", "a-negative-string", "a-fraction", "true"])
def test_a_status_whose_request_count_is_not_an_integer_is_an_unreadable_answer_polled_through(
    make_hook: Any, provider: str, count: Any
):
    job_name, _ = STATUS_CALLS[provider]
    hook, _ = make_hook(lambda request: httpx.Response(200, json=COUNTED_STATUSES[provider](count)))

    with pytest.raises(UnreadableAnswerError) as raised:
        hook.get_batch(job_name)

    assert f"TypeError: the count {COUNT_FIELDS[provider]!r} is {count!r}, not an integer" in str(raised.value)
    assert PollState(job_name, interval=1.0).failed(raised.value, now=0.0).verdict is Verdict.WAIT


@pytest.mark.parametrize("provider", ["gemini"])
def test_a_gemini_count_written_as_an_int64_string_is_read_as_its_integer(make_hook: Any, provider: str):
    hook, _ = make_hook(lambda request: httpx.Response(200, json=COUNTED_STATUSES["gemini"]("12")))

    assert hook.get_batch("batches/abc").stats.total == 12
