"""Thin operators over a provider's batch jobs: cancel, delete, list.

Cancel and delete act on every job a reference names (one job, or each created part of a group), given as the
reference or as the results manifest that holds it, or on the jobs of each of a sequence of these (a mapped task's
output).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_genai_batch.cancel import cancel_job, cancel_jobs
from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import get_hook
from airflow_provider_genai_batch.job_ref import BatchJobRef, job_name_of
from airflow_provider_genai_batch.rendered import rendered_mapping


def job_names_of(value: Any) -> list[str]:
    """The jobs a value names: a plain job name, every created job of a job reference in any form, or of the
    reference a results manifest holds (what a waiting submit or a sensor returns, so ``job=wait.output`` works);
    for a sequence of these (a mapped task's output), the jobs of each, a map index that returned nothing aside."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [name for item in value if item is not None for name in job_names_of(item)]
    manifest = rendered_mapping(value)
    if manifest is not None and "job_ref" in manifest and "manifest_uri" in manifest:
        value = manifest["job_ref"]
    try:
        ref = BatchJobRef.parse(value)
    except TypeError:
        return [job_name_of(value)]
    return ref.job_names()


class _JobActionOperator(BaseOperator):
    """One action on the jobs named by a job name or a job reference (each created part of a group)."""

    template_fields = ("job", "conn_id")

    def __init__(self, *, conn_id: str, job: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.job = job

    def execute(self, context: Any) -> None:
        names = job_names_of(self.job)
        self.act(get_hook(self.conn_id), names)

    def act(self, hook: BatchHook[Any], names: list[str]) -> None:
        raise NotImplementedError


class GenAIBatchCancelJobOperator(_JobActionOperator):
    """Ask the provider to cancel a job, or every part of a group (cancellation is asynchronous at every provider).

    A job already cancelling or ended needs no cancel: the provider's refusal is logged, not raised. Every
    part of a group is tried; a cancel that failed fails the task afterwards, naming each part it failed for.
    """

    def act(self, hook: BatchHook[Any], names: list[str]) -> None:
        if len(names) == 1:
            self.log.info("%s", cancel_job(hook, names[0]).describe())
            return
        outcomes = cancel_jobs(hook, names)
        for outcome in outcomes:
            self.log.info("%s", outcome.describe())
        failures = [outcome.describe() for outcome in outcomes if outcome.failed is not None]
        if failures:
            raise GenAIBatchError(f"{len(failures)} of the {len(names)} cancels failed: {'; '.join(failures)}")


class GenAIBatchDeleteJobOperator(_JobActionOperator):
    """Delete a job record (Gemini: delete does not cancel, so cancel first)."""

    def act(self, hook: BatchHook[Any], names: list[str]) -> None:
        for name in names:
            hook.delete_batch(name)
            self.log.info("deleted %s", name)


class GenAIBatchListJobsOperator(BaseOperator):
    """List jobs across all pages; returns name, display name, state and counts of each (not outputs)."""

    template_fields = ("conn_id",)

    def __init__(self, *, conn_id: str, limit: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"limit must be a positive whole number or None (every job), got {limit!r}")
        self.conn_id = conn_id
        self.limit = limit

    def execute(self, context: Any) -> list[dict[str, Any]]:
        jobs = []
        for job in get_hook(self.conn_id).list_batches():
            jobs.append(job.model_dump(mode="json", include={"name", "display_name", "model", "state", "stats"}))
            if self.limit is not None and len(jobs) >= self.limit:
                break
        return jobs
