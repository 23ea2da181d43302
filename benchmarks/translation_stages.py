"""Where a line's CPU time goes in the validation pass: each stage timed alone, in µs per line.

Run: .venv/bin/python -m benchmarks.translation_stages [--lines 20000] [--repeat 5]

Over the typical Gemini-format lines of :mod:`benchmarks.validation_throughput` (four shapes, cycling): reading
(split, msgspec decode, re-encode for the repeated-member check), the typed certification of the common shape
and, beside it, the general request check it stands in for; the translation to each target, the fast way and
the general way, per shape for OpenAI; the translated line encoded and hashed; the key log (every key added, then
the duplicate check); the whole ``prepare_input`` per target, whose remainder is the pass itself (format and key
checks, key log, spools); and the floor (msgspec decode and encode). Each figure is the best of ``--repeat`` runs,
in CPU time.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.bedrock import BedrockDialect
from airflow_provider_genai_batch.formats.common_request import certified, decode_common
from airflow_provider_genai_batch.formats.common_translate import common_translator
from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.formats.gemini_line import check_line
from airflow_provider_genai_batch.formats.jsonl import JsonlReader
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.inputs import prepare_input
from airflow_provider_genai_batch.key_index import KeyLog
from benchmarks.translation_throughput import MODELS
from benchmarks.validation_throughput import typical_request

SHAPES = ("one-turn prompt", "system and settings", "function calls and tools", "inline image")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def _per_line(run: Callable[[], object], count: int, repeat: int) -> float:
    """The fewest CPU µs per line ``run`` took over ``count`` lines, in ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best / count * 1e6


def _unlimited(cls: Any) -> Any:
    limits = cls.limits.model_copy(update={"max_requests": None, "max_file_bytes": None, "max_inline_bytes": None})
    return type(f"Unlimited{cls.__name__}", (cls,), {"limits": limits})()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    count, repeat = args.lines, args.repeat
    raw = [_encode({"key": f"k{i}", "request": typical_request(i)}) for i in range(count)]
    text = b"".join(line + b"\n" for line in raw)
    lines = [_decode(line) for line in raw]
    canonical = [_encode(line) for line in lines]
    rows: list[tuple[str, float]] = []

    def read() -> None:
        for _ in JsonlReader(io.BytesIO(text), source="x", max_line_bytes=1 << 27, too_long="-"):
            pass

    def certify() -> None:
        for line in canonical:
            typed = decode_common(line)
            assert typed is not None and certified(typed)

    def check() -> None:
        for line in lines:
            check_line(line, embeddings=False)

    rows.append(
        ("reading: split, msgspec decode, re-encode for the repeated-member check", _per_line(read, count, repeat))
    )
    rows.append(("typed certification (decode into the common shape, its checks)", _per_line(certify, count, repeat)))
    rows.append(("  general Gemini request check, for comparison", _per_line(check, count, repeat)))
    dialects = {
        "openai": OpenAIDialect(),
        "anthropic": AnthropicDialect(),
        "bedrock": BedrockDialect(),
    }
    outputs: list[Any] = []
    for target, dialect in dialects.items():
        model = MODELS[target]
        translate = common_translator(dialect, model=model)
        assert translate is not None

        def fast(translate: Any = translate, subset: list[Any] = lines) -> None:
            for line in subset:
                translate(line)

        def general(dialect: Any = dialect, model: str = model, subset: list[Any] = lines) -> None:
            for line in subset:
                dialect.to_native(line, model=model, embeddings=False)

        rows.append((f"translation to {target}", _per_line(fast, count, repeat)))
        if target == "openai":
            for index, shape in enumerate(SHAPES):
                subset = lines[index::4]
                rows.append((f"  {shape}", _per_line(lambda subset=subset: fast(subset=subset), len(subset), repeat)))
            outputs = [translate(line) for line in lines]
        rows.append((f"  general translation to {target}, for comparison", _per_line(general, count, repeat)))

    def encode_and_hash() -> None:
        digest = hashlib.sha256()
        for out in outputs:
            digest.update(_encode(out) + b"\n")

    rows.append(("the OpenAI line encoded and hashed into the fingerprint", _per_line(encode_and_hash, count, repeat)))
    keys = [line["key"] for line in lines]

    def key_log() -> None:
        with KeyLog() as log:
            for number, key in enumerate(keys, start=1):
                log.add(number, key)
            assert log.first_duplicate() is None

    rows.append(("key log: every key added, then the duplicate check", _per_line(key_log, count, repeat)))

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "typical.jsonl"
        path.write_bytes(text)
        for target, cls in (("gemini", GeminiDialect), ("openai", OpenAIDialect)):
            dialect = _unlimited(cls)

            def whole(dialect: Any = dialect, target: str = target) -> None:
                prepare_input(str(path), dialect, model=MODELS[target], embeddings=False).cleanup()

            whole()
            rows.append((f"whole prepare_input to {target}", _per_line(whole, count, repeat)))

        def floor() -> None:
            with path.open("rb") as source, tempfile.TemporaryFile() as out:
                for line in source:
                    out.write(_encode(_decode(line)) + b"\n")

        rows.append(("floor: msgspec decode + encode of the line, written", _per_line(floor, count, repeat)))

    print(f"{count:,} typical lines, CPU µs per line, best of {repeat}")
    for name, micros in rows:
        print(f"{name:78s} {micros:6.1f}")


if __name__ == "__main__":
    main()
