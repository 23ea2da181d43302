"""Upload throughput to the Gemini Files API: our hook beside curl and google-genai's ``files.upload``.

Run: .venv/bin/python -m benchmarks.upload_throughput [--sizes-mb 200 2000] [--rounds 3]

Each upload runs in a fresh process against one emulator on loopback, the clients taking turns round by
round so load from other work falls on all of them alike. curl opens the same resumable session and sends
the whole file in one ``upload, finalize`` POST (the wire's ceiling); the hook and the SDK send their
chunks (8 MiB). Prints, per size, each client's median MB/s over the rounds, its ratio to curl's in the
same rounds, and its peak RSS growth over the baseline taken after imports and the connection.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from benchmarks._memory import measure_upload, write_jsonl

API_KEY = "bench-key"

_CURL_UPLOAD = """
import json, resource, subprocess, sys, time
import httpx
path, base_url, key = sys.argv[1], sys.argv[2], sys.argv[3]
size = __import__("os").path.getsize(path)
start = time.perf_counter()
opened = httpx.post(
    f"{base_url}/upload/v1beta/files",
    json={"file": {}},
    headers={
        "x-goog-api-key": key,
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(size),
        "X-Goog-Upload-Header-Content-Type": "application/jsonl",
    },
)
session = opened.headers["x-goog-upload-url"]
done = subprocess.run(
    ["curl", "-sS", "--fail-with-body", "-X", "POST", "-T", path, "-H", "Expect:",
     "-H", "Content-Type:", "-H", "X-Goog-Upload-Command: upload, finalize", "-H", "X-Goog-Upload-Offset: 0",
     session],
    capture_output=True, text=True, check=True,
)
seconds = time.perf_counter() - start
info = json.loads(done.stdout)["file"]
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"size": int(info["sizeBytes"]), "baseline_kib": 0, "peak_kib": peak, "seconds": seconds}))
"""
"""curl's upload (opening the session included); its RSS growth is curl's whole peak RSS."""

CLIENTS = (("hook", "genai-batch hook"), ("curl", "curl (one POST)"), ("sdk", "google-genai SDK"))


def measure(kind: str, path: Path, base_url: str) -> dict[str, Any]:
    if kind != "curl":
        return measure_upload(kind, path, base_url, API_KEY)
    done = subprocess.run(
        [sys.executable, "-c", _CURL_UPLOAD, str(path), base_url, API_KEY],
        env=os.environ,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| client | input | MB/s (median) | of curl | RSS growth |")
    print("|---|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp, EmulatorServer(api_key=API_KEY) as emulator:
        for size_mb in args.sizes_mb:
            path = write_jsonl(Path(tmp) / f"input-{size_mb}.jsonl", size_mb * 1_000_000)
            rates: dict[str, list[float]] = {kind: [] for kind, _ in CLIENTS}
            growth: dict[str, float] = {}
            for _ in range(args.rounds):
                for kind, _ in CLIENTS:
                    m = measure(kind, path, emulator.base_url)
                    rates[kind].append(m["size"] / 1e6 / m["seconds"])
                    growth[kind] = max(growth.get(kind, 0.0), (m["peak_kib"] - m["baseline_kib"]) / 1024)
            curl = statistics.median(rates["curl"])
            for kind, label in CLIENTS:
                rate = statistics.median(rates[kind])
                print(
                    f"| {label} | {size_mb:,} MB | {rate:.0f} | {rate / curl:.2f}x | {growth[kind]:.1f} MiB |",
                    flush=True,
                )
            path.unlink()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
