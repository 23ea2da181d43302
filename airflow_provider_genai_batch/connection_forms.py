"""The connection forms Airflow shows, generated from the hook registry and each hook's settings model.

Written to ``connection_types.json`` (read by :func:`.get_provider_info.get_provider_info`, which must
not import Airflow) by ``python -m airflow_provider_genai_batch.connection_forms``; a test keeps the
file equal to what this module generates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_provider_genai_batch.get_provider_info import CONNECTION_TYPES_FILE
from airflow_provider_genai_batch.hooks.base import ConnectionSettings
from airflow_provider_genai_batch.hooks.registry import HOOK_CLASSES


def connection_types() -> list[dict[str, Any]]:
    """One connection type per registered hook: its form generated from the hook's settings model."""
    return [
        {
            "connection-type": cls.conn_type,
            "hook-class-name": f"{cls.__module__}.{cls.__qualname__}",
            "hook-name": cls.hook_name,
            "ui-field-behaviour": cls.get_ui_field_behaviour(),
            "conn-fields": conn_fields(cls.settings_model),
        }
        for cls in HOOK_CLASSES
    ]


def conn_fields(model: type[ConnectionSettings]) -> dict[str, Any]:
    """The connection form's extra fields, from a settings model: its own fields first, then the common ones.

    Every field is nullable (an empty form field keeps the default); label, description, default and
    constraints come from the model's JSON schema.
    """
    properties = model.model_json_schema()["properties"]
    common = list(ConnectionSettings.model_fields)
    names = [name for name in model.model_fields if name not in common] + common
    return {
        name: _form_field(properties[name])
        for name in names
        if name not in model.connection_fields | model.form_omits | model.extra_only
    }


def _form_field(prop: dict[str, Any]) -> dict[str, Any]:
    types = [option["type"] for option in prop.get("anyOf", [prop]) if "type" in option]
    json_type = next((t for t in types if t != "null"), "string")
    schema: dict[str, Any] = {"type": [json_type, "null"], "default": prop.get("default")}
    for option in prop.get("anyOf", [prop]):
        schema.update({k: option[k] for k in _CONSTRAINTS if k in option})
        if "const" in option:
            schema["enum"] = [option["const"]]
    schema.update({k: prop[k] for k in _CONSTRAINTS if k in prop})
    field: dict[str, Any] = {"label": prop["title"]}
    if "description" in prop:
        field["description"] = prop["description"]
    field["schema"] = schema
    return field


_CONSTRAINTS = ("enum", "minimum", "maximum", "multipleOf", "pattern")


def render() -> str:
    """The JSON text of every connection type, as shipped."""
    return json.dumps(connection_types(), indent=2) + "\n"


if __name__ == "__main__":
    Path(__file__).with_name(CONNECTION_TYPES_FILE).write_text(render())
