"""The common shape of a Gemini generation line, decoded typed: a fast way past the request check.

Most lines are a conversation of text, images and function calls, perhaps with a system instruction, settings
and tools. Such a line decodes into the structs below in one msgspec call, its field names, types, roles and
non-empty strings checked in C; :func:`certified` finishes what :func:`.gemini_line.check_line` checks of it.
Any other line (a snake_case name, a null, a number as text, a field the structs do not list) does not decode
and goes the general way, which also words every error: this path only ever declines, never refuses.
The structs are left out of the cyclic garbage collector (``gc=False``): a decoded line holds no cycle, and the
collector neither tracks nor walks the dozen or so structs of each line.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.formats.gemini_line import breaks_function_turns, check_metadata
from airflow_provider_genai_batch.formats.jsonl import JsonlReader

NonEmpty = Annotated[str, Meta(min_length=1)]
Role = Literal["user", "model"]


class Blob(Struct, forbid_unknown_fields=True, gc=False):
    """Inline bytes: both fields required and set (``data`` still to be checked as base64)."""

    mimeType: NonEmpty
    data: NonEmpty


class FunctionCall(Struct, forbid_unknown_fields=True, gc=False):
    """A model's call of a declared function."""

    name: NonEmpty
    args: dict[str, Any] | UnsetType = UNSET
    id: str | UnsetType = UNSET


class FunctionResponse(Struct, forbid_unknown_fields=True, gc=False):
    """The result of a function call, sent back to the model."""

    name: NonEmpty
    response: dict[str, Any] | UnsetType = UNSET
    id: str | UnsetType = UNSET


class FileData(Struct, forbid_unknown_fields=True, gc=False):
    """A file by URI (Gemini and Vertex AI read it; the translations refuse it)."""

    fileUri: NonEmpty
    mimeType: str | UnsetType = UNSET
    displayName: str | UnsetType = UNSET


class Part(Struct, forbid_unknown_fields=True, gc=False):
    """One part: exactly one of its fields is set in a certified line."""

    text: NonEmpty | UnsetType = UNSET
    inlineData: Blob | UnsetType = UNSET
    functionCall: FunctionCall | UnsetType = UNSET
    functionResponse: FunctionResponse | UnsetType = UNSET
    fileData: FileData | UnsetType = UNSET


class Content(Struct, forbid_unknown_fields=True, gc=False):
    """One turn of the conversation (an absent role is the user's)."""

    parts: Annotated[list[Part], Meta(min_length=1)]
    role: Role = "user"


class TextPart(Struct, forbid_unknown_fields=True, gc=False):
    """A part of a system instruction: text only."""

    text: NonEmpty


class SystemInstruction(Struct, forbid_unknown_fields=True, gc=False):
    """A system instruction of text parts (its role is ignored, as Gemini ignores it)."""

    parts: Annotated[list[TextPart], Meta(min_length=1)]
    role: Role = "user"


Int32 = Annotated[int, Meta(ge=-(2**31), le=2**31 - 1)]
Positive32 = Annotated[int, Meta(ge=1, le=2**31 - 1)]
Int64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
Float32 = Annotated[float, Meta(ge=-3.4028234663852886e38, le=3.4028234663852886e38)]
SchemaType = Literal["TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"]
Modality = Literal["MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO"]
MediaResolution = Literal[
    "MEDIA_RESOLUTION_UNSPECIFIED", "MEDIA_RESOLUTION_LOW", "MEDIA_RESOLUTION_MEDIUM", "MEDIA_RESOLUTION_HIGH"
]
ThinkingLevel = Literal["THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH"]
CallingMode = Literal["MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"]
Behavior = Literal["UNSPECIFIED", "BLOCKING", "NON_BLOCKING"]
HarmCategory = Literal[
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_CIVIC_INTEGRITY",
]
HarmBlockThreshold = Literal[
    "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
    "BLOCK_LOW_AND_ABOVE",
    "BLOCK_MEDIUM_AND_ABOVE",
    "BLOCK_ONLY_HIGH",
    "BLOCK_NONE",
    "OFF",
]
FunctionName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_:.-]{1,64}\Z")]
"""Enum values by name only (a number declines), and the ranges of the schema's overlay and of the proto types."""


