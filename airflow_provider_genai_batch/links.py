"""Extra link from a task to its job in the provider's console, while deferred and after.

Airflow 3 renders a link from what the worker stored for it after each run of the task (the run that defers too,
and every poke of a rescheduled sensor): one link per name, per task instance (so per map index). A group of jobs
(a split input, follow-up rounds) gets the one part a person most likely wants to look at (:func:`job_to_show`);
every part's page is in the task log when the wait starts and in the manifest's ``parts`` (``console_url``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

from airflow_provider_genai_batch.hooks.registry import hook_class_for_provider
from airflow_provider_genai_batch.job_ref import JOB_REF_XCOM_KEY, BatchJobRef
from airflow_provider_genai_batch.models import JobState

SHOWN_PAGE_ATTRIBUTE = "shown_job_page"
"""The operator attribute a run that saw its group's parts sets to the page of the part its link shows."""


def console_url(ref: BatchJobRef) -> str:
    """Where a person looks at this job: as the submitting worker recorded it (on the connection's host), else,
    for a ref recorded without it, the provider's public console as its hook class knows it."""
    if ref.console_url is not None:
        return ref.console_url
    return hook_class_for_provider(ref.provider).console_url(ref.job_name)


def job_to_show(ref: BatchJobRef, states: Mapping[str, JobState]) -> str:
    """The job of ``ref`` a person most likely wants to look at, given each part's last seen state: the first created
    part not seen ended (what the task waits on), else the last that ended without succeeding (what failed the task,
    a later round's over an earlier one's), else the first; for one job, that job."""
    names = ref.job_names()
    if ref.parts is None or not names:
        return ref.job_name
    for name in names:
        state = states.get(name)
        if state is None or not state.is_terminal:
            return name
    unsuccessful = [name for name in names if not states[name].is_success]
    return unsuccessful[-1] if unsuccessful else names[0]


class GenAIBatchJobLink(BaseOperatorLink):
    """The page of the part this run saw worth looking at, else the job in the ref the task pushed before deferring
    (so the link survives the resumed run, which starts from a fresh operator)."""

    name = "GenAI batch job"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        shown = getattr(operator, SHOWN_PAGE_ATTRIBUTE, None)
        if shown:
            return str(shown)
        value = XCom.get_value(ti_key=ti_key, key=JOB_REF_XCOM_KEY)
        if not value:
            return ""
        return console_url(BatchJobRef.parse(value))
