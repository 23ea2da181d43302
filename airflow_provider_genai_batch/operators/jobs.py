"""Thin operators over a provider's batch jobs: cancel, delete, list."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_genai_batch.cancel import cancel_job
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import get_hook
from airflow_provider_genai_batch.job_ref import job_name_of


class _JobActionOperator(BaseOperator):
    """One action on one job, named by its job name or its job reference."""

    template_fields = ("job", "conn_id")

    def __init__(self, *, conn_id: str, job: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.job = job

    def execute(self, context: Any) -> None:
        name = job_name_of(self.job)
        self.act(get_hook(self.conn_id), name)

    def act(self, hook: BatchHook[Any], name: str) -> None:
        raise NotImplementedError


class GenAIBatchCancelJobOperator(_JobActionOperator):
    """Ask the provider to cancel a job (cancellation is asynchronous at every provider).

    A job already cancelling or ended needs no cancel: the provider's refusal is logged, not raised.
    """

    def act(self, hook: BatchHook[Any], name: str) -> None:
        self.log.info("%s", cancel_job(hook, name).describe())


class GenAIBatchDeleteJobOperator(_JobActionOperator):
    """Delete a job record (Gemini: delete does not cancel, so cancel first)."""

    def act(self, hook: BatchHook[Any], name: str) -> None:
        hook.delete_batch(name)
        self.log.info("deleted %s", name)


class GenAIBatchListJobsOperator(BaseOperator):
    """List jobs across all pages; returns name, display name, state and counts of each (not outputs)."""

    template_fields = ("conn_id",)

    def __init__(self, *, conn_id: str, limit: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.limit = limit

    def execute(self, context: Any) -> list[dict[str, Any]]:
        jobs = []
        for job in get_hook(self.conn_id).list_batches():
            jobs.append(job.model_dump(mode="json", include={"name", "display_name", "model", "state", "stats"}))
            if self.limit is not None and len(jobs) >= self.limit:
                break
        return jobs
