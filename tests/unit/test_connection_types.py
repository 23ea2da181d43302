"""Connection type names: Airflow takes them as URI schemes without a warning and they come back unchanged
from a URI; the earlier ``genai_*`` names still resolve to the same hooks; every way of defining a connection
(CLI, ``AIRFLOW_CONN_*`` as a URI or as JSON) reaches the right hook."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from typing import Any

import pytest
from airflow.models.connection import Connection as StoredConnection
from airflow.sdk import BaseHook
from airflow.sdk.definitions.connection import Connection as TaskConnection
from structlog.testing import capture_logs

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.hooks.anthropic import AnthropicBatchHook
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.bedrock import BedrockBatchHook
from airflow_provider_genai_batch.hooks.gateway import GatewayBatchHook
from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook
from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook
from airflow_provider_genai_batch.hooks.registry import (
    HOOK_CLASSES,
    earlier_conn_type,
    get_hook,
    hook_class_for_conn_type,
)

SCHEME_WARNING = "shall not contain"
EARLIER_NAMES = {
    "genai_gemini": GeminiBatchHook,
    "genai_openai": OpenAIBatchHook,
    "genai_anthropic": AnthropicBatchHook,
    "genai_gateway": GatewayBatchHook,
    "genai_bedrock": BedrockBatchHook,
}
"""The connection types of earlier releases, as connections and secrets backends hold them."""

by_type = pytest.mark.parametrize("hook", HOOK_CLASSES, ids=lambda cls: cls.conn_type)


def stored(conn_type: str) -> StoredConnection:
    return StoredConnection(conn_id="named", conn_type=conn_type, host="http://api.test", password="k")


def uri_and_scheme_warnings(conn: StoredConnection) -> tuple[str, list[str]]:
    """The URI Airflow writes for a connection, and the scheme warnings it logs while writing it."""
    with capture_logs() as logs:
        uri = conn.get_uri()
    return uri, [str(log["event"]) for log in logs if SCHEME_WARNING in str(log["event"])]


@by_type
def test_every_connection_type_is_a_lowercase_uri_scheme_without_underscore_or_hyphen(hook):
    assert hook.conn_type.isascii() and hook.conn_type.isalnum() and hook.conn_type.islower()
    assert hook.conn_type[0].isalpha()


@by_type
def test_airflow_writes_every_connection_type_as_a_uri_without_a_warning(hook):
    uri, warnings = uri_and_scheme_warnings(stored(hook.conn_type))
    assert uri.startswith(f"{hook.conn_type}://")
    assert warnings == []


def test_an_earlier_type_is_what_drew_airflows_warning():
    uri, warnings = uri_and_scheme_warnings(stored("genai_gemini"))
    assert uri.startswith("genai-gemini://")
    assert warnings == ["Connection schemes (type: genai_gemini) shall not contain '_' according to RFC3986."]


@by_type
def test_every_connection_type_comes_back_unchanged_from_its_uri(hook):
    uri = stored(hook.conn_type).get_uri()
    assert StoredConnection(conn_id="back", uri=uri).conn_type == hook.conn_type
    assert TaskConnection.from_uri(uri, conn_id="back").conn_type == hook.conn_type


@pytest.mark.parametrize("name", EARLIER_NAMES)
def test_an_earlier_type_resolves_to_the_same_hook(name):
    assert hook_class_for_conn_type(name) is EARLIER_NAMES[name]


@by_type
def test_the_earlier_name_of_every_type_is_genai_underscore_its_suffix(hook):
    assert earlier_conn_type(hook.conn_type) == "genai_" + hook.conn_type.removeprefix("genai").lstrip("_")
    assert hook_class_for_conn_type(earlier_conn_type(hook.conn_type)) is hook


def test_an_earlier_type_in_a_uri_comes_back_underscored_and_still_resolves(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_EARLIER_URI", "genai-gemini://api.test?api_version=v1")
    assert BaseHook.get_connection("earlier_uri").conn_type == "genai_gemini"
    assert type(get_hook("earlier_uri")) is GeminiBatchHook


def test_an_unknown_type_is_refused_naming_the_current_types():
    with pytest.raises(GenAIBatchError) as raised:
        hook_class_for_conn_type("genai-gemini")
    assert str(raised.value) == (
        "connection type 'genai-gemini' is not a GenAI batch connection; use one of: "
        + ", ".join(cls.conn_type for cls in HOOK_CLASSES)
    )


def test_a_connection_of_another_type_is_refused_naming_the_connection(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PLAIN_HTTP", json.dumps({"conn_type": "http", "host": "api.openai.com"}))
    with pytest.raises(GenAIBatchError) as raised:
        get_hook("plain_http")
    assert str(raised.value) == (
        "connection 'plain_http': connection type 'http' is not a GenAI batch connection; use one of: "
        + ", ".join(cls.conn_type for cls in HOOK_CLASSES)
    )


@by_type
@pytest.mark.parametrize("form", ["uri", "json"])
def test_an_airflow_conn_variable_of_every_type_reaches_its_hook(hook, form, monkeypatch):
    conn = stored(hook.conn_type)
    value = conn.get_uri() if form == "uri" else json.dumps({"conn_type": hook.conn_type, "host": conn.host})
    monkeypatch.setenv("AIRFLOW_CONN_DEFINED_BY_ENV", value)
    assert BaseHook.get_connection("defined_by_env").conn_type == hook.conn_type
    assert type(get_hook("defined_by_env")) is hook


CLI_ROUND_TRIP = """
import json, sys
from airflow.cli import cli_parser
from airflow.models.connection import Connection

