"""Cutting a validated input into parts that each fit one batch job, as its lines stream past.

:class:`PartWriter` is handed every line the provider will receive, in order: before a line would take
the current part over a request, byte, estimated-token or embedding-input limit, it starts a new part. Each part is its
own spool file and fingerprint (the same header line the whole input's fingerprint starts with, then the
part's lines), so an input that fits in one part has the whole input's fingerprint. Parts sent inline are
held to the byte limit as the create body that carries them: each line plus its wrapping, plus the envelope.
A part may not hold fewer than ``min_requests``: when the last one would, it takes lines from the end of the
one before, which takes what it then lacks from the one before it, and so on.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import msgspec

from airflow_provider_genai_batch.token_estimate import estimate_input_tokens

if TYPE_CHECKING:
    from hashlib import _Hash

    from airflow_provider_genai_batch.inputs import JsonlSpool

_decode = msgspec.json.Decoder().decode
SPOOL_BUFFER = 1 << 20
"""Bytes a part spool buffers between writes: a write call per thousand lines or so, not per eight."""


@dataclass(frozen=True)
class SplitLimits:
    """What one part may hold; None is no limit of that kind. ``min_requests``: the fewest a part may hold;
    ``max_embedding_inputs``: the most embedding inputs (a request may hold several)."""

    max_requests: int | None = None
    max_bytes: int | None = None
    max_input_tokens: int | None = None
    min_requests: int = 1
    max_embedding_inputs: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_requests", "max_bytes", "max_input_tokens", "max_embedding_inputs"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        if self.min_requests < 1:
            raise ValueError(f"min_requests must be at least 1, got {self.min_requests!r}")
        if self.max_requests is not None and self.max_requests < self.min_requests:
            raise ValueError(f"max_requests ({self.max_requests}) is under min_requests ({self.min_requests})")

    def within(self, provider: SplitLimits) -> SplitLimits:
        """These limits and the provider's together: the lower maximum and the higher minimum win."""
        return SplitLimits(
            max_requests=_lower(self.max_requests, provider.max_requests),
            max_bytes=_lower(self.max_bytes, provider.max_bytes),
            max_input_tokens=_lower(self.max_input_tokens, provider.max_input_tokens),
            min_requests=max(self.min_requests, provider.min_requests),
            max_embedding_inputs=_lower(self.max_embedding_inputs, provider.max_embedding_inputs),
        )


def _lower(one: int | None, other: int | None) -> int | None:
    if one is None:
        return other
    return one if other is None else min(one, other)


@dataclass
class PreparedPart:
    """One part of a prepared input: what a single batch job is created from."""

    index: int
    """0-based, in input order."""
    request_count: int
    byte_count: int
    """Bytes as the provider receives them."""
    fingerprint: str
    """sha256 over the fingerprint header and the part's lines; the whole input's when the input is one part."""
    input_tokens: int | None
    """Estimated input tokens, when an estimate was asked for."""
    first_line: int
    """Input line number (from 1) of the part's first request."""
    last_line: int
    """Input line number of its last request."""
    inline: JsonlSpool | None = None
    """Its requests, when they go inline."""
    in_place_uri: str | None = None
    """The provider reads it where it is (the whole input, in its own storage): nothing is uploaded."""
    _open: Callable[[], IO[bytes]] | None = field(default=None, repr=False)

    def open_upload(self) -> IO[bytes]:
        """The part's bytes to upload, as a seekable binary stream positioned at the first byte to send."""
        if self._open is None:
            raise ValueError("this part goes inline or is read in place; there is nothing to upload")
        return self._open()


@dataclass
class SpooledPart:
    """A part as written: its spool file and what :class:`PreparedPart` reports of it."""

    path: Path
    request_count: int
    byte_count: int
    fingerprint: str
    input_tokens: int | None
    first_line: int
    last_line: int
    embedding_inputs: int = 0


