"""Which hook class serves a connection type or a provider: the one row each provider adds."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.hooks.anthropic import AnthropicBatchHook
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.bedrock import BedrockBatchHook
from airflow_provider_genai_batch.hooks.gateway import GatewayBatchHook
from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook
from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook
from airflow_provider_genai_batch.hooks.settings import earlier_conn_type
from airflow_provider_genai_batch.hooks.vertex import VertexBatchHook

HOOK_CLASSES: tuple[type[BatchHook[Any]], ...] = (
    GeminiBatchHook,
    OpenAIBatchHook,
    AnthropicBatchHook,
    GatewayBatchHook,
    BedrockBatchHook,
    VertexBatchHook,
)


def hook_class_for_provider(provider: str) -> type[BatchHook[Any]]:
    """The hook class of a provider name, as carried by a :class:`BatchJobRef`."""
    for cls in HOOK_CLASSES:
        if cls.provider == provider:
            return cls
    raise GenAIBatchError(f"unknown provider {provider!r}; known: {', '.join(c.provider for c in HOOK_CLASSES)}")


def hook_class_for_conn_type(conn_type: str | None) -> type[BatchHook[Any]]:
    """The hook class of an Airflow connection type, by its name or its earlier name."""
    for cls in HOOK_CLASSES:
        if conn_type in (cls.conn_type, earlier_conn_type(cls.conn_type)):
            return cls
    known = ", ".join(c.conn_type for c in HOOK_CLASSES)
    raise GenAIBatchError(f"connection type {conn_type!r} is not a GenAI batch connection; use one of: {known}")


def get_hook(conn_id: str) -> BatchHook[Any]:
    """The hook for an Airflow connection, chosen by its connection type; a connection of another type is
    refused naming it, since a DAG may use several."""
    conn = BaseHook.get_connection(conn_id)
    try:
        cls = hook_class_for_conn_type(conn.conn_type)
    except GenAIBatchError as err:
        raise GenAIBatchError(f"connection {conn_id!r}: {err}") from None
    return cls(conn_id=conn_id)
