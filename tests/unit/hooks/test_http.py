"""Shared HTTP plumbing: line splitting of streamed bytes, error bodies of every provider shape, redaction,
the guard that keeps auth headers on the connection's origin, and the bound on requests inside a pool."""

from __future__ import annotations

import asyncio
import gc
import json
import random
import tracemalloc
import weakref
from collections.abc import Iterator
from http.cookiejar import CookieJar

import httpx
import pytest

from airflow_provider_genai_batch.errors import NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.hooks import base as base_module
from airflow_provider_genai_batch.hooks import http as http_module
from airflow_provider_genai_batch.hooks.http import (
    MAX_ERROR_CHARS,
    POOL_LIMITS,
    ApiRequest,
    AsyncClientPool,
    ForeignHostGuard,
    PooledAsyncClient,
    Redactor,
    Resumes,
    Slots,
    Transport,
    build_request,
    error_from_response,
    iter_byte_lines,
    origin_of,
    send_async,
    send_in_slot,
    slots_of,
)
from airflow_provider_genai_batch.hooks.http_pool import PooledTransport
from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook

# --- iter_byte_lines -----------------------------------------------------------------------------------


def test_lines_split_across_chunks_are_joined():
    assert list(iter_byte_lines(iter([b'{"a"', b': 1}\n{"b', b'": 2}\n']))) == [b'{"a": 1}', b'{"b": 2}']


def test_crlf_split_between_chunks_is_removed():
    assert list(iter_byte_lines(iter([b"one\r", b"\ntwo\r\n"]))) == [b"one", b"two"]


def test_last_line_without_newline_is_yielded():
    assert list(iter_byte_lines(iter([b"one\ntwo"]))) == [b"one", b"two"]


def test_blank_lines_inside_are_kept_for_line_numbering_but_trailing_whitespace_is_not_a_line():
    assert list(iter_byte_lines(iter([b"one\n\nthree\n", b"  "]))) == [b"one", b"", b"three"]


def test_lines_are_yielded_as_soon_as_their_chunk_arrives():
    def chunks():
        yield b"first\nsec"
        raise AssertionError("read past the first chunk")

    assert next(iter_byte_lines(chunks())) == b"first"


LONG_LINE = 16 << 20
STREAM_CHUNK = 64 << 10


def _long_line_chunks() -> list[bytes]:
    """A 16 MiB line in 64 KiB chunks, its newline in a chunk of its own, then a short line."""
    line = b"x" * LONG_LINE
    return [line[start : start + STREAM_CHUNK] for start in range(0, LONG_LINE, STREAM_CHUNK)] + [b"\n", b"next\n"]


def test_a_long_line_arriving_in_many_chunks_is_yielded_whole_and_then_the_next():
    assert [len(line) for line in iter_byte_lines(iter(_long_line_chunks()))] == [LONG_LINE, 4]


def test_a_long_line_is_copied_once_not_again_with_every_chunk():
    """The bytes allocated while a long line streams in, summed over the chunks, are about the line once:
    adding each chunk to the pending bytes allocated the whole pending line again (quadratic)."""
    chunks = _long_line_chunks()
    allocated = 0
    level = 0

    def look() -> None:
        """Add how far traced memory rose above where it stood at the last look (its peak since)."""
        nonlocal allocated, level
        current, peak = tracemalloc.get_traced_memory()
        allocated += peak - level
        level = current
        tracemalloc.reset_peak()

    def measured() -> Iterator[bytes]:
        for chunk in chunks:
            look()
            yield chunk
        look()

    tracemalloc.start()
    try:
        look()
        allocated = 0
        lengths = [len(line) for line in iter_byte_lines(measured())]
    finally:
        tracemalloc.stop()
    assert lengths == [LONG_LINE, 4]
    assert LONG_LINE <= allocated < 1.5 * LONG_LINE


def test_a_long_line_is_held_once_while_it_is_split():
    """Beyond the chunks it is handed, splitting a long line allocates it once (its pieces joined); adding
    each chunk to the pending bytes held the pending line and its copy with the chunk added."""
    chunks = _long_line_chunks()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        lengths = [len(line) for line in iter_byte_lines(iter(chunks))]
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert lengths == [LONG_LINE, 4]
    assert peak < 1.5 * LONG_LINE


# --- error_from_response ---------------------------------------------------------------------------------

NO_SECRET = Redactor()


