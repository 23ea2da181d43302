"""How the gateway turns a Gemini-format inline request into an OpenAI chat body or Anthropic message params.

The gateway's converter first keeps only ``contents``, ``generationConfig``, ``safetySettings`` and
``systemInstruction`` of each request (silently: see :func:`kept_fields`). For OpenAI and Anthropic
targets it then translates what it kept: text and ``image/*`` inline data parts, the system
instruction, and a fixed set of generation settings. Anything else cannot be carried and is answered
400, naming the request index and the field. Safety settings have no equivalent there and are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_genai_batch.testing.emulator.gateway.wire import GatewayError, gateway_error

KEPT_FIELDS = ("contents", "generationConfig", "safetySettings", "systemInstruction")
"""The top-level request fields the gateway's converter keeps; every other one is dropped without a word."""
ROLES = {"user": "user", "model": "assistant"}
OPENAI_SETTINGS = {
    "temperature": "temperature",
    "topP": "top_p",
    "maxOutputTokens": "max_completion_tokens",
    "stopSequences": "stop",
    "candidateCount": "n",
    "presencePenalty": "presence_penalty",
    "frequencyPenalty": "frequency_penalty",
    "seed": "seed",
}
ANTHROPIC_SETTINGS = {
    "maxOutputTokens": "max_tokens",
    "temperature": "temperature",
    "topP": "top_p",
    "topK": "top_k",
    "stopSequences": "stop_sequences",
}
JSON_MIME = "application/json"
TEXT_MIME = "text/plain"
SCHEMA_FIELDS = ("responseJsonSchema", "responseSchema")


def kept_fields(request: dict[str, Any]) -> dict[str, Any]:
    """What the converter keeps of one request (in its own order)."""
    return {key: value for key, value in request.items() if key in KEPT_FIELDS}


def untranslatable(index: int, target: str, where: str, reason: str) -> GatewayError:
    """The 400 for a request the gateway cannot carry to ``target``."""
    return gateway_error(400, f"request {index}: {where}: {reason}; the gateway cannot translate it for {target}")


def text_part(index: int, target: str, where: str, part: Any) -> str:
    """A part that must be text (the system instruction's)."""
    if not isinstance(part, dict) or set(part) != {"text"} or not isinstance(part["text"], str):
        key = next(iter(part), "(empty part)") if isinstance(part, dict) and part else "(empty part)"
        raise untranslatable(index, target, f"{where}.{key}", "only text parts are supported here")
    text: str = part["text"]
    return text


def content_part(index: int, target: str, where: str, part: Any) -> dict[str, Any]:
    """A message part as a neutral block: ``{"text"}`` or ``{"mime", "data"}`` (an image)."""
    if isinstance(part, dict) and set(part) == {"text"} and isinstance(part["text"], str):
        return {"text": part["text"]}
    if isinstance(part, dict) and set(part) == {"inlineData"}:
        blob = part["inlineData"]
        mime = blob.get("mimeType") if isinstance(blob, dict) else None
        data = blob.get("data") if isinstance(blob, dict) else None
        if not isinstance(mime, str) or not isinstance(data, str):
            raise untranslatable(index, target, f"{where}.inlineData", "mimeType and data are required")
        if not mime.startswith("image/"):
            raise untranslatable(index, target, f"{where}.inlineData", f"inline data of type {mime!r} is not an image")
        return {"mime": mime, "data": data}
    if not isinstance(part, dict) or not part:
        raise untranslatable(index, target, where, "a part must be an object with text or inlineData")
    key = next((key for key in part if key not in ("text", "inlineData")), next(iter(part)))
    raise untranslatable(index, target, f"{where}.{key}", "this kind of part is not supported")


def messages(index: int, target: str, contents: Any) -> list[tuple[str, list[dict[str, Any]]]]:
    """``contents`` as (role, neutral blocks) pairs."""
    if not isinstance(contents, list):
        raise untranslatable(index, target, "contents", "must be a list of contents")
    result = []
    for number, content in enumerate(contents):
        where = f"contents[{number}]"
        if not isinstance(content, dict):
            raise untranslatable(index, target, where, "must be an object")
        role = content.get("role") or "user"
        if role not in ROLES:
            raise untranslatable(index, target, f"{where}.role", f"role {role!r} is not user or model")
        parts = content.get("parts")
        if not isinstance(parts, list):
            raise untranslatable(index, target, f"{where}.parts", "must be a list of parts")
        blocks = [content_part(index, target, f"{where}.parts[{i}]", part) for i, part in enumerate(parts)]
        result.append((ROLES[role], blocks))
    return result


