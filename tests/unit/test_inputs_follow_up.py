"""prepare_input with ``only_keys``: a follow-up round sends only some rows of an input that must not have changed.

The whole input is still validated and hashed (its fingerprint proves it is the input of the first round);
only the selected lines are sent, in input order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.inputs import prepare_input
from airflow_provider_genai_batch.key_index import KeyFilter
from airflow_provider_genai_batch.parts import SplitLimits

MODEL = "gpt-4o-mini"


pytestmark = pytest.mark.usefixtures("spool_dir")


def gemini_line(key: str) -> dict[str, Any]:
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": f"about {key}"}]}]}}


def write_input(path: Path, count: int) -> Path:
    path.write_bytes(b"".join(json.dumps(gemini_line(f"k{i}")).encode() + b"\n" for i in range(count)))
    return path


def custom_ids(data: bytes) -> list[str]:
    return [json.loads(line)["custom_id"] for line in data.splitlines()]


def test_only_the_selected_keys_are_sent_in_input_order_with_the_whole_inputs_fingerprint(tmp_path):
    source = write_input(tmp_path / "in.jsonl", 6)
    whole = prepare_input(str(source), OpenAIDialect(), model=MODEL, embeddings=False)

    with KeyFilter(iter(["k4", "k1", "k5"])) as keys:
        prepared = prepare_input(
            str(source), OpenAIDialect(), model=MODEL, embeddings=False, only_keys=keys, split=SplitLimits()
        )
    try:
        assert prepared.fingerprint == whole.fingerprint
        assert prepared.summary.count == 3
        assert list(prepared.iter_keys()) == ["k1", "k4", "k5"]
        with prepared.parts[0].open_upload() as stream:
            assert custom_ids(stream.read()) == ["k1", "k4", "k5"]
        assert prepared.parts[0].fingerprint != whole.fingerprint
        assert (prepared.parts[0].first_line, prepared.parts[0].last_line) == (2, 6)
    finally:
        whole.cleanup()
        prepared.cleanup()


def test_the_selected_keys_are_cut_into_parts_like_any_input(tmp_path):
    source = write_input(tmp_path / "in.jsonl", 8)

    with KeyFilter(f"k{i}" for i in (0, 2, 3, 7)) as keys:
        prepared = prepare_input(
            str(source),
            OpenAIDialect(),
            model=MODEL,
            embeddings=False,
            only_keys=keys,
            split=SplitLimits(max_requests=3),
        )
    try:
        sent = []
        for part in prepared.parts:
            with part.open_upload() as stream:
                sent.append(custom_ids(stream.read()))
        assert sent == [["k0", "k2", "k3"], ["k7"]]
    finally:
        prepared.cleanup()


def test_a_selected_key_the_input_no_longer_has_is_refused(tmp_path, spool_dir):
    source = write_input(tmp_path / "in.jsonl", 3)

    with KeyFilter(iter(["k1", "gone"])) as keys, pytest.raises(InputValidationError) as raised:
        prepare_input(str(source), OpenAIDialect(), model=MODEL, embeddings=False, only_keys=keys, split=SplitLimits())

    assert raised.value.reason == "the input changed since its rows were last sent: key 'gone' is no longer in it"
    assert list(spool_dir.iterdir()) == []


def test_a_key_filter_answers_membership_for_the_keys_it_was_built_from():
    with KeyFilter(f"key-{i}" for i in range(20_000)) as keys:
        assert len(keys) == 20_000
        assert "key-0" in keys and "key-19999" in keys
        assert "key-20000" not in keys and "" not in keys
        assert keys.first_missing(f"key-{i}" for i in range(20_000) if i != 777) == "key-777"


def test_a_native_file_sends_only_the_selected_lines_not_the_file_as_it_is(tmp_path):
    source = tmp_path / "native.jsonl"
    lines = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": MODEL, "messages": [{"role": "user", "content": f"q{i}"}]},
        }
        for i in range(4)
    ]
    source.write_bytes(b"".join(json.dumps(line).encode() + b"\n" for line in lines))

    with KeyFilter(iter(["r2"])) as keys:
        prepared = prepare_input(str(source), OpenAIDialect(), model=MODEL, embeddings=False, only_keys=keys)
    try:
        assert prepared.upload_source != source
        with prepared.parts[0].open_upload() as stream:
            data = stream.read()
        assert custom_ids(data) == ["r2"]
        assert prepared.parts[0].byte_count == len(data)
    finally:
        prepared.cleanup()
