"""Streaming JSONL reading with line numbers: BOM, line endings and blank lines handled, errors located.

:class:`JsonlReader` reads a batch input: lines end in LF, CRLF or a lone CR (old Mac files, or a mix), a
line longer than its bound is refused while it streams (never held whole), and a line whose JSON repeats
an object member is refused (a decoder would keep one value and drop the other without a word).
:func:`iter_json_objects` parses lines already split, such as a provider's result file.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import IO, TYPE_CHECKING, Any

import msgspec

from airflow_provider_genai_batch.errors import InputValidationError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_decoder = msgspec.json.Decoder()
_encode = msgspec.json.Encoder().encode
UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_EOL = re.compile(rb"(\r\n|\r|\n)")
_JSON_SPACE = b" \t\r\n"
"""JSON's whitespace: a line of only these is blank. A form feed or vertical tab is not (Python's ``isspace`` says it
is), and a line of one, skipped here, would reach a provider reading the file as it is as a line that is not JSON."""
_LONE_CR = re.compile(rb"\r(?!\n)")
NESTED_TOO_DEEPLY = "JSON nested too deeply"
"""Why a request whose objects and lists nest deeper than Python can follow is refused."""
READ_BYTES = 1 << 20
"""Bytes read from the stream at a time."""
SPILL_BYTES = 4 << 20
"""A line still unterminated past this many bytes goes on in a temporary file, not in memory."""


class JsonlReader:
    """The JSON objects of a JSONL byte stream as ``(line number, object, byte length)``, one line in memory.

    Blank lines (only JSON's whitespace) are skipped but counted, so numbers are physical lines. A UTF-8 BOM at
    the start is skipped (``bom`` says so, and byte lengths leave it out); a UTF-16 or UTF-32 BOM is refused. A line
    longer than ``max_line_bytes`` is refused as soon as that many bytes of it have streamed past, with
    at most :data:`SPILL_BYTES` of it in memory. ``lone_cr`` says whether any line ended in a lone CR.
    ``canonical`` is the last object yielded as compact JSON (made for the duplicate check; a caller that
    needs the object encoded takes it instead of encoding it again). With ``on_error``, a line that cannot
    be read (bad JSON or UTF-8, too long) is handed to it as an error and skipped; without, it raises.
    """

    def __init__(
        self,
        stream: IO[bytes],
        *,
        source: str,
        max_line_bytes: int,
        too_long: str,
        on_error: Callable[[InputValidationError], object] | None = None,
    ) -> None:
        self._stream = stream
        self.source = source
        self.max_line_bytes = max_line_bytes
        self._too_long = too_long
        self._on_error = on_error
        self.bom = False
        self.lone_cr = False
        self.canonical = b""

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any], int]]:
        on_error = self._on_error
        if on_error is None:
            for number, content, size in self._lines():
                if content.strip(_JSON_SPACE):
                    obj, self.canonical = decode_line(content, self.source, number)
                    yield number, obj, size
            return
        for number, content, size in self._lines():
            if content.strip(_JSON_SPACE):
                try:
                    obj, self.canonical = decode_line(content, self.source, number)
                except InputValidationError as err:
                    on_error(err)
                    continue
                yield number, obj, size

    def _lines(self) -> Iterator[tuple[int, bytes, int]]:
        """``(number, content without its line ending, bytes with it)`` of every physical line."""
        number, tail, started = 0, b"", False
        skipping = False  # the rest of an over-long line, reported and passed over
        partial = _PartialLine()
        try:
            while True:
                chunk = self._read(number + 1)
                data = tail + chunk if tail else chunk
                if not started:
                    data, started = self._skip_bom(data), True
                tail = b""
                if chunk and data.endswith(b"\r"):
                    data, tail = data[:-1], b"\r"  # maybe half of a CRLF: decided with the next chunk
                lines, rest = self._split(data)
                for content, size in lines:
                    number += 1
                    if skipping:
                        skipping = False
                        continue
                    if partial.size:
                        size += partial.size
                        content = partial.finish(content)
                    if len(content) > self.max_line_bytes:
                        self._report(self._over_long(number))
                        continue
                    yield number, content, size
                if rest and not skipping:
                    partial.add(rest)
                    if partial.size > self.max_line_bytes:
                        self._report(self._over_long(number + 1))
                        partial.discard()
                        skipping = True
                if not chunk:
                    if partial.size:
                        size = partial.size
                        yield number + 1, partial.finish(b""), size
                    return
        finally:
            partial.close()

    def _read(self, number: int) -> bytes:
        try:
            return self._stream.read(READ_BYTES)
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise InputValidationError(
                f"the compressed input is corrupt or cut short ({err})", source=self.source, line=number
            ) from None

    def _skip_bom(self, data: bytes) -> bytes:
        if data.startswith(UTF8_BOM):
            self.bom = True
            return data[len(UTF8_BOM) :]
        for bom, encoding in _OTHER_BOMS:
            if data.startswith(bom):
                raise InputValidationError(
                    f"not UTF-8: the input is {encoding} (it starts with a {encoding} byte-order mark); "
                    "save it as UTF-8",
                    source=self.source,
                    line=1,
                )
        return data

    def _split(self, data: bytes) -> tuple[list[tuple[bytes, int]], bytes]:
        """The terminated lines of ``data`` as ``(content, bytes with the ending)``, and the unterminated rest."""
        carriage_returns = data.count(b"\r")
        if carriage_returns and carriage_returns != data.count(b"\r\n"):
            self.lone_cr = True
            parts = _EOL.split(data)
            ends = parts[1::2]
            return [(line, len(line) + len(end)) for line, end in zip(parts[0:-1:2], ends, strict=True)], parts[-1]
        segments = data.split(b"\n")
        rest = segments.pop()
        return [(seg[:-1] if seg.endswith(b"\r") else seg, len(seg) + 1) for seg in segments], rest

    def _report(self, error: InputValidationError) -> None:
        """Raise ``error``, or hand it to ``on_error`` and go on with the next line."""
        if self._on_error is None:
            raise error
        self._on_error(error)

    def _over_long(self, number: int) -> InputValidationError:
        return InputValidationError(
            f"line is longer than {self.max_line_bytes:,} bytes, {self._too_long}", source=self.source, line=number
        )


class _PartialLine:
    """The bytes of a line not yet terminated: in memory up to :data:`SPILL_BYTES`, then in a temporary file."""

    def __init__(self) -> None:
        self.size = 0
        self._parts: list[bytes] = []
        self._spill: IO[bytes] | None = None
        self._files = ExitStack()

    def add(self, piece: bytes) -> None:
        self.size += len(piece)
        if self._spill is not None:
            self._spill.write(piece)
            return
        self._parts.append(piece)
        if self.size > SPILL_BYTES:
            self._spill = _spill_file(self._files)
            self._spill.writelines(self._parts)
            self._parts = []

    def finish(self, last: bytes) -> bytes:
        """The whole line (the bytes so far, then ``last``); starts an empty one."""
        if self._spill is None:
            content = b"".join((*self._parts, last))
        else:
            self._spill.write(last)
            self._spill.seek(0)
            content = self._spill.read()
            self.close()
        self._parts, self.size = [], 0
        return content

    def discard(self) -> None:
        """Drop the bytes so far (a line refused before its end)."""
        self.close()
        self._parts, self.size = [], 0

    def close(self) -> None:
        self._files.close()
        self._spill = None


def _spill_file(files: ExitStack) -> IO[bytes]:
    """An anonymous temporary file (never visible by name), closed with ``files``."""
    return files.enter_context(tempfile.TemporaryFile())


def decode_line(content: bytes, source: str, number: int) -> tuple[dict[str, Any], bytes]:
    """One input line as a JSON object, and that object as compact JSON; an error naming the line otherwise."""
    try:
        obj = _decoder.decode(content)
    except (msgspec.DecodeError, UnicodeDecodeError) as err:
        raise InputValidationError(_undecodable(content, err), source=source, line=number) from None
    except RecursionError:
        raise InputValidationError(NESTED_TOO_DEEPLY, source=source, line=number) from None
    if not isinstance(obj, dict):
        raise InputValidationError(_not_an_object(obj), source=source, line=number)
    canonical = _encode(obj)
    field = duplicate_field(content, canonical)
    if field is not None:
        raise InputValidationError(_duplicate(field), source=source, line=number)
    return obj, canonical


def duplicate_field(raw: bytes, canonical: bytes) -> str | None:
    """The dotted path of the first object member that the JSON text ``raw`` repeats, or None.

    ``canonical`` is what ``raw`` decodes to, encoded again: one member for every member the decoder kept.
    Every member has one colon outside strings, and a colon inside a string is written as it is; so when
    the two colon counts agree (and ``raw`` spells no colon as a ``\\u003a`` escape) no member was dropped,
    and the common case costs two byte counts. Only otherwise is ``raw`` parsed again, slowly, to name it.
    """
    if raw.count(b":") == canonical.count(b":"):
        if b"\\u003" not in raw:
            return None
        certain = False  # an escaped colon may hide a dropped member: look
    else:
        certain = b"\\u003" not in raw
    field = _first_repeated_member(raw)
    if field is None and certain:
        return "(nested too deeply to name)"
    return field


def _duplicate(field: str) -> str:
    return f"duplicate field {field!r}: JSON keeps only one of its values, so the other would be dropped silently"


class _Members(list[tuple[str, Any]]):
    """A JSON object's members in the order written, repeats included."""


def _first_repeated_member(raw: bytes) -> str | None:
    try:
        tree = json.loads(raw, object_pairs_hook=_Members)
    except RecursionError:
        return None
    stack: list[tuple[Any, str]] = [(tree, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, _Members):
            names: set[str] = set()
            for name, _ in node:
                if name in names:
                    return f"{path}.{name}" if path else name
                names.add(name)
            children = [(value, f"{path}.{name}" if path else name) for name, value in node]
        elif isinstance(node, list):
            children = [(value, f"{path}[{index}]") for index, value in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))
    return None


def _not_an_object(value: object) -> str:
    reason = f"each line must be a JSON object, got {type(value).__name__}"
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return f"{reason}: this is a JSON array of requests, but JSONL holds one request object a line, with no array"
    return reason


def _undecodable(content: bytes, err: Exception) -> str:
    """Why a line is not JSON, naming what a user's tool most likely wrote there when it is a known mistake."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"not valid UTF-8 (byte {bad.start})"
    message = str(err)
    lone = _lone_surrogate(content) if "truncated" in message or "surrogate" in message else None
    if lone is not None:
        return f"invalid JSON: {lone}"
    if "truncated" in message:
        return f"invalid JSON: {_unclosed(content.strip()) or message}"
    return f"invalid JSON: {not_json_value(content, err) or _concatenated(content, message) or message}"


_SURROGATE_ESCAPE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"  # a whole pair: one character
    rb"|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"  # half of one
)


def _lone_surrogate(content: bytes) -> str | None:
    """The first escape of half a UTF-16 surrogate pair in JSON text, which no UTF-8 text holds (a text cut inside a
    character leaves one), or None; a whole pair is one character and is skipped."""
    for found in _SURROGATE_ESCAPE.finditer(content):
        if len(found.group()) == 6:
            escape = found.group().decode()
            return (
                f"the escape {escape} (byte {found.start()}) is half of a UTF-16 surrogate pair (a character cut in "
                "two), which is no character: write the whole character"
            )
    return None


def not_json_value(content: bytes, err: Exception) -> str | None:
    """What in JSON text ``content`` the parser's ``err`` stopped at when it is a value some writers put in JSON
    that JSON has not: NaN or an infinity, a number no float holds, a byte-order mark, a NUL byte, the escape of half
    a surrogate pair (which the parser may call the input truncated); else None."""
    message = str(err)
    if "truncated" in message or "surrogate" in message:
        lone = _lone_surrogate(content)
        if lone is not None:
            return lone
    if message.startswith("Number out of range"):
        return _out_of_range(content)
    at = _AT_BYTE.search(message)
    if at is None:
        return None
    found = _misplaced(content, int(at.group(1)))
    return None if found is None else f"{found[0]} (byte {found[1]})"


def _concatenated(content: bytes, message: str) -> str | None:
    """Two objects on one line, as a lost line break leaves them, or an object followed by a comma, as the lines of a
    JSON array are written."""
    at = _AT_BYTE.search(message)
    if at is None or not message.endswith(f"trailing characters {at.group(0)}"):
        return None
    start = int(at.group(1)) - 1  # the parser counts the first byte it could not take
    if content.startswith(b",", start):
        return (
            f"a comma follows the object (byte {start}): JSONL holds one request object a line, with nothing "
            "between them (the lines of a JSON array, without its brackets?)"
        )
    if not content.startswith(b"{", start):
        return None
    return (
        f"a second JSON object starts at byte {start}, after the first one ended: JSONL holds one request "
        "object a line (was a line break lost?)"
    )


_AT_BYTE = re.compile(r"\(byte (\d+)\)$")
_NOT_JSON_LITERALS = (b"NaN", b"Infinity", b"-Infinity")
_NOT_JSON_SPACE = {b"\x0c": "form feed (\\f, a page break)", b"\x0b": "vertical tab (\\v)"}


def _unclosed(stripped: bytes) -> str | None:
    """The JSON-not-JSONL mistake behind a line whose value goes on past its end: an array, or an object whose line
    ends as it opens a member's object or list, as a pretty-printer writes them (a line cut short ends elsewhere)."""
    if stripped.startswith(b"["):
        return (
            "the line opens a JSON array that it does not close: the file is JSON (an array spread over lines), "
            "not JSONL, which holds one request object a line, whole, with no array around them"
        )
    if stripped.startswith(b"{") and stripped.endswith((b"{", b"[")):
        return (
            "the line opens a JSON object that it does not close: the file is JSON (an object spread over lines, "
            "as pretty-printing writes it), not JSONL, which holds each request object whole on one line"
        )
    return None


def _out_of_range(content: bytes) -> str | None:
    """The number of a line that no 64-bit float holds (1e400), which JSON parsers read as infinity or refuse."""
    found: list[str] = []

    def parse_float(text: str) -> float:
        value = float(text)
        if value in (math.inf, -math.inf) and not found:
            found.append(text)
        return value

    try:
        json.loads(content, parse_float=parse_float)
    except (ValueError, RecursionError):
        return None
    return f"the number {found[0]} is out of range: no 64-bit float holds it" if found else None


def _misplaced(content: bytes, at: int) -> tuple[str, int] | None:
    """What stands at byte ``at`` where the parser expected JSON, when it is a known non-JSON byte sequence, and
    the byte it starts at (the parser points past the minus sign of ``-Infinity``)."""
    start = at - 1 if at and content[at - 1 : at] == b"-" else at
    for literal in _NOT_JSON_LITERALS:
        if content.startswith(literal, start):
            reason = (
                f"{literal.decode()} is not JSON (Python's json.dumps writes it for a float that is not a number "
                "unless allow_nan=False): write null or a number"
            )
            return reason, start
    if content.startswith(UTF8_BOM, at):
        return "a UTF-8 byte-order mark in the middle of the file (files joined, each saved with one)", at
    if content[at : at + 1] in _NOT_JSON_SPACE:
        return f"a {_NOT_JSON_SPACE[content[at : at + 1]]}, which JSON does not read as whitespace", at
    if content[at : at + 1] == b"\x00":
        nuls = content.count(0)
        if len(content) <= nuls * 3 < len(content) * 3:  # a NUL beside every character, not padding: UTF-16 or -32
            reason = "NUL bytes between the characters: the input is UTF-16 or UTF-32 without a byte-order mark"
            return f"{reason}; save it as UTF-8", at
        return "a NUL byte (binary data, or a file padded with zeros)", at
    return None


class StreamView(io.RawIOBase):
    """A readable byte stream over another, byte for byte: seeks, tells and closes it; a subclass changes what is
    read (:class:`LoneCRToLF`) or what closing does."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._raw.seekable()

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._raw.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class LoneCRToLF(StreamView):
    """A byte stream read with every lone CR turned into LF, for providers that split lines at LF only.

    One byte for one byte, so sizes and offsets are those of the underlying stream and it stays seekable.
    """

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._raw.read(len(view))
        if b"\r" in data:
            converted = _LONE_CR.sub(b"\n", data)
            if data.endswith(b"\r"):
                after = self._raw.read(1)
                if after:
                    self._raw.seek(-1, io.SEEK_CUR)
                if after == b"\n":
                    converted = converted[:-1] + b"\r"
            data = converted
        view[: len(data)] = data
        return len(data)


def iter_json_objects(lines: Iterable[bytes], source: str) -> Iterator[tuple[int, dict[str, Any], int]]:
    """Yield ``(line number, object, byte length)`` for each non-blank line; raise on the first bad one."""
    for number, raw in enumerate(lines, start=1):
        line = raw[len(UTF8_BOM) :] if number == 1 and raw.startswith(UTF8_BOM) else raw
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputValidationError(f"not valid UTF-8 (byte {err.start})", source=source, line=number) from None
        try:
            obj = _decoder.decode(line)
        except msgspec.DecodeError as err:
            raise InputValidationError(f"invalid JSON: {err}", source=source, line=number) from None
        except RecursionError:
            raise InputValidationError(NESTED_TOO_DEEPLY, source=source, line=number) from None
        if not isinstance(obj, dict):
            raise InputValidationError(
                f"each line must be a JSON object, got {type(obj).__name__}", source=source, line=number
            )
        yield number, obj, len(raw)
