"""Emulates a GenAI gateway (Bifrost and its forks): the GenAI facade at ``/genai`` and native results routes.

Every call is routed, in process, to the emulator's own provider routers. What the gateway does:

* uploads are a session: a start answered with ``X-Goog-Upload-URL: .../genai/upload/v1beta/files?
  upload_id=genai_upload_session:<rand>`` (kept one minute), then one POST of the raw bytes, answered with
  ``{"file": {...}}`` and ``X-Goog-Upload-Status: final``; the file's purpose is always batch;
* batch create translates the envelope, not the bodies: each inline ``request`` goes to the provider as it
  came, without ``tools``, ``toolConfig`` and ``cachedContent``, which the converter drops; ``metadata.key``
  becomes the custom id; a ``fileName`` is passed on unchanged; no display name is kept;
* answers use the Gemini shape (see :mod:`.wire`);
* results are only at the gateway root: ``GET /v1/batches/{id}/results?provider=`` (Bifrost result items)
  and ``GET /v1/files/{id}/content?provider=``; the facade has no ``:download`` route.

Known divergence from Bifrost: its converter decodes each inline request into a typed Gemini request and
keeps only ``contents``, ``generationConfig``, ``safetySettings`` and ``systemInstruction``, so a body in
another provider's format would arrive empty there; this emulator passes it on untranslated. See also
``targets.ASSUMED_OPENAI_ENDPOINT``.

Modules: `wire` (the neutral view and its rendering), `validation` (what is read and refused),
`forwarding` (in-process calls to the providers), `targets` (one per provider) and `routes`.
"""

from __future__ import annotations

from airflow_provider_genai_batch.testing.emulator.gateway.forwarding import FORWARDED_HEADER
from airflow_provider_genai_batch.testing.emulator.gateway.routes import PROVIDER, router

__all__ = ["FORWARDED_HEADER", "PROVIDER", "router"]
