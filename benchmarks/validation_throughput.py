"""Lines per second of the one validation pass (read, validate, translate, spool) over typical Gemini-format lines.

Run: .venv/bin/python -m benchmarks.validation_throughput [--lines 100000] [--providers gemini openai]
Prints, per target provider, the wall time and lines/s of ``prepare_input`` on a JSONL file of typical requests
(a short prompt; a system instruction with generation settings; a function-calling turn; a small inline image),
once as it is and once with the Gemini request check replaced by a no-op (both ways of it: the general schema walk,
and the typed decode that certifies a line of the common shape, every line then taken as certified), and the
lines/s of the general schema check alone. Each figure is the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import base64
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from airflow_provider_genai_batch.formats import gemini_line
from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.common_request import CommonLines
from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.formats.gemini_schema import check_request
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.inputs import prepare_input

DIALECTS: dict[str, Any] = {"gemini": GeminiDialect, "openai": OpenAIDialect, "anthropic": AnthropicDialect}
MODELS = {"gemini": "gemini-2.5-flash", "openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5"}
PIXEL = base64.b64encode(bytes(range(256)) * 4).decode()


def typical_request(i: int) -> dict[str, Any]:
    """One of four request shapes seen in real batches, cycling with ``i``."""
    prompt = f"Summarise support ticket {i} in one sentence: my order has not arrived and nobody answers."
    shape = i % 4
    if shape == 0:
        return {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    if shape == 1:
        return {
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "systemInstruction": {"parts": [{"text": "You are a terse support analyst."}]},
            "generationConfig": {"temperature": 0.2, "topP": 0.9, "maxOutputTokens": 256, "stopSequences": ["\n\n"]},
        }
    if shape == 2:
        declaration = {
            "name": "lookup_order",
            "description": "Find an order",
            "parameters": {"type": "OBJECT", "properties": {"order_id": {"type": "STRING"}}, "required": ["order_id"]},
        }
        return {
            "contents": [
                {"role": "user", "parts": [{"text": prompt}]},
                {"role": "model", "parts": [{"functionCall": {"name": "lookup_order", "args": {"order_id": str(i)}}}]},
                {
                    "role": "user",
                    "parts": [{"functionResponse": {"name": "lookup_order", "response": {"state": "lost"}}}],
                },
            ],
            "tools": [{"functionDeclarations": [declaration]}],
        }
    return {
        "contents": [
            {
                "role": "user",
                "parts": [{"text": "What is in this image?"}, {"inlineData": {"mimeType": "image/png", "data": PIXEL}}],
            }
        ],
        "generationConfig": {"maxOutputTokens": 64},
    }


def write_input(path: Path, count: int) -> Path:
    with path.open("w") as out:
        for i in range(count):
            out.write(json.dumps({"key": f"k{i}", "request": typical_request(i)}) + "\n")
    return path


def unlimited(provider: str) -> Any:
    """The provider's dialect with its request-count and size limits lifted, so any line count can be timed."""
    cls = DIALECTS[provider]
    limits = cls.limits.model_copy(update={"max_requests": None, "max_file_bytes": None, "max_inline_bytes": None})
    return type(f"Unlimited{cls.__name__}", (cls,), {"limits": limits})()


def time_prepare(path: Path, provider: str, *, repeat: int) -> tuple[float, float]:
    """The best wall times of ``prepare_input`` without and with the request-schema check, the two runs alternating
    so that a change in the machine's load falls on both."""
    best = {False: float("inf"), True: float("inf")}
    typed_check = CommonLines.check
    try:
        for _ in range(repeat):
            for schema_check in (False, True):
                gemini_line.check_request = check_request if schema_check else _no_schema_check
                CommonLines.check = typed_check if schema_check else _no_typed_check  # type: ignore[method-assign]
                start = time.perf_counter()
                prepared = prepare_input(str(path), unlimited(provider), model=MODELS[provider], embeddings=False)
                best[schema_check] = min(best[schema_check], time.perf_counter() - start)
                prepared.cleanup()
    finally:
        gemini_line.check_request = check_request
        CommonLines.check = typed_check  # type: ignore[method-assign]
    return best[False], best[True]


def _no_schema_check(request: Any, message: Any = None, *, path: str = "request", vertex: bool = False) -> None:
    """The general request check, as a no-op."""


def _no_typed_check(self: CommonLines, line: dict[str, Any]) -> bool:
    """The typed check, as a no-op that certifies every line (so translation still takes the fast path)."""
    self._certified = line
    return True


def time_schema_check(count: int, repeat: int) -> float:
    requests = [typical_request(i) for i in range(count)]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for request in requests:
            check_request(request)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--providers", nargs="+", default=["gemini", "openai", "anthropic"], choices=sorted(DIALECTS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_input(Path(tmp) / "typical.jsonl", args.lines)
        print(f"{args.lines:,} lines, {path.stat().st_size / 1e6:.1f} MB, best of {args.repeat}")
        print(f"{'pass':<26}{'without check lines/s':>24}{'with check lines/s':>21}{'cost':>8}")
        for provider in args.providers:
            before, after = time_prepare(path, provider, repeat=args.repeat)
            label, cost = f"prepare_input -> {provider}", f"+{(after - before) / before:.0%}"
            print(f"{label:<26}{args.lines / before:>24,.0f}{args.lines / after:>21,.0f}{cost:>8}")
    seconds = time_schema_check(args.lines, args.repeat)
    print(f"{'schema check alone':<26}{'':>24}{args.lines / seconds:>21,.0f}")


if __name__ == "__main__":
    main()
