"""Emulates a GenAI gateway (Bifrost and its forks) as its user documentation describes it.

Every call is routed, in process, to the emulator's own provider routers. What the gateway does:

* the facade answers under ``/genai/v1beta`` and ``/genai/v1`` (google-genai 3.x defaults to ``v1``);
  the target is the ``x-model-provider`` header (gemini when absent);
* names are ``batches/<provider id>`` and ``files/<provider id>`` for every target, the forms
  google-genai accepts; the gateway strips the collection before calling the provider;
* uploads are a session: a start answered with ``X-Goog-Upload-URL: .../genai/upload/<ver>/files?
  upload_id=genai_upload_session:<rand>`` (kept one minute, single use), then ONE POST of all the bytes
  (``upload, finalize`` at offset 0), answered ``{"file": {...}}`` with ``X-Goog-Upload-Status: final``;
  the file's purpose is always batch; Anthropic and Bedrock take no uploads;
* batch create keeps only ``contents``, ``generationConfig``, ``safetySettings`` and
  ``systemInstruction`` of each inline request (the rest is dropped silently); ``metadata.key`` becomes
  the custom id, ``request-<index>`` when absent; for OpenAI and Anthropic the kept Gemini request is
  translated (:mod:`.translation`), and what cannot be translated is a 400 naming request and field;
* answers use the Gemini shape (see :mod:`.wire`); the state is mapped in two steps, or (emulator
  setting ``gateway_raw_states``) is the provider's raw status;
* results are only at the gateway root: ``GET /v1/batches/{id}?provider=`` (Bifrost's retrieve JSON),
  ``GET /v1/batches/{id}/results?provider=`` (Gemini flattened, OpenAI's output file only, Anthropic
  all) and ``GET /v1/files/{id}/content?provider=`` (streamed; refused for Gemini files).

Where this follows the documentation rather than the Bifrost source:

* Bifrost serves only ``v1beta``, returns bare provider ids as names and passes ``fileName`` on
  unchanged (so an OpenAI ``files/file-abc`` fails there);
* Bifrost forwards each kept request to OpenAI and Anthropic untranslated and sets no OpenAI endpoint
  (see ``targets.ASSUMED_OPENAI_ENDPOINT``);
* Bifrost checks neither the upload command nor the offset of the bytes POST, and refuses an
  Anthropic or Bedrock upload only once the bytes arrive; this gateway refuses at the start;
* Bifrost omits ``has_more`` from a results answer when it is false; this gateway always sends it;
* the native routes here match only with ``?provider=`` (Gemini's own ``/v1/batches/<id>`` shares the
  emulator's root), and the in-process hop buffers a file before it is streamed out.

Modules: `wire` (the neutral view and its rendering), `validation` (what is read and refused),
`translation` (Gemini requests for OpenAI and Anthropic), `forwarding` (in-process calls to the
providers), `targets` (one per provider) and `routes`.
"""

from __future__ import annotations

from airflow_provider_genai_batch.testing.emulator.gateway.forwarding import FORWARDED_HEADER
from airflow_provider_genai_batch.testing.emulator.gateway.routes import PROVIDER, router

__all__ = ["FORWARDED_HEADER", "PROVIDER", "router"]
