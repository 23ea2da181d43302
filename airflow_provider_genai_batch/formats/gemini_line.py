"""One canonical Gemini batch line checked whole: its envelope (key, request, metadata) and its request's REST shape.

The envelope checks come first, with the plain reasons users meet most (a missing ``contents``, an SDK-style
``config``); the request is then checked against the API's schema (:mod:`.gemini_schema`), so what the API would
reject hours into a batch is reported now, naming the JSON path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_genai_batch.formats.gemini_schema import (
    EMBED_REQUEST,
    GENERATE_REQUEST,
    check_request,
    json_type,
)

LINE_FIELDS = frozenset({"key", "request", "metadata"})


def check_line(line: Mapping[str, Any], *, embeddings: bool, vertex: bool = False) -> None:
    """Raise ValueError naming the first problem of a ``{"key", "request", "metadata"?}`` line (for Vertex AI
    with ``vertex``: its own request fields are allowed)."""
    if not line.keys() <= LINE_FIELDS:
        raise ValueError(f"unknown field(s) {', '.join(sorted(set(line) - LINE_FIELDS))}")
    request = line["request"]
    if not isinstance(request, dict):
        raise ValueError("'request' must be a JSON object")
    check_metadata(line.get("metadata"), line.get("key"))
    if embeddings:
        if not isinstance(request.get("content"), dict):
            raise ValueError("an embeddings request needs 'content' (an object with 'parts')")
    else:
        contents = request.get("contents")
        if not isinstance(contents, list) or not contents:
            raise ValueError("a generation request needs 'contents' (a non-empty list)")
        if "config" in request:
            raise ValueError(
                "JSONL requests use the REST shape: put generation parameters under 'generationConfig', "
                "not an SDK-style 'config'"
            )
    check_request(request, EMBED_REQUEST if embeddings else GENERATE_REQUEST, vertex=vertex)


def check_metadata(metadata: Any, key: Any) -> None:
    """``metadata`` is a JSON object (a Struct) echoed with the result; a ``key`` in it must be the line's key."""
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise ValueError(f"'metadata' must be a JSON object, got {json_type(metadata)}")
    if "key" in metadata and metadata["key"] != key:
        raise ValueError(
            f"metadata.key {metadata['key']!r} differs from the line's key {key!r}: the result is joined on one key"
        )
