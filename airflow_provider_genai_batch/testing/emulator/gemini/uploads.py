"""Gemini's resumable upload protocol: a start that opens a session, then chunks at exact offsets.

A session URL carries no key of its own. A chunk goes at the offset received so far, within the
declared size; every chunk but the finalizing one is a multiple of the granularity the start announced
(`x-goog-upload-chunk-granularity`), refused otherwise with the upload server's plain-text 400; `query`
reports progress, so a client whose connection dropped resumes from there. A file holds at most 2 GB (read
as 2 GiB), the Files API's documented limit per file: a start declaring more, or a session sent more, is refused.
"""

from __future__ import annotations

from fastapi import Request
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, PlainTextResponse, Response

from airflow_provider_genai_batch.testing.emulator.common import EmulatorError, random_token
from airflow_provider_genai_batch.testing.emulator.faults import bytes_lost
from airflow_provider_genai_batch.testing.emulator.gemini.validation import (
    parse_new_file_id,
    parse_upload_start,
    read_body,
)
from airflow_provider_genai_batch.testing.emulator.gemini.wire import (
    FILE_ID_LENGTH,
    PROVIDER,
    GeminiError,
    get_field,
    invalid_argument,
    not_found,
    render_file,
)
from airflow_provider_genai_batch.testing.emulator.store import EmulatorState, UploadSession, cut_short

MAX_FILE_BYTES = 2 * 1024**3
"""The Files API's limit per file (2 GB)."""


def too_large(size: int) -> GeminiError:
    """A 400 for a file over the per-file limit."""
    return invalid_argument(f"The file would hold {size} bytes, over the {MAX_FILE_BYTES}-byte (2 GB) limit of a file.")


class ChunkNotGranular(EmulatorError):
    """A non-final chunk that is not a multiple of the granularity: the upload server's 400, in plain text."""

    def __init__(self, size: int, granularity: int) -> None:
        """Remember the chunk's size and the granularity it missed."""
        self.message = (
            f"The client sent {size} bytes, which is not a multiple of the {granularity} byte chunk granularity."
        )
        super().__init__(self.message)

    def response(self) -> Response:
        """The plain-text 400 the upload server answers (not Google's JSON error envelope)."""
        return PlainTextResponse(self.message, status_code=400)


def check_granular(size: int, granularity: int) -> None:
    """Refuse a non-final chunk of ``size`` bytes that is not a multiple of ``granularity``."""
    if size % granularity:
        raise ChunkNotGranular(size, granularity)


def already_exists(file_id: str) -> GeminiError:
    """A 409 for a file id that is taken."""
    return GeminiError(409, "ALREADY_EXISTS", f"File files/{file_id} already exists.")


async def start_upload(request: Request, version: str, state: EmulatorState) -> Response:
    """Open a resumable upload session and answer with its session URL in `x-goog-upload-url`."""
    if request.headers.get("x-goog-upload-protocol", "").lower() != "resumable":
        raise invalid_argument("The emulator implements only the resumable upload protocol.")
    if request.headers.get("x-goog-upload-command", "").strip().lower() != "start":
        raise invalid_argument("A resumable upload must begin with X-Goog-Upload-Command: start.")
    file_obj = parse_upload_start(await read_body(request))
    file_id = parse_new_file_id(get_field(file_obj, "name"))
    if file_id is not None and state.store.file_exists(PROVIDER, file_id):
        raise already_exists(file_id)
    raw_size = request.headers.get("x-goog-upload-header-content-length")
    declared: int | None = None
    if raw_size is not None:
        if not raw_size.strip().isdigit():
            raise invalid_argument(f"Invalid X-Goog-Upload-Header-Content-Length: {raw_size!r}.")
        declared = int(raw_size)
        if declared > MAX_FILE_BYTES:
            raise too_large(declared)
    mime_type = (
        request.headers.get("x-goog-upload-header-content-type")
        or get_field(file_obj, "mimeType")
        or "application/octet-stream"
    )
    session = state.store.open_upload(PROVIDER, file_id, get_field(file_obj, "displayName"), mime_type, declared)
    upload_url = f"{request.base_url}upload/{version}/files?upload_id={session.upload_id}&upload_protocol=resumable"
    return Response(
        status_code=200,
        headers={
            "x-goog-upload-url": upload_url,
            "x-goog-upload-status": "active",
            "x-goog-upload-chunk-granularity": str(state.config.gemini_upload_chunk_granularity),
        },
    )


