"""Creating a batch exactly once when the create call itself fails.

A create is not idempotent at any provider: a 503 or a dropped connection may come after the job was
made. ``GenAIBatchSubmitOperator._create_once`` therefore retries a transient failure only after a lookup
by idempotency key and input fingerprint shows no job exists (the job a forced resubmit replaces does
not count), and never for a provider that cannot be searched by key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from airflow_provider_genai_batch.errors import ProviderAPIError
from airflow_provider_genai_batch.formats.dialect import ProviderCapabilities
from airflow_provider_genai_batch.hooks.gemini import GeminiSettings
from airflow_provider_genai_batch.idempotency import idempotency_key, tag_display_name
from airflow_provider_genai_batch.inputs import prepare_input
from airflow_provider_genai_batch.models import BatchJob, JobState
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.spec import BatchSpec

from .fakes import FAKE_CONN_ID, FAKE_SECRET, FakeBatchHook, FakeTI, make_context

MODEL = "gemini-2.5-flash"


def submit_op(input: Any, **kwargs: Any) -> GenAIBatchSubmitOperator:
    kwargs.setdefault("task_id", "submit")
    return GenAIBatchSubmitOperator(conn_id=FAKE_CONN_ID, model=MODEL, input=input, **kwargs)


def key_of(ti: FakeTI) -> str:
    return idempotency_key(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)


def lookup(hook: FakeBatchHook, ti: FakeTI, input: Any) -> tuple[str, str]:
    """What a lookup for ``input`` submitted by ``ti`` asks for: its idempotency key and input fingerprint."""
    prepared = prepare_input(input, hook.dialect, model=MODEL, embeddings=False)
    prepared.cleanup()
    return key_of(ti), prepared.fingerprint


def unavailable() -> ProviderAPIError:
    return ProviderAPIError("The service is currently unavailable.", http_status=503, provider="gemini")


def bad_request() -> ProviderAPIError:
    return ProviderAPIError("Invalid model", http_status=400, provider_status="INVALID_ARGUMENT", provider="gemini")


def refused(status: int = 400, method: str = "POST") -> ProviderAPIError:
    """A create's request answered ``status``, as the transport raises it (naming the request's method)."""
    error = ProviderAPIError("Invalid model", http_status=status, provider_status="INVALID_ARGUMENT", provider="gemini")
    error.method = method
    return error


def failing_creates(hook: FakeBatchHook, *failures: tuple[BaseException, bool]) -> None:
    """The next creates fail in turn with ``(error, whether the job was made anyway)``; later ones succeed.

    Every attempt is recorded in ``hook.calls`` as ``("create_attempt", n)``.
    """
    real_create: Callable[..., BatchJob] = hook.create_batch
    pending = list(failures)
    count = iter(range(1, 1000))

    def create_batch(spec: BatchSpec) -> BatchJob:
        hook.calls.append(("create_attempt", next(count)))
        if not pending:
            return real_create(spec)
        error, made = pending.pop(0)
        if made:
            real_create(spec)
        raise error

    hook.create_batch = create_batch  # type: ignore[method-assign]


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


def after_first_attempt(hook: FakeBatchHook) -> list[tuple[str, Any]]:
    """Create attempts, successful creates and lookups from the first create attempt on."""
    first = hook.calls.index(("create_attempt", 1))
    return [c for c in hook.calls[first:] if c[0] in ("create_attempt", "create_batch", "find_batch")]


# --- a create whose answer was lost --------------------------------------------------------------------


def test_a_503_create_that_made_the_job_reattaches_to_it_and_creates_no_second(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    failing_creates(fake_hook, (unavailable(), True))
    ref = submit_op(str(input_jsonl)).execute(make_context(ti))

    assert len(fake_hook.created) == 1
    assert ref["job_name"] == fake_hook.created[0]["job_name"]
    assert ref["idempotency_key"] == key_of(ti)
    # The job was made by the failed attempt itself (the fake records it as create_batch), then found.
    assert after_first_attempt(fake_hook) == [
        ("create_attempt", 1),
        ("create_batch", ref["job_name"]),
        ("find_batch", (key_of(ti), ref["input_fingerprint"])),
    ]
    assert sleeps == []
    assert len(fake_hook.uploads) == 1  # the input is not uploaded again either


def test_a_503_create_that_made_no_job_is_retried_and_makes_exactly_one(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    failing_creates(fake_hook, (unavailable(), False))
    ref = submit_op(str(input_jsonl)).execute(make_context(ti))

    assert len(fake_hook.created) == 1
    assert ref["job_name"] == fake_hook.created[0]["job_name"]
    assert after_first_attempt(fake_hook) == [
        ("create_attempt", 1),
        ("find_batch", (key_of(ti), ref["input_fingerprint"])),
        ("create_attempt", 2),
        ("create_batch", ref["job_name"]),
    ]
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= fake_hook.settings.retry_max_wait
    assert len(fake_hook.uploads) == 1
    assert fake_hook.created[0]["file_name"] == fake_hook.uploads[0]["name"]  # the same upload is reused


def test_inline_input_is_retried_the_same_way(fake_hook: FakeBatchHook, ti: FakeTI, sleeps: list[float]):
    lines = [{"key": k, "request": {"contents": [{"role": "user", "parts": [{"text": k}]}]}} for k in "ab"]
    failing_creates(fake_hook, (unavailable(), False))
    submit_op(lines).execute(make_context(ti))
    assert len(fake_hook.created) == 1
    assert [r["request"]["contents"][0]["parts"][0]["text"] for r in fake_hook.created[0]["requests"]] == ["a", "b"]


def test_a_create_that_keeps_failing_stops_after_max_retries_with_the_error(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    fake_hook.__dict__["settings"] = GeminiSettings(
        api_key=SecretStr(FAKE_SECRET), base_url="http://fake.invalid", max_retries=2
    )
    failing_creates(fake_hook, *[(unavailable(), False)] * 10)
    with pytest.raises(ProviderAPIError) as info:
        submit_op(str(input_jsonl)).execute(make_context(ti))

    assert info.value.http_status == 503
    assert fake_hook.names("create_attempt") == [1, 2, 3]
    # before submitting, then after each failure
    assert fake_hook.names("find_batch") == [lookup(fake_hook, ti, str(input_jsonl))] * 4
    assert len(sleeps) == 2
    assert fake_hook.created == []


# --- what is not retried ------------------------------------------------------------------------------


def test_a_400_create_is_not_retried_and_not_looked_up(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    failing_creates(fake_hook, (bad_request(), False))
    with pytest.raises(ProviderAPIError) as info:
        submit_op(str(input_jsonl)).execute(make_context(ti))

    assert info.value.http_status == 400
    assert after_first_attempt(fake_hook) == [("create_attempt", 1)]
    assert fake_hook.created == []
    assert sleeps == []
    assert ti.pushes == []


def test_a_provider_that_cannot_find_by_key_is_not_retried_on_503(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    # Anthropic-like: a message batch carries no key, so a lost create cannot be told from a failed one.
    fake_hook.use_dialect(
        capabilities=ProviderCapabilities(file_input=True, inline_input=True, embeddings=True, find_by_key=False)
    )
    failing_creates(fake_hook, (unavailable(), False))
    with pytest.raises(ProviderAPIError) as info:
        submit_op(str(input_jsonl)).execute(make_context(ti))

    assert info.value.http_status == 503
    assert after_first_attempt(fake_hook) == [("create_attempt", 1)]
    assert fake_hook.created == []
    assert sleeps == []


def test_a_provider_that_cannot_find_by_key_is_not_retried_on_a_connection_error(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    fake_hook.use_dialect(
        capabilities=ProviderCapabilities(file_input=True, inline_input=True, embeddings=True, find_by_key=False)
    )
    failing_creates(fake_hook, (httpx.ReadTimeout("timed out"), True))
    with pytest.raises(httpx.ReadTimeout):
        submit_op(str(input_jsonl)).execute(make_context(ti))
    assert fake_hook.names("create_attempt") == [1]
    assert len(fake_hook.created) == 1  # made remotely, but never a second one


# --- connection errors ----------------------------------------------------------------------------------


def test_a_connection_error_on_create_is_transient_and_retried_when_no_job_exists(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    failing_creates(fake_hook, (httpx.ConnectError("connection refused"), False))
    ref = submit_op(str(input_jsonl)).execute(make_context(ti))

    assert len(fake_hook.created) == 1
    assert ref["job_name"] == fake_hook.created[0]["job_name"]
    assert fake_hook.names("create_attempt") == [1, 2]
    assert fake_hook.names("find_batch") == [(key_of(ti), ref["input_fingerprint"])] * 2
    assert len(sleeps) == 1


def test_a_read_timeout_after_the_job_was_made_reattaches_to_it(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    failing_creates(fake_hook, (httpx.ReadTimeout("timed out"), True))
    ref = submit_op(str(input_jsonl)).execute(make_context(ti))
    assert len(fake_hook.created) == 1
    assert ref["job_name"] == fake_hook.created[0]["job_name"]
    assert fake_hook.names("create_attempt") == [1]
    assert sleeps == []


# --- an earlier try's job that ended badly ------------------------------------------------------------


def test_a_lost_create_does_not_reattach_to_an_earlier_job_that_ended_badly(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    old = fake_hook.add_job(
        "batches/from-try-1", JobState.FAILED, display_name=tag_display_name("genai_dag.submit", key_of(ti))
    )
    failing_creates(fake_hook, (unavailable(), False))
    ref = submit_op(str(input_jsonl)).execute(make_context(ti))

    assert ref["job_name"] != old.name
    assert len(fake_hook.created) == 1
    assert ref["job_name"] == fake_hook.created[0]["job_name"]


def test_a_lost_forced_resubmit_does_not_take_the_job_it_replaces_for_the_new_one(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    first = submit_op(str(input_jsonl)).execute(make_context(ti))  # running, same key, same input
    failing_creates(fake_hook, (unavailable(), False))

    ref = submit_op(str(input_jsonl), force_resubmit=True).execute(make_context(ti))

    assert ref["job_name"] != first["job_name"]
    assert [c["job_name"] for c in fake_hook.created] == [first["job_name"], ref["job_name"]]
    assert fake_hook.names("create_attempt") == [1, 2]
    assert len(sleeps) == 1


def test_a_lost_forced_resubmit_that_made_its_job_uses_that_job(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    first = submit_op(str(input_jsonl)).execute(make_context(ti))
    failing_creates(fake_hook, (unavailable(), True))

    ref = submit_op(str(input_jsonl), force_resubmit=True).execute(make_context(ti))

    assert len(fake_hook.created) == 2
    assert ref["job_name"] == fake_hook.created[1]["job_name"] != first["job_name"]
    assert fake_hook.names("create_attempt") == [1]
    assert sleeps == []


# --- the upload of a create that was refused ---------------------------------------------------------


def test_a_refused_create_deletes_the_upload_made_for_it_once_no_job_is_found(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    failing_creates(fake_hook, (refused(), False))
    with pytest.raises(ProviderAPIError):
        submit_op(str(input_jsonl)).execute(make_context(ti))

    upload = fake_hook.uploads[0]["name"]
    first = fake_hook.calls.index(("create_attempt", 1))
    assert [c for c in fake_hook.calls[first:] if c[0] in ("create_attempt", "find_batch", "delete_file")] == [
        ("create_attempt", 1),
        ("find_batch", lookup(fake_hook, ti, str(input_jsonl))),
        ("delete_file", upload),
    ]


def test_a_create_refused_with_429_every_try_deletes_the_upload(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    failing_creates(fake_hook, *[(refused(429), False)] * 10)
    with pytest.raises(ProviderAPIError):
        submit_op(str(input_jsonl)).execute(make_context(ti))

    assert len(fake_hook.names("create_attempt")) > 1
    assert fake_hook.names("delete_file") == [fake_hook.uploads[0]["name"]]


def test_an_error_reading_the_job_a_create_made_keeps_the_upload(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    failing_creates(fake_hook, (refused(404, method="GET"), True))  # Bedrock reads the job it made, and is refused
    with pytest.raises(ProviderAPIError):
        submit_op(str(input_jsonl)).execute(make_context(ti))

    assert fake_hook.names("delete_file") == []


def test_a_refused_create_after_one_that_may_have_made_the_job_keeps_the_upload(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    failing_creates(fake_hook, (unavailable(), False), (refused(), False))
    with pytest.raises(ProviderAPIError):
        submit_op(str(input_jsonl)).execute(make_context(ti))

    assert fake_hook.names("create_attempt") == [1, 2]
    assert fake_hook.names("delete_file") == []


def test_a_refused_create_keeps_the_upload_when_a_job_with_its_key_and_fingerprint_exists(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    failing_creates(fake_hook, (refused(409), True))  # a re-sent create after a lost answer, say
    with pytest.raises(ProviderAPIError):
        submit_op(str(input_jsonl)).execute(make_context(ti))

    assert len(fake_hook.created) == 1
    assert fake_hook.names("delete_file") == []


def test_a_refused_create_of_an_inline_input_deletes_nothing(fake_hook: FakeBatchHook, ti: FakeTI, sleeps: list[float]):
    lines = [{"key": k, "request": {"contents": [{"role": "user", "parts": [{"text": k}]}]}} for k in "ab"]
    failing_creates(fake_hook, (refused(), False))
    with pytest.raises(ProviderAPIError):
        submit_op(lines).execute(make_context(ti))

    assert fake_hook.names("delete_file") == []


class Killed(BaseException):
    """The worker dies (SIGKILL): nothing of the try runs after this."""


def test_a_refused_create_keeps_the_earlier_try_upload_it_used(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path, sleeps: list[float]
):
    failing_creates(fake_hook, (Killed(), False))  # the worker of try 1 dies before its create is sent
    with pytest.raises(Killed):
        submit_op(str(input_jsonl)).execute(make_context(ti))
    failing_creates(fake_hook, (refused(), False))
    ti.try_number = 2

    with pytest.raises(ProviderAPIError):
        submit_op(str(input_jsonl)).execute(make_context(ti))

    assert len(fake_hook.uploads) == 1  # try 2 used try 1's upload ...
    assert fake_hook.names("delete_file") == []  # ... and, not its own, kept it