class PartWriter:
    """Spools lines into parts under ``limits``; see the module docstring.

    ``whole`` is the hash of the whole input when every line it is fed is also added here, in the same
    order, after :meth:`add`: the first part's fingerprint is then read from it rather than hashed twice.
    ``provider`` names the token estimate used to rebalance parts when tokens are counted;
    ``byte_limit_name`` says what ``limits.max_bytes`` is, for the error of a line over it. Parts sent inline
    count ``per_request`` bytes more a line and ``reserve`` more a part against ``limits.max_bytes`` (the
    wrapping of each request and the envelope of the body); ``byte_count`` stays the lines' bytes.
    ``inputs_of`` counts a decoded line's embedding inputs (for ``limits.max_embedding_inputs``): the caller
    gives :meth:`add` each line's count from it, and a rebalance counts the lines it moves with it.
    """

    def __init__(
        self,
        header: bytes,
        limits: SplitLimits,
        *,
        provider: str,
        count_tokens: bool,
        whole: _Hash | None = None,
        byte_limit_name: str = "the most one part may hold",
        per_request: int = 0,
        reserve: int = 0,
        inputs_of: Callable[[Any], int] | None = None,
    ) -> None:
        self._header = header
        self._inputs_of = inputs_of
        self._byte_limit_name = byte_limit_name
        self._per_request = per_request
        self._reserve = reserve
        self.limits = limits
        self._provider = provider
        self.count_tokens = count_tokens or limits.max_input_tokens is not None
        self._whole = whole
        self.parts: list[SpooledPart] = []
        self._tail: deque[int] = deque(maxlen=limits.min_requests)
        self._tails: list[tuple[int, ...] | None] = []
        """Per closed part, for the rebalance: the line numbers of its last ``min_requests`` lines, or None when
        its lines are numbered without a gap (no line between them was left out)."""
        self._sink: IO[bytes] | None = None
        unlimited = sys.maxsize
        self._max_requests = unlimited if limits.max_requests is None else limits.max_requests
        self._max_bytes = unlimited if limits.max_bytes is None else limits.max_bytes - reserve
        self._max_tokens = unlimited if limits.max_input_tokens is None else limits.max_input_tokens
        self._max_inputs = unlimited if limits.max_embedding_inputs is None else limits.max_embedding_inputs
        self._keep_tail = limits.min_requests > 1
        self._start_part()

    def _start_part(self) -> None:
        self._path = _spool_path("input")
        self._sink = self._path.open("wb", buffering=SPOOL_BUFFER)
        self._write = self._sink.write
        self._hash = None if self._whole is not None and not self.parts else hashlib.sha256(self._header)
        self.count = self.bytes = self.tokens = self.inputs = 0
        self._first = self._last = 0

    def add(self, encoded: bytes, number: int, tokens: int = 0, inputs: int = 0) -> None:
        """Add line ``number`` (``encoded`` as the provider receives it, with its LF; ``inputs`` its embedding
        inputs); ValueError when no part can hold it."""
        size = len(encoded)
        count = self.count
        if count:
            if (
                count >= self._max_requests
                or self.bytes + size + (count + 1) * self._per_request > self._max_bytes
                or self.tokens + tokens > self._max_tokens
                or self.inputs + inputs > self._max_inputs
            ):
                self._cut()
                self._check_alone(size, tokens, inputs)
                self._first = number
        else:
            self._check_alone(size, tokens, inputs)
            self._first = number
        self._write(encoded)
        if self._hash is not None:
            self._hash.update(encoded)
        self.count += 1
        self.bytes += size
        self.tokens += tokens
        self.inputs += inputs
        self._last = number
        if self._keep_tail:
            self._tail.append(number)

    def note(self, number: int, tokens: int = 0) -> None:
        """Count line ``number`` without spooling it: an input that is never cut, sent from where it is."""
        if not self.count:
            self._first = number
        self.count += 1
        self.tokens += tokens
        self._last = number

    def _check_alone(self, size: int, tokens: int, inputs: int) -> None:
        limits = self.limits
        if limits.max_bytes is not None and size > limits.max_bytes:
            raise ValueError(f"the request is {size:,} bytes, over {limits.max_bytes:,} bytes, {self._byte_limit_name}")
        if size + self._per_request > self._max_bytes:
            body = size + self._per_request + self._reserve
            raise ValueError(
                f"the request is {size:,} bytes, {body:,} in the most the request body that carries it may take, "
                f"over {limits.max_bytes:,} bytes, {self._byte_limit_name}"
            )
        if limits.max_input_tokens is not None and tokens > limits.max_input_tokens:
            raise ValueError(
                f"the request is an estimated {tokens:,} input tokens, over the {limits.max_input_tokens:,} one "
                "part may hold"
            )
        if limits.max_embedding_inputs is not None and inputs > limits.max_embedding_inputs:
            raise ValueError(
                f"the request holds {inputs:,} embedding inputs, over the {limits.max_embedding_inputs:,} one part "
                "may hold"
            )

    def _cut(self) -> None:
        if self.count < self.limits.min_requests:
            raise ValueError(
                f"a part would hold only {self.count:,} requests (ending on line {self._last}), fewer than the "
                f"{self.limits.min_requests:,} one job needs: raise the per-part limits"
            )
        self._close_part()
        if self._keep_tail:
            gapless = self._last - self._first + 1 == self.count
            self._tails.append(None if gapless else tuple(self._tail))
            self._tail.clear()
        self._start_part()

    def _close_part(self) -> None:
        assert self._sink is not None
        self._sink.close()
        self._sink = None
        digest = (self._hash if self._hash is not None else self._whole_copy()).hexdigest()
        self.parts.append(
            SpooledPart(
                path=self._path,
                request_count=self.count,
                byte_count=self.bytes,
                fingerprint=digest,
                input_tokens=self.tokens if self.count_tokens else None,
                first_line=self._first,
                last_line=self._last,
                embedding_inputs=self.inputs,
            )
        )

    def _whole_copy(self) -> _Hash:
        assert self._whole is not None
        return self._whole.copy()

    def finish(self) -> list[SpooledPart]:
        """The parts, the last ones rebalanced when the last holds too few; empty when no line was added.

        Call it once every line has been added (and hashed into ``whole``).
        """
        if not self.count:
            assert self._sink is not None
            self._sink.close()
            self._path.unlink(missing_ok=True)
            self._sink = None
            return self.parts
        self._close_part()
        if len(self.parts) > 1 and self.parts[-1].request_count < self.limits.min_requests:
            self._rebalance()
        return self.parts

    def _shifts(self) -> dict[int, int]:
        """How many lines move from the end of each part to the start of the next so that every part has the
        minimum: the last part's shortfall taken from the part before, what that one then lacks from the one
        before it, and so on (each part before the last holds at least the minimum, so the shortfall shrinks)."""
        minimum = self.limits.min_requests
        shifts: dict[int, int] = {}
        shift = minimum - self.parts[-1].request_count
        index = len(self.parts) - 2
        while shift > 0:
            if index < 0:
                total = sum(part.request_count for part in self.parts)
                raise ValueError(
                    f"the {total:,} requests cannot make {len(self.parts):,} parts of at least {minimum:,} requests "
                    "each within the per-part limits: raise the per-part limits"
                )
            shifts[index] = shift
            shift = max(0, minimum - (self.parts[index].request_count - shift))
            index -= 1
        return shifts

    def _rebalance(self) -> None:
        """Move lines from the end of the parts before the last to the start of the next (see :meth:`_shifts`),
        rewriting every part that changed, so the last has enough."""
        shifts = self._shifts()
        start = min(shifts)
        old = self.parts[start:]
        counts = [
            part.request_count - shifts.get(index, 0) + shifts.get(index - 1, 0)
            for index, part in enumerate(old, start=start)
        ]
        rewrites = [_Rewrite(self._header, _spool_path("input")) for _ in old]
        try:
            lines = (line for part in old for line in _read_lines(part.path))
            try:
                for rewrite, count in zip(rewrites, counts, strict=True):
                    for _ in range(count):
                        line = next(lines)
                        rewrite.add(line, *self._counts(line))
                    rewrite.close()
            finally:
                lines.close()
            rebalanced = [
                rewrite.spooled(
                    self._line_from_end(index - 1, shifts[index - 1]) if index - 1 in shifts else part.first_line,
                    self._line_from_end(index, shifts[index] + 1) if index in shifts else part.last_line,
                    self.count_tokens,
                )
                for index, (rewrite, part) in enumerate(zip(rewrites, old, strict=True), start=start)
            ]
            if not all(self._within(part) for part in rebalanced):
                raise ValueError(
                    f"the last part would hold only {old[-1].request_count:,} requests, fewer than the "
                    f"{self.limits.min_requests:,} one job needs, and taking more from the parts before would take "
                    "one over the per-part limits: raise them"
                )
        except BaseException:
            for rewrite in rewrites:
                rewrite.discard()
            raise
        for part in old:
            part.path.unlink(missing_ok=True)
        self.parts[start:] = rebalanced

    def _line_from_end(self, index: int, place: int) -> int:
        """The input line number of part ``index``'s ``place``-th line from its end (1: its last)."""
        tail = self._tails[index]
        return self.parts[index].last_line - place + 1 if tail is None else tail[-place]

    def _within(self, part: SpooledPart) -> bool:
        return not (
            (self.limits.max_requests is not None and part.request_count > self.limits.max_requests)
            or part.byte_count + part.request_count * self._per_request > self._max_bytes
            or (self.limits.max_input_tokens is not None and (part.input_tokens or 0) > self.limits.max_input_tokens)
            or part.embedding_inputs > self._max_inputs
        )

    def _counts(self, line: bytes) -> tuple[int, int]:
        """A spooled line's estimated input tokens and embedding inputs, where they are counted (else 0)."""
        if not self.count_tokens and self._inputs_of is None:
            return 0, 0
        decoded = _decode(line)
        tokens = estimate_input_tokens(decoded, self._provider) if self.count_tokens else 0
        return tokens, self._inputs_of(decoded) if self._inputs_of is not None else 0

    def discard(self) -> None:
        """Remove every spool written (the preparation failed)."""
        if self._sink is not None:
            self._sink.close()
            self._sink = None
            self._path.unlink(missing_ok=True)
        for part in self.parts:
            part.path.unlink(missing_ok=True)


