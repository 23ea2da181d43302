"""Finding a task's earlier job where the provider's jobs carry no key (Anthropic, a GenAI gateway).

Such a job cannot be read back by its idempotency key, so a try that finds no job in the task state store (Airflow
before 3.3, or a store emptied on success) looks in two other places before it creates one: the manifest this task
instance landed under ``output_uri``, which names the job (or jobs) it landed with their key and fingerprint; and,
failing that, where an earlier try may have gone on to create (:func:`may_have_created`), the provider's listing since
the task's run could start, where a job made as big as this input (and not ended for good) after any job named may be
an earlier try's. Such a job is never paid for twice: the try is refused, naming it.

A stored ref that names the task's other jobs cannot show a job made for one part (of a split input, or of a follow-up
round) by a try that died before storing its name; so such a try marks the part in the ref just before the create
(``BatchJobRef.creating``), and a later try that finds the mark lists the jobs made since, of that part's size, that
nothing names (:func:`unnamed_part_jobs`). A part with no mark is created as usual, whatever other tasks' jobs are
listed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_provider_genai_batch.earlier_results import landed_manifest
from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.idempotency import LOOKUP_CLOCK_SKEW
from airflow_provider_genai_batch.job_ref import JOB_REF_XCOM_KEY, BatchJobRef, PartCreate, named_jobs
from airflow_provider_genai_batch.landing import output_dir
from airflow_provider_genai_batch.models import BatchJob
from airflow_provider_genai_batch.operators.submission import RESUBMIT_STATES

CREATE_INTENT_KEY = "genai_batch_create_intent"
"""The task state store's record that a try of this task instance went on to create a job (with the time it did)."""

SHOWN_JOBS = 5
"""The most possible earlier jobs a refusal names (it counts them all)."""


def landed_ref(hook: BatchHook[Any], output_uri: str | None, key: str) -> BatchJobRef | None:
    """The job reference of the results this task instance (``key``) landed under ``output_uri`` for this provider,
    where its jobs carry no key: what the task state store would have held. None elsewhere."""
    if hook.capabilities.find_by_key or not output_uri:
        return None
    landed = landed_manifest(output_dir(output_uri))
    if landed is None or landed.job_ref.idempotency_key != key or landed.job_ref.provider != hook.provider:
        return None
    return landed.job_ref


def mark_create_intent(context: Mapping[str, Any]) -> None:
    """Record in the task state store (where there is one) that this try goes on to create a job, before it does."""
    store = context.get("task_state_store")
    if store is not None:
        store.set(CREATE_INTENT_KEY, datetime.now(timezone.utc).isoformat())


def may_have_created(context: Mapping[str, Any]) -> bool:
    """Whether an earlier try of this task instance may have made a job: unknown without a task state store (Airflow
    before 3.3) or with one emptied when the task succeeds (``[state_store] clear_on_success``: a clear after success
    finds no record), else only where a try recorded it went on to create (:func:`mark_create_intent`). A retry after
    a try that failed before it created (a bad input, an upload that broke) lists nothing."""
    store = context.get("task_state_store")
    if store is None or _cleared_on_success():
        return True
    return store.get(CREATE_INTENT_KEY) is not None


def _cleared_on_success() -> bool:
    """Whether Airflow empties a task's state store when it succeeds (read as the worker's task runner reads it)."""
    from airflow.sdk.configuration import conf

    return bool(conf.getboolean("state_store", "clear_on_success", fallback=False))


def other_map_indexes_jobs(ti: Any) -> set[str]:
    """The jobs the other map indexes of this mapped task instance's task pushed their refs for in this run (none for
    a task that is not mapped): each is that instance's, not an earlier try's of this one."""
    map_index = getattr(ti, "map_index", -1)
    if map_index is None or map_index < 0:
        return set()
    pulled = ti.xcom_pull(task_ids=ti.task_id, key=JOB_REF_XCOM_KEY)
    names: set[str] = set()
    for value in pulled if isinstance(pulled, list) else [pulled]:
        try:
            names.update(BatchJobRef.parse(value).job_names())
        except TypeError:
            continue
    return names


