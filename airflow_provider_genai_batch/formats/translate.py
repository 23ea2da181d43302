"""Reading a Gemini-format request for translation: fields checked, parts, numbers, schemas, tools, tool choice.

Shared by every translator (OpenAI, Anthropic, Bedrock): what a target cannot express is a ValueError
naming the field and the provider, never a silent drop. Requests arrive checked against the Gemini schema,
so values are read as proto JSON reads them: a ``null`` field is unset, either spelling of a name is the
same field, numbers may be decimal strings and enums may be numbers.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import msgspec

from airflow_provider_genai_batch.formats.gemini import camel
from airflow_provider_genai_batch.formats.gemini_schema import RequestShapeError, enum_name, proto_number
from airflow_provider_genai_batch.formats.keys import portable_id

GEMINI_ONLY_TOOLS = frozenset(
    {
        "googleSearch",
        "googleSearchRetrieval",
        "codeExecution",
        "urlContext",
        "googleMaps",
        "fileSearch",
        "computerUse",
        "retrieval",
        "enterpriseWebSearch",
        "mcpServers",
    }
)
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
UNKNOWN_FIELD = "it is unknown or Gemini-only"
REQUEST_REASONS = {
    "safetySettings": "safety settings are Gemini-only",
    "cachedContent": "Gemini context caches are Gemini-only",
    "labels": "per-request billing labels are Gemini-only",
    "serviceTier": "the service tier is set per batch, not per request",
    "store": "Gemini request logging is Gemini-only",
    "continuationToken": "Gemini continuation tokens are Gemini-only",
}
_MEDIA_METADATA = "per-part media metadata is Gemini-only"
PART_REASONS = {
    "fileData": "file URIs are Gemini-only; send the bytes as inlineData instead",
    "executableCode": "code execution parts are Gemini-only",
    "codeExecutionResult": "code execution parts are Gemini-only",
    "toolCall": "server-side tool calls are Gemini-only",
    "toolResponse": "server-side tool calls are Gemini-only",
    "thoughtSignature": "thought signatures are Gemini-only; remove them from the conversation",
    "videoMetadata": "video parts are Gemini-only",
    "mediaResolution": "per-part media resolution is Gemini-only",
    "partMetadata": "part metadata is Gemini-only",
    "audioMetadata": _MEDIA_METADATA,
    "documentMetadata": _MEDIA_METADATA,
    "spreadsheetMetadata": _MEDIA_METADATA,
    "mediaProcessing": _MEDIA_METADATA,
    "speechMetadata": _MEDIA_METADATA,
}
_PART_DATA = ("text", "inlineData", "functionCall", "functionResponse")
_ROLES = frozenset({"user", "model"})
_CONTENT_FIELDS = frozenset({"role", "parts"})
_PART_FIELDS_ALLOWED = frozenset({*_PART_DATA, "thought"})
_SCHEMA_TYPE = "Type"
_SCHEMA_INTS = frozenset({"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"})
_SCHEMA_NUMBERS = frozenset({"minimum", "maximum"})
_SCHEMA_KEPT = frozenset({"title", "description", "format", "enum", "required", "pattern", "default"})


class Part(NamedTuple):
    """One Gemini part, checked: ``kind`` is its data field, ``value`` that field's value, ``path`` where it was."""

    kind: str
    value: Any
    path: str


def unsupported(path: str, provider: str, why: str) -> ValueError:
    """The error for a Gemini field the target provider cannot express."""
    return ValueError(f"{path} cannot be sent to {provider}: {why}")


def fields(value: Any, path: str) -> dict[str, Any]:
    """A REST object with camelCase field names, as proto JSON reads it: either spelling of a name is one field
    (both at once is an error), and a ``null`` field is unset. ValueError if ``value`` is not an object.

    An object already in that form (no snake_case name, no null: nearly every request) is returned itself, not
    copied; callers only read it.
    """
    if type(value) is dict:
        for name, item in value.items():
            if item is None or "_" in name:
                return _rebuilt_fields(value, path)
        return value
    return _rebuilt_fields(value, path)


