"""Fault injection: the emulator misbehaves the way real APIs and networks do, on purpose and reproducibly.

A test switches faults on with `EmulatorConfig.faults` (`POST /_emulator/config {"faults": {...}}`,
`EmulatorServer.config(faults={...})`, or `--faults '<json>'` on the command line). Setting `faults`
replaces the whole sub-model; `{"faults": {}}` switches every fault off. Faults only ever hit API
requests, never the `/_emulator` control plane (nor the gateway's in-process calls to other routers).
What can happen to a request, decided in this order:

- **slow** (`slow_rate`, `latency_seconds`): the handler runs after an added delay.
- **error** (`error_rate`, `error_statuses`, `retry_after`): answered 429 / 5xx *before* the handler runs
  (nothing happened), with the provider's error body, chosen by path prefix (see `ERROR_STYLES`), and a
  `Retry-After` header on 429 and 503.
- **upload_drop** (`upload_drop_rate`, `cut_fraction`): for an upload (a POST/PUT whose body is not JSON),
  the body is cut after `cut_fraction` of its bytes and the connection dropped. The handler sees a
  client disconnect; a Gemini resumable session keeps the bytes that arrived, as the real protocol does.
- **short_store** (`short_store_rate`, `short_store_bytes`): for an upload, the request that finishes a file
  (a Gemini or gateway upload's last chunk, an OpenAI file) is handled as usual but the file is stored without
  its last `short_store_bytes` bytes, as behind a proxy that cuts bodies and fixes their length; the answer
  reports the size stored. A request that finishes no file (a Gemini chunk before the last) is left alone.
- **lost** (`lost_rate`, `lost_mode`): the handler runs (the effect happened: a job was created, a chunk
  was committed) but the answer is lost: the client sees a 503 or a dropped connection.
- **download_drop** (`download_drop_rate`, `cut_fraction`): for a download (a GET answered with a
  non-JSON body), the response starts, part of the body is sent, then the connection is dropped.

"Dropped" means the response head is sent and the connection closed before the body is complete: the
client sees a protocol error (an `httpx.TransportError`), never an answer. Decisions come from one
`random.Random(seed)`, re-seeded whenever the config is posted (even unchanged) or reset, so the same
request sequence meets the same faults. `paths` (a regex), `methods` and `uploads_only` (requests that carry
bytes, not JSON: a Gemini or gateway upload's chunks, not the request that opens its session) narrow the requests
that can be hit, and `max_faults` stops injecting after that many faults (slow responses do not count).
`GET /_emulator/faults` reports how many faults of each kind were injected, and the most recent ones;
`POST /_emulator/reset` clears them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_genai_batch.testing.emulator.common import (
    CONTROL_PREFIX,
    FORWARDED_HEADER,
    anthropic_error_body,
    aws_error_body,
    google_error_body,
    openai_error_body,
)

EVENT_LOG_LIMIT = 1000
DEFAULT_CUT_BYTES = 16 * 1024
"""Where a body of unknown length is cut."""
FAULT_KINDS = ("error", "lost", "upload_drop", "short_store", "download_drop", "slow")
SHORT_STORE = "genai_batch.short_store"
"""The key, in a request's state, of the bytes its short_store fault drops from the file it finishes."""

LostMode = Literal["error", "drop", "mixed"]


