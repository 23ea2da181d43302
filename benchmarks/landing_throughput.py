"""Rows per second of landing a Gemini results file, beside curl copying the same bytes and a bare msgspec loop.

Run: .venv/bin/python -m benchmarks.landing_throughput [--rows 1000000] [--baseline-rev REV] [--orders ...] [--repeat N]
     [--operator]

A Gemini responses file of ``--rows`` lines of about 1 KB (one in 33 a failed request) and its keys file are
written to a temporary directory, once per ``--orders``: ``in-order`` (the rows in input order, as providers
mostly return them: landed as they stream) and ``shuffled`` (a fixed random permutation: landed by the join
on disk). Each figure comes from a fresh subprocess:

- ``landing``: the hook's row reader (``iter_result_rows`` with the Gemini dialect) over the file, through
  ``land_results`` into a local results directory: rows/s, CPU seconds (user and system apart: the system
  time is mostly the kernel writing the landed bytes) and peak RSS growth;
  with ``--operator`` each row is also redacted (a redactor holding one secret, made once) and its usage added
  to a ``UsageTally`` (``counted``), as the operator's ``finish`` does;
- ``landing (REV)``: the same with the code of ``--baseline-rev`` (``git archive`` unpacked and put first
  on ``PYTHONPATH``), only when that revision's landing differs from this one; with ``--repeat N`` the two
  take turns N times and each figure is the median of its N runs;
- ``msgspec floor``: each line decoded and encoded again, written to a file, nothing else;
- ``curl``: curl copying the file (``file://``) to another file, the bytes at the speed of the machine.

The floor and curl read the in-order file. The load average is printed before and after: other work on the
machine slows every figure of a run alike, so compare figures of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from benchmarks._revisions import REPO, tree_env, unpack_rev

PADDING = "lorem ipsum dolor sit amet " * 28

_LAND = """
import json, os, resource, sys, time
import airflow_provider_genai_batch.landing as landing
from airflow_provider_genai_batch.formats.gemini import result_row
from airflow_provider_genai_batch.formats.results import iter_result_rows, key_field
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.models import BatchJob, JobState

source, keys_uri, out_uri, n, operator = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
out = landing.output_dir(out_uri)
(out / "warm-up").write_text("the first storage write loads Airflow's lineage plugins")
(out / "warm-up").unlink()
ref = BatchJobRef(provider="gemini", conn_id="bench", job_name="bench-job", request_count=n, keys_uri=keys_uri)
job = BatchJob(name="bench-job", provider="gemini", state=JobState.SUCCEEDED)

def rows():
    with open(source, "rb") as lines:
        yield from iter_result_rows(lines, source, result_row, key_field("key", "metadata.key"))

landed, observed = rows(), {}
if operator:  # as the operator's finish does, in this code or in the baseline's (an observer then)
    from airflow_provider_genai_batch.hooks.http import Redactor
    from airflow_provider_genai_batch.usage import UsageTally
    redact, tally = Redactor("sk-bench-secret"), UsageTally("gemini")
    if hasattr(tally, "counted"):
        landed = tally.counted(row if row.error is None else landing.redacted_row(row, redact) for row in landed)
    else:
        landed, observed = (landing.redacted_row(row, redact) for row in landed), {"observe": tally.add_row}

before = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
manifest = landing.land_results(landed, job, ref, out, **observed)
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF)
user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
print(json.dumps({"module": landing.__file__, "seconds": seconds, "cpu": user + system, "user": user,
                  "system": system, "growth_kib": after.ru_maxrss - before.ru_maxrss,
                  "total": manifest.counts.total}))
"""

_FLOOR = """
import json, resource, sys, time
import msgspec
decode, encode = msgspec.json.Decoder().decode, msgspec.json.Encoder().encode
before = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
with open(sys.argv[1], "rb") as lines, open(sys.argv[2], "wb", buffering=1 << 20) as sink:
    for line in lines:
        sink.write(encode(decode(line)) + b"\\n")
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF)
user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
print(json.dumps({"seconds": seconds, "cpu": user + system, "user": user, "system": system,
                  "growth_kib": after.ru_maxrss - before.ru_maxrss}))
