"""Submitting a batch: validate, upload, create exactly once per task instance and input, optionally wait."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from airflow.sdk import BaseOperator

from airflow_provider_genai_batch.completion import BatchCompletionMixin, as_bool
from airflow_provider_genai_batch.consoles import job_page
from airflow_provider_genai_batch.earlier_results import set_aside
from airflow_provider_genai_batch.errors import GenAIBatchError, NotFoundError
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import get_hook
from airflow_provider_genai_batch.hooks.retry import Attempts, is_transient_error
from airflow_provider_genai_batch.idempotency import idempotency_key, lookup_floor
from airflow_provider_genai_batch.inputs import PreparedInput, prepare_input
from airflow_provider_genai_batch.job_ref import BatchJobRef, recall, remember
from airflow_provider_genai_batch.landing import output_dir, write_keys
from airflow_provider_genai_batch.links import GenAIBatchJobLink
from airflow_provider_genai_batch.models import BatchJob, JobState
from airflow_provider_genai_batch.polling import DEFAULT_MAX_POLL_FAILURES
from airflow_provider_genai_batch.prices import price_table
from airflow_provider_genai_batch.spec import BatchKind, BatchSpec, FileSource, InlineSource

RESUBMIT_STATES = frozenset({JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED})
FINGERPRINT_SHOWN = 12
"""How many characters of an input fingerprint a log line shows."""


class GenAIBatchSubmitOperator(BatchCompletionMixin, BaseOperator):
    """Submit one batch job to the provider behind ``conn_id``; the same DAG works for every provider.

    :param conn_id: a GenAI batch connection; its type picks the provider.
    :param model: the model, as the provider names it.
    :param input: a JSONL path or URI (local, ``s3://``, ``gs://``, ...) or a list of request dicts
        (canonical ``{"key", "request"}`` or SDK-style ``{"key", "contents", "config"}``). Where the provider
        has storage of its own, an object there (Vertex: ``gs://``) is read through its hook and, when it
        needs no rewriting, the job reads it in place (nothing is uploaded); a table it reads
        (``bq://project.dataset.table``) is the input as it is: its row count and keys are checked, and
        its data version stands in for the requests in the fingerprint.
    :param display_name: job display name; the idempotency key is appended to it.
    :param output_uri: directory for the results and manifest (and the input keys, for the join).
    :param embeddings: submit an embeddings batch instead of a generation batch.
    :param wait_for_completion: wait for the job and return the results manifest, not the job ref.
    :param deferrable: wait in the triggerer instead of occupying a worker slot.
    :param poll_interval: seconds between status polls.
    :param job_timeout: how long to wait before giving up (and cancelling, see ``cancel_on_timeout``).
    :param cancel_on_kill: cancel the remote job when the waiting task is marked failed or success (a cleared
        task keeps it: its next try waits on it).
    :param cancel_on_timeout: cancel the remote job when ``job_timeout`` passes.
    :param max_failed_ratio: the share of rows that may fail before the task fails.
    :param max_poll_failures: consecutive failed status polls (each retried by the hook) before giving up.
    :param labels: labels put on the job where the provider keeps them (OpenAI ``metadata``); refused
        before anything is uploaded where it does not.
    :param destination: where the provider writes the job's output (Vertex: ``gs://bucket/prefix`` or
        ``bq://project.dataset.table``); refused before anything is read unless its scheme is one the
        provider writes to. Part of the input fingerprint: a changed destination is a different job.
    :param land_table_results: when the output went to a table, read its rows back into ``results.jsonl``
        (see :class:`GenAIBatchSensor`); by default only the manifest and the provider's counts are written.
    :param force_resubmit: submit a new job even when an earlier try of this task instance made one for
        the same input, paying again on purpose (templated: a rendered ``"true"``/``"false"`` works). It
        holds for every try while it is set, so set it for one run (e.g. from ``params``).
    :param batch_prices: USD per million tokens by model (``{model: {input, output, cached_input?, cache_write?}}``
        or its JSON), over the connection's ``batch_prices`` and the shipped table, for the manifest's cost
        (templated); checked before anything is uploaded. Only with ``wait_for_completion=True``: the task that
        lands the results prices them (else give it to the sensor).

    Exactly once: the input is validated and translated first, which also gives its fingerprint (a hash
    of the requests as the provider receives them, with provider, model and kind). A try then re-attaches
    to the job an earlier try of the same task instance made (from the task state store, else a lookup
    by idempotency key at the provider) only if that job was made for the same fingerprint and did not
    end FAILED, CANCELLED or EXPIRED; otherwise it submits a new job and logs why. An earlier job's
    results already landed in ``output_uri`` are moved to ``output_uri/superseded/...`` before a new job's
    input keys are written there.
    """

    template_fields = (
        "input",
        "model",
        "display_name",
        "output_uri",
        "conn_id",
        "labels",
        "force_resubmit",
        "destination",
        "land_table_results",
        "batch_prices",
    )
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
        force_resubmit: bool | str = False,
        destination: str | None = None,
        land_table_results: bool | str = False,
        batch_prices: Any = None,
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
        self.force_resubmit = force_resubmit
        self.destination = destination
        self.land_table_results = land_table_results
        self.batch_prices = batch_prices

    def execute(self, context: Any) -> dict[str, Any]:
        hook = get_hook(self.conn_id)
        ti = context["ti"]
        key = idempotency_key(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1))
        force = as_bool("force_resubmit", self.force_resubmit)
        as_bool("land_table_results", self.land_table_results)  # a bad switch fails now, not once the job ends
        price_table(hook.provider, self.batch_prices)  # bad prices fail before anything is uploaded
        if self.batch_prices is not None and not self.wait_for_completion:
            raise GenAIBatchError(
                "batch_prices prices the manifest where the results land: give it to the GenAIBatchSensor that "
                "lands them (or set wait_for_completion=True); this task does not land results"
            )
        prepared = self._prepare(hook)
        try:
            earlier = self._earlier_job(context, hook, key, prepared)
            if earlier is not None and not force and self._reusable(earlier):
                ref = self._reattach(hook, earlier, key, prepared)
                remember(context, ref)
            else:
                if earlier is not None and force:
                    self.log.warning(
                        "force_resubmit is set: not re-attaching to %s (%s), submitting a new job for the same input",
                        earlier.name,
                        earlier.state.value,
                    )
                ref = self._submit(context, hook, key, prepared, superseded=earlier)
        finally:
            prepared.cleanup()
        if self.wait_for_completion:
            return self.wait_for(context, ref)
        return ref.to_xcom()

    def _earlier_job(self, context: Any, hook: BatchHook[Any], key: str, prepared: PreparedInput) -> BatchJob | None:
        """The job an earlier try of this task instance made for this same input, from the state store or the provider.

        A stored job made for another input (or for an unknown one) is not it: the change is logged, and the
        provider is asked for a job with this key and this input's fingerprint instead.
        """
        fingerprint = prepared.fingerprint
        stored = recall(context)
        if stored is not None:
            if stored.input_fingerprint == fingerprint:
                try:
                    job = hook.get_batch(stored.job_name)
                except NotFoundError:
                    self.log.warning("stored job %s no longer exists; looking for another", stored.job_name)
                else:
                    self.log.info("found %s (%s) in the task state store", job.name, job.state.value)
                    return job
            else:
                self._log_input_changed(hook, stored, prepared)
        found = hook.find_batch(key, input_fingerprint=fingerprint, not_before=lookup_floor(context))
        if found is not None:
            self.log.info(
                "found %s (%s) by idempotency key %s and input fingerprint %s",
                found.name,
                found.state.value,
                key,
                fingerprint[:FINGERPRINT_SHOWN],
            )
        return found

    def _log_input_changed(self, hook: BatchHook[Any], stored: BatchJobRef, prepared: PreparedInput) -> None:
        """Say why the stored job is not re-attached to: what changed, and whether that job still runs."""
        new = prepared.fingerprint[:FINGERPRINT_SHOWN]
        if stored.input_fingerprint is None:
            why = f"job {stored.job_name} records no input fingerprint, so it cannot be shown to match this input"
        else:
            old = stored.input_fingerprint[:FINGERPRINT_SHOWN]
            counts = (
                f"{stored.request_count} -> {prepared.summary.count} requests"
                if stored.request_count is not None and stored.request_count != prepared.summary.count
                else f"{prepared.summary.count} requests, contents or settings changed"
            )
            why = f"the input changed since job {stored.job_name} was submitted (fingerprint {old} -> {new}; {counts})"
        self.log.warning("%s: not re-attaching to it; looking for a job made for this input, else submitting one", why)
        try:
            state = hook.get_batch(stored.job_name).state
        except (GenAIBatchError, httpx.TransportError):
            return
        if not state.is_terminal:
            self.log.warning(
                "%s is still %s and no longer waited on by this task: cancel it (GenAIBatchCancelJobOperator) "
                "if its results are not wanted",
                stored.job_name,
                state.value,
            )

    def _reusable(self, job: BatchJob) -> bool:
        if job.state in RESUBMIT_STATES:
            self.log.warning("the earlier job %s ended %s; submitting a new one", job.name, job.state.value)
            return False
        return True

    def _reattach(self, hook: BatchHook[Any], job: BatchJob, key: str, prepared: PreparedInput) -> BatchJobRef:
        """A reference to ``job``, made for this same input; its keys are (re)written for the later join."""
        self.log.info("re-attaching to %s: it was made for this same input, not submitting again", job.name)
        keys_uri = self._write_keys(prepared, keep_job=job.name)
        return self._ref(hook, job, key, prepared, keys_uri)

    def _submit(
        self, context: Any, hook: BatchHook[Any], key: str, prepared: PreparedInput, superseded: BatchJob | None
    ) -> BatchJobRef:
        keys_uri = self._write_keys(prepared, keep_job=None)
        job = self._create(hook, prepared, key, context, superseded.name if superseded is not None else None)
        self.log.info(
            "created %s job %s with %d requests (%d bytes), input fingerprint %s",
            hook.provider,
            job.name,
            prepared.summary.count,
            prepared.summary.total_bytes,
            prepared.fingerprint[:FINGERPRINT_SHOWN],
        )
        ref = self._ref(hook, job, key, prepared, keys_uri)
        remember(context, ref)  # at once: a try that dies after the create still finds its job
        return ref

    def _write_keys(self, prepared: PreparedInput, keep_job: str | None) -> str | None:
        """Write the input keys under ``output_uri``, after moving aside results landed there by another job."""
        if not self.output_uri:
            return None
        directory = output_dir(self.output_uri)
        moved = set_aside(directory, keep_job=keep_job)
        if moved is not None:
            self.log.warning("results landed earlier in %s by another job were moved to %s", directory, moved)
        return str(write_keys(directory, prepared.iter_keys()))

    def _prepare(self, hook: BatchHook[Any]) -> PreparedInput:
        """Check the connection, labels and destination, then validate and translate the input; nothing is
        uploaded yet."""
        hook.check_submittable()
        hook.check_labels(self._labels())
        hook.check_destination(self._destination())
        return prepare_input(
            self.input,
            hook.dialect,
            model=self.model,
            embeddings=self.embeddings,
            storage=hook,
            destination=self._destination(),
        )

    def _destination(self) -> str | None:
        """The destination as rendered; an empty one (a template that rendered nothing) is none."""
        destination = self.destination.strip() if isinstance(self.destination, str) else self.destination
        return destination or None

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

    def _create(
        self, hook: BatchHook[Any], prepared: PreparedInput, key: str, context: Any, superseded: str | None
    ) -> BatchJob:
        display_name = self.display_name or f"{context['ti'].dag_id}.{context['ti'].task_id}"
        source: FileSource | InlineSource
        if prepared.inline is not None:
            source = InlineSource(prepared.inline)
        elif prepared.in_place_uri is not None:
            self.log.info("the job reads its input in place from %s: nothing uploaded", prepared.in_place_uri)
            source = FileSource(prepared.in_place_uri)
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
            input_fingerprint=prepared.fingerprint,
            replaces=superseded,
            endpoint=prepared.endpoint,
            labels=self._labels(),
            destination=self._destination(),
        )
        return self._create_once(
            hook, spec, superseded, lambda: hook.create_batch(spec), not_before=lookup_floor(context)
        )

    def _create_once(
        self,
        hook: BatchHook[Any],
        spec: BatchSpec,
        superseded: str | None,
        create: Callable[[], BatchJob],
        not_before: datetime | None = None,
    ) -> BatchJob:
        """Create, retrying a transient failure only once a lookup by key and fingerprint shows no job was made.

        Creation is not idempotent: a create whose answer was lost may still have made the job. The job this
        submit replaces (``superseded``) is not taken for it. Where a provider cannot be searched by key, a
        failed create is not retried. The lookup reads no job created before ``not_before`` (see
        :func:`~airflow_provider_genai_batch.idempotency.lookup_floor`).
        """
        key = spec.idempotency_key
        attempts = Attempts(hook.settings.retry_policy)
        while True:
            try:
                return create()
            except Exception as err:
                if key is None or not is_transient_error(err) or not hook.capabilities.find_by_key:
                    raise
                job = hook.find_batch(key, input_fingerprint=spec.input_fingerprint, not_before=not_before)
                if job is not None and job.name != superseded and job.state not in RESUBMIT_STATES:
                    self.log.warning("create failed (%s) but job %s exists: using it", err, job.name)
                    return job
                wait = attempts.next_wait(None)
                if wait is None:
                    raise
                self.log.warning("create failed (%s) and no job exists; retrying in %.1f s", err, wait)
                time.sleep(wait)

    def _ref(
        self, hook: BatchHook[Any], job: BatchJob, key: str, prepared: PreparedInput, keys_uri: str | None
    ) -> BatchJobRef:
        return BatchJobRef(
            provider=hook.provider,
            conn_id=self.conn_id,
            job_name=job.name,
            idempotency_key=key,
            input_fingerprint=prepared.fingerprint,
            request_count=prepared.summary.count,
            keys_uri=keys_uri,
            output_uri=self.output_uri,
            embeddings=self.embeddings,
            destination=self._destination(),
            console_url=job_page(hook, job.name),
        )
