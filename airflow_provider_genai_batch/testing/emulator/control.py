"""The emulator's own control plane under /_emulator, plus the middleware that logs API requests.

Tests use it to check health, reset state between tests, change timings or force job outcomes at
runtime, list every job ever created, take a job or its results file away as its provider does when they age out,
and assert on the exact requests a client sent.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_genai_batch.testing.emulator.common import CONTROL_PREFIX, rfc3339
from airflow_provider_genai_batch.testing.emulator.config import EmulatorConfig
from airflow_provider_genai_batch.testing.emulator.store import EmulatorState, JobRecord, StateDep, StoredFile
from airflow_provider_genai_batch.testing.emulator.vertex import auth as vertex_auth

LOGGED_BODY_LIMIT = 64 * 1024
"""JSON bodies up to this size are kept in the request log; larger ones and upload chunks are not."""

EXPIRING_OUTPUTS = ("gemini", "openai")
"""The providers whose jobs write their results to their Files API, where they expire (and how reading them then is
answered is known: Gemini's 403 PERMISSION_DENIED 'or it may not exist', OpenAI's 404 'No such File object')."""


router = APIRouter(prefix=CONTROL_PREFIX, tags=["emulator control"])


def iso(timestamp: float) -> str:
    """Epoch seconds as an RFC 3339 UTC string (microseconds only when there are any)."""
    return rfc3339(timestamp, "auto")


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness probe used by EmulatorServer while it waits for startup."""
    return {"status": "ok"}


@router.post("/reset")
async def reset(state: StateDep) -> dict[str, Any]:
    """Forget all files, jobs and logged requests, and restore the launch config."""
    await run_in_threadpool(state.reset)
    return {}


@router.get("/config")
async def get_config(state: StateDep) -> dict[str, Any]:
    """The config in force."""
    return state.config.model_dump(mode="json")


@router.post("/config", response_model=None)
async def update_config(request: Request, state: StateDep) -> dict[str, Any] | JSONResponse:
    """Change some config fields (a partial update); data_dir cannot change while running."""
    try:
        changes = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return JSONResponse({"detail": "The body must be a JSON object."}, status_code=400)
    if not isinstance(changes, dict):
        return JSONResponse({"detail": "The body must be a JSON object."}, status_code=400)
    if "data_dir" in changes:
        return JSONResponse({"detail": "data_dir cannot be changed while the emulator runs."}, status_code=400)
    try:
        state.config = EmulatorConfig.model_validate({**state.config.model_dump(), **changes})
    except ValidationError as exc:
        return JSONResponse({"detail": exc.errors(include_url=False, include_context=False)}, status_code=422)
    return state.config.model_dump(mode="json")


@router.post("/vertex/tokens", response_model=None)
async def mint_vertex_token(request: Request, state: StateDep) -> dict[str, Any] | JSONResponse:
    """Mint a Vertex OAuth access token without a service account: {"ttl": seconds} (default: the config's)."""
    try:
        body = await request.json() if await request.body() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    ttl = body.get("ttl", state.config.vertex_token_ttl) if isinstance(body, dict) else None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        return JSONResponse({"detail": 'The body must be {"ttl": <seconds>}.'}, status_code=400)
    return {"token": vertex_auth.mint_token(float(ttl))}


@router.get("/jobs")
async def list_jobs(state: StateDep) -> dict[str, list[dict[str, Any]]]:
    """Every job ever created (deleted ones included), oldest first, in provider-native state names."""
    jobs = []
    for job in reversed(state.store.list_jobs(include_deleted=True)):
        phase = await run_in_threadpool(state.store.observe, job)
        jobs.append(
            {
                "provider": job.provider,
                "name": job.name,
                "display_name": job.display_name,
                "model": job.model,
                "kind": job.kind,
                "state": job.state_name(job, phase),
                "phase": phase.value,
                "request_count": job.request_count,
                "created": iso(job.created),
                "deleted": job.deleted,
            }
        )
    return {"jobs": jobs}


