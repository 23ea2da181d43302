"""What the kernel charges a process for writing a new file, on pages it has not touched lately and on pages just
freed: the system time behind every landing figure (the landed file, and for rows out of order the join's spool).

Run: .venv/bin/python -m benchmarks.page_cache [--mib 1000] [--rounds 3] [--rest 30]

Each round writes ``--mib`` MiB to a new file in 1 MiB writes, in a fresh process, after ``--rest`` seconds with
nothing written ("cold": what a landing after a quiet spell writes into), then again at once after deleting that
file ("warm": the pages it just freed). On a virtual machine whose host backs guest memory only when it is first
touched and takes freed pages back (free page reporting), the cold write costs many times the warm one; on a
machine that keeps its memory backed, the two are alike. Prints system and wall seconds, and MiB per system
second, for each round, and the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_WRITE = """
import json, resource, sys, time
path, mib = sys.argv[1], int(sys.argv[2])
chunk = b"x" * (1 << 20)
before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
with open(path, "wb", buffering=0) as sink:
    for _ in range(mib):
        sink.write(chunk)
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"system": after.ru_stime - before.ru_stime, "wall": time.perf_counter() - start}))
"""


def write_file(path: Path, mib: int) -> dict[str, float]:
    """System and wall seconds of one process writing ``mib`` MiB to ``path`` (a new file)."""
    command = [sys.executable, "-c", _WRITE, str(path), str(mib)]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1000, help="MiB written each time")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rest", type=float, default=30.0, help="seconds with nothing written before a cold write")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory(prefix="page-cache-") as scratch:
        target = Path(scratch) / "written"
        for _ in range(args.rounds):
            time.sleep(args.rest)
            for kind in ("cold", "warm"):
                runs[kind].append(write_file(target, args.mib))
                target.unlink()
    print(f"{args.mib:,} MiB written to a new file, 1 MiB a write: cold after {args.rest:g} s of rest, warm at once")
    print(f"{'':>6} {'round':>6} {'sys s':>8} {'wall s':>8} {'MiB per sys s':>14}")
    for kind, kind_runs in runs.items():
        systems, walls = [run["system"] for run in kind_runs], [run["wall"] for run in kind_runs]
        rows = [*zip(map(str, range(1, len(kind_runs) + 1)), systems, walls, strict=True)]
        rows.append(("median", statistics.median(systems), statistics.median(walls)))
        for label, system, wall in rows:
            print(f"{kind:>6} {label:>6} {system:>8.2f} {wall:>8.2f} {args.mib / max(system, 1e-3):>14,.0f}")


if __name__ == "__main__":
    main()