def system_text(index: int, target: str, instruction: Any) -> str:
    """The system instruction's text parts, joined with newlines."""
    parts = instruction.get("parts") if isinstance(instruction, dict) else None
    if not isinstance(parts, list):
        raise untranslatable(index, target, "systemInstruction.parts", "must be a list of parts")
    return "\n".join(text_part(index, target, f"systemInstruction.parts[{i}]", part) for i, part in enumerate(parts))


def settings(
    index: int,
    target: str,
    config: Any,
    names: dict[str, str],
    special: Callable[[str, Any], dict[str, Any] | None],
) -> dict[str, Any]:
    """``generationConfig`` through a name table, then ``special`` for the rest; anything left: 400."""
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise untranslatable(index, target, "generationConfig", "must be an object")
    result: dict[str, Any] = {}
    for key, value in config.items():
        if key in names:
            result[names[key]] = value
            continue
        mapped = special(key, value)
        if mapped is None:
            raise untranslatable(index, target, f"generationConfig.{key}", "has no equivalent")
        result.update(mapped)
    return result


def plain_output(key: str, value: Any) -> dict[str, Any] | None:
    """The output settings that change nothing: text/plain and a text-only modality."""
    if key == "responseMimeType" and value == TEXT_MIME:
        return {}
    if key == "responseModalities" and value == ["TEXT"]:
        return {}
    return None


def openai_body(index: int, model: str, request: dict[str, Any]) -> dict[str, Any]:
    """One kept Gemini request as a chat completions body."""
    target = "openai"
    config = request.get("generationConfig")
    json_output = isinstance(config, dict) and config.get("responseMimeType") == JSON_MIME
    schema = next((config[key] for key in SCHEMA_FIELDS if isinstance(config, dict) and key in config), None)

    def special(key: str, value: Any) -> dict[str, Any] | None:
        if key == "responseMimeType" and value == JSON_MIME:
            if schema is not None:
                return {
                    "response_format": {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
                }
            return {"response_format": {"type": "json_object"}}
        if key in SCHEMA_FIELDS and json_output:
            return {}
        return plain_output(key, value)

    chat: list[dict[str, Any]] = []
    if "systemInstruction" in request:
        chat.append({"role": "system", "content": system_text(index, target, request["systemInstruction"])})
    for role, blocks in messages(index, target, request.get("contents")):
        if len(blocks) == 1 and "text" in blocks[0]:
            chat.append({"role": role, "content": blocks[0]["text"]})
            continue
        chat.append({"role": role, "content": [openai_block(block) for block in blocks]})
    generation = settings(index, target, config, OPENAI_SETTINGS, special)
    return {"model": model, "messages": chat, **generation}


def openai_block(block: dict[str, Any]) -> dict[str, Any]:
    """A neutral block as an OpenAI content part."""
    if "text" in block:
        return {"type": "text", "text": block["text"]}
    return {"type": "image_url", "image_url": {"url": f"data:{block['mime']};base64,{block['data']}"}}


def anthropic_params(index: int, model: str, request: dict[str, Any]) -> dict[str, Any]:
    """One kept Gemini request as Anthropic message params (no max_tokens unless maxOutputTokens is set)."""
    target = "anthropic"
    params: dict[str, Any] = {"model": model}
    if "systemInstruction" in request:
        params["system"] = system_text(index, target, request["systemInstruction"])
    params["messages"] = [
        {"role": role, "content": [anthropic_block(block) for block in blocks]}
        for role, blocks in messages(index, target, request.get("contents"))
    ]
    params.update(settings(index, target, request.get("generationConfig"), ANTHROPIC_SETTINGS, plain_output))
    return params


def anthropic_block(block: dict[str, Any]) -> dict[str, Any]:
    """A neutral block as an Anthropic content block."""
    if "text" in block:
        return {"type": "text", "text": block["text"]}
    return {"type": "image", "source": {"type": "base64", "media_type": block["mime"], "data": block["data"]}}
