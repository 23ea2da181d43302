"""Shared HTTP plumbing: request descriptions, sync/async drivers, error mapping, pooled async clients.

Provider calls are written once as generators ("operations") that yield :class:`ApiRequest` and receive
``httpx.Response``; :func:`run_sync` and :func:`run_async` drive the same operation over a sync or an
async client, so no protocol logic is written twice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import io
import json
import time
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Generic, TypeVar, cast
from xml.etree import ElementTree

import httpx
from httpx._types import CookieTypes
from httpx._utils import get_environment_proxies  # the same reading of the environment httpx does
from pydantic import ValidationError

from airflow_provider_genai_batch.errors import GenAIBatchError, NotFoundError, ProviderAPIError, UnreadableAnswerError
from airflow_provider_genai_batch.hooks.alarm import Alarm
from airflow_provider_genai_batch.hooks.retry import (
    IDEMPOTENT_METHODS,
    NO_RETRY,
    Attempts,
    RetryPolicy,
    TransientFailure,
    is_transient,
    retry_after,
)

T = TypeVar("T")

REDIRECTED_METHODS = frozenset({"GET", "HEAD"})
"""The methods whose calls follow a redirect (see :attr:`ApiRequest.follows_redirects`)."""


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request, described but not sent. ``url`` is relative to the client's base URL or absolute.

    ``content`` may be an iterable of byte chunks (streamed, never joined); ``files`` and ``data`` make a
    streamed multipart body, as httpx reads file objects in chunks. ``retry`` says whether a transient
    failure may be retried (default: for idempotent methods); a ``resumable`` request's transient failure
    is instead thrown into its operation as :class:`TransientFailure`, which recovers by itself. A 2xx answers a
    request, and so do the statuses in ``answers`` (Cloud Storage's 308 Resume Incomplete); any other is an error.
    """

    method: str
    url: str
    params: Mapping[str, str | int] | None = None
    json: Any = None
    content: bytes | Iterable[bytes] | None = None
    files: Mapping[str, Any] | None = None
    data: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    authenticated: bool = True
    retry: bool | None = None
    resumable: bool = False
    answers: frozenset[int] = frozenset()

    @property
    def retryable(self) -> bool:
        """Whether a transient failure of this request may simply be sent again."""
        return self.method in IDEMPOTENT_METHODS if self.retry is None else self.retry

    @property
    def follows_redirects(self) -> bool:
        """Whether a redirect of this request is followed: only a GET's or a HEAD's. Any other call would be sent
        again elsewhere, or turned into a GET (as httpx, like browsers, does on a 301, 302 or 303), and its answer
        taken for the call's: a create redirected to a job's page would be taken to have made that job."""
        return self.method in REDIRECTED_METHODS

    def answered_by(self, response: httpx.Response) -> bool:
        """Whether ``response`` answers this request (a 2xx, or a status it names in ``answers``)."""
        return response.is_success or response.status_code in self.answers


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and the token of the next, if any."""

    items: list[T]
    next_token: str | None


Operation = Generator[ApiRequest, httpx.Response, T]


class Redactor:
    """Removes secrets from any text that could reach a log or an exception."""

    def __init__(self, *secrets: str | None) -> None:
        fixed = tuple(s for s in secrets if s)
        self._secrets: Callable[[], Iterable[str | None]] = lambda: fixed

    @classmethod
    def live(cls, secrets: Callable[[], Iterable[str | None]]) -> Redactor:
        """A redactor that asks ``secrets`` at every call, so a token fetched or refreshed after it was made (while
        results are read with it, say) is removed too."""
        redactor = cls()
        redactor._secrets = secrets
        return redactor

    def __call__(self, text: str) -> str:
        for secret in self._secrets():
            if secret:
                text = text.replace(secret, "***")
        return text


MAX_ERROR_CHARS = 2000
SHOWN_URL_CHARS = 200
"""Characters of a redirect's target an error shows."""


