"""Fixtures to run example DAGs with `airflow dags test` against the emulator, on SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.gcp_auth import service_account_info
from airflow_provider_genai_batch.testing.gcs import GcsServer
from airflow_provider_genai_batch.testing.s3 import MotoS3Server

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


BEDROCK_BUCKET = "genai-batch-examples"
VERTEX_BUCKET = "genai-batch-vertex-examples"
VERTEX_PROJECT = "genai-batch-examples"
VERTEX_DATASET = "genai_batch_examples"
GATEWAY_TARGETS = ("gemini", "openai", "anthropic")
"""The providers the gateway example reaches, each through a connection of its own."""


@pytest.fixture(scope="session")
def dag_s3() -> Iterator[MotoS3Server]:
    """moto's S3 on loopback, with the bucket the Bedrock example's connection names."""
    with MotoS3Server() as server:
        server.create_bucket(BEDROCK_BUCKET)
        yield server


@pytest.fixture(scope="session")
def dag_gcs() -> Iterator[GcsServer]:
    """A Cloud Storage server on loopback, with the bucket the Vertex examples' connection names."""
    with GcsServer() as server:
        server.create_bucket(VERTEX_BUCKET)
        yield server


@pytest.fixture(scope="session")
def dag_emulator(dag_s3: MotoS3Server, dag_gcs: GcsServer) -> Iterator[EmulatorServer]:
    """An emulator whose jobs finish in about a second, requiring the key the DAG connections carry; its
    BigQuery holds the dataset the Vertex example writes its predictions to."""
    with EmulatorServer(
        pending_seconds=0.3,
        running_seconds=0.7,
        api_key="dag-test-key",
        s3_endpoint_url=dag_s3.endpoint_url,
        gcs_endpoint_url=dag_gcs.endpoint_url,
    ) as server:
        token = httpx.post(f"{server.base_url}/_emulator/vertex/tokens", json={"ttl": 3600}).json()["token"]
        httpx.post(
            f"{server.base_url}/bigquery/v2/projects/{VERTEX_PROJECT}/datasets",
            json={"datasetReference": {"projectId": VERTEX_PROJECT, "datasetId": VERTEX_DATASET}},
            headers={"Authorization": f"Bearer {token}"},
        ).raise_for_status()
        yield server


# `airflow dags test` always gives the run a logical date (now, when none is named); a run triggered with
# `airflow dags trigger` or the REST API's `logical_date: null` has none. `DAG.test(logical_date=None)` makes
# exactly such a run (a manual run id from `run_after`, no logical date, no data interval), in-process.
RUN_WITHOUT_LOGICAL_DATE = """
import json, sys
from airflow.utils.cli import get_bagged_dag
run = get_bagged_dag(None, sys.argv[1]).test(logical_date=None)
print("DAG_RUN " + json.dumps({
    "run_id": run.run_id,
    "logical_date": None if run.logical_date is None else run.logical_date.isoformat(),
    "run_after": run.run_after.isoformat(),
    "state": str(run.state),
}))
sys.exit(0 if str(run.state) == "success" else 1)
"""


@dataclass
class DagRunner:
    """Runs example DAGs in a fresh AIRFLOW_HOME with connections pointing at the emulator: with
    `airflow dags test` (a run with a logical date), or as a run without a logical date."""

    home: Path
    data_dir: Path
    env: dict[str, str]

    def run(self, dag_id: str, logical_date: str = "2026-11-20") -> subprocess.CompletedProcess[str]:
        return self._run(dag_id, [AIRFLOW, "dags", "test", dag_id, logical_date])

    def run_without_logical_date(self, dag_id: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        """Run ``dag_id`` once as a run with no logical date; also returns that run's id, dates and state."""
        result = self._run(dag_id, [sys.executable, "-c", RUN_WITHOUT_LOGICAL_DATE, dag_id])
        reported = [line for line in result.stdout.splitlines() if line.startswith("DAG_RUN ")]
        run = json.loads(reported[-1].removeprefix("DAG_RUN ")) if reported else {}
        return result, run

    def _run(self, dag_id: str, command: list[str]) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=300, cwd=REPO)
        (self.home / f"{dag_id}.log").write_text(result.stdout + result.stderr)
        return result


@pytest.fixture(scope="session")
def dag_runner(
    tmp_path_factory: pytest.TempPathFactory, dag_emulator: EmulatorServer, dag_s3: MotoS3Server, dag_gcs: GcsServer
) -> DagRunner:
    home = tmp_path_factory.mktemp("airflow-home")
    data_dir = tmp_path_factory.mktemp("example-data")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags_examples"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "GENAI_BATCH_EXAMPLES_DIR": str(data_dir),
        "GENAI_BATCH_POLL_INTERVAL": "0.3",
        "AIRFLOW_CONN_GEMINI_BATCH_DEFAULT": json.dumps(
            {"conn_type": "genaigemini", "host": dag_emulator.base_url, "password": "dag-test-key"}
        ),
        "AIRFLOW_CONN_OPENAI_BATCH_DEFAULT": json.dumps(
            {"conn_type": "genaiopenai", "host": f"{dag_emulator.base_url}/openai/v1", "password": "dag-test-key"}
        ),
        "AIRFLOW_CONN_ANTHROPIC_BATCH_DEFAULT": json.dumps(
            {"conn_type": "genaianthropic", "host": f"{dag_emulator.base_url}/anthropic", "password": "dag-test-key"}
        ),
        **{
            f"AIRFLOW_CONN_GENAI_GATEWAY_{target.upper()}": json.dumps(
                {
                    "conn_type": "genaigateway",
                    "host": f"{dag_emulator.base_url}/genai",
                    "password": "dag-test-key",
                    "extra": {"model_provider": target},
                }
            )
            for target in GATEWAY_TARGETS
        },
        "AIRFLOW_CONN_BEDROCK_BATCH_DEFAULT": json.dumps(
            {
                "conn_type": "genaibedrock",
                "extra": {
                    "region": "us-east-1",
                    "role_arn": "arn:aws:iam::123456789012:role/BedrockBatch",
                    "input_s3_uri": f"s3://{BEDROCK_BUCKET}/bedrock/input",
                    "output_s3_uri": f"s3://{BEDROCK_BUCKET}/bedrock/output",
                    "endpoint_url": f"{dag_emulator.base_url}/bedrock",
                    "s3_endpoint_url": dag_s3.endpoint_url,
                },
            }
        ),
        "AIRFLOW_CONN_GENAI_VERTEX_DEFAULT": json.dumps(
            {
                "conn_type": "genaivertex",
                "host": f"{dag_emulator.base_url}/vertex",
                "password": json.dumps(service_account_info(token_uri=f"{dag_emulator.base_url}/vertex/token")),
                "extra": {
                    "project": VERTEX_PROJECT,
                    "location": "us-central1",
                    "staging_gcs_uri": f"gs://{VERTEX_BUCKET}/vertex/input",
                    "output_gcs_uri": f"gs://{VERTEX_BUCKET}/vertex/output",
                    "gcs_endpoint_url": dag_gcs.endpoint_url,
                    "bigquery_endpoint_url": dag_emulator.base_url,
                },
            }
        ),
        "GENAI_BATCH_VERTEX_DATASET": VERTEX_DATASET,
        "AWS_ACCESS_KEY_ID": "testing",  # botocore's default chain signs the Bedrock connection's calls
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return DagRunner(home=home, data_dir=data_dir, env=env)
