"""Extra link from a task to its job in the provider's console, while deferred and after."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

from airflow_provider_genai_batch.hooks.registry import hook_class_for_provider
from airflow_provider_genai_batch.job_ref import JOB_REF_XCOM_KEY, BatchJobRef


def console_url(ref: BatchJobRef) -> str:
    """Where a person looks at this job: as the submitting worker recorded it (on the connection's host), else,
    for a ref recorded without it, the provider's public console as its hook class knows it."""
    if ref.console_url is not None:
        return ref.console_url
    return hook_class_for_provider(ref.provider).console_url(ref.job_name)


class GenAIBatchJobLink(BaseOperatorLink):
    """Reads the job ref the task pushed before deferring, so the link survives the resumed run."""

    name = "GenAI batch job"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        value = XCom.get_value(ti_key=ti_key, key=JOB_REF_XCOM_KEY)
        if not value:
            return ""
        return console_url(BatchJobRef.parse(value))
