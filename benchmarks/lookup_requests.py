"""Requests and seconds of a first submit's look-up by key, with 0, 1,000 and 10,000 old batches at the provider.

Run: .venv/bin/python -m benchmarks.lookup_requests [--history 0,1000,10000] [--baseline-rev HEAD]

The emulator runs in this process (moto's S3 beside it for Bedrock). For each history size, each provider
whose jobs can be found by key (OpenAI, Gemini, Bedrock) gets one job made through its API by another task,
copied into that many batches created a day before the run (``testing.emulator.history``), then hidden.
A fresh subprocess then looks up the key of a task of a run that started now (nothing carries it: the
look-up of every first submit) with the hooks of ``--baseline-rev`` (``git archive`` unpacked and put first
on ``PYTHONPATH``) and with this tree's, which passes ``not_before=lookup_floor(context)``. After one call
that sets up the hook's client (a job that does not exist), each counts the requests the client sent and the
seconds ``find_batch`` took. Anthropic and the GenAI gateway are
left out: their jobs carry no key, so no look-up is made at all.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks._revisions import REPO, tree_env, unpack_rev

PROVIDERS = ("openai", "gemini", "bedrock")
FINGERPRINT = "1f" * 32
WARM_UP = {"openai": "batch_warmup", "gemini": "batches/warmup", "bedrock": "warmupwarmup"}
"""A job name each provider answers 404 for: one call that sets up the hook's client before counting."""
DAY = 86_400.0
BUCKET = "lookup-bench"

_LOOKUP = """
import json, sys, time
from datetime import datetime
from types import SimpleNamespace
import airflow_provider_genai_batch.hooks.base as base
from airflow_provider_genai_batch.hooks.registry import get_hook

plan = json.loads(sys.argv[1])
floor = None
if plan["with_floor"]:
    from airflow_provider_genai_batch.idempotency import lookup_floor
    run = SimpleNamespace(run_id=plan["run_id"], run_after=datetime.fromisoformat(plan["run_after"]))
    floor = lookup_floor({"dag_run": run})
out = {"module": base.__file__, "floor": floor.isoformat() if floor else None, "lookups": {}}
for provider, conn_id in plan["conn_ids"].items():
    hook = get_hook(conn_id)
    try:
        hook.get_batch(plan["warm_up"][provider])  # credentials and connection set up before counting
    except Exception:
        pass
    sent = []
    hook.get_conn().event_hooks["request"].append(sent.append)
    start = time.perf_counter()
    if plan["with_floor"]:
        found = hook.find_batch(plan["key"], input_fingerprint=plan["fingerprint"], not_before=floor)
    else:
        found = hook.find_batch(plan["key"], input_fingerprint=plan["fingerprint"])
    seconds = time.perf_counter() - start
    out["lookups"][provider] = {"requests": len(sent), "seconds": seconds, "found": found is not None}
print(json.dumps(out))
"""


def connections(emulator_url: str, s3_url: str) -> dict[str, dict[str, Any]]:
    """The Airflow connections (``AIRFLOW_CONN_LOOKUP_<PROVIDER>``) of each provider's hook on the emulator."""
    from airflow_provider_genai_batch.testing.emulator.history import history_connections

    return history_connections(emulator_url, s3_url, BUCKET, "bench-key")


def template_spec(provider: str, hook: Any, key: str) -> Any:
    """The spec of one small job of another task at ``provider``, in that provider's own line format."""
    from airflow_provider_genai_batch.testing.emulator.history import one_job_spec

    return one_job_spec(provider, hook, key, FINGERPRINT, "other")


