"""The README is a contract: what it names (parameters, their defaults, connection extras, snippets) exists.

Users copy from README.md. These tests read it and hold it to the code both ways where that is cheap and
robust: every parameter of the operators' and sensor's signatures is documented, every documented one exists
with the default the README gives, every connection extra a table names is a setting of that connection type
(and every setting is named), the example connections parse, and the Python snippets build their tasks.
"""

from __future__ import annotations

import ast
import datetime
import inspect
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.models.connection import Connection
from airflow.sdk import DAG

from airflow_provider_genai_batch.formats import gemini
from airflow_provider_genai_batch.formats.results import encode_row
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import HOOK_CLASSES
from airflow_provider_genai_batch.models import ResultCounts, ResultsManifest, TokenUsage
from airflow_provider_genai_batch.operators import files, jobs
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.prices import PriceOverride, estimate_cost, price_table
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor
from airflow_provider_genai_batch.testing.emulator import __main__ as emulator_cli
from airflow_provider_genai_batch.testing.emulator.config import EmulatorConfig

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "airflow_provider_genai_batch"
README = (ROOT / "README.md").read_text(encoding="utf-8")

COMMON_SETTINGS = ("timeout", "max_retries", "retry_max_wait", "retry_deadline", "batch_prices")
"""Settings of every connection, documented once in the Connections section rather than in each table."""


def section(title: str) -> str:
    """The README text under the heading ``title`` (exactly), up to the next heading of the same or a higher
    level."""
    match = re.search(rf"^(#+) {re.escape(title)}\n", README, re.M)
    assert match is not None, f"the README has no heading {title!r}"
    level = len(match.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.M).search(README, match.end())
    return README[match.end() : end.start() if end else len(README)]


def table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row in ``text`` (header and separator rows left out)."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or re.fullmatch(r"\|[-:| ]+\|", line):
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows[1:] if rows else rows


def names_in(cell: str) -> list[str]:
    """The backquoted identifiers of a table cell (`` `a` / `b` ``, ``Extras `a`, `b` ``)."""
    return re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", cell)


