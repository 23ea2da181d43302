"""The members of a native Bedrock Converse record that only pass through to Converse, checked as Converse checks
them: ``requestMetadata`` (filters for the invocation logs), ``additionalModelResponseFieldPaths`` (JSON Pointers
into the model's own answer) and ``promptVariables`` (values for a Prompt management prompt).

A record Converse refuses for one of these fails on its own line once the job runs; these checks refuse it up front,
naming the member and why, and refuse prompt variables, which Converse would ignore (a batch job names no prompt).
The limits are those of botocore's bedrock-runtime ``ConverseRequest``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_genai_batch.formats.gemini_schema import json_type

METADATA_ENTRIES = (1, 16)
"""The fewest and most entries of a ``requestMetadata`` map."""
METADATA_TEXT_MAX = 256
"""The longest ``requestMetadata`` key or value."""
_METADATA_CHARS = re.compile(r"[a-zA-Z0-9 \t\n\x0b\f\r:_@$#=/+,\-.]*")
"""The characters of a ``requestMetadata`` key or value (the service's ``[a-zA-Z0-9\\s:_@$#=/+,-.]``)."""
MAX_RESPONSE_FIELD_PATHS = 10
RESPONSE_FIELD_PATH_MAX = 256
_JSON_POINTER = re.compile(r"(?:/(?:[^~/]|~[01])*)+")
"""A non-empty JSON Pointer (RFC 6901): ``/``-led reference tokens, ``~`` only as ``~0`` or ``~1``."""


def check_passthrough_members(model_input: Mapping[str, Any]) -> None:
    """The ``requestMetadata``, ``additionalModelResponseFieldPaths`` and ``promptVariables`` of a native Converse
    record's ``modelInput`` (absent or null being unset)."""
    _check_request_metadata(model_input.get("requestMetadata"))
    _check_response_field_paths(model_input.get("additionalModelResponseFieldPaths"))
    _check_prompt_variables(model_input.get("promptVariables"))


def _check_request_metadata(metadata: Any) -> None:
    """A map of 1 to 16 entries whose keys (1 to 256 characters) and values (up to 256) hold only letters, digits,
    whitespace and ``:_@$#=/+,-.``."""
    if metadata is None:
        return
    where = "modelInput.requestMetadata"
    if not isinstance(metadata, Mapping):
        raise ValueError(f"'{where}' must be a JSON object of string keys and values, got {json_type(metadata)}")
    fewest, most = METADATA_ENTRIES
    if not fewest <= len(metadata) <= most:
        raise ValueError(f"'{where}' holds {len(metadata)} entries; Converse takes {fewest} to {most}")
    for key, value in metadata.items():
        if not 1 <= len(key) <= METADATA_TEXT_MAX or not _METADATA_CHARS.fullmatch(key):
            raise ValueError(
                f"'{where}' key {key!r} must be 1-{METADATA_TEXT_MAX} letters, digits, whitespace and ':_@$#=/+,-.'"
            )
        if not isinstance(value, str):
            raise ValueError(f"'{where}.{key}' must be a string, got {json_type(value)}")
        if len(value) > METADATA_TEXT_MAX or not _METADATA_CHARS.fullmatch(value):
            raise ValueError(
                f"'{where}.{key}' must be at most {METADATA_TEXT_MAX} letters, digits, whitespace and ':_@$#=/+,-.', "
                f"got {value!r}"
            )


def _check_response_field_paths(paths: Any) -> None:
    """A list of at most 10 JSON Pointers of 1 to 256 characters (Converse refuses an empty or malformed one)."""
    if paths is None:
        return
    where = "modelInput.additionalModelResponseFieldPaths"
    if not isinstance(paths, list):
        raise ValueError(f"'{where}' must be a list of JSON Pointers, got {json_type(paths)}")
    if len(paths) > MAX_RESPONSE_FIELD_PATHS:
        raise ValueError(f"'{where}' holds {len(paths)} paths; Converse takes at most {MAX_RESPONSE_FIELD_PATHS}")
    for index, path in enumerate(paths):
        if not isinstance(path, str):
            raise ValueError(f"'{where}[{index}]' must be a string, got {json_type(path)}")
        if len(path) > RESPONSE_FIELD_PATH_MAX or not _JSON_POINTER.fullmatch(path):
            raise ValueError(
                f"'{where}[{index}]' {path!r} is not a JSON Pointer of 1-{RESPONSE_FIELD_PATH_MAX} characters such as "
                "'/stop_sequence' ('/'-led, '~' only as ~0 or ~1): Converse refuses it"
            )


def _check_prompt_variables(variables: Any) -> None:
    """A map of variable names to an object setting exactly its ``text`` (a string), as Converse takes it; then
    refused when it holds any: the variables fill a Prompt management prompt given as the model, and a batch job's
    model is a model or an inference profile, so Converse would ignore them without a word."""
    if variables is None:
        return
    where = "modelInput.promptVariables"
    if not isinstance(variables, Mapping):
        raise ValueError(f"'{where}' must be a JSON object of variable names, got {json_type(variables)}")
    for name, value in variables.items():
        if not isinstance(value, Mapping) or set(value) != {"text"} or not isinstance(value["text"], str):
            raise ValueError(
                f'\'{where}.{name}\' must be an object of exactly a text string, such as {{"text": "..."}}'
            )
    if variables:
        raise ValueError(
            f"'{where}' fill a Prompt management prompt named as the model, which a batch job cannot name (its model "
            f"is a model or an inference profile), so Converse would ignore {', '.join(variables)}: put the values in "
            "the messages"
        )
