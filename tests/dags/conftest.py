"""Fixtures to run example DAGs with `airflow dags test` against the emulator, on SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.s3 import MotoS3Server

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


BEDROCK_BUCKET = "genai-batch-examples"


@pytest.fixture(scope="session")
def dag_s3() -> Iterator[MotoS3Server]:
    """moto's S3 on loopback, with the bucket the Bedrock example's connection names."""
    with MotoS3Server() as server:
        server.create_bucket(BEDROCK_BUCKET)
        yield server


@pytest.fixture(scope="session")
def dag_emulator(dag_s3: MotoS3Server) -> Iterator[EmulatorServer]:
    """An emulator whose jobs finish in about a second, requiring the key the DAG connections carry."""
    with EmulatorServer(
        pending_seconds=0.3, running_seconds=0.7, api_key="dag-test-key", s3_endpoint_url=dag_s3.endpoint_url
    ) as server:
        yield server


@dataclass
class DagRunner:
    """Runs `airflow dags test` in a fresh AIRFLOW_HOME with connections pointing at the emulator."""

    home: Path
    data_dir: Path
    env: dict[str, str]

    def run(self, dag_id: str, logical_date: str = "2026-11-20") -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [AIRFLOW, "dags", "test", dag_id, logical_date],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
        )
        (self.home / f"{dag_id}.log").write_text(result.stdout + result.stderr)
        return result


@pytest.fixture(scope="session")
def dag_runner(
    tmp_path_factory: pytest.TempPathFactory, dag_emulator: EmulatorServer, dag_s3: MotoS3Server
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
            {"conn_type": "genai_gemini", "host": dag_emulator.base_url, "password": "dag-test-key"}
        ),
        "AIRFLOW_CONN_OPENAI_BATCH_DEFAULT": json.dumps(
            {"conn_type": "genai_openai", "host": f"{dag_emulator.base_url}/openai/v1", "password": "dag-test-key"}
        ),
        "AIRFLOW_CONN_ANTHROPIC_BATCH_DEFAULT": json.dumps(
            {"conn_type": "genai_anthropic", "host": f"{dag_emulator.base_url}/anthropic", "password": "dag-test-key"}
        ),
        "AIRFLOW_CONN_GENAI_GATEWAY_DEFAULT": json.dumps(
            {
                "conn_type": "genai_gateway",
                "host": f"{dag_emulator.base_url}/genai",
                "password": "dag-test-key",
                "extra": {"model_provider": "openai"},
            }
        ),
        "AIRFLOW_CONN_BEDROCK_BATCH_DEFAULT": json.dumps(
            {
                "conn_type": "genai_bedrock",
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
        "AWS_ACCESS_KEY_ID": "testing",  # botocore's default chain signs the Bedrock connection's calls
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return DagRunner(home=home, data_dir=data_dir, env=env)
