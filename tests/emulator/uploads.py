"""What the emulator stores that a task uploaded, told apart from the results files its jobs write.

Emulated jobs end on a timer, and a job's results files join the provider's file listing once the job is seen to have
ended; on a loaded machine that can be before a test lists the files. A test about uploads compares the uploads, and
waits for its jobs to end first, so that their results files are always there to be left out.
"""

from __future__ import annotations

import time

from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook
from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook
from airflow_provider_genai_batch.models import BatchJob


def uploaded_files(hook: GeminiBatchHook | OpenAIBatchHook) -> list[str]:
    """The stored files that were uploaded: Gemini's ``source: UPLOADED``, OpenAI's ``purpose: batch``."""
    if isinstance(hook, GeminiBatchHook):
        return [f.name for f in hook.list_files() if f.raw["source"] == "UPLOADED"]
    return [f.name for f in hook.list_files() if f.raw["purpose"] == "batch"]


def wait_until_ended(hook: GeminiBatchHook | OpenAIBatchHook, name: str, timeout: float = 60.0) -> BatchJob:
    """The job ``name`` once it has ended (its results files stored), within a bound generous for a loaded machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = hook.get_batch(name)
        if job.state.is_terminal:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{name} did not end within {timeout} s")
