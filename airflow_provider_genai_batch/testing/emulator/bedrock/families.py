"""The fake model's InvokeModel answers for the model families other than Anthropic's, each in the family's own body.

A family reads its prompt where its request body keeps it (Llama's ``prompt``, Cohere's ``message``, Titan's
``inputText``, a chat body's ``messages``...) and answers in the body its model writes; a body without the member
its model requires fails its record with the model's 400.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_genai_batch.testing.emulator import responses
from airflow_provider_genai_batch.testing.emulator.common import HEX_ALPHABET, stable_token

Turns = list[tuple[str, str]]


@dataclass(frozen=True)
class Prompt:
    """What a request asks: its turns as (role, text), other text the model reads, and its output token limit."""

    turns: Turns
    context: list[str]
    max_tokens: int | None


@dataclass(frozen=True)
class Reply:
    """The fake model's answer to one record: its generation, whether the limit cut it, a seed for its ids, and the
    model the job runs."""

    generation: responses.Generation
    cut: bool
    seed: str
    model: str


@dataclass(frozen=True)
class TextFamily:
    """A family answering with text: the member its body requires, how it reads the prompt, and its answer body."""

    required: str
    prompt: Callable[[dict[str, Any]], Prompt]
    body: Callable[[Reply], dict[str, Any]]


@dataclass(frozen=True)
class EmbeddingFamily:
    """A family answering with embeddings: the members its body requires, its texts, and its answer body."""

    required: tuple[str, ...]
    texts: Callable[[dict[str, Any]], list[str]]
    body: Callable[[list[responses.Embedding], list[str], str], dict[str, Any]]


Answer = tuple[dict[str, Any], dict[str, int] | None]
"""``{"modelOutput": ...}`` or ``{"error": ...}``, and the record's input and output tokens when it succeeded."""


def answer(model_input: dict[str, Any], family: TextFamily | EmbeddingFamily, seed: str, model: str) -> Answer:
    """One record's answer by ``family``: its body, or the model's 400 for a body without a member it requires."""
    required = (family.required,) if isinstance(family, TextFamily) else family.required
    missing = next((key for key in required if key not in model_input), None)
    if missing is not None:
        message = (
            f"Malformed input request: #: required key [{missing}] not found, please reformat your input and try again."
        )
        return {"error": {"errorCode": 400, "errorMessage": message}}, None
    if isinstance(family, EmbeddingFamily):
        texts = family.texts(model_input)
        embeddings = [responses.embed(text) for text in texts]
        failed = next((item for item in embeddings if isinstance(item, responses.RowError)), None)
        if failed is not None:
            return {"error": {"errorCode": failed.code, "errorMessage": failed.message}}, None
        made = [item for item in embeddings if isinstance(item, responses.Embedding)]
        tokens = {"input": sum(item.prompt_tokens for item in made), "output": 0}
        return {"modelOutput": family.body(made, texts, seed)}, tokens
    prompt = family.prompt(model_input)
    outcome = responses.generate_from_turns(prompt.turns, context=prompt.context)
    if isinstance(outcome, responses.RowError):
        return {"error": {"errorCode": outcome.code, "errorMessage": outcome.message}}, None
    generation, cut = responses.limit_tokens(outcome, prompt.max_tokens)
    tokens = {"input": generation.prompt_tokens, "output": generation.completion_tokens}
    return {"modelOutput": family.body(Reply(generation, cut, seed, model))}, tokens


def family_of(model: str, model_input: dict[str, Any]) -> TextFamily | EmbeddingFamily | None:
    """The family of the model a job runs (an id, an inference profile id or an ARN naming either); None for one
    the emulator does not answer."""
    name = model.rsplit("/", 1)[-1] if model.startswith("arn:") else model
    for marker, family in FAMILIES:
        if marker in name:
            return family
    if "mistral." in name:
        return MISTRAL_CHAT if "messages" in model_input else MISTRAL_TEXT
    return None


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _messages(model_input: dict[str, Any]) -> Prompt:
    """A chat body's ``messages`` (content a string or text parts), its ``system`` turns as context."""
    turns = [(str(m.get("role")), responses.content_text(m.get("content"))) for m in _list(model_input["messages"])]
    limit = model_input.get("max_completion_tokens", model_input.get("max_tokens"))
    return Prompt([t for t in turns if t[0] != "system"], [t for r, t in turns if r == "system"], _int(limit))


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _single(key: str, limit: str) -> Callable[[dict[str, Any]], Prompt]:
    """A body whose prompt is one string member ``key``, its limit ``limit``."""

    def read(model_input: dict[str, Any]) -> Prompt:
        return Prompt([("user", str(model_input[key]))], [], _int(model_input.get(limit)))

    return read


