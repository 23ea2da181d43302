"""Submitting a batch: validate, upload, create exactly once, and optionally wait for the results."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_genai_batch.completion import BatchCompletionMixin
from airflow_provider_genai_batch.errors import GenAIBatchError, NotFoundError
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import get_hook
from airflow_provider_genai_batch.hooks.retry import Attempts, is_transient_error
from airflow_provider_genai_batch.idempotency import idempotency_key
from airflow_provider_genai_batch.inputs import PreparedInput, prepare_input
from airflow_provider_genai_batch.job_ref import BatchJobRef, recall, remember
from airflow_provider_genai_batch.landing import KEYS_FILE, output_dir, write_keys
from airflow_provider_genai_batch.links import GenAIBatchJobLink
from airflow_provider_genai_batch.models import BatchJob, JobState
from airflow_provider_genai_batch.polling import DEFAULT_MAX_POLL_FAILURES
from airflow_provider_genai_batch.spec import BatchKind, BatchSpec, FileSource, InlineSource

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
    :param max_poll_failures: consecutive failed status polls (each retried by the hook) before giving up.
    :param labels: labels put on the job where the provider keeps them (OpenAI ``metadata``); refused
        before anything is uploaded where it does not.
    """

    template_fields = ("input", "model", "display_name", "output_uri", "conn_id", "labels")
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
        max_poll_failures: int = DEFAULT_MAX_POLL_FAILURES,
        labels: Mapping[str, str] | str | None = None,
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
        self.max_poll_failures = max_poll_failures
        self.labels = labels

    def execute(self, context: Any) -> dict[str, Any]:
        hook = get_hook(self.conn_id)
        ti = context["ti"]
        key = idempotency_key(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1))
        ref = self._existing_job(context, hook, key)
        if ref is None:
            ref = self._submit(context, hook, key)
        else:
            remember(context, ref)
        if self.wait_for_completion:
            return self.wait_for(context, ref)
        return ref.to_xcom()

    def _existing_job(self, context: Any, hook: BatchHook[Any], key: str) -> BatchJobRef | None:
        """The job an earlier try of this task instance created, from the state store or the provider.

        A job that ended FAILED, CANCELLED or EXPIRED is not re-attached to: the retry submits anew.
        """
        ref = recall(context)
        if ref is not None:
            try:
                job = hook.get_batch(ref.job_name)
            except NotFoundError:
                self.log.warning("stored job %s no longer exists; submitting again", ref.job_name)
            else:
                if self._reusable(job):
                    self.log.info("re-attaching to %s (task state store), not submitting again", ref.job_name)
                    return ref
        found = hook.find_batch(key)
        if found is None or not self._reusable(found):
            return None
        job = found
        self.log.info("re-attaching to %s (found by idempotency key %s), not submitting again", job.name, key)
        keys_uri = None
        if self.output_uri and (output_dir(self.output_uri) / KEYS_FILE).exists():
            keys_uri = str(output_dir(self.output_uri) / KEYS_FILE)
        ref = self._ref(hook, job, key, job.stats.total or None, keys_uri, None)
        return ref

    def _reusable(self, job: BatchJob) -> bool:
        if job.state in RESUBMIT_STATES:
            self.log.warning("the earlier job %s ended %s; submitting a new one", job.name, job.state.value)
            return False
        return True

    def _submit(self, context: Any, hook: BatchHook[Any], key: str) -> BatchJobRef:
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
        ref = self._ref(hook, job, key, prepared.summary.count, keys_uri, prepared.fingerprint)
        remember(context, ref)  # at once: a try that dies after the create still finds its job
        return ref

    def _prepare(self, hook: BatchHook[Any]) -> PreparedInput:
        """Check the connection and labels, then validate and translate the input; nothing is uploaded yet."""
        hook.check_submittable()
        hook.check_labels(self._labels())
        return prepare_input(self.input, hook.dialect, model=self.model, embeddings=self.embeddings)

    def _labels(self) -> dict[str, str]:
        """The labels as rendered: a mapping, or JSON text of one (a whole-string template); strings only."""
        labels: Any = self.labels
        if isinstance(labels, str):
            try:
                labels = json.loads(labels) if labels.strip() else {}
            except ValueError:
                raise GenAIBatchError(f"labels must be a mapping or its JSON text, got {self.labels!r}") from None
        if labels is None:
            return {}
        if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise GenAIBatchError(f"labels must map strings to strings, got {self.labels!r}")
        return dict(labels)

    def _create(self, hook: BatchHook[Any], prepared: PreparedInput, key: str, context: Any) -> BatchJob:
        display_name = self.display_name or f"{context['ti'].dag_id}.{context['ti'].task_id}"
        source: FileSource | InlineSource
        if prepared.inline is not None:
            source = InlineSource(prepared.inline)
        else:
            with prepared.open_upload() as stream:
                uploaded = hook.upload_file(stream, display_name=f"{display_name}.jsonl")
            self.log.info("uploaded input as %s (%s bytes)", uploaded.name, uploaded.size_bytes)
            source = FileSource(uploaded.name)
        spec = BatchSpec(
            model=self.model,
            display_name=display_name,
            source=source,
            kind=BatchKind.EMBED if self.embeddings else BatchKind.GENERATE,
            idempotency_key=key,
            endpoint=prepared.endpoint,
            labels=self._labels(),
        )
        return self._create_once(hook, key, lambda: hook.create_batch(spec))

    def _create_once(self, hook: BatchHook[Any], key: str, create: Callable[[], BatchJob]) -> BatchJob:
        """Create, retrying a transient failure only once a lookup by key shows no job was made.

        Creation is not idempotent: a create whose answer was lost may still have made the job. Where a
        provider cannot be searched by key, a failed create is not retried.
        """
        attempts = Attempts(hook.settings.retry_policy)
        while True:
            try:
                return create()
            except Exception as err:
                if not is_transient_error(err) or not hook.capabilities.find_by_key:
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

    def _ref(
        self,
        hook: BatchHook[Any],
        job: BatchJob,
        key: str,
        count: int | None,
        keys_uri: str | None,
        fingerprint: str | None,
    ) -> BatchJobRef:
        return BatchJobRef(
            provider=hook.provider,
            conn_id=self.conn_id,
            job_name=job.name,
            idempotency_key=key,
            input_fingerprint=fingerprint,
            request_count=count,
            keys_uri=keys_uri,
            output_uri=self.output_uri,
            embeddings=self.embeddings,
        )
