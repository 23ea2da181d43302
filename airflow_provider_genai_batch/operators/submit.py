"""Submitting a batch: validate, upload, create exactly once per task instance and input, optionally wait."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, closing
from datetime import datetime, timedelta, timezone
from itertools import chain
from pathlib import PurePath
from typing import Any

import httpx
from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_provider_genai_batch.cancel import ENDING_STATES
from airflow_provider_genai_batch.completion import (
    BatchCompletionMixin,
    as_bool,
    as_count,
    as_interval,
    as_location,
    as_ratio,
    as_timedelta,
)
from airflow_provider_genai_batch.consoles import job_page
from airflow_provider_genai_batch.earlier_results import landed_manifest, set_aside
from airflow_provider_genai_batch.errors import GenAIBatchError, InputValidationError, NotFoundError
from airflow_provider_genai_batch.filesystems import directory_place
from airflow_provider_genai_batch.formats.keys import key_line, read_key_line
from airflow_provider_genai_batch.group_landing import REPLACED_FILE
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import get_hook
from airflow_provider_genai_batch.hooks.retry import Attempts, is_refused_post, is_transient_error
from airflow_provider_genai_batch.hooks.status_poll import gone_at
from airflow_provider_genai_batch.idempotency import idempotency_key, lookup_floor, part_key, retried, tag_file_name
from airflow_provider_genai_batch.inputs import PreparedInput, prepare_input
from airflow_provider_genai_batch.job_ref import BatchJobRef, PartCreate, PartRef, recall, remember, remember_creating
from airflow_provider_genai_batch.key_index import KeyFilter
from airflow_provider_genai_batch.keyless_jobs import (
    landed_ref,
    mark_create_intent,
    may_have_created,
    other_map_indexes_jobs,
    part_refusal,
    possible_earlier_jobs,
    refusal,
    unnamed_part_jobs,
)
from airflow_provider_genai_batch.landing import (
    DUPLICATES_FILE,
    KEYS_FILE,
    MANIFEST_FILE,
    RESULTS_FILE,
    UNMATCHED_FILE,
    KeysFile,
    KeysProblem,
    check_output_uri,
    file_digest,
    keys_problem,
    output_dir,
    partial_tag,
    write_keys,
)
from airflow_provider_genai_batch.links import GenAIBatchJobLink
from airflow_provider_genai_batch.mapped_outputs import claim_output_dir
from airflow_provider_genai_batch.models import BatchJob, JobState, ResultsManifest
from airflow_provider_genai_batch.operators.submission import (
    FINGERPRINT_SHOWN,
    RESUBMIT_STATES,
    ROUNDS_RESEND_STATES,
    GroupSubmission,
    JobSettings,
    PlannedPart,
    drop_refused_upload,
    marked_create,
    part_label,
    resubmit_reason,
    title,
    upload_once,
)
from airflow_provider_genai_batch.parts import SplitLimits
from airflow_provider_genai_batch.plan import build_plan
from airflow_provider_genai_batch.polling import DEFAULT_MAX_POLL_FAILURES
from airflow_provider_genai_batch.prices import price_table
from airflow_provider_genai_batch.rendered import rendered_mapping
from airflow_provider_genai_batch.retryable import follow_up_keys
from airflow_provider_genai_batch.spec import BatchKind, BatchSpec, FileSource, InlineSource, is_table_uri

DRY_RUN_ERRORS = 1000
"""The most input problems a dry run collects (and lists); it counts them all."""
DRY_RUN_PLAN_XCOM_KEY = "dry_run_plan"
"""The XCom key a dry run that found problems in its input pushes its plan under, before it fails."""
MAX_PARTS = 1_000
"""The most jobs one task makes, its input's parts and its follow-up rounds' together: its job ref, naming every one,
travels in XCom and trigger kwargs, and every job is polled each interval."""
LIMIT_PARAMS = ("max_requests_per_job", "max_bytes_per_job", "max_input_tokens_per_job")
ROUND_KEYS_FILE = "input_keys.round-{round}.jsonl"
"""The keys a follow-up round sent again, under ``output_uri``, in input order."""


class GenAIBatchSubmitOperator(BatchCompletionMixin, BaseOperator):
    """Submit one batch job to the provider behind ``conn_id``; the same DAG works for every provider.

    :param conn_id: a GenAI batch connection; its type picks the provider.
    :param model: the model, as the provider names it.
    :param input: a JSONL path or URI (local, ``s3://``, ``gs://``, ...; text, a ``Path`` or an
        ``ObjectStoragePath``) or a list of request dicts
        (canonical ``{"key", "request"}`` or SDK-style ``{"key", "contents", "config"}``). Where the provider
        has storage of its own, an object there (Vertex: ``gs://``) is read through its hook and, when it
        needs no rewriting, the job reads it in place (nothing is uploaded); a table it reads
        (``bq://project.dataset.table``) is the input as it is: its row count and keys are checked, and
        its data version stands in for the requests in the fingerprint.
    :param display_name: job display name; the idempotency key is appended to it.
    :param output_uri: directory for the results and manifest (and the input keys, for the join): an absolute
        path or a URI, as text, a ``Path`` or an ``ObjectStoragePath``.
    :param embeddings: submit an embeddings batch instead of a generation batch.
    :param wait_for_completion: wait for the job and return the results manifest, not the job ref.
    :param deferrable: wait in the triggerer instead of occupying a worker slot.
    :param poll_interval: seconds (or a ``timedelta``) between status polls.
    :param job_timeout: how long to wait before giving up (and cancelling, see ``cancel_on_timeout``): a
        ``timedelta`` or seconds.
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
        lands the results prices them (else give it to the sensor). A dry run prices its plan with them.
    :param max_requests_per_job: at most this many requests in one job (templated); an input with more is split
        into parts, each its own job. The provider's own limits (requests, bytes) split an input too.
    :param max_bytes_per_job: at most this many bytes (as the provider receives them) in one job (templated).
    :param max_input_tokens_per_job: at most this many input tokens, as estimated from the request text, in one
        job (templated): for providers that cap the tokens a batch may have enqueued.
    :param max_concurrent_jobs: at most this many parts of a split input run at once; the others are uploaded
        and wait, and are created as parts end (needs ``wait_for_completion=True``: this task creates them).
        None runs every part at once.
    :param retry_failed_rows: after the jobs end, send again the rows whose result was retryable (failed with a
        retryable provider error, expired or missing; never an invalid request or a safety block), at most this
        many follow-up rounds; each round's results replace the earlier ones (needs ``wait_for_completion=True``).
    :param dry_run: validate, translate and split the input and return the plan (parts, requests, bytes,
        estimated input tokens and cost, every problem in the input) without looking a job up, uploading or
        creating one (templated); the output place is asked about as a submit asks before it uploads (a Vertex
        table, bucket or dataset; whether the connection may read the results back from a Vertex Cloud Storage
        folder or a Bedrock output_s3_uri). With problems in the input the task
        fails, after logging the plan and every problem and pushing the plan to XCom under ``dry_run_plan``.

    Exactly once: the input is validated and translated first, which also gives its fingerprint (a hash
    of the requests as the provider receives them, with provider, model and kind). A try then re-attaches
    to the job an earlier try of the same task instance made (from the task state store, else a lookup
    by idempotency key at the provider) only if that job was made for the same fingerprint and did not
    end FAILED, CANCELLED or EXPIRED (nor is being cancelled); otherwise it submits a new job and logs why. An
    earlier job's results already landed in ``output_uri`` are moved to ``output_uri/superseded/...`` before a
    new job's input keys are written there.

    Split inputs: every part is found again or created exactly once by its own idempotency key and fingerprint
    (a retry re-attaches to the parts that exist and creates only the missing ones), every part is uploaded
    before the task waits, and the job reference names them all (``parts``).
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
        "max_requests_per_job",
        "max_bytes_per_job",
        "max_input_tokens_per_job",
        "dry_run_mode",
    )
    operator_extra_links = (GenAIBatchJobLink(),)
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        conn_id: str,
        model: str,
        input: str | PurePath | ObjectStoragePath | Sequence[Mapping[str, Any]],
        display_name: str | None = None,
        output_uri: str | PurePath | ObjectStoragePath | None = None,
        embeddings: bool = False,
        wait_for_completion: bool = False,
        deferrable: bool = True,
        poll_interval: float | timedelta = 60.0,
        job_timeout: timedelta | float = timedelta(hours=48),
        cancel_on_kill: bool = True,
        cancel_on_timeout: bool = True,
        max_failed_ratio: float = 0.0,
        max_poll_failures: int = DEFAULT_MAX_POLL_FAILURES,
        labels: Mapping[str, str] | str | None = None,
        force_resubmit: bool | str = False,
        destination: str | None = None,
        land_table_results: bool | str = False,
        batch_prices: Any = None,
        max_requests_per_job: int | str | None = None,
        max_bytes_per_job: int | str | None = None,
        max_input_tokens_per_job: int | str | None = None,
        max_concurrent_jobs: int | None = None,
        retry_failed_rows: int = 0,
        dry_run: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if wait_for_completion and not output_uri:
            raise ValueError("wait_for_completion=True needs output_uri: the results are written there")
        for name, value in zip(
            LIMIT_PARAMS, (max_requests_per_job, max_bytes_per_job, max_input_tokens_per_job), strict=True
        ):
            if not _is_template(value):
                positive_limit(name, value)
        if max_concurrent_jobs is not None:
            if isinstance(max_concurrent_jobs, str):  # not templated: a number in the DAG
                raise ValueError(f"max_concurrent_jobs must be a positive whole number, got {max_concurrent_jobs!r}")
            positive_limit("max_concurrent_jobs", max_concurrent_jobs)
            if not wait_for_completion:
                raise ValueError(
                    "max_concurrent_jobs needs wait_for_completion=True: the parts over the cap are created by this "
                    "task as earlier parts end"
                )
        if isinstance(retry_failed_rows, bool) or not isinstance(retry_failed_rows, int) or retry_failed_rows < 0:
            raise ValueError(
                f"retry_failed_rows must be a whole number of rounds, 0 or more, got {retry_failed_rows!r}"
            )
        if retry_failed_rows and not wait_for_completion:
            raise ValueError(
                "retry_failed_rows needs wait_for_completion=True: the rows to send again are read from the results "
                "this task lands, and sent from its input"
            )
        self.max_requests_per_job = max_requests_per_job
        self.max_bytes_per_job = max_bytes_per_job
        self.max_input_tokens_per_job = max_input_tokens_per_job
        self.max_concurrent_jobs = max_concurrent_jobs
        self.retry_failed_rows = retry_failed_rows
        self.dry_run_mode = dry_run
        """``dry_run`` (``BaseOperator.dry_run`` is a method of its own)."""
        self.conn_id = conn_id
        self.model = model
        self.input = as_location(input)
        self.display_name = display_name
        self.output_uri = as_location(output_uri)
        self.embeddings = embeddings
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = as_interval("poll_interval", poll_interval)
        self.job_timeout = as_timedelta("job_timeout", job_timeout)
        self.cancel_on_kill = cancel_on_kill
        self.cancel_on_timeout = cancel_on_timeout
        self.max_failed_ratio = as_ratio("max_failed_ratio", max_failed_ratio)
        self.max_poll_failures = as_count("max_poll_failures", max_poll_failures)
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
        dry_run = as_bool("dry_run", self.dry_run_mode)
        as_bool("land_table_results", self.land_table_results)  # a bad switch fails now, not once the job ends
        price_table(hook.provider, self.batch_prices)  # bad prices fail before anything is uploaded
        if self.wait_for_completion or self.output_uri:
            check_output_uri(self.output_uri)  # as rendered: before anything is uploaded, not once the job ended
        if self.output_uri:
            check_input_apart(as_location(self.input), self.output_uri)
        if self.batch_prices is not None and not self.wait_for_completion and not dry_run:
            raise GenAIBatchError(
                "batch_prices prices the manifest where the results land: give it to the GenAIBatchSensor that "
                "lands them (or set wait_for_completion=True); this task does not land results"
            )
        if dry_run:
            return self._dry_run(context, hook)
        if self.output_uri:
            claim_output_dir(context, self.output_uri)  # mapped instances sharing it: refused before any upload
        if self.retry_failed_rows and (problem := self._jobs_problem(hook, 1)) is not None:
            raise problem  # before the input is read
        prepared = self._prepare(hook)
        try:
            if (problem := self._jobs_problem(hook, len(prepared.parts))) is not None:
                raise problem
            # An input whose earlier try sent follow-up rounds stays a group, retry_failed_rows set or not: those
            # rounds answered rows of its jobs, which are re-attached to, not paid for again.
            stored = self._recalled(context, hook, key)
            self._check_no_unnamed_part(context, hook, stored, prepared, force)
            if len(prepared.parts) > 1 or self.retry_failed_rows or _rounds_sent_from(stored, prepared):
                ref = self._submit_group(context, hook, key, prepared, force)
            else:
                ref = self._submit_one(context, hook, key, prepared, force)
        finally:
            prepared.cleanup()
        if self.wait_for_completion:
            return self.wait_for(context, ref)
        return ref.to_xcom()

    def _submit_one(
        self, context: Any, hook: BatchHook[Any], key: str, prepared: PreparedInput, force: bool
    ) -> BatchJobRef:
        """An input that goes as one job: re-attach to the job an earlier try made for it, else create it.

        With no stored ref naming follow-up rounds, a job found at the provider whose follow-up rounds it lists is
        waited on with them as a group, as a stored ref naming those rounds would have it (:func:`_rounds_sent_from`),
        when this task waits (its follow-up finds the rounds again); a job that answered every request sent no round,
        so nothing more is looked up for it. With no job found (the provider no longer has it: deleted, or aged out),
        the answers landed under ``output_uri`` are read back when shown to be its own (:meth:`_read_back_one`).
        """
        stored = self._recalled(context, hook, key)
        earlier = self._earlier_job(context, hook, key, prepared, stored)
        if (
            (stored is None or not _sent_rounds(stored))
            and (self.wait_for_completion or self.output_uri)
            and earlier is not None
            and earlier.state.is_terminal
            and not _answered_whole(earlier)
            and not force
            and self._round_listed(context, hook, key, 1)
        ):
            self.log.info("%s sent follow-up rounds in an earlier try: waiting on it with them", earlier.name)
            return self._submit_group(context, hook, key, prepared, force)
        if (
            earlier is None
            and not force
            and (read_back := self._read_back_one(context, hook, key, prepared)) is not None
        ):
            return read_back
        if earlier is not None and not force and self._reusable(earlier):
            ref = self._reattach(hook, earlier, key, prepared)
            remember(context, ref)
            return ref
        if earlier is not None and force:
            self.log.warning(
                "force_resubmit is set: not re-attaching to %s (%s), submitting a new job for the same input",
                earlier.name,
                earlier.state.value,
            )
        if earlier is None:
            self._check_no_unfound_job(context, hook, [prepared.summary.count], stored, force)
        return self._submit(context, hook, key, prepared, superseded=earlier, stored=stored)

    def _earlier_job(
        self, context: Any, hook: BatchHook[Any], key: str, prepared: PreparedInput, stored: BatchJobRef | None
    ) -> BatchJob | None:
        """The job an earlier try of this task instance made for this same input, from the ``stored`` ref or the
        provider.

        A stored job made for another input (or for an unknown one, or for a part of this one) is not it: the
        change is logged, and the provider is asked for a job with this key and this input's fingerprint instead.
        """
        fingerprint = prepared.fingerprint
        if stored is not None:
            name = _whole_input_job(stored, fingerprint)
            if name is not None:
                try:
                    job = hook.get_batch(name)
                except NotFoundError:
                    self.log.warning("stored job %s no longer exists; looking for another", name)
                else:
                    self.log.info("found %s (%s) in the task state store", job.name, job.state.value)
                    return job
            else:
                self._log_input_changed(hook, stored, prepared)
                self._warn_still_running(hook, stored.job_names())
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

    def _recalled(self, context: Any, hook: BatchHook[Any], key: str) -> BatchJobRef | None:
        """This task instance's job reference: from the task state store (or XCom), else, where the provider's jobs
        carry no key to be found by, from the manifest this task instance landed under ``output_uri``."""
        stored = recall(context)
        if stored is not None:
            return stored
        landed = landed_ref(hook, self.output_uri, key)
        if landed is not None:
            self.log.info("no stored job reference: taking the one of the results landed in %s", self.output_uri)
        return landed

    def _check_no_unfound_job(
        self,
        context: Any,
        hook: BatchHook[Any],
        request_counts: Sequence[int],
        stored: BatchJobRef | None,
        force: bool,
    ) -> None:
        """Refuse, before anything is uploaded or created, a retry or clear whose earlier try may have made a job
        that cannot be found: the provider's jobs carry no key, nothing names the job, an earlier try may have sent
        a create (:func:`~airflow_provider_genai_batch.keyless_jobs.may_have_created`), and the provider lists one of
        this input's size since the run could start (:func:`~airflow_provider_genai_batch.keyless_jobs.refusal`).
        Then record that this try is about to create (unless ``force``, it was not refused)."""
        if hook.capabilities.find_by_key:
            return
        try_number = getattr(context["ti"], "try_number", 1) or 1
        if not force and try_number > 1 and may_have_created(context):
            floor = lookup_floor(context)
            named = set(stored.job_names()) if stored is not None else set()
            others = other_map_indexes_jobs(context["ti"])
            try:
                jobs = possible_earlier_jobs(hook, floor, set(request_counts), named, others)
            except (GenAIBatchError, httpx.TransportError) as err:
                raise GenAIBatchError(
                    f"this is try {try_number} of the task, no task state store or landed manifest names the job an "
                    f"earlier try made, and {hook.provider} jobs carry no key to find it by; the provider's jobs could "
                    f"not be listed to see whether one was made ({err}), so no job is created, which could pay for the "
                    "same requests twice. Retry later, or set force_resubmit=True for this run to create a new job"
                ) from err
            if jobs:
                raise refusal(hook.provider, try_number, jobs, floor)
        mark_create_intent(context)

    def _check_no_unnamed_part(
        self, context: Any, hook: BatchHook[Any], stored: BatchJobRef | None, prepared: PreparedInput, force: bool
    ) -> None:
        """Refuse, before anything is uploaded or created, a try whose stored ref marks a part as being created with no
        job named for it (an earlier try died between the create and storing the job's name, where jobs carry no key)
        when this try would create that part again and the provider lists a job that try may have made
        (:func:`~airflow_provider_genai_batch.keyless_jobs.unnamed_part_jobs`)."""
        creating = stored.creating if stored is not None else None
        if stored is None or creating is None or force or hook.capabilities.find_by_key:
            return
        if not self._sends_again(creating, stored, prepared):
            self.log.warning(
                "an earlier try went on to create the job of a part (key %s, %d requests) and stopped before it "
                "stored the job's name; this try does not send that part again (the input changed, or its round is "
                "past retry_failed_rows), so a job made for it is named by nothing and not waited on by this task",
                creating.idempotency_key,
                creating.request_count,
            )
            return
        try_number = getattr(context["ti"], "try_number", 1) or 1
        try:
            jobs = unnamed_part_jobs(hook, stored, creating, other_map_indexes_jobs(context["ti"]))
        except (GenAIBatchError, httpx.TransportError) as err:
            raise GenAIBatchError(
                f"this is try {try_number} of the task; an earlier try went on to create the job of a part (key "
                f"{creating.idempotency_key}) and stopped before it stored the job's name, and {hook.provider} jobs "
                f"carry no key to find it by; the provider's jobs could not be listed to see whether one was made "
                f"({err}), so no job is created, which could pay for the same requests twice. Retry later, or set "
                "force_resubmit=True for this run to create every part again"
            ) from err
        if jobs:
            raise part_refusal(hook.provider, try_number, creating, jobs)
        self.log.info(
            "an earlier try went on to create the job of a part (key %s) and stopped before it stored the job's name; "
            "no job of its %d requests made since is listed: creating it",
            creating.idempotency_key,
            creating.request_count,
        )

    def _sends_again(self, creating: PartCreate, stored: BatchJobRef, prepared: PreparedInput) -> bool:
        """Whether this try may send the requests of the part ``creating`` marks again: a part (of any round) with the
        lines of one of this input's parts, or of the whole input (a failed part is created again with the rows its
        follow-up round sent); a follow-up round's part of this same input, within ``retry_failed_rows`` rounds (a
        round past it is not sent again where jobs cannot be looked up by key)."""
        if creating.input_fingerprint in {prepared.fingerprint, *(part.fingerprint for part in prepared.parts)}:
            return True
        return 0 < creating.round <= self.retry_failed_rows and stored.input_fingerprint == prepared.fingerprint

    def _log_input_changed(self, hook: BatchHook[Any], stored: BatchJobRef, prepared: PreparedInput) -> None:
        """Say why the stored job (or group of jobs) is not re-attached to as it is: what changed."""
        new = prepared.fingerprint[:FINGERPRINT_SHOWN]
        jobs, were = (
            (f"job {stored.job_name}", "was")
            if not stored.is_group
            else (f"the {len(stored.job_names())} jobs from {stored.job_name}", "were")
        )
        if stored.input_fingerprint is None:
            why = f"{jobs} records no input fingerprint, so it cannot be shown to match this input"
        elif stored.input_fingerprint == prepared.fingerprint:
            why = (
                f"the same input (fingerprint {new}) is now cut into {len(prepared.parts)} part(s), not into "
                f"{_first_round_size(stored)} as when {jobs} {were} submitted"
            )
        else:
            old = stored.input_fingerprint[:FINGERPRINT_SHOWN]
            counts = (
                f"{stored.request_count} -> {prepared.summary.count} requests"
                if stored.request_count is not None and stored.request_count != prepared.summary.count
                else f"{prepared.summary.count} requests, contents or settings changed"
            )
            why = f"the input changed since {jobs} {were} submitted (fingerprint {old} -> {new}; {counts})"
        self.log.warning("%s: not re-attaching to it; looking for a job made for this input, else submitting one", why)

    def _warn_still_running(self, hook: BatchHook[Any], names: Sequence[str]) -> None:
        """Warn about each of ``names``, jobs this task no longer waits on, that still runs (and is not being
        cancelled)."""
        for name in names:
            try:
                state = hook.get_batch(name).state
            except (GenAIBatchError, httpx.TransportError):
                continue
            if state not in ENDING_STATES:
                self.log.warning(
                    "%s is still %s and no longer waited on by this task: cancel it (GenAIBatchCancelJobOperator) "
                    "if its results are not wanted",
                    name,
                    state.value,
                )

    def _reusable(self, job: BatchJob) -> bool:
        if job.state in RESUBMIT_STATES:
            self.log.warning("the earlier job %s %s; submitting a new one", job.name, resubmit_reason(job.state))
            return False
        return True

    def _reattach(self, hook: BatchHook[Any], job: BatchJob, key: str, prepared: PreparedInput) -> BatchJobRef:
        """A reference to ``job``, made for this same input; its keys are (re)written for the later join."""
        self.log.info("re-attaching to %s: it was made for this same input, not submitting again", job.name)
        keys = self._write_keys(prepared, key, keep_job=job.name)
        return self._ref(hook, job.name, key, prepared, keys)

    def _submit(
        self,
        context: Any,
        hook: BatchHook[Any],
        key: str,
        prepared: PreparedInput,
        superseded: BatchJob | None,
        stored: BatchJobRef | None,
    ) -> BatchJobRef:
        """Create the input's one job (replacing ``superseded``), ``stored`` (the ref recalled) marked as creating it
        meanwhile where jobs carry no key (see :func:`marked_create`)."""
        self._check_new_output(hook)
        keys = self._write_keys(prepared, key, keep_job=None)
        job = self._create(hook, prepared, key, context, superseded.name if superseded is not None else None, stored)
        self.log.info(
            "created %s job %s with %d requests (%d bytes), input fingerprint %s",
            hook.provider,
            job.name,
            prepared.summary.count,
            prepared.summary.total_bytes,
            prepared.fingerprint[:FINGERPRINT_SHOWN],
        )
        ref = self._ref(hook, job.name, key, prepared, keys)
        remember(context, ref)  # at once: a try that dies after the create still finds its job
        return ref

    def _write_keys(self, prepared: PreparedInput, key: str, keep_job: str | None) -> KeysFile | None:
        """Write the input keys under ``output_uri``, after moving aside results landed there by another job; their
        temporary name is this task's (``key``, its idempotency key)."""
        if not self.output_uri:
            return None
        directory = output_dir(self.output_uri)
        moved = set_aside(directory, keep_job=keep_job)
        if moved is not None:
            self.log.warning("results landed earlier in %s by another job were moved to %s", directory, moved)
        return write_keys(directory, prepared.iter_keys(), owner=partial_tag(key))

    def _prepare(self, hook: BatchHook[Any], **options: Any) -> PreparedInput:
        """Check the connection, model, labels and destination, then validate, translate and split the input; nothing is
        uploaded yet. ``options`` go to :func:`prepare_input` (``only_keys``, ``collect_errors``, ...)."""
        hook.check_submittable()
        check_model(self.model)
        check_display_name(self.display_name)
        hook.check_model(self.model)
        hook.check_labels(self._labels())
        hook.check_destination(self._destination())
        return prepare_input(
            as_location(self.input),  # a path an upstream task returned arrives as the object
            hook.dialect,
            model=self.model,
            embeddings=self.embeddings,
            storage=hook,
            destination=self._destination(),
            split=self._split_limits(hook),
            **options,
        )

    def _split_limits(self, hook: BatchHook[Any]) -> SplitLimits:
        """What one part may hold, as the user set it within what one job of the model holds (the provider's own limits
        are added by preparation)."""
        max_requests = positive_limit("max_requests_per_job", self.max_requests_per_job)
        model_most = hook.max_requests_per_job(self.model, embeddings=self.embeddings)
        if model_most is not None and (max_requests is None or max_requests > model_most):
            max_requests = model_most
        return SplitLimits(
            max_requests=max_requests,
            max_bytes=positive_limit("max_bytes_per_job", self.max_bytes_per_job),
            max_input_tokens=positive_limit("max_input_tokens_per_job", self.max_input_tokens_per_job),
        )

    # --- split inputs and follow-up rounds ------------------------------------------------------------------

    def _submit_group(
        self, context: Any, hook: BatchHook[Any], key: str, prepared: PreparedInput, force: bool
    ) -> BatchJobRef:
        """Every part of the input found again or created exactly once (see :mod:`.submission`); one ref for all."""
        stored = self._recalled(context, hook, key)
        if stored is not None and not (
            stored.input_fingerprint == prepared.fingerprint and _first_round_size(stored) == len(prepared.parts)
        ):
            self._log_input_changed(hook, stored, prepared)
        if stored is None or stored.input_fingerprint != prepared.fingerprint:
            self._check_no_unfound_job(context, hook, [part.request_count for part in prepared.parts], stored, force)
        self._check_can_wait(prepared)
        submission = self._submission(context, hook, key, prepared.endpoint, force)
        planned = submission.look_up(
            prepared.parts,
            round=0,
            first_index=0,
            stored=_stored_parts(stored),
            kept=_round_zero_resent(stored) if not force else (),
        )
        # a stored ref naming no round may be one stored before an earlier try found the rounds again (and died): the
        # provider is asked then too. This task finds the rounds again once it landed round 0, or, when it does not
        # wait, from their keys files now (_rounds_found_again)
        if (self.wait_for_completion or self.output_uri) and (stored is None or not _sent_rounds(stored)):
            submission.keep_resent(planned, lambda: self._round_listed(context, hook, key, 1))
        restored = _later_rounds(stored, planned) if stored is not None and not force else ()
        later = self._rounds_still_whole(hook, restored)
        if not force:
            self._keep_landed(hook, key, prepared, planned)
        if not self._keep_gone(prepared, planned, later):
            restored = later = ()  # a part is sent again: the rounds sent from its earlier job's results no longer hold
        if not all(item.reusable or item.gone for item in planned):
            self._check_new_output(hook)
        first = planned[0].earlier.name if planned[0].earlier is not None else planned[0].gone
        keep = first if all(item.reusable or item.gone for item in planned) else None
        # the rounds sent before that are not waited on now stay in the ref: a round sending the same rows again
        # re-attaches to them, also where the provider cannot look jobs up by key, and also after a death mid-way
        # (with no stored ref, those the landed manifest names, read before the results it names may be moved aside)
        earlier_rounds = () if force else _earlier_rounds(stored, later) or self._landed_rounds(hook, key, stored)
        keys = self._write_keys(prepared, key, keep_job=keep)

        def group(parts: Sequence[PartRef]) -> BatchJobRef:
            return self._group_ref(hook, key, prepared, keys, parts, earlier_rounds)

        if not self.wait_for_completion and (stored is None or not _sent_rounds(stored)):
            found = self._rounds_found_again(context, hook, planned, group)
            if found is not None:
                self.log.info("every part was re-attached to: the sensor waits on the follow-up rounds sent before too")
                return found
            if keep is not None and not all(item.reusable or item.gone for item in planned):
                # a part is sent again: the earlier results go aside
                keys = self._write_keys(prepared, key, keep_job=None)

        def store(done: list[PartRef], creating: PartCreate | None = None) -> None:
            if done:
                remember_creating(context, group(done), creating)
            elif stored is not None:  # no part names a job yet: the stored ref, marked
                remember_creating(context, stored, creating)

        parts = submission.send(planned, store)
        if later:
            self.log.info(
                "every part was re-attached to: waiting on the %d follow-up part(s) sent before too", len(later)
            )
        ref = group([*parts, *later])
        remember(context, ref)
        ref = self._finish_interrupted_round(context, hook, ref)
        if stored is not None:
            # every job the stored ref names that this one does not, rounds' too, but those of rounds whose keys
            # file was replaced: the follow-up sends their rows again and finds them by key
            again = {part.job_name for part in restored if part not in later}
            waited = set(ref.job_names())
            self._warn_still_running(hook, [n for n in stored.job_names() if n not in waited and n not in again])
        self._log_round(prepared, parts, reattached=sum(1 for item in planned if item.reusable))
        return ref

    def _rounds_found_again(
        self,
        context: Any,
        hook: BatchHook[Any],
        planned: Sequence[PlannedPart],
        group: Callable[[Sequence[PartRef]], BatchJobRef],
    ) -> BatchJobRef | None:
        """For a task that does not wait (so cannot send follow-up rounds from the results it lands) and remembers no
        round: the group of the ``planned`` round 0 with the rounds an earlier try sent, each found again by key and
        fingerprint from its keys file under ``output_uri``, when every part is re-attached to, one of them left rows
        unanswered, and round 1 is found; else None, and the parts kept because a round sent their rows again are sent
        again (nothing of them lands otherwise)."""
        resent = [
            item
            for item in planned
            if item.reusable and item.earlier is not None and item.earlier.state in ROUNDS_RESEND_STATES
        ]
        answered_in_part = [
            item.earlier
            for item in planned
            if item.earlier is not None and item.earlier.state.is_terminal and not _answered_whole(item.earlier)
        ]
        if not resent and not answered_in_part:
            return None  # no job left a row for a round to send again
        found: BatchJobRef | None = None
        if self.output_uri and all(item.reusable and item.earlier is not None for item in planned):
            named = [item.ref.model_copy(update={"job_name": item.earlier.name}) for item in planned if item.earlier]
            ref = group(named)
            carried = self._carried_as_landed(ref)
            number = 1
            while True:
                path = output_dir(self.output_uri) / ROUND_KEYS_FILE.format(round=number)
                taken = [
                    part.model_copy(update={"index": len(ref.parts or ()) + position})
                    for position, part in enumerate(p for p in carried if p.round == number)
                ]
                if not taken and not path.exists():
                    break
                ref = ref.model_copy(update={"parts": (*(ref.parts or ()), *taken)})
                whole: BatchJobRef | None = ref
                if path.exists():
                    uri = str(path)
                    with KeyFilter(_round_keys(uri)) as only:
                        why = f"listed in {uri}"
                        whole = self._send_round(
                            context, hook, ref, number, only, why, stored=(), keys=(uri, file_digest(uri)), as_sent=True
                        )
                if whole is None:
                    break
                ref = found = whole
                number += 1
        if found is None:
            for item in resent:
                self.log.warning(
                    "%s: %s %s and the follow-up round that sent its rows again cannot be found again from its keys "
                    "file under output_uri, so this task, which does not wait, cannot hand it to the sensor: sending "
                    "it again",
                    part_label(item.title),
                    item.earlier.name if item.earlier is not None else "its job",
                    resubmit_reason(item.earlier.state) if item.earlier is not None else "ended",
                )
                item.reusable = False
        return found

    def _landed_rounds(self, hook: BatchHook[Any], key: str, stored: BatchJobRef | None) -> tuple[PartRef, ...]:
        """With no stored ref, the follow-up rounds' parts the manifest landed under ``output_uri`` names for this task
        instance (``key``) whose jobs the provider still has and shows were made with their key and fingerprint: kept
        as ``earlier_rounds``, so a round that sends other rows finds the jobs that answered some of them (a round that
        took an earlier round's answers, :meth:`_carry`, is not found by its own key alone)."""
        if stored is not None or not self.output_uri or not hook.capabilities.find_by_key:
            return ()
        landed = landed_manifest(output_dir(self.output_uri))
        if landed is None or landed.job_ref.idempotency_key != key:
            return ()
        kept = []
        for part in landed.job_ref.parts or ():
            if not part.round or part.job_name is None or not _task_round_key(key, part):
                continue
            try:
                job = hook.get_batch(part.job_name)
            except NotFoundError:
                continue
            identity = hook.identity_of(job)
            if identity is not None and identity.matches(part.idempotency_key, part.input_fingerprint):
                kept.append(part)
        return tuple(kept)

    def _carried_as_landed(self, ref: BatchJobRef) -> list[PartRef]:
        """The carried parts (``PartRef.carried``) among ``ref``'s ``earlier_rounds`` (found from the manifest landed
        under ``output_uri``, :meth:`_landed_rounds`) when that manifest's group was made for this same input and
        round 0 is the same jobs as ``ref``'s: each took the answers of the rows it was carried for from those very
        results, so it holds as the round left it. A carried part has no keys file a round's jobs are found from."""
        if not self.output_uri or not ref.earlier_rounds:
            return []
        landed = landed_manifest(output_dir(self.output_uri))
        if landed is None or landed.job_ref.input_fingerprint != ref.input_fingerprint:
            return []
        before = [part.job_name for part in landed.job_ref.parts or () if part.round == 0]
        if before != [part.job_name for part in ref.parts or () if part.round == 0]:
            return []
        return [part for part in ref.earlier_rounds if part.carried]

    def _keep_landed(
        self, hook: BatchHook[Any], key: str, prepared: PreparedInput, planned: Sequence[PlannedPart]
    ) -> None:
        """Keep as gone, its answers read back from the results landed under ``output_uri``, each planned round-0 part
        that no job is found for now when :meth:`_landed_answers` shows those results hold its own answers: it is not
        paid for again."""
        waiting = [item for item in planned if item.earlier is None and item.landed is None]
        answers = self._landed_answers(hook, key, prepared, [(item.ref, item.title) for item in waiting])
        for item in waiting:
            if item.ref.index in answers:
                item.gone, item.landed = answers[item.ref.index]

    def _read_back_one(
        self, context: Any, hook: BatchHook[Any], key: str, prepared: PreparedInput
    ) -> BatchJobRef | None:
        """For an input that goes as one job and no job is found for now: the input as a group of its one part, kept
        gone with its answers read back from the results landed under ``output_uri`` (:meth:`_landed_answers`), so
        that the group landing, the one that reads answers back, lands them; None when those results are not shown
        to be its own (it is created again)."""
        (prepared_part,) = prepared.parts
        part = PartRef(
            index=0,
            idempotency_key=part_key(key, 0, 0),
            input_fingerprint=prepared_part.fingerprint,
            request_count=prepared_part.request_count,
            byte_count=prepared_part.byte_count,
        )
        answers = self._landed_answers(hook, key, prepared, [(part, title(0, 0, 1))])
        if part.index not in answers:
            return None
        gone, landed = answers[part.index]
        keys = self._write_keys(prepared, key, keep_job=gone)
        ref = self._group_ref(hook, key, prepared, keys, [part.model_copy(update={"gone": gone, "landed": landed})])
        remember(context, ref)
        return ref

    def _landed_answers(
        self, hook: BatchHook[Any], key: str, prepared: PreparedInput, wanted: Sequence[tuple[PartRef, str]]
    ) -> dict[int, tuple[str, str]]:
        """Of the round-0 parts ``wanted`` (each with its title), those whose own answers are in the results landed
        under ``output_uri``, by index: the job that made them, which the provider no longer has (deleted, or aged
        out), and those results. The manifest landed there must show it: it is this task instance's (``key``), over
        the same input keys, its results still in place, and names for the part the same key, fingerprint and rows,
        that job, and every row of it succeeded (so no follow-up round replaced any). A manifest of one job names
        the input as its only part."""
        if not wanted or not self.output_uri:
            return {}
        directory = output_dir(self.output_uri)
        landed = landed_manifest(directory)
        if (
            landed is None
            or landed.results_uri != str(directory / RESULTS_FILE)
            or landed.job_ref.idempotency_key != key
            or landed.job_ref.keys_digest != _keys_digest(prepared.iter_keys())
            or not (directory / RESULTS_FILE).exists()
        ):
            return {}
        shown = _landed_round_zero(landed)
        answers: dict[int, tuple[str, str]] = {}
        for part, named in wanted:
            before, job, succeeded = shown.get(part.index, (None, None, None))
            made = (before.job_name or before.gone) if before is not None else None
            if (
                before is None
                or made is None
                or (before.idempotency_key, before.input_fingerprint, before.request_count)
                != (part.idempotency_key, part.input_fingerprint, part.request_count)
                or job != made
                or succeeded != before.request_count
                or not gone_at(hook, made)
            ):
                continue
            self.log.info(
                "%s: its job %s is gone at the provider, and every one of its %d rows succeeded in the results landed "
                "in %s: reading them back from there, not sending it again",
                part_label(named),
                made,
                part.request_count,
                landed.results_uri,
            )
            answers[part.index] = (made, landed.results_uri)
        return answers

    def _keep_gone(self, prepared: PreparedInput, planned: Sequence[PlannedPart], later: Sequence[PartRef]) -> bool:
        """Mark the planned parts whose earlier job is gone at the provider (deleted, or aged out) as answered by the
        follow-up rounds ``later`` when those rounds sent every row of them again: such a part is not paid for again.
        False when a gone part has a row no round sent (its answer is nowhere now): it is sent again whole."""
        gone = [item for item in planned if item.gone is not None and item.landed is None]
        if not gone:
            return True
        resent = _resent_counts(
            prepared.iter_keys(),
            list(_ends(item.ref.request_count for item in planned)),
            sorted({part.keys_uri for part in later if part.keys_uri is not None}),
        )
        unanswered = [item for item in gone if resent[item.ref.index] < item.ref.request_count]
        for item in unanswered:
            self.log.warning(
                "%s: its job %s is gone at the provider and %d of its %d rows were sent again by no follow-up round; "
                "sending it again",
                part_label(item.title),
                item.gone,
                item.ref.request_count - resent[item.ref.index],
                item.ref.request_count,
            )
            item.gone = None
        return not unanswered

    def _rounds_still_whole(self, hook: BatchHook[Any], later: Sequence[PartRef]) -> tuple[PartRef, ...]:
        """The follow-up rounds' parts ``later`` up to the first round whose keys file is gone or holds other keys
        (another task's round into the same output_uri replaced it), or one of whose jobs the provider no longer has
        (deleted, or aged out) with a row no later round sent again: that round's rows are sent again from the results
        this task lands, found again by key where the provider can look jobs up. A part whose job is gone and every
        row of which a later round sent again is kept as gone (:meth:`_answered_rounds`)."""
        kept: list[PartRef] = []
        for part in later:
            if part.keys_uri is not None and part.keys_digest is not None:
                problem = keys_problem(part.keys_uri, part.keys_digest)
                if problem is not None:
                    self.log.warning(
                        "the keys file %s of round %d is %s: not waiting on that round (or any later one) as it was "
                        "sent; its rows are sent again from the results landed now",
                        part.keys_uri,
                        part.round,
                        "gone" if problem is KeysProblem.GONE else "no longer the one the round wrote",
                    )
                    break
            if part.job_name is not None:
                try:
                    hook.get_batch(part.job_name)
                except NotFoundError:
                    part = part.model_copy(update={"job_name": None, "gone": part.job_name})
            kept.append(part)
        return self._answered_rounds(kept)

    def _answered_rounds(self, kept: Sequence[PartRef]) -> tuple[PartRef, ...]:
        """``kept`` (follow-up rounds' parts, in order) up to the first round with a part whose job is gone and a row
        of which no later round of ``kept`` sent again (its answer is nowhere now): that round's rows are sent again."""
        for number in sorted({part.round for part in kept if part.gone is not None}):
            parts = [part for part in kept if part.round == number]
            after = sorted({part.keys_uri for part in kept if part.round > number and part.keys_uri is not None})
            uri = parts[0].keys_uri
            resent = (
                _resent_counts(_round_keys(uri), list(_ends(part.request_count for part in parts)), after)
                if uri is not None
                else [0] * len(parts)
            )
            unanswered = [
                part for part, sent in zip(parts, resent, strict=True) if part.gone and sent < part.request_count
            ]
            for part in unanswered:
                self.log.warning(
                    "job %s of round %d no longer exists at the provider: not waiting on that round (or any later "
                    "one) as it was sent; its rows are sent again from the results landed now",
                    part.gone,
                    part.round,
                )
            if unanswered:
                return tuple(part for part in kept if part.round < number)
            for part in parts:
                if part.gone is not None:
                    self.log.info(
                        "job %s of round %d no longer exists at the provider, and later rounds sent every one of its "
                        "%d rows again: not sending it again",
                        part.gone,
                        part.round,
                        part.request_count,
                    )
        return tuple(kept)

    def create_waiting_parts(self, context: Any, ref: BatchJobRef) -> BatchJobRef:
        """Create the parts waiting for a slot that fit under ``max_concurrent_jobs`` now (each exactly once)."""
        hook = self._hook_for(ref)
        states = {name: hook.get_batch(name).state for name in ref.job_names()}
        force = as_bool("force_resubmit", self.force_resubmit)
        submission = self._submission(context, hook, ref.idempotency_key or "", ref.endpoint, force)

        def with_parts(parts: Sequence[PartRef]) -> BatchJobRef:
            return ref.model_copy(update={"parts": tuple(parts), "creating": None})

        def store(parts: list[PartRef], creating: PartCreate | None = None) -> None:
            remember_creating(context, with_parts(parts), creating)

        updated = with_parts(submission.create_waiting(ref, states, store))
        remember(context, updated)
        waiting = sum(1 for part in updated.parts or () if part.waiting)
        made = len(updated.job_names()) - len(ref.job_names())
        self.log.info("created %d waiting part(s); %d still wait for a free slot", made, waiting)
        return updated

    def follow_up(self, context: Any, ref: BatchJobRef, manifest: ResultsManifest) -> BatchJobRef | None:
        """Send again, as the next round's parts, the rows whose landed result is retryable; None when there is
        no round left or nothing to send. The input must be the one the jobs were made for.

        A round past ``retry_failed_rows`` that an earlier try sent (``retry_failed_rows`` lowered since, or a try
        that found no stored ref and re-attached to its jobs) is waited on as that try left it, never sent anew.
        """
        parts = ref.parts
        if parts is None:
            return None
        done = max(part.round for part in parts)
        as_sent = done >= self.retry_failed_rows
        if as_sent and not self._sent_earlier(context, ref, manifest, done + 1):
            if self.retry_failed_rows:
                self.log.info("no follow-up round left (retry_failed_rows=%d)", self.retry_failed_rows)
            return None
        if manifest.results_uri is None:
            self.log.warning("no results file was landed, so no rows can be sent again (retry_failed_rows)")
            return None
        unmatched = manifest.counts.unmatched
        if unmatched:
            self.log.warning(
                "%d answer(s) matched no key the jobs were sent with (a provider or gateway that renamed or rewrote "
                "the key field, say; they are in %s): the rows that landed missing may be theirs, so they are not "
                "sent again and paid for twice",
                unmatched,
                manifest.unmatched_uri or "the unmatched results file",
            )
        keys = follow_up_keys(manifest.results_uri, missing=not unmatched)
        first_key = next(keys, None)
        if first_key is None:
            self.log.info("no row of %s is retryable: no follow-up round", manifest.results_uri)
            return None
        next_round = done + 1
        hook = self._hook_for(ref)
        with KeyFilter(chain([first_key], keys)) as only:
            fewest = hook.dialect.limits.min_requests
            if len(only) < fewest:
                self.log.warning(
                    "%d row(s) of %s are retryable, fewer than the %d one %s batch needs: no follow-up round",
                    len(only),
                    manifest.results_uri,
                    fewest,
                    hook.provider,
                )
                return None
            why = (
                f"whose result in {manifest.results_uri} is retryable (failed with a retryable provider error, "
                "expired or missing)"
            )
            stored = recall(context)
            return self._send_round(
                context,
                hook,
                ref,
                next_round,
                only,
                why,
                stored=_known_parts(stored if stored is not None and stored.parts else ref),
                as_sent=as_sent,
            )

    def _sent_earlier(self, context: Any, ref: BatchJobRef, manifest: ResultsManifest, round: int) -> bool:
        """Whether an earlier try of this task sent follow-up ``round`` (never with ``force_resubmit``): the provider
        lists its first part's key. Asked only when rows that a round sends again landed (the manifest counts some
        failed, expired or missing)."""
        counts = manifest.counts
        if as_bool("force_resubmit", self.force_resubmit) or not counts.failed + counts.expired + counts.missing:
            return False
        return self._round_listed(context, self._hook_for(ref), ref.idempotency_key or "", round)

    def _round_listed(self, context: Any, hook: BatchHook[Any], task_key: str, round: int) -> bool:
        """Whether the provider lists a job of follow-up ``round`` of this task instance (its first part's key, for
        any rows): where jobs cannot be looked up by key, never."""
        return hook.find_batch(part_key(task_key, round, 0), not_before=lookup_floor(context)) is not None

    def _send_round(
        self,
        context: Any,
        hook: BatchHook[Any],
        ref: BatchJobRef,
        round: int,
        only: KeyFilter,
        why: str,
        *,
        stored: Iterable[PartRef],
        keys: tuple[str, str | None] | None = None,
        as_sent: bool = False,
    ) -> BatchJobRef | None:
        """Send the rows of the input with keys ``only`` as follow-up ``round``'s parts after ``ref``'s earlier rounds,
        each found again (``stored``) or created exactly once; the round's keys are written unless ``keys`` names
        them already (their file and its sha256). The input must be the one the jobs were made for.

        ``as_sent``: a round an earlier try sent, past ``retry_failed_rows``: its jobs are kept as they are and only
        the parts that try did not create are created; None, with nothing written, when none of its jobs was made for
        these rows (that try sent its round from other results). A round sent anew first takes the answers of the
        jobs an earlier try sent as this round for other rows as a whole (:meth:`_carry`), and sends only the rest.
        """
        parts = tuple(part for part in ref.parts or () if part.round < round or (part.round == round and part.carried))
        prepared: PreparedInput | None = self._prepare(hook, only_keys=only)
        carried: list[PartRef] = []
        try:
            assert prepared is not None
            if prepared.fingerprint != ref.input_fingerprint:
                raise GenAIBatchError(
                    f"the input changed since {ref.job_name} was submitted (fingerprint "
                    f"{(ref.input_fingerprint or 'unknown')[:FINGERPRINT_SHOWN]} -> "
                    f"{prepared.fingerprint[:FINGERPRINT_SHOWN]}): its failed rows cannot be sent again from it "
                    "(retry_failed_rows)"
                )
            if (total := len(parts) + len(prepared.parts)) > MAX_PARTS:
                raise InputValidationError(
                    f"follow-up round {round} would go as {len(prepared.parts):,} jobs, taking this task to "
                    f"{total:,} jobs, over the {MAX_PARTS:,} one task submits (its job ref, every round's parts in it, "
                    "travels in XCom and trigger kwargs, and the trigger polls every job): nothing of the round was "
                    "uploaded or created, and the results landed so far stay; lower retry_failed_rows, raise "
                    "max_requests_per_job, max_bytes_per_job or max_input_tokens_per_job, or split the input over "
                    "mapped tasks"
                )
            if not as_sent:
                self.log.warning(
                    "round %d of %d: sending again %d row(s) %s, as %d part(s)",
                    round,
                    self.retry_failed_rows,
                    prepared.summary.count,
                    why,
                    len(prepared.parts),
                )
            self._check_can_wait(prepared)
            force = as_bool("force_resubmit", self.force_resubmit)
            task_key = ref.idempotency_key or ""
            submission = self._submission(context, hook, task_key, prepared.endpoint, force)
            stored = tuple(stored)
            next_sent = any(part.round > round for part in stored)
            kept = [p.job_name for p in stored if p.round == round and p.job_name] if next_sent and not force else ()
            planned = submission.look_up(
                prepared.parts, round=round, first_index=len(parts), stored=stored, kept=kept, as_sent=as_sent
            )
            if not as_sent and not force and keys is None:
                carried, rest = self._carry(hook, round, prepared, stored, planned, first_index=len(parts))
                if rest is not None:
                    prepared.cleanup()
                    with rest:
                        prepared = self._prepare(hook, only_keys=rest) if len(rest) else None
                    planned = []
                    if prepared is not None:
                        self._check_can_wait(prepared)
                        planned = submission.look_up(
                            prepared.parts, round=round, first_index=len(parts) + len(carried), stored=stored, kept=kept
                        )
            if as_sent:
                assert prepared is not None  # nothing is carried into a round taken as it was sent
                if all(item.earlier is None for item in planned):
                    self.log.info(
                        "round %d, sent by an earlier try, was made for other rows than the %d %s: not sending it "
                        "(retry_failed_rows=%d)",
                        round,
                        prepared.summary.count,
                        why,
                        self.retry_failed_rows,
                    )
                    return None
                self.log.warning(
                    "round %d, sent by an earlier try past retry_failed_rows=%d: waiting on it for the %d row(s) %s",
                    round,
                    self.retry_failed_rows,
                    prepared.summary.count,
                    why,
                )
            elif not next_sent:
                submission.keep_resent(planned, lambda: self._round_listed(context, hook, task_key, round + 1))
            if keys is None and prepared is not None:
                written = self._write_round_keys(round, prepared.iter_keys(), task_key)
                keys = (written.uri, written.digest) if written is not None else None
            keys_uri, keys_digest = keys if keys is not None else (None, None)
            for item in planned:
                item.ref = item.ref.model_copy(update={"keys_uri": keys_uri, "keys_digest": keys_digest})
            earlier = (*parts, *carried)

            def group(sent: Sequence[PartRef]) -> BatchJobRef:
                return ref.model_copy(
                    update={
                        "parts": (*earlier, *sent),
                        "max_concurrent_jobs": self.max_concurrent_jobs,
                        "creating": None,
                    }
                )

            def store(made: list[PartRef], creating: PartCreate | None = None) -> None:
                remember_creating(context, group(made), creating)

            sent = submission.send(planned, store)
        finally:
            if prepared is not None:
                prepared.cleanup()
        updated = group(sent)
        remember(context, updated)
        if prepared is not None:
            self._log_round(prepared, sent, reattached=sum(1 for item in planned if item.reusable))
        return updated

    def _carry(
        self,
        hook: BatchHook[Any],
        round: int,
        prepared: PreparedInput,
        stored: Sequence[PartRef],
        planned: Sequence[PlannedPart],
        *,
        first_index: int,
    ) -> tuple[list[PartRef], KeyFilter | None]:
        """The jobs an earlier try sent as follow-up ``round`` that none of the ``planned`` parts re-attaches to (that
        round sent other rows as a whole: an edit changed which rows fail) whose answers this round takes, each as a
        carried part numbered from ``first_index``; with the keys of ``prepared`` (the round's rows) left to send, or
        None when no job is carried.

        A job is carried when it succeeded (wholly or partly), every request it was sent has a row with its key, each
        of those keys is one this round sends again, and its lines read now from the input have its fingerprint
        (the same request bytes: an edited line is sent again). Its answers were paid for once; they are landed by key.
        Nothing is carried when the rows left would be fewer than one job needs (Bedrock: 100).
        """
        reattached = {item.earlier.name for item in planned if item.reusable and item.earlier is not None}
        candidates = {
            part.job_name: part
            for part in stored
            if part.round == round and part.job_name is not None and part.job_name not in reattached
        }
        if not candidates:
            return [], None
        key_of = hook.dialect.provider_key
        carried: list[PartRef] = []
        taken: list[KeyFilter] = []
        with ExitStack() as stack:
            for name, part in candidates.items():
                answered = self._answered_keys(hook, name, part)
                if answered is None:
                    continue
                stack.enter_context(answered)
                with KeyFilter(key for key in prepared.iter_keys() if key_of(key) in answered) as mine:
                    if len(mine) != len(answered) or any(
                        key in mine and any(key_of(key) in other for other in taken) for key in prepared.iter_keys()
                    ):
                        continue  # a row this round does not send again (it succeeded since), or one carried already
                    lines = self._prepare(hook, only_keys=mine)
                try:
                    same = len(lines.parts) == 1 and lines.parts[0].fingerprint == part.input_fingerprint
                finally:
                    lines.cleanup()
                if not same:
                    continue
                self.log.info(
                    "round %d: taking the answers %s (round %d of an earlier try) gave for %d of the rows sent again, "
                    "whose lines are unchanged since: not sending them again",
                    round,
                    name,
                    part.round,
                    part.request_count,
                )
                taken.append(answered)
                carried.append(
                    part.model_copy(
                        update={
                            "index": first_index + len(carried),
                            "carried": True,
                            "keys_uri": None,
                            "keys_digest": None,
                            "upload": None,
                        }
                    )
                )
            if not carried:
                return [], None
            rest = KeyFilter(
                key for key in prepared.iter_keys() if not any(key_of(key) in answered for answered in taken)
            )
        fewest = hook.dialect.limits.min_requests
        if 0 < len(rest) < fewest:
            self.log.info(
                "round %d: the %d row(s) no earlier round answered are fewer than the %d one %s batch needs: sending "
                "every row of the round",
                round,
                len(rest),
                fewest,
                hook.provider,
            )
            rest.close()
            return [], None
        return carried, rest

    def _answered_keys(self, hook: BatchHook[Any], name: str, part: PartRef) -> KeyFilter | None:
        """The keys the rows of job ``name`` (made for ``part``) answer, when it succeeded (wholly or partly) and each
        of its requests has one row with its key; else None."""
        try:
            job = hook.get_batch(name)
        except NotFoundError:
            return None
        if not job.state.is_success:
            return None
        keyless = False

        def keys() -> Iterator[str]:
            nonlocal keyless
            for row in hook.iter_results(job):
                if row.key is None:
                    keyless = True
                else:
                    yield row.key

        answered = KeyFilter(keys())
        if keyless or len(answered) != part.request_count:
            answered.close()
            return None
        return answered

    def _finish_interrupted_round(self, context: Any, hook: BatchHook[Any], ref: BatchJobRef) -> BatchJobRef:
        """``ref`` with its last follow-up round whole: an earlier try that died between the round's creates left
        some of its parts uncreated (the round's keys file holds more rows than its parts), or left parts waiting for
        a slot, whose upload may be gone since (a Gemini file expires after 48 hours); they are created now (or wait),
        from their earlier upload where it is still stored, else uploaded again, each exactly once, and the parts that
        exist are re-attached to. The keys file
        is the round's own: a round whose file is not was left out of ``ref`` (:meth:`_rounds_still_whole`)."""
        last = max((part.round for part in ref.parts or ()), default=0)
        round_parts = [part for part in ref.parts or () if part.round == last and not part.carried]
        keys_uri = round_parts[0].keys_uri if last and round_parts else None
        if keys_uri is None:
            return ref
        sent = sum(part.request_count for part in round_parts)
        waiting = sum(1 for part in round_parts if part.waiting)
        if not waiting and sent >= sum(1 for _ in _round_keys(keys_uri)):
            return ref
        with KeyFilter(_round_keys(keys_uri)) as only:
            why = (
                f"of round {last}, {waiting} of whose parts wait for a slot (uploaded again where their upload is gone)"
                if waiting
                else f"of round {last}, of which an earlier try sent {sent} before it stopped"
            )
            whole = self._send_round(
                context, hook, ref, last, only, why, stored=round_parts, keys=(keys_uri, round_parts[0].keys_digest)
            )
        assert whole is not None  # only a round sent past retry_failed_rows is ever left unsent
        return whole

    def _submission(
        self, context: Any, hook: BatchHook[Any], key: str, endpoint: str | None, force: bool
    ) -> GroupSubmission:
        return GroupSubmission(
            hook,
            JobSettings(
                model=self.model,
                embeddings=self.embeddings,
                display_name=self._display_name(context),
                labels=self._labels(),
                destination=self._destination(),
                endpoint=endpoint,
            ),
            self._create_once,
            self.log,
            task_key=key,
            not_before=lookup_floor(context),
            max_concurrent_jobs=self.max_concurrent_jobs,
            force=force,
            retried=retried(context),
        )

    def _jobs_problem(self, hook: BatchHook[Any], parts: int) -> InputValidationError | None:
        """Why the input cannot go as ``parts`` jobs (plus follow-up rounds, with ``retry_failed_rows``), or None.

        Too many jobs for one task, or several jobs writing their output to one table.
        """
        if parts > MAX_PARTS:
            return InputValidationError(
                f"the input would go as {parts:,} jobs, over the {MAX_PARTS:,} one task submits (its job ref travels "
                "in XCom and the trigger polls every job): raise max_requests_per_job, max_bytes_per_job or "
                "max_input_tokens_per_job, or split the input over mapped tasks"
            )
        destination = self._destination()
        if not is_table_uri(destination) or (parts <= 1 and not self.retry_failed_rows):
            return None
        why = (
            f"the input goes as {parts} jobs" if parts > 1 else "retry_failed_rows sends failed rows again as more jobs"
        )
        return InputValidationError(
            f"{why}, but the destination {destination} is one table, which one {hook.provider} job writes: give a "
            "gs:// destination (each job writes a folder of its own under it), or keep the input within one job's "
            "limits without retry_failed_rows"
        )

    def _new_output_problem(self, hook: BatchHook[Any]) -> InputValidationError | None:
        """Why a new job could not write to the destination as it stands now (a Vertex output table that exists)."""
        problem = hook.new_output_problem(self._destination())
        return InputValidationError(problem) if problem is not None else None

    def _check_new_output(self, hook: BatchHook[Any]) -> None:
        """Refuse, before anything is uploaded, a new job whose output place is taken (a job re-attached to is not
        new: it may have made its output table itself)."""
        problem = self._new_output_problem(hook)
        if problem is not None:
            raise problem

    def _check_can_wait(self, prepared: PreparedInput) -> None:
        """Refuse, before anything is uploaded, parts that would wait for a slot but cannot be created later."""
        problem = self._wait_problem(prepared)
        if problem is not None:
            raise problem

    def _wait_problem(self, prepared: PreparedInput) -> InputValidationError | None:
        """Why some parts past ``max_concurrent_jobs`` could not wait for a slot (they go inline), or None.

        Any part past the cap may have to wait; a part goes inline or as a file by its own size (a Gemini list).
        """
        cap = self.max_concurrent_jobs
        if cap is None:
            return None
        inline = [part.index + 1 for part in prepared.parts[cap:] if part.inline is not None]
        if not inline:
            return None
        if all(part.inline is not None for part in prepared.parts):
            why = f"the input goes inline in {len(prepared.parts)} parts, over max_concurrent_jobs={cap}"
        else:
            shown = ", ".join(map(str, inline[:5])) + (" ..." if len(inline) > 5 else "")
            why = (
                f"part(s) {shown} of the input's {len(prepared.parts)} go inline (each goes inline where it fits) and "
                f"may wait for a free slot (max_concurrent_jobs={cap})"
            )
        return InputValidationError(
            f"{why}: inline requests cannot wait for a free slot: raise max_concurrent_jobs or leave it unset, or, "
            "where the provider takes files, give the requests as a JSONL file"
        )

    def _group_ref(
        self,
        hook: BatchHook[Any],
        key: str,
        prepared: PreparedInput,
        keys: KeysFile | None,
        parts: Sequence[PartRef],
        earlier_rounds: Sequence[PartRef] = (),
    ) -> BatchJobRef:
        first = parts[0].job_name or parts[0].gone
        if first is None:
            raise GenAIBatchError("the first part of a group was not created")
        one = self._ref(hook, first, key, prepared, keys)
        return one.model_copy(
            update={
                "parts": tuple(parts),
                "max_concurrent_jobs": self.max_concurrent_jobs,
                "endpoint": prepared.endpoint,
                "earlier_rounds": tuple(earlier_rounds) or None,
            }
        )

    def _write_round_keys(self, round: int, keys: Iterator[str], task_key: str) -> KeysFile | None:
        """Write a follow-up round's keys (``input_keys.round-<n>.jsonl``) under ``output_uri``, their temporary name
        the task's (``task_key``, its idempotency key)."""
        if not self.output_uri:
            return None
        name = ROUND_KEYS_FILE.format(round=round)
        return write_keys(output_dir(self.output_uri), keys, name, partial_tag(task_key))

    def _log_round(self, prepared: PreparedInput, parts: Sequence[PartRef], reattached: int) -> None:
        waiting = sum(1 for part in parts if part.waiting)
        answered = sum(1 for part in parts if part.gone is not None and part.landed is None)
        read_back = sum(1 for part in parts if part.gone is not None and part.landed is not None)
        self.log.info(
            "%d requests in %d part(s): %d created, %d re-attached, %d waiting for a slot (max_concurrent_jobs=%s)%s%s",
            prepared.summary.count,
            len(parts),
            len(parts) - reattached - waiting - answered - read_back,
            reattached,
            waiting,
            self.max_concurrent_jobs,
            f", {answered} gone at the provider and answered by follow-up rounds" if answered else "",
            f", {read_back} gone at the provider and read back from the results landed before" if read_back else "",
        )

    # --- dry run ------------------------------------------------------------------------------------------------

    def _dry_run(self, context: Any, hook: BatchHook[Any]) -> dict[str, Any]:
        """Validate, translate and split; log and return the plan. No job is looked up, nothing uploaded or created
        (an output table that a new job would find taken is looked up, as the submit does before it uploads)."""
        prepared = self._prepare(hook, collect_errors=DRY_RUN_ERRORS, estimate_tokens=True)
        try:
            problems = (
                self._jobs_problem(hook, len(prepared.parts)),
                self._wait_problem(prepared),
                self._new_output_problem(hook),
            )
            extra = [problem for problem in problems if problem is not None]
            plan = build_plan(
                hook.provider,
                self.model,
                prepared.parts,
                [*prepared.errors, *extra],
                prepared.errors_total + len(extra),
                price_table(hook.provider, self.batch_prices, hook.settings.batch_prices),
            )
        finally:
            prepared.cleanup()
        self.log.info("%s", plan.table())
        result = plan.model_dump(mode="json")
        if plan.errors_total:
            context["ti"].xcom_push(key=DRY_RUN_PLAN_XCOM_KEY, value=result)
            raise plan.failure()
        return result

    def _display_name(self, context: Any) -> str:
        """The jobs' display name: the one given, else ``<dag id>.<task id>``."""
        return self.display_name or f"{context['ti'].dag_id}.{context['ti'].task_id}"

    def _destination(self) -> str | None:
        """The destination as rendered; an empty one (a template that rendered nothing) is none."""
        destination = self.destination.strip() if isinstance(self.destination, str) else self.destination
        return destination or None

    def _labels(self) -> dict[str, str]:
        """The labels as rendered: a mapping, or the JSON or Python-literal text of one (a whole-string template,
        rendered natively or not); strings only."""
        labels: Any = self.labels
        if isinstance(labels, str):
            labels = rendered_mapping(labels) if labels.strip() else {}
            if labels is None:
                raise GenAIBatchError(f"labels must be a mapping or its JSON text, got {self.labels!r}")
        if labels is None:
            return {}
        if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise GenAIBatchError(f"labels must map strings to strings, got {self.labels!r}")
        return dict(labels)

    def _create(
        self,
        hook: BatchHook[Any],
        prepared: PreparedInput,
        key: str,
        context: Any,
        superseded: str | None,
        stored: BatchJobRef | None,
    ) -> BatchJob:
        display_name = self._display_name(context)
        source: FileSource | InlineSource
        uploaded: str | None = None
        if prepared.inline is not None:
            source = InlineSource(prepared.inline)
        elif prepared.in_place_uri is not None:
            self.log.info("the job reads its input in place from %s: nothing uploaded", prepared.in_place_uri)
            source = FileSource(prepared.in_place_uri)
        else:
            name = tag_file_name(display_name, key, prepared.fingerprint)
            with prepared.open_upload() as stream:
                file_name, made = upload_once(
                    hook, stream, name, lookup_floor(context), self.log, look=retried(context)
                )
            source = FileSource(file_name)
            uploaded = file_name if made else None  # an earlier try's upload may be read by a job that try made
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
        creating = PartCreate(
            round=0,
            idempotency_key=key,
            input_fingerprint=prepared.fingerprint,
            request_count=prepared.summary.count,
            since=datetime.now(timezone.utc),
        )

        def store(marked: PartCreate | None) -> None:
            # a try that recalled no ref is covered by the create intent it recorded, and by the listing of a try
            # that finds no ref (_check_no_unfound_job)
            if stored is not None:
                remember_creating(context, stored, marked)

        with marked_create(hook, creating, store):
            return self._create_once(
                hook,
                spec,
                superseded,
                lambda: hook.create_batch(spec),
                not_before=lookup_floor(context),
                uploaded=uploaded,
            )

    def _create_once(
        self,
        hook: BatchHook[Any],
        spec: BatchSpec,
        superseded: str | None,
        create: Callable[[], BatchJob],
        not_before: datetime | None = None,
        uploaded: str | None = None,
    ) -> BatchJob:
        """Create, retrying a transient failure only once a lookup by key and fingerprint shows no job was made.

        Creation is not idempotent: a create whose answer was lost may still have made the job. The job this
        submit replaces (``superseded``) is not taken for it. Where a provider cannot be searched by key, a
        failed create is not retried. The lookup reads no job created before ``not_before`` (see
        :func:`~airflow_provider_genai_batch.idempotency.lookup_floor`). ``uploaded``, the file this try uploaded
        for this job alone, is deleted when every attempt was refused (see :func:`drop_refused_upload`).
        """
        key = spec.idempotency_key
        attempts = Attempts(hook.settings.retry_policy)
        refused = True
        while True:
            try:
                return create()
            except Exception as err:
                refused = refused and is_refused_post(err)
                if key is None or not is_transient_error(err) or not hook.capabilities.find_by_key:
                    if refused and uploaded is not None:
                        drop_refused_upload(hook, spec, uploaded, superseded, not_before, self.log)
                    raise
                job = hook.find_batch(key, input_fingerprint=spec.input_fingerprint, not_before=not_before)
                if job is not None and job.name != superseded and job.state not in RESUBMIT_STATES:
                    self.log.warning("create failed (%s) but job %s exists: using it", err, job.name)
                    return job
                wait = attempts.next_wait(None)
                if wait is None:
                    if refused and uploaded is not None:
                        drop_refused_upload(hook, spec, uploaded, superseded, not_before, self.log)
                    raise
                self.log.warning("create failed (%s) and no job exists; retrying in %.1f s", err, wait)
                time.sleep(wait)

    def _ref(
        self, hook: BatchHook[Any], job_name: str, key: str, prepared: PreparedInput, keys: KeysFile | None
    ) -> BatchJobRef:
        return BatchJobRef(
            provider=hook.provider,
            conn_id=self.conn_id,
            job_name=job_name,
            idempotency_key=key,
            input_fingerprint=prepared.fingerprint,
            request_count=prepared.summary.count,
            keys_uri=keys.uri if keys is not None else None,
            keys_digest=keys.digest if keys is not None else None,
            output_uri=self.output_uri,
            embeddings=self.embeddings,
            destination=self._destination(),
            console_url=job_page(hook, job_name),
            model=self.model,
        )


def _whole_input_job(stored: BatchJobRef, fingerprint: str) -> str | None:
    """The job ``stored`` names that was made for the whole input with ``fingerprint`` (as one job, or as a group's
    only round-0 part, whose job may be gone at the provider: ``PartRef.gone``), or None."""
    if stored.input_fingerprint != fingerprint:
        return None
    if stored.parts is None:
        return stored.job_name
    first = [part for part in stored.parts if part.round == 0]
    if len(first) == 1 and first[0].input_fingerprint == fingerprint:
        return first[0].job_name or first[0].gone
    return None


def _answered_whole(job: BatchJob) -> bool:
    """Whether ``job`` succeeded with every request counted as succeeded: no follow-up round sent any row of it."""
    stats = job.stats
    return job.state is JobState.SUCCEEDED and stats.total > 0 and stats.succeeded == stats.total


def _first_round_size(stored: BatchJobRef) -> int:
    """How many jobs the input went as in ``stored`` (its round 0)."""
    return 1 if stored.parts is None else sum(1 for part in stored.parts if part.round == 0)


def _round_keys(uri: str) -> Generator[str]:
    """The keys a follow-up round's keys file holds, in order (read on its filesystem: this task wrote it, so it
    is no lineage input)."""
    path = ObjectStoragePath(uri)
    with path.fs.open(path.path, "rb") as lines:
        for line in lines:
            yield read_key_line(line)


def _stored_parts(stored: BatchJobRef | None) -> tuple[PartRef, ...]:
    """The parts ``stored`` names; a ref of one job (made before ``retry_failed_rows`` was set) as its only part,
    so that a provider that cannot look jobs up by key still finds it."""
    if stored is None:
        return ()
    if stored.parts is not None:
        return stored.parts
    if stored.idempotency_key is None or stored.input_fingerprint is None:
        return ()
    one = PartRef(
        index=0,
        idempotency_key=stored.idempotency_key,
        input_fingerprint=stored.input_fingerprint,
        request_count=stored.request_count or 0,
        byte_count=0,
        job_name=stored.job_name,
    )
    return (one,)


def _rounds_sent_from(stored: BatchJobRef | None, prepared: PreparedInput) -> bool:
    """Whether ``stored`` sent follow-up rounds for this same input, cut as now: they are waited on again."""
    if stored is None or stored.input_fingerprint != prepared.fingerprint:
        return False
    return _sent_rounds(stored) and _first_round_size(stored) == len(prepared.parts)


def _sent_rounds(stored: BatchJobRef) -> bool:
    """Whether ``stored`` names follow-up rounds' parts: waited on, or kept from before (``earlier_rounds``)."""
    return bool(stored.earlier_rounds) or (stored.parts is not None and any(part.round > 0 for part in stored.parts))


def _round_zero_resent(stored: BatchJobRef | None) -> tuple[str, ...]:
    """The round-0 jobs of ``stored`` when it sent follow-up rounds from them: those rounds sent again the rows of any
    of them that failed or expired, so a part found to have one of them (its key and lines unchanged, whatever else
    of the input was edited since) is not sent again."""
    if stored is None or not stored.parts or not _sent_rounds(stored):
        return ()
    return tuple(part.job_name for part in stored.parts if part.round == 0 and part.job_name is not None)


def _later_rounds(stored: BatchJobRef, planned: Sequence[PlannedPart]) -> tuple[PartRef, ...]:
    """The follow-up rounds' parts of ``stored``, when its round 0 is exactly the ``planned`` parts (each re-attached
    to the same job, or that job gone at the provider): those rounds were sent from those jobs' results, so they
    still hold; otherwise none. A planned part whose stored job is gone is marked so (``gone``), for
    :meth:`GenAIBatchSubmitOperator._keep_gone` to judge."""
    if stored.parts is None or all(part.round == 0 for part in stored.parts):
        return ()
    before = [part for part in stored.parts if part.round == 0]
    if len(before) != len(planned):
        return ()
    gone: list[tuple[PlannedPart, str]] = []
    for part, item in zip(before, planned, strict=True):
        if (part.idempotency_key, part.input_fingerprint) != (item.ref.idempotency_key, item.ref.input_fingerprint):
            return ()
        made = part.job_name or part.gone
        if item.reusable and item.earlier is not None and item.earlier.name == part.job_name:
            continue
        if made is None or item.earlier is not None:
            return ()
        gone.append((item, made))
    for item, name in gone:
        item.gone = name
    return tuple(part for part in stored.parts if part.round > 0)


def _earlier_rounds(stored: BatchJobRef | None, later: Sequence[PartRef]) -> tuple[PartRef, ...]:
    """The follow-up rounds' parts ``stored`` names (waited on, or kept from before) that made a job and are not in
    ``later`` (the rounds waited on again as they were sent): see ``BatchJobRef.earlier_rounds``."""
    if stored is None:
        return ()
    waited = {part.job_name for part in later}
    kept: dict[str, PartRef] = {}
    for part in (*(stored.earlier_rounds or ()), *(stored.parts or ())):
        if part.round > 0 and part.job_name is not None and part.job_name not in waited:
            kept[part.job_name] = part
    return tuple(kept.values())


def _keys_digest(keys: Iterable[str]) -> str:
    """The sha256 of a keys file holding ``keys``, as :func:`~airflow_provider_genai_batch.landing.write_keys`
    writes it."""
    digest = hashlib.sha256()
    for key in keys:
        digest.update(key_line(key))
    return digest.hexdigest()


def _landed_round_zero(landed: ResultsManifest) -> dict[int, tuple[PartRef, str | None, int | None]]:
    """The round-0 parts a landed manifest names, by index, each with the job the manifest shows for it and how many
    of its rows succeeded; a manifest of one job names the input as its only part (:func:`_stored_parts`)."""
    shown: dict[int, tuple[str | None, int | None]]
    if landed.parts is None:
        shown = {0: (landed.job_ref.job_name, landed.counts.succeeded)}
    else:
        shown = {
            part.index: (part.job_name, part.counts.succeeded if part.counts is not None else None)
            for part in landed.parts
            if part.round == 0
        }
    return {
        part.index: (part, *shown[part.index])
        for part in _stored_parts(landed.job_ref)
        if part.round == 0 and part.index in shown
    }


def _task_round_key(key: str, part: PartRef) -> bool:
    """Whether ``part`` has the idempotency key of a part of its follow-up round of task instance ``key``."""
    return any(part.idempotency_key == part_key(key, part.round, index) for index in range(MAX_PARTS))


def _known_parts(ref: BatchJobRef) -> tuple[PartRef, ...]:
    """The parts a round looks its earlier jobs up among: the rounds kept from before, then the ref's own parts
    (which win for a key and fingerprint both name)."""
    return (*(ref.earlier_rounds or ()), *(ref.parts or ()))


def _ends(counts: Iterable[int]) -> Iterator[int]:
    """The end (from 1) of each part's run of input positions, given each part's request count in plan order."""
    end = 0
    for count in counts:
        end += count
        yield end


def _resent_counts(keys: Iterable[str], ends: Sequence[int], rounds: Sequence[str]) -> list[int]:
    """Per round-0 part (the runs of input positions ending at ``ends``), how many of its keys the follow-up rounds'
    keys files ``rounds`` hold. Each file is a subsequence of the input's ``keys`` in input order, so one pass over
    all of them together counts it, in constant memory."""
    counts = [0] * len(ends)
    with ExitStack() as stack:
        readers = [stack.enter_context(closing(_round_keys(uri))) for uri in rounds]
        heads = [next(reader, None) for reader in readers]
        part = 0
        for position, key in enumerate(keys, start=1):
            hit = False
            for number, reader in enumerate(readers):
                if heads[number] == key:
                    heads[number] = next(reader, None)
                    hit = True
            while part < len(ends) - 1 and position > ends[part]:
                part += 1
            counts[part] += hit
    return counts


def check_model(model: Any) -> None:
    """Refuse, before anything is read or uploaded, a model as rendered that names none: not text, empty (a template
    that rendered nothing) or with whitespace around it (a Variable's newline). Each goes into every request or the
    create call's URL, and the provider refuses it only once the upload is done, or each row once the job ran."""
    if not isinstance(model, str) or not model.strip():
        raise GenAIBatchError(f"model must name a model, got {model!r} (a template that rendered nothing?)")
    if model != model.strip():
        raise GenAIBatchError(f"model {model!r} begins or ends with whitespace (a template's newline?)")


OUTPUT_FILES = frozenset({RESULTS_FILE, MANIFEST_FILE, KEYS_FILE, UNMATCHED_FILE, DUPLICATES_FILE, REPLACED_FILE})
"""The files a submit and its landing write (or move aside) directly under ``output_uri``, besides rounds' keys."""
_ROUND_KEYS = re.compile(re.escape(ROUND_KEYS_FILE).replace(r"\{round\}", "[0-9]+"))


def check_input_apart(input: Any, output_uri: str) -> None:
    """Refuse, before anything is read or uploaded, an input file that is one of the files this task writes under
    ``output_uri`` (an input ``results.jsonl`` in the results directory): the keys were written over it, or earlier
    results moved aside with it, before its upload, which then failed as a file changed after validation (and a
    translated input went up from its copy while the file itself was lost). The same directory is recognised under
    another spelling: a connection in the URI, ``file://``, a symlinked local directory."""
    if not isinstance(input, str):
        return
    folder, _, name = input.rstrip("/").rpartition("/")
    if not (name in OUTPUT_FILES or _ROUND_KEYS.fullmatch(name)):
        return
    if directory_place(folder or ".") != directory_place(output_uri):
        return
    raise GenAIBatchError(
        f"input {input!r} is the file {name} this task writes in its output_uri {output_uri!r}: it would be written "
        "over (or moved aside) before it is uploaded; give the input another name, or the results another directory"
    )


def check_display_name(display_name: Any) -> None:
    """Refuse, before anything is read or uploaded, a display name as rendered that is not text: with
    ``render_template_as_native_obj`` a template rendering digits (``{{ ds_nodash }}``) gives a number, which
    failed the submit only once its input was uploaded. None or empty takes the default name."""
    if display_name is not None and not isinstance(display_name, str):
        raise GenAIBatchError(
            f"display_name must be text, got {display_name!r} ({type(display_name).__name__}): a template rendered "
            "as a native object (render_template_as_native_obj) turns digits into a number; give the name a "
            "prefix or suffix that is not a number (e.g. 'nightly-{{ ds_nodash }}')"
        )


def _is_template(value: Any) -> bool:
    """Whether ``value`` is text Airflow renders later (a Jinja expression), not checkable yet."""
    return isinstance(value, str) and "{{" in value


def positive_limit(name: str, value: Any) -> int | None:
    """A per-job limit as given or rendered: None, or a positive whole number (or its text); else ValueError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = value
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            raise ValueError(f"{name} must be a positive whole number, got {value!r}") from None
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    return number
