"""Submitting a batch: validate, upload, create exactly once, and optionally wait for the results."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import httpx
from airflow.sdk import BaseOperator

from airflow_provider_genai_batch.completion import STATE_STORE_KEY, BatchCompletionMixin
from airflow_provider_genai_batch.errors import NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import get_hook
from airflow_provider_genai_batch.hooks.retry import RETRYABLE_STATUS, Attempts
from airflow_provider_genai_batch.idempotency import idempotency_key
from airflow_provider_genai_batch.inputs import PreparedInput, prepare_input
from airflow_provider_genai_batch.landing import KEYS_FILE, output_dir, write_keys
from airflow_provider_genai_batch.links import JOB_REF_XCOM_KEY, GenAIBatchJobLink
from airflow_provider_genai_batch.models import BatchJob, BatchJobRef, JobState

RESUBMIT_STATES = frozenset({JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED})


class GenAIBatchSubmitOperator(BatchCompletionMixin, BaseOperator):
    """Submit one batch job to the provider behind ``conn_id``; the same DAG works for every provider.

    :param conn_id: a GenAI batch connection; its type picks the provider.
    :param model: the model, as the provider names it.
    :param input: a JSONL path or URI (local, ``s3://``, ``gs://``, ...) or a list of request dicts
        (canonical ``{"key", "request"}`` or SDK-style ``{"key", "contents", "config"}``).
    :param display_name: job display name; the idempotency key is appended to it.
    :param output_uri: directory for the results and manifest (and the input keys, for the join).
    :param embeddings: submit an embeddings batch instead of a generation batch.
    :param wait_for_completion: wait for the job and return the results manifest, not the job ref.
    :param deferrable: wait in the triggerer instead of occupying a worker slot.
    :param poll_interval: seconds between status polls.
    :param job_timeout: how long to wait before giving up (and cancelling, see ``cancel_on_timeout``).
    :param cancel_on_kill: cancel the remote job when the waiting task is killed.
    :param cancel_on_timeout: cancel the remote job when ``job_timeout`` passes.
    :param max_failed_ratio: the share of rows that may fail before the task fails.
    """

    template_fields = ("input", "model", "display_name", "output_uri", "conn_id")
    operator_extra_links = (GenAIBatchJobLink(),)
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        conn_id: str,
        model: str,
        input: str | Sequence[Mapping[str, Any]],
        display_name: str | None = None,
        output_uri: str | None = None,
        embeddings: bool = False,
        wait_for_completion: bool = False,
        deferrable: bool = True,
        poll_interval: float = 60.0,
        job_timeout: timedelta = timedelta(hours=48),
        cancel_on_kill: bool = True,
        cancel_on_timeout: bool = True,
        max_failed_ratio: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if wait_for_completion and not output_uri:
            raise ValueError("wait_for_completion=True needs output_uri: the results are written there")
        self.conn_id = conn_id
        self.model = model
        self.input = input
        self.display_name = display_name
        self.output_uri = output_uri
        self.embeddings = embeddings
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.cancel_on_kill = cancel_on_kill
        self.cancel_on_timeout = cancel_on_timeout
        self.max_failed_ratio = max_failed_ratio

    def execute(self, context: Any) -> dict[str, Any]:
        hook = get_hook(self.conn_id)
        ti = context["ti"]
        key = idempotency_key(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1))
        ref = self._existing_job(context, hook, key) or self._submit(context, hook, key)
        ti.xcom_push(key=JOB_REF_XCOM_KEY, value=ref.to_xcom())
        if self.wait_for_completion:
            return self.wait_for(context, ref)
        return ref.to_xcom()

    def _existing_job(self, context: Any, hook: BatchHook, key: str) -> BatchJobRef | None:
        """The job an earlier try of this task instance created, from the state store or the provider.

        A job that ended FAILED, CANCELLED or EXPIRED is not re-attached to: the retry submits anew.
        """
        store = context.get("task_state_store")
        stored = store.get(STATE_STORE_KEY) if store is not None else None
        if stored:
            ref = BatchJobRef.model_validate(stored)
            try:
                job = hook.get_batch(ref.job_name)
            except NotFoundError:
                self.log.warning("stored job %s no longer exists; submitting again", ref.job_name)
            else:
                if self._reusable(job):
                    self.log.info("re-attaching to %s (task state store), not submitting again", ref.job_name)
                    return ref
        job = hook.find_batch(key)
        if job is None or not self._reusable(job):
            return None
        self.log.info("re-attaching to %s (found by idempotency key %s), not submitting again", job.name, key)
        keys_uri = None
        if self.output_uri and (output_dir(self.output_uri) / KEYS_FILE).exists():
            keys_uri = str(output_dir(self.output_uri) / KEYS_FILE)
        ref = self._ref(hook, job, key, job.stats.total or None, keys_uri)
        self._remember(context, ref)
        return ref

    def _reusable(self, job: BatchJob) -> bool:
        if job.state in RESUBMIT_STATES:
            self.log.warning("the earlier job %s ended %s; submitting a new one", job.name, job.state.value)
            return False
        return True

    def _submit(self, context: Any, hook: BatchHook, key: str) -> BatchJobRef:
        prepared = self._prepare(hook)
        try:
            keys_uri = None
            if self.output_uri:
                keys_uri = str(write_keys(output_dir(self.output_uri), prepared.iter_keys()))
            job = self._create(hook, prepared, key, context)
        finally:
            prepared.cleanup()
        self.log.info(
            "created %s job %s with %d requests (%d bytes)",
            hook.provider,
            job.name,
            prepared.summary.count,
            prepared.summary.total_bytes,
        )
        ref = self._ref(hook, job, key, prepared.summary.count, keys_uri)
        self._remember(context, ref)
        return ref

    def _prepare(self, hook: BatchHook) -> PreparedInput:
        return prepare_input(self.input, hook, model=self.model, embeddings=self.embeddings)

    def _create(self, hook: BatchHook, prepared: PreparedInput, key: str, context: Any) -> BatchJob:
        display_name = self.display_name or f"{context['ti'].dag_id}.{context['ti'].task_id}"
        create = hook.create_embeddings_batch if self.embeddings else hook.create_batch
        common = {"display_name": display_name, "idempotency_key": key, "endpoint": prepared.endpoint}
        if prepared.inline is not None:
            return self._create_once(hook, key, lambda: create(self.model, requests=prepared.inline, **common))
        with prepared.open_upload() as stream:
            uploaded = hook.upload_file(stream, display_name=f"{display_name}.jsonl")
        self.log.info("uploaded input as %s (%s bytes)", uploaded.name, uploaded.size_bytes)
        return self._create_once(hook, key, lambda: create(self.model, file_name=uploaded.name, **common))

    def _create_once(self, hook: BatchHook, key: str, create: Callable[[], BatchJob]) -> BatchJob:
        """Create, retrying a transient failure only once a lookup by key shows no job was made.

        Creation is not idempotent: a create whose answer was lost may still have made the job. Where a
        provider cannot be searched by key, a failed create is not retried.
        """
        attempts = Attempts(hook.settings.retry_policy)
        while True:
            try:
                return create()
            except (ProviderAPIError, httpx.TransportError) as err:
                if not _transient(err) or not hook.capabilities.find_by_key:
                    raise
                job = hook.find_batch(key)
                if job is not None and job.state not in RESUBMIT_STATES:
                    self.log.warning("create failed (%s) but job %s exists: using it", err, job.name)
                    return job
                wait = attempts.next_wait(None)
                if wait is None:
                    raise
                self.log.warning("create failed (%s) and no job exists; retrying in %.1f s", err, wait)
                time.sleep(wait)

    def _ref(self, hook: BatchHook, job: BatchJob, key: str, count: int | None, keys_uri: str | None) -> BatchJobRef:
        return BatchJobRef(
            provider=hook.provider,
            conn_id=self.conn_id,
            job_name=job.name,
            idempotency_key=key,
            request_count=count,
            keys_uri=keys_uri,
            output_uri=self.output_uri,
            embeddings=self.embeddings,
        )

    def _remember(self, context: Any, ref: BatchJobRef) -> None:
        store = context.get("task_state_store")
        if store is not None:
            store.set(STATE_STORE_KEY, ref.to_xcom())


def _transient(err: Exception) -> bool:
    return isinstance(err, httpx.TransportError) or (
        isinstance(err, ProviderAPIError) and err.http_status in RETRYABLE_STATUS
    )