@pytest.mark.parametrize(
    ("status", "payload", "message", "provider_status"),
    [
        (
            400,
            {"error": {"code": 400, "message": "bad field", "status": "INVALID_ARGUMENT"}},
            "bad field",
            "INVALID_ARGUMENT",
        ),
        (
            401,
            {"error": {"message": "Incorrect API key", "type": "invalid_request_error"}},
            "Incorrect API key",
            "invalid_request_error",
        ),
        (429, {"error": {"message": "slow down", "code": 429}}, "slow down", "429"),
        (400, {"error": "plain text error"}, "plain text error", None),
        (
            400,
            {"message": "The security token included in the request is invalid."},
            "The security token included in the request is invalid.",
            None,
        ),
        (500, {"unexpected": True}, "Internal Server Error", None),
    ],
    ids=["google", "openai-anthropic", "code-only", "string", "aws", "unknown-shape"],
)
def test_error_bodies_of_every_shape_give_message_and_status(status, payload, message, provider_status):
    error = error_from_response(httpx.Response(status, json=payload), "p", NO_SECRET)
    assert type(error) is ProviderAPIError
    assert (error.http_status, error.message, error.provider_status, error.provider) == (
        status,
        message,
        provider_status,
        "p",
    )


def test_404_is_not_found():
    error = error_from_response(httpx.Response(404, json={"error": {"message": "gone"}}), "p", NO_SECRET)
    assert isinstance(error, NotFoundError)


def test_a_long_error_body_is_cut_to_max_error_chars_after_redaction():
    redact = Redactor("sk-secret-at-the-cut")
    body = "x" * (MAX_ERROR_CHARS - 5) + "sk-secret-at-the-cut" + "y" * 100
    error = error_from_response(httpx.Response(503, text=body), "p", redact)
    assert error.message == ("x" * (MAX_ERROR_CHARS - 5) + "***" + "y" * 100)[:MAX_ERROR_CHARS]
    assert "sk-se" not in error.message


def test_a_live_redactor_removes_a_secret_its_source_gained_after_it_was_made():
    held: list[str | None] = [None]
    redact = Redactor.live(lambda: held)

    held[0] = "ya29.fetched-later"

    assert redact("Bearer ya29.fetched-later") == "Bearer ***"


def test_every_secret_is_redacted_from_the_message():
    redact = Redactor("sk-one-secret", None, "", "second-secret")
    response = httpx.Response(400, json={"error": {"message": "sk-one-secret and second-secret, sk-one-secret"}})
    assert error_from_response(response, "p", redact).message == "*** and ***, ***"


# --- build_request: URLs resolved once, as httpx resolves them --------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "url", "sent"),
    [
        ("https://api.openai.com/v1", "batches/batch_1", "https://api.openai.com/v1/batches/batch_1"),
        ("https://api.openai.com/v1/", "/batches/batch_1", "https://api.openai.com/v1/batches/batch_1"),
        ("http://gw.test:8080", "v1beta/files/a%20b", "http://gw.test:8080/v1beta/files/a%20b"),
        ("https://api.test/v1", "https://upload.test/s?upload_id=7", "https://upload.test/s?upload_id=7"),
    ],
)
def test_a_request_goes_to_the_url_httpx_would_resolve(base_url, url, sent):
    client = httpx.AsyncClient(base_url=base_url)
    request = build_request(client, ApiRequest("GET", url), {})
    assert request.url == client.build_request("GET", url).url
    assert str(request.url) == sent


# --- origin_of and ForeignHostGuard ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://api.example.com/v1", ("https", "api.example.com", 443)),
        ("https://API.Example.COM:443/v1", ("https", "api.example.com", 443)),
        ("HTTPS://api.example.com", ("https", "api.example.com", 443)),
        ("http://api.example.com/x", ("http", "api.example.com", 80)),
        ("http://api.example.com:80", ("http", "api.example.com", 80)),
        ("http://api.example.com:8080/x", ("http", "api.example.com", 8080)),
        ("https://api.example.com:80/x", ("https", "api.example.com", 80)),
        ("http://127.0.0.1:9000/genai", ("http", "127.0.0.1", 9000)),
    ],
)
def test_origin_is_scheme_host_and_port_with_default_ports_filled_in(url, origin):
    assert origin_of(url) == origin


