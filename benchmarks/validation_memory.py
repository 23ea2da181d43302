"""Peak memory and wall time of validating big inputs: this checkout and the code before it, side by side.

Run: .venv/bin/python -m benchmarks.validation_memory [--lines 2000000] [--baseline-ref 51aa38a] [--skip-huge]

Generates, in a temporary directory, a Gemini-format JSONL of ``--lines`` requests with portable keys (sent
to Gemini) and one whose keys OpenAI cannot carry (sent to OpenAI, so every key is renamed and the renamed
map is used), and a 2 GiB file whose second line is one huge line that never ends. Each validation
(``prepare_input``: read, validate, translate, spool) runs in a fresh interpreter, once with this checkout
and once with ``--baseline-ref`` (extracted with ``git archive`` into a temporary directory), and reports
the growth of peak RSS over the interpreter's own and the wall time. OpenAI's 50,000-request and 200 MB
limits are lifted for the 2,000,000-line run (they would stop it at line 50,001). Also measured: the cost
of the duplicate-field check per line, and the key stores alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks._revisions import REPO, tree_env, unpack_rev

GIB = 1024**3

_VALIDATE = """
import json, resource, sys, time
from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.inputs import prepare_input

path, provider, lifted = sys.argv[1], sys.argv[2], sys.argv[3] == "lifted"
dialect_class = {"gemini": GeminiDialect, "openai": OpenAIDialect}[provider]
if lifted:
    unlimited = dialect_class.limits.model_copy(update={"max_requests": None, "max_file_bytes": None})
    dialect_class = type("Lifted" + dialect_class.__name__, (dialect_class,), {"limits": unlimited})
model = {"gemini": "gemini-2.5-flash", "openai": "gpt-4o-mini"}[provider]
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start, cpu = time.perf_counter(), time.process_time()
try:
    prepared = prepare_input(path, dialect_class(), model=model, embeddings=False)
    outcome = f"valid: {prepared.summary.count:,} requests"
    prepared.cleanup()
