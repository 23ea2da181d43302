"""Random mixes of everything the join decides, and what landing makes of each: digests of the landed files.

Each case draws input keys (some listed twice), how the provider renamed them (not at all, every key, some
keys, two keys to one id, a key's id equal to another input key), and rows answering them: under the input
key or the provider id, twice or more with any status, lines that could not be read, keys never submitted,
rows without a key placed by a position (in range, past the end, negative, at a key listed twice) or not
placed at all. Every case is landed as the rows come (streamed until the order breaks), shuffled, and
shuffled without a keys file, each for a job that succeeded and one that was cancelled, so two versions of
the join can be compared file by file (``join_golden.txt``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_genai_batch.formats.results import ResultRow, RowError, RowStatus, unparseable_row
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import MANIFEST_FILE, land_results, output_dir
from airflow_provider_genai_batch.models import BatchJob, JobState

SEED = 20261201
CASES = 40
ORDERS = ("as-drawn", "shuffled", "no-keys-file")
STATES = (JobState.SUCCEEDED, JobState.CANCELLED)


@dataclass(frozen=True)
class Drawn:
    """One case: the input keys, the provider's renaming, the rows in the order drawn."""

    keys: list[str]
    provider_ids: dict[str, str]
    rows: list[ResultRow]

    def provider_key(self, key: str) -> str:
        return self.provider_ids.get(key, key)


def _renaming(keys: list[str], draw: random.Random) -> dict[str, str]:
    style = draw.choice(("none", "all", "some", "collide", "another-key"))
    distinct = list(dict.fromkeys(keys))
    if style == "all":
        return {key: f"id-{key}" for key in distinct}
    if style == "some":
        return {key: f"id-{key}" for key in distinct if draw.random() < 0.5}
    if style == "collide" and len(distinct) > 3:
        first, second = draw.sample(distinct, 2)
        return {first: "shared-id", second: "shared-id"} | {key: f"id-{key}" for key in distinct[:2]}
    if style == "another-key" and len(distinct) > 3:
        first, second = draw.sample(distinct, 2)
        return {first: second}
    return {}


def _row(key: str | None, draw: random.Random, number: int, position: int | None = None) -> ResultRow:
    roll = draw.random()
    if roll < 0.1:
        row = unparseable_row(key, f"files/out, line {number}", "invalid JSON", b'{"key": "\xff' + str(number).encode())
        row.position = position
        return row
    if roll < 0.3:
        error = RowError(message=f"bad {number}", code=draw.choice((400, "quota", None)), status="INVALID")
        return ResultRow(key=key, position=position, status=RowStatus.FAILED, error=error)
    if roll < 0.35:
        status = draw.choice((RowStatus.CANCELLED, RowStatus.EXPIRED))
        return ResultRow(key=key, position=position, status=status, error=RowError(message="stopped"))
    text = f'answer {number} — déjà "vu" \n{"x" * draw.randrange(0, 40)}'
    return ResultRow(key=key, position=position, status=RowStatus.SUCCEEDED, text=text, response={"n": number})


def draw_case(number: int) -> Drawn:
    """The ``number``-th case of the corpus."""
    draw = random.Random(f"{SEED}-{number}")
    keys = [f"k{index}" for index in range(draw.randrange(1, 40))]
    for _ in range(draw.choice((0, 0, 1, 3))):
        keys.insert(draw.randrange(len(keys) + 1), draw.choice(keys))
    provider_ids = _renaming(keys, draw)
    rows: list[ResultRow] = []
    made = 0
    for index, key in enumerate(keys):
        for _ in range(draw.choice((0, 1, 1, 1, 1, 1, 2, 3))):
            roll = draw.random()
            made += 1
            if roll < 0.55:
                rows.append(_row(provider_ids.get(key, key), draw, made))
            elif roll < 0.75:
                rows.append(_row(key, draw, made))
            elif roll < 0.85:
                rows.append(_row(None, draw, made, position=index))
            elif roll < 0.9:
                rows.append(_row(None, draw, made, position=draw.choice((-1, len(keys), len(keys) + 5, None))))
            elif roll < 0.95:
                rows.append(_row(f"stray-{draw.randrange(5)}", draw, made))
            else:
                rows.append(_row(f"id-{draw.choice(keys)}", draw, made))
    if draw.random() < 0.5 and rows:
        cut = draw.randrange(len(rows))
        tail = rows[cut:]
        draw.shuffle(tail)
        rows[cut:] = tail
    return Drawn(keys, provider_ids, rows)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def land_drawn(drawn: Drawn, order: str, state: JobState, base: Path) -> dict[str, str]:
    """Land one case under ``base``: a digest of each landed file, the manifest's counts and the warnings logged."""
    rows = list(drawn.rows)
    if order != "as-drawn":
        random.Random(f"{SEED}-{order}-{len(rows)}").shuffle(rows)
    base.mkdir(parents=True)
    keys_file = base / "input_keys.jsonl"
    keys_file.write_bytes(b"".join(json.dumps(key).encode() + b"\n" for key in drawn.keys))
    keys_uri = None if order == "no-keys-file" else str(keys_file)
    ref = BatchJobRef(
        provider="openai", conn_id="corpus", job_name="job-1", request_count=len(drawn.keys), keys_uri=keys_uri
    )
    job = BatchJob(name="job-1", provider="openai", state=state, provider_state=state.value)
    out = output_dir(str(base / "results"))
    warnings = _Warnings()
    logger = logging.getLogger("airflow_provider_genai_batch.landing")
    logger.addHandler(warnings)
    try:
        provider_key: Callable[[str], str] = drawn.provider_key
        manifest = land_results((row for row in rows), job, ref, out, provider_key)
    finally:
        logger.removeHandler(warnings)
    landed = {path.name: _digest(path.read_bytes()) for path in out.iterdir() if path.name != MANIFEST_FILE}
    landed["counts"] = json.dumps(manifest.counts.model_dump(), sort_keys=True)
    landed["warnings"] = json.dumps(warnings.messages)
    return landed


def outcomes(base: Path) -> Iterator[str]:
    """One line per case, order, job state and landed file: ``<case> <order> <state> <file> <digest or figures>``."""
    for number in range(CASES):
        drawn = draw_case(number)
        for order in ORDERS:
            for state in STATES:
                landed = land_drawn(drawn, order, state, base / str(number) / order / state.value)
                for name in sorted(landed):
                    yield f"{number} {order} {state.value} {name} {landed[name]}"


if __name__ == "__main__":
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        Path(sys.argv[1]).write_text("".join(f"{line}\n" for line in outcomes(Path(scratch))))
