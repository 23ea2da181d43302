"""Bad input fails in ``GenAIBatchSubmitOperator.execute`` before anything is uploaded or created.

One test per (corpus file, provider) reads as the specification in ``cases.py``: a rejected input raises
``InputValidationError`` naming the file, the line and the reason, with nothing uploaded, created or
written; an accepted input is counted right and its keys reach the provider (as portable ids where the
provider restricts them) and the results join. The hooks are the real provider hook classes with only
their I/O recorded and the provider's real dialect handed in, so no Airflow connection is read
(``conftest.py``); a few cases also run against the real hooks over
``httpx.MockTransport`` to show that only the idempotency lookup reaches the wire. An input over a
provider's per-job limits is not bad input: it is cut into parts, each within them; only a request no
part can hold is refused.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.formats.jsonl import UTF8_BOM
from airflow_provider_genai_batch.formats.keys import PORTABLE_ID, portable_id
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.hooks import base as base_module
from airflow_provider_genai_batch.hooks.http import AsyncClientPool, PooledAsyncClient
from airflow_provider_genai_batch.hooks.registry import hook_class_for_provider
from airflow_provider_genai_batch.inputs import prepare_input
from airflow_provider_genai_batch.landing import KEYS_FILE, iter_keys

from .cases import ALL, CASES, CORPUS, GEMINI, MODELS, Case, corpus_files
from .conftest import CONN_ID, DIALECT_CLASSES, dialect_for, submit

# --- helpers ----------------------------------------------------------------------------------------------


def canonical(key: str, text: str = "Summarise the attached report.") -> str:
    return json.dumps({"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}})


def write_lines(path: Path, lines: Iterator[str] | list[str]) -> Path:
    with path.open("w", encoding="utf-8") as sink:
        for line in lines:
            sink.write(line + "\n")
    return path


def assert_rejected(
    err: InputValidationError, source: Path, line: int | None, reason: str, hook: Any, output_uri: str, spool: Path
) -> None:
    """The error names the file, the line and the reason; nothing reached the provider or the output."""
    message = str(err)
    assert err.source == str(source)
    assert str(source) in message
    assert err.line == line
    if line is not None:
        assert f"line {line}:" in message
    assert reason in err.reason
    assert reason in message
    assert hook.uploads == []
    assert hook.created == []
    assert set(hook.calls) <= {"list_batches"}
    assert not (Path(output_uri) / KEYS_FILE).exists()
    assert list(spool.iterdir()) == []  # no temp spool left behind either


def content(path: Path) -> bytes:
    """A corpus file's bytes as the provider should receive them: decompressed, without a BOM."""
    data = path.read_bytes()
    return (gzip.decompress(data) if data.startswith(b"\x1f\x8b") else data).removeprefix(UTF8_BOM)


def first_line_is_canonical(path: Path) -> bool:
    for raw in content(path).splitlines():
        if raw.strip():
            return "request" in json.loads(raw)
    return False


def sent_ids(hook: Any, provider: str) -> list[str]:
    field = "key" if provider == GEMINI else "custom_id"
    return [line[field] for line in hook.sent_lines()]


def sent_per_job(hook: Any) -> list[bytes]:
    """What each created job was sent, as the provider receives it: its uploaded file, or its inline requests."""
    uploads = {f"files/upload-{number}": data for number, data in enumerate(hook.uploads, start=1)}
    sent = []
    for created in hook.created:
        if created["requests"] is None:
            sent.append(uploads[created["source"].file_name])
        else:
            sent.append(b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in created["requests"]))
    return sent


def assert_cut(ref: dict[str, Any], hook: Any, counts: list[int], spool: Path) -> None:
    """The input went as one group of ``counts`` requests per part, each part its own job; no spool is left."""
    assert [part["request_count"] for part in ref["parts"]] == counts
    assert ref["request_count"] == sum(counts)
    assert [part["job_name"] for part in ref["parts"]] == [f"batch-{n}" for n in range(1, len(counts) + 1)]
    assert len({part["idempotency_key"] for part in ref["parts"]}) == len(counts)
    sent = sent_per_job(hook)
    assert [len(job.splitlines()) for job in sent] == counts
    assert [part["byte_count"] for part in ref["parts"]] == [len(job) for job in sent]
    assert list(spool.iterdir()) == []