except InputValidationError as err:
    where = "before reading" if err.line is None else f"at line {err.line}"
    outcome = f"refused {where}: {err.reason[:48]}"
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"baseline_kib": baseline, "peak_kib": peak, "seconds": seconds, "cpu": cpu, "outcome": outcome}))
"""


def measure_validation(source_root: Path, path: Path, provider: str, *, lifted: bool = False) -> dict[str, Any]:
    """Validate ``path`` for ``provider`` with the package under ``source_root``, in a fresh interpreter."""
    with tempfile.TemporaryDirectory() as cwd:  # not the checkout: '' on sys.path must not shadow PYTHONPATH
        out = subprocess.run(
            [sys.executable, "-c", _VALIDATE, str(path), provider, "lifted" if lifted else "real"],
            env=tree_env(source_root),
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["growth_mib"] = (result["peak_kib"] - result["baseline_kib"]) / 1024
    return result


def request_line(number: int, key: str) -> str:
    text = f"Summarise order {number} in one sentence for the account manager."
    request = {"contents": [{"role": "user", "parts": [{"text": text}]}], "generationConfig": {"temperature": 0.2}}
    return json.dumps({"key": key, "request": request}, separators=(",", ":"))


def write_requests(path: Path, lines: int, *, renamed_keys: bool) -> Path:
    """``lines`` Gemini-format requests; keys like ``req-17`` or, renamed, ``customer 17 / order``."""
    with path.open("w") as sink:
        for number in range(lines):
            key = f"customer {number} / order" if renamed_keys else f"req-{number}"
            sink.write(request_line(number, key) + "\n")
    return path


def write_huge_line(path: Path, size: int) -> Path:
    """A file of ``size`` bytes: one request, then a second line that is a string that never ends."""
    block = b"x" * (8 << 20)
    with path.open("wb") as sink:
        sink.write(request_line(0, "first").encode() + b"\n")
        sink.write(b'{"key":"huge","request":{"contents":[{"parts":[{"text":"')
        while (left := size - sink.tell()) > 0:
            sink.write(block[:left])
    return path


def duplicate_check_cost(path: Path, lines: int) -> tuple[float, float]:
    """Microseconds per line of parsing alone, and of the duplicate-field check on top (its re-encode included)."""
    import msgspec

    from airflow_provider_genai_batch.formats.jsonl import duplicate_field

    decode, encode = msgspec.json.Decoder().decode, msgspec.json.Encoder().encode
    with path.open("rb") as source:
        raw = [source.readline().rstrip(b"\n") for _ in range(lines)]
    start = time.perf_counter()
    objects = [decode(line) for line in raw]
    parsed = time.perf_counter() - start
    start = time.perf_counter()
    for line, obj in zip(raw, objects, strict=True):
        duplicate_field(line, encode(obj))
    checked = time.perf_counter() - start
    return parsed / lines * 1e6, checked / lines * 1e6


def key_store_seconds(count: int) -> dict[str, float]:
    """Seconds to take ``count`` distinct keys and learn there is no duplicate, per store and key style."""
    from airflow_provider_genai_batch.key_index import KeyLog

    styles = {
        "in order": [f"customer {number} / order" for number in range(count)],
        "random (UUIDs)": [str(uuid.uuid4()) for _ in range(count)],
    }
    timings: dict[str, float] = {}
    for style, keys in styles.items():
        start = time.perf_counter()
        seen: dict[str, int] = {}
        for line, key in enumerate(keys, 1):
            seen.setdefault(key, line)
        timings[f"dict, keys {style}"] = time.perf_counter() - start
        start = time.perf_counter()
        with KeyLog() as log:
            for line, key in enumerate(keys, 1):
                log.add(line, key)
            assert log.first_duplicate() is None
        timings[f"KeyLog + one sort, keys {style}"] = time.perf_counter() - start
    return timings


def report(label: str, code: str, m: dict[str, Any]) -> None:
    print(f"{label:<58}{code:<24}{m['growth_mib']:>11.1f}{m['seconds']:>8.1f}{m['cpu']:>7.1f}  {m['outcome']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--baseline-ref", default="51aa38a", help="the commit to compare with (before issue 10)")
    parser.add_argument("--skip-huge", action="store_true", help="leave out the 2 GiB huge-line file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        roots = {"this checkout": REPO, f"before ({args.baseline_ref})": unpack_rev(args.baseline_ref, work / "src")}
        gemini = write_requests(work / "gemini.jsonl", args.lines, renamed_keys=False)
        openai = write_requests(work / "openai.jsonl", args.lines, renamed_keys=True)
        print(f"{'input':<58}{'code':<24}{'growth MiB':>11}{'wall s':>8}{'CPU s':>7}  outcome")
        for code, root in roots.items():
            report(f"{args.lines:,} lines -> Gemini", code, measure_validation(root, gemini, "gemini"))
        for code, root in roots.items():
            label = f"{args.lines:,} lines, renamed keys -> OpenAI (limits lifted)"
            report(label, code, measure_validation(root, openai, "openai", lifted=True))
        parse_us, check_us = duplicate_check_cost(gemini, min(args.lines, 200_000))
        gemini.unlink()
        openai.unlink()
        if not args.skip_huge:
            huge = write_huge_line(work / "huge.jsonl", 2 * GIB)
            for provider in ("gemini", "openai"):
                for code, root in roots.items():
                    report(f"2 GiB, line 2 one huge line -> {provider}", code, measure_validation(root, huge, provider))
            with huge.open("ab") as sink:
                sink.write(b"x" * 1024)
            for code, root in roots.items():
                report("2 GiB + 1 KiB, line 2 one huge line -> gemini", code, measure_validation(root, huge, "gemini"))
        print(f"\nduplicate-field check: {check_us:.2f} us/line on top of {parse_us:.2f} us/line of parsing")
        print("key stores, 2,000,000 distinct keys (seconds):")
        for store, seconds in key_store_seconds(2_000_000).items():
            print(f"  {store:<40}{seconds:>6.1f}")


if __name__ == "__main__":
    main()
