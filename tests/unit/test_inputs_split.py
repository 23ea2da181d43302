"""prepare_input with ``split``: an input cut into parts while it is validated, each part what one job receives.

An input that fits is one part sent exactly as without ``split`` (same fingerprint, same source); one that does
not is cut before the line that would take a part over the user's or the provider's limits, each part its own
spool and fingerprint.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.bedrock import BedrockDialect
from airflow_provider_genai_batch.formats.dialect import ProviderLimits
from airflow_provider_genai_batch.formats.jsonl import UTF8_BOM
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.formats.vertex import VertexDialect
from airflow_provider_genai_batch.inputs import PreparedInput, prepare_input
from airflow_provider_genai_batch.parts import PreparedPart, SplitLimits
from tests.unit.pipeline.storage_fakes import FakeStorage

MODEL = "gpt-4o-mini"


class SmallOpenAIDialect(OpenAIDialect):
    """OpenAI with a 3-request limit per job, so a provider-limit cut takes a few lines."""

    limits: ClassVar[ProviderLimits] = ProviderLimits(max_requests=3, max_file_bytes=200 * 1024**2)


pytestmark = pytest.mark.usefixtures("spool_dir")


@pytest.fixture
def prepared_inputs() -> Iterator[list[PreparedInput]]:
    made: list[PreparedInput] = []
    yield made
    for prepared in made:
        prepared.cleanup()


def gemini_line(key: str, text: str = "hello") -> dict[str, Any]:
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}


def openai_line(custom_id: str) -> dict[str, Any]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": custom_id}]}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    return path


def sent(part: PreparedPart) -> bytes:
    if part.inline is not None:
        return b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in part.inline)
    with part.open_upload() as stream:
        return stream.read()


def ids_of(part: PreparedPart) -> list[str]:
    return [json.loads(line)["custom_id"] for line in sent(part).splitlines()]


def prepare(source: Any, dialect: Any, made: list[PreparedInput], **options: Any) -> PreparedInput:
    model = options.pop("model", MODEL)
    prepared = prepare_input(source, dialect, model=model, embeddings=False, **options)
    made.append(prepared)
    return prepared


# --- an input that fits: one part, sent as without split ---------------------------------------------------


def test_an_input_that_fits_is_one_part_with_the_whole_inputs_fingerprint(tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "in.jsonl", [gemini_line(f"k{i}") for i in range(5)])

    plain = prepare(str(source), OpenAIDialect(), prepared_inputs)
    cut = prepare(str(source), OpenAIDialect(), prepared_inputs, split=SplitLimits(max_requests=10))

    assert cut.fingerprint == plain.fingerprint
    assert [part.fingerprint for part in cut.parts] == [plain.fingerprint]
    assert [part.fingerprint for part in plain.parts] == [plain.fingerprint]
    assert (cut.parts[0].request_count, cut.parts[0].first_line, cut.parts[0].last_line) == (5, 1, 5)
    assert sent(cut.parts[0]) == plain.upload_source.read_bytes()


def test_a_native_file_that_fits_is_still_uploaded_as_it_is_from_where_it_is(tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "native.jsonl", [openai_line(f"r{i}") for i in range(4)])

    prepared = prepare(str(source), OpenAIDialect(), prepared_inputs, split=SplitLimits(max_requests=4))

    assert prepared.upload_source == source
    assert len(prepared.parts) == 1
    assert sent(prepared.parts[0]) == source.read_bytes()
    assert prepared.parts[0].byte_count == source.stat().st_size


def test_a_stored_vertex_object_that_fits_is_still_read_in_place():
    uri = "gs://bkt/in/requests.jsonl"
    data = b"".join(json.dumps(gemini_line(f"k{i}")).encode() + b"\n" for i in range(3))

    prepared = prepare_input(
        uri,
        VertexDialect(),
        model="gemini-2.5-flash",
        embeddings=False,
        storage=FakeStorage(objects={uri: data}),
        split=SplitLimits(max_requests=3),
    )
    prepared.cleanup()

    assert prepared.in_place_uri == uri
    assert prepared.parts[0].in_place_uri == uri
    assert prepared.parts[0].fingerprint == prepared.fingerprint


# --- cut points ---------------------------------------------------------------------------------------------


def test_the_users_request_limit_cuts_parts_in_input_order(tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "in.jsonl", [gemini_line(f"k{i}") for i in range(5)])

    prepared = prepare(str(source), OpenAIDialect(), prepared_inputs, split=SplitLimits(max_requests=2))

    assert [ids_of(part) for part in prepared.parts] == [["k0", "k1"], ["k2", "k3"], ["k4"]]
    assert [(part.index, part.first_line, part.last_line) for part in prepared.parts] == [
        (0, 1, 2),
        (1, 3, 4),
        (2, 5, 5),
    ]
    assert prepared.summary.count == 5
    assert prepared.upload_source is None and prepared.inline is None
    assert list(prepared.iter_keys()) == [f"k{i}" for i in range(5)]


def test_the_providers_request_limit_cuts_instead_of_refusing(tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "in.jsonl", [gemini_line(f"k{i}") for i in range(5)])

    prepared = prepare(str(source), SmallOpenAIDialect(), prepared_inputs, split=SplitLimits())

    assert [part.request_count for part in prepared.parts] == [3, 2]


def test_the_lower_of_the_users_and_the_providers_limits_wins(tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "in.jsonl", [gemini_line(f"k{i}") for i in range(5)])

    users = prepare(str(source), SmallOpenAIDialect(), prepared_inputs, split=SplitLimits(max_requests=2))
    providers = prepare(str(source), SmallOpenAIDialect(), prepared_inputs, split=SplitLimits(max_requests=4))

    assert [part.request_count for part in users.parts] == [2, 2, 1]
    assert [part.request_count for part in providers.parts] == [3, 2]


def test_a_byte_limit_cuts_before_the_line_that_would_cross_it(tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "in.jsonl", [gemini_line(f"k{i}", "x" * 100) for i in range(6)])
    whole = prepare(str(source), OpenAIDialect(), prepared_inputs)
    line_bytes = whole.summary.total_bytes // 6

    prepared = prepare(
        str(source), OpenAIDialect(), prepared_inputs, split=SplitLimits(max_bytes=2 * line_bytes + line_bytes // 2)
    )

    assert [part.request_count for part in prepared.parts] == [2, 2, 2]
    assert [part.byte_count for part in prepared.parts] == [len(sent(part)) for part in prepared.parts]
    assert b"".join(sent(part) for part in prepared.parts) == whole.upload_source.read_bytes()


def test_a_token_budget_cuts_on_the_estimated_input_tokens(tmp_path, prepared_inputs):
    # 400 characters: 100 estimated tokens a request.
    source = write_jsonl(tmp_path / "in.jsonl", [gemini_line(f"k{i}", "x" * 400) for i in range(5)])

    prepared = prepare(str(source), OpenAIDialect(), prepared_inputs, split=SplitLimits(max_input_tokens=250))

    assert [part.request_count for part in prepared.parts] == [2, 2, 1]
    assert [part.input_tokens for part in prepared.parts] == [200, 200, 100]
    assert prepared.input_tokens == 500


class FewInputsOpenAIDialect(OpenAIDialect):
    """OpenAI whose embeddings batches take 10 embedding inputs, so an inputs cut takes a few lines."""

    limits: ClassVar[ProviderLimits] = OpenAIDialect.limits.model_copy(update={"max_embedding_inputs": 10})


def embeddings_line(custom_id: str, inputs: int) -> dict[str, Any]:
    body = {"model": "text-embedding-3-small", "input": [f"{custom_id} text {i}" for i in range(inputs)]}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/embeddings", "body": body}


def test_the_providers_embedding_inputs_limit_cuts_on_the_inputs_each_request_lists(tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "in.jsonl", [embeddings_line(f"e{i}", 4) for i in range(5)])

    prepared = prepare(
        str(source), FewInputsOpenAIDialect(), prepared_inputs, model="text-embedding-3-small", split=SplitLimits()
    )

    assert [ids_of(part) for part in prepared.parts] == [["e0", "e1"], ["e2", "e3"], ["e4"]]


def test_each_parts_fingerprint_is_that_of_an_input_of_its_lines_alone(tmp_path, prepared_inputs):
    lines = [gemini_line(f"k{i}") for i in range(5)]
    source = write_jsonl(tmp_path / "in.jsonl", lines)

    prepared = prepare(str(source), OpenAIDialect(), prepared_inputs, split=SplitLimits(max_requests=2))
    alone = [
        prepare(
            str(write_jsonl(tmp_path / f"part{i}.jsonl", lines[i * 2 : i * 2 + 2])), OpenAIDialect(), prepared_inputs
        )
        for i in range(3)
    ]

    assert [part.fingerprint for part in prepared.parts] == [one.fingerprint for one in alone]
    assert prepared.fingerprint not in {part.fingerprint for part in prepared.parts}


def test_a_native_file_over_the_limit_is_sent_in_parts_from_spools(tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "native.jsonl", [openai_line(f"r{i}") for i in range(5)])

    prepared = prepare(str(source), SmallOpenAIDialect(), prepared_inputs, split=SplitLimits())

    assert [ids_of(part) for part in prepared.parts] == [["r0", "r1", "r2"], ["r3", "r4"]]
    assert prepared.upload_source is None


def test_a_file_uploaded_as_it_is_over_the_byte_limit_is_cut_instead_of_refused(tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "native.jsonl", [openai_line(f"r{i}") for i in range(4)])
    line_bytes = len(source.read_bytes().splitlines()[0])

    class TinyOpenAIDialect(OpenAIDialect):
        limits: ClassVar[ProviderLimits] = ProviderLimits(max_requests=50_000, max_file_bytes=2 * line_bytes + 2)

    prepared = prepare(str(source), TinyOpenAIDialect(), prepared_inputs, split=SplitLimits())

    assert [ids_of(part) for part in prepared.parts] == [["r0", "r1"], ["r2", "r3"]]


def test_one_line_over_the_byte_limit_is_refused_naming_the_line(tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "in.jsonl", [gemini_line("a"), gemini_line("big", "x" * 1000), gemini_line("c")])

    with pytest.raises(InputValidationError, match=r"the request is [\d,]+ bytes, over 500 bytes") as raised:
        prepare(str(source), OpenAIDialect(), prepared_inputs, split=SplitLimits(max_bytes=500))

    assert raised.value.line == 2
    assert raised.value.source == str(source)


def test_a_gzipped_input_is_cut_into_parts_of_its_decompressed_lines(tmp_path, prepared_inputs):
    plain = write_jsonl(tmp_path / "in.jsonl", [openai_line(f"r{i}") for i in range(4)])
    source = tmp_path / "in.jsonl.gz"
    source.write_bytes(gzip.compress(plain.read_bytes()))

    prepared = prepare(str(source), OpenAIDialect(), prepared_inputs, split=SplitLimits(max_requests=2))

    assert [ids_of(part) for part in prepared.parts] == [["r0", "r1"], ["r2", "r3"]]


def test_a_bom_and_lone_cr_input_is_cut_into_parts_without_the_bom_ending_in_lf(tmp_path, prepared_inputs):
    lines = [json.dumps(openai_line(f"r{i}")).encode() for i in range(3)]
    source = tmp_path / "mac.jsonl"
    source.write_bytes(UTF8_BOM + b"\r".join(lines) + b"\r")

    prepared = prepare(str(source), OpenAIDialect(), prepared_inputs, split=SplitLimits(max_requests=2))

    parts = [sent(part) for part in prepared.parts]
    assert not parts[0].startswith(UTF8_BOM)
    assert all(b"\r" not in part and part.endswith(b"\n") for part in parts)
    assert [ids_of(part) for part in prepared.parts] == [["r0", "r1"], ["r2"]]


def test_a_bom_and_lone_cr_input_that_fits_is_sent_as_without_split(tmp_path, prepared_inputs):
    lines = [json.dumps(openai_line(f"r{i}")).encode() for i in range(3)]
    source = tmp_path / "mac.jsonl"
    source.write_bytes(UTF8_BOM + b"\r".join(lines) + b"\r")

    plain = prepare(str(source), OpenAIDialect(), prepared_inputs)
    cut = prepare(str(source), OpenAIDialect(), prepared_inputs, split=SplitLimits())

    with plain.open_upload() as stream:
        assert sent(cut.parts[0]) == stream.read() == b"\n".join(lines) + b"\n"
    assert cut.parts[0].fingerprint == plain.fingerprint


def test_inline_requests_are_cut_into_inline_parts(prepared_inputs):
    items = [gemini_line(f"k{i}") for i in range(5)]

    prepared = prepare(
        items, AnthropicDialect(), prepared_inputs, model="claude-sonnet-4-5", split=SplitLimits(max_requests=2)
    )

    assert all(part.inline is not None for part in prepared.parts)
    assert [[line["custom_id"] for line in part.inline or []] for part in prepared.parts] == [
        ["k0", "k1"],
        ["k2", "k3"],
        ["k4"],
    ]


def test_the_parts_of_an_input_are_each_its_own_spool_removed_by_cleanup(tmp_path, spool_dir):
    source = write_jsonl(tmp_path / "in.jsonl", [gemini_line(f"k{i}") for i in range(4)])

    prepared = prepare_input(
        str(source), OpenAIDialect(), model=MODEL, embeddings=False, split=SplitLimits(max_requests=2)
    )
    prepared.cleanup()

    assert list(spool_dir.iterdir()) == []


# --- Bedrock's minimum ----------------------------------------------------------------------------------------


def bedrock_input(tmp_path: Path, count: int) -> Path:
    return write_jsonl(tmp_path / "bedrock.jsonl", [gemini_line(f"k{i}") for i in range(count)])


def test_a_last_part_under_bedrocks_minimum_takes_lines_from_the_part_before(tmp_path, prepared_inputs):
    source = bedrock_input(tmp_path, 230)

    prepared = prepare(
        str(source),
        BedrockDialect(),
        prepared_inputs,
        model="anthropic.claude-3-haiku-20240307-v1:0",
        split=SplitLimits(max_requests=150),
    )

    first, last = prepared.parts
    assert (first.request_count, first.first_line, first.last_line) == (130, 1, 130)
    assert (last.request_count, last.first_line, last.last_line) == (100, 131, 230)
    record_ids = [[json.loads(line)["recordId"] for line in sent(part).splitlines()] for part in prepared.parts]
    assert record_ids == [[f"k{i}" for i in range(130)], [f"k{i}" for i in range(130, 230)]]
    assert [part.byte_count for part in prepared.parts] == [len(sent(part)) for part in prepared.parts]
    header = json.dumps(["bedrock", "anthropic.claude-3-haiku-20240307-v1:0", False], separators=(",", ":")).encode()
    assert [part.fingerprint for part in prepared.parts] == [
        hashlib.sha256(header + b"\n" + sent(part)).hexdigest() for part in prepared.parts
    ]


def test_an_input_under_bedrocks_minimum_is_still_refused_with_split(tmp_path, prepared_inputs):
    source = bedrock_input(tmp_path, 99)

    with pytest.raises(InputValidationError, match="99 requests, fewer than the 100 a bedrock batch needs"):
        prepare(
            str(source),
            BedrockDialect(),
            prepared_inputs,
            model="anthropic.claude-3-haiku-20240307-v1:0",
            split=SplitLimits(),
        )


def test_a_request_limit_under_the_providers_minimum_is_refused(tmp_path, prepared_inputs):
    source = bedrock_input(tmp_path, 100)

    with pytest.raises(InputValidationError, match=r"max_requests \(50\) is under min_requests \(100\)"):
        prepare(
            str(source),
            BedrockDialect(),
            prepared_inputs,
            model="anthropic.claude-3-haiku-20240307-v1:0",
            split=SplitLimits(max_requests=50),
        )


# --- tables -------------------------------------------------------------------------------------------------


class SmallVertexDialect(VertexDialect):
    """Vertex with a 3-request limit per job."""

    limits: ClassVar[ProviderLimits] = ProviderLimits(max_requests=3)


def prepare_table(keys: list[str], split: SplitLimits) -> PreparedInput:
    uri = "bq://project.dataset.requests"
    storage = FakeStorage(tables={uri: (keys, "v1")})
    return prepare_input(
        uri, SmallVertexDialect(), model="gemini-2.5-flash", embeddings=False, storage=storage, split=split
    )


def test_a_table_that_fits_is_one_part_read_in_place():
    prepared = prepare_table(["a", "b"], SplitLimits())
    prepared.cleanup()

    assert [(part.in_place_uri, part.request_count, part.fingerprint) for part in prepared.parts] == [
        ("bq://project.dataset.requests", 2, prepared.fingerprint)
    ]


def test_a_table_over_the_limit_is_never_cut():
    with pytest.raises(InputValidationError, match="the table has 4 rows, over the 3-request limit"):
        prepare_table(["a", "b", "c", "d"], SplitLimits())