class _Rewrite:
    """A part spool being written again while rebalancing."""

    def __init__(self, header: bytes, path: Path) -> None:
        self.path = path
        self._sink = path.open("wb")
        self._hash = hashlib.sha256(header)
        self.count = self.bytes = self.tokens = self.inputs = 0

    def add(self, line: bytes, tokens: int, inputs: int) -> None:
        self._sink.write(line)
        self._hash.update(line)
        self.count += 1
        self.bytes += len(line)
        self.tokens += tokens
        self.inputs += inputs

    def close(self) -> None:
        self._sink.close()

    def discard(self) -> None:
        self._sink.close()
        self.path.unlink(missing_ok=True)

    def spooled(self, first_line: int, last_line: int, count_tokens: bool) -> SpooledPart:
        return SpooledPart(
            path=self.path,
            request_count=self.count,
            byte_count=self.bytes,
            fingerprint=self._hash.hexdigest(),
            input_tokens=self.tokens if count_tokens else None,
            first_line=first_line,
            last_line=last_line,
            embedding_inputs=self.inputs,
        )


def _read_lines(path: Path) -> Iterator[bytes]:
    """The lines of a part's spool, one at a time."""
    with path.open("rb") as lines:
        yield from lines


def _spool_path(kind: str) -> Path:
    descriptor, name = tempfile.mkstemp(prefix=f"genai-batch-{kind}-", suffix=".jsonl")
    os.close(descriptor)
    return Path(name)