def parse_upload_command(raw: str) -> frozenset[str]:
    """`upload, finalize` → {"upload", "finalize"}; rejects anything but upload/finalize/query."""
    parts = frozenset(part.strip().lower() for part in raw.split(",") if part.strip())
    if parts in ({"upload"}, {"upload", "finalize"}, {"finalize"}, {"query"}):
        return parts
    raise invalid_argument(f"Unsupported X-Goog-Upload-Command: {raw!r}.")


def upload_status_headers(session: UploadSession) -> dict[str, str]:
    """Status headers describing a session's progress."""
    return {
        "x-goog-upload-status": "final" if session.final_file is not None else "active",
        "x-goog-upload-size-received": str(session.received),
    }


async def receive_chunk(request: Request, version: str, state: EmulatorState) -> Response:
    """Handle a POST to a session URL: append bytes at the right offset, query progress, or finalize."""
    session = state.store.get_upload(request.query_params["upload_id"])
    if session is None or session.provider != PROVIDER:
        raise not_found("Upload session not found.")
    command = parse_upload_command(request.headers.get("x-goog-upload-command", ""))
    base = str(request.base_url)
    if command == {"query"}:
        if session.final_file is not None:
            return JSONResponse(
                {"file": render_file(session.final_file, base, version)},
                headers=upload_status_headers(session),
            )
        return Response(status_code=200, headers=upload_status_headers(session))
    if session.final_file is not None:
        raise GeminiError(400, "FAILED_PRECONDITION", "The upload has already been finalized.")
    if session.in_flight:
        raise GeminiError(409, "ABORTED", "Another chunk of this upload is still being received.")
    raw_offset = request.headers.get("x-goog-upload-offset")
    if raw_offset is None or not raw_offset.strip().isdigit():
        raise invalid_argument("X-Goog-Upload-Offset is required and must be a non-negative integer.")
    offset = int(raw_offset)
    if offset != session.received:
        raise invalid_argument(
            f"Invalid X-Goog-Upload-Offset {offset}: {session.received} bytes have been received so far."
        )
    finalize = "finalize" in command
    granularity = None if finalize else state.config.gemini_upload_chunk_granularity
    declared = session.declared_size
    length_header = request.headers.get("content-length")
    if length_header is not None and length_header.isdigit():
        end = offset + int(length_header)
        if end > MAX_FILE_BYTES:
            raise too_large(end)
        if declared is not None and (end > declared or (finalize and end != declared)):
            raise invalid_argument(
                f"Upload size mismatch: the upload would end at byte {end}, but {declared} bytes were declared."
            )
        if granularity is not None:
            check_granular(int(length_header), granularity)
    session.in_flight = True
    try:
        await append_body(request, session, finalize, granularity)
    finally:
        session.in_flight = False
    if not finalize:
        return Response(status_code=200, headers={"x-goog-upload-status": "active"})
    lost = bytes_lost(request, session.received)
    if lost:
        session.received, session.hasher = cut_short(session.path, lost)
    file_id = session.file_id or random_token(FILE_ID_LENGTH)
    try:
        record = state.store.finish_upload(session, file_id)
    except KeyError as exc:
        raise already_exists(file_id) from exc
    return JSONResponse({"file": render_file(record, base, version)}, headers={"x-goog-upload-status": "final"})


async def append_body(request: Request, session: UploadSession, finalize: bool, granularity: int | None) -> None:
    """Stream the request body onto the session's file; on any size error, roll the chunk back.

    ``granularity`` is checked again once a chunk sent without a Content-Length has arrived whole. A
    connection lost mid-chunk keeps the bytes that arrived, as the real protocol does: the client asks
    for the committed size (`query`) and resumes from there.
    """
    start = session.received
    hasher = session.hasher.copy()
    declared = session.declared_size
    received = 0
    with session.path.open("r+b") as handle:
        handle.seek(start)
        try:
            async for piece in request.stream():
                received += len(piece)
                if declared is not None and start + received > declared:
                    raise invalid_argument(f"Upload size mismatch: more than the declared {declared} bytes were sent.")
                if start + received > MAX_FILE_BYTES:
                    raise too_large(start + received)
                handle.write(piece)
                hasher.update(piece)
            if finalize and declared is not None and start + received != declared:
                raise invalid_argument(
                    f"Upload size mismatch: {start + received} bytes were received but {declared} bytes were declared."
                )
            if granularity is not None:
                check_granular(received, granularity)
        except ClientDisconnect:
            session.received = start + received
            session.hasher = hasher
            raise
        except BaseException:
            handle.truncate(start)
            raise
    session.received = start + received
    session.hasher = hasher
