"""Reliability under injected faults: N whole pipelines per provider, counted from the emulator's side.

Run: .venv/bin/python -m benchmarks.reliability [--pipelines N] [--fault-rate 0.25] [--seed S]

For every provider the emulator mounts (a GenAI gateway once per target it fronts here: Gemini and OpenAI;
Bedrock on a moto S3 server, which the emulator's faults do not reach: its uploads and results are S3
objects), N pipelines (default 20; 10 for Bedrock, whose jobs take at least 100 records) of validate →
upload → create → wait → land results run through the real submit operator, sensor and trigger (as
tests/reliability drives them: no Airflow DB, a fresh operator and TI per try, the trigger serialized and
rebuilt, up to 4 tries per task as Airflow retries would) while the emulator injects faults: transient
429/500/503 on ``--fault-rate`` of API requests, answers lost after the handler ran, dropped uploads and
downloads, slow answers. One table:
faults injected (from /_emulator/faults), retries made (``hook.retries`` plus lookups after a failed
create), task retries, jobs created per pipeline (from /_emulator/jobs: must be 1), and results lost
(input keys without a succeeded row: must be 0).
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="genai-batch-bench-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "CRITICAL")

import argparse
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.s3 import MotoS3Server
from tests.reliability.harness import (
    PROVIDER_CASES,
    RetryMeter,
    TaskFailed,
    connections,
    emulated_providers,
    input_keys,
    lost_keys,
    reliability_servers,
    reset_servers,
    run_pipeline,
)

REQUESTS = 40
PADDING = 8000  # about 330 KB of input: two Gemini upload chunks, results of about 700 KB
TRIES = 4
SLOW_PIPELINES = {"bedrock": 10}
"""Default pipelines for providers whose inputs are larger: Bedrock takes no fewer than 100 records per job."""


def fault_config(rate: float, seed: int, lost_rate: float) -> dict[str, Any]:
    """Transient errors at ``rate``, answers lost after the provider acted at ``lost_rate``, dropped uploads
    and downloads, and slow answers."""
    return {
        "seed": seed,
        "error_rate": rate,
        "error_statuses": [429, 500, 503],
        "lost_rate": lost_rate,
        "upload_drop_rate": 0.25,
        "download_drop_rate": 0.25,
        "slow_rate": 0.05,
        "latency_seconds": 0.05,
    }


@dataclass
class Row:
    provider: str
    requests: int = REQUESTS
    pipelines: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    hook_retries: int = 0
    create_lookups: int = 0
    task_retries: int = 0
    jobs_per_pipeline: list[int] = field(default_factory=list)
    lost: int = 0
    lost_creates: int = 0
    failed: int = 0
    try_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_provider(
    emulator: EmulatorServer,
    s3: MotoS3Server,
    provider: str,
    pipelines: int,
    rate: float,
    lost_rate: float,
    seed: int,
    root: Path,
) -> Row:
    case = PROVIDER_CASES[provider]
    reset_servers(emulator, s3)
    emulator.config(faults=fault_config(rate, seed, lost_rate))
    requests = case.records(REQUESTS)
    row = Row(provider, requests)
    started = time.monotonic()
    with RetryMeter().active() as meter:
        for index in range(pipelines):
            workdir = root / provider / f"pipeline-{index}"
            jobs_before = len(emulator.jobs())
            try:
                result = run_pipeline(
                    case, workdir, f"bench__{provider}-{index}", requests=requests, padding=PADDING, tries=TRIES
                )
            except TaskFailed as failed:  # every try failed: count the task's keys as lost
                row.failed += 1
                row.lost += len(lost_keys(input_keys(requests), workdir / "out"))
                row.task_retries += len(failed.errors) - 1
                row.try_errors.extend(f"{failed.task_id}: {describe(e)}" for e in failed.errors)
            else:
                row.lost += len(result.lost)
                row.task_retries += result.submit_tries - 1 + result.wait_tries - 1
                row.try_errors.extend(f"{task_id}: {describe(e)}" for task_id, e in result.errors)
            row.jobs_per_pipeline.append(len(emulator.jobs()) - jobs_before)
            row.pipelines += 1
    row.seconds = time.monotonic() - started
    report = emulator.faults()
    row.faults = report["counts"]
    row.lost_creates = sum(
        1
        for e in report["events"]
        if e["kind"] == "lost" and e["method"] == "POST" and re.search(case.create_path, e["path"])
    )
    row.hook_retries, row.create_lookups = meter.hook_retries, meter.create_lookups
    row.retries = meter.total
    emulator.config(faults={})
    return row


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error)[:160]}"


def jobs_cell(counts: list[int]) -> str:
    low, high = min(counts), max(counts)
    return f"{low}" if low == high else f"{low}-{high} (avg {sum(counts) / len(counts):.2f})"


def print_table(rows: list[Row], rate: float, verbose: bool = False) -> None:
    header = (
        "| provider | pipelines | faults injected | retries made | task retries | jobs per pipeline | results lost |"
        " seconds |"
    )
    print(header)
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for row in rows:
        f = row.faults
        total = f["error"] + f["lost"] + f["upload_drop"] + f["download_drop"]
        faults = (
            f"{total} ({f['error']} 429/5xx, {f['lost']} lost answers ({row.lost_creates} of a create), "
            f"{f['upload_drop']} upload drops, "
            f"{f['download_drop']} download drops; +{f['slow']} slow)"
        )
        retries = f"{row.retries} ({row.hook_retries} + {row.create_lookups} lookups)"
        print(
            f"| {row.provider} | {row.pipelines} | {faults} | {retries} | {row.task_retries} | "
            f"{jobs_cell(row.jobs_per_pipeline)} | {row.lost} | {row.seconds:.1f} |"
        )
    sizes = ", ".join(f"{row.provider} {row.requests}" for row in rows if row.requests != REQUESTS)
    print(
        f"\nfault rate {rate:.0%} transient errors; {REQUESTS} requests per pipeline"
        + (f" ({sizes}: its minimum per job)" if sizes else "")
        + f"; up to {TRIES} tries per task"
    )
    fewer = [f"{row.provider} {row.pipelines}" for row in rows if row.provider in SLOW_PIPELINES]
    if fewer:
        print(f"fewer pipelines by default for the larger inputs: {', '.join(fewer)}")
    for row in rows:
        if row.failed:
            print(f"{row.provider}: {row.failed} pipeline(s) failed every try of a task")
    if verbose:
        for row in rows:
            for error in row.try_errors:
                print(f"  {row.provider} failed try: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--pipelines",
        type=int,
        default=None,
        help=f"pipelines per provider (default 20; {', '.join(f'{p} {n}' for p, n in SLOW_PIPELINES.items())})",
    )
    parser.add_argument("--fault-rate", type=float, default=0.25, help="share of API requests answered 429/5xx")
    parser.add_argument(
        "--lost-rate",
        type=float,
        default=0.1,
        help="share of answers lost after the provider acted (a create that did create the job, unanswered)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--providers", nargs="*", default=None, help="default: every provider the emulator mounts")
    parser.add_argument("--verbose", action="store_true", help="also list what every failed task try raised")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # retries are expected here; keep the table readable
    providers = args.providers or emulated_providers()
    with (
        tempfile.TemporaryDirectory() as tmp,
        reliability_servers(pending_seconds=0.2, running_seconds=0.3) as (emulator, s3),
    ):
        os.environ.update(connections(emulator, s3))
        rows = [
            run_provider(
                emulator,
                s3,
                p,
                args.pipelines or SLOW_PIPELINES.get(p, 20),
                args.fault_rate,
                args.lost_rate,
                args.seed,
                Path(tmp),
            )
            for p in providers
        ]
    print_table(rows, args.fault_rate, args.verbose)


if __name__ == "__main__":
    main()
