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
    _connection_type(
        "genai_gateway",
        "gateway.GatewayBatchHook",
        "GenAI Batch: GenAI gateway",
        "http://localhost:8080/genai",
        {
            "model_provider": {
                "label": "Model provider",
                "description": "The provider the gateway routes to (sent as the x-model-provider header).",
                "schema": {
                    "type": ["string", "null"],
                    "default": "gemini",
                    "enum": ["gemini", "openai", "anthropic", "bedrock"],
                },
            },
            "api_version": {
                "label": "API version",
                "description": "Pinned REST version of the gateway's GenAI facade.",
                "schema": {"type": ["string", "null"], "default": "v1beta", "enum": ["v1beta"]},
            },
        },
    ),
    {
        **_connection_type(
            "genai_bedrock",
            "bedrock.BedrockBatchHook",
            "GenAI Batch: Amazon Bedrock",
            "",
            {
                "region": {
                    "label": "AWS region",
                    "description": "Region of the Bedrock jobs and their buckets (default: AWS_REGION).",
                    "schema": {"type": ["string", "null"], "default": None},
                },
                "role_arn": {
                    "label": "Service role ARN",
                    "description": "The role Bedrock assumes to read the input and write the output in S3.",
                    "schema": {"type": ["string", "null"], "default": None, "pattern": "^arn:aws(-[^:]+)?:iam::"},
                },
                "input_s3_uri": {
                    "label": "S3 input prefix",
                    "description": "s3://bucket/prefix where input files are uploaded.",
                    "schema": {"type": ["string", "null"], "default": None, "pattern": "^s3://"},
                },
                "output_s3_uri": {
                    "label": "S3 output prefix",
                    "description": "s3://bucket/prefix where Bedrock writes <job-id>/<input>.out.",
                    "schema": {"type": ["string", "null"], "default": None, "pattern": "^s3://"},
                },
                "timeout_hours": {
                    "label": "Job timeout (hours)",
                    "schema": {"type": ["integer", "null"], "default": 24, "minimum": 24, "maximum": 168},
                },
                "model_invocation_type": {
                    "label": "Model invocation type",
                    "description": "Shape of modelInput: the model's InvokeModel body, or a Converse request.",
                    "schema": {
                        "type": ["string", "null"],
                        "default": "InvokeModel",
                        "enum": ["InvokeModel", "Converse"],
                    },
                },
                "aws_conn_id": {
                    "label": "Amazon connection (optional)",
                    "description": "Take credentials from this Amazon Web Services connection (needs the "
                    "amazon provider); empty: login/password, else botocore's default chain.",
                    "schema": {"type": ["string", "null"], "default": None},
                },
                "endpoint_url": {
                    "label": "Bedrock endpoint URL (optional)",
                    "description": "Default https://bedrock.<region>.amazonaws.com.",
                    "schema": {"type": ["string", "null"], "default": None},
                },
                "s3_endpoint_url": {
                    "label": "S3 endpoint URL (optional)",
                    "description": "An S3-compatible endpoint (path-style); default: AWS S3 in the region.",
                    "schema": {"type": ["string", "null"], "default": None},
                },
                "upload_part_size": {
                    "label": "Upload part size (bytes)",
                    "description": "S3 multipart upload part size; at least 5 MiB.",
                    "schema": {"type": ["integer", "null"], "default": 8388608, "minimum": 5242880},
                },
                "default_max_tokens": {
                    "label": "Default max tokens",
                    "description": "max_tokens of a translated request that sets no maxOutputTokens.",
                    "schema": {"type": ["integer", "null"], "default": 4096, "minimum": 1},
                },
            },
        ),
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "host"],
            "relabeling": {"login": "AWS access key ID (optional)", "password": "AWS secret access key (optional)"},
            "placeholders": {"login": "empty: aws_conn_id or the default credential chain"},
        },
    },
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
                    f"{PACKAGE}.hooks.gateway",
                    f"{PACKAGE}.hooks.bedrock",
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