def guarded(base_url: str, url: str, auth: dict[str, str], **other: str) -> httpx.Headers:
    """The headers a request to ``url`` leaves with, from a client on ``base_url`` whose auth headers are ``auth``."""
    request = httpx.Request("GET", url, headers={**auth, **other})
    ForeignHostGuard(base_url, auth.keys())(request)
    return request.headers


PROVIDER_HEADERS = {
    "gemini": {"x-goog-api-key": "g-secret"},
    "openai": {"Authorization": "Bearer o-secret", "OpenAI-Organization": "org-1", "OpenAI-Project": "proj-1"},
    "anthropic": {"x-api-key": "a-secret", "anthropic-version": "2023-06-01"},
    "gateway": {"x-goog-api-key": "gw-secret", "x-model-provider": "openai"},
}


@pytest.mark.parametrize("headers", list(PROVIDER_HEADERS.values()), ids=list(PROVIDER_HEADERS))
@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/v1/batches",
        "https://API.EXAMPLE.com/v1/batches",
        "https://api.example.com:443/v1/batches",
        "https://api.example.com/upload/other/path?x=1",
    ],
    ids=["same", "uppercase-host", "explicit-default-port", "other-path"],
)
def test_a_request_to_the_connections_origin_keeps_every_auth_header(headers, url):
    kept = guarded("https://api.example.com", url, headers)
    assert {name: kept.get(name) for name in headers} == headers


@pytest.mark.parametrize("headers", list(PROVIDER_HEADERS.values()), ids=list(PROVIDER_HEADERS))
@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com:8443/v1/batches",
        "http://api.example.com/v1/batches",
        "http://api.example.com:443/v1/batches",
        "https://elsewhere.example.com/v1/batches",
        "https://api.example.com.evil.test/v1/batches",
    ],
    ids=["other-port", "other-scheme", "other-scheme-same-port", "other-host", "host-suffix"],
)
def test_a_request_outside_the_connections_origin_carries_no_auth_header(headers, url):
    sent = guarded("https://api.example.com", url, headers, accept="application/json")
    assert not {name.lower() for name in headers} & set(sent.keys())
    assert sent["accept"] == "application/json"  # only the auth headers go


def test_an_http_base_url_on_a_custom_port_is_its_own_origin():
    headers = {"x-goog-api-key": "g-secret"}
    assert guarded("http://127.0.0.1:9000/genai", "http://127.0.0.1:9000/v1/files/x", headers).get("x-goog-api-key")
    assert "x-goog-api-key" not in guarded("http://127.0.0.1:9000/genai", "http://127.0.0.1:9001/x", headers)
    assert "x-goog-api-key" not in guarded("http://127.0.0.1:9000/genai", "http://127.0.0.1/x", headers)


async def test_the_async_guard_drops_the_same_headers():
    request = httpx.Request("GET", "https://api.example.com:8443/x", headers={"x-api-key": "a-secret"})
    await ForeignHostGuard("https://api.example.com", ["x-api-key"]).on_async_request(request)
    assert "x-api-key" not in request.headers


# --- the pooled client's cookies ------------------------------------------------------------------------


def cookie_server(sent: list[str | None]) -> httpx.MockTransport:
    """Answers ``/login`` with a ``Set-Cookie`` and anything else without one; records each request's Cookie."""

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("cookie"))
        if request.url.path == "/login":
            return httpx.Response(200, headers={"set-cookie": "session=abc; Path=/"}, json={})
        return httpx.Response(200, json={})

    return httpx.MockTransport(handle)


async def test_the_pooled_client_sends_back_a_cookie_a_response_set():
    sent: list[str | None] = []
    async with PooledAsyncClient(base_url="https://api.example.com", transport=cookie_server(sent)) as client:
        await client.get("/login")
        await client.get("/batches/b1")
    assert sent == [None, "session=abc"]


async def test_a_response_that_sets_no_cookie_keeps_the_cookies_set_before():
    sent: list[str | None] = []
    async with PooledAsyncClient(base_url="https://api.example.com", transport=cookie_server(sent)) as client:
        await client.get("/login")
        await client.get("/batches/b1")
        await client.get("/batches/b1")
    assert sent[-1] == "session=abc" and dict(client.cookies) == {"session": "abc"}


