"""Emulates the Gemini Developer API's Files and Batch REST surface, for v1beta and v1.

Google error envelopes, proto-JSON bodies, the resumable upload protocol, batches as long-running
Operations, and the real API's defect that result files (`files/batch-<id>`, over 40 characters)
cannot be deleted, only fetched and downloaded.

Modules: `wire` (bodies and errors), `validation` (what is rejected), `models` (the models each batch
method runs), `uploads` (the resumable protocol), `results` (answers from the fake model) and `routes`
(the endpoints).
"""

from __future__ import annotations

from airflow_provider_genai_batch.testing.emulator.gemini.routes import router
from airflow_provider_genai_batch.testing.emulator.gemini.wire import PROVIDER, GeminiError

__all__ = ["PROVIDER", "GeminiError", "router"]