def _rebuilt_fields(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{path} must be a JSON object, got {type(value).__name__}")
    out: dict[str, Any] = {}
    written: dict[str, str] = {}
    for name, item in value.items():
        field = camel(name)
        if field in written:
            raise ValueError(f"{path} sets {written[field]!r} and {name!r}, one field twice")
        written[field] = name
        if item is not None:
            out[field] = item
    return out


def check_fields(
    obj: Mapping[str, Any],
    allowed: frozenset[str] | Iterable[str],
    path: str,
    provider: str,
    reasons: Mapping[str, str] | None = None,
) -> None:
    """Raise for the first field of ``obj`` not in ``allowed``, with the reason from ``reasons`` when known.

    ``allowed`` is best a frozenset made once (a module constant): then a valid object costs one subset test.
    """
    if type(allowed) is not frozenset:
        allowed = frozenset(allowed)
    if obj.keys() <= allowed:
        return
    for name in obj:
        if name not in allowed:
            raise unsupported(f"{path}.{name}", provider, (reasons or {}).get(name, UNKNOWN_FIELD))


def number(value: Any, path: str) -> int | float:
    """A proto-JSON number (a JSON number or its decimal text) as a Python number, as the targets take numbers."""
    try:
        return proto_number(value)
    except RequestShapeError:
        raise ValueError(f"{path} must be a number, got {value!r}") from None


def integer(value: Any, path: str) -> int:
    """A proto-JSON integer (a JSON number or its decimal text) as a Python int."""
    result = number(value, path)
    if isinstance(result, float) and not result.is_integer():
        raise ValueError(f"{path} must be an integer, got {value!r}")
    return int(result)


def check_range(value: float, path: str, provider: str, low: float | None, high: float | None) -> None:
    """A number the target takes only in ``[low, high]`` (either bound may be open)."""
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            bound = f"from {low} to {high}"
        else:
            bound = f"at least {low}" if low is not None else f"at most {high}"
        raise unsupported(path, provider, f"{value} is outside its range ({bound})")


def check_name(name: str, path: str, provider: str, pattern: re.Pattern[str], rule: str) -> None:
    """A function name the target accepts (each provider has its own pattern for tool names)."""
    if not pattern.fullmatch(name):
        raise unsupported(path, provider, f"function name {name!r} is not {rule}")


def check_model(request: Mapping[str, Any], model: str, provider: str) -> None:
    """A per-line ``request.model`` must name the batch model: the line goes to ``model`` whatever it says."""
    line_model = request.get("model")
    if line_model is not None and not isinstance(line_model, str):
        raise ValueError(f"request.model must be a string, got {type(line_model).__name__}")
    if line_model is not None and _bare_model(line_model) != _bare_model(model):
        raise ValueError(
            f"request.model {line_model!r} differs from the batch model {model!r}: "
            f"this {provider} batch sends every line to {model!r}"
        )


def read_parts(content: Any, path: str, provider: str) -> tuple[str, list[Part]]:
    """A Gemini Content as its role (``user`` or ``model``; absent means user) and its checked parts."""
    obj = fields(content, path)
    check_fields(obj, _CONTENT_FIELDS, path, provider)
    role = obj.get("role") or "user"
    if role not in _ROLES:
        raise ValueError(f"{path}.role {role!r} is not a Gemini role (user or model)")
    parts = obj.get("parts")
    if not isinstance(parts, list) or not parts:
        raise ValueError(f"{path}.parts must be a non-empty list")
    return role, [read_part(part, f"{path}.parts[{i}]", provider) for i, part in enumerate(parts)]


def text_turn(content: Any) -> tuple[str, list[str]] | None:
    """A Content in its most common form, read at once: camelCase ``parts`` of one non-empty ``text`` each and an
    optional ``role`` of user or model, nothing null. Its role and texts, or None for any other form (which
    :func:`read_parts` reads, and refuses where it must)."""
    if type(content) is not dict:
        return None
    parts = content.get("parts")
    role = content.get("role", "user")
    if type(parts) is not list or not parts or type(role) is not str or role not in _ROLES:
        return None
    if len(content) != 1 + ("role" in content):
        return None
    texts = []
    for part in parts:
        text = part.get("text") if type(part) is dict and len(part) == 1 else None
        if type(text) is not str or not text:
            return None
        texts.append(text)
    return role, texts


def read_part(part: Any, path: str, provider: str) -> Part:
    """One Gemini part with exactly one of text, inlineData, functionCall or functionResponse."""
    if type(part) is dict and len(part) == 1:
        text = part.get("text")
        if type(text) is str and text:
            return Part("text", text, path)  # the common part, read at once
    obj = fields(part, path)
    check_fields(obj, _PART_FIELDS_ALLOWED, path, provider, PART_REASONS)
    if obj.get("thought"):
        raise unsupported(f"{path}.thought", provider, "model thoughts cannot be replayed")
    data = [name for name in _PART_DATA if name in obj]
    if len(data) != 1 or obj[data[0]] == "":
        raise ValueError(f"{path} must hold exactly one of {', '.join(_PART_DATA)} (an empty text is none)")
    kind = data[0]
    value = obj[kind]
    if kind == "text":
        if not isinstance(value, str):
            raise ValueError(f"{path}.text must be a string")
        return Part(kind, value, path)
    value = fields(value, f"{path}.{kind}")
    check_fields(value, _PART_FIELDS[kind], f"{path}.{kind}", provider)
    for name in _PART_REQUIRED[kind]:
        if not isinstance(value.get(name), str) or not value[name]:
            raise ValueError(f"{path}.{kind}.{name} must be a non-empty string")
    return Part(kind, value, path)


_PART_FIELDS = {
    "inlineData": frozenset({"mimeType", "data"}),
    "functionCall": frozenset({"id", "name", "args"}),
    "functionResponse": frozenset({"id", "name", "response"}),
}
_PART_REQUIRED = {"inlineData": ("mimeType", "data"), "functionCall": ("name",), "functionResponse": ("name",)}


def system_texts(instruction: Any, provider: str) -> list[str]:
    """The text parts of ``systemInstruction`` (its role is ignored, as Gemini ignores it)."""
    turn = text_turn(instruction)
    if turn is not None:
        return turn[1]
    obj = fields(instruction, "systemInstruction")
    check_fields(obj, _CONTENT_FIELDS, "systemInstruction", provider)
    parts = obj.get("parts")
    if not isinstance(parts, list) or not parts:
        raise ValueError("systemInstruction.parts must be a non-empty list")
    texts = []
    for i, raw in enumerate(parts):
        part = read_part(raw, f"systemInstruction.parts[{i}]", provider)
        if part.kind != "text":
            raise unsupported(f"{part.path}.{part.kind}", provider, "a system instruction can hold only text")
        texts.append(part.value)
    return texts


def check_image(part: Part, provider: str) -> None:
    """An inlineData part must be an image type both OpenAI and Anthropic accept."""
    mime = part.value["mimeType"]
    if mime not in IMAGE_TYPES:
        allowed = ", ".join(sorted(IMAGE_TYPES))
        raise unsupported(
            f"{part.path}.inlineData", provider, f"{mime} is not one of the image types it takes ({allowed})"
        )


def standard_base64(data: str, path: str) -> str:
    """Inline bytes (at ``path``) as the targets read base64: the standard alphabet, padded with ``=``.

    Gemini reads bytes as proto JSON does, so a request may give them in the URL-safe alphabet or unpadded;
    OpenAI's data URLs and Anthropic's and Bedrock's base64 sources take only the standard form. The bytes are the
    same: data already in the standard form (nearly all) is returned itself.
    """
    if len(data) % 4 == 0 and "-" not in data and "_" not in data:
        return data
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except binascii.Error:
        raise ValueError(f"{path} is not base64") from None
    return base64.b64encode(raw).decode("ascii")


class CallIds:
    """Ids for Gemini function calls (optional there, required by OpenAI and Anthropic), paired with responses.

    A call keeps its own ``id`` (made portable) or gets ``call_<n>``. OpenAI and Anthropic take the results of a
    model turn's calls only in the turn right after it, all of them: a response answers a call of the model turn
    just before (by ``id``, else the oldest unanswered call to the same function), and a turn that leaves a call
    unanswered is refused.
    """

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._pending: list[tuple[str, str]] = []
        self._called_in: str | None = None
        self._count = 0

    def turn(self, role: str, path: str) -> None:
        """Start the turn at ``path``; the turn after a model turn's calls must be the user's, answering them."""
        if self._pending and role == "model":
            self._unanswered(path)

    def call(self, call: Mapping[str, Any], path: str) -> str:
        """The id of a functionCall of the model turn at ``path``, remembered until a functionResponse answers it."""
        self._count += 1
        call_id = portable_id(call["id"]) if call.get("id") else f"call_{self._count}"
        self._pending.append((call["name"], call_id))
        self._called_in = path
        return call_id

    def answer(self, response: Mapping[str, Any], path: str) -> str:
        """The id of the call a functionResponse answers."""
        wanted = portable_id(response["id"]) if response.get("id") else None
        for index, (name, call_id) in enumerate(self._pending):
            if call_id == wanted or (wanted is None and name == response["name"]):
                del self._pending[index]
                return call_id
        raise ValueError(
            f"{path}.functionResponse {response['name']!r} answers no functionCall of the model turn just before it: "
            f"{self._provider} needs every tool result paired with its call"
        )

    def end_turn(self, role: str, path: str) -> None:
        """End the turn at ``path``: a user turn must have answered every call of the model turn before it."""
        if role == "user" and self._pending:
            self._unanswered(path)

    def finish(self, path: str) -> None:
        """The conversation (at ``path``) may not end on calls nobody answers."""
        if self._pending:
            self._unanswered(path)

    def _unanswered(self, path: str) -> None:
        names = ", ".join(repr(name) for name, _ in self._pending)
        raise ValueError(
            f"{path}: functionCall {names} in {self._called_in} gets no functionResponse in the next turn; "
            f"{self._provider} needs every call answered in the user turn right after it"
        )


def json_schema(schema: Any, path: str, provider: str) -> dict[str, Any]:
    """Gemini's OpenAPI-subset Schema as JSON Schema.

    Type names are lowercased, ``nullable`` becomes a ``"null"`` type (and a ``None`` enum value),
    ``propertyOrdering`` orders ``properties``, int64 strings become ints, and ``example`` becomes
    ``examples``; any other keyword raises.
    """
    obj = fields(schema, path)
    out: dict[str, Any] = {}
    for name, value in obj.items():
        if name == "type":
            out["type"] = _schema_type(value, f"{path}.type")
        elif name == "properties":
            if not isinstance(value, Mapping):
                raise ValueError(f"{path}.properties must be a JSON object")
            out["properties"] = {
                prop: json_schema(sub, f"{path}.properties.{prop}", provider) for prop, sub in value.items()
            }
        elif name == "items":
            out["items"] = json_schema(value, f"{path}.items", provider)
        elif name == "anyOf":
            out["anyOf"] = [json_schema(sub, f"{path}.anyOf[{i}]", provider) for i, sub in enumerate(value)]
        elif name == "example":
            out["examples"] = [value]
        elif name in _SCHEMA_INTS:
            out[name] = integer(value, f"{path}.{name}")
        elif name in _SCHEMA_NUMBERS:
            out[name] = number(value, f"{path}.{name}")
        elif name in _SCHEMA_KEPT:
            out[name] = value
        elif name not in ("nullable", "propertyOrdering"):
            raise unsupported(f"{path}.{name}", provider, "it is not a Gemini Schema keyword that maps to JSON Schema")
    if "propertyOrdering" in obj:
        _order_properties(out, obj["propertyOrdering"], path)
    if obj.get("nullable"):
        _make_nullable(out)
    return out


def _order_properties(schema: dict[str, Any], ordering: Any, path: str) -> None:
    """JSON Schema has no ``propertyOrdering``: the properties are written in that order instead (the rest after)."""
    properties = schema.get("properties", {})
    if not isinstance(ordering, list) or any(name not in properties for name in ordering):
        raise ValueError(f"{path}.propertyOrdering must list names of {path}.properties")
    schema["properties"] = {
        **{name: properties[name] for name in ordering},
        **{name: sub for name, sub in properties.items() if name not in ordering},
    }


def verbatim_schema(schema: Any, path: str) -> dict[str, Any]:
    """A schema that is JSON Schema already (``*JsonSchema`` fields), copied unchanged."""
    if not isinstance(schema, Mapping):
        raise ValueError(f"{path} must be a JSON object")
    return dict(schema)


def _schema_type(value: Any, path: str) -> str:
    name = enum_name(_SCHEMA_TYPE, value)
    if name is None or name == "TYPE_UNSPECIFIED":
        raise ValueError(f"{path} {value!r} is not a Gemini Schema type (STRING, NUMBER, INTEGER, BOOLEAN, ...)")
    return name.lower()


def _make_nullable(schema: dict[str, Any]) -> None:
    if "type" in schema:
        schema["type"] = [schema["type"], "null"]
    elif "anyOf" in schema:
        schema["anyOf"].append({"type": "null"})
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]


