"""Checking a translated body against the official SDKs' own request types, strictly.

``check_typed(value, SomeTypedDict)`` walks the TypedDicts of the openai and anthropic packages (required keys,
no unknown keys, literals, unions, lists, maps, scalars) and returns the problems found, each with its path;
``check_converse`` runs botocore's own parameter validation on a Converse request (bedrock-runtime service model).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import botocore.session
from botocore.validate import ParamValidator
from typing_extensions import NotRequired, Required, is_typeddict

_SEQUENCES = (list, tuple, Sequence, Iterable)


def check_typed(value: Any, annotation: Any, path: str = "$") -> list[str]:
    """The ways ``value`` fails ``annotation`` (an SDK TypedDict or type), as ``path: problem`` strings."""
    origin = get_origin(annotation)
    if annotation is Any or annotation is object:
        return []
    if origin in (Required, NotRequired, typing.Annotated) or (origin is not None and origin.__name__ == "Annotated"):
        return check_typed(value, get_args(annotation)[0], path)
    if origin in (Union, types.UnionType):
        failures = [check_typed(value, option, path) for option in get_args(annotation)]
        if any(not failure for failure in failures):
            return []
        return [f"{path}: matches none of {len(failures)} options: " + " | ".join(f[0] for f in failures if f)]
    if origin is Literal:
        return [] if value in get_args(annotation) else [f"{path}: {value!r} is not one of {get_args(annotation)}"]
    if is_typeddict(annotation):
        return _check_typeddict(value, annotation, path)
    if annotation is type(None):
        return [] if value is None else [f"{path}: expected null"]
    if origin in (dict, Mapping) or annotation is dict:
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        args = get_args(annotation)
        return [p for key, item in value.items() for p in (check_typed(item, args[1], f"{path}.{key}") if args else [])]
    if origin in _SEQUENCES or (origin is not None and origin.__name__ == "SequenceNotStr"):
        if not isinstance(value, list):
            return [f"{path}: expected an array"]
        (item_type,) = get_args(annotation)[:1] or (Any,)
        return [p for i, item in enumerate(value) for p in check_typed(item, item_type, f"{path}[{i}]")]
    if annotation is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected a number, got {value!r}"]
    if annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected an integer, got {value!r}"]
    if annotation in (str, bool):
        return [] if type(value) is annotation else [f"{path}: expected {annotation.__name__}, got {value!r}"]
    if isinstance(annotation, type):
        return [] if isinstance(value, annotation) else [f"{path}: expected {annotation.__name__}"]
    return [f"{path}: {annotation!r} is not a JSON type"]


def _check_typeddict(value: Any, annotation: Any, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object ({annotation.__name__})"]
    hints = get_type_hints(annotation, include_extras=True)
    problems = [f"{path}.{key}: not a field of {annotation.__name__}" for key in value if key not in hints]
    problems += [
        f"{path}: {annotation.__name__} needs {key}" for key in annotation.__required_keys__ if key not in value
    ]
    for key, item in value.items():
        if key in hints:
            problems += check_typed(item, hints[key], f"{path}.{key}")
    return problems


_CONVERSE = botocore.session.get_session().get_service_model("bedrock-runtime").operation_model("Converse")


def check_converse(model_input: Mapping[str, Any], model_id: str) -> list[str]:
    """botocore's own validation of a Converse request (``modelInput`` plus the job's model id)."""
    report = ParamValidator().validate({**model_input, "modelId": model_id}, _CONVERSE.input_shape)
    return [report.generate_report()] if report.has_errors() else []