parser = cli_parser.get_parser()
for argv in [["db", "migrate"], *json.loads(sys.argv[1])]:
    args = parser.parse_args(argv)
    args.func(args)
print("STORED " + json.dumps({
    conn_id: Connection.get_connection_from_secrets(conn_id).conn_type for conn_id in json.loads(sys.argv[2])
}))
"""


CLI_ADDED: dict[str, tuple[list[str], type[BatchHook[Any]] | None]] = {
    **{
        f"cli_{cls.conn_type}": (["--conn-type", cls.conn_type, "--conn-host", "http://api.test"], cls)
        for cls in HOOK_CLASSES
    },
    "cli_uri": (["--conn-uri", "genaianthropic://:k@api.test"], AnthropicBatchHook),
    "cli_earlier_json": (["--conn-json", '{"conn_type": "genai_openai", "password": "k"}'], OpenAIBatchHook),
    "cli_earlier_uri": (["--conn-uri", "genai-bedrock://?region=eu-west-1"], BedrockBatchHook),
    "cli_earlier_type": (["--conn-type", "genai_gemini", "--conn-password", "k"], None),
}
"""Connections added with ``airflow connections add``, and the hook each must reach (None: none)."""


@pytest.fixture(scope="module")
def cli_stored_types(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The connection type Airflow stored for each of ``CLI_ADDED``, added with its CLI in a fresh database."""
    commands = [["connections", "add", conn_id, *args] for conn_id, (args, _) in CLI_ADDED.items()]
    home = tmp_path_factory.mktemp("cli-airflow-home")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run(
        [sys.executable, "-c", CLI_ROUND_TRIP, json.dumps(commands), json.dumps(list(CLI_ADDED))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [line] = [line for line in result.stdout.splitlines() if line.startswith("STORED ")]
    stored_types: dict[str, str] = json.loads(line.removeprefix("STORED "))
    return stored_types


def test_connections_added_with_the_airflow_cli_reach_their_hooks(cli_stored_types):
    reached = {
        conn_id: hook_class_for_conn_type(cli_stored_types[conn_id]) for conn_id, (_, cls) in CLI_ADDED.items() if cls
    }
    assert reached == {conn_id: cls for conn_id, (_, cls) in CLI_ADDED.items() if cls}


def test_an_earlier_type_comes_back_from_a_cli_uri_underscored(cli_stored_types):
    assert cli_stored_types["cli_earlier_uri"] == "genai_bedrock"


def test_the_cli_stores_an_earlier_type_given_to_conn_type_as_generic(cli_stored_types):
    # `--conn-type` accepts only the types Airflow's providers manager lists; earlier names stay usable from
    # JSON, URIs, environment variables and secrets backends.
    assert cli_stored_types["cli_earlier_type"] == "generic"


def test_the_connection_form_lists_each_hook_once_under_its_current_type():
    from airflow.providers_manager import ProvidersManager

    listed = [
        meta.connection_type
        for meta in ProvidersManager().iter_connection_type_hook_ui_metadata()
        if (meta.hook_class_name or "").startswith("airflow_provider_genai_batch.")
    ]
    assert sorted(listed) == sorted(cls.conn_type for cls in HOOK_CLASSES)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("genaigateway://:k@localhost:8080/genai?model_provider=openai", "https://localhost:8080/genai"),
        ("genaigateway://http://:k@localhost:8080/genai?model_provider=openai", "http://localhost:8080/genai"),
        ("genaiopenai://:k@my-proxy.example.com/openai/v1", "https://my-proxy.example.com/openai/v1"),
        ("genaiopenai://:k@api.openai.com:443", "https://api.openai.com:443/v1"),
    ],
)
def test_a_connection_uri_keeps_the_path_of_its_base_url(uri, expected, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_BY_URI", uri)
    assert get_hook("by_uri").settings.base_url == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"host": "http://localhost/genai", "port": 8080}, "http://localhost:8080/genai"),
        ({"host": " https://proxy.test/llm/genai/\n"}, "https://proxy.test/llm/genai"),
        ({"host": "proxy.test/llm/genai"}, "https://proxy.test/llm/genai"),
    ],
)
def test_a_json_connection_host_is_read_as_one_base_url(fields, expected, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_BY_JSON",
        json.dumps({"conn_type": "genaigateway", "password": "k", "extra": {"model_provider": "openai"}, **fields}),
    )
    assert get_hook("by_json").settings.base_url == expected


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("organisation", "no setting of a genaiopenai connection reads it (a misspelling?)"),
        ("api_key", "the API key goes in the password field"),
        ("base_url", "the base URL goes in the host field"),
    ],
)
def test_an_extra_no_setting_reads_is_named_in_a_warning_without_its_value(name, why, monkeypatch, caplog):
    value = "org-do-not-log-1234"
    monkeypatch.setenv(
        "AIRFLOW_CONN_TYPO", json.dumps({"conn_type": "genaiopenai", "password": "k", "extra": {name: value}})
    )
    caplog.set_level(logging.WARNING, logger="airflow_provider_genai_batch.hooks.settings")

    assert get_hook("typo").settings.organization is None

    warnings = [r.getMessage() for r in caplog.records if r.name == "airflow_provider_genai_batch.hooks.settings"]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"connection 'typo' sets the extra '{name}', which is not read: {why}; ")
    assert "organization" in warnings[0] and value not in warnings[0]


