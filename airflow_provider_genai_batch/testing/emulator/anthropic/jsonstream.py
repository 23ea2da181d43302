"""Reads a large JSON document one value at a time from a file, holding only the current value in memory.

The Message Batches create body can be 256 MB; it is streamed to disk and parsed from there.
"""

from __future__ import annotations

import codecs
import json
from typing import Any, BinaryIO

READ_CHUNK = 1024 * 1024
WHITESPACE = " \t\r\n"


class JsonStream:
    """Reads JSON values one at a time from a UTF-8 file, holding only the current value in memory."""

    def __init__(self, handle: BinaryIO, chunk_size: int = READ_CHUNK) -> None:
        """Read from an open binary file."""
        self.handle = handle
        self.chunk_size = chunk_size
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.parser = json.JSONDecoder()
        self.buffer = ""
        self.pos = 0
        self.eof = False

    def _fill(self, size: int) -> bool:
        """Append up to `size` more bytes (decoded) to the buffer, dropping what was consumed; False at EOF."""
        if self.eof:
            return False
        data = self.handle.read(size)
        if self.pos:
            self.buffer = self.buffer[self.pos :]
            self.pos = 0
        if not data:
            self.buffer += self.decoder.decode(b"", final=True)
            self.eof = True
            return False
        self.buffer += self.decoder.decode(data)
        return True

    def peek(self) -> str:
        """The next non-blank character, not consumed ("" at the end of the input)."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._fill(self.chunk_size):
                return ""

    def take(self, expected: str) -> None:
        """Consume the next non-blank character, which must be `expected`."""
        found = self.peek()
        if found != expected:
            raise ValueError(f"expected {expected!r} but found {found or 'the end of the body'!r}")
        self.pos += 1

    def value(self) -> Any:
        """Decode the next JSON value, reading more of the file as long as it is incomplete."""
        self.peek()
        size = self.chunk_size
        while True:
            try:
                value, end = self.parser.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError:
                if not self._fill(size):
                    raise
                size *= 2
                continue
            # A number at the very end of the buffer may continue in the next chunk.
            at_edge = end == len(self.buffer) and not self.eof and isinstance(value, (int, float))
            if at_edge and self._fill(size):
                continue
            self.pos = end
            return value
