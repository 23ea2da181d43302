"""Lines per CPU-second of preparing an input as the submit operator does (split into parts), beside one job.

Run: .venv/bin/python -m benchmarks.split_throughput [--lines 20000] [--big-lines 250000] [--repeat 7]

Three measurements, each the best CPU time (``time.process_time``) of ``--repeat`` runs, the two passes it
compares alternating so that a change in the machine's load falls on both:

- ``--lines`` requests, nothing to cut (at most 50,000, OpenAI's request limit), as an OpenAI-format file that
  goes up as it is and as Gemini-format lines translated to OpenAI (the inputs of
  ``benchmarks.validation_throughput``): ``prepare_input`` without ``split`` (one job, the reference) and with
  ``split=SplitLimits()`` (as the submit operator prepares: lines spooled in case of a cut);
- ``--big-lines`` OpenAI-format requests cut into parts of ``--part-requests`` with token estimates, beside the
  same file prepared as one job with the provider's limits lifted (the reference); each part's bytes and
  fingerprint are checked;
- a follow-up round keeping ``--follow-up`` of those keys (``only_keys``), cut the same way: the whole input is
  read and hashed again.

The peak RSS is the process's (Airflow included). The load average is printed before and after: other work
on the machine slows every figure of a run alike, so compare figures of one run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.inputs import PreparedInput, prepare_input
from airflow_provider_genai_batch.key_index import KeyFilter
from airflow_provider_genai_batch.parts import SplitLimits
from benchmarks.validation_throughput import typical_request, unlimited

MODEL = "gpt-4o-mini"


def openai_line(i: int, prompt: str) -> str:
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": 256}
    return json.dumps({"custom_id": f"k{i}", "method": "POST", "url": "/v1/chat/completions", "body": body})


def write_openai(path: Path, count: int, prompt: Callable[[int], str]) -> Path:
    with path.open("w") as out:
        for i in range(count):
            out.write(openai_line(i, prompt(i)) + "\n")
    return path


def write_gemini(path: Path, count: int) -> Path:
    with path.open("w") as out:
        for i in range(count):
            out.write(json.dumps({"key": f"k{i}", "request": typical_request(i)}) + "\n")
    return path


def ticket(i: int) -> str:
    return f"Summarise support ticket {i} in one sentence: my order has not arrived and nobody answers."


def best_cpu(runs: dict[str, Callable[[], PreparedInput]], repeat: int) -> dict[str, float]:
    """The best CPU seconds of each run, the runs alternating, after one untimed round (lazy imports, caches);
    every prepared input is checked, then removed."""
    for run in runs.values():
        run().cleanup()
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.process_time()
            prepared = run()
            best[name] = min(best[name], time.process_time() - start)
            check_parts(prepared)
            prepared.cleanup()
    return best


def check_parts(prepared: PreparedInput) -> None:
    """Each part's bytes are its byte count and its fingerprint is that of an input of its lines alone."""
    if len(prepared.parts) < 2:
        return
    header = json.dumps(["openai", MODEL, False], separators=(",", ":")).encode() + b"\n"
    for part in prepared.parts:
        with part.open_upload() as stream:
            data = stream.read()
        if len(data) != part.byte_count or hashlib.sha256(header + data).hexdigest() != part.fingerprint:
            raise RuntimeError(f"part {part.index} is not what it says it is")


def prepare(path: Path, dialect: Any, **options: Any) -> Callable[[], PreparedInput]:
    return lambda: prepare_input(str(path), dialect, model=MODEL, embeddings=False, **options)


def one_job_beside_split(tmp: Path, lines: int, repeat: int) -> None:
    inputs = {
        "OpenAI file as it is": write_openai(tmp / "openai.jsonl", lines, ticket),
        "Gemini -> OpenAI": write_gemini(tmp / "gemini.jsonl", lines),
    }
    print(f"\n{lines:,} lines, nothing to cut, lines per CPU-second (best of {repeat})")
    print(f"{'input':<24}{'one job (reference)':>21}{'split=SplitLimits()':>21}{'cost':>8}")
    for label, path in inputs.items():
        best = best_cpu(
            {
                "one job": prepare(path, OpenAIDialect()),
                "split": prepare(path, OpenAIDialect(), split=SplitLimits()),
            },
            repeat,
        )
        cost = f"{(best['split'] - best['one job']) / best['one job']:+.0%}"
        print(f"{label:<24}{lines / best['one job']:>21,.0f}{lines / best['split']:>21,.0f}{cost:>8}")


def cut_and_follow_up(tmp: Path, lines: int, part_requests: int, follow_up: int, repeat: int) -> None:
    path = write_openai(tmp / "big.jsonl", lines, lambda i: f"ticket {i}: my order has not arrived")
    split = SplitLimits(max_requests=part_requests)
    every = max(lines // follow_up, 1)
    with KeyFilter(f"k{i}" for i in range(0, lines, every)) as keys:
        best = best_cpu(
            {
                "one job": prepare(path, unlimited("openai")),
                "cut": prepare(path, OpenAIDialect(), split=split, estimate_tokens=True),
                "follow-up": prepare(path, OpenAIDialect(), split=split, only_keys=keys),
            },
            repeat,
        )
        cut = prepare(path, OpenAIDialect(), split=split, estimate_tokens=True)()
        again = prepare(path, OpenAIDialect(), split=split, only_keys=keys)()
    size = path.stat().st_size
    print(f"\n{lines:,} OpenAI-format lines ({size / 2**20:,.0f} MiB), lines per CPU-second (best of {repeat})")
    print(f"{'pass':<52}{'lines/s':>10}  parts")
    print(f"{'one job, limits lifted (reference)':<52}{lines / best['one job']:>10,.0f}  1")
    label = f"cut into parts of {part_requests:,}, tokens estimated"
    print(f"{label:<52}{lines / best['cut']:>10,.0f}  {[part.request_count for part in cut.parts]}")
    label = f"follow-up keeping {again.summary.count:,} keys (only_keys)"
    print(f"{label:<52}{lines / best['follow-up']:>10,.0f}  {[part.request_count for part in again.parts]}")
    print(f"estimated input tokens of the parts: {[part.input_tokens for part in cut.parts]}, {cut.input_tokens:,}")
    cut.cleanup()
    again.cleanup()


def load() -> str:
    return " ".join(f"{figure:.2f}" for figure in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--big-lines", type=int, default=250_000)
    parser.add_argument("--part-requests", type=int, default=50_000)
    parser.add_argument("--follow-up", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if not 1 <= args.lines <= (OpenAIDialect.limits.max_requests or args.lines):
        parser.error(f"--lines must fit one OpenAI job: 1 to {OpenAIDialect.limits.max_requests:,}")
    print(f"load average before: {load()}")
    with tempfile.TemporaryDirectory(prefix="genai-batch-split-throughput-") as tmp:
        one_job_beside_split(Path(tmp), args.lines, args.repeat)
        cut_and_follow_up(Path(tmp), args.big_lines, args.part_requests, args.follow_up, args.repeat)
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB (the process)")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