def check_object_schema(parameters: Mapping[str, Any], path: str, provider: str) -> None:
    """Tool parameters must describe a JSON object (``"type": "object"``), as the targets' tool schemas require."""
    if parameters.get("type") != "object":
        raise unsupported(path, provider, 'tool parameters must be a schema of "type": "object"')


class Declaration(NamedTuple):
    """A function declaration: its name, description and parameters as JSON Schema, and where it was."""

    name: str
    description: str | None
    parameters: dict[str, Any] | None
    path: str


def function_declarations(tools: Any, provider: str) -> list[Declaration]:
    """Gemini ``tools`` as declarations with JSON Schema parameters; Gemini-only tools raise.

    ``parameters`` (OpenAPI subset) is converted; ``parametersJsonSchema`` is JSON Schema already and kept. An
    empty description is no description (proto JSON reads ``""`` as unset).
    """
    if not isinstance(tools, list):
        raise ValueError("tools must be a list")
    declared: list[Declaration] = []
    for i, tool in enumerate(tools):
        obj = fields(tool, f"tools[{i}]")
        for name, value in obj.items():
            if name in GEMINI_ONLY_TOOLS:
                raise ValueError(f"{name} is a Gemini-only tool and cannot be sent to {provider}")
            if name != "functionDeclarations":
                raise unsupported(f"tools[{i}].{name}", provider, UNKNOWN_FIELD)
            if not isinstance(value, list):
                raise ValueError(f"tools[{i}].functionDeclarations must be a list")
            declared.extend(
                _declaration(decl, f"tools[{i}].functionDeclarations[{j}]", provider) for j, decl in enumerate(value)
            )
    names = [decl.name for decl in declared]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise unsupported("tools", provider, f"function {repeated[0]!r} is declared twice")
    return declared


