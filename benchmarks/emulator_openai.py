"""How fast the emulator answers OpenAI batches: CPU per 50,000-row batch, and five batches end to end.

Run: .venv/bin/python -m benchmarks.emulator_openai [--rows 50000] [--batches 5] [--share 0.01]

- ``materialise``: CPU seconds for the emulator to answer one batch of ``--rows`` chat-completion requests
  into its output and error files (``openai.results.materialise``, in-process), without and with
  ``openai_retryable_row_share`` at ``--share``;
- ``end to end``: through the openai SDK against the emulator subprocess (``pending_seconds=0.3``,
  ``running_seconds=0.7``, the example DAG tests' timings): ``--batches`` batches of ``--rows`` uploaded,
  created at once, polled until every one is ``completed``, then their output and error files streamed.

The load average is printed before and after: other work on the machine slows every figure of a run alike.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from pathlib import Path

from openai import OpenAI

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.emulator.openai import results, transient
from airflow_provider_genai_batch.testing.emulator.openai.lifecycle import control_state_name
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, Store

CHAT = "/v1/chat/completions"
MODEL = "gpt-4o-mini"
TERMINAL = ("completed", "failed", "expired", "cancelled")


def input_bytes(rows: int, first: int = 0) -> bytes:
    """``rows`` chat-completion batch lines, custom_ids ``item-<n>`` from ``first`` on."""
    lines = []
    for number in range(first, first + rows):
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": f"Write a one-line description of catalogue item {number:06d}."}],
            "max_completion_tokens": 32,
        }
        lines.append(json.dumps({"custom_id": f"item-{number:06d}", "method": "POST", "url": CHAT, "body": body}))
    return ("\n".join(lines) + "\n").encode()


def materialise_cpu(path: Path, store: Store, rows: int, share: float) -> float:
    """CPU seconds to answer one batch over ``path`` with the given retryable share."""
    job = JobRecord(
        provider="openai",
        job_id=f"batch_bench{share}",
        name=f"batch_bench{share}",
        kind="generate",
        model=MODEL,
        display_name=None,
        input_file="file-bench",
        input_path=path,
        inline_requests=None,
        request_count=rows,
        created=time.time(),
        pending_seconds=0.0,
        running_seconds=0.0,
        outcome="succeed",
        materialiser=results.materialise,
        state_name=control_state_name,
        extra={"endpoint": CHAT, transient.SHARE_KEY: share},
    )
    store.add_job(job)
    started = time.process_time()
    results.materialise(job, store)
    return time.process_time() - started


def end_to_end(rows: int, batches: int, share: float) -> tuple[float, float, int, int]:
    """Seconds from the first create to every batch completed, seconds to stream the files, lines, failed rows."""
    with EmulatorServer(
        pending_seconds=0.3, running_seconds=0.7, api_key="bench", openai_retryable_row_share=share
    ) as server:
        client = OpenAI(base_url=f"{server.base_url}/openai/v1", api_key="bench")
        files = [
            client.files.create(file=("input.jsonl", io.BytesIO(input_bytes(rows, n * rows))), purpose="batch")
            for n in range(batches)
        ]
        started = time.monotonic()
        ids = [client.batches.create(input_file_id=f.id, endpoint=CHAT, completion_window="24h").id for f in files]
        done = {}
        while len(done) < batches:
            for batch_id in ids:
                if batch_id not in done and (batch := client.batches.retrieve(batch_id)).status in TERMINAL:
                    done[batch_id] = batch
            time.sleep(0.1)
        completed = time.monotonic() - started
        started = time.monotonic()
        lines = 0
        for batch in done.values():
            for file_id in (batch.output_file_id, batch.error_file_id):
                if file_id:
                    with client.files.with_streaming_response.content(file_id) as response:
                        lines += sum(1 for _ in response.iter_lines())
        failed = sum(b.request_counts.failed for b in done.values() if b.request_counts is not None)
        return completed, time.monotonic() - started, lines, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--share", type=float, default=0.01)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    store = Store()
    try:
        path = store.job_path("bench", "input")
        path.write_bytes(input_bytes(args.rows))
        for share in (0.0, args.share):
            cpu = materialise_cpu(path, store, args.rows, share)
            print(f"materialise: {args.rows:,} rows, share {share}: {cpu:.2f} s CPU")
    finally:
        store.close()
    completed, download, lines, failed = end_to_end(args.rows, args.batches, args.share)
    print(
        f"end to end: {args.batches} x {args.rows:,} rows, share {args.share}: all completed {completed:.1f} s "
        f"after the first create; {lines:,} lines streamed in {download:.1f} s; {failed:,} rows failed"
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
