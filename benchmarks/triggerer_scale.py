"""Triggerer scale: N deferred batch jobs polled from one event loop, ours beside the anchor triggers.

Run: .venv/bin/python -m benchmarks.triggerer_scale [--sizes 100,1000,3000] [--duration 60] [--warmup 15]
     [--interval 5] [--only ours|anchors] [--providers openai,anthropic,gemini] [--rev REV]

For every N and every trigger, a fresh emulator (jobs that never finish: ``job_outcome="stuck"``) gets N
jobs, then one process runs N triggers at once in one asyncio loop, as a triggerer does
(``benchmarks/_triggerer_run.py``), each polling its own job every ``--interval`` seconds. After
``--warmup`` seconds it measures for ``--duration``: polls/s (the job GETs the emulator logged in that
window; ideal is N / interval), CPU per poll (the process's CPU seconds over those polls), event-loop lag
p99, peak RSS, the most sockets open, the emulator's own CPU use over the window, and the garbage collector's
full collections in the window (how many, the longest: each stops the whole loop). The anchors
(apache-airflow-providers-openai's ``OpenAIBatchTrigger``, common-ai's ``LLMBatchTrigger`` for OpenAI and
Anthropic, apache-airflow-providers-anthropic's ``AnthropicBatchTrigger``) are installed into a separate
venv (``ANCHOR_VENV``) on first use; a row that cannot run says why. The emulator alone is measured first
(GETs of one job over 16 keep-alive connections) so it is shown not to be the bottleneck.

``--rev REV`` adds rows of ours as the code was at ``REV`` (``git archive`` unpacked and put first on the
``PYTHONPATH`` of both the emulator and the triggers, so each row is one version's trigger against the same
version's emulator), taking turns with this tree's rows at each N and provider, and measures that emulator
alone too.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="genai-batch-bench-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")

import argparse
import asyncio
import io
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.emulator.common import parse_rfc3339
from benchmarks._revisions import tree_env, unpack_rev

API_KEY = "bench-key"
RUNNER = Path(__file__).with_name("_triggerer_run.py")
ANCHOR_VENV = Path(tempfile.gettempdir()) / "genai-batch-anchors"
ANCHOR_PACKAGES = (
    "apache-airflow-providers-openai",
    "apache-airflow-providers-common-ai",
    "apache-airflow-providers-anthropic",
)
CONN_ID = "triggerer_scale"
GEMINI_MODEL, OPENAI_MODEL, ANTHROPIC_MODEL = "gemini-2.5-flash", "gpt-4o-mini", "claude-sonnet-4-5"
CHAT = "/v1/chat/completions"

POLL_PATHS = {
    "openai": re.compile(r"^/openai/v1/batches/[^/]+$"),
    "anthropic": re.compile(r"^/anthropic/v1/messages/batches/[^/]+$"),
    "gemini": re.compile(r"^/v1beta/batches/[^/]+$"),
}
"""The GET that is one poll of one job, per provider."""


@dataclass(frozen=True)
class Contender:
    """One trigger implementation on one provider, with the connection it reads."""

    label: str
    kind: str
    provider: str
    conn_type: str
    path: str
    ours: bool

    def connection(self, base_url: str) -> str:
        return json.dumps({"conn_type": self.conn_type, "host": base_url + self.path, "password": API_KEY})


CONTENDERS = (
    Contender("ours, OpenAI", "ours", "openai", "genaiopenai", "/openai/v1", True),
    Contender("ours, Anthropic", "ours", "anthropic", "genaianthropic", "/anthropic", True),
    Contender("ours, Gemini", "ours", "gemini", "genaigemini", "", True),
    Contender("providers-openai OpenAIBatchTrigger", "providers-openai", "openai", "openai", "/openai/v1", False),
    Contender("common-ai LLMBatchTrigger, OpenAI", "common-ai", "openai", "pydanticai", "/openai/v1", False),
    Contender("common-ai LLMBatchTrigger, Anthropic", "common-ai", "anthropic", "pydanticai", "/anthropic", False),
    Contender(
        "providers-anthropic AnthropicBatchTrigger",
        "providers-anthropic",
        "anthropic",
        "anthropic",
        "/anthropic",
        False,
    ),
)


ISOLATED = 20
"""Triggers on one job in the isolated measure of a poll's cost, as many as a pooled client has connections."""

