"""The one result row shape every provider's output is normalised to, its fast JSON encoding, and the
one way a provider's result lines become rows: a line that cannot be read is a failed row, never an abort.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import msgspec

UNPARSEABLE = "unparseable_result"
"""``error.code`` of a row made from a provider line that could not be read (bad JSON, bad shape)."""

CONTENT_BLOCKED = "content_blocked"
"""``error.code`` of a row the provider answered with a block or a refusal and no answer: a safety filter, a
blocklist, recitation, the model declining. ``error.status`` is the provider's own reason (``SAFETY``,
``content_filter``, ``refusal``...). The row keeps the response (its usage was billed); sending the same request
again is blocked again, so it is never retried."""

OUTPUT_LIMIT = "output_limit"
"""``error.code`` of a row whose answer reached the output token limit before it gave any text (a thinking model
that spent the whole limit thinking, a limit too small for the answer): ``error.status`` is the provider's own reason
(``MAX_TOKENS``, ``length``, ``max_output_tokens``, ``max_tokens``). The row keeps the response (its usage was
billed); the same request reaches the same limit again, so it is never retried: it needs a larger limit. An answer
whose prompt and thinking filled the model's context window before any text (Anthropic's
``model_context_window_exceeded``) is one too: its status says so, and its message says what helps there
(:data:`CONTEXT_ADVICE`)."""

LIMIT_ADVICE = "; send it again with a larger output token limit (or a smaller thinking budget)"
"""What an :data:`OUTPUT_LIMIT` row's message ends with: the same request fails the same way."""

CONTEXT_ADVICE = "; send it again with a shorter prompt (or a smaller thinking budget)"
"""What the message of an :data:`OUTPUT_LIMIT` row cut off by the context window ends with: a larger output limit
leaves no more room for the answer there."""

NO_ANSWER = "no_answer"
"""``error.code`` of a row the provider answered with nothing to use (no text, no tool or function call, no embedding)
for a reason that is neither a block nor the output limit: a natural stop with nothing written, a turn paused by a
server tool loop (Anthropic's ``pause_turn``), a reason that says nothing of why (Gemini's ``OTHER``), or none.
``error.status`` is the provider's reason (null when it gave none). The row keeps the response (its usage was billed);
the same request is expected to end the same way, so it is never retried."""

MALFORMED_OUTPUT = "malformed_output"
"""``error.code`` of a row whose model wrote an answer the provider could not parse and so returned none (Bedrock's
``malformed_model_output`` and ``malformed_tool_use``, Gemini's ``MALFORMED_FUNCTION_CALL``): ``error.status`` is the
provider's reason. The row keeps the response and its usage. A sampling failure, not the request's: a follow-up round
sends it again."""

NO_OUTCOME = "the result holds neither a response nor an error"
"""The error of a result that names its key but says nothing of its outcome (no response, or an empty one, and no
error): no request is taken to have succeeded on no evidence."""

RAW_LIMIT = 2048
"""At most this many bytes of an unreadable line are kept in its row (``error.raw``)."""

_UTF8_BOM = b"\xef\xbb\xbf"
_REPLACED = "\ufffd"


class RowStatus(str, enum.Enum):
    """Outcome of one input request."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    MISSING = "missing"


class Usage(msgspec.Struct, omit_defaults=True):
    """Token usage of one request, in provider-neutral names."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None


COUNT_BITS = 53
"""A token count is an integer below ``2**COUNT_BITS`` (the integers JSON carries exactly), as the manifest reads
counts."""
_COUNT_TYPES = frozenset({int, type(None)})
"""The types a count given may have (a bool is not one): one set look-up a count, as every landed row asks."""


def counted_usage(input_tokens: Any = None, output_tokens: Any = None, total_tokens: Any = None) -> Usage | None:
    """A row's usage from the provider's counts; None when a count given is not an integer from 0 to 2**53 - 1 (a
    string, a fraction, a negative or huge number, an object): results.jsonl then holds no count of another type
    than its own, nor one changed on the way, and says the usage could not be read, as the manifest does."""
    if (
        type(input_tokens) not in _COUNT_TYPES
        or type(output_tokens) not in _COUNT_TYPES
        or type(total_tokens) not in _COUNT_TYPES
        or ((input_tokens or 0) | (output_tokens or 0) | (total_tokens or 0)) >> COUNT_BITS  # negative or too large
    ):
        return None
    return Usage(input_tokens, output_tokens, total_tokens)