# --- the corpus -------------------------------------------------------------------------------------------


def corpus_params() -> list[Any]:
    params = []
    for case in CASES:
        for provider in case.providers:
            marks = [pytest.mark.xfail(strict=True, reason=case.bug)] if case.bug else []
            params.append(pytest.param(case, provider, id=f"{case.file}-{provider}", marks=marks))
    return params


def test_every_corpus_file_has_a_case_and_every_case_a_file():
    listed = {case.file for case in CASES}
    assert listed == set(corpus_files())
    assert len(corpus_files()) >= 30
    for case in CASES:
        assert case.providers and set(case.providers) <= set(ALL), case
        assert (case.line is None or case.line >= 1) and bool(case.reason) != case.accept, case


def test_corpus_files_are_small():
    assert all((CORPUS / name).stat().st_size < 16 * 1024 for name in corpus_files())


@pytest.mark.parametrize(("case", "provider"), corpus_params())
def test_corpus_case(case: Case, provider: str, recording, tmp_path: Path, spool_dir: Path):
    hook = recording(provider)
    source = CORPUS / case.file
    output_uri = str(tmp_path / "out")

    if not case.accept:
        with pytest.raises(InputValidationError) as raised:
            submit(provider, str(source), output_uri=output_uri, embeddings=case.embeddings)
        assert_rejected(raised.value, source, case.line, case.reason_for(provider), hook, output_uri, spool_dir)
        return

    ref = submit(provider, str(source), output_uri=output_uri, embeddings=case.embeddings)

    assert ref["request_count"] == case.count
    assert len(hook.created) == 1
    assert hook.created[0]["embeddings"] is case.embeddings
    assert len(hook.sent_lines()) == case.count
    keys_uri = ref["keys_uri"]
    assert keys_uri == str(Path(output_uri) / KEYS_FILE)
    keys = list(iter_keys(keys_uri))  # what the results join reads back
    if case.keys is not None:
        assert keys == list(case.keys)
    assert len(keys) == case.count
    if provider != GEMINI and first_line_is_canonical(source):
        # Translated lines carry the key as a portable id the provider accepts; landing maps it back.
        assert sent_ids(hook, provider) == [portable_id(key) for key in keys]
        assert all(PORTABLE_ID.fullmatch(cid) for cid in sent_ids(hook, provider))
    else:
        assert sent_ids(hook, provider) == keys
    assert list(spool_dir.iterdir()) == []  # the operator removed its spool files


def test_over_long_keys_reach_openai_and_anthropic_as_portable_ids_and_gemini_as_they_are(recording, tmp_path):
    source = CORPUS / "long_keys.jsonl"
    sent = {}
    for provider in ALL:
        hook = recording(provider)
        submit(provider, str(source), output_uri=str(tmp_path / provider))
        sent[provider] = sent_ids(hook, provider)

    assert sent["gemini"][0] == "k" * 65
    assert sent["openai"] == sent["anthropic"]
    assert [len(cid) for cid in sent["openai"]] == [42, 42, 42]  # "k-" + 40 hex digits
    assert all(cid.startswith("k-") for cid in sent["openai"])


# --- big inputs, generated at test time ---------------------------------------------------------------------