def test_a_connection_whose_extras_are_all_read_warns_nothing(monkeypatch, caplog):
    monkeypatch.setenv(
        "AIRFLOW_CONN_CLEAN",
        json.dumps({"conn_type": "genaiopenai", "password": "k", "extra": {"organization": "org-1", "timeout": None}}),
    )
    caplog.set_level(logging.WARNING, logger="airflow_provider_genai_batch.hooks.settings")

    assert get_hook("clean").settings.organization == "org-1"
    assert [r for r in caplog.records if r.name == "airflow_provider_genai_batch.hooks.settings"] == []


def test_aws_credentials_in_a_bedrock_extra_are_named_in_a_warning_and_not_read(monkeypatch, caplog):
    secret = "aws-secret-do-not-log-1234"
    extra = {"region": "us-east-1", "aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": secret}
    monkeypatch.setenv("AIRFLOW_CONN_BEDROCK_EXTRA", json.dumps({"conn_type": "genaibedrock", "extra": extra}))
    caplog.set_level(logging.WARNING, logger="airflow_provider_genai_batch.hooks.settings")

    settings = get_hook("bedrock_extra").settings

    assert (settings.aws_access_key_id, settings.aws_secret_access_key) == (None, None)
    warnings = [r.getMessage() for r in caplog.records if r.name == "airflow_provider_genai_batch.hooks.settings"]
    assert [w.split(";")[0] for w in warnings] == [
        f"connection 'bedrock_extra' sets the extra '{name}', which is not read: AWS credentials go in the login and "
        "password fields (or in the connection aws_conn_id names)"
        for name in ("aws_access_key_id", "aws_secret_access_key")
    ]
    assert not any(secret in w for w in warnings)


def test_a_setting_the_connection_type_does_not_use_is_named_in_a_warning(monkeypatch, caplog):
    extra = {"model_provider": "openai", "upload_chunk_size": 16 * 1024 * 1024}
    conn = {"conn_type": "genaigateway", "password": "k", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_GATEWAY_CHUNK", json.dumps(conn))
    caplog.set_level(logging.WARNING, logger="airflow_provider_genai_batch.hooks.settings")

    assert get_hook("gateway_chunk").settings.model_provider == "openai"

    warnings = [r.getMessage() for r in caplog.records if r.name == "airflow_provider_genai_batch.hooks.settings"]
    assert [w.split(";")[0] for w in warnings] == [
        "connection 'gateway_chunk' sets the extra 'upload_chunk_size', which is not read: a genaigateway connection "
        "does not use it"
    ]


@pytest.mark.parametrize("conn_type", ["genaianthropic", "genai_anthropic", "http", "generic"])
def test_a_hook_given_a_connection_of_another_type_refuses_it_naming_both_types(conn_type, monkeypatch):
    conn = {"conn_type": conn_type, "password": "sk-ant-not-for-openai"}
    monkeypatch.setenv("AIRFLOW_CONN_OTHER_TYPE", json.dumps(conn))

    with pytest.raises(GenAIBatchError) as raised:
        _ = OpenAIBatchHook(conn_id="other_type").settings

    assert str(raised.value) == (
        f"connection 'other_type' is of type {conn_type!r}, not 'genaiopenai': OpenAIBatchHook reads only "
        "genaiopenai connections"
    )


def test_a_hook_reads_a_connection_of_its_earlier_type(monkeypatch):
    conn = {"conn_type": "genai_openai", "host": "http://api.test/v1", "password": "k"}
    monkeypatch.setenv("AIRFLOW_CONN_EARLIER_TYPE", json.dumps(conn))

    assert OpenAIBatchHook(conn_id="earlier_type").settings.base_url == "http://api.test/v1"
