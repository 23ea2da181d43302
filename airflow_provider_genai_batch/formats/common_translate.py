"""Translation of certified lines (:mod:`.common_request`): the conversation read without checking it again.

A certified line's turns and parts are known to be what the general reading (``translate.read_parts``) accepts:
camelCase fields only, no nulls, a role of user or model, exactly one datum per part, required names set. So
its parts are taken as they are, and handed to the same message builders as the general path; settings, tools
and tool choice go through the general code unchanged. The bytes are those of ``Dialect.to_native``; where a
target cannot express something (or anything else goes wrong) the translation declines, and the general path
words the error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

import msgspec

from airflow_provider_genai_batch.formats import anthropic, bedrock, openai
from airflow_provider_genai_batch.formats.dialect import Dialect
from airflow_provider_genai_batch.formats.keys import portable_id
from airflow_provider_genai_batch.formats.translate import (
    CallIds,
    Declaration,
    Part,
    check_metadata_carried,
    check_model,
    function_declarations,
)

_encode = msgspec.json.Encoder().encode
R = TypeVar("R")

Translator = Callable[[Mapping[str, Any]], dict[str, Any] | None]
"""A certified line in the target's format, or None where the general path must translate it."""


def common_translator(dialect: Dialect, *, model: str) -> Translator | None:
    """The translation of certified lines for ``dialect``, where its ``to_native`` is one this module mirrors."""
    to_native = getattr(type(dialect), "to_native", None)
    readers = _Readers()
    if to_native is openai.OpenAIDialect.to_native:
        return _declining(_openai_line, model, readers)
    if to_native is anthropic.AnthropicDialect.to_native and isinstance(dialect, anthropic.AnthropicDialect):
        version_check = type(dialect)._check_version_allows is anthropic.AnthropicDialect._check_version_allows
        if not version_check or dialect.anthropic_version >= anthropic.SAMPLING_REJECTED_FROM:
            return None  # the translated blocks are checked against the version: the general path does that
        return _declining(_anthropic_line, model, dialect.default_max_tokens, readers)
    if to_native is bedrock.BedrockDialect.to_native and isinstance(dialect, bedrock.BedrockDialect):
        invocation, max_tokens = dialect.invocation_type, dialect.default_max_tokens
        return _declining(_bedrock_line, model, max_tokens, invocation, readers.for_provider(bedrock.PROVIDER))
    return None


class _Remembered(Generic[R]):
    """``read`` of the last few values it read, remembered by their JSON text: a batch's lines mostly repeat their
    settings and tools (or a few kinds of them), so a line repeating them costs one encoding. What it returns is
    shared by those lines; their builders only read it.

    Certified lines hold only what msgspec decodes (objects, lists, strings, finite numbers, booleans, nulls), whose
    JSON text is theirs alone: equal text, equal value (member order and integer or float alike). A value ``read``
    refuses is not remembered; past :data:`REMEMBERED` values, the oldest is forgotten.
    """

    def __init__(self, read: Callable[..., R]) -> None:
        self._read = read
        self._known: dict[tuple[bytes, tuple[Any, ...]], R] = {}

    def __call__(self, value: Any, *args: Any) -> R:
        written = (_encode(value), args)
        known = self._known.get(written)
        if known is not None:
            return known
        result = self._read(value, *args)
        if len(self._known) >= REMEMBERED:
            del self._known[next(iter(self._known))]
        self._known[written] = result
        return result


REMEMBERED = 16
"""The settings (and, apart, the tools) remembered for one input."""


class _Written:
    """``write`` of the last few declaration lists it wrote, remembered by identity: ``declare`` hands the lines that
    repeat their tools one list, so they share its tools as written. Each list is held with its tools, so its
    identity cannot pass to another list while it is remembered."""

    def __init__(self, write: Callable[[list[Declaration]], list[dict[str, Any]]]) -> None:
        self._write = write
        self._known: dict[int, tuple[list[Declaration], list[dict[str, Any]]]] = {}

    def __call__(self, declarations: list[Declaration]) -> list[dict[str, Any]]:
        known = self._known.get(id(declarations))
        if known is not None and known[0] is declarations:
            return known[1]
        tools = self._write(declarations)
        if len(self._known) >= REMEMBERED:
            del self._known[next(iter(self._known))]
        self._known[id(declarations)] = (declarations, tools)
        return tools


