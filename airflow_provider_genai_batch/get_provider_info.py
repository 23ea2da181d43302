"""Provider metadata read by Airflow's provider discovery (and, in 3.2+, the connection form)."""

from __future__ import annotations

from typing import Any

from airflow_provider_genai_batch import __version__

PACKAGE = "airflow_provider_genai_batch"
INTEGRATION = "GenAI Batch"

_COMMON_FIELDS: dict[str, Any] = {
    "timeout": {
        "label": "HTTP timeout (s)",
        "description": "Timeout of one HTTP request, in seconds.",
        "schema": {"type": ["number", "null"], "default": 60, "minimum": 1},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries of a transient failure (connection error, timeout, 408/429/5xx) of a safe call.",
        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 0},
    },
    "retry_max_wait": {
        "label": "Max wait between retries (s)",
        "schema": {"type": ["number", "null"], "default": 30, "minimum": 0},
    },
    "retry_deadline": {
        "label": "Retry deadline (s)",
        "description": "Total time one call may spend retrying.",
        "schema": {"type": ["number", "null"], "default": 300, "minimum": 0},
    },
}


def _connection_type(
    conn_type: str, hook_class: str, hook_name: str, placeholder_host: str, extra_fields: dict[str, Any]
) -> dict[str, Any]:
    return {
        "connection-type": conn_type,
        "hook-class-name": f"{PACKAGE}.hooks.{hook_class}",
        "hook-name": hook_name,
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "login", "port"],
            "relabeling": {"password": "API Key", "host": "Base URL (optional)"},
            "placeholders": {"host": placeholder_host, "password": "API key"},
        },
        "conn-fields": {**extra_fields, **_COMMON_FIELDS},
    }


CONNECTION_TYPES = [
    _connection_type(
        "genai_gemini",
        "gemini.GeminiBatchHook",
        "GenAI Batch: Gemini API",
        "https://generativelanguage.googleapis.com",
        {
            "api_version": {
                "label": "API version",
                "description": "Pinned REST API version of the Gemini API.",
                "schema": {"type": ["string", "null"], "default": "v1beta", "enum": ["v1beta", "v1"]},
            },
            "upload_chunk_size": {
                "label": "Upload chunk size (bytes)",
                "description": "Size of one resumable-upload chunk; a multiple of 262144.",
                "schema": {"type": ["integer", "null"], "default": 8388608, "minimum": 262144},
            },
        },
    ),
    _connection_type(
        "genai_openai",
        "openai.OpenAIBatchHook",
        "GenAI Batch: OpenAI",
        "https://api.openai.com/v1",
        {
            "organization": {"label": "Organization", "schema": {"type": ["string", "null"], "default": None}},
            "project": {"label": "Project", "schema": {"type": ["string", "null"], "default": None}},
            "completion_window": {
                "label": "Completion window",
                "schema": {"type": ["string", "null"], "default": "24h", "enum": ["24h"]},
            },
        },
    ),
    _connection_type(
        "genai_anthropic",
        "anthropic.AnthropicBatchHook",
        "GenAI Batch: Anthropic",
        "https://api.anthropic.com",
        {
            "anthropic_version": {
                "label": "anthropic-version",
                "description": "Pinned API version header. 2026-10-21 rejects sampling parameters in batches.",
                "schema": {"type": ["string", "null"], "default": "2023-06-01"},
            },
            "default_max_tokens": {
                "label": "Default max_tokens",
                "description": "max_tokens for requests that set no maxOutputTokens (Anthropic requires one).",
                "schema": {"type": ["integer", "null"], "default": 4096, "minimum": 1},
            },
        },
    ),
]


def get_provider_info() -> dict[str, Any]:
    """The provider-info dict; validated against Airflow's schema in the tests."""
    return {
        "package-name": "airflow-provider-genai-batch",
        "name": "GenAI Batch",
        "description": "LLM batch inference (Gemini, OpenAI, Anthropic, Amazon Bedrock, GenAI gateways) "
        "as scheduled, observable, exactly-once pipeline steps.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://ai.google.dev/gemini-api/docs/batch-mode",
                "tags": ["ai"],
            }
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    f"{PACKAGE}.hooks.gemini",
                    f"{PACKAGE}.hooks.openai",
                    f"{PACKAGE}.hooks.anthropic",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    f"{PACKAGE}.operators.submit",
                    f"{PACKAGE}.operators.files",
                    f"{PACKAGE}.operators.jobs",
                ],
            }
        ],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": [f"{PACKAGE}.sensors.batch_results"]}],
        "triggers": [{"integration-name": INTEGRATION, "python-modules": [f"{PACKAGE}.triggers.batch_job"]}],
        "extra-links": [f"{PACKAGE}.links.GenAIBatchJobLink"],
        "connection-types": CONNECTION_TYPES,
    }
