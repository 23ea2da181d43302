"""Emulates Vertex AI's batch prediction (`batchPredictionJobs`, v1 and v1beta1), mounted at /vertex.

Clients use the base URL `<emulator>/vertex/` and authenticate with OAuth bearer tokens minted by
`/vertex/token` (a service-account JWT assertion) or by `POST /_emulator/vertex/tokens`. Input is read
from a real Cloud Storage server (`EmulatorConfig.gcs_endpoint_url`) or from the BigQuery stand-in's store;
predictions are written back there. Jobs go PENDING → RUNNING → SUCCEEDED (or PARTIALLY_SUCCEEDED, FAILED,
EXPIRED; CANCELLING → CANCELLED on cancel; PAUSED / UPDATING on request) over the configured durations.

Modules: `wire` (bodies, states and errors), `auth` (tokens), `validation` (what create refuses),
`listing` (filters and pages), `sources` (GCS and BigQuery), `results` (answers) and `routes`.
"""

from __future__ import annotations

from airflow_provider_genai_batch.testing.emulator.vertex.routes import router
from airflow_provider_genai_batch.testing.emulator.vertex.wire import PROVIDER, VertexError

__all__ = ["PROVIDER", "VertexError", "router"]
