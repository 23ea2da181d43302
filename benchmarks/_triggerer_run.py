"""One triggerer's worth of batch triggers in one asyncio loop, measured; run as a script by
``benchmarks/triggerer_scale.py``, in this project's environment (ours) or the anchors' one.

Reads one JSON spec from stdin: ``kind``, ``conn_id``, ``jobs`` (one trigger per job), ``interval``,
``warmup`` and ``duration`` (seconds). Starts every trigger at once, as a triggerer does after a restart,
lets them run ``warmup`` seconds, then measures for ``duration``: CPU seconds of the process, event-loop
lag (a ticker that asks to wake every 50 ms), open sockets (sampled each second), peak RSS, and the
garbage collector's full collections (how many, the longest). Prints one
JSON line; polls are counted by the caller from the emulator's request log over the same window. Imports
nothing outside the standard library until it builds the triggers, so it runs in either environment.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import resource
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

TICK = 0.05
DAY = 24 * 3600


def ours(spec: dict[str, Any]) -> Callable[[str], Any]:
    from airflow_provider_genai_batch.job_ref import BatchJobRef
    from airflow_provider_genai_batch.triggers.batch_job import GenAIBatchJobTrigger

    def make(job: str) -> Any:
        ref = BatchJobRef(provider=spec["provider"], conn_id=spec["conn_id"], job_name=job)
        return GenAIBatchJobTrigger(job_ref=ref.to_xcom(), poll_interval=spec["interval"])

    return make


def providers_openai(spec: dict[str, Any]) -> Callable[[str], Any]:
    from airflow.providers.openai.triggers.openai import OpenAIBatchTrigger

    return lambda job: OpenAIBatchTrigger(
        conn_id=spec["conn_id"], batch_id=job, poll_interval=spec["interval"], timeout=DAY
    )


def providers_anthropic(spec: dict[str, Any]) -> Callable[[str], Any]:
    from airflow.providers.anthropic.triggers.batch import AnthropicBatchTrigger

    end = time.time() + DAY
    return lambda job: AnthropicBatchTrigger(
        conn_id=spec["conn_id"], batch_id=job, poll_interval=spec["interval"], end_time=end
    )


def common_ai(spec: dict[str, Any]) -> Callable[[str], Any]:
    from airflow.providers.common.ai.triggers.llm_batch import LLMBatchTrigger

    end = time.time() + DAY
    return lambda job: LLMBatchTrigger(
        llm_conn_id=spec["conn_id"],
        adapter=spec["provider"],
        batch_id=job,
        poll_interval=spec["interval"],
        end_time=end,
        timeout=DAY,
        cancel_on_kill=False,
        cancel_on_timeout=False,
    )


FACTORIES: dict[str, Callable[[dict[str, Any]], Callable[[str], Any]]] = {
    "ours": ours,
    "providers-openai": providers_openai,
    "providers-anthropic": providers_anthropic,
    "common-ai": common_ai,
}


def open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


class Meter:
    """What the window measures: loop lag samples, the most sockets seen, and the garbage collector's full
    collections (each stops the loop for as long as it takes)."""

    def __init__(self) -> None:
        self.measuring = False
        self.lags: list[float] = []
        self.max_sockets = 0
        self.full_collections: list[float] = []
        self._collecting_since = 0.0
        gc.callbacks.append(self._on_collection)

    def _on_collection(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._collecting_since = time.perf_counter()
        elif self.measuring:
            self.full_collections.append(time.perf_counter() - self._collecting_since)

    async def tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(TICK)
            if self.measuring:
                self.lags.append(loop.time() - before - TICK)

    async def sockets(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.measuring:
                self.max_sockets = max(self.max_sockets, open_sockets())


async def drive(trigger: Any, events: list[dict[str, Any]]) -> None:
    """Run one trigger as the triggerer does, keeping what it yields (a stuck job should yield nothing)."""
    run: AsyncIterator[Any] = trigger.run()
    async for event in run:
        events.append(event.payload if hasattr(event, "payload") else {"event": repr(event)})
        return


def peak_rss_mib() -> float:
    """This process's peak resident memory (``VmHWM``): ``ru_maxrss`` survives exec on Linux, so a runner started
    by a larger benchmark process would report that process's peak instead of its own."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    make = FACTORIES[spec["kind"]](spec)
    triggers = [make(job) for job in spec["jobs"]]
    meter = Meter()
    events: list[dict[str, Any]] = []
    helpers = [asyncio.create_task(meter.tick()), asyncio.create_task(meter.sockets())]
    tasks = [asyncio.create_task(drive(trigger, events)) for trigger in triggers]
    await asyncio.sleep(spec["warmup"])
    meter.measuring = True
    start, cpu_start = time.time(), time.process_time()
    await asyncio.sleep(spec["duration"])
    end, cpu_end = time.time(), time.process_time()
    meter.measuring = False
    crashed = [task for task in tasks if task.done() and task.exception() is not None]
    for task in tasks + helpers:
        task.cancel()
    await asyncio.gather(*tasks, *helpers, return_exceptions=True)
    first_error = repr(crashed[0].exception())[:300] if crashed else None
    return {
        "start": start,
        "end": end,
        "cpu": cpu_end - cpu_start,
        "lag_p99": percentile(meter.lags, 0.99),
        "lag_max": max(meter.lags, default=float("nan")),
        "peak_rss_mib": peak_rss_mib(),
        "sockets": meter.max_sockets,
        "full_collections": len(meter.full_collections),
        "longest_full_collection": max(meter.full_collections, default=0.0),
        "events": len(events),
        "first_event": json.dumps(events[0], default=str)[:300] if events else None,
        "crashed": len(crashed),
        "first_error": first_error,
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    result = asyncio.run(main(json.load(sys.stdin)))
    print(json.dumps(result), flush=True)