class Schema(Struct, forbid_unknown_fields=True, gc=False):
    """Gemini's OpenAPI-subset Schema (the schema check allows every type name; translation refuses some)."""

    type: SchemaType | UnsetType = UNSET
    format: str | UnsetType = UNSET
    title: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    nullable: bool | UnsetType = UNSET
    enum: list[str] | UnsetType = UNSET
    items: Schema | UnsetType = UNSET
    maxItems: Int64 | UnsetType = UNSET
    minItems: Int64 | UnsetType = UNSET
    properties: dict[str, Schema] | UnsetType = UNSET
    required: list[str] | UnsetType = UNSET
    minProperties: Int64 | UnsetType = UNSET
    maxProperties: Int64 | UnsetType = UNSET
    minimum: float | UnsetType = UNSET
    maximum: float | UnsetType = UNSET
    minLength: Int64 | UnsetType = UNSET
    maxLength: Int64 | UnsetType = UNSET
    pattern: str | UnsetType = UNSET
    example: Any = UNSET
    anyOf: list[Schema] | UnsetType = UNSET
    propertyOrdering: list[str] | UnsetType = UNSET
    default: Any = UNSET


class ThinkingConfig(Struct, forbid_unknown_fields=True, gc=False):
    """How much the model thinks."""

    includeThoughts: bool | UnsetType = UNSET
    thinkingBudget: Int32 | UnsetType = UNSET
    thinkingLevel: ThinkingLevel | UnsetType = UNSET


class GenerationConfig(Struct, forbid_unknown_fields=True, gc=False):
    """The common generation settings, with the schema's ranges."""

    candidateCount: Positive32 | UnsetType = UNSET
    stopSequences: Annotated[list[str], Meta(max_length=5)] | UnsetType = UNSET
    maxOutputTokens: Positive32 | UnsetType = UNSET
    temperature: Annotated[float, Meta(ge=0, le=2)] | UnsetType = UNSET
    topP: Annotated[float, Meta(ge=0, le=1)] | UnsetType = UNSET
    topK: Positive32 | UnsetType = UNSET
    seed: Int32 | UnsetType = UNSET
    responseMimeType: str | UnsetType = UNSET
    responseSchema: Schema | UnsetType = UNSET
    responseJsonSchema: Any = UNSET
    presencePenalty: Float32 | UnsetType = UNSET
    frequencyPenalty: Float32 | UnsetType = UNSET
    responseLogprobs: bool | UnsetType = UNSET
    logprobs: Annotated[int, Meta(ge=0, le=20)] | UnsetType = UNSET
    enableEnhancedCivicAnswers: bool | UnsetType = UNSET
    responseModalities: list[Modality] | UnsetType = UNSET
    thinkingConfig: ThinkingConfig | UnsetType = UNSET
    mediaResolution: MediaResolution | UnsetType = UNSET


class FunctionDeclaration(Struct, forbid_unknown_fields=True, gc=False):
    """A function the model may call."""

    name: FunctionName
    description: str | UnsetType = UNSET
    parameters: Schema | UnsetType = UNSET
    parametersJsonSchema: Any = UNSET
    response: Schema | UnsetType = UNSET
    responseJsonSchema: Any = UNSET
    behavior: Behavior | UnsetType = UNSET


class NoSettings(Struct, forbid_unknown_fields=True, gc=False):
    """A tool switched on with no settings (``{}``)."""


class Tool(Struct, forbid_unknown_fields=True, gc=False):
    """Function declarations, or a Gemini tool without settings (others decline; the translations refuse these)."""

    functionDeclarations: list[FunctionDeclaration] | UnsetType = UNSET
    googleSearch: NoSettings | UnsetType = UNSET
    codeExecution: NoSettings | UnsetType = UNSET
    urlContext: NoSettings | UnsetType = UNSET


class SafetySetting(Struct, forbid_unknown_fields=True, gc=False):
    """How strictly one harm category is blocked (Gemini-only: the translations refuse it)."""

    category: HarmCategory
    threshold: HarmBlockThreshold


class FunctionCallingConfig(Struct, forbid_unknown_fields=True, gc=False):
    """How the model may call functions."""

    mode: CallingMode | UnsetType = UNSET
    allowedFunctionNames: list[str] | UnsetType = UNSET


class ToolConfig(Struct, forbid_unknown_fields=True, gc=False):
    """The function-calling configuration."""

    functionCallingConfig: FunctionCallingConfig | UnsetType = UNSET
    includeServerSideToolInvocations: bool | UnsetType = UNSET


class Request(Struct, forbid_unknown_fields=True, gc=False):
    """A GenerateContentRequest of the common fields."""

    contents: Annotated[list[Content], Meta(min_length=1)]
    systemInstruction: SystemInstruction | UnsetType = UNSET
    generationConfig: GenerationConfig | UnsetType = UNSET
    tools: list[Tool] | UnsetType = UNSET
    toolConfig: ToolConfig | UnsetType = UNSET
    safetySettings: list[SafetySetting] | UnsetType = UNSET
    model: str | UnsetType = UNSET
    cachedContent: str | UnsetType = UNSET
    labels: dict[str, str] | UnsetType = UNSET


