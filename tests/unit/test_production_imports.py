"""The runtime package imports without any test or emulator package installed.

Each test runs a fresh interpreter with a ``sys.meta_path`` finder that raises ``ModuleNotFoundError``
for the test- and emulator-only packages, then imports the provider. Airflow's own imports are let
through: some of these packages (jsonschema, fastapi, starlette, uvicorn) are Airflow's dependencies
and present in every production install; what is checked is that the provider's code never reaches
for them, directly or through another library it imports.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import airflow_provider_genai_batch
from airflow_provider_genai_batch.get_provider_info import get_provider_info

BLOCKED = (
    "fastapi",
    "uvicorn",
    "starlette",
    "moto",
    "google.genai",
    "openai",
    "anthropic",
    "boto3",
    "jsonschema",
    "google.cloud.storage",
    "google.cloud.bigquery",
    "gcp_storage_emulator",
    "pytest",
    "mypy",
)
PACKAGE = "airflow_provider_genai_batch"
TESTING = f"{PACKAGE}.testing"

BLOCKER = textwrap.dedent(
    """
    import importlib.abc
    import sys

    BLOCKED = {blocked!r}
    PACKAGE = {package!r}
    STARTED_LOADED = sorted(m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED))


    def _importer():
        # The innermost frame of the provider's code or of Airflow's: who is asking for the module.
        frame = sys._getframe(2)
        while frame is not None:
            name = frame.f_globals.get("__name__") or ""
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                return "provider"
            if name == "airflow" or name.startswith("airflow."):
                return "airflow"
            frame = frame.f_back
        return "script"


    class TestOnlyPackageBlocker(importlib.abc.MetaPathFinder):
        def __init__(self):
            self.blocked = []

        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                importer = _importer()
                if importer != "airflow":
                    self.blocked.append((name, importer))
                    raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: test-only)", name=name)
            return None


    BLOCKER = TestOnlyPackageBlocker()
    sys.meta_path.insert(0, BLOCKER)
    """
).format(blocked=BLOCKED, package=PACKAGE)

IMPORT_EVERYTHING = textwrap.dedent(
    """
    import importlib
    import inspect
    import json
    import pkgutil

    import airflow_provider_genai_batch
    from airflow_provider_genai_batch.get_provider_info import get_provider_info


    def walk(path, prefix):
        for info in pkgutil.iter_modules(path, prefix):
            if info.name == PACKAGE + ".testing" or info.name.startswith(PACKAGE + ".testing."):
                continue
            module = importlib.import_module(info.name)
            yield info.name
            if info.ispkg:
                yield from walk(module.__path__, info.name + ".")


    modules = sorted(walk(airflow_provider_genai_batch.__path__, PACKAGE + "."))
    info = get_provider_info()


    def load(dotted):
        module, _, name = dotted.rpartition(".")
        return getattr(importlib.import_module(module), name)


    from airflow.sdk import BaseHook, BaseOperator, BaseOperatorLink, BaseSensorOperator
    from airflow.triggers.base import BaseTrigger

    kinds = {"operators": BaseOperator, "sensors": BaseSensorOperator, "triggers": BaseTrigger}
    classes = {}
    for section, base in kinds.items():
        for entry in info[section]:
            for dotted in entry["python-modules"]:
                module = importlib.import_module(dotted)
                classes[dotted] = sorted(
                    name
                    for name, obj in vars(module).items()
                    if inspect.isclass(obj) and issubclass(obj, base) and obj.__module__ == dotted
                    and not name.startswith("_")
                )
    hooks = [c["hook-class-name"] for c in info["connection-types"]]
    assert all(issubclass(load(h), BaseHook) for h in hooks), hooks
    links = info["extra-links"]
    assert all(issubclass(load(link), BaseOperatorLink) for link in links), links
    print(json.dumps({
        "started_loaded": STARTED_LOADED,
        "blocked": BLOCKER.blocked,
        "modules": modules,
        "classes": classes,
        "hooks": hooks,
        "links": links,
    }))
    """
)

IMPORT_EMULATOR = textwrap.dedent(
    """
    import json

    try:
        import airflow_provider_genai_batch.testing.emulator
    except ImportError as err:
        print(json.dumps({"error": type(err).__name__, "message": str(err), "blocked": BLOCKER.blocked}))
    else:
        print(json.dumps({"error": None, "blocked": BLOCKER.blocked}))
    """
)


def run_blocked(code: str) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-c", BLOCKER + code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def expected_modules() -> set[str]:
    """Every runtime module of the package, from its files (the test tooling under ``testing/`` aside)."""
    root = Path(airflow_provider_genai_batch.__path__[0])
    names = set()
    for path in root.rglob("*.py"):
        dotted = ".".join((PACKAGE, *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        if dotted != PACKAGE and dotted != TESTING and not dotted.startswith(TESTING + "."):
            names.add(dotted)
    return names


@pytest.fixture(scope="module")
def imported() -> dict[str, Any]:
    """What a fresh interpreter with the blocker imported: every runtime module and provider-info class."""
    return run_blocked(IMPORT_EVERYTHING)


def test_the_blocker_refuses_each_test_only_package_to_anyone_but_airflow():
    code = textwrap.dedent(
        """
        import importlib, json
        refused = []
        for name in BLOCKED:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError:
                refused.append(name)
        print(json.dumps(refused))
        """
    )
    result = subprocess.run([sys.executable, "-c", BLOCKER + code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == list(BLOCKED)


def test_every_runtime_module_imports_without_test_or_emulator_packages(imported):
    assert imported["started_loaded"] == []  # nothing blocked was already loaded at start-up
    assert imported["blocked"] == []  # the provider never asked for a test-only package
    assert set(imported["modules"]) == expected_modules()


def test_every_operator_sensor_trigger_and_hook_named_in_provider_info_imports_without_them(imported):
    info = get_provider_info()

    listed = {m for section in ("operators", "sensors", "triggers") for e in info[section] for m in e["python-modules"]}
    assert set(imported["classes"]) == listed
    assert all(imported["classes"][module] for module in listed), imported["classes"]  # each defines its class(es)
    assert "GenAIBatchSubmitOperator" in imported["classes"][f"{PACKAGE}.operators.submit"]
    assert imported["classes"][f"{PACKAGE}.sensors.batch_results"] == ["GenAIBatchSensor"]
    assert imported["classes"][f"{PACKAGE}.triggers.batch_job"] == ["GenAIBatchJobTrigger"]
    assert imported["hooks"] == [c["hook-class-name"] for c in info["connection-types"]]
    assert len(imported["hooks"]) == 6
    assert imported["links"] == info["extra-links"]
    assert imported["blocked"] == []


def test_the_emulator_without_its_packages_fails_at_once_naming_the_emulator_extra():
    outcome = run_blocked(IMPORT_EMULATOR)

    assert outcome["error"] is not None, "the emulator imported although its packages are blocked"
    assert "[emulator]" in outcome["message"], outcome["message"]