async def test_only_a_response_that_sets_a_cookie_is_read_by_the_cookie_jar(monkeypatch):
    read: list[str] = []
    extract = CookieJar.extract_cookies

    def recording(jar: CookieJar, response: object, request: object) -> None:
        read.append(request.get_full_url())  # type: ignore[attr-defined]
        extract(jar, response, request)  # type: ignore[arg-type]

    monkeypatch.setattr(CookieJar, "extract_cookies", recording)
    async with PooledAsyncClient(base_url="https://api.example.com", transport=cookie_server([])) as client:
        await client.get("/login")
        await client.get("/batches/b1")
    assert read == ["https://api.example.com/login"]


async def test_cookies_given_to_the_pooled_client_are_sent():
    sent: list[str | None] = []
    transport = cookie_server(sent)
    async with PooledAsyncClient(base_url="https://api.example.com", transport=transport, cookies={"a": "1"}) as client:
        await client.get("/batches/b1")
    assert sent == ["a=1"]


async def test_a_cookie_jar_given_to_the_pooled_client_receives_the_cookies_responses_set():
    jar = CookieJar()
    async with PooledAsyncClient(
        base_url="https://api.example.com", transport=cookie_server([]), cookies=jar
    ) as client:
        await client.get("/login")
    assert [cookie.name for cookie in jar] == ["session"]


# --- slots: no more requests inside a pool than it has connections ---------------------------------------


class HeldPool(httpx.AsyncBaseTransport):
    """Stands where the connection pool is: counts the requests inside it and holds each until ``open()``."""

    def __init__(self) -> None:
        self.inside = 0
        self.most_inside = 0
        self.seen: list[str] = []
        self.gate = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.url.path)
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        try:
            await self.gate.wait()
        finally:
            self.inside -= 1
        body = json.dumps({"path": request.url.path}).encode()
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=Body(body))

    def open(self) -> None:
        self.gate.set()


class Body(httpx.AsyncByteStream):
    """A response body read off the wire, as a real pool's is (an in-memory ``Response`` arrives already read)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self):
        yield self.data


@pytest.fixture
def connections(monkeypatch):
    """``connections(n)``: pooled clients get ``n`` connections, so ``n`` slots."""

    def set_to(count: int) -> None:
        monkeypatch.setattr(http_module, "POOL_LIMITS", httpx.Limits(max_connections=count))

    return set_to


def client_on(pool: httpx.AsyncBaseTransport, pool_timeout: float | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url="http://api.test", timeout=httpx.Timeout(5.0, pool=pool_timeout), transport=pool)


def poll(client: httpx.AsyncClient, path: str) -> asyncio.Task[httpx.Response]:
    return asyncio.create_task(send_in_slot(client, lambda: client.build_request("GET", path)))


async def until(condition, turns: int = 1000) -> None:
    """Let other tasks run until ``condition()`` holds (a bounded number of loop turns, no clock)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def waiting(slots: Slots) -> int:
    return slots.waiting


async def one_slot_held(
    name: str, pool_timeout: float | None = None
) -> tuple[HeldPool, httpx.AsyncClient, asyncio.Task[httpx.Response]]:
    """A client with one connection, taken by a poll of ``/batches/{name}`` that its pool holds unanswered."""
    pool = HeldPool()
    client = client_on(pool, pool_timeout)
    held = poll(client, f"/batches/{name}")
    await until(lambda: pool.inside == 1)
    return pool, client, held


async def test_many_concurrent_polls_never_put_more_requests_in_the_pool_than_it_has_connections(connections):
    connections(3)
    pool = HeldPool()
    client = client_on(pool)
    transport = Transport(auth={"x-api-key": "k"}, to_error=lambda r: ProviderAPIError("no", provider="p"))
    polls = [asyncio.create_task(send_async(client, ApiRequest("GET", f"/batches/{n}"), transport)) for n in range(50)]

    await until(lambda: waiting(slots_of(client)) == 47)
    assert pool.inside == 3 and slots_of(client).locked()
    assert not any(p.done() for p in polls)

    pool.open()
    responses = await asyncio.gather(*polls)
    assert [r.json()["path"] for r in responses] == [f"/batches/{n}" for n in range(50)]
    assert pool.most_inside == 3
    assert not slots_of(client).locked()


async def test_polls_enter_the_pool_in_the_order_they_asked(connections):
    connections(1)
    pool = HeldPool()
    client = client_on(pool)
    polls = [poll(client, f"/batches/{n}") for n in range(5)]
    await until(lambda: waiting(slots_of(client)) == 4)
    pool.open()
    await asyncio.gather(*polls)
    assert pool.seen == [f"/batches/{n}" for n in range(5)]


