"""Landing meets result lines mangled at random (seeded): every provider's lines of ``landing_corpus`` with fields
dropped, set to null, to another type, to huge numbers, to unicode and lone surrogates, to nested garbage, and lines
cut short. Whatever a line holds, reading it never raises, it gives one row under its own key (or none, when the key
itself is damaged), a row's text and embedding have their own types, and landing puts each row in exactly one place:
the manifest's counts add up to the input and to the rows read, in either order, and a follow-up round reads every
landed row back."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import msgspec
import pytest

from airflow_provider_genai_batch.formats.results import ResultRow, RowStatus, encode_row, iter_result_rows
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import DUPLICATES_FILE, RESULTS_FILE, UNMATCHED_FILE, land_results, output_dir
from airflow_provider_genai_batch.models import BatchJob, JobState
from airflow_provider_genai_batch.retryable import follow_up_keys

from .landing_corpus import CASES, Case, edited

SEEDS = range(4)
LINES = 160
"""Mangled lines per provider and seed."""
GARBAGE: tuple[Any, ...] = (
    None,
    "",
    "x",
    0,
    -1,
    1.5,
    -0.0,
    True,
    False,
    2**64,
    -(2**63),
    1e308,
    10**40,
    "déjà vu ✓ \U0001f600",
    "\ud800",
    "a\udfffb",
    "\x00\x07",
    [],
    {},
    [None],
    [{}],
    [1, "a"],
    {"text": 1},
    {"a": {"b": [1, {"c": [[[None]]]}]}},
)


def spelled(item: Any, rng: random.Random) -> bytes:
    """A line as JSON, lone surrogates escaped (as a text cut inside a character leaves them), sometimes cut short
    or with a raw encoded surrogate in place of an escaped one."""
    line = json.dumps(item, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    if rng.random() < 0.05:
        line = line[: rng.randrange(1, len(line))]
    return line + b"\n"


def corpus(case: Case, seed: int) -> tuple[list[str], list[bytes], dict[int, str]]:
    """Input keys, the provider's mangled lines (a few keys answered twice, one never) and, by line, the provider id
    the line was written for."""
    rng = random.Random(f"fuzz-{seed}-{case.name}")
    keys = [("doc/" if number % 3 == 0 else "req-") + f"{number}.txt" for number in range(LINES)]
    lines: list[bytes] = []
    wrote: dict[int, str] = {}
    for number, key in enumerate(keys[:-1]):
        provider_id = case.provider_key(key)
        item = rng.choice(case.seeds(provider_id))
        for _ in range(rng.randrange(1, 4)):
            item = edited(item, rng, GARBAGE)
        wrote[len(lines)] = provider_id
        lines.append(spelled(item, rng))
        if number % 40 == 7:  # answered twice
            wrote[len(lines)] = provider_id
            lines.append(spelled(edited(item, rng, GARBAGE), rng))
    return keys, lines, wrote


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_mangled_line_reads_as_one_row_under_its_own_key_with_values_of_their_types(case: Case, seed: int):
    _, lines, wrote = corpus(case, seed)

    for number, line in enumerate(lines):
        rows = list(iter_result_rows([line], "files/out", case.read, case.key_of))

        assert len(rows) == 1, line
        (row,) = rows
        assert row.key in (wrote[number], None), line
        assert row.text is None or type(row.text) is str, line
        assert row.embedding is None or all(type(value) in (int, float) for value in row.embedding), line
        assert row.embedding is None or row.embedding, line
        if row.status is RowStatus.SUCCEEDED and row.text is None and row.embedding is None:
            assert row.response is not None, line  # an answer without text (a call) is kept as it came
        if row.status is RowStatus.FAILED:
            assert row.error is not None and type(row.error.message) is str, line
        assert type(msgspec.json.decode(encode_row(row))) is dict


def landed_rows(directory: Any, name: str) -> list[dict[str, Any]]:
    path = directory / name
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("order", ["as-sent", "reversed"])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_landing_mangled_lines_puts_every_row_in_one_place_and_the_counts_add_up(
    case: Case, seed: int, order: str, tmp_path: Path
):
    keys, lines, _ = corpus(case, seed)
    if order == "reversed":
        lines.reverse()
    keys_file = tmp_path / "input_keys.jsonl"
    keys_file.write_bytes(b"".join(json.dumps(key).encode() + b"\n" for key in keys))
    ref = BatchJobRef(
        provider=case.provider, conn_id="fuzz", job_name="job-1", request_count=len(keys), keys_uri=str(keys_file)
    )
    job = BatchJob(name="job-1", provider=case.provider, state=JobState.SUCCEEDED, provider_state="SUCCEEDED")
    read: list[ResultRow] = list(iter_result_rows(lines, "files/out", case.read, case.key_of))
    out = output_dir(str(tmp_path / "results"))

    manifest = land_results(iter(read), job, ref, out, case.provider_key)

    results = landed_rows(out, RESULTS_FILE)
    counts = manifest.counts
    assert [row["key"] for row in results] == keys
    statuses = [row["status"] for row in results]
    assert (counts.succeeded, counts.failed, counts.cancelled, counts.expired, counts.missing) == tuple(
        statuses.count(status.value) for status in RowStatus
    )
    assert counts.succeeded + counts.failed + counts.cancelled + counts.expired + counts.missing == counts.total
    assert counts.total == len(keys)
    assert counts.unmatched == len(landed_rows(out, UNMATCHED_FILE))
    assert counts.duplicates == len(landed_rows(out, DUPLICATES_FILE))
    assert len(read) == (counts.total - counts.missing) + counts.unmatched + counts.duplicates
    assert counts.unparseable == sum(row.unparseable for row in read)
    assert results[-1]["status"] == RowStatus.MISSING.value  # the key never answered
    assert set(follow_up_keys(str(out / RESULTS_FILE))) <= set(keys)  # a follow-up round reads every landed row