def redirect_note(response: httpx.Response) -> str | None:
    """What an error says first about the redirects of a call: a redirect (3xx) that answered it, where it pointed
    and why it was not followed; or a redirect that took it to another origin, where the connection's credentials
    are not sent (an ``http://`` base URL the API moves to ``https://``, answered there 401 for want of the key).
    None when neither happened. URLs are shown without their query."""
    if response.is_redirect:
        request = response.request
        said = f"{request.method} {request.url.path} was answered HTTP {response.status_code}"
        location = response.headers.get("location")
        if not location:
            return f"{said}, a redirect with no Location to follow"
        try:
            target = shown_url(request.url.join(location))
        except httpx.InvalidURL:
            target = location[:SHOWN_URL_CHARS]
        return (
            f"{said}, a redirect to {target}, which is not followed: only GET and HEAD calls follow redirects, as "
            "any other would be sent again elsewhere or turned into a GET (check the connection's base URL, its "
            "scheme and host, and any proxy in front of the API)"
        )
    if not response.history:
        return None
    first, last = response.history[0].request, response.request
    if origin_of(first.url) != origin_of(last.url):
        return (
            f"{first.method} {first.url.path} was redirected to {shown_url(last.url)}, another origin than the one "
            "it was sent to, where the connection's credentials are not sent (give the connection the base URL the "
            "API answers on)"
        )
    return None


def shown_url(url: str | httpx.URL) -> str:
    """A URL as an error or a log shows it: without its query or fragment (an upload session's id there lets anyone
    who has it upload into the session), cut to length."""
    parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    return str(parsed.copy_with(query=None, fragment=None))[:SHOWN_URL_CHARS]


def redirect_loop(request: ApiRequest, limit: int) -> GenAIBatchError:
    """The error for a call redirected more than ``limit`` times (httpx's TooManyRedirects names no call)."""
    return GenAIBatchError(
        f"{request.method} {shown_url(request.url)} was redirected more than {limit} times, a redirect loop "
        "(check the connection's base URL, its scheme and host, and any proxy in front of the API)"
    )


def error_text(response: httpx.Response, message: str | None, redact: Redactor) -> str:
    """An error answer's message for an exception: a redirect's note first, redacted whole, then cut to length (so
    no fragment of a secret survives)."""
    text = message or response.reason_phrase or "request failed"
    note = redirect_note(response)
    return redact(f"{note}: {text}" if note else text)[:MAX_ERROR_CHARS]


def error_from_response(response: httpx.Response, provider: str, redact: Redactor) -> ProviderAPIError:
    """Map an error response to a typed exception, reading the provider's ``{"error": ...}`` body.

    The whole message is redacted before it is cut to length, so no fragment of a secret survives.
    """
    message, provider_status = _parse_error_body(response)
    cls = NotFoundError if response.status_code == 404 else ProviderAPIError
    return cls(
        error_text(response, message, redact),
        http_status=response.status_code,
        provider_status=provider_status,
        provider=provider,
    )


UNREADABLE = (json.JSONDecodeError, ElementTree.ParseError, ValidationError, LookupError, TypeError, AttributeError)
"""What an operation raises when a success answer's body is not what the API returns: not JSON (or XML), not an
object, a field missing or of another type."""
BODY_SHOWN = 200
"""Characters of an unreadable answer's body an error shows."""


def unreadable_answer(response: httpx.Response, error: Exception, provider: str, redact: Redactor) -> ProviderAPIError:
    """The error for a success answer whose body an operation could not read: the call, the status, what the body is
    and how it begins (redacted), and why it could not be read."""
    request = response.request
    kind = response.headers.get("content-type") or "no content type"
    shown = redact(response.content[: 10 * BODY_SHOWN].decode("utf-8", "replace"))[:BODY_SHOWN]
    note = redirect_note(response)
    return UnreadableAnswerError(
        (f"{redact(note)}: " if note else "")
        + f"{request.method} {request.url.path} answered HTTP {response.status_code} with a body that is not the API's "
        f"answer ({type(error).__name__}: {redact(str(error))[:BODY_SHOWN]}); it is {kind}, "
        f"{len(response.content)} bytes, starting {shown!r} (a proxy or gateway in front of the API, or a base URL "
        "that is not the API's, answers like this)",
        http_status=response.status_code,
        provider=provider,
    )