def job_count(counts: Mapping[str, Any], name: str) -> int:
    """A request count of a job's status (``name`` in ``counts``): an integer, 0 when absent or null. TypeError naming
    the field for any other value (a string, a fraction, a boolean), so the status reads as an answer that is not the
    API's, polled through as one, where ``int()`` ended the wait at once with its ValueError."""
    value = counts.get(name)
    if value is None:
        return 0
    if type(value) is not int:
        raise TypeError(f"the count {name!r} is {value!r}, not an integer")
    return value


def int64_count(counts: Mapping[str, Any], name: str) -> int:
    """A request count of a Google API status, an int64 that JSON writes as a string of digits (``"5"``) or a
    number: as :func:`job_count`, with such a string read as its integer."""
    value = counts.get(name)
    if type(value) is str and value.isascii() and value.isdigit():
        return int(value)
    return job_count(counts, name)


class RowError(msgspec.Struct, omit_defaults=True):
    """Why one request failed, as the provider said it; ``raw`` holds the provider's line when it was unreadable."""

    message: str
    code: int | str | None = None
    status: str | None = None
    raw: str | None = None


class ResultRow(msgspec.Struct, kw_only=True):
    """One line of the results JSONL: one per input key.

    ``position`` is set only on a row the provider returned without its key: the row's index in output that
    follows the input order, so landing can place it (see :func:`placed_by_order`). It is the last field, so
    an encoded row ends with it and :func:`encode_row` cuts it off; it never lands.
    """

    key: str | None
    status: RowStatus
    text: str | None = None
    embedding: list[float] | None = None
    response: Any = None
    error: RowError | None = None
    usage: Usage | None = None
    position: int | None = None

    @property
    def unparseable(self) -> bool:
        """Whether this row stands for a provider line that could not be read."""
        return self.error is not None and self.error.code == UNPARSEABLE


ReadRow = Callable[[Mapping[str, Any]], ResultRow]
"""A dialect's ``result_row``: one parsed provider line to a row."""
KeyOf = Callable[[Mapping[str, Any]], object]
"""Where a provider line carries its key, read without trusting the rest of the line."""

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()
_encode = _encoder.encode
_encode_into = _encoder.encode_into
_AFTER_KEY = b',"status":'
_POSITION = b',"position":'
_END = b"}\n"
_NO_POSITION_SIZE = len(b',"position":null}')


def encode_row(row: ResultRow) -> bytes:
    """One JSONL line, newline included (``position`` left out).

    The position is the last field and an integer or null, so the last ``,"position":`` is where it starts.
    """
    line = _encode(row)
    return line[: line.rindex(_POSITION)] + _END


def append_line(chunk: bytearray, row: ResultRow, key: str | None = None) -> None:
    """Append the row's JSONL line (as :func:`encode_row` makes it) to ``chunk``, under ``key`` when given.

    A row without a position (every row landed as it streams) is encoded straight into ``chunk`` and its
    ``,"position":null}`` cut off there: no bytes object per row, and the line is copied once, into the chunk.
    """
    if key is None and row.position is None:
        _encode_into(row, chunk, -1)
        del chunk[-_NO_POSITION_SIZE:]
        chunk += _END
        return
    line = _encode(row)
    end = line.rindex(_POSITION)
    if key is None:
        chunk += memoryview(line)[:end]
    else:
        chunk += b'{"key":' + _encode(key)
        chunk += memoryview(line)[line.index(_AFTER_KEY) : end]
    chunk += _END


def rekeyed(line: bytes, key: str | None) -> bytes:
    """A row's line (as :func:`encode_row` makes it) under ``key`` instead of the key it has.

    ``key`` is always encoded first, and (a JSON string or null) holds no unescaped ``"``, so the first
    ``,"status":`` is where it ends.
    """
    return b'{"key":' + _encoder.encode(key) + line[line.index(_AFTER_KEY) :]


def encode_key(key: str | None) -> bytes:
    """A key as JSON, as it starts a row's line."""
    return _encoder.encode(key)


def key_field(*paths: str) -> KeyOf:
    """A :data:`KeyOf` reading the first of ``paths`` (dotted, e.g. ``"metadata.key"``) that is present."""
    split = [path.split(".") for path in paths]

    def key_of(line: Mapping[str, Any]) -> object:
        for parts in split:
            value: object = line
            for part in parts:
                value = value.get(part) if isinstance(value, Mapping) else None
            if value is not None:
                return value
        return None

    return key_of


