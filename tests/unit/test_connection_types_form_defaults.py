"""The connection forms show every default: no extra is named so that Airflow's secret masker hides it.

The masker hides the value of any extra whose name contains a sensitive word ("token", "secret", ...);
the output-token limit, once ``default_max_tokens``, is ``default_output_limit`` and still read under its
earlier name.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow._shared.secrets_masker import should_hide_value_for_key
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.get_provider_info import get_provider_info
from airflow_provider_genai_batch.hooks.anthropic import AnthropicBatchHook
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.bedrock import BedrockBatchHook
from airflow_provider_genai_batch.hooks.gateway import GatewayBatchHook

from .hooks._wire import set_connection

OUTPUT_LIMIT_HOOKS = (AnthropicBatchHook, BedrockBatchHook, GatewayBatchHook)
BEDROCK_EXTRA = {"region": "eu-west-1"}
FORM_FIELDS = [
    (conn["connection-type"], name) for conn in get_provider_info()["connection-types"] for name in conn["conn-fields"]
]


def form_values(conn_type: str) -> dict[str, Any]:
    """The extra fields of a connection type's Add form as the UI receives them: name -> shown value."""
    [meta] = [meta for meta in HookMetaService.hook_meta_data() if meta.connection_type == conn_type]
    assert meta.extra_fields is not None
    return {name: field["value"] for name, field in meta.extra_fields.items()}


def connect(monkeypatch: pytest.MonkeyPatch, hook: type[BatchHook[Any]], extra: dict[str, Any]) -> BatchHook[Any]:
    extra = {**BEDROCK_EXTRA, **extra} if hook is BedrockBatchHook else extra
    set_connection(monkeypatch, "output_limit", conn_type=hook.conn_type, extra=extra)
    return hook(conn_id="output_limit")


by_hook = pytest.mark.parametrize("hook", OUTPUT_LIMIT_HOOKS, ids=lambda cls: cls.conn_type)


@pytest.mark.parametrize(("conn_type", "name"), FORM_FIELDS, ids=lambda value: value)
def test_no_form_field_has_a_name_the_secret_masker_hides(conn_type, name):
    assert not should_hide_value_for_key(name), f"{conn_type}: {name}"


def test_the_earlier_name_of_the_output_limit_is_one_the_masker_hides():
    assert should_hide_value_for_key("default_max_tokens")


@by_hook
def test_the_add_form_shows_the_output_limit_default(hook):
    default = hook.settings_model.model_fields["default_output_limit"].default
    assert form_values(hook.conn_type)["default_output_limit"] == default == 4096


@by_hook
def test_the_output_limit_is_read_under_its_name(hook, monkeypatch):
    assert connect(monkeypatch, hook, {"default_output_limit": 321}).settings.default_output_limit == 321


@by_hook
def test_the_output_limit_is_read_under_its_earlier_name(hook, monkeypatch):
    assert connect(monkeypatch, hook, {"default_max_tokens": 123}).settings.default_output_limit == 123


@by_hook
def test_the_output_limit_given_under_both_names_is_refused(hook, monkeypatch):
    with pytest.raises(GenAIBatchError) as raised:
        _ = connect(monkeypatch, hook, {"default_output_limit": 321, "default_max_tokens": 123}).settings
    assert str(raised.value) == (
        "connection 'output_limit' sets 'default_max_tokens' and 'default_output_limit', which name the same "
        "setting; keep only 'default_output_limit'"
    )


@by_hook
def test_an_invalid_output_limit_under_its_earlier_name_is_named(hook, monkeypatch):
    with pytest.raises(GenAIBatchError, match="default_max_tokens: Input should be greater than or equal to 1"):
        _ = connect(monkeypatch, hook, {"default_max_tokens": 0}).settings