TEN_MB = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def ten_mb_line(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "ten_mb_single_line.jsonl"
    return write_lines(path, [canonical("huge", "lorem ipsum " * (TEN_MB // 12))])


@pytest.fixture(scope="module")
def many_lines(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Path]:
    directory = tmp_path_factory.mktemp("many")

    def make(count: int) -> Path:
        path = directory / f"{count}_requests.jsonl"
        if not path.exists():
            line = '{"key":"k%d","request":{"contents":[{"parts":[{"text":"hi"}]}]}}'
            write_lines(path, (line % i for i in range(count)))
        return path

    return make


@pytest.mark.parametrize("provider", ALL)
def test_a_10_mb_single_line_is_one_valid_request(provider, ten_mb_line, recording, tmp_path):
    assert ten_mb_line.stat().st_size > TEN_MB
    hook = recording(provider)

    ref = submit(provider, str(ten_mb_line), output_uri=str(tmp_path / "out"))

    assert ref["request_count"] == 1
    (line,) = hook.sent_lines()
    if provider == GEMINI:
        assert hook.uploads == [ten_mb_line.read_bytes()]  # canonical input is uploaded as it is
    else:
        assert len(json.dumps(line)) > TEN_MB


@pytest.mark.parametrize(("provider", "limit_field"), [("openai", "max_file_bytes"), ("anthropic", "max_inline_bytes")])
def test_a_10_mb_line_over_the_size_limit_fails_on_that_line(
    provider, limit_field, ten_mb_line, recording, tmp_path, spool_dir
):
    # No part can hold a request bigger than the limit: the input is refused, not cut. The size counted is the
    # translated request's, so the file's size alone decides nothing; the line does.
    hook = recording(provider, **{limit_field: 5_000_000})
    output_uri = str(tmp_path / "out")

    with pytest.raises(InputValidationError) as raised:
        submit(provider, str(ten_mb_line), output_uri=output_uri)

    found = re.search(r"the request is ([\d,]+) bytes", raised.value.reason)
    assert found is not None
    size = int(found.group(1).replace(",", ""))
    assert size > TEN_MB
    reason = f"the request is {size:,} bytes, over 5,000,000 bytes, the size limit of one {provider} batch"
    assert_rejected(raised.value, ten_mb_line, 1, reason, hook, output_uri, spool_dir)


def openai_native_lines(repeats: int) -> list[str]:
    """The corpus's OpenAI native lines repeated, each with a custom_id of its own."""
    lines = [json.loads(raw) for raw in (CORPUS / "openai_native.jsonl").read_text().splitlines()]
    return [json.dumps({**line, "custom_id": f"{line['custom_id']}-{r}"}) for r in range(repeats) for line in lines]


@pytest.mark.parametrize(("provider", "native"), [("gemini", False), ("openai", True)], ids=["gemini", "openai-native"])
def test_a_file_in_the_providers_own_format_over_the_size_limit_is_cut_into_parts_each_within_it(
    provider, native, recording, tmp_path, spool_dir
):
    lines = openai_native_lines(10) if native else [canonical(f"key-{i}", "x" * 300) for i in range(5)]
    source = write_lines(tmp_path / "sized.jsonl", lines)
    assert source.stat().st_size > 1_000
    hook = recording(provider, max_file_bytes=1_000)

    ref = submit(provider, str(source), output_uri=str(tmp_path / "out"))

    sent = sent_per_job(hook)
    assert len(sent) > 1
    assert all(len(job) <= 1_000 for job in sent)
    assert [json.loads(raw) for job in sent for raw in job.splitlines()] == [json.loads(line) for line in lines]
    assert_cut(ref, hook, [len(job.splitlines()) for job in sent], spool_dir)


@pytest.mark.parametrize(("provider", "limit_field"), [("openai", "max_file_bytes"), ("anthropic", "max_inline_bytes")])
def test_a_translated_file_over_the_provider_size_limit_is_cut_before_each_line_that_would_cross_it(
    provider, limit_field, recording, tmp_path, spool_dir
):
    # OpenAI's 200 MB is too big to write in a unit test: the limit is made small instead.
    keys = [f"key-{i}" for i in range(5)]
    source = write_lines(tmp_path / "sized.jsonl", [canonical(key, "x" * 300) for key in keys])
    hook = recording(provider, **{limit_field: 1_000})

    ref = submit(provider, str(source), output_uri=str(tmp_path / "out"))

    sent = sent_per_job(hook)
    assert all(len(job) <= 1_000 for job in sent)
    # Each part is cut only where its next line would take it over the limit.
    assert all(len(job) + len(after.splitlines()[0]) + 1 > 1_000 for job, after in itertools.pairwise(sent))
    assert sent_ids(hook, provider) == [portable_id(key) for key in keys]
    assert_cut(ref, hook, [2, 2, 1], spool_dir)


@pytest.mark.parametrize(("provider", "limit_field"), [("openai", "max_file_bytes"), ("anthropic", "max_inline_bytes")])
def test_a_file_over_the_limit_only_by_whitespace_the_translation_drops_is_accepted(
    provider, limit_field, recording, tmp_path
):
    # Only what the provider receives is limited: a file is not refused for its stored size when translated.
    # Requests sent inline are limited as the body that carries them: their lines and its envelope.
    source = write_lines(tmp_path / "spacious.jsonl", [" " * 300 + canonical(f"key-{i}", "hi") for i in range(3)])
    dialect = dialect_for(provider)
    prepared = prepare_input(str(source), dialect, model=MODELS[provider], embeddings=False)
    translated = prepared.summary.total_bytes
    prepared.cleanup()
    assert source.stat().st_size > translated
    sent = translated if limit_field == "max_file_bytes" else dialect.limits.inline_body_bytes(translated, 3)
    hook = recording(provider, **{limit_field: sent})

    ref = submit(provider, str(source), output_uri=str(tmp_path / "out"))

    assert ref["request_count"] == 3
    assert ref["parts"] is None  # exactly at the limit: one job
    assert len(hook.sent_lines()) == 3


def test_the_real_provider_limits_are_the_documented_ones():
    assert OpenAIDialect.limits.max_requests == 50_000
    assert OpenAIDialect.limits.max_file_bytes == 200_000_000
    assert AnthropicDialect.limits.max_requests == 100_000
    assert AnthropicDialect.limits.max_inline_bytes == 256_000_000
    assert GeminiDialect.limits.max_file_bytes == 2 * 1024**3


@pytest.mark.parametrize("provider", ALL)
def test_the_recording_hooks_validate_with_the_real_unchanged_dialects(provider, recording):
    hook = recording(provider)
    assert type(hook.dialect) is DIALECT_CLASSES[provider]
    assert hook.dialect.limits == DIALECT_CLASSES[provider].limits
    assert hook.capabilities == DIALECT_CLASSES[provider].capabilities


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_input_over_the_count_limit_is_cut_into_parts_of_at_most_the_limit(
    provider, many_lines, recording, tmp_path, spool_dir
):
    # The real 50,000 / 100,000 are accepted whole below; a small limit shows the cut without the run time.
    hook = recording(provider, max_requests=5)

    ref = submit(provider, str(many_lines(11)), output_uri=str(tmp_path / "out"))

    assert sent_ids(hook, provider) == [portable_id(f"k{i}") for i in range(11)]
    assert_cut(ref, hook, [5, 5, 1], spool_dir)


@pytest.mark.parametrize(("provider", "limit"), [("openai", 50_000), ("anthropic", 100_000)])
def test_exactly_the_count_limit_is_accepted(provider, limit, many_lines, recording, tmp_path):
    hook = recording(provider)

    ref = submit(provider, str(many_lines(limit)), output_uri=str(tmp_path / "out"))

    assert ref["request_count"] == limit
    assert len(hook.sent_lines()) == limit


# --- spool files and the bytes that reach the provider -----------------------------------------------------


@pytest.mark.parametrize("provider", ALL)
def test_a_rejected_input_leaves_no_spool_files_behind(provider, recording, tmp_path, spool_dir):
    # Validation spools keys and translated lines to temp files; a rejected input must not leave them behind.
    recording(provider)
    source = write_lines(tmp_path / "in.jsonl", [canonical("a"), canonical("b"), "{not json"])

    with pytest.raises(InputValidationError):
        submit(provider, str(source), output_uri=str(tmp_path / "out"))

    assert list(spool_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("provider", "native"),
    [
        pytest.param("gemini", False),
        pytest.param("openai", True),
        pytest.param("openai", False),  # translated: the spool has no BOM
    ],
)
def test_an_accepted_file_with_a_bom_reaches_the_provider_without_it(provider, native, recording, tmp_path):
    lines = (CORPUS / ("openai_native.jsonl" if native else "utf8_bom.jsonl")).read_bytes().removeprefix(UTF8_BOM)
    source = tmp_path / "bom.jsonl"
    source.write_bytes(UTF8_BOM + lines)
    hook = recording(provider)

    submit(provider, str(source), output_uri=str(tmp_path / "out"))

    (uploaded,) = hook.uploads
    assert not uploaded.startswith(UTF8_BOM)


@pytest.mark.parametrize(
    ("provider", "file"),
    [
        ("gemini", "cr_only_line_endings.jsonl"),
        ("gemini", "mixed_line_endings.jsonl"),
        ("openai", "openai_native_cr_only.jsonl"),
        ("openai", "cr_only_line_endings.jsonl"),
    ],
)
def test_lines_ending_in_a_lone_cr_reach_the_provider_ending_in_lf(provider, file, recording, tmp_path):
    # Providers split a JSONL file at LF only: a lone CR would glue two requests into one invalid line.
    hook = recording(provider)

    submit(provider, str(CORPUS / file), output_uri=str(tmp_path / "out"))

    (sent,) = hook.uploads
    assert b"\r" not in sent.replace(b"\r\n", b"")
    split_at_lf_only = [json.loads(line) for line in sent.split(b"\n") if line.strip()]
    assert split_at_lf_only == hook.sent_lines()


@pytest.mark.parametrize(
    ("provider", "file"), [("gemini", "gzip_compressed.jsonl.gz"), ("openai", "openai_native_gzip.jsonl.gz")]
)
def test_a_gzip_file_in_the_providers_own_format_is_uploaded_decompressed(provider, file, recording, tmp_path):
    hook = recording(provider)

    submit(provider, str(CORPUS / file), output_uri=str(tmp_path / "out"))

    (sent,) = hook.uploads
    assert not sent.startswith(b"\x1f\x8b")
    assert [json.loads(line) for line in sent.splitlines()] == [
        json.loads(line) for line in content(CORPUS / file).splitlines()
    ]


# --- the real hooks on the wire: only the idempotency lookup is sent -----------------------------------------

WIRE_BASE_URL = "http://bad-inputs.test"


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """Every client the hooks build talks to a MockTransport that lists nothing and refuses anything else."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET":
            return httpx.Response(200, json={"operations": [], "data": [], "has_more": False})
        return httpx.Response(500, json={"error": {"message": "nothing may be uploaded or created"}})

    class MockedHttpx:
        def __getattr__(self, name: str) -> Any:
            return getattr(httpx, name)

        @staticmethod
        def Client(**kwargs: Any) -> httpx.Client:
            return httpx.Client(transport=httpx.MockTransport(handler), **kwargs)

    def pooled_async_client(**kwargs: Any) -> PooledAsyncClient:
        return PooledAsyncClient(**{**kwargs, "transport": httpx.MockTransport(handler)})

    monkeypatch.setattr(base_module, "httpx", MockedHttpx())
    monkeypatch.setattr(base_module, "PooledAsyncClient", pooled_async_client)
    monkeypatch.setattr(base_module, "ASYNC_CLIENTS", AsyncClientPool())
    return seen


@pytest.mark.parametrize(
    ("provider", "file", "line"),
    [
        ("gemini", "bedrock_native.jsonl", 1),
        ("gemini", "duplicate_key.jsonl", 4),
        ("openai", "anthropic_native.jsonl", 1),
        ("openai", "thinking_config.jsonl", 1),
        ("anthropic", "openai_native.jsonl", 1),
        ("anthropic", "non_utf8_bytes.jsonl", 2),
        ("gemini", "duplicate_field_key.jsonl", 2),
        ("openai", "utf16_le_bom.jsonl", 1),
        ("anthropic", "gzip_truncated.jsonl.gz", 1),
    ],
)
def test_with_the_real_hook_a_rejected_input_sends_nothing_but_the_lookup(
    provider, file, line, wire, monkeypatch, tmp_path
):
    hook_class = hook_class_for_provider(provider)
    conn = {"conn_type": hook_class.conn_type, "host": WIRE_BASE_URL, "password": "sk-test"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    source = CORPUS / file
    output_uri = str(tmp_path / "out")

    with pytest.raises(InputValidationError) as raised:
        submit(provider, str(source), output_uri=output_uri)

    assert raised.value.line == line
    assert f"{source}, line {line}:" in str(raised.value)
    assert [r.method for r in wire] == ["GET"] * len(wire)  # listing for the idempotency key, nothing else
    assert not (tmp_path / "out" / KEYS_FILE).exists()
