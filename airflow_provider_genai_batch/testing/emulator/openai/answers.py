"""What each batchable endpoint answers to one request, with the fake model, in that endpoint's response shape.

Chat completions, embeddings, responses, completions and moderations are answered; a body the endpoint
would refuse gets its 400 answer, which lands in the batch's error file like any failed request.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_genai_batch.testing.emulator import responses
from airflow_provider_genai_batch.testing.emulator.common import openai_error_body
from airflow_provider_genai_batch.testing.emulator.openai.validation import (
    COMPLETIONS_FIELDS,
    EMBEDDINGS_FIELDS,
    MODERATIONS_FIELDS,
    ParamProblem,
    chat_problem,
    embedding_texts,
    unknown_argument,
)
from airflow_provider_genai_batch.testing.emulator.openai.wire import ALPHANUMERIC, row_token

DEFAULT_MODERATION_MODEL = "omni-moderation-latest"
MAX_EMBEDDING_ARRAY = 2048
"""The most inputs one embeddings request takes in its `input` array."""
MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
IMAGE_MODERATION_CATEGORIES = frozenset(
    {"self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "violence", "violence/graphic"}
)
"""The categories the moderation model also scores images for."""


@dataclass(frozen=True)
class Answer:
    """One request's outcome: the HTTP status and body the endpoint answered, and the tokens it used."""

    status_code: int
    body: dict[str, Any]
    input_tokens: int = 0
    output_tokens: int = 0


def row_error_answer(error: responses.RowError) -> Answer:
    """The fake model's row error as the endpoint's answer (a 5xx is a server_error)."""
    error_type = "server_error" if error.code >= 500 else "invalid_request_error"
    return Answer(error.code, openai_error_body(error.message, error_type))


def missing_model() -> Answer:
    """The endpoint's answer to a request without a model."""
    return Answer(400, openai_error_body("you must provide a model parameter"))