def seed(emulator: Any, conn_ids: dict[str, str], count: int, newest: float) -> None:
    """Empty the emulator, then give each provider ``count`` batches of another task, all created by ``newest``."""
    from airflow_provider_genai_batch.hooks.registry import get_hook
    from airflow_provider_genai_batch.idempotency import idempotency_key
    from airflow_provider_genai_batch.testing.emulator.history import seed_history

    emulator.state.reset()
    store = emulator.state.store
    other_key = idempotency_key("history", "another_task", "scheduled__2026-01-01T00:00:00+00:00", None)
    for provider, conn_id in conn_ids.items():
        hook = get_hook(conn_id)
        made = hook.create_batch(template_spec(provider, hook, other_key))
        hook.close()
        record = store.get_job(made.name)
        assert record is not None
        seed_history(store, record, count, newest=newest)
        store.delete_job(record)


def run_lookup(src_root: Path, plan: dict[str, Any], cwd: Path) -> dict[str, Any]:
    env = {
        **tree_env(src_root),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    }
    out = subprocess.run(
        [sys.executable, "-c", _LOOKUP, json.dumps(plan)], env=env, cwd=cwd, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"the look-up under {src_root} failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if not Path(result["module"]).is_relative_to(src_root):
        raise RuntimeError(f"looked up with {result['module']}, not the code under {src_root}")
    return result


@contextmanager
def services() -> Iterator[tuple[Any, Any]]:
    """The in-process emulator (no job ever starts) and moto's S3 with the benchmark's bucket."""
    from airflow_provider_genai_batch.testing.emulator.history import InProcessEmulator
    from airflow_provider_genai_batch.testing.s3 import MotoS3Server

    with MotoS3Server() as s3:
        s3.create_bucket(BUCKET)
        with InProcessEmulator(pending_seconds=DAY, s3_endpoint_url=s3.endpoint_url) as emulator:
            yield emulator, s3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", default="0,1000,10000", help="comma-separated numbers of old batches")
    parser.add_argument("--baseline-rev", default="HEAD")
    args = parser.parse_args()
    sizes = [int(size) for size in args.history.split(",")]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
    from airflow_provider_genai_batch.idempotency import idempotency_key

    run_after = datetime.now(timezone.utc)
    run_id = f"manual__{run_after.isoformat()}"
    conn_ids = {provider: f"lookup_{provider}" for provider in PROVIDERS}
    with tempfile.TemporaryDirectory(prefix="genai-batch-lookup-") as tmp_name, services() as (emulator, s3):
        tmp = Path(tmp_name)
        for provider, conn in connections(emulator.base_url, s3.endpoint_url).items():
            os.environ[f"AIRFLOW_CONN_{conn_ids[provider].upper()}"] = json.dumps(conn)
        before_root = unpack_rev(args.baseline_rev, tmp / "baseline_src")
        plan = {
            "conn_ids": conn_ids,
            "key": idempotency_key("reports", "submit", run_id, None),
            "fingerprint": FINGERPRINT,
            "run_id": run_id,
            "run_after": run_after.isoformat(),
            "warm_up": WARM_UP,
        }
        rows: list[tuple[str, int, dict[str, Any], dict[str, Any]]] = []
        for size in sizes:
            started = time.perf_counter()
            seed(emulator, conn_ids, size, newest=run_after.timestamp() - DAY)
            seeded = time.perf_counter() - started
            before = run_lookup(before_root, {**plan, "with_floor": False}, tmp)
            after = run_lookup(REPO, {**plan, "with_floor": True}, tmp)
            print(f"{size:,} old batches seeded per provider in {seeded:.1f} s", file=sys.stderr)
            for provider in PROVIDERS:
                rows.append((provider, size, before["lookups"][provider], after["lookups"][provider]))
        print(f"run_after {run_after.isoformat()}, look-up floor {after['floor']}")
        header = f"{'provider':<9}{'old batches':>12}{'requests before':>17}{'s before':>10}"
        print(f"{header}{'requests after':>16}{'s after':>9}")
        for provider, size, old, new in rows:
            if old["found"] or new["found"]:
                raise RuntimeError(f"{provider}: a look-up found a job for a key nothing carries")
            print(
                f"{provider:<9}{size:>12,}{old['requests']:>17}{old['seconds']:>10.2f}"
                f"{new['requests']:>16}{new['seconds']:>9.2f}"
            )


if __name__ == "__main__":
    main()
