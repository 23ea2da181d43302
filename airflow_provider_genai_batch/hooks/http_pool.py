"""The transport of the triggerer's pooled async clients: httpcore2's connection pool over plain asyncio sockets.

httpx's own pool (httpcore) matches every request against every connection and probes each idle one
through anyio on every change of state: about 3 ms of CPU a request at 20 connections, where httpcore2's
single-pass pool over asyncio's own transports costs about 1 ms. Requests, responses and errors stay
httpx's, so nothing above the transport changes. httpcore2 needs Python 3.11: on 3.10 this module is not
imported and the clients keep httpx's transport (:func:`.http.pooled_transport`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, cast

import httpcore2
import httpx

from airflow_provider_genai_batch.hooks.alarm import Alarm

_POOL_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore2.PoolTimeout, httpx.PoolTimeout),
    (httpcore2.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore2.ReadTimeout, httpx.ReadTimeout),
    (httpcore2.WriteTimeout, httpx.WriteTimeout),
    (httpcore2.TimeoutException, httpx.TimeoutException),
    (httpcore2.ConnectError, httpx.ConnectError),
    (httpcore2.ReadError, httpx.ReadError),
    (httpcore2.WriteError, httpx.WriteError),
    (httpcore2.NetworkError, httpx.NetworkError),
    (httpcore2.ProxyError, httpx.ProxyError),
    (httpcore2.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore2.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore2.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore2.ProtocolError, httpx.ProtocolError),
)
"""httpcore2's errors and the httpx errors callers catch, most specific first."""


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as err:
        for theirs, ours in _POOL_ERRORS:
            if isinstance(err, theirs):
                raise ours(str(err)) from err
        raise


class PooledTransport(httpx.AsyncBaseTransport):
    """An httpx transport over httpcore2's connection pool and :class:`AsyncioBackend`.

    TLS verification is httpx's default (its CA bundle, ``SSL_CERT_FILE``); proxies from the environment
    are mounted by the client itself, beside this transport.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self.pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=AsyncioBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core_request = httpcore2.Request(
            method=request.method,
            url=httpcore2.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=cast(AsyncIterator[bytes], request.stream),
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = await self.pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_PooledBody(cast(AsyncIterator[bytes], response.stream)),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.pool.aclose()


class _PooledBody(httpx.AsyncByteStream):
    """A response body read from httpcore2, its errors raised as httpx's; closing it frees the connection."""

    def __init__(self, body: AsyncIterator[bytes]) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._body:
                yield chunk

    async def aclose(self) -> None:
        close = getattr(self._body, "aclose", None)
        if close is not None:
            await close()


READ_BUFFER = 1 << 20
"""Bytes received ahead of the reader before the socket stops being read."""


class _Receiver(asyncio.Protocol):
    """Collects what a socket receives and tells waiting readers and writers when they may go on."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.reader: asyncio.Future[None] | None = None
        self.writer: asyncio.Future[None] | None = None
        self.alarm = Alarm()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > READ_BUFFER and self.transport is not None:
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._wake_reader()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake_reader()
        self.resume_writing()
        self.alarm.stop()

    def pause_writing(self) -> None:
        if self.writer is None:
            self.writer = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None and not writer.done():
            writer.set_result(None)

    def _wake_reader(self) -> None:
        if self.reader is not None and not self.reader.done():
            self.reader.set_result(None)


class AsyncioStream(httpcore2.AsyncNetworkStream):
    """One connection as httpcore2 reads and writes it, straight on an asyncio transport.

    An idle connection is "readable" when the server closed it or sent something unasked (a timeout
    response before closing): both are seen in the received buffer, without asking the socket.
    """

    def __init__(self, transport: asyncio.Transport, receiver: _Receiver) -> None:
        self._transport = transport
        self._receiver = receiver

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        receiver = self._receiver
        if not receiver.buffer and not receiver.eof:
            receiver.reader = asyncio.get_running_loop().create_future()
            try:
                await receiver.alarm.wait(receiver.reader, timeout)
            except TimeoutError:
                raise httpcore2.ReadTimeout(f"no data within {timeout} s") from None
            finally:
                receiver.reader = None
        if receiver.buffer:
            chunk = bytes(memoryview(receiver.buffer)[:max_bytes])
            del receiver.buffer[:max_bytes]
            if len(receiver.buffer) <= READ_BUFFER and not self._transport.is_closing():
                self._transport.resume_reading()
            return chunk
        if receiver.error is not None:
            raise httpcore2.ReadError(str(receiver.error)) from receiver.error
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        receiver = self._receiver
        if self._transport.is_closing():
            raise httpcore2.WriteError(str(receiver.error or "connection closed"))
        self._transport.write(buffer)
        if receiver.writer is not None:
            try:
                await receiver.alarm.wait(receiver.writer, timeout)
            except TimeoutError:
                raise httpcore2.WriteTimeout(f"could not send within {timeout} s") from None
            if receiver.error is not None:
                raise httpcore2.WriteError(str(receiver.error)) from receiver.error

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        try:
            transport = await asyncio.wait_for(
                loop.start_tls(self._transport, self._receiver, ssl_context, server_hostname=server_hostname),
                timeout,
            )
        except BaseException as err:
            self._transport.close()
            if isinstance(err, TimeoutError):
                raise httpcore2.ConnectTimeout(f"TLS handshake not done within {timeout} s") from None
            if isinstance(err, OSError):  # ssl.SSLError included
                raise httpcore2.ConnectError(str(err)) from err
            raise
        assert transport is not None  # start_tls returns None only for a transport that is already closed
        self._receiver.transport = transport  # pause and resume the TLS layer from now on
        return AsyncioStream(self._receiver.transport, self._receiver)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return bool(self._receiver.buffer) or self._receiver.eof
        names = {"ssl_object": "ssl_object", "client_addr": "sockname", "server_addr": "peername", "socket": "socket"}
        return self._transport.get_extra_info(names[info]) if info in names else None


class AsyncioBackend(httpcore2.AsyncNetworkBackend):
    """Opens connections for httpcore2 with asyncio itself, without anyio's per-call bookkeeping."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            transport, receiver = await asyncio.wait_for(
                loop.create_connection(_Receiver, host, port, local_addr=local), timeout
            )
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"no connection to {host}:{port} within {timeout} s") from None
        except OSError as err:
            raise httpcore2.ConnectError(str(err)) from err
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(transport, receiver)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None
    ) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        try:
            transport, receiver = await asyncio.wait_for(loop.create_unix_connection(_Receiver, path), timeout)
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"no connection to {path} within {timeout} s") from None
        except OSError as err:
            raise httpcore2.ConnectError(str(err)) from err
        return AsyncioStream(transport, receiver)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