def placed_by_order(rows: Iterable[ResultRow], responses: int, requests: int) -> Iterator[ResultRow]:
    """``rows`` as they come, each one without a key given its index as its ``position`` when the output holds one
    response per request (``responses``, how many it holds, equal to ``requests``, how many the job counts).

    For output that follows the input order (Gemini's inline responses): a response whose key the provider
    left out still answers the request at its index. In output of another length (a response lost, or one too
    many), the index of a response after the gap is not its request's: placed by it, one request's answer would
    land under another request's key. Such rows keep no position, and land unmatched.
    """
    if responses != requests:
        yield from rows
        return
    for index, row in enumerate(rows):
        if row.key is None:
            row.position = index
        yield row


def iter_result_rows(lines: Iterable[bytes], source: str, read: ReadRow, key_of: KeyOf) -> Iterator[ResultRow]:
    """Rows of a provider's JSONL result stream (BOM, CRLF and blank lines handled), one per non-blank line.

    A line that is not UTF-8, not JSON, not an object, or that ``read`` cannot make sense of becomes a
    failed row (see :func:`unparseable_row`) instead of ending the stream, so one bad line never blocks
    the good ones. A good line is decoded once, with its line ending (JSON whitespace), and neither copied
    nor checked again; only a line that fails is looked at twice, to say why (or skipped, when blank).
    """
    decode = _decoder.decode
    for number, raw in enumerate(lines, start=1):
        line = raw[len(_UTF8_BOM) :] if number == 1 and raw.startswith(_UTF8_BOM) else raw
        try:
            item = decode(line)
            row: ResultRow | None = read(item) if type(item) is dict else None
        except Exception:  # anything the slow path turns into a failed row
            row = None
        if row is not None and (type(row.key) is str or row.key is None):
            yield row
        elif line and not line.isspace():
            yield _line_row(line.rstrip(b"\r\n"), f"{source}, line {number}", read, key_of)


def blocked_row(key: str | None, reason: str, message: str, response: Any, usage: Usage | None) -> ResultRow:
    """A failed row for a response the provider blocked or refused instead of answering (see :data:`CONTENT_BLOCKED`):
    ``reason`` the provider's own, ``message`` saying where it gave it."""
    return _answered_failed(key, RowError(message=message, code=CONTENT_BLOCKED, status=reason), response, usage)


def output_limit_row(
    key: str | None, reason: str, message: str, response: Any, usage: Usage | None, advice: str = LIMIT_ADVICE
) -> ResultRow:
    """A failed row for an answer that reached the output token limit before any text (see :data:`OUTPUT_LIMIT`):
    ``reason`` the provider's own, ``message`` saying where it gave it, ``advice`` what to send instead."""
    error = RowError(message=message + advice, code=OUTPUT_LIMIT, status=reason)
    return _answered_failed(key, error, response, usage)


def no_answer_row(
    key: str | None, reason: str | None, message: str, response: Any, usage: Usage | None, *, malformed: bool = False
) -> ResultRow:
    """A failed row for an answer that holds nothing to use (see :data:`NO_ANSWER`), or, ``malformed``, one the
    model wrote unparseably (see :data:`MALFORMED_OUTPUT`): ``reason`` the provider's own, ``message`` saying where
    it gave it."""
    error = RowError(message=message, code=MALFORMED_OUTPUT if malformed else NO_ANSWER, status=reason)
    return _answered_failed(key, error, response, usage)


_NUMBERS = list[float]
"""What an embedding is when msgspec checks it: a boolean is no float to it, an int is."""


def embedding_values(vector: Any, where: str) -> list[float]:
    """``vector`` as an embedding: a non-empty list of numbers (a boolean is not one), landed as the provider wrote
    them. ValueError naming ``where`` for anything else, so the line is an unparseable row, never an embedding of
    other values nor one changed to fit."""
    if type(vector) is not list or not vector:
        raise ValueError(f"{where} must be a non-empty list of numbers, got {_json_kind(vector)}")
    try:
        msgspec.convert(vector, _NUMBERS, strict=True)  # the common case checked in C; the result is not kept
        return vector
    except msgspec.ValidationError:
        pass  # not all floats, or an integer no float holds: each value is looked at below
    for index, value in enumerate(vector):
        if type(value) is not float and type(value) is not int:
            raise ValueError(f"{where}[{index}] must be a number, got {_json_kind(value)}")
    return vector


def _answered_failed(key: str | None, error: RowError, response: Any, usage: Usage | None) -> ResultRow:
    """A failed row that keeps the provider's answer and its billed usage."""
    return ResultRow(key=key, status=RowStatus.FAILED, response=response, error=error, usage=usage)


