"""What the distributed deployment parses: two example DAGs as shipped, and the DAGs only its tests use.

The example DAGs (``dags_examples/``) are copied unchanged with their helper modules; their data folder
and poll interval come from the environment (``_settings.py``). A cluster policy
(``airflow_local_settings.py``) routes every submit task to one Celery queue and every sensor to another,
as an operator might pin work to pools of workers; each worker serves one of them.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from ..airflow_e2e import dags as e2e_dags

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_FILES = ("_settings.py", "_runs.py", "gemini_nightly.py", "cross_provider.py")
NIGHTLY = "genai_batch_gemini_nightly"
NIGHTLY_CONSUMER = "genai_batch_results_consumer"
CROSS_PROVIDER = "genai_batch_cross_provider"

SUBMIT_QUEUE = "submitters"
SENSOR_QUEUE = "waiters"

TAKEOVER = tuple(e2e_dags.Pipeline(f"deploy_takeover_{number}") for number in range(10))
"""Ten pipelines whose sensors are deferred together when a triggerer is killed."""
PROGRESS = e2e_dags.Pipeline("deploy_progress", asset="deploy_progress_results")
"""A pipeline the browser looks at: its deferred sensor's extra link, its log, its Asset event."""

TEST_DAGS: tuple[e2e_dags.Pipeline | e2e_dags.WaitingSubmit | e2e_dags.Holder, ...] = (
    *TAKEOVER,
    PROGRESS,
    # The single-machine tests of cancelling and clearing, run again here as they are.
    e2e_dags.KILL_WHILE_DEFERRED,
    e2e_dags.CLEARED_WHILE_DEFERRED,
    e2e_dags.TRIGGER_ID_HOLDER,
)

CLUSTER_POLICY = textwrap.dedent(
    f"""\
    from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
    from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor


    def task_policy(task):
        if isinstance(task, GenAIBatchSubmitOperator):
            task.queue = {SUBMIT_QUEUE!r}
        elif isinstance(task, GenAIBatchSensor):
            task.queue = {SENSOR_QUEUE!r}
    """
)


def write_all(dags_dir: Path, config_dir: Path, inputs: Path, output: Path) -> None:
    """Write every DAG file and the cluster policy before any component starts."""
    for name in EXAMPLE_FILES:
        shutil.copy(REPO / "dags_examples" / name, dags_dir / name)
    for dag in TEST_DAGS:
        for name, source in dag.sources(inputs, output).items():
            (dags_dir / name).write_text(source)
    (config_dir / "airflow_local_settings.py").write_text(CLUSTER_POLICY)