COLUMNS = (
    "polls/s (of ideal)",
    "of ideal",
    "CPU per poll",
    "loop lag p99",
    "peak RSS",
    "sockets",
    "emulator CPU",
    "full GCs (longest)",
)

# --- jobs on the emulator ------------------------------------------------------------------------------


def job_maker(provider: str, base_url: str) -> Callable[[], str]:
    """A function that creates one stuck job through the provider's official SDK and returns its name."""
    if provider == "openai":
        import openai

        oai = openai.OpenAI(api_key=API_KEY, base_url=f"{base_url}/openai/v1", max_retries=0)
        body = {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": "hi"}]}
        line = {"custom_id": "a", "method": "POST", "url": CHAT, "body": body}
        file_id = oai.files.create(file=("in.jsonl", (json.dumps(line) + "\n").encode()), purpose="batch").id
        return lambda: oai.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h").id
    if provider == "anthropic":
        import anthropic

        ant = anthropic.Anthropic(api_key=API_KEY, base_url=f"{base_url}/anthropic", max_retries=0)
        params = {"model": ANTHROPIC_MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
        return lambda: ant.messages.batches.create(requests=[{"custom_id": "a", "params": params}]).id  # type: ignore[list-item]
    from google import genai
    from google.genai import types

    client = genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=base_url, api_version="v1beta"))
    row = {"key": "a", "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}
    uploaded = client.files.upload(
        file=io.BytesIO((json.dumps(row) + "\n").encode()), config=types.UploadFileConfig(mime_type="application/jsonl")
    )
    return lambda: client.batches.create(model=GEMINI_MODEL, src=uploaded.name).name or ""


def create_jobs(provider: str, base_url: str, count: int) -> list[str]:
    make = job_maker(provider, base_url)
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda _: make(), range(count)))


@dataclass(frozen=True)
class Code:
    """One version of our code: this tree, or ``git archive REV`` unpacked at ``tree``."""

    label: str
    tree: Path | None = None

    def env(self) -> dict[str, str]:
        """The environment of a process that runs this version (``tree_env`` of its tree)."""
        return dict(os.environ) if self.tree is None else tree_env(self.tree)


THIS_TREE = Code("")


@contextmanager
def emulator(code: Code = THIS_TREE) -> Iterator[tuple[EmulatorServer, psutil.Process]]:
    """A fresh emulator of ``code`` whose jobs never finish, and its process (for its CPU use)."""
    server = EmulatorServer(api_key=API_KEY, job_outcome="stuck")
    saved = dict(os.environ)
    os.environ.update(code.env())  # the subprocess inherits it
    try:
        server.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        port = str(server.port)
        (process,) = [p for p in psutil.Process().children() if port in p.cmdline()]
        yield server, process
    finally:
        server.stop()


class CpuSampler:
    """Samples a process's CPU seconds twice a second, to tell its use over any window afterwards."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            times = self.process.cpu_times()
            self.samples.append((time.time(), times.user + times.system))
            self._stop.wait(0.5)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def share(self, start: float, end: float) -> float:
        """CPU seconds per second over the samples inside [start, end]."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return float("nan")
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        return (c1 - c0) / (t1 - t0)


class PollLog:
    """Collects the emulator's polls of one provider every few seconds while a run goes on.

    The emulator keeps only its last 10,000 requests, fewer than N = 3,000 triggers make in a 30 s window
    (18,000), so reading the log once at the end would cap the count at 333 polls/s.
    """

    def __init__(self, server: EmulatorServer, provider: str, every: float = 3.0) -> None:
        self.server = server
        self.pattern = POLL_PATHS[provider]
        self.every = every
        self.seen: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _collect(self) -> None:
        for entry in self.server.requests():
            if entry["method"] == "GET" and self.pattern.match(entry["path"]):
                self.seen.add((entry["time"], entry["path"]))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._collect()

    def __enter__(self) -> PollLog:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._collect()

    def between(self, start: float, end: float) -> int:
        """Polls logged inside [start, end] (unix seconds)."""
        return sum(1 for time_, _ in self.seen if start <= parse_rfc3339(time_) <= end)


