"""The pooled async clients' transport (httpcore2's pool over asyncio sockets), against real loopback servers:
it speaks HTTP/1.1 with keep-alive and TLS, streams both ways, and raises httpx's own errors."""

from __future__ import annotations

import asyncio
import datetime
import json
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from airflow_provider_genai_batch.hooks.http import POOL_LIMITS, pooled_transport
from airflow_provider_genai_batch.hooks.http_pool import READ_BUFFER, PooledTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """A loopback server that counts the connections it accepted."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.port = 0

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    server = Server(handler)
    listener = await asyncio.start_server(server._accept, "127.0.0.1", 0, ssl=tls)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head and body (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    if b"content-length:" in lower:
        length = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
        return head, await reader.readexactly(length)
    if b"transfer-encoding: chunked" in lower:
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            body += await reader.readexactly(size + 2)
            del body[-2:]
            if size == 0:
                return head, bytes(body)
    return head, b""


def answer(body: bytes, *, close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body),
        extra,
        body,
    )


async def echo_path(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers every request on the connection with its path, keeping the connection open."""
    while True:
        head, _ = await read_request(reader)
        path = head.split(b" ")[1].decode()
        writer.write(answer(json.dumps({"path": path}).encode()))
        await writer.drain()


def client(port: int, scheme: str = "http") -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{scheme}://localhost:{port}", transport=PooledTransport(POOL_LIMITS))


async def test_requests_in_a_row_share_one_kept_alive_connection():
    async with serving(echo_path) as server, client(server.port) as http:
        paths = [(await http.get(f"/batches/{n}")).json()["path"] for n in range(3)]
    assert paths == ["/batches/0", "/batches/1", "/batches/2"]
    assert server.connections == 1


async def test_a_connection_the_server_closed_while_idle_is_replaced_not_reused():
    async def once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b'{"n": 1}'))
        await writer.drain()

    async with serving(once_then_close) as server, client(server.port) as http:
        first = await http.get("/a")
        await asyncio.sleep(0.05)  # let the server's close arrive while the connection is idle
        second = await http.get("/b")
    assert (first.json(), second.json()) == ({"n": 1}, {"n": 1})
    assert server.connections == 2


async def test_a_connection_with_an_unasked_answer_waiting_is_not_reused():
    opened: list[int] = []
    answered = asyncio.Event()

    async def answers_then_times_out(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        opened.append(len(opened) + 1)
        await read_request(reader)
        writer.write(answer(b'{"connection": %d}' % len(opened)))
        await writer.drain()
        await answered.wait()
        writer.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")  # an idle timeout, unasked
        await writer.drain()
        await read_request(reader)

    async with serving(answers_then_times_out) as server, client(server.port) as http:
        first = await http.get("/a")
        answered.set()
        await asyncio.sleep(0.05)  # the unasked answer arrives while the connection is idle
        second = await http.get("/b")
    assert (first.json(), second.json()) == ({"connection": 1}, {"connection": 2})
    assert server.connections == 2


async def test_a_streamed_upload_larger_than_the_socket_buffers_arrives_whole():
    received: list[bytes] = []

    async def store(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.05)  # let the client fill the socket and wait for it to drain
        _, body = await read_request(reader)
        received.append(body)
        writer.write(answer(b"{}"))
        await writer.drain()

    piece = bytes(range(256)) * 4096  # 1 MiB

    async def pieces() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield piece

    async with serving(store) as server, client(server.port) as http:
        response = await http.post("/upload", content=pieces())
    assert response.status_code == 200
    assert received == [piece * 8]


async def test_a_streamed_answer_larger_than_the_read_buffer_is_read_whole():
    body = b"x" * (3 * READ_BUFFER + 17)

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(body))
        await writer.drain()
        await read_request(reader)

    async with serving(big) as server, client(server.port) as http, http.stream("GET", "/file") as response:
        chunks = [chunk async for chunk in response.aiter_raw()]
    assert b"".join(chunks) == body


async def test_a_server_that_does_not_answer_raises_httpxs_read_timeout():
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async with serving(silent) as server, client(server.port) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/slow", timeout=0.05)


async def test_nothing_listening_raises_httpxs_connect_error():
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    async with client(port) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/batches/x")


async def test_an_answer_cut_short_raises_httpxs_protocol_error():
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b'{"long": "' + b"x" * 100)[:-40])
        await writer.drain()

    async with serving(cut) as server, client(server.port) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/batches/x")


def tls_contexts(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context for ``localhost`` with a self-signed certificate, and the certificate's file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, cert_file


async def test_https_verifies_the_server_against_the_trusted_certificates(tmp_path, monkeypatch):
    server_tls, cert_file = tls_contexts(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    async with serving(echo_path, tls=server_tls) as server, client(server.port, "https") as http:
        paths = [(await http.get(f"/v1/batches/{n}")).json()["path"] for n in range(2)]
    assert paths == ["/v1/batches/0", "/v1/batches/1"]
    assert server.connections == 1


async def test_https_refuses_a_server_whose_certificate_is_not_trusted(tmp_path):
    server_tls, _ = tls_contexts(tmp_path)
    async with serving(echo_path, tls=server_tls) as server, client(server.port, "https") as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get("/v1/batches/x")


def test_without_httpcore2_the_clients_keep_httpxs_transport(monkeypatch):
    monkeypatch.setitem(sys.modules, "airflow_provider_genai_batch.hooks.http_pool", None)
    assert type(pooled_transport()) is httpx.AsyncHTTPTransport


def test_the_pool_has_the_pooled_clients_limits():
    transport = pooled_transport()
    assert isinstance(transport, PooledTransport)
    assert transport.pool._max_connections == POOL_LIMITS.max_connections
    assert transport.pool._max_keepalive_connections == POOL_LIMITS.max_keepalive_connections
