"""Generate ``formats/gemini_schema.json``, the Gemini request schema the package checks requests against.

The schema is read from the protobuf descriptors of ``google-ai-generativelanguage`` (the Developer API's own
types, ``google.ai.generativelanguage_v1beta``): for ``GenerateContentRequest`` and ``EmbedContentRequest`` and
every message they reach, each field's JSON name, proto name, type, repeated flag, message or enum, and real
oneof group. A small hand-maintained overlay (``OVERLAY`` below) is merged in: the numeric ranges, allowed
values and required fields the descriptors carry only in prose, the fields newer than the pinned package (each
with its source), and the Vertex-only fields reported as such. Merging fails when the overlay names a field the
descriptors lack, or adds one they now have, so a newer package forces the overlay to be reviewed.

The package is not a dependency of this project; run the script in a throwaway environment::

    python -m venv /tmp/gemini-schema
    /tmp/gemini-schema/bin/pip install google-ai-generativelanguage==0.12.1
    /tmp/gemini-schema/bin/python scripts/gen_gemini_schema.py           # rewrites the shipped file
    /tmp/gemini-schema/bin/python scripts/gen_gemini_schema.py --check   # exit status 1 when it is stale

(or ``pip download google-ai-generativelanguage==0.12.1`` and ``pip install --target <dir>`` the wheels, then run it
with ``PYTHONPATH=<dir>``).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PACKAGE = "google-ai-generativelanguage"
PINNED_VERSION = "0.12.1"
PROTO_PACKAGE = "google.ai.generativelanguage.v1beta"
ROOTS = ("GenerateContentRequest", "EmbedContentRequest")
SHIPPED = Path(__file__).resolve().parent.parent / "airflow_provider_genai_batch" / "formats" / "gemini_schema.json"

# protobuf FieldDescriptor.TYPE_* numbers and the JSON kind each one reads as.
_SCALARS = {
    1: "double",
    2: "float",
    3: "int64",
    4: "uint64",
    5: "int32",
    6: "uint64",
    7: "uint32",
    8: "bool",
    9: "string",
    12: "bytes",
    13: "uint32",
    15: "int32",
    16: "int64",
    17: "int32",
    18: "int64",
}
_TYPE_ENUM, _TYPE_MESSAGE = 14, 11
# Well-known message types have a JSON form of their own.
_WELL_KNOWN = {
    "google.protobuf.Struct": "struct",
    "google.protobuf.Value": "value",
    "google.protobuf.ListValue": "list_value",
    "google.protobuf.Duration": "duration",
    "google.protobuf.Timestamp": "timestamp",
    "google.protobuf.FieldMask": "field_mask",
    "google.protobuf.DoubleValue": "double",
    "google.protobuf.FloatValue": "float",
    "google.protobuf.Int64Value": "int64",
    "google.protobuf.UInt64Value": "uint64",
    "google.protobuf.Int32Value": "int32",
    "google.protobuf.UInt32Value": "uint32",
    "google.protobuf.BoolValue": "bool",
    "google.protobuf.StringValue": "string",
    "google.protobuf.BytesValue": "bytes",
}

GENAI = "google-genai 3.4"
SERVICE = "rejected by the service"

OVERLAY: dict[str, Any] = {
    "messages": {
        "GenerateContentRequest": {
            "fields": {
                "contents": {"required": True, "min_items": 1, "source": "proto comment: Required"},
                "systemInstruction": {"text_only": True, "source": "proto comment: Currently, text only"},
                "safetySettings": {
                    "unique_by": "category",
                    "source": "proto comment: no more than one setting for each category",
                },
            },
            "added": {
                "serviceTier": {"type": "string", "source": f"{GENAI} GenerateContentConfig.service_tier"},
                "labels": {
                    "type": "map",
                    "key": "string",
                    "value": {"type": "string"},
                    "source": f"{GENAI} GenerateContentConfig.labels",
                },
                "store": {"type": "bool", "source": f"{GENAI} GenerateContentConfig.store"},
                "continuationToken": {"type": "bytes", "source": f"{GENAI} GenerateContentConfig.continuation_token"},
            },
            "vertex_only": {"modelArmorConfig": "model_armor_config"},
        },
        "EmbedContentRequest": {
            "fields": {
                "content": {"required": True, "source": "proto comment: Required"},
                "outputDimensionality": {"min": 1, "source": SERVICE},
            },
            "vertex_only": {
                "mimeType": "mime_type",
                "autoTruncate": "auto_truncate",
                "documentOcr": "document_ocr",
                "audioTrackExtraction": "audio_track_extraction",
            },
        },
        "Content": {
            "fields": {
                "parts": {"required": True, "min_items": 1, "source": SERVICE},
                "role": {
                    "values": ["user", "model"],
                    "hint": "a system prompt goes in systemInstruction",
                    "source": "proto comment: Must be either 'user' or 'model'",
                },
            },
        },
        "Part": {
            "required_oneofs": ["data"],
            "added": {
                "mediaResolution": {
                    "type": "message",
                    "message": "PartMediaResolution",
                    "source": f"{GENAI} Part.media_resolution",
                },
                "toolCall": {"type": "object", "oneof": "data", "source": f"{GENAI} Part.tool_call"},
                "toolResponse": {"type": "object", "oneof": "data", "source": f"{GENAI} Part.tool_response"},
                "audioMetadata": {"type": "object", "source": f"{GENAI} Part.audio_metadata"},
                "documentMetadata": {"type": "object", "source": f"{GENAI} Part.document_metadata"},
                "spreadsheetMetadata": {"type": "object", "source": f"{GENAI} Part.spreadsheet_metadata"},
                "mediaProcessing": {"type": "object", "source": f"{GENAI} Part.media_processing"},
                "speechMetadata": {"type": "object", "source": f"{GENAI} Part.speech_metadata"},
            },
        },
        "Blob": {
            "fields": {
                "mimeType": {"required": True, "source": SERVICE},
                "data": {"required": True, "source": SERVICE},
            },
            "added": {"displayName": {"type": "string", "source": f"{GENAI} Blob.display_name"}},
        },
        "FileData": {
            "fields": {"fileUri": {"required": True, "source": "proto comment: Required"}},
            "added": {"displayName": {"type": "string", "source": f"{GENAI} FileData.display_name"}},
        },
        "FunctionCall": {
            "fields": {"name": {"required": True, "source": "proto comment: Required"}},
            "vertex_only": {"partialArgs": "partial_args", "willContinue": "will_continue"},
        },
        "FunctionResponse": {
            "fields": {"name": {"required": True, "source": "proto comment: Required"}},
        },
        "FunctionResponseBlob": {
            "added": {"displayName": {"type": "string", "source": f"{GENAI} FunctionResponseBlob.display_name"}},
        },
        "ExecutableCode": {"added": {"id": {"type": "string", "source": f"{GENAI} ExecutableCode.id"}}},
        "CodeExecutionResult": {"added": {"id": {"type": "string", "source": f"{GENAI} CodeExecutionResult.id"}}},
        "FunctionDeclaration": {
            "fields": {
                "name": {
                    "required": True,
                    "pattern": "[A-Za-z0-9_:.-]{1,64}",
                    "source": "proto comment: a-z, A-Z, 0-9, underscores, colons, dots and dashes, at most 64",
                },
            },
        },
        "SafetySetting": {
            "fields": {
                "category": {
                    "required": True,
                    "values": [
                        "HARM_CATEGORY_HARASSMENT",
                        "HARM_CATEGORY_HATE_SPEECH",
                        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
                        "HARM_CATEGORY_DANGEROUS_CONTENT",
                        "HARM_CATEGORY_CIVIC_INTEGRITY",
                    ],
                    "source": "proto comment on GenerateContentRequest.safety_settings: the supported categories",
                },
                "threshold": {"required": True, "source": "proto comment: Required"},
            },
            "vertex_only": {"method": "method"},
        },
        "GenerationConfig": {
            "fields": {
                "temperature": {"min": 0, "max": 2, "source": "proto comment: Values can range from [0.0, 2.0]"},
                "topP": {"min": 0, "max": 1, "source": "a cumulative probability"},
                "topK": {"min": 1, "source": SERVICE},
                "candidateCount": {"min": 1, "source": SERVICE},
                "maxOutputTokens": {"min": 1, "source": SERVICE},
                "logprobs": {"min": 0, "max": 20, "source": "proto comment: in the range of [0, 20]"},
                "stopSequences": {"max_items": 5, "source": "proto comment: up to 5"},
            },
            "added": {
                "audioTranscriptionConfig": {
                    "type": "object",
                    "source": f"{GENAI} GenerateContentConfig.audio_transcription_config",
                },
            },
            "vertex_only": {
                "routingConfig": "routing_config",
                "modelSelectionConfig": "model_selection_config",
                "audioTimestamp": "audio_timestamp",
            },
        },
        "ThinkingConfig": {
            "added": {
                "thinkingLevel": {
                    "type": "enum",
                    "enum": "ThinkingLevel",
                    "source": f"{GENAI} ThinkingConfig.thinking_level",
                },
            },
        },
        "ImageConfig": {
            "added": {"imageSize": {"type": "string", "source": f"{GENAI} ImageConfig.image_size"}},
            "vertex_only": {
                "personGeneration": "person_generation",
                "prominentPeople": "prominent_people",
                "outputMimeType": "output_mime_type",
                "outputCompressionQuality": "output_compression_quality",
                "imageOutputOptions": "image_output_options",
            },
        },
        "Tool": {
            "added": {
                "mcpServers": {"type": "object", "repeated": True, "source": f"{GENAI} Tool.mcp_servers"},
            },
            "vertex_only": {
                "retrieval": "retrieval",
                "enterpriseWebSearch": "enterprise_web_search",
                "exaAiSearch": "exa_ai_search",
                "parallelAiSearch": "parallel_ai_search",
            },
        },
        "Tool.GoogleSearch": {
            "added": {"searchTypes": {"type": "object", "source": f"{GENAI} GoogleSearch.search_types"}},
            "vertex_only": {"blockingConfidence": "blocking_confidence", "excludeDomains": "exclude_domains"},
        },
        "GoogleMaps": {"vertex_only": {"authConfig": "auth_config", "groundingTypes": "grounding_types"}},
        "FileSearch": {
            "added": {
                "fileSearchStoreNames": {
                    "type": "string",
                    "repeated": True,
                    "source": f"{GENAI} FileSearch.file_search_store_names",
                },
                "metadataFilter": {"type": "string", "source": f"{GENAI} FileSearch.metadata_filter"},
                "topK": {"type": "int32", "source": f"{GENAI} FileSearch.top_k"},
            },
        },
        "ToolConfig": {
            "added": {
                "includeServerSideToolInvocations": {
                    "type": "bool",
                    "source": f"{GENAI} ToolConfig.include_server_side_tool_invocations",
                },
            },
        },
        "FunctionCallingConfig": {"vertex_only": {"streamFunctionCallArguments": "stream_function_call_arguments"}},
        "Schema": {"vertex_only": {"additionalProperties": "additional_properties"}},
    },
    "new_messages": {
        "PartMediaResolution": {
            "fields": {
                "level": {"type": "enum", "enum": "PartMediaResolutionLevel"},
                "numTokens": {"type": "int32"},
            },
            "source": f"{GENAI} PartMediaResolution",
        },
    },
    "new_enums": {
        "ThinkingLevel": {
            "values": {"THINKING_LEVEL_UNSPECIFIED": 0, "MINIMAL": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4, "XHIGH": 5},
            "source": f"{GENAI} ThinkingLevel",
        },
        "PartMediaResolutionLevel": {
            "values": {
                "MEDIA_RESOLUTION_UNSPECIFIED": 0,
                "MEDIA_RESOLUTION_LOW": 1,
                "MEDIA_RESOLUTION_MEDIUM": 2,
                "MEDIA_RESOLUTION_HIGH": 3,
                "MEDIA_RESOLUTION_ULTRA_HIGH": 4,
            },
            "source": f"{GENAI} PartMediaResolutionLevel",
        },
    },
}
"""What the descriptors of the pinned package do not say. ``fields``: constraints on a field they have;
``added``: a field they lack (``object`` is an opaque JSON object the service checks itself); ``vertex_only``:
JSON name -> proto name of a field only Vertex AI takes. Enum numbers of new enums follow google-genai's order."""