# --- the emulator alone --------------------------------------------------------------------------------


async def _hammer(host: str, port: int, path: str, seconds: float, connections: int) -> int:
    """GET ``path`` back to back over ``connections`` keep-alive connections; how many answers came back."""
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {API_KEY}\r\n\r\n").encode()
    done = 0
    deadline = time.monotonic() + seconds

    async def one() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(host, port)
        while time.monotonic() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            done += 1
        writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return done


def emulator_alone(code: Code, seconds: float = 5.0) -> tuple[float, float]:
    """Requests/s the emulator of ``code`` answers for one job's GET, and its CPU use meanwhile."""
    with emulator(code) as (server, process):
        (job,) = create_jobs("openai", server.base_url, 1)
        with CpuSampler(process) as cpu:
            start = time.time()
            done = asyncio.run(_hammer(server.host, server.port, f"/openai/v1/batches/{job}", seconds, 16))
            end = time.time()
        return done / (end - start), cpu.share(start, end)


# --- one run -------------------------------------------------------------------------------------------


def anchor_python() -> tuple[Path | None, str]:
    """The anchors' interpreter, installing them on first use; or None and why not."""
    python = ANCHOR_VENV / "bin" / "python"
    probe = "import airflow.providers.openai, airflow.providers.anthropic, airflow.providers.common.ai, psutil"
    if python.exists() and subprocess.run([python, "-c", probe], capture_output=True).returncode == 0:
        return python, ""
    print(f"installing the anchors into {ANCHOR_VENV} ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", ANCHOR_VENV], check=True, capture_output=True)
        subprocess.run(
            [ANCHOR_VENV / "bin" / "pip", "install", "-q", *ANCHOR_PACKAGES, "psutil"],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as err:
        return None, f"pip install failed: {(err.stderr or '').strip().splitlines()[-1:]}"
    return python, ""


def run_one(
    contender: Contender, size: int, args: argparse.Namespace, python: Path, code: Code, *, one_job: bool = False
) -> dict[str, Any]:
    """N triggers of ``contender`` against a fresh emulator, both of ``code``; the runner's figures plus polls and
    emulator CPU. With ``one_job`` all N poll the same job."""
    with emulator(code) as (server, process):
        jobs = create_jobs(contender.provider, server.base_url, 1 if one_job else size)
        spec = {
            "kind": contender.kind,
            "provider": contender.provider,
            "conn_id": CONN_ID,
            "jobs": jobs * size if one_job else jobs,
            "interval": args.interval,
            "warmup": args.warmup,
            "duration": args.duration,
        }
        env = {**code.env(), f"AIRFLOW_CONN_{CONN_ID.upper()}": contender.connection(server.base_url)}
        with CpuSampler(process) as cpu, PollLog(server, contender.provider) as polls:
            done = subprocess.run(
                [python, RUNNER],
                input=json.dumps(spec),
                env=env,
                capture_output=True,
                text=True,
                timeout=args.warmup + args.duration + 300,
            )
        if done.returncode != 0:
            return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:200]}
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        result["polls"] = polls.between(result["start"], result["end"])
        result["emulator_cpu"] = cpu.share(result["start"], result["end"])
        return result