"""


ORDERS = ("in-order", "shuffled")


def write_results_file(path: Path, n: int, order: str = "in-order") -> Path:
    """A Gemini responses file: ``n`` lines of about 1 KB keyed ``req-<i>``, one in 33 a failed request,
    in input order or in a fixed random permutation of it."""
    encode = msgspec.json.Encoder().encode
    indices = list(range(n))
    if order == "shuffled":
        random.Random(20261201).shuffle(indices)
    with path.open("wb", buffering=1 << 20) as sink:
        for i in indices:
            key = f"req-{i:08d}"
            if i % 33 == 0:
                error = {"code": 400, "message": "Invalid argument", "status": "INVALID_ARGUMENT"}
                sink.write(encode({"key": key, "error": error}) + b"\n")
                continue
            candidate = {
                "content": {"parts": [{"text": f"answer {i}: {PADDING}"}], "role": "model"},
                "finishReason": "STOP",
                "avgLogprobs": -0.12,
            }
            response = {
                "candidates": [candidate],
                "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 210, "totalTokenCount": 330},
                "modelVersion": "gemini-2.5-flash",
                "responseId": f"r{i}",
            }
            sink.write(encode({"key": key, "response": response}) + b"\n")
    return path


def write_keys_file(path: Path, n: int) -> Path:
    """The input keys file the submit task would have written (one JSON string per line)."""
    with path.open("w") as sink:
        for i in range(n):
            sink.write(json.dumps(f"req-{i:08d}") + "\n")
    return path


def run_driver(script: str, args: list[str], src_root: Path, cwd: Path) -> dict:
    env = {
        **tree_env(src_root),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    }
    out = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, cwd=cwd, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def land(src_root: Path, source: Path, keys: Path, out_dir: Path, n: int, operator: bool = False) -> dict:
    """Land the file with the package under ``src_root`` (with ``operator``, as the operator does: each row
    redacted and its usage tallied); refuses a run that imported another copy."""
    args = [str(source), str(keys), str(out_dir), str(n), "1" if operator else "0"]
    result = run_driver(_LAND, args, src_root, out_dir.parent)
    if not Path(result["module"]).is_relative_to(src_root):
        raise RuntimeError(f"landed with {result['module']}, not the code under {src_root}")
    if result["total"] != n:
        raise RuntimeError(f"landed {result['total']} rows, not {n}")
    shutil.rmtree(out_dir)
    return result


def curl_copy(source: Path, target: Path) -> dict:
    usage = os.times()
    start = time.perf_counter()
    subprocess.run(["curl", "-sS", "-o", str(target), f"file://{source}"], check=True)
    seconds = time.perf_counter() - start
    after = os.times()
    target.unlink()
    user, system = after.children_user - usage.children_user, after.children_system - usage.children_system
    return {"seconds": seconds, "cpu": user + system, "user": user, "system": system, "growth_kib": None}


def baseline_tree(rev: str, target: Path) -> Path | None:
    """The package of ``rev`` unpacked into ``target``; None when its landing and row reader are this code's."""
    tree = unpack_rev(rev, target)
    modules = ("airflow_provider_genai_batch/landing.py", "airflow_provider_genai_batch/formats/results.py")
    if all((tree / m).read_bytes() == (REPO / m).read_bytes() for m in modules):
        return None
    return tree


def median_run(runs: list[dict]) -> dict:
    """Each figure of ``runs`` (one landing's runs) as its median."""
    return {name: statistics.median(run[name] for run in runs) for name in runs[0] if name != "module"}


def load() -> str:
    return " ".join(f"{figure:.2f}" for figure in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rev", default="HEAD")
    parser.add_argument("--orders", nargs="+", choices=ORDERS, default=list(ORDERS))
    parser.add_argument("--repeat", type=int, default=1, help="runs of each landing, taking turns; medians shown")
    parser.add_argument(
        "--operator",
        action="store_true",
        help="land as the operator does: each row redacted (one secret) and its usage added to a usage tally",
    )
    args = parser.parse_args()
    n = args.rows
    with tempfile.TemporaryDirectory(prefix="genai-batch-landing-throughput-") as tmp_name:
        tmp = Path(tmp_name)
        keys = write_keys_file(tmp / "input_keys.jsonl", n)
        before = baseline_tree(args.baseline_rev, tmp / "baseline_src")
        print(f"load average before: {load()}")
        figures: list[tuple[str, dict]] = []
        for order in args.orders:
            source = write_results_file(tmp / f"responses-{order}.jsonl", n, order)
            size = source.stat().st_size
            print(f"{order}: {n:,} result rows, {size / n:,.0f} bytes a row, {size / 2**20:,.0f} MiB", flush=True)
            ours: list[dict] = []
            theirs: list[dict] = []
            for _ in range(args.repeat):
                ours.append(land(REPO, source, keys, tmp / "out", n, args.operator))
                if before is not None:
                    theirs.append(land(before, source, keys, tmp / "out-before", n, args.operator))
            figures.append((f"landing, {order}", median_run(ours)))
            if theirs:
                figures.append((f"landing ({args.baseline_rev}), {order}", median_run(theirs)))
            if order != ORDERS[0]:
                source.unlink()
        source = tmp / f"responses-{ORDERS[0]}.jsonl"
        if not source.exists():
            source = write_results_file(source, n)
        floor = run_driver(_FLOOR, [str(source), str(tmp / "floor.jsonl")], REPO, tmp)
        figures.append(("msgspec floor", floor))
        figures.append(("curl", curl_copy(source, tmp / "curl.jsonl")))
        print(f"load average after: {load()}")
        print(f"{'':<28}{'rows/s':>11}{'seconds':>9}{'CPU s':>8}{'user s':>8}{'sys s':>8}{'RSS growth MiB':>16}")
        for label, m in figures:
            growth = "-" if m["growth_kib"] is None else f"{m['growth_kib'] / 1024:.1f}"
            print(
                f"{label:<28}{n / m['seconds']:>11,.0f}{m['seconds']:>9.1f}{m['cpu']:>8.1f}{m['user']:>8.1f}"
                f"{m['system']:>8.1f}{growth:>16}"
            )


if __name__ == "__main__":
    main()