def local_name(full_name: str, package: str) -> str:
    """A message or enum name relative to the API's proto package (other packages keep their full name)."""
    prefix = package + "."
    return full_name[len(prefix) :] if full_name.startswith(prefix) else full_name


def describe(roots: Iterable[Any], package: str) -> dict[str, Any]:
    """The compact schema of the messages reachable from ``roots`` (protobuf ``Descriptor`` objects)."""
    messages: dict[str, Any] = {}
    enums: dict[str, Any] = {}
    pending = list(roots)
    while pending:
        descriptor = pending.pop()
        name = local_name(descriptor.full_name, package)
        if name in messages:
            continue
        fields: dict[str, Any] = {}
        for field in descriptor.fields:
            spec, reached = _field_spec(field, package, enums)
            pending.extend(reached)
            fields[field.json_name] = spec
        messages[name] = {"fields": fields}
    return {"messages": dict(sorted(messages.items())), "enums": dict(sorted(enums.items()))}


def _field_spec(field: Any, package: str, enums: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """One field as ``{"name", "type", ...}`` and the message descriptors it leads to."""
    spec: dict[str, Any] = {"name": _proto_name(field)}
    reached: list[Any] = []
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        key, value = message.fields_by_name["key"], message.fields_by_name["value"]
        value_spec, reached = _type_spec(value, package, enums)
        spec.update({"type": "map", "key": _type_spec(key, package, enums)[0]["type"], "value": value_spec})
    else:
        type_spec, reached = _type_spec(field, package, enums)
        spec.update(type_spec)
        if _is_repeated(field):
            spec["repeated"] = True
    oneof = field.containing_oneof
    if oneof is not None and not _is_synthetic(oneof):
        spec["oneof"] = oneof.name
    return spec, reached


def _type_spec(field: Any, package: str, enums: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    if field.type == _TYPE_ENUM:
        name = local_name(field.enum_type.full_name, package)
        enums[name] = {"values": {value.name: value.number for value in field.enum_type.values}}
        return {"type": "enum", "enum": name}, []
    if field.type == _TYPE_MESSAGE:
        full_name = field.message_type.full_name
        if full_name in _WELL_KNOWN:
            return {"type": _WELL_KNOWN[full_name]}, []
        if full_name.startswith("google.protobuf."):
            raise ValueError(f"no JSON mapping for well-known type {full_name}")
        return {"type": "message", "message": local_name(full_name, package)}, [field.message_type]
    return {"type": _SCALARS[field.type]}, []


def _proto_name(field: Any) -> str:
    """The proto field name (proto-plus appends ``_`` to names that are Python keywords or builtins)."""
    name: str = field.name
    return name[:-1] if name.endswith("_") and _camel(name[:-1]) == field.json_name else name


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _is_repeated(field: Any) -> bool:
    repeated = getattr(field, "is_repeated", None)
    return bool(repeated) if repeated is not None else field.label == 3


def _is_synthetic(oneof: Any) -> bool:
    """A proto3 ``optional`` field sits in a one-member oneof named after it: not a real choice."""
    members = list(oneof.fields)
    return oneof.name.startswith("_") and len(members) == 1 and _proto_name(members[0]) == oneof.name[1:]


def apply_overlay(schema: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """The schema with the overlay merged in; ValueError when the overlay and the descriptors disagree."""
    merged = copy.deepcopy(dict(schema))
    messages, enums = merged["messages"], merged["enums"]
    for name, spec in overlay.get("new_enums", {}).items():
        if name in enums:
            raise ValueError(f"overlay adds enum {name}, which the descriptors now define")
        enums[name] = spec
    for name, spec in overlay.get("new_messages", {}).items():
        if name in messages:
            raise ValueError(f"overlay adds message {name}, which the descriptors now define")
        fields = {field: {"name": _snake(field), **spec_} for field, spec_ in spec["fields"].items()}
        messages[name] = {**spec, "fields": fields}
    for name, changes in overlay.get("messages", {}).items():
        if name not in messages:
            raise ValueError(f"overlay names message {name}, which the descriptors do not reach")
        message = messages[name]
        for field, constraints in changes.get("fields", {}).items():
            if field not in message["fields"]:
                raise ValueError(f"overlay constrains {name}.{field}, which the descriptors lack")
            message["fields"][field].update(constraints)
        for field, spec in changes.get("added", {}).items():
            if field in message["fields"]:
                raise ValueError(f"overlay adds {name}.{field}, which the descriptors now have: review the overlay")
            message["fields"][field] = {"name": _snake(field), **spec}
        for field in changes.get("vertex_only", {}):
            if field in message["fields"]:
                raise ValueError(f"overlay calls {name}.{field} Vertex-only, but the descriptors have it")
        for key in ("vertex_only", "required_oneofs"):
            if key in changes:
                message[key] = changes[key]
    _check_references(merged)
    merged["messages"] = dict(sorted(messages.items()))
    merged["enums"] = dict(sorted(enums.items()))
    return merged


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _check_references(schema: Mapping[str, Any]) -> None:
    for name, message in schema["messages"].items():
        for field, spec in message["fields"].items():
            target = spec.get("value", spec)
            if target.get("message") and target["message"] not in schema["messages"]:
                raise ValueError(f"{name}.{field} refers to unknown message {target['message']}")
            if target.get("enum") and target["enum"] not in schema["enums"]:
                raise ValueError(f"{name}.{field} refers to unknown enum {target['enum']}")
        oneofs = {spec.get("oneof") for spec in message["fields"].values()}
        for group in message.get("required_oneofs", ()):
            if group not in oneofs:
                raise ValueError(f"{name} requires oneof {group}, which it does not have")


def build(roots: Iterable[Any], package: str, source: str, overlay: Mapping[str, Any]) -> dict[str, Any]:
    """The full document written to the shipped file."""
    roots = list(roots)
    schema = apply_overlay(describe(roots, package), overlay)
    return {"source": source, "roots": [local_name(root.full_name, package) for root in roots], **schema}


def render(document: Mapping[str, Any]) -> str:
    """The document as the shipped file holds it: messages and enums sorted, fields in descriptor order."""
    return json.dumps(document, indent=1) + "\n"


def generate() -> str:
    """The schema from the installed ``google-ai-generativelanguage``, rendered."""
    from importlib.metadata import version

    from google.ai.generativelanguage_v1beta.types import generative_service

    installed = version(PACKAGE)
    roots = [getattr(generative_service, name).pb().DESCRIPTOR for name in ROOTS]
    source = f"{PACKAGE} {installed} ({PROTO_PACKAGE}) + scripts/gen_gemini_schema.py OVERLAY"
    return render(build(roots, PROTO_PACKAGE, source, OVERLAY))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the shipped file differs from a fresh one")
    parser.add_argument("--output", type=Path, default=SHIPPED, help="where to write (default: the shipped file)")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        if args.output.read_text() != text:
            print(f"{args.output} is stale: rerun scripts/gen_gemini_schema.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
