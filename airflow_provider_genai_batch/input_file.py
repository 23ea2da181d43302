"""A JSONL input file opened for the validation pass: its size known first, its bytes read decompressed.

Any ``ObjectStoragePath`` (local, ``s3://``, ``gs://``, ...), or an object in the provider's own storage read
through its hook (:class:`StoredObject`). Every way a path can fail before its first
line — empty, missing, a directory, unreadable, a filesystem package not installed, a compression we do
not read — is an :class:`InputValidationError` that says so. A gzip file (recognised by its magic bytes,
whatever its name) is decompressed as it streams.
"""

from __future__ import annotations

import errno
import gzip
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, cast
from urllib.parse import urlsplit

from airflow.sdk import ObjectStoragePath

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.filesystems import filesystem_registered, missing_filesystem
from airflow_provider_genai_batch.formats.jsonl import READ_BYTES, UTF8_BOM, StreamView
from airflow_provider_genai_batch.spec import StoredObject

GZIP_MAGIC = b"\x1f\x8b"
UNREAD_COMPRESSIONS = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd", b"PK\x03\x04": "zip"}
"""Magic bytes of compressed formats that are refused (only gzip is read transparently)."""
_HEAD_BYTES = 8


@dataclass(frozen=True)
class InputFile:
    """What is known about an input file before its lines are read."""

    uri: str
    size: int
    """Bytes as stored (compressed bytes for a gzip file)."""
    gzip: bool
    bom: bool
    """The stored bytes start with a UTF-8 byte-order mark (never true for a gzip file)."""
    version: tuple[Any, ...] | None = None
    """What the store said of the file before it was read (size, modification time, generation, ...): the same
    facts later show it was not changed since; None for an object in the provider's storage."""


VERSION_FIELDS = ("size", "mtime", "ino", "LastModified", "ETag", "etag", "updated", "generation", "version_id")
"""The facts of a stored file's ``stat`` (local, S3, Cloud Storage, ...) that change when its bytes are written."""


def check_unchanged(file: InputFile) -> None:
    """Refuse ``file`` when the store's facts about it differ from those it had before it was validated.

    A file sent as it is is read twice, to validate it and to upload it: bytes written in between (a writer
    still appending, another run writing the same path) would go up unchecked, under a fingerprint and keys
    taken from other bytes, and a later clear would re-attach to a job made for the wrong requests.
    """
    if file.version is None:
        return
    try:
        now = dict(_version(ObjectStoragePath(file.uri).stat()))
    except FileNotFoundError:
        raise changed_after_validation(file.uri) from None
    # A fact only one of the two answers gives (a listing's cached entry beside a HEAD's) shows no change.
    if any(name in now and now[name] != value for name, value in file.version):
        raise changed_after_validation(file.uri)


def changed_after_validation(uri: str) -> InputValidationError:
    """The refusal of an input whose stored bytes changed between the pass that validated them and a later read."""
    return InputValidationError(
        "the input file changed after it was validated (its size, modification time or generation differ): "
        "no job was created for it; let its writer finish, or write each input to a path of its own, then run "
        "the task again",
        source=uri,
    )


def _version(info: Any) -> tuple[Any, ...]:
    return tuple((name, info[name]) for name in VERSION_FIELDS if name in info)


class CheckedOnClose(StreamView):
    """A byte stream that runs ``check`` once it is closed: a file is checked again once its upload has read it."""

    def __init__(self, raw: IO[bytes], check: Callable[[], None]) -> None:
        super().__init__(raw)
        self._check = check

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        self._check()


@contextmanager
def open_input(uri: str) -> Iterator[tuple[InputFile, IO[bytes]]]:
    """Open ``uri`` for reading: its facts and a binary stream of its (decompressed) bytes."""
    path = _path(uri)
    info = _stat(path, uri)
    size, version = int(info.get("size") or 0), _version(info)
    try:
        raw: IO[bytes] = path.open("rb")
    except IsADirectoryError:
        raise InputValidationError(_DIRECTORY, source=uri) from None
    except PermissionError as err:
        raise InputValidationError(f"input file cannot be read: {err.strerror or err}", source=uri) from None
    with raw:
        head: bytes = raw.read(_HEAD_BYTES)
        raw.seek(0)
        with _decompressed(uri, size, raw, head, version) as opened:
            yield opened