def _parse_error_body(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return (response.text or None), None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        status = error.get("status") or error.get("type") or error.get("code")
        return error.get("message"), (str(status) if status is not None else None)
    if isinstance(error, str):
        return error, None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"], None
    return None, None


def build_request(
    client: httpx.Client | httpx.AsyncClient, request: ApiRequest, auth: Mapping[str, str]
) -> httpx.Request:
    """Turn an :class:`ApiRequest` into an ``httpx.Request`` on ``client``, adding auth headers if wanted."""
    headers = {**(auth if request.authenticated else {}), **request.headers}
    chunks = request.content
    content: bytes | Iterable[bytes] | AsyncIterator[bytes] | None = chunks
    if isinstance(client, httpx.AsyncClient) and chunks is not None and not isinstance(chunks, bytes):
        content = _as_async(chunks)
    return client.build_request(
        request.method,
        absolute_url(str(client.base_url), request.url),
        params=dict(request.params) if request.params else None,
        json=request.json,
        content=content,
        files=request.files,
        data=request.data,
        headers=headers,
    )


@functools.lru_cache(maxsize=4096)
def absolute_url(base_url: str, url: str) -> httpx.URL:
    """``url`` resolved against a client's ``base_url`` as httpx does, parsed once for all the polls of a job.

    httpx parses a relative URL and the merged one again on every request (a fifth of a poll's CPU);
    an absolute ``httpx.URL`` passes through it untouched.
    """
    merged = httpx.URL(url)
    if not merged.is_relative_url:
        return merged
    base = httpx.URL(base_url)
    return base.copy_with(raw_path=base.raw_path + merged.raw_path.lstrip(b"/"))


async def _as_async(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    """A sync chunk stream (a local spool file) as the async stream an AsyncClient needs."""
    for chunk in chunks:
        yield chunk


ErrorMapper = Callable[[httpx.Response], ProviderAPIError]
RetryObserver = Callable[[ApiRequest, str, float], None]
UnreadableMapper = Callable[[httpx.Response, Exception], ProviderAPIError]


@dataclass
class Transport:
    """What a driver needs besides the client: auth headers, error mapping, retry policy, retry observer, and the
    error for a success answer an operation could not read (None: what the operation raised, as it is)."""

    auth: Mapping[str, str]
    to_error: ErrorMapper
    policy: RetryPolicy = NO_RETRY
    on_retry: RetryObserver | None = None
    unreadable: UnreadableMapper | None = None

    def answer(self, operation: Operation[T], response: httpx.Response) -> ApiRequest:
        """Hand ``response`` to ``operation`` and return its next request; a body it could not read is raised as
        ``unreadable`` says."""
        try:
            return operation.send(response)
        except UNREADABLE as err:
            if self.unreadable is None:
                raise
            raise self.unreadable(response, err) from err

    def resume_wait(self, failure: TransientFailure, streak: int) -> float:
        """Seconds to wait before an operation recovers from the ``streak``-th resumable failure in a row: the
        server's ``Retry-After``, else the policy's backoff, so a throttled upload is not sent again at once."""
        asked = retry_after(failure.response)
        return self.policy.backoff(streak) if asked is None else min(asked, self.policy.max_backoff)

    def verdict(
        self, request: ApiRequest, attempts: Attempts, response: httpx.Response | None, error: Exception | None
    ) -> float:
        """After a failed try: seconds to wait before retrying, or raise what the caller should see."""
        if response is not None and not is_transient(response):
            refused = self.to_error(response)
            refused.method = request.method
            raise refused
        if request.resumable:
            raise TransientFailure(response, error if isinstance(error, httpx.TransportError) else None)
        rate_limited = response is not None and response.status_code == 429  # refused, so nothing was done
        wait = attempts.next_wait(response) if request.retryable or rate_limited else None
        if wait is None:
            if response is not None:
                given_up = self.to_error(response)
                given_up.method = request.method
                given_up.retry_after = retry_after(response)  # what a later call (the next poll) should wait at least
                raise given_up
            assert error is not None
            raise error
        reason = f"HTTP {response.status_code}" if response is not None else type(error).__name__
        if self.on_retry is not None:
            self.on_retry(request, reason, wait)
        return wait


def send_sync(
    client: httpx.Client, request: ApiRequest, transport: Transport, *, stream: bool = False
) -> httpx.Response:
    """Send one request, retrying transient failures as ``transport.policy`` allows."""
    attempts = Attempts(transport.policy)
    while True:
        response, error = None, None
        try:
            response = client.send(
                build_request(client, request, transport.auth),
                stream=stream,
                follow_redirects=request.follows_redirects,
            )
        except httpx.TransportError as err:
            error = err
        except httpx.TooManyRedirects:
            raise redirect_loop(request, client.max_redirects) from None
        if response is not None and request.answered_by(response):
            return response
        if response is not None:
            response.read()
            response.close()
        time.sleep(transport.verdict(request, attempts, response, error))


async def send_async(
    client: httpx.AsyncClient, request: ApiRequest, transport: Transport, *, stream: bool = False
) -> httpx.Response:
    """Send one request over an async client, retrying transient failures as ``transport.policy`` allows."""
    attempts = Attempts(transport.policy)
    while True:
        response, error = None, None
        try:
            response = await send_in_slot(
                client,
                functools.partial(build_request, client, request, transport.auth),
                stream=stream,
                follow_redirects=request.follows_redirects,
            )
        except httpx.TransportError as err:
            error = err
        except httpx.TooManyRedirects:
            raise redirect_loop(request, client.max_redirects) from None
        if response is not None and request.answered_by(response):
            return response
        if response is not None:
            await response.aread()
            await response.aclose()
        await asyncio.sleep(transport.verdict(request, attempts, response, error))


def run_sync(client: httpx.Client, operation: Operation[T], transport: Transport) -> T:
    """Drive ``operation`` to completion over a sync client.

    A request's failure (a :class:`TransientFailure` for a resumable one, else what ends it once it will not be
    tried again) is raised inside the operation, at the request's ``yield``: one that does not catch it ends with
    it as it is, and one holding something the provider bills for (a multipart upload's parts) can let it go first.
    A resumable failure is raised after the wait :meth:`Transport.resume_wait` gives, growing with the failures
    since a resumable request last succeeded.
    """
    streak = 0
    try:
        request = next(operation)
        while True:
            try:
                response = send_sync(client, request, transport)
            except TransientFailure as failure:
                streak += 1
                time.sleep(transport.resume_wait(failure, streak))
                request = operation.throw(failure)
                continue
            except Exception as failure:  # raised at the request's yield (see above)
                request = operation.throw(failure)
                continue
            streak = 0 if request.resumable else streak
            request = transport.answer(operation, response)
    except StopIteration as done:
        return cast(T, done.value)  # StopIteration.value is untyped; an Operation[T] returns a T
    finally:
        operation.close()


async def run_async(client: httpx.AsyncClient, operation: Operation[T], transport: Transport) -> T:
    """Drive ``operation`` to completion over an async client, as :func:`run_sync` does."""
    streak = 0
    try:
        request = next(operation)
        while True:
            try:
                response = await send_async(client, request, transport)
            except TransientFailure as failure:
                streak += 1
                await asyncio.sleep(transport.resume_wait(failure, streak))
                request = operation.throw(failure)
                continue
            except Exception as failure:  # raised at the request's yield: see run_sync
                request = operation.throw(failure)
                continue
            streak = 0 if request.resumable else streak
            request = transport.answer(operation, response)
    except StopIteration as done:
        return cast(T, done.value)  # StopIteration.value is untyped; an Operation[T] returns a T
    finally:
        operation.close()


def iter_byte_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Split a stream of byte chunks into lines (without line endings), holding at most one line.

    Each chunk is searched once and a line's pieces are joined once, when its newline comes: work is linear
    in the bytes however long a line is (adding each chunk to the pending bytes copied them all again).
    """
    pieces: list[bytes] = []
    for chunk in chunks:
        *lines, rest = chunk.split(b"\n")
        if lines:
            if pieces:
                pieces.append(lines[0])
                lines[0] = b"".join(pieces)
                pieces.clear()
            for line in lines:
                yield line.rstrip(b"\r")
        if rest:
            pieces.append(rest)
    pending = b"".join(pieces)
    if pending.strip():
        yield pending.rstrip(b"\r")


class StreamSlice:
    """The next ``length`` bytes of a stream, read in small pieces while they are sent.

    httpx keeps each sent request alive in a reference cycle until the garbage collector runs, so a
    chunk handed over as one ``bytes`` object would pile up; a slice holds nothing once it is spent.
    Short reads (pipes, sockets) are read again, so chunks stay whole. ``exhausted`` tells a stream that
    ran dry from a send that stopped early (a dropped connection).
    """

    PIECE = 1 << 20

    def __init__(self, stream: IO[bytes], length: int) -> None:
        self.stream = stream
        self.length = length
        self.sent = 0
        self.exhausted = False

    def __iter__(self) -> Iterator[bytes]:
        while self.sent < self.length:
            piece = self.stream.read(min(self.PIECE, self.length - self.sent))
            if not piece:
                self.exhausted = True
                return
            self.sent += len(piece)
            yield piece


SESSION_GONE = frozenset({404, 410})
"""What a resumable upload session the server no longer knows (it expired) answers."""


class SessionGone(Exception):
    """A resumable upload session answered 404 or 410: it expired, and what it held is lost."""

    def __init__(self, status: int, offset: int) -> None:
        self.status, self.offset = status, offset
        super().__init__(f"HTTP {status}")


class Resumes:
    """The resumes of one transfer, counted since the last one that found it further on: a long transfer through
    many faults still ends, and one that stops moving fails after ``limit`` resumes in a row."""

    __slots__ = ("_at", "_count", "limit")

    def __init__(self, limit: int) -> None:
        self.limit, self._count, self._at = limit, 0, 0

    def another(self, at: int) -> bool:
        """Count a resume from byte ``at``; False once it is past ``limit`` resumes without progress."""
        self._count = 1 if at > self._at else self._count + 1
        self._at = at
        return self._count <= self.limit


class StreamWindow:
    """The next ``length`` bytes of a stream as a file object of their own, starting at byte 0.

    httpx's multipart reads a file object from ``seek(0)`` on every send and takes its length from the file's
    descriptor, so a stream positioned past its start (an input read from after its byte-order mark) went up
    whole, the bytes before that position too. A window rewinds only to where the stream stood and ends
    ``length`` bytes later; it has no descriptor, so httpx measures it by seeking. A stream that cannot seek
    cannot be rewound: its window refuses to seek, and httpx then streams it once, of unknown length.
    """

    def __init__(self, stream: IO[bytes], length: int) -> None:
        self._stream = stream
        self._origin = stream.tell() if stream.seekable() else None
        self._length = length
        self._pos = 0

    def seekable(self) -> bool:
        return self._origin is not None

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self._origin is None:
            raise io.UnsupportedOperation("the stream under this window cannot seek")
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = min(max(base + offset, 0), self._length)
        self._stream.seek(self._origin + self._pos)
        return self._pos

    def read(self, size: int = -1) -> bytes:
        left = self._length - self._pos
        piece = self._stream.read(left if size < 0 else min(size, left))
        self._pos += len(piece)
        return piece


DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int | None]
"""A URL's scheme, host and port: where a credential may be sent."""


def origin_of(url: str | httpx.URL) -> Origin:
    """The origin of an absolute URL, case-folded, with the scheme's default port filled in.

    ``https://API.example.com:443/x`` and ``https://api.example.com/y`` have the same origin;
    ``http://`` on the same host, or another port, do not.
    """
    parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    scheme = parsed.scheme.lower()
    port = parsed.port if parsed.port is not None else DEFAULT_PORTS.get(scheme)
    return scheme, parsed.host.lower(), port


SIGNED_HEADERS = ("authorization", "x-amz-security-token")
"""The credentials an ``httpx.Auth`` puts on a request: a bearer token, or a SigV4 signature and its session token."""
FIRST_ORIGIN = "genai_batch.first_origin"
"""The request extension holding the origin a call was first sent to; httpx copies a request's extensions into the
request its redirect makes, so a redirected request still knows where its credentials were meant to go."""


class ForeignHostGuard:
    """Drops auth headers from any request outside the connection's origins (scheme, host and port): a redirect
    elsewhere, even to another port or scheme of the same host, must not carry the key (httpx strips only
    ``Authorization``, and keeps it on an http-to-https redirect).

    A redirect away from the origin its call was first sent to also loses what a signer put on that call
    (``Authorization``, ``X-Amz-Security-Token``): a SigV4 request to S3 is signed for its bucket's host, outside the
    connection's origin, and httpx carries its session token, and over an http-to-https redirect its signature, to
    wherever the redirect points."""

    def __init__(self, base_url: str, header_names: Iterable[str]) -> None:
        self.origins = frozenset({origin_of(base_url)})
        self.header_names = tuple(header_names)

    def __call__(self, request: httpx.Request) -> None:
        origin = origin_of(request.url)
        first = request.extensions.setdefault(FIRST_ORIGIN, origin)
        dropped = () if origin in self.origins else self.header_names
        if origin != first:
            dropped = (*dropped, *SIGNED_HEADERS)
        for name in dropped:
            request.headers.pop(name, None)

    async def on_async_request(self, request: httpx.Request) -> None:
        self(request)


POOL_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=20)
"""Connections of one pooled async client, all kept alive. The pool probes every idle connection on each
request, so fewer connections cost less per poll; 20 at a 300 ms round trip still carry 60 polls/s."""


def pooled_transport(limits: httpx.Limits = POOL_LIMITS) -> httpx.AsyncBaseTransport:
    """The transport of one pooled async client: httpcore2's pool over asyncio (:mod:`.http_pool`), or httpx's
    own on Python 3.10, where httpcore2 cannot be installed."""
    try:
        from airflow_provider_genai_batch.hooks.http_pool import PooledTransport
    except ImportError:
        return httpx.AsyncHTTPTransport(limits=limits)
    return PooledTransport(limits)


def environment_proxy_mounts(limits: httpx.Limits = POOL_LIMITS) -> dict[str, httpx.AsyncBaseTransport | None]:
    """The proxies the environment names (``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``...) as client mounts.

    httpx mounts them itself only for a client built without a transport; a pooled client brings its own,
    so it mounts these beside it: a proxied origin goes through httpx's proxy transport, the rest through the pool.
    """
    return {
        pattern: None if url is None else httpx.AsyncHTTPTransport(proxy=url, limits=limits)
        for pattern, url in get_environment_proxies().items()
    }


class Slots:
    """One pooled client's connections as slots, handed out in the order requests asked for them.

    A request that finds none free waits on a future of its own in a line; its pool timeout is kept by the
    slots' one :class:`Alarm`, so a wait leaves nothing behind (a timer per wait would outlive it in the
    event loop). A waiter that gives up (cancelled, timed out) leaves the line; one that gave up in the
    loop turn a slot was released is passed over. So a free slot means an empty line.
    """

    def __init__(self, count: int) -> None:
        self._free = count
        self._line: collections.deque[asyncio.Future[None]] = collections.deque()
        self._alarm = Alarm()

    @property
    def free(self) -> int:
        return self._free

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot (not those that gave up)."""
        return sum(not waiter.done() for waiter in self._line)

    def locked(self) -> bool:
        return not self._free

    async def take(self, timeout: float | None) -> None:
        """Take a slot, waiting at most ``timeout`` seconds for one (TimeoutError)."""
        if self._free:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._line.append(waiter)
        try:
            await self._alarm.wait(waiter, timeout)
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()  # handed a slot as the wait ended: pass it on
            else:  # out of the line, whatever was raised: no release hands it a slot, nor keeps its frames alive
                with contextlib.suppress(ValueError):  # a release passed over it already
                    self._line.remove(waiter)
            raise

    def release(self) -> None:
        """Give a slot back: to the first request still waiting, or to the free ones."""
        while self._line:
            waiter = self._line.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


_SLOTS: weakref.WeakKeyDictionary[httpx.AsyncClient, Slots] = weakref.WeakKeyDictionary()


def slots_of(client: httpx.AsyncClient) -> Slots:
    """The slots of ``client``: one per connection of a pool made with :data:`POOL_LIMITS`, made on first use."""
    slots = _SLOTS.get(client)
    if slots is None:
        slots = _SLOTS[client] = Slots(cast(int, POOL_LIMITS.max_connections))
    return slots


async def send_in_slot(
    client: httpx.AsyncClient,
    build: Callable[[], httpx.Request],
    *,
    stream: bool = False,
    follow_redirects: bool = True,
) -> httpx.Response:
    """Build and send a request once one of the client's slots is free, so no more requests wait inside its pool
    than it has connections.

    httpcore's pool matches every waiting request against every connection on each change of state, so a
    thousand polls queued inside it cost a quadratic scan each; here the rest wait in line for a slot
    (:class:`Slots`), where waiting costs nothing, and the request is built only once a slot is taken, so a
    waiting poll holds no request (URL, headers, streams) either. The slot is held until the response is
    closed (a streamed one too) and is freed when the wait or the send fails or is cancelled; the wait counts
    against the client's pool timeout, as waiting inside the pool did.
    """
    slots = slots_of(client)
    wait = client.timeout.pool
    try:
        await slots.take(wait)
    except TimeoutError:
        raise httpx.PoolTimeout(f"no free connection within {wait} s", request=build()) from None
    try:
        response = await client.send(build(), stream=stream, follow_redirects=follow_redirects)
    except BaseException:
        slots.release()
        raise
    if stream and not response.is_closed:
        response.stream = _SlotHoldingStream(response.stream, slots.release)
    else:
        slots.release()
    return response


class _SlotHoldingStream(httpx.AsyncByteStream):
    """A streamed response body that gives its client slot back once, when it is closed."""

    def __init__(self, body: httpx.SyncByteStream | httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        assert isinstance(body, httpx.AsyncByteStream)
        self._body = body
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._body:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._body.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


SET_COOKIE_HEADERS = ("set-cookie", "set-cookie2")
"""The response headers the standard library's cookie jar reads cookies from."""


class _SetCookies(httpx.Cookies):
    """httpx's cookies, where a response that sets none is not handed to the cookie jar.

    httpx wraps every response in urllib and email adapters for the standard library's jar (about 28 µs of
    CPU a response, a twentieth of a poll); the jar reads cookies only from ``Set-Cookie`` and
    ``Set-Cookie2``, so without them it would change nothing.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if any(name in headers for name in SET_COOKIE_HEADERS):
            super().extract_cookies(response)


class PooledAsyncClient(httpx.AsyncClient):
    """The pooled async client: httpx's own, whose cookies skip the jar for a response that sets none."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cookies = _SetCookies(self._cookies.jar)  # the same jar: one the caller passed keeps its updates

    @property
    def cookies(self) -> httpx.Cookies:
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: CookieTypes) -> None:
        self._cookies = _SetCookies(cookies)


class AsyncClientPool:
    """One pooled ``httpx.AsyncClient`` per connection and event loop, shared by every trigger in a triggerer."""

    def __init__(self) -> None:
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx.AsyncClient]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, key: str, factory: Callable[[], httpx.AsyncClient]) -> httpx.AsyncClient:
        """The client for ``key`` on the running loop, made by ``factory`` on first use."""
        per_loop = self._clients.setdefault(asyncio.get_running_loop(), {})
        client = per_loop.get(key)
        if client is None or client.is_closed:
            client = per_loop[key] = factory()
        return client


ASYNC_CLIENTS = AsyncClientPool()
