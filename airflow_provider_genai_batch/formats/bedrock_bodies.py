"""The InvokeModel output bodies of Bedrock's model families other than Anthropic's and Converse's shape.

Each family writes its answer its own way; one small reader per family finds the text (or the embedding), the
token counts and the reason the answer ended, and :func:`native_row` makes the row of them the same way for all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_genai_batch.formats.gemini_schema import json_type
from airflow_provider_genai_batch.formats.results import (
    CONTEXT_ADVICE,
    ResultRow,
    RowStatus,
    Usage,
    blocked_row,
    counted_usage,
    embedding_values,
    no_answer_row,
    output_limit_row,
)


@dataclass(frozen=True)
class Answer:
    """What one body says: its text or embedding, its usage, why it ended, and whether it called a tool (an answer
    without text). ``expects_text`` is False for an embeddings body, which holds no text by nature."""

    text: str | None = None
    embedding: list[float] | None = None
    usage: Usage | None = None
    reason: Any = None
    acted: bool = False
    expects_text: bool = True


Reader = Callable[[Mapping[str, Any]], "Answer | None"]
"""A family's reader: the answer of a body of its shape, None for a body of another shape."""

LIMIT_REASONS = frozenset({"LENGTH", "length", "MAX_TOKENS"})
"""Why an answer ended at the output token limit: Titan's ``completionReason``, Cohere's ``finish_reason``, and
the ``length`` of Llama, Mistral, DeepSeek and the chat completion bodies (Jamba, gpt-oss)."""
CONTEXT_REASONS = frozenset({"ERROR_LIMIT", "model_length"})
"""Why an answer ended at the model's context window: Cohere's ``ERROR_LIMIT``, Mistral's ``model_length``."""
BLOCK_REASONS = frozenset({"CONTENT_FILTERED", "ERROR_TOXIC", "content_filter"})
"""Why a filter removed the answer: Titan's ``CONTENT_FILTERED``, Cohere's ``ERROR_TOXIC``, a chat completion's
``content_filter``."""


def native_row(key: Any, output: Mapping[str, Any]) -> ResultRow:
    """The row of an InvokeModel body of a family in :data:`FAMILIES`; a body of another shape lands as it came,
    without text. A count that cannot be read leaves the row's usage null; the answer lands all the same. A body
    without text that called no tool is failed: cut off by the output limit or the context window (``OUTPUT_LIMIT``),
    filtered (``CONTENT_BLOCKED``), or holding nothing (``NO_ANSWER``); an embedding that is not a list of numbers,
    or a body of several, is unreadable (ValueError)."""
    answer = next((found for read in FAMILIES if (found := read(output)) is not None), None)
    if answer is None:
        return ResultRow(key=key, status=RowStatus.SUCCEEDED, response=output)
    text, reason, usage = answer.text, answer.reason, answer.usage
    if not text and not answer.acted and reason in LIMIT_REASONS:
        said = f"the answer reached the output token limit: {reason}, and it holds no text"
        return output_limit_row(key, reason, said, output, usage)
    if not text and not answer.acted and reason in CONTEXT_REASONS:
        said = f"the answer reached the model's context window: {reason}, and it holds no text"
        return output_limit_row(key, reason, said, output, usage, CONTEXT_ADVICE)
    if not text and reason in BLOCK_REASONS:
        said = f"the answer was blocked: {reason}, and it holds no text"
        return blocked_row(key, reason, said, output, usage)
    if text is None and answer.expects_text and not answer.acted:
        status = reason if isinstance(reason, str) and reason else None
        said = f"the answer holds nothing: {status or 'no reason given'}, and it holds no text"
        return no_answer_row(key, status, said, output, usage)
    return ResultRow(
        key=key, status=RowStatus.SUCCEEDED, text=text, embedding=answer.embedding, response=output, usage=usage
    )


def counts_usage(given: Any, made: Any) -> Usage | None:
    """Usage from a body's own counts (``made`` a count, or Titan's list of them); None for none, or for counts that
    are not integers. An input count given as null beside an output count is 0, as the manifest reads it (Titan's
    list excepted: the manifest tells Titan's counts by its input count, so without one there are none)."""
    if isinstance(made, list):
        if given is None:
            return None
        made = sum(made) if all(type(count) is int for count in made) else None
    if given is None and not made:
        return None
    if not (given is None or type(given) is int) or not (made is None or type(made) is int):
        return None
    return counted_usage(given, made, (given or 0) + (made or 0))


def _titan_text(output: Mapping[str, Any]) -> Answer | None:
    """Amazon Titan Text: ``results[].outputText``, ``inputTextTokenCount`` and each result's ``tokenCount``."""
    results = output.get("results")
    if not isinstance(results, list):
        return None
    items = [item for item in results if isinstance(item, Mapping)]
    texts = [item["outputText"] for item in items if isinstance(item.get("outputText"), str)]
    made = [item.get("tokenCount") or 0 for item in items]
    return Answer(
        text="".join(texts) if texts else None,
        usage=counts_usage(output.get("inputTextTokenCount"), made),
        reason=next((item.get("completionReason") for item in items), None),
    )


def _titan_embedding(output: Mapping[str, Any]) -> Answer | None:
    """Amazon Titan Embeddings (text and multimodal): ``embedding``, ``inputTextTokenCount``."""
    if "embedding" not in output:
        return None
    embedding = [float(value) for value in embedding_values(output["embedding"], "modelOutput.embedding")]
    return Answer(embedding=embedding, usage=counts_usage(output.get("inputTextTokenCount"), None), expects_text=False)


