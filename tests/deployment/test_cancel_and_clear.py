"""Issue checks, on the distributed deployment: a deferred task marked failed cancels its job; a deferred
sensor that is cleared keeps its job, and its rerun lands it.

These are the single-machine scenarios (``tests/airflow_e2e``, run only here) run unchanged against PostgreSQL,
Celery workers and two triggerers, where the trigger may be held by either triggerer and the task resumes
on a worker other than the one that deferred it.
"""

from __future__ import annotations

import pytest

from ..airflow_e2e import test_clear_and_rerun, test_kill_while_deferred
from .conftest import DistributedDeployment

pytestmark = pytest.mark.airflow_deployment


def test_marking_a_deferred_task_failed_cancels_its_job(dep: DistributedDeployment) -> None:
    test_kill_while_deferred.marking_a_deferred_task_failed_cancels_its_job(dep)


def test_clearing_a_deferred_sensor_keeps_its_job_and_the_rerun_lands_it(dep: DistributedDeployment) -> None:
    test_clear_and_rerun.clearing_a_deferred_sensor_keeps_its_job_and_the_rerun_lands_it(dep)
