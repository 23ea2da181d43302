"""Peak memory of uploading Vertex batch inputs to Cloud Storage: our hook vs. google-cloud-storage vs. curl.

Run: .venv/bin/python -m benchmarks.vertex_upload_memory [--sizes-mb 200 2000] [--chunk-mib 8]

Each size is a canonical ``{"key", "request"}`` JSONL written line by line to disk. Every client runs in a
fresh subprocess against one gcp-storage-emulator (the Vertex emulator mints the hook's OAuth tokens): it
first uploads a one-line file, so imports, credentials and connections are in place, then reads its
baseline RSS, uploads the input with a resumable upload and reads its peak RSS. The server holds objects
in its own process; the bucket is emptied after every upload. The references are google-cloud-storage's
``Blob.upload_from_filename`` with the same chunk size, and curl (one PUT of the whole file into a
resumable session, the RSS being curl's own). One line per (client, size): bytes uploaded, baseline and
peak RSS, growth, throughput.
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

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.gcp_auth import service_account_info
from airflow_provider_genai_batch.testing.gcs import GcsServer
from benchmarks._memory import write_jsonl

BUCKET = "genai-batch-bench"
MIB = 1024 * 1024

_HOOK_UPLOAD = """
import json, resource, sys, time
from airflow_provider_genai_batch.hooks.vertex import VertexBatchHook
hook = VertexBatchHook(conn_id="bench")
hook.upload_file(sys.argv[2])
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
info = hook.upload_file(sys.argv[1])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"size": info.size_bytes, "baseline_kib": baseline, "peak_kib": peak, "seconds": seconds}))
"""

_GCS_UPLOAD = """
import json, resource, sys, time
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
path, warm, endpoint, bucket_name, chunk_size = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
client = storage.Client(project="bench", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint})
bucket = client.bucket(bucket_name)
bucket.blob("reference/warm.jsonl", chunk_size=chunk_size).upload_from_filename(warm, content_type="application/jsonl")
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
blob = bucket.blob("reference/input.jsonl", chunk_size=chunk_size)
blob.upload_from_filename(path, content_type="application/jsonl")
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"size": blob.size, "baseline_kib": baseline, "peak_kib": peak, "seconds": seconds}))
"""

_CURL_UPLOAD = """
import json, os, resource, subprocess, sys, time
from urllib.parse import quote
path, upload_url, name = sys.argv[1], sys.argv[2], sys.argv[3]
size = os.path.getsize(path)

def curl(*args):
    return subprocess.run(["curl", "-sS", "--fail-with-body", *args], capture_output=True, text=True, check=True).stdout

start = time.perf_counter()
headers = curl(
    "-D", "-", "-o", os.devnull, "-X", "POST", f"{upload_url}?uploadType=resumable&name={quote(name, safe='')}",
    "-H", "Content-Type: application/json; charset=UTF-8", "-H", "X-Upload-Content-Type: application/jsonl",
    "-H", f"X-Upload-Content-Length: {size}", "--data", json.dumps({"name": name, "contentType": "application/jsonl"}),
)
session = next(line.split(":", 1)[1].strip() for line in headers.splitlines() if line.lower().startswith("location:"))
baseline = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
body = curl("-X", "PUT", "-T", path, "-H", "Expect:", "-H", f"Content-Range: bytes 0-{size - 1}/{size}", session)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
size = int(json.loads(body)["size"])
print(json.dumps({"size": size, "baseline_kib": baseline, "peak_kib": peak, "seconds": seconds}))
"""
"""curl's RSS: the baseline is the curl that opened the session, the peak the largest curl (the PUT)."""

CLIENTS = (
    ("hook", "genai-batch hook"),
    ("gcs", "google-cloud-storage"),
    ("curl", "curl (one PUT)"),
)


def hook_connection(emulator: EmulatorServer, gcs: GcsServer, chunk_size: int) -> str:
    """The AIRFLOW_CONN_* JSON of a Vertex connection to the emulators, with a new service-account key."""
    key = service_account_info(f"{emulator.base_url}/vertex/token")
    return json.dumps(
        {
            "conn_type": "genaivertex",
            "host": f"{emulator.base_url}/vertex",
            "password": json.dumps(key),
            "extra": {
                "location": "us-central1",
                "staging_gcs_uri": f"gs://{BUCKET}/staging",
                "gcs_endpoint_url": gcs.endpoint_url,
                "bigquery_endpoint_url": emulator.base_url,
                "upload_chunk_size": chunk_size,
            },
        }
    )


def measure(kind: str, path: Path, warm: Path, gcs: GcsServer, connection: str, chunk_size: int) -> dict[str, Any]:
    """Upload ``path`` with one client in a fresh subprocess; sizes in bytes, RSS in KiB, time in seconds."""
    if kind == "hook":
        argv = ["-c", _HOOK_UPLOAD, str(path), str(warm)]
    elif kind == "gcs":
        argv = ["-c", _GCS_UPLOAD, str(path), str(warm), gcs.endpoint_url, BUCKET, str(chunk_size)]
    else:
        argv = ["-c", _CURL_UPLOAD, str(path), f"{gcs.endpoint_url}/upload/storage/v1/b/{BUCKET}/o", "curl/input.jsonl"]
    env = {**os.environ, "AIRFLOW_CONN_BENCH": connection}
    out = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"{kind} upload failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def empty_bucket(gcs: GcsServer) -> None:
    """Drop every object the server holds (it keeps them in memory) and recreate the bucket."""
    gcs.reset()
    gcs.create_bucket(BUCKET)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--chunk-mib", type=int, default=8, help="resumable-upload chunk size (a multiple of 0.25)")
    args = parser.parse_args()
    chunk_size = args.chunk_mib * MIB
    with (
        tempfile.TemporaryDirectory() as tmp,
        GcsServer() as gcs,
        EmulatorServer(gcs_endpoint_url=gcs.endpoint_url) as emulator,
    ):
        connection = hook_connection(emulator, gcs, chunk_size)
        warm = write_jsonl(Path(tmp) / "warm.jsonl", 1)
        print(f"chunk size {args.chunk_mib} MiB")
        print(f"{'client':<22}{'size MB':>9}{'baseline MiB':>14}{'peak MiB':>10}{'growth MiB':>12}{'MB/s':>8}")
        for size_mb in args.sizes_mb:
            path = write_jsonl(Path(tmp) / f"input-{size_mb}.jsonl", size_mb * 1_000_000)
            for kind, label in CLIENTS:
                empty_bucket(gcs)
                m = measure(kind, path, warm, gcs, connection, chunk_size)
                growth = (m["peak_kib"] - m["baseline_kib"]) / 1024
                print(
                    f"{label:<22}{m['size'] / 1e6:>9.0f}{m['baseline_kib'] / 1024:>14.1f}{m['peak_kib'] / 1024:>10.1f}"
                    f"{growth:>12.1f}{m['size'] / 1e6 / m['seconds']:>8.0f}",
                    flush=True,
                )
            empty_bucket(gcs)
            path.unlink()


if __name__ == "__main__":
    main()