class FaultConfig(BaseModel):
    """Which faults to inject, how often, and where; all rates are shares of eligible API requests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(default=0, description="Seed of the fault decisions; re-applied whenever the config is posted.")
    error_rate: float = Field(default=0.0, ge=0, le=1, description="Answered with an error before the handler runs.")
    error_statuses: tuple[int, ...] = Field(
        default=(429, 500, 503), min_length=1, description="Statuses injected errors are drawn from."
    )
    retry_after: int | None = Field(default=1, ge=0, description="Retry-After seconds sent with 429 and 503.")
    lost_rate: float = Field(default=0.0, ge=0, le=1, description="Handled, then the answer is lost.")
    lost_mode: LostMode = Field(default="mixed", description="A lost answer: a 503, a dropped connection, or either.")
    upload_drop_rate: float = Field(default=0.0, ge=0, le=1, description="Uploads whose body is cut mid-way.")
    download_drop_rate: float = Field(default=0.0, ge=0, le=1, description="Downloads dropped mid-body.")
    cut_fraction: float = Field(default=0.5, gt=0, lt=1, description="Share of a body delivered before a drop.")
    short_store_rate: float = Field(
        default=0.0, ge=0, le=1, description="Uploads whose file is stored without its last short_store_bytes bytes."
    )
    short_store_bytes: int = Field(default=1, ge=1, description="Bytes an upload stored short loses from its end.")
    slow_rate: float = Field(default=0.0, ge=0, le=1, description="Requests delayed by latency_seconds.")
    latency_seconds: float = Field(default=0.0, ge=0, le=60, description="Added latency of a slow request.")
    paths: str | None = Field(default=None, description="Only requests whose path matches this regex (re.search).")
    methods: tuple[str, ...] | None = Field(default=None, description="Only requests with these HTTP methods.")
    uploads_only: bool = Field(
        default=False, description="Only uploads: requests that carry bytes (a file or a chunk of one), not JSON."
    )
    max_faults: int | None = Field(default=None, ge=0, description="Stop after this many faults (slow excluded).")

    @field_validator("error_statuses")
    @classmethod
    def _error_statuses(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        for status in value:
            if not 400 <= status <= 599:
                raise ValueError(f"an injected error status must be 4xx or 5xx, not {status}")
        return value

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"paths is not a valid regular expression: {exc}") from exc
        return value

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(method.upper() for method in value)

    @property
    def active(self) -> bool:
        """Whether any fault can happen at all."""
        return any(
            (
                self.error_rate,
                self.lost_rate,
                self.upload_drop_rate,
                self.short_store_rate,
                self.download_drop_rate,
                self.slow_rate,
            )
        )


# Provider-shaped error bodies


def _status_phrase(status: int) -> str:
    return {
        429: "Too many requests: rate limit exceeded (injected by the emulator).",
        500: "Internal error encountered (injected by the emulator).",
        502: "Bad gateway (injected by the emulator).",
        503: "The service is currently unavailable (injected by the emulator).",
        504: "Deadline exceeded (injected by the emulator).",
    }.get(status, f"HTTP {status} (injected by the emulator).")


GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
ANTHROPIC_TYPE = {429: "rate_limit_error", 500: "api_error", 504: "timeout_error", 529: "overloaded_error"}
AWS_ERROR_TYPE = {429: "ThrottlingException", 500: "InternalServerException", 503: "ServiceUnavailableException"}

ErrorBody = tuple[dict[str, Any], dict[str, str]]
"""A JSON error body and extra headers."""


def gemini_error(status: int, message: str) -> ErrorBody:
    """Google's envelope, its status named after the HTTP status."""
    return google_error_body(status, GOOGLE_STATUS.get(status, "UNKNOWN"), message), {}


def openai_error(status: int, message: str) -> ErrorBody:
    """OpenAI's envelope: a rate limit is of type "requests", anything else a server_error."""
    code: str | None
    if status == 429:
        kind, code = "requests", "rate_limit_exceeded"
    else:
        kind, code = "server_error", ("service_unavailable" if status == 503 else None)
    return openai_error_body(message, kind, None, code), {}


def anthropic_error(status: int, message: str) -> ErrorBody:
    """Anthropic's envelope (without the request_id the API adds)."""
    return anthropic_error_body(ANTHROPIC_TYPE.get(status, "api_error"), message), {}


def aws_error(status: int, message: str) -> ErrorBody:
    """AWS REST-JSON, the error type named after the HTTP status."""
    return aws_error_body(AWS_ERROR_TYPE.get(status, "InternalServerException"), message)


