"""Runs the emulator in a subprocess on a free loopback port, for tests and demos.

A subprocess (not a thread) keeps the emulator's event loop, threads and memory apart from the code
under test, exactly as a remote API would be.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

import httpx

from airflow_provider_genai_batch.testing.emulator.config import EmulatorConfig

STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
HOST = "127.0.0.1"

ServiceT = TypeVar("ServiceT", bound="LoopbackService")


def free_port(host: str = HOST) -> int:
    """Ask the OS for a currently unused TCP port on host."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Terminate a server subprocess, killing it if it lingers past STOP_TIMEOUT_SECONDS."""
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class LoopbackService:
    """A server a test starts on loopback and stops again; a context manager that does both."""

    def start(self: ServiceT) -> ServiceT:
        """Start serving and return self once the server answers."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving and release what the server held."""
        raise NotImplementedError

    def __enter__(self: ServiceT) -> ServiceT:
        """Start on entering the with block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop on leaving the with block."""
        self.stop()


class EmulatorServer(LoopbackService):
    """Context manager: start the emulator subprocess, expose its URL and control helpers, stop it."""

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = HOST,
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
        **config: Any,
    ) -> None:
        """Remember where to listen and the EmulatorConfig fields (validated now, not at start)."""
        self.config_at_start = EmulatorConfig(**config)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._client: httpx.Client | None = None

    @property
    def base_url(self) -> str:
        """The root URL clients use, e.g. http://127.0.0.1:8123 (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        """The subprocess command line for the configured port and settings."""
        cfg = self.config_at_start
        cmd = [
            sys.executable,
            "-m",
            "airflow_provider_genai_batch.testing.emulator",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--pending-seconds",
            str(cfg.pending_seconds),
            "--running-seconds",
            str(cfg.running_seconds),
            "--job-outcome",
            cfg.job_outcome,
        ]
        if cfg.faults != type(cfg.faults)():
            cmd += ["--faults", cfg.faults.model_dump_json()]
        if cfg.data_dir is not None:
            cmd += ["--data-dir", str(cfg.data_dir)]
        if cfg.api_key is not None:
            cmd += ["--api-key", cfg.api_key]
        if cfg.s3_endpoint_url is not None:
            cmd += ["--s3-endpoint-url", cfg.s3_endpoint_url]
        if cfg.gcs_endpoint_url is not None:
            cmd += ["--gcs-endpoint-url", cfg.gcs_endpoint_url]
        cmd += ["--aws-region", cfg.aws_region]
        if cfg.openai_retryable_row_share:
            cmd += ["--openai-retryable-row-share", str(cfg.openai_retryable_row_share)]
        return cmd

    def start(self) -> EmulatorServer:
        """Launch the subprocess and wait until /_emulator/health answers."""
        if self._process is not None:
            raise RuntimeError("The emulator is already running.")
        # The stderr file lives as long as the subprocess; stop() closes it.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=self._stderr)
        self._client = httpx.Client(base_url=self.base_url, timeout=30.0)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process.poll() is not None:
                stderr = self.stderr_text()
                self.stop()
                raise RuntimeError(f"The emulator exited during startup. Its stderr:\n{stderr}")
            try:
                if self._client.get("/_emulator/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                stderr = self.stderr_text()
                self.stop()
                raise RuntimeError(
                    f"The emulator did not answer within {self.startup_timeout} s. Its stderr:\n{stderr}"
                )
            time.sleep(0.05)

    def stderr_text(self) -> str:
        """What the subprocess wrote to stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def stop(self) -> None:
        """Terminate the subprocess (kill it if it lingers) and release resources."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._process is not None:
            stop_process(self._process)
            self._process = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    @property
    def client(self) -> httpx.Client:
        """An httpx client bound to the emulator's base URL (only while running)."""
        if self._client is None:
            raise RuntimeError("The emulator is not running.")
        return self._client

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call a control endpoint and return its JSON, raising on an error status."""
        response = self.client.request(method, f"/_emulator{path}", **kwargs)
        response.raise_for_status()
        return response.json()

    def config(self, **changes: Any) -> dict[str, Any]:
        """Return the live config, after applying `changes` (a partial update) when any are given."""
        if changes:
            payload = {key: str(value) if isinstance(value, Path) else value for key, value in changes.items()}
            result: dict[str, Any] = self._call("POST", "/config", json=payload)
            return result
        current: dict[str, Any] = self._call("GET", "/config")
        return current

    def jobs(self) -> list[dict[str, Any]]:
        """Every job ever created, oldest first."""
        jobs: list[dict[str, Any]] = self._call("GET", "/jobs")["jobs"]
        return jobs

    def delete_job(self, name: str) -> None:
        """Take the job ``name`` (as :meth:`jobs` lists it) away, as its provider does when it ages out."""
        self._call("POST", "/jobs/delete", json={"name": name})

    def expire_output(self, name: str) -> None:
        """Delete the results file the finished job ``name`` wrote, as its provider does when it expires."""
        self._call("POST", "/jobs/expire-output", json={"name": name})

    def requests(self) -> list[dict[str, Any]]:
        """Every API request logged since the last reset, in arrival order."""
        logged: list[dict[str, Any]] = self._call("GET", "/requests")["requests"]
        return logged

    def faults(self) -> dict[str, Any]:
        """Injected faults since the last reset: {"counts": {kind: n}, "total", "statuses", "events"}."""
        report: dict[str, Any] = self._call("GET", "/faults")
        return report

    def reset(self) -> None:
        """Forget all files, jobs and logged requests, and restore the launch config."""
        self._call("POST", "/reset")