_DECLARATION_FIELDS = frozenset({"name", "description", "parameters", "parametersJsonSchema"})
_DECLARATION_REASONS = {
    "response": "a function's response schema has no equivalent there",
    "responseJsonSchema": "a function's response schema has no equivalent there",
    "behavior": "non-blocking function behaviour is Gemini-only",
}


def _declaration(decl: Any, path: str, provider: str) -> Declaration:
    obj = fields(decl, path)
    check_fields(obj, _DECLARATION_FIELDS, path, provider, _DECLARATION_REASONS)
    if not isinstance(obj.get("name"), str) or not obj["name"]:
        raise ValueError(f"{path}.name must be a non-empty string")
    if "parameters" in obj and "parametersJsonSchema" in obj:
        raise ValueError(f"{path} sets both parameters and parametersJsonSchema; set one")
    if "parameters" in obj:
        parameters: dict[str, Any] | None = json_schema(obj["parameters"], f"{path}.parameters", provider)
    elif "parametersJsonSchema" in obj:
        parameters = verbatim_schema(obj["parametersJsonSchema"], f"{path}.parametersJsonSchema")
    else:
        parameters = None
    return Declaration(obj["name"], obj.get("description") or None, parameters, path)


_TOOL_CONFIG_FIELDS = frozenset({"functionCallingConfig"})
_TOOL_CONFIG_REASONS = {"retrievalConfig": "retrieval config is Gemini-only"}
_CALLING_CONFIG_FIELDS = frozenset({"mode", "allowedFunctionNames"})


