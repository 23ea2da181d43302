"""How far a batch got before it stopped, shared by the routers whose batches keep partial results.

OpenAI and Anthropic batches that are cancelled or expire still deliver what was done before they
stopped. The emulator models that with a clock: a job works through its requests at a steady pace
over its running time, in a deterministic shuffled order (providers do not keep input order), so the
requests "done" when it stops are a prefix of that order. A job whose outcome is "expire" works at
half pace and so gets through half of its requests before its window lapses.

The store produces results only for jobs that succeed; `finish_stopped` produces them, once and off
the event loop, for jobs that were cancelled, expired or failed.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from airflow_provider_genai_batch.testing.emulator.config import EmulatorConfig
from airflow_provider_genai_batch.testing.emulator.store import (
    MATERIALISE_WAIT_SECONDS,
    JobRecord,
    JobResults,
    Phase,
    Store,
    produce_results,
)

DEFAULT_CANCEL_SECONDS = 0.5
"""How long a cancelled batch stays cancelling/canceling when the config has no `cancel_seconds`."""
EXPIRE_PACE = 0.5
"""Share of its requests an expiring job gets through before its window lapses."""
STOP_WORKER_KEY = "stop_worker"
CANCEL_SECONDS_KEY = "cancel_seconds"


def cancel_seconds(config: EmulatorConfig) -> float:
    """The cancel delay in force: the config's `cancel_seconds` when it has one, else the default."""
    value = getattr(config, "cancel_seconds", None)
    return DEFAULT_CANCEL_SECONDS if value is None else float(value)


def cancel_end(job: JobRecord) -> float | None:
    """When a cancelled job stops cancelling (None when it was never cancelled)."""
    if job.cancelled_at is None:
        return None
    return job.cancelled_at + float(job.extra.get(CANCEL_SECONDS_KEY, DEFAULT_CANCEL_SECONDS))


def start_cancel(job: JobRecord, store: Store, config: EmulatorConfig) -> bool:
    """Cancel a job with the cancel delay in force (kept from an earlier attempt); False when it had ended."""
    job.extra.setdefault(CANCEL_SECONDS_KEY, cancel_seconds(config))
    return store.cancel_job(job)


def pace(job: JobRecord) -> float:
    """Share of its requests the job gets through over its whole running time."""
    return EXPIRE_PACE if job.outcome == "expire" else 1.0


def processed_by(job: JobRecord, moment: float) -> int:
    """How many requests the job had finished at `moment`, working at a steady pace while running."""
    total = job.request_count
    if moment <= job.running_at:
        return 0
    if job.running_seconds <= 0 or moment >= job.timer_end:
        fraction = 1.0
    else:
        fraction = (moment - job.running_at) / job.running_seconds
    return min(total, math.floor(total * pace(job) * fraction))


def expired_done(job: JobRecord) -> int:
    """How many requests an expiring job finished before its window lapsed."""
    return processed_by(job, job.timer_end)


def stopped_done(job: JobRecord, phase: Phase, now: float) -> int:
    """How many requests a cancelled (at the end of its cancel delay) or expired job had finished."""
    if phase is Phase.CANCELLED:
        return processed_by(job, cancel_end(job) or now)
    return expired_done(job)


def shuffled_lines(path: Path, seed: str) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, line) for the non-blank lines of a file in a deterministic shuffled order.

    Only the offsets are kept in memory; each line is read back from disk when its turn comes. The
    order is never the input order when there are two lines or more.
    """
    entries: list[tuple[bytes, int, int]] = []
    offset = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                digest = hashlib.blake2b(f"{seed}:{number}".encode(), digest_size=8).digest()
                entries.append((digest, number, offset))
            offset += len(raw)
    entries.sort()
    order = [(number, position) for _, number, position in entries]
    if len(order) > 1 and all(order[i][0] < order[i + 1][0] for i in range(len(order) - 1)):
        order.reverse()
    with path.open("rb") as handle:
        for number, position in order:
            handle.seek(position)
            yield number, handle.readline().strip()


def finish_stopped(
    job: JobRecord,
    store: Store,
    produce: Callable[[], JobResults],
    *,
    wait: bool,
) -> bool:
    """Make sure the results of a stopped job are (being) produced; True once they exist.

    The first caller starts a worker thread running `produce`; with `wait`, callers wait for it up to
    the store's materialise wait, as `Store.observe` does. A results file is registered with the store.
    """
    with job.lock:
        if job.results is not None:
            return True
        worker: threading.Thread | None = job.extra.get(STOP_WORKER_KEY)
        if worker is None:
            worker = threading.Thread(
                target=_run_stopped, args=(job, store, produce), name=f"finish-{job.job_id}", daemon=True
            )
            job.extra[STOP_WORKER_KEY] = worker
            worker.start()
    if wait:
        worker.join(timeout=MATERIALISE_WAIT_SECONDS)
    with job.lock:
        return job.results is not None


def _run_stopped(job: JobRecord, store: Store, produce: Callable[[], JobResults]) -> None:
    """Produce and record a stopped job's results; a crash leaves the job with a failure message.

    As in the store's own materialise thread, a "fail_rows" job fails every request it answers.
    """
    results = produce_results(job, produce)
    if results is None:
        return
    with job.lock:
        if results.file is not None:
            store.add_file(results.file)
        job.results = results


def stop_worker_failed(job: JobRecord) -> bool:
    """True when the stopped-job worker ran and crashed."""
    worker: Any = job.extra.get(STOP_WORKER_KEY)
    return worker is not None and not worker.is_alive() and job.results is None and job.failure is not None
