"""Mappings as templated fields arrive: the object itself, or the text of one as a template rendered it.

Airflow renders a whole-string template such as ``"{{ params.labels }}"`` to ``str()`` of the value unless the
DAG sets ``render_template_as_native_obj``: for a dict that is Python-literal text (single quotes, ``None``,
``True``), not JSON. Both are read the same, so a field takes what a template gives either way.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from typing import Any


def rendered_mapping(value: Any) -> Mapping[str, Any] | None:
    """``value`` as a mapping: itself, or its JSON or Python-literal text (``{...}``); None for anything else."""
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text.startswith("{"):
        return None
    try:
        decoded = json.loads(text)
    except ValueError:
        try:
            decoded = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    return decoded if isinstance(decoded, Mapping) else None
