"""Provider metadata read by Airflow's provider discovery (and, in 3.2+, the connection form).

Airflow calls this while its own configuration is still loading, so it imports nothing of Airflow's:
the connection types are read from ``connection_types.json``, which :mod:`.connection_forms`
generates from the hook registry and each hook's settings model (``make provider-info``).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from airflow_provider_genai_batch import __version__

PACKAGE = "airflow_provider_genai_batch"
INTEGRATION = "GenAI Batch"
CONNECTION_TYPES_FILE = "connection_types.json"


def get_provider_info() -> dict[str, Any]:
    """The provider-info dict; validated against Airflow's schema in the tests."""
    connection_types = json.loads(resources.files(PACKAGE).joinpath(CONNECTION_TYPES_FILE).read_text())
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
                "python-modules": sorted({c["hook-class-name"].rpartition(".")[0] for c in connection_types}),
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
        "connection-types": connection_types,
    }
