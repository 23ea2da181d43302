"""Lines per CPU-second of validate + translate, beside the code at a git revision, the JSON floor and common-ai.

Run: .venv/bin/python -m benchmarks.translation_throughput [--lines 100000] [--repeat 3] [--rev HEAD]
     [--targets gemini openai anthropic bedrock] [--no-anchor]

One JSONL file of typical Gemini-format lines (those of :mod:`benchmarks.validation_throughput`, about 1 KB
each) goes through ``prepare_input`` (read, check against the Gemini schema, translate and check for the
target, spool, fingerprint) to each target, in a fresh interpreter per code version: this tree, and ``--rev``
unpacked with ``git archive``. Beside them, in the same run: the floor (msgspec decode and encode of every line,
written out) and common-ai's ``llm_batch`` adapters building and sizing their OpenAI / Anthropic lines from the
same prompts, run in the anchor environment of :mod:`benchmarks.triggerer_scale` (installed on first use).
Each figure is lines over the CPU seconds of the best of ``--repeat`` rounds, each round one run of every
contender in turn (after a warm-up run), so that a change in the machine's load falls on all of them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._revisions import REPO, unpack_rev

TARGETS = ("gemini", "openai", "anthropic", "bedrock")
MODELS = {
    "gemini": "gemini-2.5-flash",
    "openai": "gpt-4o-mini",
    "anthropic": "claude-sonnet-4-5",
    "bedrock": "anthropic.claude-3-5-sonnet-20240620-v1:0",
}


def _best_cpu(run: Any, repeat: int) -> float:
    """The fewest CPU seconds ``run`` took in ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def worker(source: str, path: str, warm: str, targets: list[str], repeat: int) -> dict[str, float]:
    """In a fresh interpreter: lines per CPU-second of ``prepare_input`` to each target, importing the package from
    ``source``; and of the floor."""
    sys.path.insert(0, source)
    import msgspec

    from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
    from airflow_provider_genai_batch.formats.bedrock import BedrockDialect
    from airflow_provider_genai_batch.formats.gemini import GeminiDialect
    from airflow_provider_genai_batch.formats.openai import OpenAIDialect
    from airflow_provider_genai_batch.inputs import prepare_input

    dialects = {
        "gemini": GeminiDialect,
        "openai": OpenAIDialect,
        "anthropic": AnthropicDialect,
        "bedrock": BedrockDialect,
    }
    count = _count_lines(path)
    results: dict[str, float] = {}
    for target in targets:
        cls = dialects[target]
        limits = cls.limits.model_copy(update={"max_requests": None, "max_file_bytes": None, "max_inline_bytes": None})
        dialect = type(f"Unlimited{cls.__name__}", (cls,), {"limits": limits})()

        def run(file: str = path, dialect: Any = dialect, target: str = target) -> None:
            prepare_input(file, dialect, model=MODELS[target], embeddings=False).cleanup()

        run(warm)
        results[target] = count / _best_cpu(run, repeat)
    decode, encode = msgspec.json.Decoder().decode, msgspec.json.Encoder().encode

    def floor() -> None:
        with open(path, "rb") as lines, tempfile.TemporaryFile() as out:
            for line in lines:
                out.write(encode(decode(line)) + b"\n")

    results["floor"] = count / _best_cpu(floor, repeat)
    return results


def anchor_worker(path: str, repeat: int) -> dict[str, float]:
    """In the anchor environment: common-ai's OpenAI and Anthropic adapters reading the same lines' prompts, checking
    them (``validate_requests``) and building the lines they send, each encoded as their submit encodes it."""
    from airflow.providers.common.ai.batch.anthropic import AnthropicBatchAdapter
    from airflow.providers.common.ai.batch.openai import OpenAIBatchAdapter
    from airflow.providers.common.ai.batch.output_schema import build_output_spec

    spec = build_output_spec(str)
    adapters = {
        "openai": (OpenAIBatchAdapter(client=object()), "gpt-4o-mini", "_iter_lines"),
        "anthropic": (AnthropicBatchAdapter(client=object()), "claude-sonnet-4-5", "_iter_requests"),
    }
    count = _count_lines(path)
    results: dict[str, float] = {}
    for target, (adapter, model, build) in adapters.items():
        adapter.max_requests = adapter.max_payload_bytes = sys.maxsize  # as ours, limits lifted

        def run(adapter: Any = adapter, model: str = model, build: str = build) -> None:
            with open(path, "rb") as lines:
                requests = [_prompt(json.loads(line)["request"]) for line in lines]
            adapter.validate_requests(requests, model=model, output_spec=spec, idempotency_key="k" * 16)
            built = getattr(adapter, build)(
                requests,
                model=model,
                idempotency_key="k" * 16,
                directive=adapter.build_output_directive(spec),
                system_prompt="",
                max_tokens=1024,
                request_params=None,
            )
            b"".join(json.dumps(line).encode() + b"\n" for line in built)

        results[target] = count / _best_cpu(run, repeat)
    return results