def tool_choice(tool_config: Any, provider: str, declared: Sequence[Declaration]) -> tuple[str, str | None]:
    """Gemini ``toolConfig`` as ``(mode, forced function)``: mode ``auto``, ``none`` or ``any``.

    The targets take a tool choice only with tools, and force only a function that is declared.
    """
    obj = fields(tool_config, "toolConfig")
    check_fields(obj, _TOOL_CONFIG_FIELDS, "toolConfig", provider, _TOOL_CONFIG_REASONS)
    config = fields(obj.get("functionCallingConfig") or {}, "toolConfig.functionCallingConfig")
    path = "toolConfig.functionCallingConfig"
    check_fields(config, _CALLING_CONFIG_FIELDS, path, provider)
    raw_mode = config.get("mode", "AUTO")
    mode = enum_name("FunctionCallingConfig.Mode", raw_mode) or str(raw_mode)
    allowed = list(config.get("allowedFunctionNames") or [])
    if not declared:
        raise unsupported("toolConfig", provider, "it takes a tool choice only together with function declarations")
    if mode in ("AUTO", "MODE_UNSPECIFIED", "NONE") and allowed:
        raise unsupported(f"{path}.allowedFunctionNames", provider, "it only restricts functions in mode ANY")
    if mode in ("AUTO", "MODE_UNSPECIFIED"):
        return "auto", None
    if mode == "NONE":
        return "none", None
    if mode != "ANY":
        raise unsupported(f"{path}.mode", provider, f"mode {mode} has no equivalent there")
    if len(allowed) > 1:
        raise unsupported(f"{path}.allowedFunctionNames", provider, "it can force one function or any, not a subset")
    if allowed and allowed[0] not in {decl.name for decl in declared}:
        raise ValueError(f"{path}.allowedFunctionNames names {allowed[0]!r}, which no functionDeclaration declares")
    return "any", (allowed[0] if allowed else None)