ERROR_STYLES: tuple[tuple[str, Callable[[int, str], ErrorBody]], ...] = (
    ("/openai", openai_error),
    ("/anthropic", anthropic_error),
    ("/bedrock", aws_error),
)
"""(path prefix, error body) per provider mount; anything else (Gemini, at the root) gets Google's."""


def error_body(path: str, status: int, message: str | None = None) -> ErrorBody:
    """The error body the provider mounted at ``path`` would send for ``status``."""
    text = message or _status_phrase(status)
    for prefix, style in ERROR_STYLES:
        if path == prefix or path.startswith(prefix + "/"):
            return style(status, text)
    return gemini_error(status, text)


# State: the decisions' random stream, the counters, the recent events


@dataclass
class Plan:
    """What happens to one request."""

    latency: float = 0.0
    error: int | None = None
    upload_drop: bool = False
    short_store: int = 0
    lost: Literal["error", "drop"] | None = None
    download_drop: bool = False


@dataclass
class FaultState:
    """Per-app fault bookkeeping; lives on ``app.state.faults``."""

    config: FaultConfig | None = None
    rng: random.Random = field(default_factory=random.Random)
    injected_since_config: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=EVENT_LOG_LIMIT))

    def reset(self) -> None:
        """Forget every count and event, and re-seed on the next request."""
        self.config = None
        self.injected_since_config = 0
        self.counts.clear()
        self.statuses.clear()
        self.events.clear()

    def restart(self) -> None:
        """Start the decisions afresh (re-seed, new max_faults budget) on the next request."""
        self.config = None

    def _sync(self, config: FaultConfig) -> None:
        if config != self.config:
            self.config = config
            self.rng = random.Random(config.seed)
            self.injected_since_config = 0

    def plan(self, config: FaultConfig, scope: Scope, headers: dict[str, str]) -> Plan:
        """Decide this request's faults (draws happen in a fixed order, so a seed replays exactly)."""
        self._sync(config)
        plan = Plan()
        if not config.active or not _eligible(config, scope, headers):
            return plan
        rng = self.rng
        if config.slow_rate and rng.random() < config.slow_rate:
            plan.latency = config.latency_seconds
        budget = config.max_faults is None or self.injected_since_config < config.max_faults
        if config.error_rate and rng.random() < config.error_rate and budget:
            plan.error = rng.choice(config.error_statuses)
            return plan
        if config.upload_drop_rate and _is_upload(scope, headers) and rng.random() < config.upload_drop_rate and budget:
            plan.upload_drop = True
            return plan
        if config.short_store_rate and _is_upload(scope, headers) and rng.random() < config.short_store_rate and budget:
            plan.short_store = config.short_store_bytes
            return plan
        if config.lost_rate and rng.random() < config.lost_rate and budget:
            mode = config.lost_mode
            plan.lost = rng.choice(("error", "drop")) if mode == "mixed" else mode
            return plan
        if config.download_drop_rate and scope["method"] == "GET" and rng.random() < config.download_drop_rate:
            plan.download_drop = budget  # applied (and counted) only if the answer turns out to be a download
        return plan

    def record(self, kind: str, scope: Scope, **detail: Any) -> None:
        """Count one injected fault and remember it."""
        self.counts[kind] += 1
        if kind != "slow":
            self.injected_since_config += 1
        if "status" in detail:
            self.statuses[str(detail["status"])] += 1
        self.events.append(
            {
                "time": time.time(),
                "kind": kind,
                "method": scope["method"],
                "path": scope["path"],
                "query": scope.get("query_string", b"").decode("latin-1"),
                **detail,
            }
        )

    def report(self) -> dict[str, Any]:
        """What GET /_emulator/faults answers."""
        counts = {kind: self.counts.get(kind, 0) for kind in FAULT_KINDS}
        return {
            "counts": counts,
            "total": sum(count for kind, count in counts.items() if kind != "slow"),
            "statuses": dict(self.statuses),
            "events": list(self.events),
        }