def parameters(target: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """A callable's own keyword parameters (``self`` and ``**kwargs`` left out)."""
    return {
        name: param
        for name, param in inspect.signature(target).parameters.items()
        if name != "self" and param.kind is not inspect.Parameter.VAR_KEYWORD
    }


def documented_default(cell: str) -> Any:
    """The default a parameter table gives, as a Python value, or ``inspect.Parameter.empty`` for one that is
    required (—) or given in words (``<dag_id>.<task_id>``)."""
    text = cell.split(" (")[0].strip("`")
    if text in ("—", "") or text.startswith("<"):
        return inspect.Parameter.empty
    if match := re.fullmatch(r"(\d+) h", text):
        return datetime.timedelta(hours=int(match.group(1)))
    return ast.literal_eval(text)


SUBMIT_TABLE = table_rows(section("`GenAIBatchSubmitOperator`").split("\n\n**Input.**")[0])


def submit_rows() -> list[tuple[str, str, str]]:
    """Each (parameter, default, meaning) of the submit operator's parameter table, one per named parameter."""
    return [(name, default, meaning) for cell, default, meaning in SUBMIT_TABLE for name in names_in(cell)]


def test_every_submit_parameter_is_in_the_readme_table_and_every_row_is_a_parameter():
    documented = [name for name, _, _ in submit_rows()]
    assert len(documented) == len(set(documented)), "a parameter is documented twice"
    assert set(documented) == set(parameters(GenAIBatchSubmitOperator.__init__))


@pytest.mark.parametrize(("name", "default"), [(name, default) for name, default, _ in submit_rows()])
def test_the_submit_parameter_table_gives_the_signature_default(name: str, default: str):
    expected = documented_default(default)
    actual = parameters(GenAIBatchSubmitOperator.__init__)[name].default
    if expected is inspect.Parameter.empty and default != "—":
        return  # a default given in words, e.g. `<dag_id>.<task_id>` for a None the operator fills in
    assert actual == expected


def test_the_submit_parameters_the_readme_calls_templated_are_template_fields():
    templated = {name for name, _, meaning in submit_rows() if "templated" in meaning.split(";")[0]}
    templated |= {name for name, _, meaning in submit_rows() if re.search(r"\(templated[;)]", meaning)}
    fields = {"dry_run" if field == "dry_run_mode" else field for field in GenAIBatchSubmitOperator.template_fields}
    assert templated <= fields


def test_the_sensor_parameters_the_readme_lists_are_its_signature():
    text = section("`GenAIBatchSensor`")
    listed = " ".join(text.split("Parameters: ", 1)[1].split(".\n", 1)[0].split())
    documented = re.findall(r"(?:^|, )`([a-z_]+)`", listed)
    assert set(documented) == set(parameters(GenAIBatchSensor.__init__))


def test_the_sensor_parameters_it_shares_with_the_submit_operator_have_the_same_defaults():
    sensor = parameters(GenAIBatchSensor.__init__)
    submit = parameters(GenAIBatchSubmitOperator.__init__)
    for name in sensor.keys() & submit.keys() - {"output_uri", "job_timeout"}:  # job_timeout: the sensor's timeout
        assert sensor[name].default == submit[name].default, name


@pytest.mark.parametrize(
    "operator",
    [
        files.GenAIBatchUploadFileOperator,
        files.GenAIBatchDeleteFileOperator,
        jobs.GenAIBatchCancelJobOperator,
        jobs.GenAIBatchDeleteJobOperator,
        jobs.GenAIBatchListJobsOperator,
    ],
)
def test_the_files_and_jobs_table_shows_each_operator_signature(operator: type):
    text = section("Files and jobs")
    table = text[text.index("| operator | does |") :].split("\n\n")[0]
    rows = {cell.split("(")[0].strip("`"): cell for cell, _ in table_rows(table)}
    path = f"operators.{operator.__module__.rsplit('.', 1)[1]}.{operator.__name__}"
    assert path in rows, f"{path} is not in the Files and jobs table"
    shown = rows[path].split("(", 1)[1].rsplit(")", 1)[0]
    documented = {}
    for argument in shown.split(", "):
        name, _, default = argument.partition("=")
        documented[name] = ast.literal_eval(default) if default else inspect.Parameter.empty
    assert documented == {name: param.default for name, param in parameters(operator.__init__).items()}


CONNECTION_SECTIONS = {
    "genaigemini": "Connection: Gemini Developer API",
    "genaiopenai": "Connection: OpenAI",
    "genaianthropic": "Connection: Anthropic",
    "genaigateway": "Connection: GenAI gateway",
    "genaibedrock": "Connection: Amazon Bedrock",
    "genaivertex": "Connection: Vertex AI",
}


def connection_table(hook: type[BatchHook[Any]]) -> list[list[str]]:
    """The field table of a connection type's README section (its first table)."""
    text = section(CONNECTION_SECTIONS[hook.conn_type])
    start = text.index("| field | value |")
    return table_rows(text[start : text.index("\n\n", start)])


def documented_extras(hook: type[BatchHook[Any]]) -> dict[str, str]:
    """Each extra a connection table names, with the text of its row."""
    extras = {}
    for field, value in connection_table(hook):
        if field == "Extras":  # OpenAI's row names its extras in the value cell, each with what it does
            extras.update(dict.fromkeys(names_in(re.sub(r"\([^)]*\)", "", value)), value))
        elif field.startswith("Extra"):
            extras.update(dict.fromkeys(names_in(field), value))
    return extras


def form_settings(hook: type[BatchHook[Any]]) -> set[str]:
    """The settings a connection type reads from its extras, less the ones every type has."""
    model = hook.settings_model
    return set(model.model_fields) - model.connection_fields - model.form_omits - set(COMMON_SETTINGS)


def test_every_connection_type_has_its_readme_section():
    assert {hook.conn_type for hook in HOOK_CLASSES} == set(CONNECTION_SECTIONS)


@pytest.mark.parametrize("hook", HOOK_CLASSES, ids=lambda hook: hook.conn_type)
def test_the_connection_table_names_exactly_the_extras_its_settings_read(hook: type[BatchHook[Any]]):
    documented = set(documented_extras(hook)) - set(COMMON_SETTINGS)
    assert documented == form_settings(hook)


SIZES = {"8 MiB": 8 * 1024 * 1024}


def stated_default(text: str) -> str | None:
    """The default a connection table's row states (``default 60``, ``default `v1beta` ``, ```v1` (default)``)."""
    for pattern in (r"`([^`]+)` \(default", r"default:? `([^`]+)`", r"default:? ([^`;,)]+?)(?:[;,)]|$)"):
        if match := re.search(pattern, text):
            return match.group(1).strip()
    return None


@pytest.mark.parametrize("hook", HOOK_CLASSES, ids=lambda hook: hook.conn_type)
def test_the_connection_table_gives_each_extra_its_settings_default(hook: type[BatchHook[Any]]):
    fields = hook.settings_model.model_fields
    checked = 0
    for field, value in connection_table(hook):
        names = [name for name in names_in(field) if name in fields]
        if len(names) != 1:
            continue  # a row of several extras words their defaults together
        stated = stated_default(value)
        if stated is None or stated.isupper() or not re.fullmatch(r"[\w.\- ]+", stated):
            continue  # a default in words: an environment variable (AWS_REGION), a sentence, a URI's shape
        default = fields[names[0]].default
        assert str(SIZES.get(stated, stated)) in (str(default), f"{default:g}" if isinstance(default, float) else ""), (
            f"{hook.conn_type} {names[0]}: the README says {stated!r}, the settings {default!r}"
        )
        checked += 1
    assert checked or hook.conn_type == "genaiopenai"


def test_the_retry_settings_every_connection_takes_have_their_readme_defaults():
    text = section("Connections").split("\n\n")[0]
    stated = dict(re.findall(r"`([a-z_]+)` \([^)]*?default (\d+)\)", text))
    assert stated.keys() == {"timeout", "max_retries", "retry_max_wait", "retry_deadline"}
    for hook in HOOK_CLASSES:
        for name, default in stated.items():
            assert hook.settings_model.model_fields[name].default == float(default), (hook.conn_type, name)


PLACEHOLDER = re.compile(r"<([A-Za-z_]+)>")


def example_connections() -> list[tuple[str, str]]:
    """Each ``export AIRFLOW_CONN_<ID>='<json>'`` of the README, its placeholders filled in."""
    filled = {"ACCOUNT": "123456789012"}
    return [
        (name, PLACEHOLDER.sub(lambda m: filled.get(m.group(1), "placeholder"), value))
        for name, value in re.findall(r"export AIRFLOW_CONN_(\w+)='(\{.*?\})'", README)
    ]


@pytest.mark.parametrize(("name", "value"), example_connections(), ids=[name for name, _ in example_connections()])
def test_each_example_connection_reads_into_its_settings(name: str, value: str, caplog: pytest.LogCaptureFixture):
    conn = Connection.from_json(value, conn_id=name.lower())
    hook = next(hook for hook in HOOK_CLASSES if hook.conn_type == conn.conn_type)
    hook.settings_from_connection(conn)
    assert "which is not read" not in caplog.text


def python_snippets() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)


