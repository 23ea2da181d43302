"""Peak memory and wall time of landing result rows: this code vs. the code before the on-disk join.

Run: .venv/bin/python -m benchmarks.landing_memory [--rows 1000000 2000000] [--baseline-rev REV]

Each run is a fresh subprocess that drives ``land_results`` with synthetic rows (no network): a keys file
of N input keys, N result rows arriving in a scrambled order (a fixed permutation, 3% of them failed), to a
local results directory. Three shapes: ``gemini`` (keys travel as they are) and ``openai-mapped`` (every key
is renamed to a ``k-<sha>`` id by the provider and mapped back on landing), both landed by the join on disk,
and ``gemini-in-order`` (the rows in input order, landed as they stream). Peak RSS growth is the peak
during landing minus the peak before it (interpreter, Airflow and the first storage write already loaded).

The earlier code is ``git archive <REV>`` unpacked into a temporary directory and put first on
``PYTHONPATH``; REV defaults to HEAD, which is the earlier code only while this change is uncommitted, so
the script refuses to compare a revision whose landing module is this one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._revisions import REPO, tree_env, unpack_rev

SHAPES = ("gemini", "openai-mapped", "gemini-in-order")

_DRIVER = """
import json, math, resource, sys, time
from pathlib import Path
import airflow_provider_genai_batch.landing as landing
from airflow_provider_genai_batch.formats.keys import portable_id
from airflow_provider_genai_batch.formats.results import ResultRow, RowError, RowStatus, Usage
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.models import BatchJob, JobState

shape, keys_uri, out_uri, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
mapped = shape == "openai-mapped"
stride, offset = (1, 0) if shape == "gemini-in-order" else (1_000_003, 12_345)
while math.gcd(stride, n) != 1:
    stride += 2

def rows():
    for j in range(n):
        i = (j * stride + offset) % n
        key = f"doc/{i}.txt" if mapped else f"req-{i:08d}"
        key = portable_id(key) if mapped else key
        if i % 33 == 0:
            yield ResultRow(key=key, status=RowStatus.FAILED, error=RowError(message="Invalid argument", code=400))
            continue
        text = f"answer number {i}"
        response = {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP"}]}
        yield ResultRow(key=key, status=RowStatus.SUCCEEDED, text=text, response=response, usage=Usage(12, 5, 17))

out = landing.output_dir(out_uri)
(out / "warm-up").write_text("the first storage write loads Airflow's lineage plugins")
(out / "warm-up").unlink()
ref = BatchJobRef(provider="openai" if mapped else "gemini", conn_id="bench", job_name="bench-job",
                  request_count=n, keys_uri=keys_uri)
job = BatchJob(name="bench-job", provider=ref.provider, state=JobState.SUCCEEDED)
provider_key = portable_id if mapped else str
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
manifest = landing.land_results(rows(), job, ref, out, provider_key)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"module": landing.__file__, "baseline_kib": baseline, "peak_kib": peak, "seconds": seconds,
                  "counts": manifest.counts.model_dump()}))
"""


def write_keys_file(path: Path, shape: str, n: int) -> Path:
    """The input keys file the submit task would have written (one JSON string per line)."""
    with path.open("w") as sink:
        for i in range(n):
            sink.write(json.dumps(f"doc/{i}.txt" if shape == "openai-mapped" else f"req-{i:08d}") + "\n")
    return path


def measure_landing(src_root: Path, shape: str, keys_file: Path, out_dir: Path, n: int) -> dict:
    """Land ``n`` synthetic rows with the package under ``src_root`` in a fresh subprocess; RSS in KiB."""
    env = {
        **tree_env(src_root),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    }
    out = subprocess.run(
        [sys.executable, "-c", _DRIVER, shape, str(keys_file), str(out_dir), str(n)],
        env=env,
        cwd=out_dir.parent,  # never the repository: its package would shadow the one on PYTHONPATH
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if not Path(result["module"]).is_relative_to(src_root):
        raise RuntimeError(f"landed with {result['module']}, not the code under {src_root}")
    return result


def unpack_baseline(rev: str, target: Path) -> Path:
    """The package of ``rev`` unpacked into ``target``; refused when its landing module is this one."""
    tree = unpack_rev(rev, target)
    module = "airflow_provider_genai_batch/landing.py"
    if (tree / module).read_bytes() == (REPO / module).read_bytes():
        raise SystemExit(f"{rev} lands results with this very code; pass --baseline-rev <the commit before it>")
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 2_000_000])
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    parser.add_argument("--baseline-rev", default="HEAD")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="genai-batch-landing-bench-") as tmp:
        baseline_src = unpack_baseline(args.baseline_rev, Path(tmp) / "baseline_src")
        print(f"{'shape':<15}{'rows':>11}  {'code':<10}{'growth MiB':>12}{'peak MiB':>10}{'seconds':>9}{'rows/s':>9}")
        for n in args.rows:
            for shape in args.shapes:
                keys_file = write_keys_file(Path(tmp) / f"keys-{shape}-{n}.jsonl", shape, n)
                for label, src in (("before", baseline_src), ("this code", REPO)):
                    out_dir = Path(tmp) / f"out-{shape}-{n}-{label.replace(' ', '-')}"
                    m = measure_landing(src, shape, keys_file, out_dir, n)
                    assert m["counts"]["total"] == n, m["counts"]
                    growth = (m["peak_kib"] - m["baseline_kib"]) / 1024
                    print(
                        f"{shape:<15}{n:>11,}  {label:<10}{growth:>12.1f}{m['peak_kib'] / 1024:>10.1f}"
                        f"{m['seconds']:>9.1f}{n / m['seconds']:>9,.0f}",
                        flush=True,
                    )
                    shutil.rmtree(out_dir)
                keys_file.unlink()


if __name__ == "__main__":
    main()