async def test_a_poll_cancelled_while_waiting_for_a_slot_gives_its_place_back(connections):
    connections(1)
    pool = HeldPool()
    client = client_on(pool)
    first = poll(client, "/batches/first")
    cancelled = poll(client, "/batches/cancelled")
    await until(lambda: pool.inside == 1 and waiting(slots_of(client)) == 1)

    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    pool.open()
    await first
    third = await poll(client, "/batches/third")

    assert third.status_code == 200
    assert pool.seen == ["/batches/first", "/batches/third"]
    assert not slots_of(client).locked()


async def test_a_slot_handed_to_a_poll_cancelled_at_that_moment_goes_to_the_next_in_line():
    slots = Slots(1)
    await slots.take(None)
    handed = asyncio.create_task(slots.take(None))
    after = asyncio.create_task(slots.take(None))
    await until(lambda: slots.waiting == 2)

    slots.release()  # the slot is handed to the first waiter...
    handed.cancel()  # ...whose task is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await handed

    await asyncio.wait_for(after, 1.0)
    assert slots.locked() and slots.waiting == 0
    slots.release()
    assert slots.free == 1


class Builder:
    """Builds one GET on ``client`` when called, counting the calls."""

    def __init__(self, client: httpx.AsyncClient, path: str) -> None:
        self.client, self.path, self.built = client, path, 0

    def __call__(self) -> httpx.Request:
        self.built += 1
        return self.client.build_request("GET", self.path, headers={"authorization": "Bearer sk-secret"})


async def test_a_poll_waiting_for_a_slot_has_not_built_its_request_yet(connections):
    connections(1)
    pool, client, first = await one_slot_held("first")
    second = Builder(client, "/batches/second")
    waiting = asyncio.create_task(send_in_slot(client, second))
    await until(lambda: slots_of(client).waiting == 1)

    assert second.built == 0
    pool.open()
    await first
    assert (await waiting).status_code == 200
    assert second.built == 1


async def test_a_poll_that_timed_out_waiting_for_a_slot_is_not_kept(connections):
    connections(1)
    pool, client, first = await one_slot_held("first", pool_timeout=0.001)
    second = Builder(client, "/batches/second")
    kept = weakref.ref(second)

    with pytest.raises(httpx.PoolTimeout) as raised:
        await send_in_slot(client, second)
    assert raised.value.request.url.path == "/batches/second"
    del second, raised
    await asyncio.sleep(0)  # the loop runs the callbacks the timeout scheduled
    gc.collect()

    assert kept() is None
    assert slots_of(client).waiting == 0
    pool.open()
    await first


@pytest.mark.parametrize("seed", range(12))
async def test_slots_are_neither_lost_nor_doubled_whatever_is_cancelled_or_times_out(seed: int):
    rnd = random.Random(seed)
    count, slots, held, broken = 3, Slots(3), 0, []

    async def worker() -> None:
        nonlocal held
        for _ in range(30):
            try:
                await slots.take(rnd.choice([None, 0, 0.0005, 0.001, 0.003]))
            except TimeoutError:
                continue
            held += 1
            if held > count:
                broken.append(f"{held} held")
            try:
                if rnd.random() < 0.6:
                    await asyncio.sleep(rnd.choice([0, 0.0005, 0.001]))
            finally:
                held -= 1
                slots.release()

    workers = [asyncio.create_task(worker()) for _ in range(40)]
    for _ in range(100):
        await asyncio.sleep(rnd.choice([0, 0, 0.0005]))
        if slots.free and slots.waiting:
            broken.append("a slot free while requests wait")
        victim = rnd.choice(workers)
        if not victim.done():
            victim.cancel()
            workers.append(asyncio.create_task(worker()))
    await asyncio.gather(*workers, return_exceptions=True)

    assert broken == []
    assert (slots.free, held, slots.waiting) == (count, 0, 0)