def _embeddings(output: Mapping[str, Any]) -> Answer | None:
    """Cohere Embed (``embeddings`` a list of vectors, or by type: ``{"float": [...], "int8": [...]}``) and Amazon
    Nova multimodal embeddings (``embeddings[].embedding``): the one vector of a record's one input."""
    if "embeddings" not in output:
        return None
    vectors = output["embeddings"]
    where = "modelOutput.embeddings"
    if isinstance(vectors, Mapping):
        kind = "float" if "float" in vectors else next(iter(vectors), None) if len(vectors) == 1 else None
        if kind is None:
            raise ValueError(f"{where} holds no float embeddings: {', '.join(map(str, vectors)) or 'no type'}")
        vectors, where = vectors[kind], f"{where}.{kind}"
    if not isinstance(vectors, list):
        raise ValueError(f"{where} must be a list of embeddings, got {json_type(vectors)}")
    if len(vectors) != 1:
        raise ValueError(f"{where} holds {len(vectors)} embeddings: a row holds one (send one input per record)")
    vector = vectors[0]
    if isinstance(vector, Mapping):
        vector, where = vector.get("embedding"), f"{where}[0].embedding"
    billed = _billed_units(output)
    return Answer(embedding=embedding_values(vector, where), usage=billed, expects_text=False)


def _llama(output: Mapping[str, Any]) -> Answer | None:
    """Meta Llama: ``generation``, ``prompt_token_count``, ``generation_token_count``, ``stop_reason``."""
    generation = output.get("generation")
    if not isinstance(generation, str):
        return None
    usage = counts_usage(output.get("prompt_token_count"), output.get("generation_token_count"))
    return Answer(text=generation, usage=usage, reason=output.get("stop_reason"))


def _mistral_text(output: Mapping[str, Any]) -> Answer | None:
    """A Mistral text completion: ``outputs[].text`` and ``stop_reason``, no token counts."""
    outputs = output.get("outputs")
    if not isinstance(outputs, list):
        return None
    items = [item for item in outputs if isinstance(item, Mapping)]
    texts = [item["text"] for item in items if isinstance(item.get("text"), str)]
    reason = next((item.get("stop_reason") for item in items), None)
    return Answer(text="".join(texts) if texts else None, reason=reason)


def _chat_completion(output: Mapping[str, Any]) -> Answer | None:
    """A body answering in ``choices``: a chat completion's ``message.content`` (AI21 Jamba, OpenAI gpt-oss, Mistral
    Large, Qwen) or a completion's ``text`` (DeepSeek-R1); ``finish_reason`` or Mistral's and DeepSeek's
    ``stop_reason``; OpenAI's ``usage`` names where given. The first choice is the answer."""
    if "choices" not in output:
        return None
    choices = output["choices"]
    usage = _openai_usage(output.get("usage"))
    if not isinstance(choices, list) or not choices:
        return Answer(usage=usage)
    first = choices[0]
    if not isinstance(first, Mapping):
        raise ValueError(f"modelOutput.choices[0] must be an object, got {json_type(first)}")
    reason = first.get("finish_reason", first.get("stop_reason"))
    if "message" not in first:
        return Answer(text=_string(first.get("text"), "choices[0].text"), usage=usage, reason=reason)
    message = first["message"] if isinstance(first["message"], Mapping) else {}
    text = _message_text(message.get("content"))
    return Answer(text=text, usage=usage, reason=reason, acted=bool(message.get("tool_calls")))


def _cohere_chat(output: Mapping[str, Any]) -> Answer | None:
    """Cohere Command R and R+: ``text``, ``finish_reason``, ``tool_calls``, ``meta.billed_units``. Cohere always
    writes a ``text``: an empty one is no answer unless the generation completed (``COMPLETE``)."""
    if "finish_reason" not in output and "generation_id" not in output:
        return None
    text, reason = _string(output.get("text"), "text"), output.get("finish_reason")
    return Answer(
        text=None if text == "" and reason != _COHERE_COMPLETE else text,
        usage=_billed_units(output),
        reason=reason,
        acted=bool(output.get("tool_calls")),
    )


_COHERE_COMPLETE = "COMPLETE"
"""Cohere's ``finish_reason`` of a generation that ended on its own."""


FAMILIES: tuple[Reader, ...] = (
    _titan_text,
    _titan_embedding,
    _embeddings,
    _llama,
    _mistral_text,
    _chat_completion,
    _cohere_chat,
)
"""The readers, each of one family's body: the first that knows a body reads it."""


def _string(text: Any, where: str) -> str | None:
    """A text field that is a string or null; ValueError for anything else (an answer that cannot be read)."""
    if text is not None and type(text) is not str:
        raise ValueError(f"modelOutput.{where} must be a string or null, got {json_type(text)}")
    return text


def _message_text(content: Any) -> str | None:
    """A chat message's content: a string, or the ``text`` of its text parts (Mistral's chunks)."""
    if isinstance(content, list):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str)
        ]
        return "".join(texts) if texts else None
    return _string(content, "choices[0].message.content")


def _openai_usage(usage: Any) -> Usage | None:
    """A chat completion's ``usage`` (``prompt_tokens``, ``completion_tokens``, ``total_tokens``); None for none."""
    if not isinstance(usage, Mapping):
        return None
    return counted_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens"))


def _billed_units(output: Mapping[str, Any]) -> Usage | None:
    """Cohere's ``meta.billed_units`` (``input_tokens``, ``output_tokens``); None for none."""
    meta = output.get("meta")
    billed = meta.get("billed_units") if isinstance(meta, Mapping) else None
    if not isinstance(billed, Mapping):
        return None
    return counts_usage(billed.get("input_tokens"), billed.get("output_tokens"))
