"""Peak-memory measurement of one upload, each in a fresh subprocess so peaks do not mix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_HOOK_UPLOAD = """
import json, os, resource, sys, time
from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook
hook = GeminiBatchHook(conn_id="bench")
hook.settings  # read the connection before the baseline
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
info = hook.upload_file(sys.argv[1])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"size": info.size_bytes, "baseline_kib": baseline, "peak_kib": peak, "seconds": seconds}))
"""

_SDK_UPLOAD = """
import json, resource, sys, time
from google import genai
from google.genai import types
client = genai.Client(api_key="bench-key", http_options=types.HttpOptions(base_url=sys.argv[2], api_version="v1beta"))
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
info = client.files.upload(file=sys.argv[1], config={"mime_type": "application/jsonl"})
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"size": info.size_bytes, "baseline_kib": baseline, "peak_kib": peak, "seconds": seconds}))
"""


def write_jsonl(path: Path, size_bytes: int) -> Path:
    """A Gemini batch JSONL of about ``size_bytes``, written line by line."""
    padding = "x" * 900
    with path.open("w") as sink:
        written = number = 0
        while written < size_bytes:
            line = json.dumps(
                {"key": f"k{number}", "request": {"contents": [{"parts": [{"text": f"{number} {padding}"}]}]}}
            )
            sink.write(line + "\n")
            written += len(line) + 1
            number += 1
    return path


def measure_upload(kind: str, path: Path, base_url: str, api_key: str) -> dict:
    """Upload ``path`` with our hook (``kind="hook"``) or the google-genai SDK (``"sdk"``); peak RSS in KiB."""
    env = {
        **os.environ,
        "AIRFLOW_CONN_BENCH": json.dumps({"conn_type": "genaigemini", "host": base_url, "password": api_key}),
    }
    script = _HOOK_UPLOAD if kind == "hook" else _SDK_UPLOAD
    out = subprocess.run(
        [sys.executable, "-c", script, str(path), base_url], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])