async def test_waiting_for_slots_sets_one_timer_however_many_wait(connections, monkeypatch):
    connections(1)
    pool = HeldPool()
    client = client_on(pool, pool_timeout=60.0)
    loop = asyncio.get_running_loop()
    timers: list[float] = []
    call_at = loop.call_at
    monkeypatch.setattr(loop, "call_at", lambda when, *args, **kw: timers.append(when) or call_at(when, *args, **kw))
    polls = [poll(client, f"/batches/{n}") for n in range(20)]
    await until(lambda: waiting(slots_of(client)) == 19)

    pool.open()
    await asyncio.gather(*polls)
    assert len(timers) == 1


async def test_a_poll_cancelled_inside_the_pool_frees_its_slot(connections):
    connections(1)
    pool, client, stuck = await one_slot_held("stuck")
    assert slots_of(client).locked()

    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck

    assert pool.inside == 0 and not slots_of(client).locked()


async def test_a_streamed_response_holds_its_slot_until_it_is_closed(connections):
    connections(1)
    pool = HeldPool()
    pool.open()
    client = client_on(pool)
    response = await send_in_slot(client, lambda: client.build_request("GET", "/files/f/content"), stream=True)
    assert slots_of(client).locked()
    assert await response.aread()
    assert not slots_of(client).locked()


async def test_a_streamed_response_that_arrives_already_read_frees_its_slot_at_once(connections):
    connections(1)
    client = client_on(httpx.MockTransport(lambda request: httpx.Response(200, content=b"done")))
    response = await send_in_slot(client, lambda: client.build_request("GET", "/files/f/content"), stream=True)
    assert not slots_of(client).locked()
    assert await response.aread() == b"done"


async def test_waiting_for_a_slot_longer_than_the_pool_timeout_is_a_pool_timeout(connections):
    connections(1)
    pool, client, first = await one_slot_held("first", pool_timeout=0.01)

    with pytest.raises(httpx.PoolTimeout):
        await poll(client, "/batches/second")

    pool.open()
    assert (await first).status_code == 200
    assert pool.seen == ["/batches/first"] and not slots_of(client).locked()


async def test_a_hooks_pooled_client_has_as_many_connections_as_slots(monkeypatch):
    monkeypatch.setattr(base_module, "ASYNC_CLIENTS", AsyncClientPool())
    monkeypatch.setenv(
        "AIRFLOW_CONN_BOUNDED_UNIT", '{"conn_type": "genaiopenai", "host": "http://openai.test/v1", "password": "k"}'
    )
    client = await OpenAIBatchHook(conn_id="bounded_unit").aget_conn()

    assert isinstance(client._transport, PooledTransport)
    assert client._transport.pool._max_connections == POOL_LIMITS.max_connections
    assert slots_of(client).free == POOL_LIMITS.max_connections
    assert client is await OpenAIBatchHook(conn_id="bounded_unit").aget_conn()


async def test_a_hooks_pooled_client_goes_through_the_proxy_the_environment_names(monkeypatch):
    """A forward proxy on loopback sees the absolute-form request; NO_PROXY hosts bypass it."""
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head.split(b"\r\n", 1)[0])
        body = b'{"id": "batch_1", "status": "in_progress"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("NO_PROXY", "bypassed.test")
    monkeypatch.setattr(base_module, "ASYNC_CLIENTS", AsyncClientPool())
    monkeypatch.setenv(
        "AIRFLOW_CONN_PROXIED_UNIT", '{"conn_type": "genaiopenai", "host": "http://openai.test/v1", "password": "k"}'
    )
    async with server:
        client = await OpenAIBatchHook(conn_id="proxied_unit").aget_conn()
        response = await client.get("/batches/batch_1")

    assert response.json()["id"] == "batch_1"
    assert seen == [b"GET http://openai.test/v1/batches/batch_1 HTTP/1.1"]
    assert isinstance(client._transport_for_url(httpx.URL("http://bypassed.test/v1")), PooledTransport)


# --- resumes of one transfer --------------------------------------------------------------------------


def test_resumes_fail_after_the_limit_in_a_row_without_progress():
    resumes = Resumes(2)
    assert [resumes.another(100), resumes.another(100), resumes.another(100)] == [True, True, False]


def test_a_resume_from_further_on_starts_the_count_again():
    resumes = Resumes(2)
    assert [resumes.another(at) for at in (100, 100, 200, 200, 300, 300, 300)] == [
        True,
        True,
        True,
        True,
        True,
        True,
        False,
    ]


def test_the_first_resume_before_any_byte_counts_against_the_limit():
    resumes = Resumes(1)
    assert [resumes.another(0), resumes.another(0)] == [True, False]