@contextmanager
def open_stored_input(stored: StoredObject) -> Iterator[tuple[InputFile, IO[bytes]]]:
    """Open an object in the provider's own storage through its hook, exactly as :func:`open_input` opens a path."""
    try:
        raw = stored.open()
    except FileNotFoundError:
        raise InputValidationError(_MISSING, source=stored.uri) from None
    except PermissionError as err:
        raise InputValidationError(f"input file cannot be read: {err.strerror or err}", source=stored.uri) from None
    with raw:
        peekable = _Peekable(raw)
        head = peekable.peek_head()
        stream = cast(IO[bytes], io.BufferedReader(peekable, READ_BYTES))
        with _decompressed(stored.uri, stored.size, stream, head) as opened:
            yield opened


@contextmanager
def _decompressed(
    uri: str, size: int, raw: IO[bytes], head: bytes, version: tuple[Any, ...] | None = None
) -> Iterator[tuple[InputFile, IO[bytes]]]:
    """The file's facts and its bytes, gunzipped when its first bytes say gzip; other compressions refused."""
    for magic, name in UNREAD_COMPRESSIONS.items():
        if head.startswith(magic):
            raise InputValidationError(
                f"input is {name}-compressed: only gzip is read as it is; decompress it or gzip it instead",
                source=uri,
            )
    if head.startswith(GZIP_MAGIC):
        with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            yield InputFile(uri=uri, size=size, gzip=True, bom=False, version=version), cast(IO[bytes], unzipped)
    else:
        yield InputFile(uri=uri, size=size, gzip=False, bom=head.startswith(UTF8_BOM), version=version), raw


class _Peekable(io.RawIOBase):
    """A stream that may not seek (a download), whose first bytes are looked at first and then read again."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        self._head = b""
        self._peeked = False

    def peek_head(self) -> bytes:
        """The first :data:`_HEAD_BYTES` bytes (fewer for a shorter stream), still to be read."""
        if not self._peeked:
            while len(self._head) < _HEAD_BYTES and (more := self._raw.read(_HEAD_BYTES - len(self._head))):
                self._head += more
            self._peeked = True
        return self._head

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            count = min(len(view), len(self._head))
            view[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        data = self._raw.read(len(view))
        view[: len(data)] = data
        return len(data)


_DIRECTORY = "input is a directory, not a JSONL file: name the file itself"
_MISSING = "input file does not exist"
_PATTERN = (
    ": a pattern in its name (*, ? or [...]) is not expanded; name one file, or map the task over the files "
    "(.expand(input=[...]))"
)
_GLOB = re.compile(r"[*?\[]")
"""A name holding a glob character: one meant as a pattern (``s3://bucket/prompts/*.jsonl``) reads as a missing file."""


def _path(uri: str) -> ObjectStoragePath:
    try:
        path = ObjectStoragePath(uri)
    except ValueError:
        raise InputValidationError(_unknown_scheme(uri), source=uri) from None
    if not filesystem_registered(path.protocol):
        raise InputValidationError(missing_filesystem(path.protocol), source=uri)
    return path


def _unknown_scheme(uri: str) -> str:
    """Why ``uri``, whose scheme no filesystem reads, cannot be read: the filesystem to install for a ``scheme://``
    URI, or, for text whose first colon only makes a scheme of what precedes it (a prompt, a Windows path), that."""
    scheme = urlsplit(uri).scheme
    if not scheme or uri[len(scheme) :].startswith("://"):
        return missing_filesystem(uri.partition("://")[0])
    return (
        f"input is neither a path nor a URI a filesystem reads: the text before its first ':' reads as the URI "
        f"scheme {scheme!r}; give an absolute path (/data/in.jsonl), a URI (s3://bucket/in.jsonl) or a list of "
        "request dicts"
    )


_UNNAMEABLE = frozenset({errno.ENAMETOOLONG, errno.ENOTDIR, errno.ELOOP})
"""Why a local path names no file it could be: a name too long, a file taken for a directory, a symlink loop."""


def _stat(path: ObjectStoragePath, uri: str) -> Any:
    """The file's ``stat``, one call (no read): refuses what is not a readable file first."""
    try:
        info: Any = path.stat()
    except ImportError as err:
        raise InputValidationError(missing_filesystem(path.protocol, err), source=uri) from None
    except FileNotFoundError:
        raise InputValidationError(_MISSING + (_PATTERN if _GLOB.search(path.name) else ""), source=uri) from None
    except PermissionError as err:
        raise InputValidationError(f"input file cannot be read: {err.strerror or err}", source=uri) from None
    except (OSError, ValueError) as err:  # a path no file can have: a name too long, a NUL, a file as a directory
        if isinstance(err, OSError) and err.errno not in _UNNAMEABLE:
            raise
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise InputValidationError(f"input file cannot be read: {reason}", source=uri) from None
    if info.get("type") == "directory":
        raise InputValidationError(_DIRECTORY, source=uri)
    return info
