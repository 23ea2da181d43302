"""Builds the emulator's FastAPI app: shared state, request logging, the control plane, provider routers.

Each provider is one entry of PROVIDER_ROUTERS. Gemini sits at the root because its SDK builds URLs
from a bare base URL; providers whose paths would collide with it (OpenAI's /v1/files, say) get a
prefix such as "/openai" and their clients a base URL ending in it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response

from airflow_provider_genai_batch.testing.emulator import anthropic, bedrock, control, gateway, gemini, openai, vertex
from airflow_provider_genai_batch.testing.emulator import faults as fault_injection
from airflow_provider_genai_batch.testing.emulator.bigquery.routes import router as bigquery_router
from airflow_provider_genai_batch.testing.emulator.common import EmulatorError
from airflow_provider_genai_batch.testing.emulator.config import EmulatorConfig
from airflow_provider_genai_batch.testing.emulator.store import EmulatorState

PROVIDER_ROUTERS: tuple[tuple[str, APIRouter], ...] = (
    ("", gateway.router),
    ("", gemini.router),
    ("/openai", openai.router),
    ("/anthropic", anthropic.router),
    ("/bedrock", bedrock.router),
    ("/vertex", vertex.router),
    ("", bigquery_router),
)
"""(path prefix, router) of every emulated provider API. The gateway comes first: its native routes at the
root (``/v1/batches/{id}?provider=``) match only with a ``provider`` query, which no Gemini client sends."""


async def render_emulator_error(request: Request, exc: Exception) -> Response:
    """Let each provider's error type render its own error body."""
    assert isinstance(exc, EmulatorError)
    return exc.response()


def create_app(config: EmulatorConfig | None = None) -> FastAPI:
    """A fresh emulator app with its own state; the temporary data directory goes away on shutdown."""
    state = EmulatorState.create(config or EmulatorConfig())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.store.close()

    app = FastAPI(
        title="airflow-provider-genai-batch emulator",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.emulator = state
    fault_injection.install(app)  # before the request log, so the log still sees every faulted request
    app.add_middleware(control.RequestLogMiddleware)
    app.add_exception_handler(EmulatorError, render_emulator_error)
    app.include_router(control.router)
    for prefix, router in PROVIDER_ROUTERS:
        app.include_router(router, prefix=prefix)
    return app