def test_the_operator_snippets_build_their_tasks_in_a_dag():
    namespace: dict[str, Any] = {}  # shared, in README order: later snippets use the imports and tasks of earlier ones
    with DAG("readme") as dag:
        for snippet in python_snippets():
            if "prepare_input" in snippet:
                continue  # runs on a file: the next test
            exec(compile(snippet, "README.md", "exec"), namespace)
    assert set(dag.task_ids) == {"submit", "wait", "nightly", "results"}


def test_the_validation_snippet_runs_on_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    (snippet,) = [snippet for snippet in python_snippets() if "prepare_input" in snippet]
    monkeypatch.chdir(tmp_path)
    line = {"key": "a", "request": {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}}
    Path("prompts.jsonl").write_text(json.dumps(line) + "\n")
    exec(compile(snippet, "README.md", "exec"), {})
    count, fingerprint = capsys.readouterr().out.split()
    assert count == "1" and len(fingerprint) == 64


def json_snippets(heading: str) -> list[Any]:
    """The JSON blocks under a README heading that parse as JSON (some are excerpts with ``[...]``)."""
    found = []
    for block in re.findall(r"^```json\n(.*?)^```", section(heading), re.S | re.M):
        try:
            found.append(json.loads(block))
        except json.JSONDecodeError:
            continue
    return found