def missing(name: str) -> Answer:
    """The endpoint's answer to a request without a required parameter."""
    return Answer(
        400, openai_error_body(f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter")
    )


def invalid(name: str) -> Answer:
    """The endpoint's answer to a parameter of the wrong shape."""
    return Answer(400, openai_error_body(f"'$.{name}' is invalid. Please check the API reference.", param=name))


def refused(problem: ParamProblem) -> Answer:
    """The endpoint's 400 answer to a parameter it refuses."""
    return Answer(400, openai_error_body(problem.message, param=problem.param, code=problem.code))


def token_limit(body: dict[str, Any], *names: str) -> int | None:
    """The first of the named integer limits the body sets, or None."""
    for name in names:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def answer_chat(body: dict[str, Any], seed: str, created: int) -> Answer:
    """A chat completion (`/v1/chat/completions`), with as many choices as `n` asks for."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return missing_model()
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return missing("messages")
    problem = chat_problem(body)
    if problem is not None:
        return refused(problem)
    turns = [
        (str(message.get("role", "")), responses.content_text(message.get("content")))
        for message in messages
        if isinstance(message, dict)
    ]
    outcome = responses.generate_from_turns(turns)
    if isinstance(outcome, responses.RowError):
        return row_error_answer(outcome)
    outcome, cut = responses.limit_tokens(outcome, token_limit(body, "max_completion_tokens", "max_tokens"))
    choices = body.get("n")
    count = choices if isinstance(choices, int) and not isinstance(choices, bool) and choices > 1 else 1
    completion_tokens = outcome.completion_tokens * count
    completion = {
        "id": "chatcmpl-" + row_token("chatcmpl:" + seed, 29, ALPHANUMERIC),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": index,
                "message": {"role": "assistant", "content": outcome.text, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "length" if cut else "stop",
            }
            for index in range(count)
        ],
        "usage": {
            "prompt_tokens": outcome.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": outcome.prompt_tokens + completion_tokens,
        },
        "service_tier": "default",
        "system_fingerprint": None,
    }
    return Answer(200, completion, outcome.prompt_tokens, completion_tokens)


MAX_EMBEDDING_DIMENSIONS = 3072
"""The largest embedding any OpenAI model returns (text-embedding-3-large's): larger ``dimensions`` are refused."""


def pack_embedding(values: list[float]) -> str:
    """A vector as the API's base64 encoding: little-endian float32."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def embeddable(value: Any) -> bool:
    """Whether an embeddings `input` is within the API's bounds: no empty string, and at most
    :data:`MAX_EMBEDDING_ARRAY` texts or token arrays in a list."""
    if not isinstance(value, list):
        return not (isinstance(value, str) and not value)
    of_inputs = not all(isinstance(item, int) for item in value)
    return "" not in value and not (of_inputs and len(value) > MAX_EMBEDDING_ARRAY)


def answer_embeddings(body: dict[str, Any], seed: str, created: int) -> Answer:
    """Embeddings (`/v1/embeddings`), `dimensions` and `encoding_format` honoured."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return missing_model()
    if "input" not in body:
        return missing("input")
    texts = embedding_texts(body["input"])
    if texts is None or not embeddable(body["input"]):
        return invalid("input")
    unknown = unknown_argument(body, EMBEDDINGS_FIELDS)
    if unknown is not None:
        return refused(unknown)
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1):
        return Answer(400, openai_error_body("Invalid 'dimensions': expected a positive integer.", param="dimensions"))
    if dimensions is not None and dimensions > MAX_EMBEDDING_DIMENSIONS:
        return Answer(
            400,
            openai_error_body(
                f"This model does not support specifying dimensions above {MAX_EMBEDDING_DIMENSIONS}.",
                param="dimensions",
            ),
        )
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        return Answer(
            400,
            openai_error_body(
                f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.", param="encoding_format"
            ),
        )
    data = []
    tokens = 0
    for index, text in enumerate(texts):
        outcome = responses.embed(text, dimensions)
        if isinstance(outcome, responses.RowError):
            return row_error_answer(outcome)
        tokens += outcome.prompt_tokens
        vector: Any = pack_embedding(outcome.values) if encoding == "base64" else outcome.values
        data.append({"object": "embedding", "index": index, "embedding": vector})
    body_out = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return Answer(200, body_out, tokens, 0)


def answer_completions(body: dict[str, Any], seed: str, created: int) -> Answer:
    """A legacy text completion (`/v1/completions`): one choice per prompt, the answer in `choices[].text`."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return missing_model()
    if "prompt" not in body:
        return missing("prompt")
    prompts = embedding_texts(body["prompt"])
    if prompts is None:
        return invalid("prompt")
    unknown = unknown_argument(body, COMPLETIONS_FIELDS)
    if unknown is not None:
        return refused(unknown)
    limit = token_limit(body, "max_tokens")
    choices = []
    prompt_tokens = completion_tokens = 0
    for index, prompt in enumerate(prompts):
        outcome = responses.generate(prompt)
        if isinstance(outcome, responses.RowError):
            return row_error_answer(outcome)
        outcome, cut = responses.limit_tokens(outcome, limit)
        choices.append(
            {"text": outcome.text, "index": index, "logprobs": None, "finish_reason": "length" if cut else "stop"}
        )
        prompt_tokens += outcome.prompt_tokens
        completion_tokens += outcome.completion_tokens
    completion = {
        "id": "cmpl-" + row_token("cmpl:" + seed, 29, ALPHANUMERIC),
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": None,
    }
    return Answer(200, completion, prompt_tokens, completion_tokens)


def input_item_text(content: Any) -> str:
    """The text of a Responses input item's content: a string, or its input_text/output_text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") in ("input_text", "output_text")
            and isinstance(part.get("text"), str)
        )
    return ""


def response_turns(value: Any) -> list[tuple[str, str]] | None:
    """A Responses `input` (a string, or a list of message items) as (role, text) turns; None when malformed."""
    if value is None:
        return []
    if isinstance(value, str):
        return [("user", value)]
    if not isinstance(value, list):
        return None
    return [
        (str(item.get("role", "")), input_item_text(item.get("content")))
        for item in value
        if isinstance(item, dict) and item.get("type", "message") == "message"
    ]