def _eligible(config: FaultConfig, scope: Scope, headers: dict[str, str]) -> bool:
    if config.methods is not None and scope["method"] not in config.methods:
        return False
    if config.uploads_only and not _is_upload(scope, headers):
        return False
    return config.paths is None or re.search(config.paths, scope["path"]) is not None


def _is_upload(scope: Scope, headers: dict[str, str]) -> bool:
    """A request that carries bytes (a file or a chunk of one), not a JSON document."""
    if scope["method"] not in ("POST", "PUT", "PATCH"):
        return False
    if _is_json(headers.get("content-type", "")):
        return False
    length = headers.get("content-length")
    if length is not None:
        return length.isdigit() and int(length) > 1
    return "chunked" in headers.get("transfer-encoding", "").lower()


def _is_download(start: Message) -> bool:
    if start["status"] not in (200, 206):
        return False
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in start.get("headers", [])}
    return not _is_json(headers.get("content-type", ""))


def _is_json(content_type: str) -> bool:
    """A JSON document (not JSONL, which is a file)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _content_length(headers: list[tuple[bytes, bytes]] | dict[str, str]) -> int | None:
    items = headers.items() if isinstance(headers, dict) else headers
    for name, value in items:
        name = name.decode("latin-1") if isinstance(name, bytes) else name
        if name.lower() == "content-length":
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            return int(text) if text.isdigit() else None
    return None


def _cut_point(length: int | None, fraction: float) -> int:
    if length is None:
        return DEFAULT_CUT_BYTES
    return max(1, min(length - 1, int(length * fraction)))


class InjectedDisconnect(Exception):
    """Raised after a response has started, so the server closes the connection mid-answer."""


class _QuietInjectedDisconnects(logging.Filter):
    """Keeps the server's "Exception in ASGI application" log free of the drops we cause on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedDisconnect))


_LOG_FILTER = _QuietInjectedDisconnects()


