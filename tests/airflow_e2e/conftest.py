"""One real Airflow 3 deployment on loopback (API server, scheduler, dag-processor, triggerer; SQLite,
LocalExecutor) in a fresh AIRFLOW_HOME, shared by every end-to-end test, with connections pointing at one
emulator.

Every DAG the tests use (``dags.py``) is written before the components start, so the dag-processor parses
them once. Each test gets the deployment through ``af``, which resets the emulator (the test then sets the
job timings it needs); on a failed test the tail of every component's log, and of the task and trigger
logs, is printed. Every component runs in its own process group and is killed with that group at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.emulator.server import free_port

from . import dags

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
HOST = "127.0.0.1"
API_KEY = "e2e-test-key"
COMPONENTS = {
    "api-server": lambda port: ["api-server", "--host", HOST, "--port", str(port)],
    "scheduler": lambda port: ["scheduler", "--skip-serve-logs"],
    "dag-processor": lambda port: ["dag-processor"],
    "triggerer": lambda port: ["triggerer", "--skip-serve-logs"],
}
STARTUP_TIMEOUT = 90.0
LOG_TAIL_LINES = 60
ENDED_TI_STATES = frozenset({"success", "failed", "upstream_failed", "skipped", "removed"})
T = TypeVar("T")


def wait_until(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    """Call ``check`` until it returns something truthy, and return that; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = check()
        except (httpx.HTTPError, KeyError, ValueError) as err:  # not up yet, or a half-written answer
            last_error, result = err, None
        if result:
            return result
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as err:
        return f"<unreadable: {err}>"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class AirflowDeployment:
    """The running components, the REST API client and where everything writes."""

    home: Path
    dags_dir: Path
    inputs_dir: Path
    output_dir: Path
    env: dict[str, str]
    api_url: str
    emulator: EmulatorServer
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _api: httpx.Client | None = None

    @property
    def api(self) -> httpx.Client:
        if self._api is None:
            self._api = httpx.Client(base_url=f"{self.api_url}/api/v2", timeout=30.0, trust_env=False)
        return self._api

    def log_path(self, component: str) -> Path:
        return self.home / f"{component}.log"

    def start(self, component: str) -> None:
        log = self.log_path(component).open("ab")
        try:
            self.processes[component] = subprocess.Popen(
                [AIRFLOW, *COMPONENTS[component](int(self.api_url.rsplit(":", 1)[1]))],
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so teardown reaches its children too
            )
        finally:
            log.close()

    def migrate(self, timeout: float) -> None:
        """``airflow db migrate`` for this deployment, its output in the ``db-migrate`` log."""
        with self.log_path("db-migrate").open("wb") as log:
            migrate = subprocess.run(
                [AIRFLOW, "db", "migrate"],
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        assert migrate.returncode == 0, f"airflow db migrate failed:\n{_tail(self.log_path('db-migrate'))}"

    def wait_until_serving(self, timeout: float) -> None:
        """Wait until the API server answers its health check (failing at once if a component died)."""

        def api_healthy() -> bool:
            self.assert_alive()
            return httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=2.0, trust_env=False).status_code == 200

        wait_until(api_healthy, timeout, "the API server to answer /api/v2/monitor/health")

    def assert_alive(self) -> None:
        dead = {name: proc.returncode for name, proc in self.processes.items() if proc.poll() is not None}
        assert not dead, f"Airflow components exited: {dead}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the public REST API and return its JSON, failing with the answer's body on an error status."""
        response = self.api.request(method, path, **kwargs)
        assert response.is_success, f"{method} {path} -> {response.status_code}: {response.text[:2000]}"
        return response.json() if response.content else None

    # --- acting on DAGs and task instances through the public REST API -----------------------------------

    def ready(self, dag_id: str) -> None:
        """Wait until the dag-processor has serialized ``dag_id`` (no import error), then unpause it."""

        def parsed() -> bool:
            self.assert_alive()
            errors = self.request("GET", "/importErrors")["import_errors"]
            assert not errors, f"a DAG file did not import: {errors}"
            return self.api.get(f"/dags/{dag_id}").status_code == 200

        wait_until(parsed, 120, f"the dag-processor to serialize {dag_id}")
        self.set_paused(dag_id, False)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        """Pause or unpause a DAG: the scheduler schedules no task of a paused DAG's runs."""
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Start a run (no logical date, as ``airflow dags trigger`` does) and return its run id."""
        body: dict[str, Any] = {"logical_date": None, **({"conf": conf} if conf is not None else {})}
        run_id: str = self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]
        return run_id

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any] | None:
        """The task instance as the API shows it; None until the scheduler has created it."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        response = self.api.get(path)
        if response.status_code == 404:
            return None
        assert response.is_success, f"GET {path} -> {response.status_code}: {response.text[:2000]}"
        ti: dict[str, Any] = response.json()
        return ti

    def wait_for_state(
        self, dag_id: str, run_id: str, task_id: str, state: str, *, try_number: int = 1, timeout: float = 120
    ) -> dict[str, Any]:
        """Wait until try ``try_number`` (or a later one) of the task instance is in ``state``.

        Fails at once when that try ended in another state.
        """

        def reached() -> dict[str, Any] | None:
            self.assert_alive()
            ti = self.task_instance(dag_id, run_id, task_id)
            if ti is None or ti["try_number"] < try_number:
                return None
            if ti["state"] == state:
                return ti
            assert ti["state"] not in ENDED_TI_STATES, f"{task_id} try {ti['try_number']} ended {ti['state']}"
            return None

        return wait_until(reached, timeout, f"{dag_id}.{task_id} try {try_number} to be {state}")

    def wait_for_run(self, dag_id: str, run_id: str, state: str, timeout: float = 60) -> None:
        """Wait until the scheduler has set the DAG run's state (it does so after the last task ends)."""
        wait_until(
            lambda: self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"] == state,
            timeout,
            f"run {run_id} of {dag_id} to be {state}",
        )

    def clear(self, dag_id: str, run_id: str, task_ids: list[str], *, downstream: bool) -> None:
        """Clear task instances of a run, as a user does in the UI (succeeded ones too), so they run again.

        A clear that meets SQLite's single writer lock fails whole ("Database error") and is sent again.
        """
        body = {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": task_ids,
            "only_failed": False,
            "include_downstream": downstream,
            "reset_dag_runs": True,
        }

        def cleared() -> bool:
            response = self.api.post(f"/dags/{dag_id}/clearTaskInstances", json=body)
            if response.status_code == 500 and "Database error" in response.text:
                return False
            assert response.is_success, f"clear -> {response.status_code}: {response.text[:2000]}"
            return True

        wait_until(cleared, 30, f"the clear of {task_ids} in {dag_id} to go through", interval=1.0)

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """What one try of a task instance logged (its worker-side log file)."""
        path = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return (path / f"attempt={try_number}.log").read_text(errors="replace")

    def trigger_log(self, dag_id: str) -> str:
        """Every trigger log of ``dag_id``, then the triggerer's own (where a finished trigger's last lines go)."""
        files = sorted((self.home / "logs" / f"dag_id={dag_id}").rglob("*.log.trigger.*"))
        return "\n".join(path.read_text(errors="replace") for path in [*files, self.log_path("triggerer")])

    def jobs_of(self, dag_id: str) -> list[dict[str, Any]]:
        """The emulator's jobs submitted by ``dag_id`` (their display names start with ``<dag_id>.``), oldest first."""
        return [job for job in self.emulator.jobs() if (job["display_name"] or "").startswith(f"{dag_id}.")]

    def asset_events(self, source_dag_id: str) -> list[dict[str, Any]]:
        """The Asset events ``source_dag_id`` emitted, oldest first."""
        answer = self.request("GET", "/assets/events", params={"source_dag_id": source_dag_id, "order_by": "timestamp"})
        events: list[dict[str, Any]] = answer["asset_events"]
        return events

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.request("GET", f"/dags/{dag_id}/dagRuns")["dag_runs"]
        return runs

    def stop(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None
        for proc in self.processes.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            # Whatever is left in the group (executor workers, the leader if it ignored SIGTERM) is killed.
            _signal_group(proc, signal.SIGKILL)
            proc.wait()

    def diagnostics(self) -> str:
        parts = []
        for component in COMPONENTS:
            proc = self.processes.get(component)
            status = "not started" if proc is None else f"returncode={proc.poll()}"
            parts.append(
                f"===== {component} ({status}): last {LOG_TAIL_LINES} lines =====\n{_tail(self.log_path(component))}"
            )
        for task_log in sorted((self.home / "logs").rglob("*.log*")):
            parts.append(f"===== {task_log.relative_to(self.home)} =====\n{_tail(task_log)}")
        parts.append(f"===== emulator stderr =====\n{_tail_text(self.emulator.stderr_text())}")
        return "\n".join(parts)


def _tail_text(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the process group this fixture created for ``proc`` (its pgid is its pid: start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def airflow_env(home: Path, dags_dir: Path, api_port: int, emulator: EmulatorServer) -> dict[str, str]:
    """A hermetic environment: no AIRFLOW* variable of the pytest process leaks into the components."""
    base = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "_AIRFLOW"))}
    api_url = f"http://{HOST}:{api_port}"
    return {
        **base,
        "PATH": f"{BIN}{os.pathsep}{base.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
        "NO_PROXY": "*",  # loopback only, whatever proxy the machine has configured
        "no_proxy": "*",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": "e2e-api-secret-key",
        "AIRFLOW__API_AUTH__JWT_SECRET": "e2e-jwt-secret-shared-by-every-component-" + "0123456789abcdef" * 2,
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__TRIGGERER__ON_KILL_TIMEOUT": "30",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW_CONN_GEMINI_BATCH_DEFAULT": json.dumps(
            {"conn_type": "genaigemini", "host": emulator.base_url, "password": API_KEY}
        ),
    }


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember each phase's report on the item, so the deployment fixture knows whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def emulator() -> Iterator[EmulatorServer]:
    """One emulator for the session; ``af`` resets it before each test, which then sets the timings it needs."""
    with EmulatorServer(pending_seconds=600, running_seconds=600, api_key=API_KEY) as server:
        yield server