def answer_responses(body: dict[str, Any], seed: str, created: int) -> Answer:
    """A Responses API answer (`/v1/responses`): one assistant message with one output_text part."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return missing_model()
    turns = response_turns(body.get("input"))
    if turns is None:
        return invalid("input")
    instructions = body.get("instructions")
    context = [instructions] if isinstance(instructions, str) else []
    outcome = responses.generate_from_turns(turns, context=context)
    if isinstance(outcome, responses.RowError):
        return row_error_answer(outcome)
    limit = token_limit(body, "max_output_tokens")
    outcome, cut = responses.limit_tokens(outcome, limit)
    status = "incomplete" if cut else "completed"
    message = {
        "id": "msg_" + row_token("msg:" + seed, 48),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": outcome.text, "annotations": [], "logprobs": []}],
    }
    answer = {
        "id": "resp_" + row_token("resp:" + seed, 48),
        "object": "response",
        "created_at": created,
        "status": status,
        "completed_at": None if cut else created,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
        "instructions": instructions if isinstance(instructions, str) else None,
        "max_output_tokens": limit,
        "model": model,
        "output": [message],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "temperature": 1.0,
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "metadata": {},
        "usage": {
            "input_tokens": outcome.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": outcome.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": outcome.total_tokens,
        },
    }
    return Answer(200, answer, outcome.prompt_tokens, outcome.completion_tokens)


def moderation_inputs(value: Any) -> list[tuple[str, str]] | None:
    """Moderation `input` as (kind, text-or-url) pairs: strings, or text and image_url parts; None when malformed."""
    if isinstance(value, str):
        return [("text", value)]
    if not isinstance(value, list) or not value:
        return None
    items: list[tuple[str, str]] = []
    for item in value:
        if isinstance(item, str):
            items.append(("text", item))
        elif isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str):
            items.append(("text", item["text"]))
        elif isinstance(item, dict) and item.get("type") == "image_url" and isinstance(item.get("image_url"), dict):
            items.append(("image", str(item["image_url"].get("url", ""))))
        else:
            return None
    return items


def moderation_score(text: str, category: str) -> float:
    """A small deterministic score: the fake model flags nothing."""
    digest = hashlib.sha256(f"{category}:{text}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 / 1000


def answer_moderations(body: dict[str, Any], seed: str, created: int) -> Answer:
    """A moderation (`/v1/moderations`): one unflagged result per input, scored per category."""
    if "input" not in body:
        return missing("input")
    items = moderation_inputs(body["input"])
    if items is None:
        return invalid("input")
    unknown = unknown_argument(body, MODERATIONS_FIELDS)
    if unknown is not None:
        return refused(unknown)
    failure = responses.fail_marker_error(text for kind, text in items if kind == "text")
    if failure is not None:
        return row_error_answer(failure)
    results = []
    for kind, text in items:
        results.append(
            {
                "flagged": False,
                "categories": dict.fromkeys(MODERATION_CATEGORIES, False),
                "category_scores": {name: moderation_score(text, name) for name in MODERATION_CATEGORIES},
                "category_applied_input_types": {
                    name: [kind] if kind == "text" or name in IMAGE_MODERATION_CATEGORIES else []
                    for name in MODERATION_CATEGORIES
                },
            }
        )
    model = body.get("model")
    answer = {
        "id": "modr-" + row_token("modr:" + seed, 29, ALPHANUMERIC),
        "model": model if isinstance(model, str) and model else DEFAULT_MODERATION_MODEL,
        "results": results,
    }
    return Answer(200, answer)


ANSWERS: dict[str, Callable[[dict[str, Any], str, int], Answer]] = {
    "/v1/chat/completions": answer_chat,
    "/v1/embeddings": answer_embeddings,
    "/v1/responses": answer_responses,
    "/v1/completions": answer_completions,
    "/v1/moderations": answer_moderations,
}
"""The endpoints the emulator answers, each with its answer to one request body."""


def answer_request(endpoint: str, body: Any, seed: str, created: int) -> Answer:
    """The endpoint's answer to one request of a batch (a body that is not an object is a 400)."""
    if not isinstance(body, dict):
        return missing("body")
    return ANSWERS[endpoint](body, seed, created)
