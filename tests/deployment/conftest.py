"""A distributed Airflow 3 deployment on loopback, as users run it: PostgreSQL metadata DB, CeleryExecutor with
a Redis broker and two workers, two triggerers, the API server, scheduler and dag-processor.

Built on the single-machine deployment of ``tests/airflow_e2e`` (its REST helpers, environment and
teardown), with these differences: each worker has its own temporary directory (``TMPDIR``) and serves
its own queue (a cluster policy routes submit tasks to one and sensors to the other), and every component
reports its own name as its hostname, so the tests can tell from the API which worker ran a task and from
the database which triggerer holds a trigger. The example DAGs keep their data on ``s3://`` (moto's server
on loopback), read and written through ``ObjectStoragePath`` with the ``aws_default`` connection named in
the URL, as a deployment whose workers share no disk does. Each test resets the emulator; on a failure the
tail of every component's log is printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.emulator.server import HOST, free_port
from airflow_provider_genai_batch.testing.s3 import CREDENTIALS as S3_CREDENTIALS
from airflow_provider_genai_batch.testing.s3 import MotoS3Server

from ..airflow_e2e.conftest import (
    AIRFLOW,
    COMPONENTS,
    LOG_TAIL_LINES,
    AirflowDeployment,
    _tail,
    _tail_text,
    airflow_env,
    for_one_test,
)
from ..airflow_e2e.conftest import pytest_runtest_makereport as pytest_runtest_makereport
from . import dags
from .component_identity import COMPONENT_NAME_VARIABLE
from .services import PostgresServer, RedisServer

REPO = Path(__file__).resolve().parents[2]
API_KEY = "deployment-test-key"
WORKER_CONCURRENCY = 6
WORKERS = {"worker-a": f"default,{dags.SUBMIT_QUEUE}", "worker-b": f"default,{dags.SENSOR_QUEUE}"}
TRIGGERERS = ("triggerer-a", "triggerer-b")
STARTUP_TIMEOUT = 180
"""Seven components import Airflow at once on two cores: the API server has taken a minute to answer."""
TRIGGERER_HEALTH_CHECK_THRESHOLD = 10
"""Seconds without a heartbeat after which a triggerer's triggers go to another (Airflow's default: 30)."""
RESULTS_BUCKET = "genai-batch-examples"
EXAMPLES_PREFIX = "examples"
S3_CONN_ID = "aws_default"
EXAMPLES_URI = f"s3://{S3_CONN_ID}@{RESULTS_BUCKET}/{EXAMPLES_PREFIX}"
"""Where the example DAGs keep their inputs and results: the connection in the URL, the bucket on moto."""


def announce(config: pytest.Config, line: str) -> None:
    """Write a line to the terminal even when output is captured (where files landed, measured figures)."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        print(line, flush=True)


def component_commands() -> dict[str, list[str]]:
    """Every component's ``airflow`` arguments (the API server's port is filled in by ``command``)."""
    commands = {name: COMPONENTS[name](0) for name in ("scheduler", "dag-processor")}
    for worker, queues in WORKERS.items():
        commands[worker] = [
            "celery", "worker", "--queues", queues, "--concurrency", str(WORKER_CONCURRENCY),
            "--celery-hostname", f"{worker}@%h", "--skip-serve-logs",
        ]  # fmt: skip
    for triggerer in TRIGGERERS:
        commands[triggerer] = COMPONENTS["triggerer"](0)
    return commands