def row(label: str, size: int, interval: float, result: dict[str, Any]) -> str:
    ideal = size / interval
    if "error" in result:
        return f"| {size:,} | {label} | {result['error']} |" + " |" * (len(COLUMNS) - 1)
    seconds = result["end"] - result["start"]
    rate = result["polls"] / seconds
    per_poll = 1000 * result["cpu"] / result["polls"] if result["polls"] else float("inf")
    note = ""
    if result["events"] or result["crashed"]:
        first = result["first_event"] or result["first_error"]
        note = f" ({result['events']} events, {result['crashed']} crashed: {first})"
    return (
        f"| {size:,} | {label}{note} | {rate:.1f} / {ideal:.0f} | {100 * rate / ideal:.0f}% | "
        f"{per_poll:.2f} ms | {1000 * result['lag_p99']:.0f} ms | {result['peak_rss_mib']:.0f} MiB | "
        f"{result['sockets']:,} | {100 * result['emulator_cpu']:.0f}% | "
        f"{result['full_collections']} ({1000 * result['longest_full_collection']:.0f} ms) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,3000", help="comma-separated numbers of triggers")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds before measuring")
    parser.add_argument("--interval", type=float, default=5.0, help="poll interval of every trigger")
    parser.add_argument("--only", choices=("ours", "anchors"), default=None)
    parser.add_argument("--providers", default="openai,anthropic,gemini")
    parser.add_argument("--rev", default=None, help="also run ours as of this git revision, taking turns")
    parser.add_argument(
        "--isolated",
        action="store_true",
        help=f"first, the bare cost of a poll: {ISOLATED} of our triggers polling one job back to back",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    providers = set(args.providers.split(","))
    contenders = [
        c for c in CONTENDERS if c.provider in providers and (args.only is None or c.ours == (args.only == "ours"))
    ]
    with tempfile.TemporaryDirectory(prefix="genai-batch-triggerer-scale-") as tmp:
        codes = [THIS_TREE]
        if args.rev:
            codes.insert(0, Code(f" ({args.rev})", unpack_rev(args.rev, Path(tmp) / "rev")))
        print(f"load average at start: {load()}")
        for code in codes:
            rate, share = emulator_alone(code)
            print(
                f"emulator{code.label or ' (this tree)'} alone: {rate:,.0f} job GETs/s at {100 * share:.0f}% of one "
                "core (16 keep-alive connections)"
            )
        if args.isolated:
            isolated(args, [c for c in contenders if c.ours], codes)
        python_for: dict[bool, tuple[Path | None, str]] = {True: (Path(sys.executable), "")}
        if any(not c.ours for c in contenders):
            python_for[False] = anchor_python()
        print(
            f"\n{args.duration:.0f} s measured after {args.warmup:.0f} s warm-up, each trigger polling every "
            f"{args.interval:g} s\n"
        )
        print(f"| N | trigger | {' | '.join(COLUMNS)} |")
        print("|---|---|" + "---|" * len(COLUMNS))
        for size in sizes:
            for contender in contenders:
                python, why_not = python_for[contender.ours]
                for code in codes if contender.ours else [THIS_TREE]:
                    label = contender.label + code.label
                    result = {"error": why_not} if python is None else run_one(contender, size, args, python, code)
                    print(row(label, size, args.interval, result), flush=True)
        print(f"\nload average at end: {load()}")


def isolated(args: argparse.Namespace, contenders: list[Contender], codes: list[Code]) -> None:
    """The bare cost of one poll: ``ISOLATED`` triggers polling one job with no pause between polls, so the
    pool is always busy and the figure is CPU per poll with nothing else to do."""
    settings = argparse.Namespace(interval=0.0, warmup=3.0, duration=10.0)
    print(f"\nisolated: {ISOLATED} of our triggers on one job, back to back, {settings.duration:.0f} s measured\n")
    print("| trigger | polls/s | CPU per poll | emulator CPU |")
    print("|---|---|---|---|")
    for contender in contenders:
        for code in codes:
            result = run_one(contender, ISOLATED, settings, Path(sys.executable), code, one_job=True)
            if "error" in result:
                print(f"| {contender.label}{code.label} | {result['error']} | | |")
                continue
            rate = result["polls"] / (result["end"] - result["start"])
            per_poll = 1000 * result["cpu"] / result["polls"] if result["polls"] else float("inf")
            print(
                f"| {contender.label}{code.label} | {rate:,.0f} | {per_poll:.2f} ms | "
                f"{100 * result['emulator_cpu']:.0f}% |",
                flush=True,
            )


def load() -> str:
    return " ".join(f"{figure:.2f}" for figure in os.getloadavg())


if __name__ == "__main__":
    main()
