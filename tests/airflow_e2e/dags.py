"""The DAG files the end-to-end tests deploy, all written before the deployment starts so they are parsed once.

Each test owns its DAGs (their ids start with ``e2e_``); a pipeline DAG reads its input from
``<inputs>/<dag_id>.jsonl``, which the test writes (and rewrites) itself, and lands in ``<output>/<dag_id>``.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

CONN_ID = "gemini_batch_default"
MODEL = "gemini-2.5-flash"


@dataclass(frozen=True)
class Pipeline:
    """A submit task feeding a results sensor (deferrable unless told), optionally announcing an Asset a consumer
    DAG waits on."""

    dag_id: str
    asset: str | None = None
    force_resubmit: bool = False
    deferrable: bool = True

    def input_path(self, inputs: Path) -> Path:
        return inputs / f"{self.dag_id}.jsonl"

    def output_dir(self, output: Path) -> Path:
        return output / self.dag_id

    @property
    def consumer_dag_id(self) -> str:
        return f"{self.dag_id}_consumer"

    def sources(self, inputs: Path, output: Path) -> dict[str, str]:
        """File name -> source of this pipeline's DAG (and of its consumer, when it announces an Asset)."""
        outlets = f"outlets=[Asset({self.asset!r})]," if self.asset else ""
        force = 'force_resubmit="{{ params.force_resubmit }}",' if self.force_resubmit else ""
        params = 'params={"force_resubmit": False},' if self.force_resubmit else ""
        files = {
            f"{self.dag_id}.py": textwrap.dedent(
                f"""\
                from airflow.sdk import DAG, Asset

                from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
                from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

                with DAG(dag_id={self.dag_id!r}, schedule=None, catchup=False, {params}):
                    submit = GenAIBatchSubmitOperator(
                        task_id="submit",
                        conn_id={CONN_ID!r},
                        model={MODEL!r},
                        input={str(self.input_path(inputs))!r},
                        output_uri={str(self.output_dir(output))!r},
                        {force}
                    )
                    GenAIBatchSensor(
                        task_id="wait", job_ref=submit.output, poll_interval=1, deferrable={self.deferrable}, {outlets}
                    )
                """
            )
        }
        if self.asset:
            files[f"{self.consumer_dag_id}.py"] = textwrap.dedent(
                f"""\
                from airflow.sdk import DAG, Asset, task

                with DAG(dag_id={self.consumer_dag_id!r}, schedule=[Asset({self.asset!r})], catchup=False):

                    @task
                    def consume():
                        pass

                    consume()
                """
            )
        return files


@dataclass(frozen=True)
class WaitingSubmit:
    """A submit task that waits for its own job (deferred), for marking it failed while it waits."""

    dag_id: str

    def sources(self, inputs: Path, output: Path) -> dict[str, str]:
        return {
            f"{self.dag_id}.py": textwrap.dedent(
                f"""\
                from airflow.sdk import DAG

                from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator

                with DAG(dag_id={self.dag_id!r}, schedule=None, catchup=False):
                    GenAIBatchSubmitOperator(
                        task_id="submit",
                        conn_id={CONN_ID!r},
                        model={MODEL!r},
                        input=[{{"key": "a", "contents": "hello"}}],
                        output_uri={str(output / self.dag_id)!r},
                        wait_for_completion=True,
                        poll_interval=1,
                    )
                """
            )
        }


@dataclass(frozen=True)
class Holder:
    """One task that defers for a few minutes on a core trigger, doing nothing else.

    While it is deferred its trigger row has a higher id than an earlier one: on SQLite, which hands out
    ``max(id) + 1``, a trigger deleted meanwhile cannot have its id handed to the next one. (If it could, a
    cleared task deferring again at once might get its old trigger's id back, and the triggerer would never
    see that trigger go, so it would never call ``on_kill``; PostgreSQL and MySQL never reuse ids.)
    """

    dag_id: str

    def sources(self, inputs: Path, output: Path) -> dict[str, str]:
        return {
            f"{self.dag_id}.py": textwrap.dedent(
                f"""\
                from datetime import timedelta

                from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
                from airflow.sdk import DAG, BaseOperator


                class Hold(BaseOperator):
                    def execute(self, context):
                        self.defer(trigger=TimeDeltaTrigger(timedelta(minutes=5)), method_name="done")

                    def done(self, context, event=None):
                        return None


                with DAG(dag_id={self.dag_id!r}, schedule=None, catchup=False):
                    Hold(task_id="hold")
                """
            )
        }


KILL_WHILE_DEFERRED = WaitingSubmit("e2e_kill_while_deferred")
TRIGGER_ID_HOLDER = Holder("e2e_trigger_id_holder")
RELANDED = Pipeline("e2e_cleared_sensor_relands", asset="e2e_relanded_results")
INPUT_UNCHANGED = Pipeline("e2e_input_unchanged")
INPUT_GREW = Pipeline("e2e_input_grew")
INPUT_BROKE = Pipeline("e2e_input_broke")
FORCED = Pipeline("e2e_force_resubmit", force_resubmit=True)
CLEARED_WHILE_DEFERRED = Pipeline("e2e_cleared_while_deferred")
CLEARED_WHILE_POKING = Pipeline("e2e_cleared_while_poking", deferrable=False)

ALL: tuple[Pipeline | WaitingSubmit | Holder, ...] = (
    KILL_WHILE_DEFERRED,
    TRIGGER_ID_HOLDER,
    RELANDED,
    INPUT_UNCHANGED,
    INPUT_GREW,
    INPUT_BROKE,
    FORCED,
    CLEARED_WHILE_DEFERRED,
    CLEARED_WHILE_POKING,
)
