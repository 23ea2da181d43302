"""Provider metadata: valid for Airflow's schema, importable, and discovered through the entry point."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
import json
import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import airflow_provider_genai_batch
from airflow_provider_genai_batch import __version__, connection_forms
from airflow_provider_genai_batch.get_provider_info import CONNECTION_TYPES_FILE, get_provider_info
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import HOOK_CLASSES

DISTRIBUTION = "airflow-provider-genai-batch"
INFO = get_provider_info()
MODULE_SECTIONS = ("hooks", "operators", "sensors", "triggers")


def import_object(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def section_modules() -> list[str]:
    return [
        module for section in MODULE_SECTIONS for entry in INFO.get(section, []) for module in entry["python-modules"]
    ]


def test_provider_info_is_valid_for_airflows_schema():
    schema = json.loads(importlib.resources.files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(INFO, schema)


def test_package_name_is_the_distribution_name():
    assert INFO["package-name"] == DISTRIBUTION
    assert importlib.metadata.distribution(DISTRIBUTION).metadata["Name"] == DISTRIBUTION


def test_version_is_the_distribution_version():
    assert INFO["versions"][0] == __version__ == importlib.metadata.version(DISTRIBUTION)


def test_entry_point_points_at_get_provider_info():
    [entry_point] = [
        ep for ep in importlib.metadata.distribution(DISTRIBUTION).entry_points if ep.group == "apache_airflow_provider"
    ]
    assert entry_point.value == "airflow_provider_genai_batch.get_provider_info:get_provider_info"
    assert entry_point.load() is get_provider_info


def test_every_section_names_a_declared_integration():
    integrations = {i["integration-name"] for i in INFO["integrations"]}
    for section in MODULE_SECTIONS:
        for entry in INFO.get(section, []):
            assert entry["integration-name"] in integrations, section


@pytest.mark.parametrize("module", section_modules())
def test_every_listed_module_imports(module):
    importlib.import_module(module)


@pytest.mark.parametrize("dotted", INFO.get("extra-links", []))
def test_every_extra_link_imports_as_an_operator_link(dotted):
    from airflow.sdk import BaseOperatorLink

    link = import_object(dotted)
    assert issubclass(link, BaseOperatorLink)
    assert link.name


@pytest.mark.parametrize("conn", INFO["connection-types"], ids=lambda c: c["connection-type"])
def test_every_connection_type_hook_imports_and_agrees_with_its_entry(conn):
    hook = import_object(conn["hook-class-name"])
    assert hook.conn_type == conn["connection-type"]
    assert hook.hook_name == conn["hook-name"]


@pytest.mark.parametrize("conn", INFO["connection-types"], ids=lambda c: c["connection-type"])
def test_every_connection_form_field_is_a_hook_setting_with_the_same_default(conn):
    hook = import_object(conn["hook-class-name"])
    overrides = hook.settings_from_connection.__func__ is not BatchHook.settings_from_connection.__func__
    model = typing.get_type_hints(hook.settings_from_connection)["return"] if overrides else hook.settings_model
    for name, field in conn["conn-fields"].items():
        assert name in model.model_fields, name
        assert model.model_fields[name].default == field["schema"]["default"], name


def test_shipped_connection_types_file_is_what_connection_forms_generates():
    shipped = importlib.resources.files("airflow_provider_genai_batch").joinpath(CONNECTION_TYPES_FILE).read_text()
    assert shipped == connection_forms.render(), (
        f"{CONNECTION_TYPES_FILE} is stale: a hook's settings model or connection form changed without "
        "regenerating it; run `python -m airflow_provider_genai_batch.connection_forms`"
    )


def test_provider_info_connection_types_are_the_shipped_file():
    assert INFO["connection-types"] == json.loads(connection_forms.render())


@pytest.mark.parametrize("hook", HOOK_CLASSES, ids=lambda cls: cls.conn_type)
def test_every_registered_hook_has_a_connection_type_whose_fields_are_its_settings_extras(hook):
    [conn] = [c for c in INFO["connection-types"] if c["connection-type"] == hook.conn_type]
    assert conn["hook-class-name"] == f"{hook.__module__}.{hook.__qualname__}"
    model = hook.settings_model
    extras = set(model.model_fields) - model.connection_fields - model.form_omits - model.extra_only
    assert set(conn["conn-fields"]) == extras
    for name, field in conn["conn-fields"].items():
        assert field["label"] == model.model_fields[name].title, name
        assert field["schema"]["default"] == model.model_fields[name].default, name
    assert conn["ui-field-behaviour"] == hook.get_ui_field_behaviour()


def test_every_connection_type_is_a_registered_hook():
    assert [c["connection-type"] for c in INFO["connection-types"]] == [cls.conn_type for cls in HOOK_CLASSES]


def test_get_provider_info_runs_in_a_fresh_interpreter_without_importing_airflow():
    # Airflow calls it while its own configuration is still loading: it must not import Airflow itself.
    code = (
        "import sys\n"
        "from airflow_provider_genai_batch.get_provider_info import get_provider_info\n"
        "info = get_provider_info()\n"
        "assert info['package-name'] == 'airflow-provider-genai-batch', info['package-name']\n"
        "assert [c['connection-type'] for c in info['connection-types']], 'no connection types'\n"
        "loaded = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "assert 'airflow' not in sys.modules, loaded[:20]\n"
        "assert not loaded, loaded[:20]\n"
        "print('ok', len(info['connection-types']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["ok", str(len(HOOK_CLASSES))]


def test_airflow_discovers_the_connection_form():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert DISTRIBUTION in manager.providers
    behaviour = manager.field_behaviours["genaigemini"]
    assert behaviour["relabeling"] == {"password": "API Key", "host": "Base URL (optional)"}
    widgets = {k for k in manager.connection_form_widgets if k.startswith("extra__genaigemini__")}
    assert widgets == {f"extra__genaigemini__{name}" for name in INFO["connection-types"][0]["conn-fields"]}


def test_airflow_providers_list_cli_shows_the_provider(tmp_path):
    airflow = Path(sys.executable).with_name("airflow")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    result = subprocess.run(
        [str(airflow), "providers", "list", "--output", "json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    listed = {entry["package_name"]: entry for entry in json.loads(result.stdout[result.stdout.index("[{") :])}
    assert listed[DISTRIBUTION]["version"] == airflow_provider_genai_batch.__version__