def possible_earlier_jobs(
    hook: BatchHook[Any],
    not_before: datetime | None,
    request_counts: Collection[int],
    stored: Collection[str],
    others: Collection[str],
) -> list[BatchJob]:
    """The jobs listed since ``not_before`` (every listed job without it) that an earlier try of a task sending parts
    of ``request_counts`` requests may have made and nothing names: of one of those sizes (or of no size shown), not
    ended for good (failed, cancelled, expired: one would be submitted again anyway), neither ``stored`` (the jobs the
    task's stored or landed ref names) nor ``others`` (jobs shown to be another input's), and not made before the
    newest stored job listed (the try that made it came after any try that made those)."""
    listed = list(hook.recent_batches(not_before))
    stored_times = [job.create_time for job in listed if job.name in stored and job.create_time is not None]
    newest_stored = max(stored_times, default=None)
    return [
        job
        for job in listed
        if job.name not in stored
        and job.name not in others
        and job.state not in RESUBMIT_STATES
        and not (job.stats.total and job.stats.total not in request_counts)
        and not (newest_stored is not None and job.create_time is not None and job.create_time < newest_stored)
    ]


def refusal(provider: str, try_number: int, jobs: list[BatchJob], not_before: datetime | None) -> GenAIBatchError:
    """Why a try that may have been preceded by a job it cannot find does not create another."""
    since = f"since {not_before.isoformat()}" if not_before is not None else "(no bound: the run id is not Airflow's)"
    return GenAIBatchError(
        f"this is try {try_number} of the task, and neither a task state store nor a landed manifest names a job an "
        f"earlier try may have made for this input; {provider} jobs carry no idempotency key to find it by, and the "
        f"provider lists {len(jobs)} job(s) {since} of this input's size that are not ended for good and were made "
        f"after any job named: {_shown(jobs)}. Not creating another job, which could pay for the same requests twice. "
        "If one of them is this task's, wait on it with a GenAIBatchSensor "
        "(job_ref = its name); otherwise set force_resubmit=True for this run to create a new job"
    )


def unnamed_part_jobs(
    hook: BatchHook[Any], stored: BatchJobRef, creating: PartCreate, others: Collection[str]
) -> list[BatchJob]:
    """The jobs the try that marked ``creating`` in ``stored`` (and stopped before it named the job) may have made for
    that part: listed since it marked it (less the clock skew a look-up allows for), of the part's size (or of no size
    shown), not ended for good, named neither by ``stored`` (:func:`~airflow_provider_genai_batch.job_ref.named_jobs`)
    nor by ``others``, and not made before the newest job ``stored`` names (:func:`possible_earlier_jobs`)."""
    named = named_jobs(stored)
    return possible_earlier_jobs(hook, creating.since - LOOKUP_CLOCK_SKEW, {creating.request_count}, named, others)


def part_refusal(provider: str, try_number: int, creating: PartCreate, jobs: list[BatchJob]) -> GenAIBatchError:
    """Why a try whose stored ref marks a part as being created, with no job named for it, does not create it again."""
    part = f"round {creating.round}'s part" if creating.round else "the part"
    return GenAIBatchError(
        f"this is try {try_number} of the task; an earlier try went on to create the job of {part} with key "
        f"{creating.idempotency_key} ({creating.request_count} requests) at {creating.since.isoformat()} and stopped "
        f"before it stored the job's name, and {provider} jobs carry no idempotency key to find it by. The provider "
        f"lists {len(jobs)} job(s) of that size made since then that are not ended for good and that nothing names: "
        f"{_shown(jobs)}. Not creating another job, which could pay for the same requests twice. If one of them is "
        "this part's, cancel it (GenAIBatchCancelJobOperator) and clear the task: a cancelled job is not counted, and "
        "the part is created again; if none of them is, set force_resubmit=True for this run, which creates every part "
        "again"
    )


def _shown(jobs: list[BatchJob]) -> str:
    """The first :data:`SHOWN_JOBS` of ``jobs`` as a refusal names them (name, state, size, creation time)."""
    shown = ", ".join(
        f"{job.name} ({job.state.value}, {job.stats.total or 'unknown'} requests"
        + (f", created {job.create_time.isoformat()})" if job.create_time else ")")
        for job in jobs[:SHOWN_JOBS]
    )
    return shown + (f" and {len(jobs) - SHOWN_JOBS} more" if len(jobs) > SHOWN_JOBS else "")
