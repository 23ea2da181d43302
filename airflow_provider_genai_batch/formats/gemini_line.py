"""One canonical Gemini batch line checked whole: its envelope (key, request, metadata) and its request's REST shape.

The envelope checks come first, with the plain reasons users meet most (a missing ``contents``, an SDK-style
``config``); the request is then checked against the API's schema (:mod:`.gemini_schema`), so what the API would
reject hours into a batch is reported now, naming the JSON path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_genai_batch.formats.gemini_schema import (
    EMBED_REQUEST,
    GENERATE_REQUEST,
    check_request,
    json_type,
    proto_number,
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
    if embeddings:
        check_embedding_size(request)


MAX_EMBEDDING_SIZE = 3072
"""The largest embedding any Gemini embedding model returns (gemini-embedding-001's); the API refuses a larger
``outputDimensionality``."""


def check_embedding_size(request: Mapping[str, Any]) -> None:
    """An embedding request's ``outputDimensionality`` (either spelling, checked an int32 of at least 1) is at most
    :data:`MAX_EMBEDDING_SIZE`: the API answers a larger one with a 400 once the batch runs."""
    for name in ("outputDimensionality", "output_dimensionality"):
        size = request.get(name)
        if size is not None and proto_number(size) > MAX_EMBEDDING_SIZE:
            raise ValueError(
                f"request.{name}: {size!r} is over {MAX_EMBEDDING_SIZE}, the largest embedding a Gemini model returns"
            )


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


def check_api_rules(request: Mapping[str, Any]) -> None:
    """Raise ValueError for what the Gemini API (and Vertex AI) answers with a 400 for a generation request although
    its schema allows it: function calling out of turn (:func:`check_function_turns`), and a thinking budget and a
    thinking level set together. ``request`` has passed :func:`check_line`."""
    check_function_turns(request)
    config = request.get("generationConfig", request.get("generation_config"))
    thinking = config.get("thinkingConfig", config.get("thinking_config")) if config else None
    if thinking:
        budget = thinking.get("thinkingBudget", thinking.get("thinking_budget"))
        level = thinking.get("thinkingLevel", thinking.get("thinking_level"))
        if budget is not None and level not in (None, "THINKING_LEVEL_UNSPECIFIED", 0):
            raise ValueError(
                "request.generationConfig.thinkingConfig sets both thinkingBudget and thinkingLevel: the Gemini API "
                "takes only one of them"
            )


def check_function_turns(request: Mapping[str, Any]) -> None:
    """Raise ValueError where a conversation breaks the Gemini API's rules for function calling, which it answers
    with a 400 for the request (its schema does not state them): a turn with function calls follows a user turn,
    and the turn after it answers each call with one functionResponse part; function responses come only there.

    ``request`` has passed :func:`check_line`, so its contents and parts are objects (in either spelling). A turn of
    text parts only, nearly every turn, costs a look at each part.
    """
    contents = request.get("contents") or ()
    calls_before = 0
    before: Mapping[str, Any] | None = None
    for content in contents:
        calls = responses = 0
        for part in content.get("parts") or ():
            if "text" in part and len(part) == 1:
                continue
            calls += part.get("functionCall", part.get("function_call")) is not None
            responses += part.get("functionResponse", part.get("function_response")) is not None
        if (calls_before or responses or calls) and breaks_function_turns(
            calls_before, calls, responses, before is not None and (before.get("role") or "user") == "user"
        ):
            _function_turn_error(contents, content, responses, calls_before)
        calls_before = calls
        before = content


def breaks_function_turns(calls_before: int, calls: int, responses: int, after_user: bool) -> bool:
    """Whether a turn of ``calls`` function calls and ``responses`` function responses, after a turn of
    ``calls_before`` calls (a user turn when ``after_user``), breaks the rules of :func:`check_function_turns`."""
    return bool(
        (calls_before and responses != calls_before) or (responses and not calls_before) or (calls and not after_user)
    )


def _function_turn_error(contents: Sequence[Any], turn: Mapping[str, Any], responses: int, calls_before: int) -> None:
    """Raise the error for ``turn``, one of ``contents``, which breaks a rule of :func:`check_function_turns`. The loop
    over the turns keeps no index: a turn that breaks a rule finds its own."""
    index = _index(contents, turn)
    if calls_before and responses != calls_before:
        raise ValueError(
            f"request.contents[{index}] has {responses} functionResponse parts for the {calls_before} functionCall "
            f"parts of request.contents[{index - 1}]: Gemini needs the turn after function calls to answer each with "
            "one functionResponse part"
        )
    if responses and not calls_before:
        where = (
            "is the first turn" if index == 0 else f"follows request.contents[{index - 1}], which has no functionCall"
        )
        raise ValueError(
            f"request.contents[{index}] has functionResponse parts but {where}: Gemini takes function responses only "
            "in the turn right after the function calls"
        )
    where = "is the first turn" if index == 0 else f"follows a model turn (request.contents[{index - 1}])"
    raise ValueError(
        f"request.contents[{index}] has functionCall parts but {where}: Gemini takes a function call turn only "
        "right after a user turn or a function response turn"
    )


def _index(contents: Sequence[Any], turn: Mapping[str, Any]) -> int:
    """Where ``turn`` is in ``contents`` (by identity: two turns may be equal)."""
    return next(index for index, content in enumerate(contents) if content is turn)