@router.post("/jobs/delete", response_model=None)
async def delete_job(request: Request, state: StateDep) -> dict[str, Any] | JSONResponse:
    """Take a job away as its provider does when it ages out or someone deletes it (also where the API cannot, as at
    OpenAI and Bedrock, or not while it runs, as at Anthropic): from then on the API answers it as it answers a job it
    never had. ``{"name": <the name /jobs lists>}``."""
    job = await _named_job(request, state)
    if isinstance(job, JSONResponse):
        return job
    state.store.delete_job(job)
    return {}


@router.post("/jobs/expire-output", response_model=None)
async def expire_output(request: Request, state: StateDep) -> dict[str, Any] | JSONResponse:
    """Delete the results file a finished job wrote to its provider's file storage, as the provider does when it
    expires (OpenAI's after 30 days by default, Gemini's after 48 hours): reading it is then answered as that provider
    answers for a file it does not have. ``{"name": <the name /jobs lists>}``; a job with no such file is refused."""
    job = await _named_job(request, state)
    if isinstance(job, JSONResponse):
        return job
    files = _results_files(job) if job.provider in EXPIRING_OUTPUTS else []
    if not files:
        stores = ", ".join(EXPIRING_OUTPUTS)
        detail = f"{job.name} has no results file in its provider's file storage (only {stores} jobs write one)."
        return JSONResponse({"detail": detail}, status_code=409)
    for stored in files:
        state.store.delete_file(stored.provider, stored.file_id)
    return {}


def _results_files(job: JobRecord) -> list[StoredFile]:
    """The files a finished job's results are stored in: its results file, or OpenAI's output and error files."""
    if job.results is None:
        return []
    values = (getattr(job.results, field.name) for field in dataclasses.fields(job.results))
    return [value for value in values if isinstance(value, StoredFile)]


async def _named_job(request: Request, state: EmulatorState) -> JobRecord | JSONResponse:
    """The live job a control body ``{"name": ...}`` names, or the answer refusing the body."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str):
        return JSONResponse({"detail": 'The body must be {"name": <a job name /jobs lists>}.'}, status_code=400)
    job = state.store.get_job(name)
    if job is None:
        return JSONResponse({"detail": f"No job {name} (or it was deleted)."}, status_code=404)
    return job


@router.get("/requests")
async def list_requests(state: StateDep) -> dict[str, list[dict[str, Any]]]:
    """Every API request received since the last reset (control-plane calls excluded), in order."""
    return {"requests": list(state.request_log)}


class RequestLogMiddleware:
    """Records method, path, query, headers and small JSON bodies of every API request."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap the ASGI app."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Log the request, teeing its body when it is a small JSON document, then pass it on."""
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        state: EmulatorState = scope["app"].state.emulator
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        query = scope.get("query_string", b"").decode("latin-1")
        entry: dict[str, Any] = {
            "time": iso(time.time()),
            "method": scope["method"],
            "path": scope["path"],
            "query": query,
            "headers": headers,
            "json": None,
        }
        state.request_log.append(entry)
        if not self._loggable_body(headers, query):
            await self.app(scope, receive, send)
            return
        captured = bytearray()

        async def tee() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(captured) <= LOGGED_BODY_LIMIT:
                captured.extend(message.get("body", b""))
                if not message.get("more_body", False) and 0 < len(captured) <= LOGGED_BODY_LIMIT:
                    try:
                        entry["json"] = json.loads(captured)
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        entry["json"] = None
            return message

        await self.app(scope, tee, send)

    @staticmethod
    def _loggable_body(headers: dict[str, str], query: str) -> bool:
        """JSON bodies under the size limit, never the bytes sent to an upload session."""
        if "upload_id=" in query:
            return False
        if not headers.get("content-type", "").startswith("application/json"):
            return False
        length = headers.get("content-length")
        return length is None or (length.isdigit() and int(length) <= LOGGED_BODY_LIMIT)