def read_result_item(item: object, where: str, read: ReadRow, key_of: KeyOf, raw: bytes | None = None) -> ResultRow:
    """The row of one parsed result item (a JSONL line, an inline response, an item of a results document).

    ``where`` names the item in an error (``"files/abc, line 7"``); ``raw`` is its text when it came as one.
    """
    if not isinstance(item, Mapping):
        return unparseable_row(None, where, f"a result must be a JSON object, got {_json_kind(item)}", raw or item)
    key = key_of(item)
    try:
        row = read(item)
    except Exception as err:  # a dialect meeting a shape it does not expect raises anything (KeyError, TypeError...)
        text_key = key if isinstance(key, str) else None
        return unparseable_row(text_key, where, f"{type(err).__name__}: {err}", raw or item)
    if row.key is not None and not isinstance(row.key, str):
        return unparseable_row(None, where, f"its key is {_json_kind(row.key)} {row.key!r}, not a string", raw or item)
    return row


def unparseable_row(key: str | None, where: str, reason: str, raw: bytes | object) -> ResultRow:
    """A failed row for a provider line that could not be read, with the line itself (cut to :data:`RAW_LIMIT`)."""
    data = raw if isinstance(raw, bytes) else _encoder.encode(raw)
    return ResultRow(
        key=key,
        status=RowStatus.FAILED,
        error=RowError(message=f"unparseable result ({where}): {reason}", code=UNPARSEABLE, raw=bounded_text(data)),
    )


def bounded_text(data: bytes, limit: int = RAW_LIMIT) -> str:
    """``data`` as text, at most ``limit`` bytes of it; bytes that are not UTF-8 show as ``\\xNN``.

    A cut is marked at the end (``…[cut: first N of M bytes]``) and never splits a UTF-8 character.
    """
    if len(data) <= limit:
        return data.decode("utf-8", "backslashreplace")
    head = data[:limit]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.end == len(head) and err.reason == "unexpected end of data":
            head = head[: err.start]
    return f"{head.decode('utf-8', 'backslashreplace')}…[cut: first {len(head)} of {len(data)} bytes]"


def _line_row(line: bytes, where: str, read: ReadRow, key_of: KeyOf) -> ResultRow:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as err:
        return unparseable_row(_lenient_key(line, key_of), where, f"not valid UTF-8 (byte {err.start})", line)
    try:
        item = _decoder.decode(line)
    except msgspec.DecodeError as err:
        return unparseable_row(_lenient_key(line, key_of), where, f"invalid JSON: {err}", line)
    except RecursionError:
        return unparseable_row(None, where, "JSON nested too deeply", line)
    return read_result_item(item, where, read, key_of, raw=line)


def _lenient_key(line: bytes, key_of: KeyOf) -> str | None:
    """The key of a line the strict decoder refused, read by a lenient one: bytes that are not UTF-8 replaced, and
    what Python's ``json`` takes beyond the standard (an escaped lone surrogate, as a text cut inside a character
    leaves; a number too large for a float); in a line that is no whole JSON object (cut short), the members whole
    before the cut. None when there is no key to read, or when it is itself damaged.

    The row stays unparseable, but under its key: its request is answered (and was paid for), not missing and sent
    again by a follow-up round.
    """
    text = line.decode("utf-8", "replace")
    try:
        key = key_of(json.loads(text))
    except RecursionError:
        return None
    except ValueError:
        key = key_of(_members_before_cut(text))
    if not isinstance(key, str) or _REPLACED in key:
        return None
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return key


_LENIENT = json.JSONDecoder()
_BLANKS = " \t\n\r"


def _members_before_cut(text: str) -> dict[str, Any]:
    """The members of the JSON object ``text`` starts, up to the first that is not whole (the line was cut there, or
    is wrong from there on): those before it, each read as a whole value; none when it starts no object."""
    members: dict[str, Any] = {}
    scan = _LENIENT.raw_decode
    at = _past_blanks(text, 0)
    if not text.startswith("{", at):
        return members
    try:
        while True:
            name, at = scan(text, _past_blanks(text, at + 1))
            at = _past_blanks(text, at)
            if type(name) is not str or not text.startswith(":", at):
                return members
            value, at = scan(text, _past_blanks(text, at + 1))
            members[name] = value
            at = _past_blanks(text, at)
            if not text.startswith(",", at):
                return members
    except (ValueError, RecursionError):
        return members


def _past_blanks(text: str, at: int) -> int:
    """The index of the first character from ``at`` on that is not JSON whitespace."""
    while at < len(text) and text[at] in _BLANKS:
        at += 1
    return at


_JSON_KINDS = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


def _json_kind(value: object) -> str:
    return "null" if value is None else _JSON_KINDS.get(type(value), type(value).__name__)
