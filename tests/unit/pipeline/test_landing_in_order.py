"""Rows that come in input order are streamed straight into the results; whatever the rows, the files landed
are byte for byte those the join alone writes (the join is forced here by breaking the order at once)."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_genai_batch import landing
from airflow_provider_genai_batch.formats.keys import portable_id
from airflow_provider_genai_batch.formats.results import ResultRow, RowError, RowStatus, unparseable_row
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import DUPLICATES_FILE, RESULTS_FILE, land_results, output_dir
from airflow_provider_genai_batch.models import BatchJob, JobState

from .fakes import FAKE_CONN_ID

KEYS = tuple(f"k{i}" for i in range(8))


def job(state: JobState = JobState.SUCCEEDED) -> BatchJob:
    return BatchJob(name="batches/job-1", provider="gemini", state=state, provider_state=state.value)


def ref(tmp_path: Path, keys: Iterable[str] = KEYS) -> BatchJobRef:
    keys = list(keys)
    keys_file = tmp_path / "input_keys.jsonl"
    keys_file.write_text("".join(json.dumps(k) + "\n" for k in keys))
    return BatchJobRef(
        provider="gemini",
        conn_id=FAKE_CONN_ID,
        job_name="batches/job-1",
        request_count=len(keys),
        keys_uri=str(keys_file),
    )


def ok(key: str | None, text: str = "ok", position: int | None = None) -> ResultRow:
    usage = {"promptTokenCount": 3}
    return ResultRow(
        key=key, position=position, status=RowStatus.SUCCEEDED, text=text, response={"text": text, "usage": usage}
    )


def bad(key: str | None, message: str = "bad request") -> ResultRow:
    return ResultRow(key=key, status=RowStatus.FAILED, error=RowError(message=message, code=400, status="INVALID"))


def garbage(key: str | None) -> ResultRow:
    return unparseable_row(key, "files/out, line 3", "invalid JSON: boom", b'{"key": "\xff')


def landed_files(directory: ObjectStoragePath) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir(), key=lambda p: p.name)}


def land(
    rows: Iterable[ResultRow],
    tmp_path: Path,
    name: str,
    keys: Iterable[str] = KEYS,
    provider_key: Callable[[str], str] = str,
    state: JobState = JobState.SUCCEEDED,
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The files landed (manifest aside: it carries a time) and the manifest's counts."""
    base = tmp_path / name
    base.mkdir()
    out = output_dir(str(base / "results"))
    manifest = land_results(rows, job(state), ref(base, keys), out, provider_key)
    files = {n: data for n, data in landed_files(out).items() if n != landing.MANIFEST_FILE}
    return files, manifest.counts.model_dump()


