"""The models the Gemini Developer API runs batches for, by batch method.

A model outside these answers 404 NOT_FOUND, as the API answers a model it does not have or one that does not
support the method (Live, speech, image models and the like). The list is the Batch API's models named in the
project's wire reference and prices table; tuned models (`tunedModels/...`) are the user's and are not checked.
"""

from __future__ import annotations

from airflow_provider_genai_batch.testing.emulator.gemini.wire import GeminiError, not_found

BATCH_MODELS: dict[str, frozenset[str]] = {
    "batchGenerateContent": frozenset({"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"}),
    "asyncBatchEmbedContent": frozenset({"gemini-embedding-001"}),
}
"""The model ids each batch method takes."""


def unsupported_model(model_id: str, version: str, method: str) -> GeminiError:
    """The API's answer for a model it does not have, or one that does not support ``method``."""
    return not_found(
        f"models/{model_id} is not found for API version {version}, or is not supported for {method}. "
        "Call ListModels to see the list of available models and their supported methods."
    )


def check_model(model_id: str, version: str, method: str) -> None:
    """A model id (after `models/`) that ``method`` runs batches for; 404 NOT_FOUND otherwise."""
    if model_id not in BATCH_MODELS.get(method, frozenset()):
        raise unsupported_model(model_id, version, method)