def _titan_prompt(model_input: dict[str, Any]) -> Prompt:
    config = model_input.get("textGenerationConfig")
    limit = config.get("maxTokenCount") if isinstance(config, dict) else None
    return Prompt([("user", str(model_input["inputText"]))], [], _int(limit))


def _cohere_prompt(model_input: dict[str, Any]) -> Prompt:
    history = [(str(m.get("role")), str(m.get("message", ""))) for m in _list(model_input.get("chat_history"))]
    preamble = model_input.get("preamble")
    turns = [("user" if role == "USER" else "assistant", text) for role, text in history]
    context = [preamble] if isinstance(preamble, str) else []
    return Prompt([*turns, ("user", str(model_input["message"]))], context, _int(model_input.get("max_tokens")))


def _nova_prompt(model_input: dict[str, Any]) -> Prompt:
    turns = [
        (str(m.get("role")), responses.content_text(_typed(m.get("content")))) for m in _list(model_input["messages"])
    ]
    system = [responses.content_text(_typed(model_input.get("system")))] if model_input.get("system") else []
    config = model_input.get("inferenceConfig")
    return Prompt(turns, system, _int(config.get("max_new_tokens")) if isinstance(config, dict) else None)


def _typed(blocks: Any) -> list[dict[str, Any]]:
    """Nova's ``[{"text": ...}]`` blocks as typed text blocks."""
    return [{"type": "text", "text": block["text"]} for block in _list(blocks) if isinstance(block.get("text"), str)]


def _llama_body(reply: Reply) -> dict[str, Any]:
    return {
        "generation": reply.generation.text,
        "prompt_token_count": reply.generation.prompt_tokens,
        "generation_token_count": reply.generation.completion_tokens,
        "stop_reason": "length" if reply.cut else "stop",
    }


def _mistral_text_body(reply: Reply) -> dict[str, Any]:
    return {"outputs": [{"text": reply.generation.text, "stop_reason": "length" if reply.cut else "stop"}]}


def _mistral_chat_body(reply: Reply) -> dict[str, Any]:
    message = {"role": "assistant", "content": reply.generation.text, "tool_calls": None}
    return {"choices": [{"index": 0, "message": message, "stop_reason": "length" if reply.cut else "stop"}]}


def _titan_body(reply: Reply) -> dict[str, Any]:
    result = {
        "tokenCount": reply.generation.completion_tokens,
        "outputText": reply.generation.text,
        "completionReason": "LENGTH" if reply.cut else "FINISH",
    }
    return {"inputTextTokenCount": reply.generation.prompt_tokens, "results": [result]}


def _cohere_body(reply: Reply) -> dict[str, Any]:
    return {
        "response_id": _uuid(reply.seed + ":response"),
        "text": reply.generation.text,
        "generation_id": _uuid(reply.seed + ":generation"),
        "chat_history": [],
        "finish_reason": "MAX_TOKENS" if reply.cut else "COMPLETE",
        "meta": {
            "api_version": {"version": "1"},
            "billed_units": {
                "input_tokens": reply.generation.prompt_tokens,
                "output_tokens": reply.generation.completion_tokens,
            },
        },
    }


def _usage(generation: responses.Generation) -> dict[str, int]:
    return {
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "total_tokens": generation.total_tokens,
    }


def _chat_body(reply: Reply) -> dict[str, Any]:
    """An OpenAI-shaped chat completion (OpenAI gpt-oss, Qwen)."""
    message = {"role": "assistant", "content": reply.generation.text}
    return {
        "id": "chatcmpl-" + stable_token(reply.seed, 32, HEX_ALPHABET),
        "object": "chat.completion",
        "created": 1754000000,
        "model": reply.model,
        "choices": [{"index": 0, "message": message, "finish_reason": "length" if reply.cut else "stop"}],
        "usage": _usage(reply.generation),
    }