async def _drain(receive: Receive) -> None:
    """Read the rest of a request body, so the connection stays usable after an early answer."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


async def _drop(send: Send, start: Message | None = None) -> None:
    """Start a response (if not started yet) and break the connection before its body is complete."""
    if start is None:
        start = {"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"application/json")]}
    await send(start)
    raise InjectedDisconnect("connection dropped by the emulator's fault injection")


class FaultMiddleware:
    """Applies `EmulatorConfig.faults` to every API request (installed inside the request log)."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap the ASGI app."""
        self.app = app
        logging.getLogger("uvicorn.error").addFilter(_LOG_FILTER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Decide this request's faults and act them out around the handler."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        faults: FaultState = scope["app"].state.faults
        if scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            if scope["method"] == "POST" and scope["path"] == f"{CONTROL_PREFIX}/reset":
                faults.reset()
            elif scope["method"] == "POST" and scope["path"] == f"{CONTROL_PREFIX}/config":
                faults.restart()
            return
        config: FaultConfig = scope["app"].state.emulator.config.faults
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        if FORWARDED_HEADER in headers:
            await self.app(scope, receive, send)
            return
        plan = faults.plan(config, scope, headers)
        if plan.latency:
            faults.record("slow", scope, seconds=plan.latency)
            await asyncio.sleep(plan.latency)
        if plan.error is not None:
            await self._error(scope, receive, send, faults, config, plan.error)
        elif plan.upload_drop:
            await self._upload_drop(scope, receive, send, faults, config, headers)
        elif plan.short_store:
            scope.setdefault("state", {})[SHORT_STORE] = plan.short_store
            await self.app(scope, receive, send)
        elif plan.lost is not None:
            await self._lost(scope, receive, send, faults, plan.lost)
        elif plan.download_drop:
            await self._download_drop(scope, receive, send, faults, config)
        else:
            await self.app(scope, receive, send)

    async def _error(
        self, scope: Scope, receive: Receive, send: Send, faults: FaultState, config: FaultConfig, status: int
    ) -> None:
        await _drain(receive)
        body, headers = error_body(scope["path"], status)
        if status in (429, 503) and config.retry_after is not None:
            headers = {**headers, "retry-after": str(config.retry_after)}
        faults.record("error", scope, status=status)
        await _send_json(send, status, body, headers)

    async def _lost(self, scope: Scope, receive: Receive, send: Send, faults: FaultState, mode: str) -> None:
        """Run the handler to completion, swallow its answer, and send a 503 or drop the connection."""
        start: Message | None = None

        async def swallow(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message

        await self.app(scope, receive, swallow)
        handled = start["status"] if start is not None else None
        faults.record("lost", scope, mode=mode, handled_status=handled)
        if mode == "error":
            body, headers = error_body(scope["path"], 503, "The response was lost (injected by the emulator).")
            await _send_json(send, 503, body, headers)
            return
        await _drop(send, start)

    async def _upload_drop(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        faults: FaultState,
        config: FaultConfig,
        headers: dict[str, str],
    ) -> None:
        """Hand the handler part of the body, then a disconnect; the client's connection is dropped."""
        cut_at = _cut_point(_content_length(headers), config.cut_fraction)
        delivered = 0
        cut = False

        async def cut_receive() -> Message:
            nonlocal delivered, cut
            if cut:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] != "http.request":
                return message
            body = message.get("body", b"")
            if delivered + len(body) >= cut_at:
                body, cut = body[: cut_at - delivered], True
                delivered += len(body)
                return {"type": "http.request", "body": body, "more_body": True}
            delivered += len(body)
            if not message.get("more_body", False):
                cut = True  # the body was shorter than declared; disconnect on the next read
            return message

        async def swallow(message: Message) -> None:
            return None

        with contextlib.suppress(ClientDisconnect, Exception):  # whatever the handler made of the cut body
            await self.app(scope, cut_receive, swallow)
        faults.record("upload_drop", scope, delivered=delivered)
        await _drop(send)

    async def _download_drop(
        self, scope: Scope, receive: Receive, send: Send, faults: FaultState, config: FaultConfig
    ) -> None:
        """Pass a download's head and the first part of its body, then drop the connection."""
        state: dict[str, Any] = {"download": False, "sent": 0, "cut_at": 0}

        async def cutting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["download"] = _is_download(message)
                if state["download"]:
                    state["cut_at"] = _cut_point(_content_length(message.get("headers", [])), config.cut_fraction)
                await send(message)
                return
            if not state["download"] or message["type"] != "http.response.body":
                await send(message)
                return
            body = message.get("body", b"")
            room = state["cut_at"] - state["sent"]
            if len(body) < room:
                state["sent"] += len(body)
                await send(message)
                return
            await send({"type": "http.response.body", "body": body[:room], "more_body": True})
            state["sent"] += room
            faults.record("download_drop", scope, delivered=state["sent"])
            raise InjectedDisconnect("download dropped by the emulator's fault injection")

        await self.app(scope, receive, cutting_send)


def bytes_lost(request: Request, size: int) -> int:
    """How many of the ``size`` bytes of the file ``request`` finishes its short_store fault drops (0 without one),
    counted as injected; the handler cuts them from the file's end and reports the size stored."""
    lost: int = min(request.scope.get("state", {}).get(SHORT_STORE, 0), size)
    if lost:
        faults: FaultState = request.app.state.faults
        faults.record("short_store", request.scope, received=size, stored=size - lost)
    return lost


router = APIRouter(prefix=CONTROL_PREFIX, tags=["emulator control"])


@router.get("/faults")
async def get_faults(request: Request) -> dict[str, Any]:
    """Injected faults since the last reset: counts by kind, by injected status, and the latest events."""
    faults: FaultState = request.app.state.faults
    return faults.report()


def install(app: FastAPI) -> None:
    """Add fault injection to an emulator app: its state, the middleware and GET /_emulator/faults.

    Call it before the request log middleware is added, so that the log (outermost) still records
    every request a fault hit.
    """
    app.state.faults = FaultState()
    app.add_middleware(FaultMiddleware)
    app.include_router(router)
