"""CPU seconds and peak RSS of validation's key log (``key_index.KeyLog``) over distinct keys, beside a dict.

Run: .venv/bin/python -m benchmarks.key_log [--keys 2000000] [--rev 421e993] [--repeat 3]

Each measurement runs in a fresh interpreter: every key added with its line number, then the duplicate check
(``first_duplicate``), for keys in order (``customer 17 / order``) and random ones (UUIDs). Beside this tree's
log: the log of ``--rev`` (``git archive``, when given) and a dict of key to line (the reference: the store
before the log, whose memory grows with the keys). The runs take turns ``--repeat`` times; each figure is the
best. The load average is printed before and after: compare figures of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._revisions import REPO, tree_env, unpack_rev

RUN = """
import json, resource, sys, time, uuid
import airflow_provider_genai_batch.key_index as key_index
from airflow_provider_genai_batch.key_index import KeyLog
count, order, store = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if order == "in order":
    keys = [f"customer {i} / order" for i in range(count)]
else:
    keys = [str(uuid.UUID(int=(i * 0x9E3779B97F4A7C15_F39CC0605CEDC835) % (1 << 128))) for i in range(count)]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.process_time()
if store == "dict":
    seen: dict[str, int] = {}
    duplicate = None
    for line, key in enumerate(keys, 1):
        if key in seen and duplicate is None:
            duplicate = line
        seen[key] = line
else:
    with KeyLog() as log:
        add = log.add
        for line, key in enumerate(keys, 1):
            add(line, key)
        duplicate = log.first_duplicate()
cpu = time.process_time() - start
growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps({"cpu": cpu, "growth": growth, "duplicate": duplicate is not None, "module": key_index.__file__}))
"""


def measure(source: Path, count: int, order: str, store: str) -> dict[str, Any]:
    """One run in a fresh interpreter whose package comes from ``source``."""
    out = subprocess.run(
        [sys.executable, "-c", RUN, str(count), order, store],
        cwd=tempfile.gettempdir(),
        env=tree_env(source),
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if not Path(result["module"]).is_relative_to(source):
        raise RuntimeError(f"measured {result['module']}, not the code under {source}")
    if result["duplicate"]:
        raise RuntimeError(f"{store} at {source} found a duplicate among distinct keys")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=2_000_000)
    parser.add_argument("--rev", help="also measure this commit's key log")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="genai-batch-keylog-bench-") as tmp:
        stores = {"KeyLog, this tree": (REPO, "log")}
        if args.rev:
            stores[f"KeyLog, {args.rev}"] = (unpack_rev(args.rev, Path(tmp) / "rev"), "log")
        stores["dict (reference)"] = (REPO, "dict")
        print(f"{'keys':<10}{'store':<26}{'CPU s':>8}{'RSS growth MiB':>16}")
        for order in ("in order", "uuid"):
            best: dict[str, dict[str, Any]] = {}
            for _ in range(args.repeat):
                for label, (source, store) in stores.items():
                    result = measure(source, args.keys, order, store)
                    if label not in best or result["cpu"] < best[label]["cpu"]:
                        best[label] = result
            for label, result in best.items():
                print(f"{order:<10}{label:<26}{result['cpu']:>8.2f}{result['growth']:>16.1f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
