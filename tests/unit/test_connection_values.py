"""Connection values as users paste them: whitespace around a value is dropped, a key that cannot be one is
refused before any request, naming the connection and the field and never the value."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.hooks.registry import get_hook

CONN_ID = "by_hand"


def connect(monkeypatch: pytest.MonkeyPatch, conn: dict[str, Any]) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))


@pytest.mark.parametrize("conn_type", ["genaigemini", "genaiopenai", "genaianthropic", "genaigateway"])
@pytest.mark.parametrize("key", ["sk-half\nsk-other", "sk-a b", "sk-\x00x", "“sk-quoted”"])
def test_a_key_with_a_character_no_key_holds_is_refused_without_showing_it(conn_type, key, monkeypatch):
    connect(monkeypatch, {"conn_type": conn_type, "password": key})

    with pytest.raises(GenAIBatchError) as raised:
        _ = get_hook(CONN_ID).settings

    assert str(raised.value) == (
        "connection 'by_hand': the API key (password field) holds a space, a line break, a control or a "
        "non-ASCII character inside it, which no key holds; paste the key alone"
    )
    assert "sk-" not in str(raised.value)


def test_a_password_of_whitespace_only_is_no_key(monkeypatch):
    connect(monkeypatch, {"conn_type": "genaiopenai", "password": " \n"})

    no_key = r"^connection 'by_hand' has no API key \(put it in the password field\)$"
    with pytest.raises(GenAIBatchError, match=no_key):
        _ = get_hook(CONN_ID).settings


def test_aws_keys_pasted_with_whitespace_around_them_are_read_without_it(monkeypatch):
    conn = {"conn_type": "genaibedrock", "login": " AKIAEXAMPLE\n", "password": "secret/key+1\n"}
    connect(monkeypatch, {**conn, "extra": {"region": "us-east-1"}})

    settings = get_hook(CONN_ID).settings

    assert settings.aws_access_key_id == "AKIAEXAMPLE"
    assert settings.aws_secret_access_key is not None
    assert settings.aws_secret_access_key.get_secret_value() == "secret/key+1"


def test_an_aws_secret_with_a_line_break_inside_is_refused_naming_its_field(monkeypatch):
    conn = {"conn_type": "genaibedrock", "login": "AKIAEXAMPLE", "password": "secret\nkey"}
    connect(monkeypatch, {**conn, "extra": {"region": "us-east-1"}})

    with pytest.raises(GenAIBatchError, match=r"the AWS secret access key \(password field\) holds") as raised:
        _ = get_hook(CONN_ID).settings
    assert "secret\nkey" not in str(raised.value)


@pytest.mark.parametrize(
    ("conn_type", "extra", "header"),
    [
        ("genaiopenai", {"organization": " org-1\n"}, ("organization", "org-1")),
        ("genaiopenai", {"project": "proj_1\r\n"}, ("project", "proj_1")),
        ("genaianthropic", {"anthropic_version": "2023-06-01\n"}, ("anthropic_version", "2023-06-01")),
    ],
)
def test_a_header_setting_pasted_with_whitespace_around_it_is_read_without_it(conn_type, extra, header, monkeypatch):
    connect(monkeypatch, {"conn_type": conn_type, "password": "k", "extra": extra})

    name, value = header
    assert getattr(get_hook(CONN_ID).settings, name) == value


@pytest.mark.parametrize(
    ("conn_type", "extra", "host", "settings"),
    [
        (
            "genaigemini",
            {},
            "https://generativelanguage.googleapis.com/v1",
            ("https://generativelanguage.googleapis.com", "v1"),
        ),
        (
            "genaivertex",
            {"project": "p"},
            "https://us-central1-aiplatform.googleapis.com/v1beta1/",
            ("https://us-central1-aiplatform.googleapis.com", "v1beta1"),
        ),
        (
            "genaigateway",
            {"api_version": "v1"},
            "http://proxy.test/llm/genai/v1",
            ("http://proxy.test/llm/genai", "v1"),
        ),
    ],
)
def test_the_api_version_at_the_end_of_a_host_is_the_api_version(conn_type, extra, host, settings, monkeypatch):
    password = "k" if conn_type != "genaivertex" else None
    connect(monkeypatch, {"conn_type": conn_type, "host": host, "password": password, "extra": extra})

    read = get_hook(CONN_ID).settings

    assert (read.base_url, read.api_version) == settings


def test_a_host_naming_another_api_version_than_the_extra_is_refused(monkeypatch):
    host = "https://generativelanguage.googleapis.com/v1"
    connect(
        monkeypatch, {"conn_type": "genaigemini", "host": host, "password": "k", "extra": {"api_version": "v1beta"}}
    )

    with pytest.raises(GenAIBatchError) as raised:
        _ = get_hook(CONN_ID).settings

    assert str(raised.value) == (
        "connection 'by_hand' is not a valid gemini connection: Value error, the host ends in the API version 'v1' "
        "but the api_version extra is 'v1beta'; name the version once, in the api_version extra, and leave it out "
        "of the host (it starts every call's path)"
    )


def test_a_version_inside_a_hosts_path_is_kept(monkeypatch):
    connect(monkeypatch, {"conn_type": "genaianthropic", "host": "https://proxy.test/v1/anthropic", "password": "k"})

    assert get_hook(CONN_ID).settings.base_url == "https://proxy.test/v1/anthropic"


@pytest.mark.parametrize(
    ("conn_type", "extra", "setting"),
    [
        ("genaiopenai", {"extra__genaiopenai__organization": "org-1"}, ("organization", "org-1")),
        ("genai_openai", {"extra__genai_openai__project": "proj_1"}, ("project", "proj_1")),
        ("genaianthropic", {"extra__genaianthropic__default_max_tokens": 512}, ("default_output_limit", 512)),
        ("genaigateway", {"extra__genaigateway__model_provider": "openai"}, ("model_provider", "openai")),
    ],
)
def test_an_extra_in_airflow_2s_prefixed_form_is_read_as_its_setting(conn_type, extra, setting, monkeypatch):
    connect(monkeypatch, {"conn_type": conn_type, "password": "k", "extra": extra})

    name, value = setting
    assert getattr(get_hook(CONN_ID).settings, name) == value


def test_a_setting_given_bare_and_prefixed_is_refused_naming_both(monkeypatch):
    extra = {"organization": "org-1", "extra__genaiopenai__organization": "org-2"}
    connect(monkeypatch, {"conn_type": "genaiopenai", "password": "k", "extra": extra})

    with pytest.raises(GenAIBatchError) as raised:
        _ = get_hook(CONN_ID).settings

    assert str(raised.value) == (
        "connection 'by_hand' sets 'extra__genaiopenai__organization' and 'organization', which name the same "
        "setting; keep only 'organization'"
    )


def test_a_prefixed_api_key_extra_is_named_in_a_warning_saying_where_the_key_goes(monkeypatch, caplog):
    extra = {"extra__genaiopenai__api_key": "sk-not-logged"}
    connect(monkeypatch, {"conn_type": "genaiopenai", "password": "k", "extra": extra})
    caplog.set_level(logging.WARNING, logger="airflow_provider_genai_batch.hooks.settings")

    _ = get_hook(CONN_ID).settings

    [warning] = [r.getMessage() for r in caplog.records if r.name == "airflow_provider_genai_batch.hooks.settings"]
    assert warning.startswith(
        "connection 'by_hand' sets the extra 'extra__genaiopenai__api_key', which is not read: the API key goes in "
        "the password field; "
    )
    assert "sk-not-logged" not in warning


@pytest.mark.parametrize(
    ("conn_type", "extra", "setting"),
    [
        ("genaiopenai", {"timeout": ""}, ("timeout", 60.0)),
        ("genaiopenai", {"max_retries": " "}, ("max_retries", 5)),
        ("genaianthropic", {"default_output_limit": ""}, ("default_output_limit", 4096)),
        ("genaigemini", {"api_version": ""}, ("api_version", "v1beta")),
        ("genaigateway", {"model_provider": ""}, ("model_provider", "gemini")),
    ],
)
def test_an_extra_left_empty_keeps_its_default(conn_type, extra, setting, monkeypatch):
    connect(monkeypatch, {"conn_type": conn_type, "password": "k", "extra": extra})

    name, value = setting
    assert getattr(get_hook(CONN_ID).settings, name) == value


@pytest.mark.parametrize(("extra", "setting"), [({"max_retries": "3"}, 3), ({"timeout": "12.5"}, 12.5)])
def test_a_number_given_as_text_is_read_as_that_number(extra, setting, monkeypatch):
    connect(monkeypatch, {"conn_type": "genaiopenai", "password": "k", "extra": extra})

    settings = get_hook(CONN_ID).settings

    assert getattr(settings, next(iter(extra))) == setting


@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        ("api.openai.com", "https://api.openai.com/v1"),
        ("https://API.OpenAI.com/", "https://API.OpenAI.com/v1"),
        ("https://api.openai.com:443", "https://api.openai.com:443/v1"),
        ("https://api.openai.com/v1", "https://api.openai.com/v1"),
        ("https://proxy.test", "https://proxy.test"),
    ],
)
def test_the_public_openai_host_without_a_path_is_its_v1(host, base_url, monkeypatch):
    connect(monkeypatch, {"conn_type": "genaiopenai", "host": host, "password": "k"})

    assert get_hook(CONN_ID).settings.base_url == base_url