@pytest.fixture(scope="package")
def airflow_deployment(
    tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorServer
) -> Iterator[AirflowDeployment]:
    """Write every test DAG, migrate a fresh SQLite DB, start the four components, wait until the API answers."""
    root = tmp_path_factory.mktemp("airflow-e2e")
    home, dags_dir, inputs_dir, output_dir = (root / name for name in ("airflow-home", "dags", "inputs", "output"))
    for directory in (home, dags_dir, inputs_dir, output_dir):
        directory.mkdir()
    for dag in dags.ALL:
        for name, source in dag.sources(inputs_dir, output_dir).items():
            (dags_dir / name).write_text(source)
    api_port = free_port(HOST)
    deployment = AirflowDeployment(
        home=home,
        dags_dir=dags_dir,
        inputs_dir=inputs_dir,
        output_dir=output_dir,
        env=airflow_env(home, dags_dir, api_port, emulator),
        api_url=f"http://{HOST}:{api_port}",
        emulator=emulator,
    )
    try:
        deployment.migrate(timeout=180)
        for component in COMPONENTS:
            deployment.start(component)
        deployment.wait_until_serving(STARTUP_TIMEOUT)
        yield deployment
    except BaseException:
        print(f"\n{deployment.diagnostics()}", file=sys.stderr)
        raise
    finally:
        deployment.stop()


D = TypeVar("D", bound=AirflowDeployment)


def for_one_test(deployment: D, request: pytest.FixtureRequest) -> Iterator[D]:
    """A shared deployment for one test: checked alive, its emulator emptied, every log printed if the test fails."""
    deployment.assert_alive()
    deployment.emulator.reset()
    yield deployment
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"\n{deployment.diagnostics()}", file=sys.stderr)


@pytest.fixture
def af(airflow_deployment: AirflowDeployment, request: pytest.FixtureRequest) -> Iterator[AirflowDeployment]:
    """The shared deployment with an emptied emulator; the logs of every component are printed if the test fails."""
    yield from for_one_test(airflow_deployment, request)