@dataclass(frozen=True)
class _Readers:
    """The readers of one input's settings and tools, each remembering the last value it read; the Messages API
    params are written for ``provider`` (:meth:`for_provider`)."""

    provider: str = anthropic.PROVIDER
    settings: _Remembered[dict[str, Any]] = field(default_factory=lambda: _Remembered(openai.generation_params))
    sampling: _Remembered[dict[str, Any]] = field(default_factory=lambda: _Remembered(anthropic.sampling_params))
    declare: _Remembered[list[Declaration]] = field(default_factory=lambda: _Remembered(function_declarations))
    openai_tools: _Written = field(default_factory=lambda: _Written(openai.tool_list))
    anthropic_tools: _Written = field(default_factory=lambda: _anthropic_tools(anthropic.PROVIDER))

    def for_provider(self, provider: str) -> _Readers:
        """These readers, writing Messages API params for ``provider`` (Bedrock sends them too)."""
        return replace(self, provider=provider, anthropic_tools=_anthropic_tools(provider))


def _anthropic_tools(provider: str) -> _Written:
    return _Written(lambda declarations: anthropic.tool_list(declarations, provider))


def _declining(translate: Callable[..., dict[str, Any]], *args: Any) -> Translator:
    """``translate(line, *args)`` of each line, or None where it fails in any way: the general path then translates
    the line or words its error. One call a line: the arguments are bound here, not passed through a lambda."""

    def declining(line: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            return translate(line, *args)
        except Exception:
            return None

    return declining


def _openai_line(line: Mapping[str, Any], model: str, readers: _Readers) -> dict[str, Any]:
    check_metadata_carried(line, openai.PROVIDER)
    request = _translated(line["request"])
    check_model(request, model, openai.PROVIDER)
    messages = _openai_messages(request)
    body = openai.chat_body(
        request, model, messages, settings=readers.settings, declare=readers.declare, tools=readers.openai_tools
    )
    return {"custom_id": portable_id(line["key"]), "method": "POST", "url": openai.CHAT_URL, "body": body}


def _openai_messages(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if "systemInstruction" in request:
        system = [part["text"] for part in request["systemInstruction"]["parts"]]
        messages.append({"role": "system", "content": _text_content(system)})
    for path, content, ids in _turns(request["contents"], messages, openai.PROVIDER):
        role = content.get("role", "user")
        texts = _texts(content["parts"])
        ids.turn(role, path)
        if texts is not None:
            messages.append({"role": "assistant" if role == "model" else "user", "content": _text_content(texts)})
        elif role == "model":
            messages.append(openai.assistant_message(_parts(content["parts"], path), ids, path))
        else:
            messages.extend(openai.user_messages(_parts(content["parts"], path), ids))
        ids.end_turn(role, path)
    return messages


def _anthropic_line(line: Mapping[str, Any], model: str, max_tokens: int, readers: _Readers) -> dict[str, Any]:
    check_metadata_carried(line, readers.provider)
    params = _anthropic_params(line["request"], model, max_tokens, readers)
    return {"custom_id": portable_id(line["key"]), "params": params}


def _anthropic_params(request: Mapping[str, Any], model: str, max_tokens: int, readers: _Readers) -> dict[str, Any]:
    provider = readers.provider
    check_model(_translated(request), model, provider)
    return anthropic.request_params(
        request,
        model=model,
        max_tokens=max_tokens,
        provider=provider,
        messages=lambda: _anthropic_messages(request["contents"], provider),
        sampling=readers.sampling,
        declare=readers.declare,
        tools=readers.anthropic_tools,
    )


def _anthropic_messages(contents: list[dict[str, Any]], provider: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for path, content, ids in _turns(contents, messages, provider):
        role = content.get("role", "user")
        texts = _texts(content["parts"])
        ids.turn(role, path)
        if texts is not None:
            ids.end_turn(role, path)
            content_of = _text_content(texts)
        else:
            blocks = [
                anthropic.content_block(part, role, ids, path, provider) for part in _parts(content["parts"], path)
            ]
            ids.end_turn(role, path)
            blocks.sort(key=lambda block: block["type"] != "tool_result")
            content_of = anthropic.message_content(blocks)
        messages.append({"role": "assistant" if role == "model" else "user", "content": content_of})
    return messages


def _bedrock_line(
    line: Mapping[str, Any], model: str, max_tokens: int, invocation: bedrock.InvocationType, readers: _Readers
) -> dict[str, Any]:
    check_metadata_carried(line, bedrock.PROVIDER)
    params = _anthropic_params(line["request"], model, max_tokens, readers)
    return bedrock.record(line["key"], params, model=model, invocation_type=invocation)


_TRANSLATED_FIELDS = frozenset({"model", "contents", "systemInstruction", "generationConfig", "tools", "toolConfig"})
_TRANSLATED_PARTS = frozenset({"text", "inlineData", "functionCall", "functionResponse"})


def _translated(request: Mapping[str, Any]) -> Mapping[str, Any]:
    """``request``, when every field it sets is one the targets translate (a certified line may hold Gemini-only
    fields, which the general path refuses, naming them)."""
    if not request.keys() <= _TRANSLATED_FIELDS:
        raise ValueError("a field the targets cannot express")
    return request


def _turns(
    contents: list[dict[str, Any]], messages: list[dict[str, Any]], provider: str
) -> Iterator[tuple[str, dict[str, Any], CallIds]]:
    """The turns from the first that is not all text on, each with its path and the call ids that pair calls with
    their answers (checked finished after the last). The all-text turns before it go straight to ``messages``:
    before the first call nothing waits for an answer."""
    start = 0
    while start < len(contents):
        message = _text_turn(contents[start].get("role", "user"), contents[start]["parts"])
        if message is None:
            break
        messages.append(message)
        start += 1
    else:
        return
    ids = CallIds(provider)
    for i in range(start, len(contents)):
        yield f"contents[{i}]", contents[i], ids
    ids.finish("contents")


def _text_turn(role: str, parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A turn whose parts are all text, as both targets write it, else None; a lone text part (the commonest turn)
    makes no list of texts."""
    content: str | list[dict[str, Any]] | None
    if len(parts) == 1:
        content = parts[0].get("text")
    else:
        texts = _texts(parts)
        content = None if texts is None else _text_content(texts)
    return None if content is None else {"role": "assistant" if role == "model" else "user", "content": content}


def _texts(parts: list[dict[str, Any]]) -> list[str] | None:
    """The texts of a turn whose parts are all text, else None."""
    if len(parts) == 1:
        text = parts[0].get("text")
        return None if text is None else [text]
    texts = []
    for part in parts:
        text = part.get("text")
        if text is None:
            return None
        texts.append(text)
    return texts


def _parts(parts: list[dict[str, Any]], path: str) -> list[Part]:
    """A certified turn's parts as ``read_parts`` reads them (each holds its one datum; ``path`` names the turn)."""
    read = []
    for part in parts:
        for kind, value in part.items():
            if kind not in _TRANSLATED_PARTS:
                raise ValueError("a part the targets cannot express")
            read.append(_new_part(Part, (kind, value, path)))  # Part(kind, value, path), without its Python __new__
    return read


_new_part = tuple.__new__


def _text_content(texts: list[str]) -> str | list[dict[str, Any]]:
    """Text blocks as both targets write them: a lone text as a plain string, several as a list of blocks."""
    if len(texts) == 1:
        return texts[0]
    return [{"type": "text", "text": text} for text in texts]
