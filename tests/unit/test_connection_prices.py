"""Batch prices given in a connection's extra: read into its settings, refused with the model and field when bad."""

from __future__ import annotations

import json

import pytest

from airflow_provider_genai_batch.connection_forms import connection_types
from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook
from airflow_provider_genai_batch.prices import price_table


def openai_connection(monkeypatch: pytest.MonkeyPatch, extra: dict[str, object]) -> OpenAIBatchHook:
    conn = {"conn_type": "genaiopenai", "password": "sk-test", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_PRICED", json.dumps(conn))
    return OpenAIBatchHook(conn_id="priced")


def test_prices_in_the_connection_extra_price_the_connections_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = openai_connection(monkeypatch, {"batch_prices": {"gpt-4o-mini": {"input": 1.0, "output": 2.0}}})

    price, reason = price_table("openai", None, hook.settings.batch_prices).lookup("openai", "gpt-4o-mini-2024-07-18")

    assert reason is None and price is not None
    assert (price.input, price.output) == (1.0, 2.0)


def test_prices_given_as_json_text_in_the_extra_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    text = json.dumps({"gpt-4o": {"input": 1.25, "output": 5}})
    hook = openai_connection(monkeypatch, {"batch_prices": text})

    assert hook.settings.batch_prices is not None
    assert hook.settings.batch_prices["gpt-4o"].output == 5


def test_a_negative_price_in_the_extra_is_refused_naming_the_model_and_field(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = openai_connection(monkeypatch, {"batch_prices": {"gpt-4o": {"input": -1, "output": 5}}})

    with pytest.raises(GenAIBatchError, match=r"batch_prices.*the connection extra: batch_prices\['gpt-4o'\]: input"):
        _ = hook.settings


def test_a_true_rate_in_the_extra_is_refused_rather_than_read_as_one_dollar(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = openai_connection(monkeypatch, {"batch_prices": {"gpt-4o": {"input": 1, "output": True}}})

    with pytest.raises(GenAIBatchError, match=r"batch_prices\['gpt-4o'\]: output: Input should be a valid number"):
        _ = hook.settings


def test_batch_prices_are_not_a_connection_form_field() -> None:
    assert all("batch_prices" not in kind["conn-fields"] for kind in connection_types())