def _count_lines(path: str) -> int:
    with open(path, "rb") as lines:
        return sum(1 for _ in lines)


def _prompt(request: dict[str, Any]) -> dict[str, Any]:
    """A Gemini request as the nearest common-ai request: its first text, and its system instruction."""
    texts = [part["text"] for content in request["contents"] for part in content["parts"] if "text" in part]
    prompt: dict[str, Any] = {"prompt": texts[0]}
    if "systemInstruction" in request:
        prompt["system_prompt"] = request["systemInstruction"]["parts"][0]["text"]
    return prompt


def _run_worker(python: str, argv: list[str]) -> dict[str, float]:
    done = subprocess.run(
        [python, "-m", "benchmarks.translation_throughput", *argv], cwd=REPO, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "worker failed")
    results: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rev", default="HEAD", help="the git revision to compare with")
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS)
    parser.add_argument("--no-anchor", action="store_true", help="leave out common-ai")
    parser.add_argument("--worker", nargs=3, metavar=("SOURCE", "INPUT", "WARM"), help=argparse.SUPPRESS)
    parser.add_argument("--anchor-worker", metavar="INPUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, args.targets, args.repeat)))
        return
    if args.anchor_worker:
        print(json.dumps(anchor_worker(args.anchor_worker, args.repeat)))
        return
    from benchmarks.validation_throughput import write_input

    with tempfile.TemporaryDirectory() as tmp:
        path = write_input(Path(tmp) / "typical.jsonl", args.lines)
        warm = write_input(Path(tmp) / "warm.jsonl", 1_000)
        common = ["--targets", *args.targets, "--repeat", "1"]
        print(f"{args.lines:,} lines, {path.stat().st_size / 1e6:.1f} MB; lines per CPU-second, best of {args.repeat}")
        rev = unpack_rev(args.rev, Path(tmp) / "rev")
        contenders = {"this tree": str(REPO), f"at {args.rev}": str(rev)}
        rows: dict[str, dict[str, float] | str] = {name: {} for name in contenders}
        if not args.no_anchor:
            rows["common-ai llm_batch"] = {}
        # Round after round, one run of each: a change in the machine's load falls on all of them alike.
        for _ in range(args.repeat):
            for name, source in contenders.items():
                figures = _run_worker(sys.executable, ["--worker", source, str(path), str(warm), *common])
                _keep_best(rows, name, figures)
            if isinstance(rows.get("common-ai llm_batch"), dict):
                _keep_best(rows, "common-ai llm_batch", _anchor(path))
        _print(rows, args.targets)


def _keep_best(rows: dict[str, dict[str, float] | str], name: str, figures: dict[str, float] | str) -> None:
    kept = rows[name]
    if isinstance(figures, str) or isinstance(kept, str):
        rows[name] = figures if isinstance(figures, str) else kept
        return
    for key, value in figures.items():
        kept[key] = max(kept.get(key, 0.0), value)


def _anchor(path: Path) -> dict[str, float] | str:
    from benchmarks.triggerer_scale import anchor_python

    python, why = anchor_python()
    if python is None:
        return f"not run: {why}"
    try:
        return _run_worker(str(python), ["--anchor-worker", str(path), "--repeat", "1"])
    except RuntimeError as err:
        return f"not run: {err}"


def _print(rows: dict[str, dict[str, float] | str], targets: list[str]) -> None:
    print(f"{'code':<22}" + "".join(f"{target:>12}" for target in targets) + f"{'floor':>12}")
    for name, figures in rows.items():
        if isinstance(figures, str):
            print(f"{name:<22}{figures}")
            continue
        cells = [figures.get(target) for target in [*targets, "floor"]]
        print(f"{name:<22}" + "".join(f"{cell:>12,.0f}" if cell is not None else f"{'-':>12}" for cell in cells))


if __name__ == "__main__":
    main()