def test_the_manifest_examples_hold_manifest_fields_and_every_count():
    manifests = [doc for doc in json_snippets("Results") if "counts" in doc]  # and "Results in a table"
    assert len(manifests) == 2
    for manifest in manifests:
        assert set(manifest) <= set(ResultsManifest.model_fields)
        assert set(manifest["counts"]) == set(ResultCounts.model_fields)


def test_the_sensor_names_every_field_of_the_manifest_its_asset_event_carries():
    text = section("`GenAIBatchSensor`")
    listed = text.split("(`job_ref`", 1)[1].split("), so a consumer", 1)[0]
    assert {"job_ref", *re.findall(r"`([a-z_]+)`", listed)} == set(ResultsManifest.model_fields)


def test_the_usage_excerpt_holds_token_usage_fields():
    text = section("Example manifest excerpt")
    (block,) = re.findall(r"^```json\n(.*?)^```", text, re.S | re.M)
    usage = json.loads("{" + block + "}")["usage"]
    always = {name for name, field in TokenUsage.model_fields.items() if field.exclude_if is None}
    assert set(usage["total"]) == always
    for part in usage["parts"]:
        assert set(part["from_rows"]) == set(part["reported"]) == always


def test_the_make_targets_the_readme_names_exist():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z-]+):", makefile, re.M))
    named = set(re.findall(r"`make ([a-z-]+)", README))
    assert named and named <= targets


def test_every_repository_file_the_readme_names_exists():
    named = set(re.findall(r"`((?:[\w.-]+/)+[\w.-]+\.(?:py|json|txt|toml|sh))`", README)) - {"formats/<provider>.py"}
    assert named
    missing = [path for path in named if not (ROOT / path).exists() and not (ROOT / PACKAGE / path).exists()]
    assert missing == []


def test_the_example_dag_table_names_exactly_the_example_dags():
    text = section("Example DAGs (`dags_examples/`)")
    documented = {names_in(cell)[0] for cell, _ in table_rows(text[text.index("| DAG |") :].split("\n\n")[0])}
    defined = {
        dag_id
        for path in (ROOT / "dags_examples").glob("*.py")
        for dag_id in re.findall(r'dag_id="(\w+)"', path.read_text(encoding="utf-8"))
    }
    assert documented == defined


def test_the_price_table_lists_the_shipped_models_and_their_date():
    text = section("The price table")
    shipped = json.loads((ROOT / PACKAGE / "data" / "batch_prices.json").read_text(encoding="utf-8"))["providers"]
    taken_on = re.search(r"\*\*taken on (\d{4}-\d{2}-\d{2})\*\*", text)
    assert taken_on is not None
    assert {provider["taken_on"] for provider in shipped.values()} == {taken_on.group(1)}
    table = text[text.index("| Provider |") :].split("\n\n")[0]
    for provider, models, _ in table_rows(table):
        names = set()
        for group in models.split("; "):  # claude-opus-4-6, -4-5, -4: a family, then its other versions
            first, *others = group.split(", ")
            family = re.sub(r"-\d.*", "", first)
            names |= {first, *(family + other if other.startswith("-") else other for other in others)}
        assert names == set(shipped[provider.lower()]["models"]), provider


def test_the_price_fields_the_readme_lists_are_those_an_override_takes():
    text = section("Overriding prices")
    listed = text.split("Fields: ", 1)[1].split(". ", 1)[0]
    assert set(re.findall(r"`([a-z_0-9]+)`", listed)) == set(PriceOverride.model_fields)