class CommonLine(Struct, forbid_unknown_fields=True, gc=False):
    """A canonical batch line whose request has the common shape."""

    key: NonEmpty
    request: Request
    metadata: dict[str, Any] | UnsetType = UNSET


_decode = msgspec.json.Decoder(CommonLine).decode


def decode_common(canonical: bytes) -> CommonLine | None:
    """``canonical`` (a line as compact JSON) in the common shape, or None where it has another shape."""
    try:
        return _decode(canonical)
    except (msgspec.DecodeError, RecursionError):  # another shape, or nested deeper than the decoder goes
        return None


def certified(line: CommonLine) -> bool:
    """Whether the general check of the line (:func:`.gemini_line.check_line` for a generation batch, with or
    without Vertex AI's fields, which the structs leave out) and the Gemini API's own rules for it
    (:func:`.gemini_line.check_api_rules`) pass; False where they may not, never a wrong True.

    A line that breaks only the API's rules goes the general way for every target: those rules are checked there
    where they apply (the line goes to Gemini), and a translation checks its target's own.
    """
    if line.metadata is not UNSET:
        try:
            check_metadata(line.metadata, line.key)
        except ValueError:
            return False
    request = line.request
    calls_before = 0
    after_user = False
    for content in request.contents:
        calls = responses = 0
        for part in content.parts:
            if part.text is not UNSET:
                if (
                    part.inlineData is not UNSET
                    or part.functionCall is not UNSET
                    or part.functionResponse is not UNSET
                    or part.fileData is not UNSET
                ):
                    return False
            elif not _one_datum(part):
                return False
            elif part.functionCall is not UNSET:
                calls += 1
            elif part.functionResponse is not UNSET:
                responses += 1
        if (calls_before or responses or calls) and breaks_function_turns(calls_before, calls, responses, after_user):
            return False
        calls_before = calls
        after_user = content.role == "user"
    config = request.generationConfig
    if config is not UNSET and config.thinkingConfig is not UNSET:
        thinking = config.thinkingConfig
        if thinking.thinkingBudget is not UNSET and thinking.thinkingLevel not in (UNSET, "THINKING_LEVEL_UNSPECIFIED"):
            return False  # the API takes one of the two
    if request.safetySettings is not UNSET:
        categories = {setting.category for setting in request.safetySettings}
        if len(categories) != len(request.safetySettings):
            return False  # one setting per category
    return True


def certifies_native(dialect: object) -> bool:
    """Whether a certified line needs no ``dialect.check_native``: the Gemini API's, whose only check (the API's
    rules for function calls and thinking) the certification makes too."""
    return getattr(type(dialect), "check_native", None) is GeminiDialect.check_native


def _one_datum(part: Part) -> bool:
    """Exactly one field of a part without text is set, and inline data is base64."""
    held = (
        (part.inlineData is not UNSET)
        + (part.functionCall is not UNSET)
        + (part.functionResponse is not UNSET)
        + (part.fileData is not UNSET)
    )
    if held != 1:
        return False
    return part.inlineData is UNSET or _standard_base64(part.inlineData.data)


_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _standard_base64(value: str) -> bool:
    """Whether ``value`` is base64 in the standard alphabet as :func:`.gemini_schema.check_base64` takes it (its
    URL-safe alphabet, rarer, declines): read in C, not by a regular expression."""
    body = value.rstrip("=")
    padding = len(value) - len(body)
    if padding > 2 or not body.isascii() or body.encode("ascii").translate(None, _BASE64_ALPHABET):
        return False
    return len(body) % 4 != 1 and (not padding or len(value) % 4 == 0)


class CommonLines:
    """The typed fast path over the lines of one reader: whether the line last checked was certified, for its
    translation to skip the general reading too (:mod:`.common_translate`)."""

    def __init__(self, reader: JsonlReader) -> None:
        self._reader = reader
        self._certified: object = None

    def check(self, line: dict[str, Any]) -> bool:
        """Whether ``line``, the reader's last, is certified to pass the general check."""
        typed = decode_common(self._reader.canonical)
        certain = typed is not None and certified(typed)
        self._certified = line if certain else None
        return certain

    def certified(self, line: dict[str, Any]) -> bool:
        """Whether ``line`` is the line last checked, and was certified."""
        return self._certified is line