@dataclass
class DistributedDeployment(AirflowDeployment):
    """The deployment's components by name, its servers, and the S3 server the example DAGs keep their data on."""

    root: Path = Path()
    postgres: PostgresServer | None = None
    redis: RedisServer | None = None
    s3: MotoS3Server | None = None
    commands: dict[str, list[str]] = field(default_factory=component_commands)

    def component_env(self, component: str) -> dict[str, str]:
        """The shared environment, with this component's name and, for a worker, its own temp directory."""
        env = {**self.env, COMPONENT_NAME_VARIABLE: component}
        if component in WORKERS:
            tmp = self.root / f"tmp-{component}"
            tmp.mkdir(exist_ok=True)
            env["TMPDIR"] = str(tmp)
        return env

    def start(self, component: str) -> None:
        port = int(self.api_url.rsplit(":", 1)[1])
        argv = COMPONENTS["api-server"](port) if component == "api-server" else self.commands[component]
        with self.log_path(component).open("ab") as log:
            self.processes[component] = subprocess.Popen(
                [AIRFLOW, *argv],
                env=self.component_env(component),
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        """Rows of one query on the metadata database (for what the REST API does not show)."""
        assert self.postgres is not None
        connection = self.postgres.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        finally:
            connection.close()

    def trigger_holders(self) -> dict[str, int]:
        """How many triggers each triggerer (by its reported hostname) holds right now."""
        rows = self.query(
            "SELECT job.hostname, count(*) FROM trigger JOIN job ON trigger.triggerer_id = job.id GROUP BY job.hostname"
        )
        return {str(host): int(str(count)) for host, count in rows}

    def trigger_log(self, dag_id: str) -> str:
        """Every trigger log of ``dag_id``, then both triggerers' own (where a finished trigger's last lines go)."""
        files = sorted((self.home / "logs" / f"dag_id={dag_id}").rglob("*.log.trigger.*"))
        paths = [*files, *(self.log_path(triggerer) for triggerer in TRIGGERERS)]
        return "\n".join(path.read_text(errors="replace") for path in paths)

    def diagnostics(self) -> str:
        parts = []
        for component in ["api-server", *self.commands]:
            proc = self.processes.get(component)
            status = "not started" if proc is None else f"returncode={proc.poll()}"
            parts.append(f"===== {component} ({status}) =====\n{_tail(self.log_path(component))}")
        for server in (self.postgres, self.redis):
            if server is not None:
                parts.append(f"===== {server.log_path.name} =====\n{_tail(server.log_path)}")
        for task_log in sorted((self.home / "logs").rglob("*.log*")):
            parts.append(f"===== {task_log.relative_to(self.home)} =====\n{_tail(task_log, LOG_TAIL_LINES // 3)}")
        parts.append(f"===== emulator stderr =====\n{_tail_text(self.emulator.stderr_text())}")
        return "\n".join(parts)


def deployment_env(
    base: dict[str, str], postgres: PostgresServer, redis: RedisServer, emulator: EmulatorServer, s3: MotoS3Server
) -> dict[str, str]:
    """The single-machine environment, moved onto PostgreSQL and Celery, with the example DAGs' connections and
    their data on S3 (an Amazon connection whose extra names the S3-compatible endpoint, as for MinIO or Ceph)."""
    db = postgres.sqlalchemy_url
    aws = {
        "conn_type": "aws",
        "login": S3_CREDENTIALS["aws_access_key_id"],
        "password": S3_CREDENTIALS["aws_secret_access_key"],
        "extra": {"endpoint_url": s3.endpoint_url, "region_name": s3.region},
    }
    connections = {
        "GEMINI": {"conn_type": "genaigemini", "host": emulator.base_url},
        "OPENAI": {"conn_type": "genaiopenai", "host": f"{emulator.base_url}/openai/v1"},
        "ANTHROPIC": {"conn_type": "genaianthropic", "host": f"{emulator.base_url}/anthropic"},
    }
    return {
        **base,
        "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [base.get("PYTHONPATH")])]),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": "32",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.deployment.component_identity.hostname",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db,
        "AIRFLOW__CELERY__BROKER_URL": redis.url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + db,
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_HEALTH_CHECK_THRESHOLD),
        "GENAI_BATCH_EXAMPLES_DIR": EXAMPLES_URI,
        f"AIRFLOW_CONN_{S3_CONN_ID.upper()}": json.dumps(aws),
        "GENAI_BATCH_POLL_INTERVAL": "1",
        **{
            f"AIRFLOW_CONN_{name}_BATCH_DEFAULT": json.dumps({**conn, "password": API_KEY})
            for name, conn in connections.items()
        },
    }


@pytest.fixture(scope="package")
def deployment_emulator() -> Iterator[EmulatorServer]:
    """One emulator for these tests; each resets it and sets the job timings it needs."""
    with EmulatorServer(pending_seconds=1, running_seconds=1, api_key=API_KEY) as server:
        yield server


@pytest.fixture(scope="package")
def deployment_s3() -> Iterator[MotoS3Server]:
    """moto's S3 server on loopback, with the bucket the example DAGs keep their data in."""
    with MotoS3Server() as server:
        server.create_bucket(RESULTS_BUCKET)
        yield server


@pytest.fixture(scope="package")
def distributed(
    tmp_path_factory: pytest.TempPathFactory,
    deployment_emulator: EmulatorServer,
    deployment_s3: MotoS3Server,
    pytestconfig: pytest.Config,
) -> Iterator[DistributedDeployment]:
    """Start PostgreSQL and Redis, write every DAG, migrate, start every component, wait for the API.

    Package-scoped: everything stops once the last test here has run, so the rest of the suite does not share
    the two cores with an idle deployment.
    """
    root = tmp_path_factory.mktemp("airflow-deployment")
    home, dags_dir, inputs_dir, output_dir = (root / name for name in ("airflow-home", "dags", "inputs", "output"))
    for directory in (home, home / "config", dags_dir, inputs_dir, output_dir):
        directory.mkdir()
    dags.write_all(dags_dir, home / "config", inputs_dir, output_dir)
    api_port = free_port(HOST)
    with PostgresServer(root) as postgres, RedisServer(root) as redis:
        postgres.start()
        redis.start()
        deployment = DistributedDeployment(
            home=home,
            dags_dir=dags_dir,
            inputs_dir=inputs_dir,
            output_dir=output_dir,
            env=deployment_env(
                airflow_env(home, dags_dir, api_port, deployment_emulator),
                postgres,
                redis,
                deployment_emulator,
                deployment_s3,
            ),
            api_url=f"http://{HOST}:{api_port}",
            emulator=deployment_emulator,
            root=root,
            postgres=postgres,
            redis=redis,
            s3=deployment_s3,
        )
        try:
            deployment.migrate(timeout=300)
            for component in ["api-server", *deployment.commands]:
                deployment.start(component)
            deployment.wait_until_serving(STARTUP_TIMEOUT)
            announce(
                pytestconfig, f"\ndistributed deployment: AIRFLOW_HOME={home} (logs there), UI at {deployment.api_url}"
            )
            yield deployment
        except BaseException:
            print(f"\n{deployment.diagnostics()}", file=sys.stderr)
            raise
        finally:
            deployment.stop()


@pytest.fixture
def dep(distributed: DistributedDeployment, request: pytest.FixtureRequest) -> Iterator[DistributedDeployment]:
    """The shared deployment with an emptied emulator; every component's log is printed if the test fails."""
    yield from for_one_test(distributed, request)
