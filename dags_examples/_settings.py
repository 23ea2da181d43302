"""Where the example DAGs keep their data, and how often they poll: overridable for demos and tests."""

from __future__ import annotations

import os

DATA_DIR = os.environ.get("GENAI_BATCH_EXAMPLES_DIR", "/tmp/genai-batch-examples")
POLL_INTERVAL = float(os.environ.get("GENAI_BATCH_POLL_INTERVAL", "60"))
GEMINI_CONN_ID = "gemini_batch_default"
OPENAI_CONN_ID = "openai_batch_default"
ANTHROPIC_CONN_ID = "anthropic_batch_default"
GATEWAY_CONN_ID = "genai_gateway_default"
BEDROCK_CONN_ID = "bedrock_batch_default"
VERTEX_CONN_ID = "genai_vertex_default"
VERTEX_BIGQUERY_DATASET = os.environ.get("GENAI_BATCH_VERTEX_DATASET", "genai_batch_examples")