@pytest.mark.parametrize("hook", HOOK_CLASSES, ids=lambda hook: hook.conn_type)
def test_the_connection_table_names_the_type_as_the_form_shows_it(hook: type[BatchHook[Any]]):
    (row,) = [value for field, value in connection_table(hook) if field == "Connection type"]
    assert row.startswith(f"`{hook.hook_name}` (`{hook.conn_type}`)")
    if "default connection id" in row:
        assert row.endswith(f"default connection id `{hook.default_conn_name}`")


def test_the_emulator_flags_and_settings_the_readme_names_exist():
    text = section("The emulator")
    flags = {flag[2:].replace("-", "_") for flag in re.findall(r"--[a-z][a-z-]+", text)}
    assert flags and flags <= set(vars(emulator_cli.parse_args(["--port", "8089"])))
    settings = set(re.findall(r"`((?:gemini|openai|vertex|bigquery|gateway)_[a-z_]+)`", text))
    assert settings and settings <= set(EmulatorConfig.model_fields)


def test_the_blocked_row_example_is_what_landing_writes_for_its_response():
    text = section("Results")
    blocks = re.findall(r"^```json\n(.*?)^```", text, re.S | re.M)
    (example,) = [json.loads(block) for block in blocks if "content_blocked" in block]
    row = gemini.result_row({"key": example["key"], "response": example["response"]})
    assert json.loads(encode_row(row)) == example


@pytest.mark.parametrize("hook", HOOK_CLASSES, ids=lambda hook: hook.conn_type)
def test_the_base_url_default_the_connection_table_gives_is_the_hooks(hook: type[BatchHook[Any]]):
    row = dict((field, value) for field, value in connection_table(hook)).get("Base URL (host)", "")
    if match := re.search(r"default `([^`]+)`", row):
        assert match.group(1) == hook.default_base_url


def test_the_pins_the_install_section_names_are_those_of_constraints_txt():
    sentence = section("Install").split("pins the pair this suite is tested with (", 1)[1].split(")", 1)[0]
    text = " ".join(sentence.split())
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line)
    named = 0
    for names, version in re.findall(r"((?:[a-z0-9-]+(?: and )?)+) (\d[\d.]*)", text):
        for name in names.split(" and "):
            assert pins[name] == version, name
            named += 1
    assert named == 5


def test_every_module_the_readme_runs_with_python_m_exists():
    modules = set(re.findall(r"python -m ((?:benchmarks|airflow_provider_genai_batch)(?:\.\w+)+)", README))
    assert modules
    missing = [
        name
        for name in modules
        if not (ROOT / f"{name.replace('.', '/')}.py").exists()
        and not (ROOT / name.replace(".", "/") / "__main__.py").exists()
    ]
    assert missing == []


def test_the_cost_in_the_manifest_excerpt_is_what_its_usage_costs_at_the_shipped_price():
    (block,) = re.findall(r"^```json\n(.*?)^```", section("Example manifest excerpt"), re.S | re.M)
    excerpt = json.loads("{" + block + "}")
    price, reason = price_table("openai", None).lookup("openai", excerpt["usage"]["parts"][0]["model"])
    cost = estimate_cost(TokenUsage(**excerpt["usage"]["total"]), price, reason)
    assert (cost.amount, price.model) == (excerpt["cost"]["amount"], excerpt["cost"]["price"]["model"])
    assert [f"{excerpt['usage']['parts'][0]['job_name']}: {note}" for note in cost.notes] == excerpt["cost"]["notes"]


def test_every_module_the_layout_names_exists():
    (tree,) = re.findall(r"^```\n(airflow_provider_genai_batch/.*?)^```", section("Layout"), re.S | re.M)
    named = set(re.findall(r"\b(\w+\.(?:py|json))\b", tree))
    present = {path.name for folder in (PACKAGE, "scripts") for path in (ROOT / folder).rglob("*")}
    assert named and named <= present