def _bare_model(name: str) -> str:
    return name.removeprefix("models/")


def line_parts(line: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The key and the (camelCased) request of a canonical line."""
    key = line.get("key")
    if not isinstance(key, str) or not key:
        raise ValueError("the line needs a non-empty string 'key'")
    return key, fields(line.get("request"), "request")


def check_metadata_carried(line: Mapping[str, Any], provider: str) -> None:
    """A line's ``metadata`` other than its ``key`` goes nowhere in ``provider``'s request (Gemini and Vertex echo it
    with the result; the translated targets have no such field): refused naming it, never dropped."""
    metadata = line.get("metadata")
    if metadata is None:  # nearly every line: no look at the type
        return
    if isinstance(metadata, Mapping) and metadata.keys() - {"key"}:
        name = min(metadata.keys() - {"key"})
        why = "only Gemini and Vertex AI carry a line's metadata besides its key (they echo it with the result)"
        raise unsupported(f"metadata.{name}", provider, why)


def check_kind(request: Mapping[str, Any], *, embeddings: bool) -> None:
    """An embeddings batch takes EmbedContentRequests (``content``), a generation batch ``contents``."""
    if embeddings and "contents" in request:
        raise ValueError("request has 'contents' (a generation request) but the batch is an embeddings batch")
    if not embeddings and "content" in request and "contents" not in request:
        raise ValueError("request has 'content' (an embeddings request) but the batch is a generation batch")


_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_encode = msgspec.json.Encoder().encode


def compact_json(value: Any, path: str, field: str) -> str:
    """JSON text as OpenAI writes function arguments: compact, non-ASCII kept; a value with no JSON form is refused
    naming where it is (``field`` of the part at ``path``).

    msgspec writes it where it writes exactly what the standard library's encoder does (strings, integers,
    booleans, nulls, lists and objects with string keys); a value holding a float, whose shortest form the two
    write differently, or anything else goes to the standard library's encoder.
    """
    try:
        if _writes_alike(value):
            return _encode(value).decode()
    except (UnicodeEncodeError, RecursionError):  # a lone surrogate, or nesting the standard library reports
        pass
    try:
        return _COMPACT_JSON(value)
    except TypeError as err:  # an inline request's Python value that has no JSON form (a Decimal, a set, ...)
        raise ValueError(
            f"{path}.{field} holds a value that is not JSON ({err}): give numbers, strings, lists and dicts"
        ) from None


_PLAIN = frozenset({str, int, bool, type(None)})
"""The types of the values msgspec and the standard library write alike."""


def _writes_alike(value: Any) -> bool:
    """Whether ``value`` holds only objects with string keys, lists and :data:`_PLAIN` values: a leaf is checked in
    its container's loop, so only nested containers cost a call."""
    kind = type(value)
    if kind is dict:
        for name, item in value.items():
            if type(name) is not str or (type(item) not in _PLAIN and not _writes_alike(item)):
                return False
        return True
    if kind is list:
        return all(type(item) in _PLAIN or _writes_alike(item) for item in value)
    return kind in _PLAIN


def check_text_modality(gen: Mapping[str, Any], provider: str) -> None:
    """``responseModalities`` may only ask for text (an empty list means text), which is all a chat batch returns."""
    modalities = gen.get("responseModalities")
    if modalities is None:
        return
    names = [enum_name("GenerationConfig.Modality", m) or str(m) for m in modalities]
    if names and names != ["TEXT"]:
        raise unsupported("generationConfig.responseModalities", provider, "only text output maps")
