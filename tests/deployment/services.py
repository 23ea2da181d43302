"""Throwaway PostgreSQL and Redis servers on loopback, for the distributed deployment's metadata DB and broker.

Both are the distribution's own servers (``make deployment-deps`` installs them when missing): PostgreSQL
as a fresh cluster in a temporary directory (run as the ``postgres`` user when the tests run as root,
since PostgreSQL refuses to run as root), Redis with persistence off. Each runs in its own process group
and is killed with it when the session ends.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg2

from airflow_provider_genai_batch.testing.emulator.server import HOST, free_port

from ..airflow_e2e.conftest import wait_until

DB_USER = "airflow"
DB_NAME = "postgres"
POSTGRES_SYSTEM_USER = "postgres"


def postgres_bindir() -> Path:
    """Where ``initdb`` and ``postgres`` live: ``pg_config --bindir``, else Debian's versioned directory."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = Path(
            subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        )
        if (bindir / "initdb").exists():
            return bindir
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL server here: run `make deployment-deps` (installs Debian's postgresql)")
    return found[-1].parent


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


class _Server:
    """A server process in its own group, with its output in a log file."""

    proc: subprocess.Popen[bytes] | None = None
    log_path: Path

    def _spawn(self, command: list[str], cwd: Path) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def assert_alive(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, f"{self.log_path.name}: server exited"

    def stop(self) -> None:
        if self.proc is None:
            return
        _signal_group(self.proc, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=15)
        _signal_group(self.proc, signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def __enter__(self) -> _Server:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class PostgresServer(_Server):
    """A fresh PostgreSQL cluster (trust auth, fsync off) listening on a free loopback port."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port(HOST)
        self.log_path = log_dir / "postgres.log"
        # Not under pytest's tmp directory: its parents are private to the test user, and the server may run
        # as another one.
        self.data_dir = Path(tempfile.mkdtemp(prefix="genai-batch-pg-"))

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg2://{DB_USER}@{HOST}:{self.port}/{DB_NAME}"

    def connect(self) -> psycopg2.extensions.connection:
        connection = psycopg2.connect(host=HOST, port=self.port, user=DB_USER, dbname=DB_NAME)
        connection.autocommit = True
        return connection

    def _as_server_user(self, command: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return command
        account = pwd.getpwnam(POSTGRES_SYSTEM_USER)
        os.chown(self.data_dir, account.pw_uid, account.pw_gid)
        return ["runuser", "-u", POSTGRES_SYSTEM_USER, "--", *command]

    def start(self) -> PostgresServer:
        bindir = postgres_bindir()
        cluster = self.data_dir / "cluster"
        initdb = self._as_server_user(
            [str(bindir / "initdb"), "-D", str(cluster), "-U", DB_USER, "--auth=trust", "-E", "UTF8", "--no-sync"]
        )
        with self.log_path.open("ab") as log:
            subprocess.run(initdb, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=120)
        self._spawn(
            self._as_server_user(
                [
                    str(bindir / "postgres"),
                    "-D",
                    str(cluster),
                    "-k",
                    str(self.data_dir),
                    "-h",
                    HOST,
                    "-p",
                    str(self.port),
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=300",
                ]
            ),
            cwd=self.data_dir,
        )

        def accepting() -> bool:
            self.assert_alive()
            try:
                self.connect().close()
            except psycopg2.OperationalError:
                return False
            return True

        wait_until(accepting, 60, f"PostgreSQL to accept connections on port {self.port}")
        return self

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class RedisServer(_Server):
    """``redis-server`` on a free loopback port, in memory only."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port(HOST)
        self.log_path = log_dir / "redis.log"
        self.work_dir = log_dir

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> RedisServer:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("no redis-server here: run `make deployment-deps` (installs Debian's redis-server)")
        self._spawn(
            [server, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", "."],
            cwd=self.work_dir,
        )
        import redis

        def answering() -> bool:
            self.assert_alive()
            try:
                return bool(redis.Redis(host=HOST, port=self.port, socket_timeout=2).ping())
            except redis.ConnectionError:
                return False

        wait_until(answering, 30, f"redis-server to answer on port {self.port}")
        return self