def _jamba_body(reply: Reply) -> dict[str, Any]:
    message = {"role": "assistant", "content": reply.generation.text, "tool_calls": None}
    return {
        "id": "chatcmpl-" + _uuid(reply.seed),
        "choices": [{"index": 0, "message": message, "finish_reason": "length" if reply.cut else "stop"}],
        "usage": _usage(reply.generation),
        "meta": {"requestDurationMillis": 100},
        "model": "jamba-1.5-mini",
    }


def _deepseek_body(reply: Reply) -> dict[str, Any]:
    return {"choices": [{"text": reply.generation.text, "stop_reason": "length" if reply.cut else "stop"}]}


def _nova_body(reply: Reply) -> dict[str, Any]:
    return {
        "output": {"message": {"content": [{"text": reply.generation.text}], "role": "assistant"}},
        "stopReason": "max_tokens" if reply.cut else "end_turn",
        "usage": {
            "inputTokens": reply.generation.prompt_tokens,
            "outputTokens": reply.generation.completion_tokens,
            "totalTokens": reply.generation.total_tokens,
        },
    }


def _uuid(seed: str) -> str:
    token = stable_token(seed, 32, HEX_ALPHABET)
    return f"{token[:8]}-{token[8:12]}-{token[12:16]}-{token[16:20]}-{token[20:]}"


def _titan_embed_body(made: list[responses.Embedding], texts: list[str], seed: str) -> dict[str, Any]:
    return {"embedding": made[0].values, "inputTextTokenCount": made[0].prompt_tokens}


def _cohere_embed_body(made: list[responses.Embedding], texts: list[str], seed: str) -> dict[str, Any]:
    return {
        "embeddings": [item.values for item in made],
        "id": _uuid(seed),
        "response_type": "embeddings_floats",
        "texts": texts,
    }


def _nova_embed_body(made: list[responses.Embedding], texts: list[str], seed: str) -> dict[str, Any]:
    return {"embeddings": [{"embeddingType": "TEXT", "embedding": made[0].values}]}


def _strings(value: Any) -> list[str]:
    """A list member's items as texts (a value that is no list as one text)."""
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def _nova_embed_text(model_input: dict[str, Any]) -> list[str]:
    params = model_input.get("singleEmbeddingParams")
    text = params.get("text") if isinstance(params, dict) else None
    return [str(text.get("value", ""))] if isinstance(text, dict) else [""]


MISTRAL_TEXT = TextFamily("prompt", _single("prompt", "max_tokens"), _mistral_text_body)
MISTRAL_CHAT = TextFamily("messages", _messages, _mistral_chat_body)
FAMILIES: tuple[tuple[str, TextFamily | EmbeddingFamily], ...] = (
    ("meta.llama", TextFamily("prompt", _single("prompt", "max_gen_len"), _llama_body)),
    ("amazon.titan-embed", EmbeddingFamily(("inputText",), lambda body: [str(body["inputText"])], _titan_embed_body)),
    ("amazon.titan-t", TextFamily("inputText", _titan_prompt, _titan_body)),
    ("amazon.nova-2-multimodal-embeddings", EmbeddingFamily(("taskType",), _nova_embed_text, _nova_embed_body)),
    ("amazon.nova", TextFamily("messages", _nova_prompt, _nova_body)),
    ("cohere.command-r", TextFamily("message", _cohere_prompt, _cohere_body)),
    (
        "cohere.embed",
        EmbeddingFamily(("texts", "input_type"), lambda body: _strings(body["texts"]), _cohere_embed_body),
    ),
    ("ai21.jamba", TextFamily("messages", _messages, _jamba_body)),
    ("deepseek.r1", TextFamily("prompt", _single("prompt", "max_tokens"), _deepseek_body)),
    ("openai.gpt-oss", TextFamily("messages", _messages, _chat_body)),
    ("qwen.", TextFamily("messages", _messages, _chat_body)),
)
"""Each family by the part of the model id that names it; the first that a model's id holds answers its records
(Mistral's text and chat bodies by the body's shape: see :func:`family_of`)."""