def land_by_join(
    rows: Iterable[ResultRow], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """What the join alone lands: the in-order stream gives up before its first row."""
    with monkeypatch.context() as patch:
        patch.setattr(landing, "_land_in_order", lambda rows, *_: landing._InOrder(0, rows, Counter()))
        return land(rows, tmp_path, "by-join", **kwargs)


def assert_same_as_join(
    rows: list[ResultRow], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any
) -> dict[str, bytes]:
    streamed = land(rows, tmp_path, "streamed", **kwargs)
    joined = land_by_join(rows, tmp_path, monkeypatch, **kwargs)
    assert streamed == joined
    return streamed[0]


@pytest.fixture
def join_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the join ran."""
    calls: list[int] = []
    real = landing._join

    def counted(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        real(*args, **kwargs)

    monkeypatch.setattr(landing, "_join", counted)
    return calls


def in_order() -> list[ResultRow]:
    return [ok(k, f"answer {k}") if i % 3 else bad(k) for i, k in enumerate(KEYS)]


# --- the stream is taken only when it lands what the join would -------------------------------------------


def test_rows_in_input_order_are_landed_without_the_join(tmp_path: Path, join_calls: list[int]):
    files, counts = land(in_order(), tmp_path, "streamed")

    assert join_calls == []
    assert [json.loads(line)["key"] for line in files[RESULTS_FILE].splitlines()] == list(KEYS)
    assert (counts["succeeded"], counts["failed"], counts["total"]) == (5, 3, 8)


def test_rows_in_input_order_land_the_same_bytes_as_the_join(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert_same_as_join(in_order(), tmp_path, monkeypatch)


def test_a_job_that_stopped_early_keeps_the_stream_and_names_the_keys_left_unanswered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, join_calls: list[int]
):
    files = assert_same_as_join(in_order()[:5], tmp_path, monkeypatch, state=JobState.CANCELLED)

    assert join_calls == [1]  # by the forced join only
    assert [json.loads(line)["status"] for line in files[RESULTS_FILE].splitlines()][5:] == ["cancelled"] * 3


def test_keys_a_provider_renamed_stream_under_their_input_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, join_calls: list[int]
):
    keys = ("plain", "doc/1", "order 17 / item 3")
    rows = [ok(portable_id(k), k) for k in keys]

    files = assert_same_as_join(rows, tmp_path, monkeypatch, keys=keys, provider_key=portable_id)

    assert join_calls == [1]  # by the forced join only
    assert [json.loads(line)["key"] for line in files[RESULTS_FILE].splitlines()] == list(keys)


@pytest.mark.parametrize(
    "case",
    [
        "shuffled",
        "success after a failure",
        "duplicate at the end",
        "gap in the middle",
        "unknown key",
        "row past the last key",
        "keyless rows placed by order",
        "keyless row with no position",
        "unparseable line without a key",
        "unparseable line with its key",
        "answered under the input key, not the provider id",
    ],
)
def test_rows_that_break_the_order_land_the_same_bytes_as_the_join(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    rows = in_order()
    provider_key: Callable[[str], str] = str
    if case == "shuffled":
        random.Random(7).shuffle(rows)
    elif case == "success after a failure":
        rows.insert(4, ok("k3", "second try"))
    elif case == "duplicate at the end":
        rows.append(ok("k1", "again"))
    elif case == "gap in the middle":
        del rows[2]
    elif case == "unknown key":
        rows.insert(2, ok("never-sent"))
    elif case == "row past the last key":
        rows.append(ok("k9"))
    elif case == "keyless rows placed by order":
        rows[2], rows[5] = ok(None, "placed", position=2), ok(None, "placed", position=5)
    elif case == "keyless row with no position":
        rows.insert(3, ok(None, "whose?"))
    elif case == "unparseable line without a key":
        rows.insert(6, garbage(None))
    elif case == "unparseable line with its key":
        rows[6] = garbage("k6")
    else:
        provider_key = lambda key: f"id-{key}"  # noqa: E731
        rows = [ok(f"id-{k}") for k in KEYS[:3]] + [ok("k3")] + [ok(f"id-{k}") for k in KEYS[4:]]

    assert_same_as_join(rows, tmp_path, monkeypatch, provider_key=provider_key)


def test_a_streamed_row_whose_error_code_is_an_object_is_read_back_when_the_order_breaks_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    odd = ResultRow(key="k0", status=RowStatus.FAILED, error=RowError(message="odd", code={"reason": "quota"}))
    rows = [odd, *in_order()[1:6], ok("k7"), ok("k6")]

    files = assert_same_as_join(rows, tmp_path, monkeypatch)

    assert json.loads(files[RESULTS_FILE].splitlines()[0])["error"]["code"] == {"reason": "quota"}


def test_a_key_listed_twice_in_the_keys_file_gives_up_the_stream_for_the_join(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, join_calls: list[int]
):
    keys = ("a", "b", "a", "c")
    rows = [ok("a", "first"), ok("b"), ok("a", "second"), ok("c")]

    files = assert_same_as_join(rows, tmp_path, monkeypatch, keys=keys)

    assert join_calls == [1, 1]  # the stream gave up once all was written, then the forced join
    assert [json.loads(line)["key"] for line in files[RESULTS_FILE].splitlines()] == ["a", "b", "c"]
    assert [json.loads(line)["text"] for line in files[DUPLICATES_FILE].splitlines()] == ["second"]


def test_an_input_key_equal_to_another_keys_provider_id_gives_up_the_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, join_calls: list[int]
):
    keys = ("a", "id-b", "b")
    provider_ids = {"a": "a", "id-b": "id-b", "b": "id-b"}
    rows = [ok("a"), ok("id-b"), ok("id-b", "for b")]

    assert_same_as_join(rows, tmp_path, monkeypatch, keys=keys, provider_key=provider_ids.__getitem__)

    assert join_calls == [1, 1]


@pytest.mark.parametrize("block", [landing.KEYS_BLOCK, 24], ids=["one block of keys", "blocks of a few keys"])
@pytest.mark.parametrize("seed", range(12))
def test_random_mixes_of_order_duplicates_gaps_strays_and_garbage_land_the_same_bytes_as_the_join(
    seed: int, block: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(landing, "KEYS_BLOCK", block)
    draw = random.Random(seed)
    keys = [f"key-{i}" for i in range(40)]
    rows: list[ResultRow] = []
    for index, key in enumerate(keys):
        roll = draw.random()
        if roll < 0.05:
            continue  # never answered
        rows.append(bad(key) if roll < 0.2 else garbage(key) if roll < 0.25 else ok(key, f"t{index}"))
        if draw.random() < 0.04:
            rows.append(ok(key, "duplicate") if draw.random() < 0.5 else garbage(None))
        if draw.random() < 0.02:
            rows.append(ok("stray"))
    if draw.random() < 0.5:  # out of order from some point on
        cut = draw.randrange(len(rows))
        tail = rows[cut:]
        draw.shuffle(tail)
        rows[cut:] = tail

    assert_same_as_join(rows, tmp_path, monkeypatch, keys=keys)


SMALL_BLOCK_KEYS = tuple(f"key-{i}" for i in range(11))
"""Keys read three at a time with ``KEYS_BLOCK = 24`` (each line is 8 bytes): blocks end after 3, 6 and 9."""


@pytest.mark.parametrize("answered", range(len(SMALL_BLOCK_KEYS) + 1))
def test_rows_that_stop_anywhere_among_blocks_of_keys_land_the_same_bytes_as_the_join(
    answered: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(landing, "KEYS_BLOCK", 24)
    rows = [ok(key) for key in SMALL_BLOCK_KEYS[:answered]]

    files = assert_same_as_join(rows, tmp_path, monkeypatch, keys=SMALL_BLOCK_KEYS)

    assert [json.loads(line)["status"] for line in files[RESULTS_FILE].splitlines()].count("missing") == (
        len(SMALL_BLOCK_KEYS) - answered
    )


@pytest.mark.parametrize("broken_at", range(len(SMALL_BLOCK_KEYS) + 1))
def test_rows_that_break_the_order_anywhere_among_blocks_of_keys_land_the_same_bytes_as_the_join(
    broken_at: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(landing, "KEYS_BLOCK", 24)
    rows = [ok(key) for key in SMALL_BLOCK_KEYS]
    rows.insert(broken_at, ok("stray"))

    files = assert_same_as_join(rows, tmp_path, monkeypatch, keys=SMALL_BLOCK_KEYS)

    assert [json.loads(line)["status"] for line in files[RESULTS_FILE].splitlines()] == ["succeeded"] * 11


# --- what the stream leaves behind --------------------------------------------------------------------------


def test_a_landing_that_gives_up_the_stream_leaves_no_partial_or_scratch_file(tmp_path: Path):
    files, counts = land([ok("k1"), ok("k0")], tmp_path, "streamed")

    assert sorted(files) == [RESULTS_FILE]
    assert counts["succeeded"] == 2
    assert [p.name for p in (tmp_path / "streamed" / "results").iterdir() if p.name.startswith(".")] == []


def test_a_crash_after_the_stream_gave_up_leaves_no_partial_file(tmp_path: Path):
    def rows() -> Iterator[ResultRow]:
        yield ok("k0")
        yield ok("k2")
        raise ConnectionResetError("download cut")

    out = output_dir(str(tmp_path / "results"))
    with pytest.raises(ConnectionResetError):
        land_results(rows(), job(), ref(tmp_path), out)

    assert list(out.iterdir()) == []


@pytest.mark.parametrize("rows", [in_order(), [ok("k1"), ok("k0"), ok("k1")]], ids=["streamed", "joined"])
def test_every_row_is_read_once_in_arrival_order(tmp_path: Path, rows: list[ResultRow]):
    seen: list[ResultRow] = []

    def read() -> Iterator[ResultRow]:
        for row in rows:
            seen.append(row)
            yield row

    land_results(read(), job(), ref(tmp_path), output_dir(str(tmp_path / "results")))

    assert seen == rows


def test_keys_files_with_blank_lines_and_crlf_line_ends_give_the_same_keys(tmp_path: Path):
    keys_file = tmp_path / "input_keys.jsonl"
    keys_file.write_bytes(b'"a"\r\n\n"b"\n   \n"c \\u00e9"\r\n')

    assert list(landing.iter_keys(str(keys_file))) == ["a", "b", "c \u00e9"]


def test_a_keys_file_line_that_is_not_one_json_string_is_an_error(tmp_path: Path):
    keys_file = tmp_path / "input_keys.jsonl"
    keys_file.write_bytes(b'"a"\n"b","c"\n')

    with pytest.raises(ValueError, match="trailing"):
        list(landing.iter_keys(str(keys_file)))


class _RemoteFile:
    """A file read the way fsspec's remote files read: ``read`` gives at most the size asked, and can give less."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def read(self, size: int = -1) -> bytes:
        size = len(self._data) if size < 0 else min(size, 1000)
        piece = self._data[self._at : self._at + size]
        self._at += len(piece)
        return piece


def test_keys_are_read_from_a_remote_file_that_gives_less_than_asked_across_many_blocks() -> None:
    keys = [f"customer {i} / order {'x' * 40}" for i in range(5_000)]  # several 64 KiB blocks
    data = b"".join(json.dumps(key).encode() + b"\n" for key in keys) + b"\n"

    assert list(landing._read_keys(_RemoteFile(data))) == keys  # type: ignore[arg-type]


def test_a_last_key_without_a_line_feed_is_read(tmp_path: Path):
    keys_file = tmp_path / "input_keys.jsonl"
    keys_file.write_bytes(b'"a"\n"b"')

    assert list(landing.iter_keys(str(keys_file))) == ["a", "b"]
